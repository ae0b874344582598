"""Robust, bounded image decoding: every input becomes an 8-bit BGR array or a per-item error.

Handles EXIF orientation, grayscale / RGBA / palette / CMYK / LAB / 16-bit / float images,
truncated or corrupt files, non-images, missing files, directories, FIFOs and symlink loops.
Work per input is bounded before anything is decoded (docs/reliability.md):

* at most :data:`MAX_FILE_BYTES` are read (paths and bytes alike);
* at most :data:`MAX_PIXELS` are decoded, checked from the header: JPEG is decoded reduced
  (libjpeg draft mode, 1/2 to 1/8) when that brings it under the budget, other formats over
  it get ``too_large`` without being decoded;
* at most :data:`DECODE_CPU_SECONDS` of CPU time per decode (``timeout`` otherwise), checked
  each time the decoder asks for more input;
* animated GIF / WebP / APNG and multi-page TIFF: the first frame only.
"""
from __future__ import annotations

import io
import logging
import os
import stat
import time
import warnings
from dataclasses import dataclass
from typing import Optional, Union

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import InputError

log = logging.getLogger(__name__)

#: Longest side kept after decoding; larger images are downscaled (detection runs at 640 anyway).
MAX_SIDE = 4096
#: Images with a shorter side below this are decoded but flagged as tiny.
MIN_SIDE = 32
#: Pixel budget per image (64 Mi-pixels, 8192 x 8192). Pillow holds a decoded RGB(A) image at
#: 4 bytes a pixel, so one image in flight needs at most ~0.25 GiB for the decode plus as much
#: for one mode conversion and one copy into numpy (measured peak: docs/reliability.md). Every
#: JPEG fits after 1/8 draft decoding (65535 / 8 = 8192), so a JPEG is never refused for size.
MAX_PIXELS = 8192 * 8192
#: Largest encoded input read into memory; more than any 64 Mi-pixel photo needs.
MAX_FILE_BYTES = 256 * 2**20
#: CPU seconds (of the decoding thread, so a busy machine does not trip it) one decode may use.
DECODE_CPU_SECONDS = 5.0
#: Every status :func:`decode_image` can give, with what it means (README "Bad input").
STATUSES = {
    "missing": "the path does not exist",
    "unreadable": "not a readable regular file (directory, FIFO, symlink loop, no permission), "
                  "or a corrupt image the decoder rejects",
    "not_an_image": "empty, or not a format Pillow recognises",
    "truncated": "the image data ends early",
    "too_large": f"over {MAX_FILE_BYTES >> 20} MiB, or over {MAX_PIXELS / 2**20:.0f} Mi-pixels (not JPEG)",
    "timeout": f"the decoder used more than {DECODE_CPU_SECONDS:g} s of CPU time",
}
#: The formats decoded (raster photo formats; what Pillow opens beyond them, e.g. EPS through
#: Ghostscript, scientific containers or video, is refused as ``not_an_image`` without being run).
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "DIB", "TIFF", "PPM", "TGA", "PCX", "SGI", "PSD", "QOI",
           "ICO", "DDS", "JPEG2000", "AVIF")
#: File name extensions of those formats (what ``fiqa score FOLDER`` picks up).
IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".png", ".apng", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff", ".ppm", ".pgm",
    ".pbm", ".pnm", ".tga", ".pcx", ".sgi", ".rgb", ".psd", ".qoi", ".ico", ".dds", ".jp2", ".j2k", ".avif"})
# A corrupt EXIF or TIFF tag costs nothing (the tag is skipped): Pillow's warnings about it would
# only flood the log of a large batch.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")
# Pillow's own bomb check runs when the header is read. Ours is stricter for everything but JPEG,
# which must get past it to be draft-decoded: 65535 x 65535 is JPEG's largest size.
Image.MAX_IMAGE_PIXELS = 65535 * 65535
# EXIF orientation (1-8) as numpy operations on an HxWxC array.
_ORIENT = {
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1),
}


class ImageDecodeError(InputError):
    """The input could not be turned into an image; ``status`` is a key of :data:`STATUSES`."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Timeout(Exception):
    pass


class _GuardedBytes(io.BytesIO):
    """Encoded bytes that refuse to be read once the decode's CPU budget is spent: Pillow's
    decoders ask for input in blocks of at most 64 KiB, so a file that makes them spin (millions
    of tiny PNG chunks, pathological TIFF strips) is stopped between two blocks."""

    def __init__(self, data: bytes, seconds: float) -> None:
        super().__init__(data)
        self._deadline = time.thread_time() + seconds

    def _check(self) -> None:
        if time.thread_time() > self._deadline:
            raise _Timeout

    def read(self, *a):  # type: ignore[override]
        self._check()
        return super().read(*a)

    def readinto(self, *a):  # type: ignore[override]
        self._check()
        return super().readinto(*a)


@dataclass
class DecodedImage:
    """A decoded image (BGR uint8, HxWx3) with what was done to it."""

    bgr: np.ndarray
    original_size: tuple  # (width, height) before any downscaling
    scale: float = 1.0  # decoded size / original size
    tiny: bool = False

    @property
    def shape(self):
        return self.bgr.shape


def _read(source: Union[str, os.PathLike, bytes, bytearray, memoryview]) -> tuple:
    """``(data, name)``; refuses what is not a regular file and anything over the byte budget."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "<bytes>"
    else:
        name = os.fspath(source)
        if isinstance(name, bytes):
            name = os.fsdecode(name)
        try:
            st = os.stat(name)  # before open(): opening a FIFO would block
        except FileNotFoundError:
            raise ImageDecodeError("missing", f"{name}: file not found") from None
        except OSError as exc:  # symlink loop, name too long, no permission on a parent
            raise ImageDecodeError("unreadable", f"{name}: cannot read ({exc.strerror or exc})") from None
        if stat.S_ISDIR(st.st_mode):
            raise ImageDecodeError("unreadable", f"{name}: is a directory, not an image file")
        if not stat.S_ISREG(st.st_mode):
            raise ImageDecodeError("unreadable", f"{name}: not a regular file (FIFO, socket or device)")
        if st.st_size > MAX_FILE_BYTES:
            raise ImageDecodeError("too_large", f"{name}: {st.st_size / 2**20:.0f} MiB is over the "
                                   f"{MAX_FILE_BYTES >> 20} MiB limit per image file")
        try:
            with open(name, "rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)  # the file may have grown since stat()
        except OSError as exc:
            raise ImageDecodeError("unreadable", f"{name}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ImageDecodeError("too_large", f"{name}: over the {MAX_FILE_BYTES >> 20} MiB limit per image")
    if not data:
        raise ImageDecodeError("not_an_image", f"{name}: empty file")
    return data, name


def _open_within_budget(data: bytes, name: str, max_side: int) -> tuple:
    """``(image, header size)``: the first frame, loaded, with no more than :data:`MAX_PIXELS` decoded."""
    img = Image.open(_GuardedBytes(data, DECODE_CPU_SECONDS), formats=FORMATS)
    w, h = img.size
    if w < 1 or h < 1:
        raise ImageDecodeError("unreadable", f"{name}: header says {w}x{h} pixels")
    if img.format == "JPEG" and max(w, h) >= 2 * max_side:
        # libjpeg decodes at 1/2, 1/4 or 1/8 scale: far cheaper than a full decode. The largest
        # scale that keeps the long side >= max_side, and at least the one the budget needs.
        keep = max(f for f in (1, 2, 4, 8) if max(w, h) // f >= max_side)
        need = next((f for f in (1, 2, 4) if -(-w // f) * -(-h // f) <= MAX_PIXELS), 8)
        s = max(keep, need)
        img.draft(None, (max(1, w // s), max(1, h // s)))
    if img.size[0] * img.size[1] > MAX_PIXELS:
        raise ImageDecodeError("too_large", f"{name}: {w}x{h} {img.format} image is over the "
                               f"{MAX_PIXELS / 2**20:.0f} Mi-pixel limit (only JPEG can be decoded reduced)")
    img.load()
    return img, (w, h)


def _orientation(img: Image.Image, name: str) -> int:
    try:
        o = int(img.getexif().get(0x0112, 1))
    except Exception as exc:  # a broken EXIF block must not cost the image
        log.debug("%s: ignoring unreadable EXIF (%s)", name, exc)
        return 1
    return o if o in _ORIENT else 1


def _reduce(img: Image.Image, max_side: int) -> Image.Image:
    """Shrink by a whole factor (box filter, in Pillow) while the image is still 2x over ``max_side``:
    the numpy copies and conversions that follow then cost a quarter or less."""
    f = max(img.size) // max_side
    if f < 2:
        return img
    if img.mode in ("P", "1"):  # palette indices cannot be averaged
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    try:
        return img.reduce(f)
    except (ValueError, NotImplementedError):  # a mode Pillow cannot reduce: cv2 resizes it later
        return img


def _to_array(img: Image.Image) -> np.ndarray:
    """HxW (grey) or HxWx3/4 (RGB/RGBA) array in the image's own depth (uint8, uint16 or float32)."""
    mode = img.mode
    if mode.startswith("I;16"):
        return np.asarray(img.convert("I") if mode == "I;16B" else img).astype(np.uint16, copy=False)
    if mode in ("I", "F"):
        return np.asarray(img, np.float32)
    if mode == "LAB":  # no LAB->RGB in Pillow; the lightness channel is the face's grey image
        return np.asarray(img.getchannel("L"))
    if mode in ("L", "RGB", "RGBA"):
        return np.asarray(img)
    if mode in ("LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        return np.asarray(img.convert("RGBA"))
    if mode == "1":
        return np.asarray(img.convert("L"))
    return np.asarray(img.convert("RGB"))  # P, CMYK, YCbCr, HSV, RGBX...


def _to_uint8_rgb(a: np.ndarray) -> np.ndarray:
    """RGB uint8 of a grey / RGB / RGBA array of any depth (alpha composited on white)."""
    if a.dtype != np.uint8:
        a = np.nan_to_num(a.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
        # 16-bit data may use the full range or only the low bits; stretch what is there.
        hi = float(a.max()) if a.size else 0.0
        top = 65535.0 if hi > 255 else 255.0
        a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        return np.stack([a] * 3, axis=-1)
    if a.shape[2] == 4:
        # Composite on white: transparent pixels have arbitrary colour underneath.
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return a


def _decode(data: bytes, name: str, max_side: int) -> DecodedImage:
    img, size = _open_within_budget(data, name, max_side)
    orient = _orientation(img, name)
    original = size if orient < 5 else size[::-1]
    a = _to_array(_reduce(img, max_side))
    del img  # the full-size decode is not needed past this point
    if orient != 1:
        a = _ORIENT[orient](a[..., None] if a.ndim == 2 else a)
        a = a[..., 0] if a.shape[2] == 1 else a
    h, w = a.shape[:2]
    if max(h, w) > max_side:
        s = max_side / max(h, w)
        a = cv2.resize(np.ascontiguousarray(a), (max(1, round(w * s)), max(1, round(h * s))),
                       interpolation=cv2.INTER_AREA)
    rgb = _to_uint8_rgb(a)
    h2, w2 = rgb.shape[:2]
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)  # faster than a strided numpy copy
    return DecodedImage(bgr=bgr, original_size=tuple(original), scale=w2 / original[0], tiny=min(h2, w2) < MIN_SIDE)


def decode_image(source: Union[str, os.PathLike, bytes], max_side: int = MAX_SIDE) -> DecodedImage:
    """Decode ``source`` (a path or encoded bytes) to BGR uint8, within the budgets above.

    Raises :class:`ImageDecodeError` whose ``status`` is a key of :data:`STATUSES`; never any
    other exception for bad input.
    """
    data, name = _read(source)
    try:
        return _decode(data, name, max_side)
    except ImageDecodeError:
        raise
    except _Timeout:
        raise ImageDecodeError("timeout", f"{name}: gave up after {DECODE_CPU_SECONDS:g} s of decoding "
                               "(pathological file)") from None
    except UnidentifiedImageError:
        raise ImageDecodeError("not_an_image", f"{name}: not an image in a format decoded here "
                               "(JPEG, PNG, WebP, GIF, BMP, TIFF... see fiqa_plugin.imageio.FORMATS)") from None
    except (Image.DecompressionBombError, MemoryError) as exc:
        raise ImageDecodeError("too_large", f"{name}: image too large to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        status = "truncated" if "truncat" in str(exc).lower() else "unreadable"
        raise ImageDecodeError(status, f"{name}: corrupt or truncated image ({exc})") from None
    except Exception as exc:  # a decoder bug on a hostile file must cost this file only
        log.debug("decoder failed on %s", name, exc_info=True)
        raise ImageDecodeError("unreadable", f"{name}: corrupt image ({type(exc).__name__}: {exc})") from None


def try_decode(source, max_side: int = MAX_SIDE) -> tuple[Optional[DecodedImage], Optional[ImageDecodeError]]:
    """``decode_image`` that returns ``(image, None)`` or ``(None, error)`` instead of raising."""
    try:
        return decode_image(source, max_side=max_side), None
    except ImageDecodeError as exc:
        return None, exc

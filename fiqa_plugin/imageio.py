"""Robust image decoding: every input becomes an 8-bit BGR array or a per-item error.

Handles EXIF orientation, grayscale / RGBA / palette / 16-bit / float images,
truncated or corrupt files, non-images and missing files. Very large images are
downscaled while decoding (JPEG draft mode) so detection never sees gigapixels.
"""
from __future__ import annotations

import io
import logging
import os
import warnings
from dataclasses import dataclass
from typing import Optional, Union

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

#: Longest side kept after decoding; larger images are downscaled (detection runs at 640 anyway).
MAX_SIDE = 4096
#: Images with a shorter side below this are decoded but flagged as tiny.
MIN_SIDE = 32
# Refuse absurd headers outright (decompression bombs) rather than trying to allocate them.
MAX_PIXELS = 40000 * 40000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageDecodeError(ValueError):
    """The input could not be turned into an image; ``status`` is a short machine-readable code."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


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


def _to_uint8_rgb(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        # 16-bit data may use the full range or only the low bits; stretch what is there.
        hi = a.max() if a.size else 0.0
        top = 65535.0 if hi > 255 else 255.0
        a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.stack([a] * 3, axis=-1)
    if mode == "RGBA" or mode == "LA" or (mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        # Composite on white: transparent pixels have arbitrary colour underneath.
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img)


def decode_image(source: Union[str, os.PathLike, bytes], max_side: int = MAX_SIDE) -> DecodedImage:
    """Decode ``source`` (a path or encoded bytes) to BGR uint8.

    Raises :class:`ImageDecodeError` with ``status`` one of ``missing``, ``unreadable``,
    ``not_an_image``, ``truncated``, ``too_large``.
    """
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        name = "<bytes>"
    else:
        name = os.fspath(source)
        try:
            with open(name, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            raise ImageDecodeError("missing", f"{name}: file not found") from None
        except (IsADirectoryError, PermissionError, OSError) as exc:
            raise ImageDecodeError("unreadable", f"{name}: cannot read ({exc})") from None
    if not data:
        raise ImageDecodeError("not_an_image", f"{name}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            original = img.size
            if img.format == "JPEG" and max(original) > max_side:
                # draft() lets libjpeg decode at 1/2, 1/4 or 1/8 scale: far cheaper than full decode.
                img.draft("RGB", (max_side, max_side))
            img.load()
    except UnidentifiedImageError:
        raise ImageDecodeError("not_an_image", f"{name}: not a recognised image format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError("too_large", f"{name}: image too large to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        status = "truncated" if "truncat" in str(exc).lower() else "unreadable"
        raise ImageDecodeError(status, f"{name}: corrupt or truncated image ({exc})") from None
    try:
        img = ImageOps.exif_transpose(img) or img
    except Exception as exc:  # a broken EXIF block must not cost the image
        log.debug("%s: ignoring unreadable EXIF orientation (%s)", name, exc)
    rgb = _to_uint8_rgb(img)
    scale = 1.0
    h, w = rgb.shape[:2]
    if max(h, w) > max_side:
        scale = max_side / max(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    h2, w2 = rgb.shape[:2]
    # Orientation may have swapped the axes; report the scale against the oriented original.
    ow, oh = (original if (w >= h) == (original[0] >= original[1]) else original[::-1])
    scale = w2 / ow if ow else 1.0
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)  # faster than a strided numpy copy
    return DecodedImage(bgr=bgr, original_size=(ow, oh), scale=scale, tiny=min(h2, w2) < MIN_SIDE)


def try_decode(source, max_side: int = MAX_SIDE) -> tuple[Optional[DecodedImage], Optional[ImageDecodeError]]:
    """``decode_image`` that returns ``(image, None)`` or ``(None, error)`` instead of raising."""
    try:
        return decode_image(source, max_side=max_side), None
    except ImageDecodeError as exc:
        return None, exc

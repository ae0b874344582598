"""From an image source to aligned 112×112 face crops, with explicit per-item status."""
from __future__ import annotations

import enum
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Union

import cv2
import numpy as np

from ..imageio import IMAGE_EXTENSIONS, DecodedImage, ImageDecodeError, decode_image
from .align import ARCFACE_TEMPLATE, align_face
from .detector import ScrfdDetector
from ..errors import MissingAssetError, UsageError

log = logging.getLogger(__name__)

ALIGNED_SIZE = 112


class FaceMode(str, enum.Enum):
    """Which faces an image yields."""

    LARGEST = "largest"  # the largest detected face
    ALL = "all"  # every detected face
    ALIGNED = "aligned"  # the input already is an aligned crop: no detection


@dataclass
class Face:
    """One aligned face and what is known about it."""

    aligned: np.ndarray  # 112×112×3 BGR uint8, ArcFace template
    landmarks: np.ndarray  # 5×2, in source-image pixels
    bbox: Optional[np.ndarray] = None  # x1, y1, x2, y2 in source-image pixels
    det_score: float = float("nan")  # NaN for pre-aligned crops
    index: int = 0  # the face's rank in its image (by detector confidence)
    embedding: Optional[np.ndarray] = None  # L2-normalised, filled by a recognizer when needed
    embedding_norm: float = float("nan")
    # The face box cut from the decoded image with its corner snapped to the 8-pixel JPEG
    # grid, so blocking artefacts can be measured where they were made.
    region: Optional[np.ndarray] = None


@dataclass
class ImageFaces:
    """The faces of one image, or why there are none. ``status`` is ``ok``, ``no_face`` or a decode error code."""

    source: str
    status: str
    faces: List[Face] = field(default_factory=list)
    error: str = ""
    image_size: Optional[tuple] = None  # (width, height) of the original image
    tiny: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class FacePipeline:
    """Decode → (detect → align | resize pre-aligned crop) for images given by path, bytes or array."""

    def __init__(
        self,
        detector: Optional[ScrfdDetector] = None,
        mode: Union[FaceMode, str] = FaceMode.LARGEST,
        max_side: int = 4096,
    ) -> None:
        self.mode = FaceMode(mode)
        if self.mode is not FaceMode.ALIGNED and detector is None:
            raise UsageError(f"face mode {self.mode.value!r} needs a detector; use mode='aligned' for pre-aligned crops")
        self.detector = detector
        self.max_side = max_side

    @classmethod
    def from_pack(cls, pack: str = "buffalo_sc", root: Optional[os.PathLike] = None, mode="largest", **kw) -> "FacePipeline":
        """A pipeline using the SCRFD detector of an InsightFace model pack."""
        from ..paths import pack_dir

        mode = FaceMode(mode)
        if mode is FaceMode.ALIGNED:
            return cls(None, mode)
        d = pack_dir(pack, root)
        dets = sorted(d.glob("det_*.onnx")) or sorted(d.glob("*scrfd*.onnx"))
        if not dets:
            raise MissingAssetError(f"no SCRFD detector (det_*.onnx) in model pack {d}")
        return cls(ScrfdDetector(dets[0], **kw), mode)

    def faces_from_array(self, bgr: np.ndarray, source: str = "<array>", scale: float = 1.0) -> ImageFaces:
        """Faces of an already decoded BGR image; ``scale`` maps decoded to original pixel coordinates."""
        h, w = bgr.shape[:2]
        size = (round(w / scale), round(h / scale))
        if self.mode is FaceMode.ALIGNED:
            crop = bgr if (h, w) == (ALIGNED_SIZE, ALIGNED_SIZE) else cv2.resize(
                bgr, (ALIGNED_SIZE, ALIGNED_SIZE), interpolation=cv2.INTER_AREA if min(h, w) > ALIGNED_SIZE else cv2.INTER_LINEAR
            )
            lm = ARCFACE_TEMPLATE * np.array([w / ALIGNED_SIZE, h / ALIGNED_SIZE]) / scale
            return ImageFaces(source, "ok", [Face(np.ascontiguousarray(crop), lm.astype(np.float32))], image_size=size)
        assert self.detector is not None
        dets = self.detector.detect(bgr)
        if not dets:
            return ImageFaces(source, "no_face", error="no face detected", image_size=size)
        if self.mode is FaceMode.LARGEST:
            dets = [max(dets, key=lambda d: d.area)]
        faces = []
        for i, d in enumerate(dets):
            crop, _ = align_face(bgr, d.landmarks, ALIGNED_SIZE)
            region = grid_region(bgr, d.bbox) if scale == 1.0 else None
            faces.append(Face(crop, d.landmarks / scale, d.bbox / scale, d.score, index=i, region=region))
        return ImageFaces(source, "ok", faces, image_size=size)

    def process(self, source: Union[str, os.PathLike, bytes, np.ndarray]) -> ImageFaces:
        """Faces of one image; never raises for bad input (the status says what went wrong)."""
        if isinstance(source, np.ndarray):
            return self.faces_from_array(_as_bgr(source))
        name = "<bytes>" if isinstance(source, (bytes, bytearray)) else os.fspath(source)
        try:
            img: DecodedImage = decode_image(source, max_side=self.max_side)
        except ImageDecodeError as exc:
            return ImageFaces(name, exc.status, error=str(exc))
        try:
            result = self.faces_from_array(img.bgr, name, img.scale)
        except Exception as exc:  # one bad image must never end a batch
            log.exception("face pipeline failed on %s", name)
            return ImageFaces(name, "error", error=f"{name}: {type(exc).__name__}: {exc}")
        result.image_size = img.original_size
        result.tiny = img.tiny
        if img.tiny and not result.ok:
            result.error = f"{result.error} (image is tiny: {img.original_size[0]}x{img.original_size[1]})"
        return result


def grid_region(bgr: np.ndarray, bbox: np.ndarray, block: int = 8) -> Optional[np.ndarray]:
    """The face box of the original image with its top-left corner snapped down to the JPEG
    ``block`` grid, so blockiness measures see the encoder's 8×8 blocks; None if under 2 blocks."""
    h, w = bgr.shape[:2]
    x1 = max(0, int(bbox[0]) // block * block)
    y1 = max(0, int(bbox[1]) // block * block)
    x2, y2 = min(w, int(np.ceil(bbox[2]))), min(h, int(np.ceil(bbox[3])))
    if x2 - x1 < 2 * block or y2 - y1 < 2 * block:
        return None
    # a copy: a view would keep the whole decoded image alive for as long as the face is (the
    # pipelined driver holds a window of finished images, so big photos would add up)
    return bgr[y1:y2, x1:x2].copy()


def _as_bgr(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.dtype != np.uint8:
        top = 65535.0 if arr.max() > 255 else 255.0
        arr = np.clip(arr.astype(np.float64) / top * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def list_images(spec: Union[str, os.PathLike]) -> List[str]:
    """Image paths from a folder (recursive), a glob pattern, or a text file with one path per line."""
    import glob

    p = Path(spec)
    if p.is_dir():
        # Anything named like an image but a folder gets a row (a broken link, a FIFO, a symlink loop:
        # decode_image says what is wrong with it); folders are searched, not listed.
        return sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS and not f.is_dir())
    if p.is_file() and p.suffix.lower() in {".txt", ".lst", ".list"}:
        base = p.parent
        out = []
        # file names need not be UTF-8 (POSIX allows any bytes): keep them as Python does (surrogates)
        for line in p.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                # absolute paths and URIs (s3://... for the Ray engine) as they are, others relative to the list
                out.append(line if os.path.isabs(line) or "://" in line else str(base / line))
        return out
    if p.is_file():
        return [str(p)]
    matches = sorted(glob.glob(str(spec), recursive=True))
    if not matches:
        raise MissingAssetError(f"no images found for {spec!r}: give a folder, a glob pattern or a .txt list file")
    return matches

"""Non-learned quality measures (the tinyFQnet paper's perceptual baselines) and cheap signals.

Each maps to a score where higher means better. The ``*_unit`` helpers squash a raw
measure into [0, 1] so measures can be combined.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ..faces.align import ARCFACE_TEMPLATE
from ..faces.pipeline import Face
from .base import CropQualityMethod, QualityMethod

# Only the central face region counts: the crop's corners are background or black fill.
_INNER = (slice(16, 112), slice(16, 96))


def laplacian_variance(crop_bgr: np.ndarray) -> float:
    """Variance of the Laplacian of the grey inner face region (sharpness; blur lowers it)."""
    g = cv2.cvtColor(crop_bgr[_INNER], cv2.COLOR_BGR2GRAY)
    _, std = cv2.meanStdDev(cv2.Laplacian(g, cv2.CV_32F))  # several times cheaper than ndarray.var
    return float(std[0, 0]) ** 2


def blur_unit(var: np.ndarray, scale: float = 200.0) -> np.ndarray:
    """Laplacian variance → [0, 1): 1 − exp(−var/scale)."""
    return 1.0 - np.exp(-np.asarray(var, np.float64) / scale)


def blockiness(crop_bgr: np.ndarray, block: int = 8) -> float:
    """JPEG blockiness: mean |gradient| across 8-pixel block borders ÷ mean |gradient| elsewhere.

    About 1 for unblocked images, larger with compression artefacts. Must be computed on
    pixels still on the original JPEG grid (see :func:`face_region`), not on a warped crop.
    """
    g = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32) if crop_bgr.ndim == 3 else crop_bgr.astype(np.float32)
    border, inside = [], []
    # Pool both directions before dividing, so a direction without texture cannot dominate.
    for d in (np.abs(np.diff(g, axis=1)), np.abs(np.diff(g, axis=0)).T):
        if d.shape[1] < 2 * block:
            continue
        at_border = (np.arange(d.shape[1]) % block) == block - 1
        border.append(d[:, at_border].ravel())
        inside.append(d[:, ~at_border].ravel())
    if not border:
        return 1.0
    return float(np.concatenate(border).mean() / max(np.concatenate(inside).mean(), 1e-3))


def blockiness_unit(b: np.ndarray) -> np.ndarray:
    """Blockiness → [0, 1]: 1 at no blocking, falling to 0 at a border/interior ratio of 2."""
    return np.clip(2.0 - np.asarray(b, np.float64), 0.0, 1.0)


# 3-D proportions of a mean face (cm): half inter-ocular distance, nose-tip depth
# in front of the eye plane, eye-to-mouth height. Only their ratios matter.
_HALF_IOD, _NOSE_DEPTH, _EYE_MOUTH = 3.2, 2.5, 7.0
_RHO0 = (ARCFACE_TEMPLATE[2, 1] - ARCFACE_TEMPLATE[:2, 1].mean()) / (
    ARCFACE_TEMPLATE[3:, 1].mean() - ARCFACE_TEMPLATE[:2, 1].mean()
)


def head_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from 5 landmarks (eyes, nose, mouth corners).

    Roll is the eye-line angle. After de-rolling, a nose protruding ``_NOSE_DEPTH`` in
    front of eyes ``±_HALF_IOD`` apart projects, under yaw θ, to eye distances
    dl, dr with (dl − dr)/(dl + dr) = (depth/half-IOD)·tan θ; pitch follows the same way
    from the nose's relative height between eye line and mouth line. Sign: positive yaw
    = face turned to the image's left, positive pitch = looking down.
    """
    lm = np.asarray(landmarks, np.float64)
    le, re, nose, lmo, rmo = lm
    dx, dy = re - le
    roll = np.degrees(np.arctan2(dy, dx))
    c, s = np.cos(-np.radians(roll)), np.sin(-np.radians(roll))
    rot = np.array([[c, -s], [s, c]])
    p = (lm - lm[:2].mean(0)) @ rot.T
    le, re, nose, lmo, rmo = p
    dl, dr = nose[0] - le[0], re[0] - nose[0]
    r = (dl - dr) / max(dl + dr, 1e-6)
    yaw = np.degrees(np.arctan(r * _HALF_IOD / _NOSE_DEPTH))
    eye_y, mouth_y = 0.0, (lmo[1] + rmo[1]) / 2
    rho = (nose[1] - eye_y) / max(mouth_y - eye_y, 1e-6)
    pitch = np.degrees(np.arctan((rho - _RHO0) * _EYE_MOUTH / _NOSE_DEPTH))
    return float(yaw), float(pitch), float(roll)


def pose_unit(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Frontalness in [0, 1]: cos(yaw)·cos(pitch), clipped (alignment removes roll)."""
    y, p = np.radians(np.clip(yaw, -90, 90)), np.radians(np.clip(pitch, -90, 90))
    return np.cos(y) * np.cos(p)


class BlurQuality(CropQualityMethod):
    """Sharpness: variance of the Laplacian of the aligned face (raw value, higher = sharper)."""

    name = "blur"
    score_range = (0.0, None)

    def score_crops(self, crops_bgr: np.ndarray) -> np.ndarray:
        return np.array([laplacian_variance(c) for c in crops_bgr], np.float32)


class PoseQuality(QualityMethod):
    """Frontalness cos(yaw)·cos(pitch) from the detector's 5 landmarks."""

    name = "pose"
    requires = frozenset({"detection"})
    score_range = (0.0, 1.0)

    def score_faces(self, faces: Sequence[Face]) -> np.ndarray:
        poses = np.array([head_pose(f.landmarks)[:2] for f in faces], np.float64).reshape(-1, 2)
        return pose_unit(poses[:, 0], poses[:, 1]).astype(np.float32)


def face_region(face: Face) -> np.ndarray:
    """The face's pixels on the source image's JPEG grid, if the pipeline kept them, else the crop."""
    return face.region if getattr(face, "region", None) is not None else face.aligned


class JpegQuality(QualityMethod):
    """Absence of JPEG blocking on the source-grid face region: 1 − clip(blockiness − 1)."""

    name = "jpeg"
    score_range = (0.0, 1.0)

    def score_faces(self, faces: Sequence[Face]) -> np.ndarray:
        return blockiness_unit([blockiness(face_region(f)) for f in faces]).astype(np.float32)


class CombinedQuality(QualityMethod):
    """Geometric mean of the blur, pose and JPEG measures, each squashed to [0, 1]."""

    name = "perceptual"
    requires = frozenset({"detection"})
    score_range = (0.0, 1.0)

    def score_faces(self, faces: Sequence[Face]) -> np.ndarray:
        b = blur_unit([laplacian_variance(f.aligned) for f in faces])
        p = PoseQuality().score_faces(faces)
        j = JpegQuality().score_faces(faces)
        return np.cbrt(np.clip(b, 1e-6, 1) * np.clip(p, 1e-6, 1) * np.clip(j, 1e-6, 1)).astype(np.float32)


class DetectorConfidence(QualityMethod):
    """The face detector's confidence."""

    name = "detector-confidence"
    requires = frozenset({"detection"})
    score_range = (0.0, 1.0)

    def score_faces(self, faces: Sequence[Face]) -> np.ndarray:
        return np.array([f.det_score for f in faces], np.float32)


class EmbeddingNorm(QualityMethod):
    """The recognizer's raw embedding norm (larger norms go with easier faces for margin losses)."""

    name = "embedding-norm"
    requires = frozenset({"embedding"})
    score_range = (0.0, None)

    def score_faces(self, faces: Sequence[Face]) -> np.ndarray:
        return np.array([f.embedding_norm for f in faces], np.float32)

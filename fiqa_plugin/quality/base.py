"""The quality-method interface: faces in, one score per face out (higher = better)."""
from __future__ import annotations

import abc
from typing import FrozenSet, Sequence

import numpy as np

from ..faces.pipeline import Face


class QualityMethod(abc.ABC):
    """A face image quality method.

    ``requires`` names what a face must carry beyond its aligned crop:
    ``"embedding"`` (filled by a recognizer), ``"detection"`` (landmarks and
    confidence from a detector, i.e. not pre-aligned input).
    """

    name: str = ""
    requires: FrozenSet[str] = frozenset()
    #: Nominal score range, for display and thresholds; ``None`` where unbounded.
    score_range: tuple | None = None

    @abc.abstractmethod
    def score_faces(self, faces: Sequence[Face]) -> np.ndarray:
        """Quality of each face, float32 ``[len(faces)]``; higher is better."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class CropQualityMethod(QualityMethod):
    """A method that needs only the aligned 112×112 BGR crops."""

    @abc.abstractmethod
    def score_crops(self, crops_bgr: np.ndarray) -> np.ndarray:
        """Quality of aligned crops ``[N, 112, 112, 3]`` BGR uint8."""

    def score_faces(self, faces: Sequence[Face]) -> np.ndarray:
        if not len(faces):
            return np.zeros(0, np.float32)
        return self.score_crops(np.stack([f.aligned for f in faces]))

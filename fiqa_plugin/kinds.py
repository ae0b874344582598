"""The typed tags of registry entries: what kind of thing an entry is, checked when it is registered.

They are ``str`` enums, so ``entry.tags["kind"] == "measure"`` and JSON output keep working, while a
misspelt kind fails at registration instead of silently changing control flow.
"""
from __future__ import annotations

from enum import Enum


class _StrEnum(str, Enum):
    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(self, spec)


class QualityKind(_StrEnum):
    """Quality methods: hand-made measures, published baselines, shipped or user-trained models, external ONNX."""

    MEASURE = "measure"
    BASELINE = "baseline"
    SHIPPED = "shipped"
    USER = "user"
    EXTERNAL = "external"


class LabelerKind(_StrEnum):
    """Labelers: pseudo-labels from embeddings alone, or a refinement of another method's scores."""

    PSEUDO_LABEL = "pseudo-label"
    REFINEMENT = "refinement"


class Trainer(_StrEnum):
    """Architectures: which training loop fits them."""

    CROP = "crop"  # a regressor on aligned crops (training/train.py)
    RECOGNIZER_HEAD = "recognizer-head"  # a head on a recognizer's features, composed at load time (training/regressors.py)

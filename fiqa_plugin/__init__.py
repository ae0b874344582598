"""fiqa-plugin: face image quality assessment for recognition, inside FiftyOne and InsightFace.

Quick use::

    from fiqa_plugin import QualityScorer, list_methods
    rows = QualityScorer("tinyfqnet").score(["face1.jpg", "face2.jpg"])

The core never imports fiftyone, insightface or torch; those live in
``fiqa_plugin.integrations`` and ``fiqa_plugin.training``.
"""
from __future__ import annotations

import logging

from .plugins import LABELERS, QUALITY_METHODS, RECOGNIZERS, register_plugin
from .registry import Registry, UnknownNameError

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())


def list_methods() -> list[str]:
    """Names of every registered quality method."""
    return QUALITY_METHODS.names()


def get_method(name: str, **kwargs):
    """Instantiate a registered quality method."""
    return QUALITY_METHODS.create(name, **kwargs)


def get_recognizer(name: str = "buffalo_sc", **kwargs):
    """Instantiate a registered recognizer."""
    return RECOGNIZERS.create(name, **kwargs)


def __getattr__(name: str):
    # Keep `import fiqa_plugin` light: the scorer pulls in onnxruntime and opencv.
    if name in ("QualityScorer", "ScoreRow", "score_paths"):
        from . import scoring

        return getattr(scoring, name)
    raise AttributeError(name)


__all__ = [
    "LABELERS", "QUALITY_METHODS", "RECOGNIZERS", "Registry", "UnknownNameError", "register_plugin",
    "list_methods", "get_method", "get_recognizer", "QualityScorer", "ScoreRow", "score_paths", "__version__",
]

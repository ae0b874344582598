"""The pluggy hook specifications through which quality methods, recognizers and
labelers are registered — by the built-ins and by third-party packages alike.

A third-party package exposes a module (or object) implementing any of these hooks
under the ``fiqa`` entry-point group in its ``pyproject.toml``::

    [project.entry-points.fiqa]
    my_plugin = "my_package.fiqa_hooks"

and in ``my_package/fiqa_hooks.py``::

    from fiqa_plugin.hookspecs import hookimpl

    @hookimpl
    def fiqa_register_quality_methods(registry):
        @registry.register("my-method", "one-line summary")
        def build(**kwargs):
            return MyQualityMethod(**kwargs)

Each hook receives the :class:`~fiqa_plugin.registry.Registry` of its kind and
registers entries on it; return values are ignored.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

PROJECT = "fiqa"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

if TYPE_CHECKING:  # pragma: no cover
    from .labelers.base import Labeler
    from .quality.base import QualityMethod
    from .recognizers.base import Recognizer
    from .registry import Registry


@hookspec
def fiqa_register_quality_methods(registry: "Registry[QualityMethod]") -> None:
    """Register quality methods: factories returning a
    :class:`fiqa_plugin.quality.base.QualityMethod` (higher score = better face)."""


@hookspec
def fiqa_register_recognizers(registry: "Registry[Recognizer]") -> None:
    """Register face recognizers: factories returning a
    :class:`fiqa_plugin.recognizers.base.Recognizer` (L2-normalised embeddings)."""


@hookspec
def fiqa_register_labelers(registry: "Registry[Labeler]") -> None:
    """Register quality-label generators (pseudo-labelers): factories returning a
    :class:`fiqa_plugin.labelers.base.Labeler`."""

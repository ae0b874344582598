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
registers entries on it; return values are ignored. The hooks are *historic*: a plugin
registered at run time (:func:`fiqa_plugin.register_plugin`) after a registry was filled is
applied to it at once by pluggy. Built-ins run first (``tryfirst``), so a third-party plugin
that raises cannot leave a registry without them.

Architectures (trainable crop regressors, :data:`fiqa_plugin.plugins.ARCHITECTURES`) come from
the training layer; the built-ins register through this project's own ``fiqa`` entry point
(``fiqa_plugin.training.architectures``), exactly as a third party would.
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


@hookspec(historic=True)
def fiqa_register_quality_methods(registry: "Registry[QualityMethod]") -> None:
    """Register quality methods: factories returning a
    :class:`fiqa_plugin.quality.base.QualityMethod` (higher score = better face)."""


@hookspec(historic=True)
def fiqa_register_recognizers(registry: "Registry[Recognizer]") -> None:
    """Register face recognizers: factories returning a
    :class:`fiqa_plugin.recognizers.base.Recognizer` (L2-normalised embeddings)."""


@hookspec(historic=True)
def fiqa_register_labelers(registry: "Registry[Labeler]") -> None:
    """Register quality-label generators (pseudo-labelers): factories returning a
    :class:`fiqa_plugin.labelers.base.Labeler`.

    Tags: ``kind`` (:class:`~fiqa_plugin.kinds.LabelerKind`), ``needs_initial_scores``; for use as
    ``fiqa train --labels NAME``: ``centres=True`` when ``label`` accepts ``center_mask`` and
    ``exclude`` (then ``NAME-loo`` exists), ``training_options`` (factory options the trainer uses)
    and ``label_scale`` (labels are divided by it, e.g. 100 for a 0-100 labeler)."""


@hookspec(historic=True)
def fiqa_register_architectures(registry: "Registry") -> None:
    """Register trainable quality-regressor architectures: factories ``(**kwargs) -> torch.nn.Module``
    mapping a normalised RGB NCHW float batch to ``[N, 1]`` quality. Registering entries must not import
    torch (do it inside the factory), so a core-only install can still list them."""

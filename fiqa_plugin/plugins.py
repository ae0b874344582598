"""The plugin manager and the four registries it fills (quality methods, recognizers, labelers, architectures).

Built-in modules register through the same hooks as third-party plugins; the
``fiqa`` entry-point group is scanned once, on the first registry query.
"""
from __future__ import annotations

import importlib
import logging
from typing import Any, List

import pluggy

from . import hookspecs
from .kinds import LabelerKind, QualityKind, Trainer
from .registry import Registry

log = logging.getLogger(__name__)

# Built-in hook modules, registered exactly like third-party ones.
BUILTIN_HOOK_MODULES: List[str] = [
    "fiqa_plugin.recognizers.builtin",
    "fiqa_plugin.quality.builtin",
    "fiqa_plugin.labelers.builtin",
]

_manager: pluggy.PluginManager | None = None


def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with built-ins and entry points loaded."""
    global _manager
    if _manager is None:
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        for mod in BUILTIN_HOOK_MODULES:
            pm.register(importlib.import_module(mod), name=mod)
        try:
            pm.load_setuptools_entrypoints(hookspecs.PROJECT)
        except Exception as exc:  # a broken third-party plugin must not break the built-ins
            log.warning("could not load a 'fiqa' entry-point plugin: %s", exc)
        _manager = pm
    return _manager


def register_plugin(plugin: Any, name: str | None = None) -> None:
    """Register a hook-implementing object at run time; pluggy's historic hooks apply it to every
    registry that is already filled."""
    plugin_manager().register(plugin, name=name)


def _load(hook: str, registry: Registry, pm: pluggy.PluginManager | None = None) -> None:
    try:
        getattr((pm or plugin_manager()).hook, hook).call_historic(kwargs={"registry": registry})
    except Exception as exc:  # built-ins ran first (tryfirst); keep them, report the broken plugin
        log.warning("a 'fiqa' plugin failed while registering %ss: %r; the others are loaded", registry.kind, exc)


QUALITY_METHODS: Registry = Registry(
    "quality method", lambda: _load("fiqa_register_quality_methods", QUALITY_METHODS),
    returns="fiqa_plugin.quality.base:QualityMethod", typed_tags={"kind": QualityKind})
RECOGNIZERS: Registry = Registry(
    "recognizer", lambda: _load("fiqa_register_recognizers", RECOGNIZERS),
    returns="fiqa_plugin.recognizers.base:Recognizer")
LABELERS: Registry = Registry(
    "labeler", lambda: _load("fiqa_register_labelers", LABELERS),
    returns="fiqa_plugin.labelers.base:Labeler", typed_tags={"kind": LabelerKind})
#: Trainable architectures: torch factories from the training layer (registered through the entry point;
#: the torch.nn.Module check is in training.train.build_model, as the core never imports torch).
ARCHITECTURES: Registry = Registry(
    "architecture", lambda: _load("fiqa_register_architectures", ARCHITECTURES), typed_tags={"trainer": Trainer})

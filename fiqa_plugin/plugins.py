"""The plugin manager and the three registries it fills.

Built-in modules register through the same hooks as third-party plugins; the
``fiqa`` entry-point group is scanned once, on the first registry query.
"""
from __future__ import annotations

import importlib
import logging
from typing import Any, List

import pluggy

from . import hookspecs
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
    """Register a hook-implementing object at run time and apply its hooks to the registries."""
    pm = plugin_manager()
    pm.register(plugin, name=name)
    # Registries already filled would miss the new plugin's hooks: apply them now.
    for registry, hook in _hooked():
        impl = getattr(plugin, hook, None)
        if registry._loaded and impl is not None:
            impl(registry=registry)


def _load(hook: str, registry: Registry) -> None:
    getattr(plugin_manager().hook, hook)(registry=registry)


QUALITY_METHODS: Registry = Registry("quality method", lambda: _load("fiqa_register_quality_methods", QUALITY_METHODS))
RECOGNIZERS: Registry = Registry("recognizer", lambda: _load("fiqa_register_recognizers", RECOGNIZERS))
LABELERS: Registry = Registry("labeler", lambda: _load("fiqa_register_labelers", LABELERS))


def _hooked():
    return [
        (QUALITY_METHODS, "fiqa_register_quality_methods"),
        (RECOGNIZERS, "fiqa_register_recognizers"),
        (LABELERS, "fiqa_register_labelers"),
    ]

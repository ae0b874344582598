import numpy as np
import pytest

from fiqa_plugin import LABELERS, QUALITY_METHODS, RECOGNIZERS, register_plugin
from fiqa_plugin.hookspecs import hookimpl
from fiqa_plugin.errors import ModelError, UsageError
from fiqa_plugin.kinds import QualityKind
from fiqa_plugin.quality.base import CropQualityMethod
from fiqa_plugin.registry import Registry, UnknownNameError


def test_register_and_create():
    reg = Registry("widget")

    @reg.register("alpha", "the first")
    def make_alpha(x=1):
        return ("alpha", x)

    assert reg.create("alpha", x=3) == ("alpha", 3)
    assert reg.names() == ["alpha"] and "alpha" in reg and len(reg) == 1
    assert reg.entry("alpha").summary == "the first"


def test_unknown_name_suggests_close_matches():
    reg = Registry("widget")
    reg.add("tinyfqnet", lambda: 1)
    reg.add("lightqnet", lambda: 2)
    with pytest.raises(UnknownNameError) as exc:
        reg.entry("tinyfqnte")
    assert "Did you mean 'tinyfqnet'" in str(exc.value)


def test_duplicate_name_needs_replace():
    reg = Registry("widget")
    reg.add("a", lambda: 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("a", lambda: 2)
    reg.add("a", lambda: 3, replace=True)
    assert reg.create("a") == 3


def test_builtins_register_through_hooks():
    for name in ["blur", "pose", "jpeg", "perceptual", "detector-confidence", "embedding-norm", "lightqnet"]:
        assert name in QUALITY_METHODS
    for name in ["buffalo_sc", "mobilefacenet-128d", "onnx"]:
        assert name in RECOGNIZERS
    assert len(LABELERS) >= 1


class ConstantQuality(CropQualityMethod):
    name = "constant-test-method"

    def score_crops(self, crops):
        return np.full(len(crops), 0.5, np.float32)


def test_third_party_plugin_registers_at_run_time():
    class ThirdParty:
        @hookimpl
        def fiqa_register_quality_methods(self, registry):
            registry.add("constant-test-method", ConstantQuality, "always the same")

    from fiqa_plugin.plugins import plugin_manager

    names_before = QUALITY_METHODS.names()
    register_plugin(ThirdParty(), name="third-party-test")
    try:
        assert "constant-test-method" in QUALITY_METHODS
        assert QUALITY_METHODS.create("constant-test-method").score_crops(np.zeros((2, 112, 112, 3), np.uint8)).tolist() == [0.5, 0.5]
        assert set(QUALITY_METHODS.names()) - set(names_before) == {"constant-test-method"}
    finally:  # later tests iterate over every registered method: leave the registry as it was
        plugin_manager().unregister(name="third-party-test")
        QUALITY_METHODS.remove("constant-test-method")
    assert QUALITY_METHODS.names() == names_before


def test_remove_unknown_name_suggests():
    reg = Registry("thing")
    reg.add("alpha", lambda: 1)
    with pytest.raises(UnknownNameError, match="Did you mean 'alpha'"):
        reg.remove("alpah")
    reg.remove("alpha")
    assert "alpha" not in reg


def test_a_failing_loader_is_retried_not_left_empty():
    calls = []

    def loader():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a broken plugin")
        reg.add("blur", lambda: "ok")

    reg = Registry("thing", loader)
    with pytest.raises(RuntimeError):
        reg.names()
    assert reg.names() == ["blur"]  # used to stay empty: "unknown thing 'blur'. Registered: none."
    assert reg.create("blur") == "ok" and len(calls) == 2


def test_missing_default_method_raises_instead_of_falling_back(monkeypatch):
    from fiqa_plugin import scoring

    monkeypatch.setattr(scoring, "DEFAULT_METHOD", "no-such-model.r0")
    with pytest.raises(UnknownNameError, match="no-such-model.r0"):
        scoring.resolve_method(None)


def test_factories_are_checked_and_kinds_typed():
    QUALITY_METHODS.add("returns-a-string", lambda: "not a method")
    try:
        with pytest.raises(ModelError, match="returned a str, not a QualityMethod"):
            QUALITY_METHODS.create("returns-a-string")
    finally:
        QUALITY_METHODS.remove("returns-a-string")
    with pytest.raises(UsageError, match="kind='mesure' is not one of"):
        QUALITY_METHODS.add("typo-kind", ConstantQuality, kind="mesure")
    assert QUALITY_METHODS.entry("blur").tags["kind"] == "measure" == QualityKind.MEASURE
    assert "typo-kind" not in QUALITY_METHODS


def test_a_broken_third_party_plugin_cannot_hide_the_built_ins():
    class Broken:
        @hookimpl
        def fiqa_register_labelers(self, registry):
            raise RuntimeError("broken plugin")

    import importlib

    import pluggy

    from fiqa_plugin import hookspecs
    from fiqa_plugin.plugins import _load

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(importlib.import_module("fiqa_plugin.labelers.builtin"))
    pm.register(Broken())  # registered last: without tryfirst built-ins it would run first and abort the rest
    fresh = Registry("labeler", lambda: _load("fiqa_register_labelers", fresh, pm))
    assert {"center", "sdd", "optimize"} <= set(fresh.names())

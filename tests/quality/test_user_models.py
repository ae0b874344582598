"""User models folder (fiqa_plugin.paths.user_models_dir): scanned like shipped weights, refreshed at run time."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np

from fiqa_plugin.paths import WEIGHTS_DIR, user_models_dir


def _shipped_tinyfqnet() -> str:
    """The name of a shipped tinyFQnet (whatever its current tag)."""
    found = sorted(WEIGHTS_DIR.glob("tinyfqnet.*.json"))
    assert found, f"no shipped tinyfqnet config in {WEIGHTS_DIR}"
    return found[-1].stem


def _copy_shipped_as(dst_dir, tag: str) -> str:
    """A real user model: the shipped tinyFQnet's ONNX under a new tag (config names the copy)."""
    src = json.loads((WEIGHTS_DIR / f"{_shipped_tinyfqnet()}.json").read_text())
    dst_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(WEIGHTS_DIR / src["file"], dst_dir / f"tinyfqnet.{tag}.onnx")
    cfg = dict(src, tag=tag, file=f"tinyfqnet.{tag}.onnx", default=True, summary="a user copy")
    (dst_dir / f"tinyfqnet.{tag}.json").write_text(json.dumps(cfg))
    return f"tinyfqnet.{tag}"


def test_user_models_dir_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("FIQA_MODELS_DIR", str(tmp_path / "m"))
    assert user_models_dir() == tmp_path / "m" and not (tmp_path / "m").exists()
    assert user_models_dir(create=True).is_dir()
    monkeypatch.delenv("FIQA_MODELS_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_models_dir() == tmp_path / "xdg" / "fiqa" / "models"


def test_registered_at_load_in_a_fresh_process(tmp_path):
    name = _copy_shipped_as(tmp_path / "models", "mine")
    code = ("from fiqa_plugin.plugins import QUALITY_METHODS as Q\n"
            f"e = Q.entry({name!r}); print(e.tags['kind'], Q.entry('tinyfqnet').tags['kind'])\n")
    env = dict(os.environ, FIQA_MODELS_DIR=str(tmp_path / "models"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    # The user model is registered; its "default" never takes the shipped model's plain arch name.
    assert r.stdout.split() == ["user", "shipped"]


def test_refresh_registers_new_models_and_scores_like_shipped(monkeypatch, tmp_path):
    from fiqa_plugin.plugins import QUALITY_METHODS
    from fiqa_plugin.quality.builtin import register_user_models

    monkeypatch.setenv("FIQA_MODELS_DIR", str(tmp_path / "models"))
    QUALITY_METHODS.names()  # registry loaded before the model exists
    name = _copy_shipped_as(tmp_path / "models", "refresh-test")
    try:
        assert name not in QUALITY_METHODS
        assert register_user_models() == [name]
        assert register_user_models() == []  # idempotent
        crops = np.random.default_rng(0).integers(0, 255, (3, 112, 112, 3), dtype=np.uint8)
        got = QUALITY_METHODS.create(name, threads=1).score_crops(crops)
        want = QUALITY_METHODS.create(_shipped_tinyfqnet(), threads=1).score_crops(crops)
        np.testing.assert_allclose(got, want, atol=1e-6)
    finally:
        QUALITY_METHODS._entries.pop(name, None)  # keep the process-wide registry as other tests expect


def test_builtin_names_are_never_shadowed(monkeypatch, tmp_path, caplog):
    from fiqa_plugin.plugins import QUALITY_METHODS
    from fiqa_plugin.quality.builtin import register_user_models

    shipped = _shipped_tinyfqnet()
    _copy_shipped_as(tmp_path / "models", shipped.split(".", 1)[1])  # same name as the shipped model
    assert register_user_models(directory=tmp_path / "models") == []
    assert QUALITY_METHODS.entry(shipped).tags["kind"] == "shipped"
    assert "rename its tag" in caplog.text

"""``fiqa train`` (every architecture) and ``fiqa ensemble train`` killed with a real SIGKILL, then the
same command run again: it resumes from the last per-epoch checkpoint and ends with exactly the
weights, history and outputs of a run that was never killed.

The killed run is the real CLI in a subprocess. Its only change: ``Checkpoint.save`` pauses after
its K-th ``last.pt`` and leaves a marker file, so the kill lands at a known point (after epoch K's
checkpoint). Histories hold no wall-clock field (the one trainer logs epoch times instead), so they
compare whole. Tiny data (4 real CelebA identities x 6 faces, 2-4 epochs) keeps each test short.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from reliability import PAUSE_AFTER_CHECKPOINT  # benchmarks/reliability.py: the CLI paused after a checkpoint

from fiqa_plugin.paths import REPO_DIR

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def faces(shared, tmp_path_factory):
    """Links to 4 CelebA identities x 6 faces, and a FIQA_CACHE shared by every run of the module."""
    root = shared / "data" / "celeba"
    assert root.is_dir(), f"{root} missing: the CelebA identity folders are needed (see shared/README.md)"
    base = tmp_path_factory.mktemp("kill")
    out = base / "faces"
    for name in sorted(os.listdir(root))[:4]:
        (out / name).mkdir(parents=True)
        for f in sorted(os.listdir(root / name))[:6]:
            os.symlink(root / name / f, out / name / f)
    return out, base / "cache"


def _kill_after(argv, saves: int, marker: Path, cache: Path) -> dict:
    """Run ``fiqa ARGV`` in a subprocess and SIGKILL it right after its ``saves``-th ``last.pt``."""
    env = dict(os.environ, FIQA_CACHE=str(cache), PYTHONWARNINGS="ignore")
    proc = subprocess.Popen([sys.executable, "-c", PAUSE_AFTER_CHECKPOINT, str(marker), str(saves), *argv], cwd=str(REPO_DIR),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t = time.monotonic()
    while proc.poll() is None and not marker.exists() and time.monotonic() - t < 300:
        time.sleep(0.05)
    assert proc.poll() is None, f"finished before checkpoint {saves}:\n{proc.stderr.read().decode()[-3000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return torch.load(marker.read_text(), weights_only=True)


def _main(argv, cache: Path, monkeypatch) -> int:
    from fiqa_plugin.cli.main import main

    monkeypatch.setenv("FIQA_CACHE", str(cache))
    return main(argv)


def _same_weights(a: Path, b: Path, key=None) -> None:
    sa, sb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    if key:
        sa, sb = sa[key], sb[key]
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), f"{a.name}: {k} differs"


def _history(run: Path) -> list:
    """``history.json``'s per-epoch records."""
    return json.loads((run / "history.json").read_text())["history"]


CROP = ["--min-images", "2", "--degrade-copies", "1", "--val-fraction", "0.25", "--batch-size", "16",
        "--lr-step", "1", "--seed", "3"]


@pytest.mark.parametrize("arch,extra,epochs,kill_after", [
    ("tinyfqnet", [], 3, 1),
    ("mobilenetv2", ["--t", "2", "--w", "0.25", "--head", "64"], 2, 1),
])
def test_crop_regressor_killed_then_rerun(faces, tmp_path, monkeypatch, arch, extra, epochs, kill_after):
    data, cache = faces
    argv = lambda out: ["train", str(data), "--out", str(out), "--arch", arch, "--epochs", str(epochs),
                        *CROP, *extra]
    assert _main(argv(tmp_path / "full"), cache, monkeypatch) == 0
    state = _kill_after(argv(tmp_path / "killed"), kill_after, tmp_path / "marker", cache)
    assert state["epoch"] == kill_after - 1 and not (tmp_path / "killed" / "model.pt").exists()
    assert _main(argv(tmp_path / "killed"), cache, monkeypatch) == 0  # the same command again
    _same_weights(tmp_path / "full" / "model.pt", tmp_path / "killed" / "model.pt")
    assert _history(tmp_path / "killed") == _history(tmp_path / "full")
    assert len(_history(tmp_path / "full")) == epochs


HEAD = ["--degrade-copies", "1", "--degrade-profile", "v2", "--val-fraction", "0.25", "--tag", "t"]


def test_sdd_regressor_killed_then_rerun(faces, tmp_path, monkeypatch):
    """Killed after epoch 2 of 3's checkpoint: a resumed run must draw epoch 3's batches as an
    uninterrupted one does, and keep the best epoch in ``best.pt`` (the exported model)."""
    data, cache = faces
    argv = lambda out: ["train", str(data), "--out", str(out), "--arch", "sdd-regressor", "--epochs", "3",
                        "--batch-size", "16", *HEAD]
    assert _main(argv(tmp_path / "full"), cache, monkeypatch) == 0
    state = _kill_after(argv(tmp_path / "killed"), 2, tmp_path / "marker", cache)
    assert state["epoch"] == 1 and not (tmp_path / "killed" / "sdd-regressor.t.onnx").exists()
    assert _main(argv(tmp_path / "killed"), cache, monkeypatch) == 0
    for name in ("last.pt", "best.pt"):
        _same_weights(tmp_path / "full" / name, tmp_path / "killed" / name, key="model")
    assert _history(tmp_path / "killed") == _history(tmp_path / "full")
    assert (tmp_path / "killed" / "sdd-regressor.t.onnx").read_bytes() == \
        (tmp_path / "full" / "sdd-regressor.t.onnx").read_bytes()


def test_embedding_head_killed_then_rerun(faces, tmp_path, monkeypatch):
    data, cache = faces
    argv = lambda out: ["train", str(data), "--out", str(out), "--arch", "embedding-head", "--epochs", "4",
                        "--batch-size", "8", *HEAD]
    assert _main(argv(tmp_path / "full"), cache, monkeypatch) == 0
    state = _kill_after(argv(tmp_path / "killed"), 2, tmp_path / "marker", cache)
    assert state["epoch"] == 1 and not (tmp_path / "killed" / "head.pt").exists()
    assert _main(argv(tmp_path / "killed"), cache, monkeypatch) == 0
    _same_weights(tmp_path / "full" / "head.pt", tmp_path / "killed" / "head.pt", key="model")
    assert _history(tmp_path / "killed") == _history(tmp_path / "full")
    assert (tmp_path / "killed" / "embedding-head.t.onnx").read_bytes() == \
        (tmp_path / "full" / "embedding-head.t.onnx").read_bytes()


def test_ensemble_killed_in_its_second_member_then_rerun(small_trainset, tmp_path, monkeypatch):
    """Two members x 2 epochs; killed after checkpoint 3: the first member finished, the second one epoch in."""
    import cv2

    rows = ["path,label,group"]
    for i, (c, y, g) in enumerate(zip(small_trainset.crops, small_trainset.labels, small_trainset.identities)):
        cv2.imwrite(str(tmp_path / f"{i}.png"), c)
        rows.append(f"{i}.png,{float(y):.6f},{g}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    cache = tmp_path / "cache"
    argv = lambda out: ["ensemble", "train", "--labels", str(tmp_path / "labels.csv"), "--aligned", "--out", str(out),
                        "--epochs", "2", "--batch-size", "16", "--val-fraction", "0.25"]
    assert _main(argv(tmp_path / "full"), cache, monkeypatch) == 0
    state = _kill_after(argv(tmp_path / "killed"), 3, tmp_path / "marker", cache)
    assert state["epoch"] == 0 and "shufflenet" in (tmp_path / "marker").read_text()
    assert not (tmp_path / "killed" / "results.json").exists()
    assert _main(argv(tmp_path / "killed"), cache, monkeypatch) == 0
    for member in ("mobilenet_v3_small", "shufflenet_v2_x1_0"):
        _same_weights(tmp_path / "full" / member / "model.pt", tmp_path / "killed" / member / "model.pt")
        assert _history(tmp_path / "killed" / member) == _history(tmp_path / "full" / member)
    res = [json.loads((tmp_path / r / "results.json").read_text()) for r in ("full", "killed")]
    assert res[0] == res[1] and np.isfinite(res[0]["ablation"]["ensemble"]["srcc"])

"""`fiqa label`, `fiqa train`, `fiqa export` end to end on a few real CelebA identities (tmp cache and output)."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest


@pytest.fixture()
def fiqa(monkeypatch, tmp_path):
    from fiqa_plugin.cli import main

    monkeypatch.setenv("FIQA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(main, "COMMANDS", sorted(set(main.COMMANDS) | {"label", "train", "export"}))
    return main.main


@pytest.fixture()
def small_folder(celeba_subset):
    return celeba_subset(4, 6)


def test_label_train_export(fiqa, small_folder, tmp_path):
    labels = tmp_path / "labels.csv"
    assert fiqa(["label", str(small_folder), "--out", str(labels)]) == 0
    rows = list(csv.DictReader(open(labels)))
    assert len(rows) == 24 and {r["identity"] for r in rows} == set(os.listdir(small_folder))
    ok = [float(r["quality"]) for r in rows if r["status"] == "ok"]
    assert len(ok) >= 20 and all(-1 <= q <= 1 for q in ok)

    run = tmp_path / "run"
    assert fiqa(["train", str(small_folder), "--out", str(run), "--epochs", "2", "--batch-size", "16",
                 "--min-images", "2", "--degrade-copies", "1", "--val-fraction", "0.25", "--lr", "0.05",
                 "--degrade-profile", "v2", "--labels", "center-loo", "--rank-weight", "0.5"]) == 0
    hist = json.loads((run / "history.json").read_text())
    assert len(hist["history"]) == 2 and hist["config"]["rank_weight"] == 0.5
    assert json.loads((run / "run.json").read_text())["data"]["data_arg"] == str(small_folder)
    weights = tmp_path / "weights"
    assert fiqa(["export", str(run), "--tag", "t1", "--out-dir", str(weights), "--no-default"]) == 0
    cfg = json.loads((weights / "tinyfqnet.t1.json").read_text())
    assert cfg["arch"] == "tinyfqnet" and cfg["input_size"] == 64 and cfg["default"] is False
    card = (weights / "tinyfqnet.t1.md").read_text()
    assert "fiqa train" in card and "SRCC" in card
    assert "profile v2" in card and "leave-one-out" in card and "ranking loss" in card

    # without --out-dir: the user models folder (a temp dir in tests, see tests/conftest.py), never the package
    assert fiqa(["export", str(run), "--tag", "t2", "--no-default"]) == 0
    assert (Path(os.environ["FIQA_MODELS_DIR"]) / "tinyfqnet.t2.onnx").is_file()
    from fiqa_plugin.paths import WEIGHTS_DIR

    assert not (WEIGHTS_DIR / "tinyfqnet.t2.onnx").exists()

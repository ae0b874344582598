"""The one checkpoint format: every epoch, resumed bit-identically, refused for another config."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fiqa_plugin.errors import ResumeError
from fiqa_plugin.training import checkpoint as ckpt_mod
from fiqa_plugin.training.embedding_head import HeadTrainConfig, train_head


def _data():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(240, 16)).astype(np.float32)
    labels = 1 / (1 + np.exp(-emb[:, 0]))  # a learnable target
    ids = np.repeat(np.arange(24), 10)
    return emb, labels, ids


def test_embedding_head_resumes_bit_identically(tmp_path, monkeypatch):
    emb, labels, ids = _data()
    cfg = HeadTrainConfig(epochs=4, batch_size=32, dropout=0.3, val_fraction=0.25)
    full, hist_full = train_head(emb, labels, ids, cfg, tmp_path / "full")

    calls = {"n": 0}
    real_save = ckpt_mod.Checkpoint.save

    def save_then_die(self, *a, **kw):  # the process dies right after epoch 2's checkpoint
        out = real_save(self, *a, **kw)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(ckpt_mod.Checkpoint, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_head(emb, labels, ids, cfg, tmp_path / "cut")
    monkeypatch.setattr(ckpt_mod.Checkpoint, "save", real_save)
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["epoch"] == 1
    resumed, hist_resumed = train_head(emb, labels, ids, cfg, tmp_path / "cut")
    assert hist_resumed == hist_full
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    h = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert set(h) == {"config", "history"} and len(h["history"]) == 4 and h["config"]["epochs"] == 4


def test_other_config_is_refused(tmp_path):
    emb, labels, ids = _data()
    train_head(emb, labels, ids, HeadTrainConfig(epochs=1), tmp_path)
    with pytest.raises(ResumeError, match="different config"):
        train_head(emb, labels, ids, HeadTrainConfig(epochs=1, lr=0.5), tmp_path)
    train_head(emb, labels, ids, HeadTrainConfig(epochs=1, lr=0.5), tmp_path, resume=False)  # explicit restart

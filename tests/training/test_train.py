"""Training on real CelebA crops: labels, validation metrics, and exact resume after an interruption."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fiqa_plugin.training.train import TrainConfig, train


def _cfg(**kw):
    base = dict(epochs=3, batch_size=16, lr=0.05, lr_step=1, min_images=2, val_fraction=0.25, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def test_small_trainset_labels(small_trainset):
    ts = small_trainset
    assert ts.crops.shape[1:] == (64, 64, 3) and ts.crops.dtype == np.uint8
    clean = ts.degradation == ""
    assert clean.sum() == (~clean).sum() > 20
    assert np.all((ts.labels > -1) & (ts.labels <= 1))
    # degraded copies are worse on average for the recognizer
    assert ts.labels[~clean].mean() < ts.labels[clean].mean()


def test_resume_after_interruption_gives_identical_weights(small_trainset, tmp_path):
    full = train(small_trainset, _cfg(), tmp_path / "full")
    assert len(full.history) == 3 and {"val_srcc", "val_plcc"} <= set(full.history[-1])

    def stop(epoch, _rec):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(small_trainset, _cfg(), tmp_path / "cut", on_epoch_end=stop)
    resumed = train(small_trainset, _cfg(), tmp_path / "cut")
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.history == full.history
    assert (tmp_path / "cut" / "histogram-smooth.png").exists()


def test_resume_refuses_other_config(small_trainset, tmp_path):
    train(small_trainset, _cfg(epochs=1), tmp_path / "r")
    with pytest.raises(ValueError, match="different config"):
        train(small_trainset, _cfg(epochs=1, lr=0.1), tmp_path / "r")


def test_ordinal_srcc_by_hand():
    """Spearman by the textbook formula 1 − 6·Σd²/(n(n²−1)): ranks 0,1,2,3 vs 0,2,1,3 give Σd² = 2, so 0.8;
    ties are broken by position (ordinal ranks), not averaged."""
    from fiqa_plugin.training.train import ordinal_srcc

    assert ordinal_srcc(np.array([1.0, 2, 3, 4]), np.array([10.0, 30, 20, 40])) == pytest.approx(0.8)
    assert ordinal_srcc(np.array([1.0, 2, 3, 4]), np.array([4.0, 3, 2, 1])) == pytest.approx(-1.0)
    assert ordinal_srcc(np.array([5.0, 5, 1]), np.array([1.0, 2, 0])) == pytest.approx(1.0)  # tie → position order

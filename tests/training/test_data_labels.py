"""Training-data logic: the norm factor, the ranking loss and the held-out EDC pAUC. Golden values are computed by hand here."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fiqa_plugin.training.data import norm_factor
from fiqa_plugin.training.train import pairwise_rank_loss, validation_pauc


def _unit(rows):
    x = np.asarray(rows, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_norm_factor():
    norms = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 5.0, 60.0])
    clean = np.array([True] * 5 + [False] * 2)
    ref = np.percentile([10, 20, 30, 40, 50], 95)  # 48
    np.testing.assert_allclose(norm_factor(norms, clean), np.clip(norms / ref, 0, 1))
    assert norm_factor(norms, clean)[-1] == 1.0


def test_pairwise_rank_loss():
    y = torch.tensor([0.9, 0.5, 0.1])
    right = pairwise_rank_loss(torch.tensor([0.8, 0.5, 0.2]), y)
    wrong = pairwise_rank_loss(torch.tensor([0.2, 0.5, 0.8]), y)
    assert right < wrong
    # two samples by hand: softplus(-20 * (p0 - p1))
    got = pairwise_rank_loss(torch.tensor([0.6, 0.5]), torch.tensor([0.9, 0.1]))
    assert float(got) == pytest.approx(float(np.log1p(np.exp(-20 * 0.1))), rel=1e-6)
    # labels within the margin give no pairs and no NaN
    assert float(pairwise_rank_loss(torch.tensor([0.1, 0.9]), torch.tensor([0.5, 0.51]))) == 0.0


def test_validation_pauc_rewards_flagging_the_bad_face():
    rng = np.random.default_rng(0)
    centres = _unit(rng.normal(size=(20, 32)))
    ids = np.repeat(np.arange(20), 4)
    emb = centres[ids] + 0.15 * rng.normal(size=(80, 32))
    emb[0] = rng.normal(size=32)  # face 0 no longer looks like its identity
    emb = _unit(emb)
    src = np.arange(80)
    good = np.ones(80)
    good[0] = 0.0
    bad = np.ones(80)
    bad[1] = 0.0  # flags an ordinary face instead
    assert validation_pauc(good, emb, ids, src) < validation_pauc(bad, emb, ids, src)
    assert np.isnan(validation_pauc(good[:4], emb[:4], ids[:4], src[:4]))  # one identity: no impostors


def test_sdd_labels_of_a_real_training_set(shared):
    """``labels="sdd"``: the SDD labeler's values over clean + degraded faces, scaled to [0, 1]."""
    import os

    from fiqa_plugin.labelers.sdd import sdd_labels
    from fiqa_plugin.training.data import build_training_set

    root = shared / "data" / "celeba"
    names = sorted(os.listdir(root))[:4]
    ts = build_training_set(root, size=64, degrade_copies=1, seed=3, identities=names, limit_per_identity=6,
                            cache=False, labels="sdd")
    want = sdd_labels(ts.embeddings, ts.identities, mode="sampled", seed=3) / 100.0
    assert ts.labels == pytest.approx(want.astype(np.float32), abs=1e-6)
    assert ts.labels.min() == pytest.approx(0.0) and ts.labels.max() == pytest.approx(1.0)
    # degraded copies are, on the whole, worse for recognition than their clean faces
    clean = ts.degradation == ""
    assert ts.labels[clean].mean() > ts.labels[~clean].mean()


def test_teacher_labels_are_the_teachers_score_ranks(shared):
    """``labels="teacher:blur"``: blur scored on the full-size clean and degraded crops, as ranks on (0, 1)."""
    import os

    from fiqa_plugin.quality.measures import BlurQuality
    from fiqa_plugin.training.data import build_training_set, embed_folder, v2_copy

    root = shared / "data" / "celeba"
    names = sorted(os.listdir(root))[:3]
    ts = build_training_set(root, size=64, degrade_copies=1, seed=2, identities=names, limit_per_identity=5,
                            cache=False, profile="v2", labels="teacher:blur")
    faces = embed_folder(root, identities=names, limit_per_identity=5, cache=False)
    copy, _ = v2_copy(faces, 2, 0)
    blur = np.concatenate([BlurQuality().score_crops(faces.crops), BlurQuality().score_crops(copy)])
    n = len(blur)
    assert n == len(ts.labels) == 2 * len(faces.crops)
    want = (np.argsort(np.argsort(blur, kind="stable"), kind="stable") + 0.5) / n
    assert ts.labels == pytest.approx(want.astype(np.float32), abs=1e-6)
    assert sorted(ts.labels) == pytest.approx((np.arange(n) + 0.5) / n, abs=1e-6)  # flat: every rank once
    with pytest.raises(ValueError, match="crop-only"):
        build_training_set(root, size=64, degrade_copies=0, identities=names, limit_per_identity=2, cache=False,
                           labels="teacher:embedding-norm")
    with pytest.raises(ValueError, match="teacher:METHOD"):
        build_training_set(root, size=64, degrade_copies=0, identities=names, limit_per_identity=2, cache=False,
                           labels="teacher")


def test_training_labels_come_from_the_labeler_registry():
    from fiqa_plugin.errors import UsageError
    from fiqa_plugin.labelers.center import center_labels
    from fiqa_plugin.labelers.certainty import certainty_ratio_labels
    from fiqa_plugin.labelers.sdd import sdd_labels
    from fiqa_plugin.training.data import check_labels, label_choices, parse_labels, registry_labels

    assert {"center", "center-loo", "center-loo-norm", "sdd", "certainty-ratio-loo"} <= set(label_choices())
    assert "optimize" not in label_choices()  # it refines another method's scores
    assert parse_labels("certainty-ratio-loo-norm") == ("certainty-ratio", True, True)
    with pytest.raises(UsageError, match="did you mean 'center-loo'"):
        check_labels("centre-loo")
    rng = np.random.default_rng(0)
    emb = _unit(rng.normal(size=(90, 16)))
    ids = np.repeat(np.arange(6), 15)
    clean = np.tile(np.arange(15) < 10, 6)
    src = np.where(clean, np.arange(90), np.arange(90) - 10)  # the copies come from the first clean faces
    np.testing.assert_allclose(registry_labels("center", emb, ids, clean, src, 0),
                               center_labels(emb, ids, center_mask=clean, exclude=src, mapping="none"))
    np.testing.assert_allclose(registry_labels("certainty-ratio", emb, ids, clean, None, 0),
                               certainty_ratio_labels(emb, ids, center_mask=clean, exclude=np.full(90, -1)))
    np.testing.assert_allclose(registry_labels("sdd", emb, ids, clean, None, 3),
                               sdd_labels(emb, ids, mode="sampled", seed=3) / 100.0)

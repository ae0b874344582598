"""Template selection, aggregation, protocol and metrics: pure logic on synthetic embeddings,
plus one small end-to-end run of the protocol builder on real LFW photographs."""
from __future__ import annotations

import numpy as np
import pytest

from fiqa_plugin import templates as T
from fiqa_plugin.evaluation import tar_at_far


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def synthetic_faceset(n_ids=30, per_id=8, dim=64, seed=0) -> T.ScoredFaces:
    """Identity centres plus noise whose size falls with a known 'true quality' in (0, 1]."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.normal(size=(n_ids, dim)))
    ids = np.repeat(np.arange(n_ids), per_id)
    q = rng.uniform(0.05, 1.0, len(ids))
    noise = rng.normal(size=(len(ids), dim)) * (2.0 * (1.0 - q))[:, None] / np.sqrt(dim) * 4
    emb = _unit(centres[ids] + noise).astype(np.float32)
    return T.ScoredFaces(ids, [f"id{i}" for i in range(n_ids)], emb,
                     {"oracle": q.astype(np.float32), "inverse": (1 - q).astype(np.float32)})


def test_select_top_k_best_first_and_stable():
    q = np.array([0.2, 0.9, 0.5, 0.9])
    assert T.select_top_k(q, 1).tolist() == [1]
    assert T.select_top_k(q, 3).tolist() == [1, 3, 2]
    assert T.select_top_k(q, 0).tolist() == [1]  # at least one face


def test_aggregate_strategies():
    e = np.eye(3)
    q = np.array([0.1, 0.7, 0.2])
    assert np.allclose(T.aggregate(e, q, "top-1"), [0, 1, 0])
    assert np.allclose(T.aggregate(e, q, "top-k", k=2), _unit(np.array([0, 1, 1.0])))
    assert np.allclose(T.aggregate(e, None, "mean"), _unit(np.ones(3)))
    # Σ q_i f_i / n, then unit norm
    assert np.allclose(T.aggregate(e, q, "weighted"), _unit(q))
    r = T.aggregate(e, None, "random-1", rng=np.random.default_rng(1))
    assert np.isclose(np.linalg.norm(r), 1) and np.count_nonzero(r) == 1
    with pytest.raises(ValueError, match="qualities"):
        T.aggregate(e, None, "top-1")
    with pytest.raises(ValueError, match="unknown strategy"):
        T.aggregate(e, q, "median")


def test_weights_never_negative():
    w = T.quality_weights(np.array([-3.0, -1.0, np.nan]))
    assert (w >= 0).all() and w.tolist() == [0.0, 2.0, 3.0]
    # all-zero weights fall back to the plain mean
    assert np.allclose(T.aggregate(np.eye(2), np.zeros(2), "weighted"), _unit(np.ones(2)))


def test_protocol_templates_are_disjoint_and_pairs_labelled():
    ids = np.repeat(np.arange(5), [10, 10, 3, 8, 12])
    p = T.make_protocol(ids, template_size=4, draws=2, seed=0)
    assert len(p.genuine) == 4 * 2  # identity 2 has too few faces
    for a, b in p.genuine:
        assert p.template_identity[a] == p.template_identity[b]
        assert not set(p.templates[a]) & set(p.templates[b])
        assert (ids[p.templates[a]] == p.template_identity[a]).all()
    assert (p.template_identity[p.impostor[:, 0]] != p.template_identity[p.impostor[:, 1]]).all()
    again = T.make_protocol(ids, template_size=4, draws=2, seed=0)
    assert all(np.array_equal(x, y) for x, y in zip(p.templates, again.templates))
    capped = T.make_protocol(ids, template_size=4, draws=2, seed=0, max_impostors=10)
    assert len(capped.impostor) == 10
    with pytest.raises(ValueError, match="faces"):
        T.make_protocol(ids, template_size=20)


def test_tar_at_far_and_accuracy():
    imp = np.linspace(0, 1, 1000, endpoint=False)  # 1000 impostors, uniform
    gen = np.array([0.95, 0.995, 0.9995, 0.5])
    tar = tar_at_far(gen, imp, T.TABLE_FARS)
    assert tar[1e-1] == 0.75 and tar[1e-2] == 0.5 and tar[1e-3] == 0.25
    assert np.isnan(tar[1e-4])  # fewer than 10,000 impostors
    assert T.verification_accuracy(np.full(50, 0.9), np.full(50, 0.1)) == 1.0
    assert 0.3 < T.verification_accuracy(np.random.default_rng(0).random(200),
                                         np.random.default_rng(1).random(200)) < 0.7


def test_quality_selection_helps_when_quality_is_right_and_hurts_when_inverted():
    fs = synthetic_faceset()
    p = T.make_protocol(fs.identities, template_size=4, draws=3, seed=0)
    rows = {(r.method, r.strategy): r for r in T.evaluate(fs, p, ["oracle", "inverse"], k=2, fars=(1e-2,))}
    assert rows["oracle", "top-1"].tar[1e-2] > rows["—", "random-1"].tar[1e-2]
    assert rows["oracle", "top-1"].tar[1e-2] > rows["inverse", "top-1"].tar[1e-2]
    assert rows["oracle", "weighted"].tar[1e-2] >= rows["—", "mean"].tar[1e-2]
    table = T.format_table(list(rows.values()), fars=(1e-2,), k=2)
    assert "| oracle | top-2 |" in table and "TAR@FAR=0.01" in table


def test_build_faceset_on_real_lfw(shared, tmp_path):
    """Real photographs: 3 LFW identities with ≥ 8 images, two quality methods, seeded degradations."""
    lfw = shared / "data" / "lfw" / "images"
    names = ["Abdullah_Gul", "Adrien_Brody", "Alejandro_Toledo"]
    missing = [n for n in names if not (lfw / n).is_dir()]
    assert not missing, f"LFW identities missing from the shared folder: {missing}"
    root = tmp_path / "ids"
    root.mkdir()
    for n in names:
        (root / n).symlink_to(lfw / n)
    fs = T.build_faceset(root, ["blur", "tinyfqnet"], min_images=8, max_images=8, degrade_p=0.5, seed=0)
    assert len(fs) >= 22 and fs.embeddings.shape[1] == 512
    assert np.allclose(np.linalg.norm(fs.embeddings, axis=1), 1, atol=1e-4)
    assert set(fs.qualities) == {"blur", "tinyfqnet"} and all(np.isfinite(q).all() for q in fs.qualities.values())
    assert 0 < sum(k != "none" for k in fs.degradations) < len(fs)
    again = T.build_faceset(root, ["blur"], min_images=8, max_images=8, degrade_p=0.5, seed=0)
    assert again.degradations == fs.degradations and np.array_equal(again.qualities["blur"], fs.qualities["blur"])
    p = T.make_protocol(fs.identities, template_size=3, draws=2)
    rows = T.evaluate(fs, p, ["tinyfqnet"], k=2, fars=(1e-1,))
    assert len(rows) == 6 and all(0 <= r.accuracy <= 1 for r in rows)

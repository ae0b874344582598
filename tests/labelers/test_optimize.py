"""Optimisation-based score refinement (Babnik et al. Sec. III) against brute-force loops."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import spearmanr

from fiqa_plugin.labelers.optimize import (
    OptimizeLabeler, _Pairing, kmeans, optimize_scores, ordinal_positions, position_update)
from fiqa_plugin.plugins import LABELERS


def _faces(n_ids=150, per_id=20, d=128, seed=0):
    """Unit embeddings whose noise level is set by a 'true' quality in [0, 1]."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(n_ids), per_id)
    true = rng.uniform(0, 1, len(ids))
    centres = rng.standard_normal((n_ids, d)) / np.sqrt(d)
    x = centres[ids] + (0.3 + 1.7 * (1 - true))[:, None] * rng.standard_normal((len(ids), d)) / np.sqrt(d)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), ids, true


def _brute_update(pos, a, b, sims, theta):
    sorted_sims = sorted(range(len(sims)), key=lambda t: (sims[t], t))
    s_pos = {t: r / (len(sims) - 1) for r, t in enumerate(sorted_sims)}
    new = list(pos)
    for i in range(len(pos)):
        mine = [s_pos[t] for t in range(len(a)) if i in (a[t], b[t]) and pos[i] == min(pos[a[t]], pos[b[t]])]
        if mine:
            new[i] = pos[i] + theta * (np.mean(mine) - pos[i])
    return np.array(new)


def test_ordinal_positions():
    np.testing.assert_allclose(ordinal_positions(np.array([0.3, -1.0, 0.3, 2.0, 0.0])), [0.5, 0, 0.75, 1, 0.25])


def test_position_update_matches_brute_force():
    rng = np.random.default_rng(1)
    n, p = 25, 80
    pos = rng.permutation(n) / (n - 1)
    a, b = rng.integers(0, n, p), rng.integers(0, n, p)
    keep = a != b
    a, b = a[keep], b[keep]
    sims = rng.normal(size=len(a))
    got = position_update(pos, a, b, sims, 0.3)
    np.testing.assert_allclose(got, _brute_update(pos, a, b, sims, 0.3), atol=1e-12)
    never_lower = ~np.isin(np.arange(n), np.where(pos[a] < pos[b], a, b))
    np.testing.assert_array_equal(got[never_lower], pos[never_lower])


def test_kmeans_reaches_the_brute_force_optimum():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(c, 0.6, (3, 2)) for c in ([0, 0], [3, 0], [0, 3])])
    best = min(
        sum(((x[np.array(lab) == c] - x[np.array(lab) == c].mean(0)) ** 2).sum() for c in range(3) if c in lab)
        for lab in itertools.product(range(3), repeat=len(x)) if len(set(lab)) == 3)
    lab, centres, inertia = kmeans(x, 3, seed=0, n_init=10)
    assert inertia == pytest.approx(best, rel=1e-9)
    np.testing.assert_allclose(centres[lab], np.stack([x[lab == c].mean(0) for c in lab]))
    lab_n, _, _ = kmeans(x, 50)
    np.testing.assert_array_equal(lab_n, np.arange(len(x)))  # k capped at n: one point per cluster


def test_pairing_one_partner_per_other_cluster():
    emb, ids, _ = _faces(n_ids=4, per_id=30, d=16, seed=3)
    ids[:1] = 9  # plus a single-image identity: no pairs
    _, inv = np.unique(ids, return_inverse=True)
    pairing = _Pairing(emb, inv, int(inv.max()) + 1, clusters=5, seed=0, n_init=1, progress=None, total=1)
    cluster_of = np.full(len(emb), -1)
    for c, (s, n) in enumerate(zip(pairing.cl_start, pairing.cl_sizes)):
        cluster_of[pairing.cl_flat[s:s + n]] = c
    a, b, sims = pairing.draw(np.random.default_rng(0))
    np.testing.assert_allclose(sims, np.einsum("nd,nd->n", emb[a].astype(np.float64), emb[b]), atol=1e-5)
    assert (inv[a] == inv[b]).all() and (cluster_of[a] != cluster_of[b]).all()
    for i in range(len(emb)):
        partners = b[a == i]
        n_cl = len(np.unique(cluster_of[inv == inv[i]])) if (inv == inv[i]).sum() > 1 else 1
        assert len(partners) == n_cl - 1 and len(np.unique(cluster_of[partners])) == n_cl - 1
    assert n_cl == 5


def test_matches_brute_force_when_every_image_is_its_own_cluster():
    # C >= identity size: each image is paired with every other image of its identity (no randomness)
    emb, ids, true = _faces(n_ids=6, per_id=5, d=16, seed=4)
    q = true + np.random.default_rng(0).normal(0, 0.3, len(true))
    got = optimize_scores(q, emb, ids, clusters=10, theta=0.4, repetitions=3)
    e = emb.astype(np.float64)
    a, b = zip(*[(i, j) for i in range(len(e)) for j in range(len(e)) if i != j and ids[i] == ids[j]])
    sims = [float(e[i] @ e[j]) for i, j in zip(a, b)]
    pos = np.argsort(np.argsort(q)) / (len(q) - 1)
    new = _brute_update(pos, a, b, sims, 0.4)
    want = np.empty_like(q)
    want[np.lexsort((pos, new))] = np.sort(q)
    np.testing.assert_array_equal(got, want)


def test_histogram_unchanged_and_quality_improves():
    emb, ids, true = _faces(seed=5)
    q0 = (true + np.random.default_rng(1).normal(0, 0.6, len(true))).astype(np.float32)
    rho0 = spearmanr(q0, true)[0]
    q_default = LABELERS.create("optimize").label(emb, ids, initial_scores=q0)
    q_strong = optimize_scores(q0, emb, ids, theta=0.5)
    for out in (q_default, q_strong):
        assert out.dtype == q0.dtype
        np.testing.assert_array_equal(np.sort(out), np.sort(q0))  # same values, re-ordered
    assert spearmanr(q_default, true)[0] >= rho0 - 1e-3  # θ = 0.001: small steps
    assert spearmanr(q_strong, true)[0] > rho0 + 0.05
    np.testing.assert_array_equal(optimize_scores(q0, emb, ids, theta=0.0), q0)


def test_nan_scores_stay_and_singletons_keep_rank():
    emb, ids, true = _faces(n_ids=10, per_id=8, d=32, seed=6)
    q = true.copy()
    q[[3, 17]] = np.nan
    calls = []
    out = OptimizeLabeler(theta=0.5, repetitions=2).label(emb, ids, initial_scores=q,
                                                          progress=lambda d, t: calls.append((d, t)))
    assert np.isnan(out[[3, 17]]).all()
    ok = np.isfinite(q)
    np.testing.assert_array_equal(np.sort(out[ok]), np.sort(q[ok]))
    assert calls[-1] == (3 * ok.sum(), 3 * ok.sum())
    single = np.arange(len(q))  # every identity a singleton: no pairs, nothing moves
    np.testing.assert_array_equal(optimize_scores(true, emb, single, theta=0.5), true)
    with pytest.raises(ValueError):
        OptimizeLabeler().label(emb, ids)

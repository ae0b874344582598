"""SDD-FIQA labels: Wasserstein-1 against scipy/POT/hand values, exact mode against a brute-force
loop, sampled mode against exact mode, Eq. 9 normalisation."""
from __future__ import annotations

import logging

import numpy as np
import ot
import pytest
from scipy.stats import spearmanr, wasserstein_distance

from fiqa_plugin.labelers.base import minmax_to_100
from fiqa_plugin.labelers.sdd import SDDLabeler, _w1_masked, sdd_labels, wasserstein_1d_batched
from fiqa_plugin.plugins import LABELERS


def _faces(sizes, d=32, seed=0, noise=(0.5, 2.5)):
    """Clustered unit embeddings: identity centre + noise with a per-face level (the 'true' quality)."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(len(sizes)), sizes)
    centres = rng.standard_normal((len(sizes), d))
    sigma = rng.uniform(*noise, len(ids))
    x = centres[ids] + sigma[:, None] * rng.standard_normal((len(ids), d))
    perm = rng.permutation(len(ids))  # identities interleaved, not contiguous
    x, ids, sigma = x[perm], ids[perm], sigma[perm]
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), ids, sigma


def _brute_exact(emb, ids, variant):
    """Per face: explicit genuine / impostor lists, scipy's W1, sign from the means."""
    e = emb.astype(np.float64)
    out = []
    for i in range(len(e)):
        gen = [float(e[i] @ e[j]) for j in range(len(e)) if j != i and ids[j] == ids[i]]
        imp = [float(e[i] @ e[j]) for j in range(len(e)) if ids[j] != ids[i]]
        if variant == "neg_only":
            out.append(-np.mean(imp))
        elif not gen:
            out.append(np.nan)
        elif variant == "pos_only":
            out.append(np.mean(gen))
        else:
            out.append(np.sign(np.mean(gen) - np.mean(imp)) * wasserstein_distance(gen, imp))
    return np.array(out)


# ---- Wasserstein-1 ------------------------------------------------------------------------------
def test_w1_hand_values():
    # uniform {0, 1} vs {2, 3}: every unit of mass moves by 2
    for backend in ("numpy", "pot"):
        assert wasserstein_1d_batched(np.array([0.0, 1.0]), np.array([3.0, 2.0]), backend=backend) == pytest.approx(2.0)
        # 0.75 at 0 and 0.25 at 1 vs a point mass at 1: 0.75 of the mass moves by 1
        w = wasserstein_1d_batched(np.array([0.0, 1.0]), np.array([1.0]), np.array([3.0, 1.0]), backend=backend)
        assert w == pytest.approx(0.75)
    # masked: {0, 1, (5 masked)} vs {0.5}
    got = _w1_masked(np.array([[0.0, 1.0, 5.0]]), np.array([[1, 1, 0]]), np.array([[0.5, 9.0]]), np.array([[1, 0]]))
    assert got[0] == pytest.approx(0.5)


def test_w1_batched_matches_scipy_and_pot():
    rng = np.random.default_rng(1)
    n, m, b = 7, 11, 60
    u, v = rng.normal(size=(n, b)), rng.normal(0.5, 2.0, size=(m, b))
    uw = rng.random((n, b)) * (rng.random((n, b)) > 0.3)  # some zero weights: dropped atoms
    uw[:, 0] = 0  # an empty distribution -> NaN
    vw = rng.random((m, b))
    want = np.array([wasserstein_distance(u[:, i], v[:, i], uw[:, i], vw[:, i]) if uw[:, i].sum() > 0 else np.nan
                     for i in range(b)])
    for backend in ("numpy", "pot"):
        got = wasserstein_1d_batched(u, v, uw, vw, backend=backend)
        np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(wasserstein_1d_batched(u, v), ot.wasserstein_1d(u, v), atol=1e-12)
    sq = rng.normal(size=(9, 4, 5))  # several batch axes, equal sizes (closed-form path)
    want = ot.wasserstein_1d(sq.reshape(9, -1), sq[::-1].reshape(9, -1) + 1.0).reshape(4, 5)
    np.testing.assert_allclose(wasserstein_1d_batched(sq, sq[::-1] + 1.0), want, atol=1e-12)


def test_w1_masked_matches_scipy():
    rng = np.random.default_rng(2)
    b, n, m = 300, 9, 13
    u, v = rng.normal(size=(b, n)), rng.normal(size=(b, m))
    um, vm = rng.random((b, n)) < 0.6, rng.random((b, m)) < 0.8
    um[0] = False
    got = _w1_masked(u, um, v, vm)
    want = np.array([wasserstein_distance(u[i, um[i]], v[i, vm[i]]) if um[i].any() and vm[i].any() else np.nan
                     for i in range(b)])
    np.testing.assert_allclose(got, want, atol=1e-12)


# ---- labels -------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["full", "pos_only", "neg_only"])
@pytest.mark.parametrize("backend", ["pot", "numpy"])
def test_exact_matches_brute_force(variant, backend):
    emb, ids, _ = _faces([5, 1, 8, 3, 2, 6, 4], seed=3)
    got = sdd_labels(emb, ids, mode="exact", variant=variant, normalize=False, wd_backend=backend)
    want = _brute_exact(emb, ids, variant)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.isnan(got[ids == 1]).all() == (variant != "neg_only")


@pytest.mark.parametrize("variant", ["full", "pos_only", "neg_only"])
def test_sampled_equals_exact_when_every_pair_is_drawn(variant):
    # m >= every genuine/impostor set and a pool of the whole set: the sampled estimate is the exact value
    emb, ids, _ = _faces([5, 1, 8, 3, 2, 6, 4], seed=4)
    got = sdd_labels(emb, ids, m=100, k=3, impostor_pool=10_000, variant=variant, normalize=False)
    np.testing.assert_allclose(got, _brute_exact(emb, ids, variant), atol=1e-6)


def test_sampled_approaches_exact_as_k_grows():
    # LFW-sized: ~5000 faces, 1000 identities with 2..9 images; m = 6 so larger identities are subsampled
    rng = np.random.default_rng(5)
    sizes = rng.integers(2, 10, 1000)
    emb, ids, sigma = _faces(sizes, d=64, seed=5, noise=(0.8, 1.6))
    exact = sdd_labels(emb, ids, mode="exact", wd_backend="numpy")
    rho = {k: spearmanr(sdd_labels(emb, ids, m=6, k=k, seed=1), exact)[0] for k in (1, 100)}
    assert rho[100] > 0.95
    assert rho[100] > rho[1] + 0.05
    assert spearmanr(exact, -sigma)[0] > 0.4  # the labels track the quality that drove the noise


def test_normalised_to_0_100_and_nan_for_singletons(caplog):
    emb, ids, _ = _faces([4, 1, 6, 5, 1, 3], seed=6)
    with caplog.at_level(logging.WARNING, logger="fiqa_plugin.labelers.sdd"):
        q = SDDLabeler().label(emb, ids)
    single = np.isin(ids, [1, 4])
    assert np.isnan(q[single]).all() and np.isfinite(q[~single]).all()
    assert np.nanmin(q) == 0.0 and np.nanmax(q) == 100.0
    raw = sdd_labels(emb, ids, normalize=False)
    np.testing.assert_allclose(q, 100 * (raw - np.nanmin(raw)) / (np.nanmax(raw) - np.nanmin(raw)))
    assert "2 identities have a single image" in caplog.text
    np.testing.assert_allclose(minmax_to_100(np.array([2.0, np.nan, 4.0, 3.0])), [0, np.nan, 100, 50])
    np.testing.assert_allclose(minmax_to_100(np.array([7.0, 7.0])), [50, 50])


def test_sign_penalises_genuines_below_impostors():
    # face 0 sits with identity B although labelled A: its genuines are far, its impostors close
    emb, ids, _ = _faces([6, 6, 6], seed=7, noise=(0.2, 0.3))
    a0 = np.nonzero(ids == 0)[0][0]
    emb = emb.copy()
    emb[a0] = emb[np.nonzero(ids == 1)[0][0]]
    raw = sdd_labels(emb, ids, mode="exact", normalize=False)
    assert raw[a0] < 0 and raw.argmin() == a0


def test_seeded_chunked_and_progress():
    emb, ids, _ = _faces(np.full(60, 5), seed=8)
    calls = []
    a = sdd_labels(emb, ids, seed=3, chunk_size=37, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (300, 300) and len(calls) == 9
    np.testing.assert_array_equal(a, sdd_labels(emb, ids, seed=3, chunk_size=37))
    assert not np.array_equal(a, sdd_labels(emb, ids, seed=4, chunk_size=37))
    b = sdd_labels(emb, ids, seed=3, chunk_size=37, wd_backend="pot")
    np.testing.assert_allclose(a, b, atol=1e-9)  # same draws, POT's W1


def test_validation_and_registry():
    emb, ids, _ = _faces([3, 3], seed=9)
    with pytest.raises(ValueError):
        sdd_labels(emb, np.zeros(len(ids)))  # one identity: no impostors
    with pytest.raises(ValueError):
        SDDLabeler(variant="both")
    lab = LABELERS.create("sdd", mode="exact", variant="pos_only")
    assert isinstance(lab, SDDLabeler) and lab.name == "sdd"
    np.testing.assert_allclose(lab.label(emb, ids, normalize=False), _brute_exact(emb, ids, "pos_only"), atol=1e-6)

"""Centre-similarity labels (tinyFQnet Eq. 1) against brute-force loops."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from fiqa_plugin.labelers.center import CenterLabeler, center_labels, cosine_to_unit
from fiqa_plugin.plugins import LABELERS


def _data(n=90, d=16, n_ids=10, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, n_ids, n)
    centres = rng.standard_normal((n_ids, d))
    x = 2.0 * centres[ids] + rng.standard_normal((n, d)) * rng.uniform(0.5, 3.0, (n, 1))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), ids


def _brute_mean_centre(emb, ids, leave_one_out):
    out = []
    for i in range(len(emb)):
        others = [emb[j].astype(np.float64) for j in range(len(emb)) if ids[j] == ids[i] and (j != i or not leave_one_out)]
        if not others:
            out.append(np.nan)
            continue
        c = np.mean(others, axis=0)
        c /= np.linalg.norm(c)
        out.append(float(emb[i].astype(np.float64) @ c))
    return np.array(out)


def test_cosine_to_unit_hand_values():
    c = np.array([-1.0, -0.2, 0.0, 0.3, 1.0, np.nan])
    np.testing.assert_allclose(cosine_to_unit(c), [0, 0, 0, 0.3, 1, np.nan])
    np.testing.assert_allclose(cosine_to_unit(c, "affine"), [0, 0.4, 0.5, 0.65, 1, np.nan])
    np.testing.assert_allclose(cosine_to_unit(c, "none"), c)
    with pytest.raises(ValueError):
        cosine_to_unit(c, "sigmoid")


@pytest.mark.parametrize("loo", [False, True])
def test_mean_centre_matches_brute_force(loo):
    emb, ids = _data()
    ids = np.append(ids, 99)  # a single-image identity
    emb = np.vstack([emb, emb[:1]])
    got = center_labels(emb, ids, leave_one_out=loo, mapping="none")
    want = _brute_mean_centre(emb, ids, loo)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.isnan(got[-1]) == loo  # leave-one-out: no centre for the only image of an identity
    assert np.isfinite(got[:-1]).all()


def test_string_identities_and_default_clip():
    emb, ids = _data(seed=1)
    names = np.array([f"person_{i:03d}" for i in ids])
    raw = center_labels(emb, ids, mapping="none")
    np.testing.assert_allclose(center_labels(emb, names, mapping="none"), raw)
    lab = CenterLabeler().label(emb, names)
    np.testing.assert_allclose(lab, np.clip(raw, 0, 1))
    assert lab.min() >= 0 and lab.max() <= 1


def test_classifier_weight_centres():
    emb, ids = _data(seed=2)
    rng = np.random.default_rng(5)
    w = rng.standard_normal((12, emb.shape[1])) * 3.0  # unnormalised rows: normalised by the labeler
    want = np.array([emb[i].astype(np.float64) @ (w[ids[i]] / np.linalg.norm(w[ids[i]])) for i in range(len(emb))])
    np.testing.assert_allclose(center_labels(emb, ids, weights=w, mapping="none"), want, atol=1e-6)
    # string identities with a {identity: row} mapping, and with a sequence of row labels
    names = np.array([f"id{i}" for i in ids])
    mapping = {f"id{k}": k for k in range(12)}
    np.testing.assert_allclose(center_labels(emb, names, weights=w, class_index=mapping, mapping="none"), want, atol=1e-6)
    rows = [f"id{k}" for k in range(12)]
    np.testing.assert_allclose(center_labels(emb, names, weights=w, class_index=rows, mapping="none"), want, atol=1e-6)
    with pytest.raises(KeyError):
        center_labels(emb, np.append(names[:-1], "stranger"), weights=w, class_index=mapping)
    with pytest.raises(ValueError):
        center_labels(emb, ids, weights=w, leave_one_out=True)


def test_singletons_warn_under_leave_one_out(caplog):
    emb, ids = _data(n=20, n_ids=3, seed=3)
    ids = np.append(ids, [7, 8])
    emb = np.vstack([emb, emb[:2]])
    with caplog.at_level(logging.WARNING, logger="fiqa_plugin.labelers.center"):
        q = center_labels(emb, ids, leave_one_out=True)
    assert np.isnan(q[-2:]).all() and np.isfinite(q[:-2]).all()
    assert "2 identities have a single image" in caplog.text


def test_chunking_and_progress():
    emb, ids = _data(n=300, seed=4)
    calls = []
    a = center_labels(emb, ids, leave_one_out=True, chunk_size=7, progress=lambda d, t: calls.append((d, t)))
    b = center_labels(emb, ids, leave_one_out=True)
    np.testing.assert_allclose(a, b, atol=1e-12)
    assert calls[-1] == (300, 300) and len(calls) == 43


def test_registered():
    lab = LABELERS.create("center", leave_one_out=True)
    assert isinstance(lab, CenterLabeler) and lab.name == "center" and not lab.needs_initial_scores
    assert {"center", "sdd", "optimize"} <= set(LABELERS.names())

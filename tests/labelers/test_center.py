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


def _unit(rows):
    x = np.asarray(rows, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_masked_leave_one_out_centre_by_hand():
    # identity 0: three clean faces and a degraded copy of face 0; identity 1: two clean faces
    e = _unit([[1, 0, 0], [1, 1, 0], [1, 0, 1], [0, 1, 1], [0, 0, 1], [0, 1, 0]])
    ids = np.array([0, 0, 0, 0, 1, 1])
    clean = np.array([True, True, True, False, True, True])
    src = np.array([0, 1, 2, 0, 4, 5])  # the degraded copy (row 3) comes from face 0
    q = center_labels(e, ids, center_mask=clean, exclude=src, mapping="none")
    # face 0 and its copy: centre = normalised e1 + e2 = (2, 1, 1)/|.|
    u = np.array([2 / np.sqrt(2), 1 / np.sqrt(2), 1 / np.sqrt(2)])
    u /= np.linalg.norm(u)
    assert q[0] == pytest.approx(e[0] @ u, abs=1e-6)
    assert q[3] == pytest.approx(e[3] @ u, abs=1e-6)
    # identity 1 with two faces: each face's centre is the other face
    assert q[4] == pytest.approx(0.0, abs=1e-6) and q[5] == pytest.approx(0.0, abs=1e-6)
    # without leave-one-out, face 0 votes for itself and scores higher
    assert center_labels(e, ids, center_mask=clean, mapping="none")[0] > q[0]
    # leave_one_out with a mask: each clean face leaves itself out, a copy keeps the whole centre
    loo = center_labels(e, ids, center_mask=clean, leave_one_out=True, mapping="none")
    full = e[0] + e[1] + e[2]
    assert loo[0] == pytest.approx(q[0], abs=1e-6) and loo[3] == pytest.approx(e[3] @ full / np.linalg.norm(full), abs=1e-6)


def test_masked_single_member_centre_is_nan():
    e = _unit([[1, 0], [0, 1], [1, 1]])
    q = center_labels(e, np.array([0, 1, 1]), exclude=np.array([0, 1, 2]), mapping="none")
    assert np.isnan(q[0]) and q[1] == pytest.approx(np.sqrt(0.5), abs=1e-6)


@pytest.mark.parametrize("loo", [False, True])
def test_masked_path_equals_plain_path_without_a_mask(loo):
    emb, ids = _data(seed=6)
    plain = center_labels(emb, ids, leave_one_out=loo, mapping="none")
    masked = center_labels(emb, ids, leave_one_out=loo, center_mask=np.ones(len(ids), bool), mapping="none")
    np.testing.assert_allclose(masked, plain, atol=1e-6)

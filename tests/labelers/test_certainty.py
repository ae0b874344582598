"""Certainty-ratio labels (CR-FIQA with mean-embedding centres) against values computed by hand and by a plain loop."""
import math

import numpy as np
import pytest

from fiqa_plugin.labelers.certainty import certainty_ratio_labels
from fiqa_plugin.plugins import LABELERS


def test_hand_computed_value():
    # A: (1,0), (0.6,0.8); B: (0,1), (-0.6,0.8). Face 0 without itself: own centre (0.6,0.8) -> CCS 0.6;
    # B's centre is (-0.3,0.9)/sqrt(0.9) -> NNCCS -0.3/sqrt(0.9).
    emb = np.array([[1, 0], [0.6, 0.8], [0, 1], [-0.6, 0.8]], np.float32)
    q = certainty_ratio_labels(emb, np.array(["a", "a", "b", "b"]))
    assert q[0] == pytest.approx(0.6 / (1 - 0.3 / math.sqrt(0.9)), rel=1e-6)


def _loop_reference(emb, ids, center_mask, exclude):
    out = []
    for i, f in enumerate(emb):
        own = [j for j in range(len(emb)) if ids[j] == ids[i] and center_mask[j] and j != exclude[i]]
        c = np.sum([emb[j] for j in own], 0)
        ccs = float(f @ c / np.linalg.norm(c))
        nn = max(float(f @ (np.sum([emb[j] for j in range(len(emb)) if ids[j] == y and center_mask[j]], 0)))
                 / np.linalg.norm(np.sum([emb[j] for j in range(len(emb)) if ids[j] == y and center_mask[j]], 0))
                 for y in set(ids) if y != ids[i])
        out.append(ccs / (nn + 1 + 1e-9))
    return np.array(out)


def test_matches_loop_with_clean_centres_and_excluded_sources():
    rng = np.random.default_rng(3)
    emb = rng.normal(size=(24, 8))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32).astype(np.float64)  # labels read float32
    ids = np.repeat(np.arange(4), 6)
    clean = np.tile([True, True, True, False, False, False], 4)  # last three of each identity: "degraded copies"
    exclude = np.where(clean, np.arange(24), np.arange(24) - 3)  # a copy leaves its clean original out
    got = certainty_ratio_labels(emb, ids, center_mask=clean, exclude=exclude)
    np.testing.assert_allclose(got, _loop_reference(emb, ids, clean, exclude), rtol=1e-9)


def test_registered_and_single_image_identity_is_nan():
    lab = LABELERS.create("certainty-ratio")
    emb = np.eye(3, dtype=np.float32)
    q = lab(emb, np.array([0, 0, 1]))
    assert np.isnan(q[2]) and np.isfinite(q[:2]).all()

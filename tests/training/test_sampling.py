"""Smooth sampling (pure logic on label arrays): identity filter, tails oversampled, histogram flatter."""
from __future__ import annotations

import numpy as np

from fiqa_plugin.training.sampling import (SmoothSamplingConfig, bin_index, identity_filter, random_sample,
                                           save_histograms, smooth_sample)


def _labels(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    scores = np.clip(rng.beta(8, 3, n), 0, 1)  # crowded around 0.7, like centre labels
    ids = rng.integers(0, 300, n)
    ids[:20] = 1000  # one identity with 20 images
    ids[20:25] = 1001  # one with only 5
    return scores, ids


def test_identity_filter_counts_only_masked_samples():
    ids = np.array([0] * 10 + [1] * 9 + [2] * 3)
    assert identity_filter(ids, 10).tolist() == [True] * 10 + [False] * 12
    mask = np.ones(len(ids), bool)
    mask[:5] = False  # e.g. degraded copies do not count
    assert not identity_filter(ids, 10, mask).any()


def test_smooth_sampling_flattens_and_keeps_tails():
    scores, ids = _labels()
    cfg = SmoothSamplingConfig(min_images=10)
    idx = smooth_sample(scores, ids, cfg, seed=1)
    assert not np.isin(ids[idx], [1001]).any()
    before = np.bincount(bin_index(scores), minlength=100)
    after = np.bincount(bin_index(scores[idx]), minlength=100)
    nz = before > 0
    # the crowded bins are cut down to the cap, the histogram is flatter
    assert after.max() < before.max()
    assert after[nz].std() / after[nz].mean() < before[nz].std() / before[nz].mean()
    # the lowest 10% of scores keep at least as many samples, more when their bins are sparse
    lo = scores <= np.quantile(scores, 0.1)
    assert np.isin(idx, np.flatnonzero(lo)).sum() > (lo & identity_filter(ids, 10)).sum()
    # deterministic for a seed
    assert np.array_equal(idx, smooth_sample(scores, ids, cfg, seed=1))


def test_random_sample_size_and_filter():
    scores, ids = _labels()
    idx = random_sample(scores, ids, 500, min_images=10, seed=0)
    assert len(idx) == 500 and not np.isin(ids[idx], [1001]).any()


def test_histogram_png(tmp_path):
    scores, ids = _labels(1000)
    idx = smooth_sample(scores, ids, SmoothSamplingConfig(min_images=1))
    save_histograms(scores, idx, tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 1000

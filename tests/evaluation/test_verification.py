"""ROC, TAR@FAR, FNMR@FMR and accuracy: hand-computed cases and brute-force references."""
from __future__ import annotations

import numpy as np
import pytest

from fiqa_plugin.evaluation import (best_threshold, fmr_at_threshold, fnmr_at_fmr, roc, split_scores, tar_at_far,
                                    verification_accuracy)

NEXT = lambda x: np.nextafter(x, np.inf)  # noqa: E731


def test_roc_by_hand():
    # gen [.9 .6 .4], imp [.7 .3]; thresholds +inf, then every distinct score descending.
    fmr, tmr, thr = roc([0.9, 0.6, 0.4], [0.7, 0.3])
    np.testing.assert_array_equal(thr, [np.inf, 0.9, 0.7, 0.6, 0.4, 0.3])
    np.testing.assert_allclose(fmr, [0, 0, 0.5, 0.5, 0.5, 1])
    np.testing.assert_allclose(tmr, [0, 1 / 3, 1 / 3, 2 / 3, 1, 1])


def test_roc_matches_brute_force():
    rng = np.random.default_rng(0)
    gen, imp = np.round(rng.normal(1, 1, 80), 1), np.round(rng.normal(0, 1, 120), 1)
    fmr, tmr, thr = roc(gen, imp)
    for f, t, th in zip(fmr, tmr, thr):
        assert f == sum(1 for x in imp if x >= th) / len(imp)
        assert t == sum(1 for x in gen if x >= th) / len(gen)
    assert np.all(np.diff(fmr) >= 0) and np.all(np.diff(tmr) >= 0)


def test_tar_at_far_by_hand():
    imp = np.arange(1, 101) / 100  # 0.01 ... 1.00
    gen = [0.95, 0.985, 0.999, 0.5, 0.991]
    r = tar_at_far(gen, imp, fars=(1e-1, 1e-2, 1e-3))
    # FAR 0.1: k = 10, the 11th highest impostor is 0.90 -> accept > 0.90: 4 of 5 genuine.
    assert r[1e-1] == pytest.approx(0.8)
    # FAR 0.01: k = 1, the 2nd highest is 0.99 -> accept > 0.99: 0.999 and 0.991.
    assert r[1e-2] == pytest.approx(0.4)
    # FAR 0.001 needs 1000 impostors, there are 100.
    assert np.isnan(r[1e-3])
    assert fnmr_at_fmr(gen, imp, 1e-2) == pytest.approx(0.6)
    assert np.isnan(fnmr_at_fmr(gen, imp, 1e-3))
    assert fmr_at_threshold(imp, NEXT(0.99)) == pytest.approx(0.01)


def test_tar_at_far_default_fars_need_enough_impostors():
    rng = np.random.default_rng(1)
    r = tar_at_far(rng.normal(1, 1, 100), rng.normal(0, 1, 10_000))
    assert list(r) == [1e-1, 1e-2, 1e-3, 1e-4, 1e-5]
    assert all(np.isfinite(r[f]) for f in (1e-1, 1e-2, 1e-3, 1e-4))  # 10^4 impostors reach 1e-4
    assert np.isnan(r[1e-5])
    assert r[1e-1] >= r[1e-2] >= r[1e-3] >= r[1e-4]


def test_tar_at_far_matches_brute_force():
    rng = np.random.default_rng(2)
    gen, imp = np.round(rng.normal(1, 1, 300), 2), np.round(rng.normal(0, 1, 1000), 2)
    fars = (0.5, 0.1, 0.05, 0.01, 0.001)
    r = tar_at_far(gen, imp, fars)
    # Brute force: try every candidate threshold, keep the most accepting one whose FMR <= far.
    cands = np.concatenate([imp, NEXT(imp), [np.inf]])
    fm = np.array([np.count_nonzero(imp >= c) for c in cands])
    tm = np.array([np.count_nonzero(gen >= c) for c in cands]) / len(gen)
    for far in fars:
        assert r[far] == pytest.approx(tm[fm <= far * len(imp) * (1 + 1e-12)].max())


def test_best_threshold_by_hand():
    # scores .1(I) .4(G) .35(I) .8(G): t=.1 -> 2/4, t=.35 -> 3/4, t=.4 -> 4/4, t=.8 -> 3/4.
    t, acc = best_threshold([0.1, 0.4, 0.35, 0.8], [False, True, False, True])
    assert (t, acc) == (0.4, 1.0)
    # All impostors: rejecting everything (+inf) is best.
    assert best_threshold([0.3, 0.2], [False, False]) == (np.inf, 1.0)


def brute_best_threshold(s, y):
    best_t, best_acc = None, -1.0
    for c in sorted(set(s)) + [np.inf]:
        acc = np.mean([(x >= c) == yy for x, yy in zip(s, y)])
        if acc > best_acc:
            best_t, best_acc = c, acc
    return best_t, best_acc


def test_accuracy_matches_brute_force():
    rng = np.random.default_rng(4)
    n = 200
    y = rng.random(n) < 0.5
    s = np.round(np.where(y, rng.normal(0.8, 0.5, n), rng.normal(0, 0.5, n)), 1)
    t, acc = best_threshold(s, y)
    bt, bacc = brute_best_threshold(s, y)
    assert t == bt and acc == pytest.approx(bacc)
    assert verification_accuracy(s, y) == pytest.approx(bacc)
    folds = np.arange(n) % 10
    expected = []
    for f in range(10):
        tr = folds != f
        ft, _ = brute_best_threshold(s[tr], y[tr])
        expected.append(np.mean((s[~tr] >= ft) == y[~tr]))
    assert verification_accuracy(s, y, folds=folds) == pytest.approx(np.mean(expected))
    # An int draws a seeded random split: reproducible, and at most the optimistic accuracy.
    a1, a2 = verification_accuracy(s, y, folds=10, seed=3), verification_accuracy(s, y, folds=10, seed=3)
    assert a1 == a2 and a1 <= bacc + 1e-12


def test_split_scores_and_errors():
    g, i = split_scores([0.1, 0.2, 0.3], [True, False, True])
    np.testing.assert_array_equal(g, [0.1, 0.3])
    np.testing.assert_array_equal(i, [0.2])
    with pytest.raises(ValueError):
        tar_at_far([], [0.1])
    with pytest.raises(ValueError, match="NaN"):
        roc([np.nan], [0.1])
    with pytest.raises(ValueError):
        verification_accuracy([0.1, 0.2], [True, False], folds=[0, 0])

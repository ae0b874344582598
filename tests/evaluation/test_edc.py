"""EDC, pAUC, AOC, theoretical best and the CR-FIQA ERC: hand-computed cases, brute-force references, synthetic data."""
from __future__ import annotations


import numpy as np
import pytest

from fiqa_plugin.evaluation import (EDCCurve, aoc, compute_edc, erc_refixed_threshold, pair_quality, pauc, plot_edc,
                                    theoretical_best, theoretical_best_pauc, threshold_at_fmr)

NEXT = lambda x: np.nextafter(x, np.inf)  # noqa: E731


# --- brute-force references (plain loops, written from the definitions, not from the code) ---------


def ref_threshold(impostors, fmr):
    """Smallest t (accept score >= t) with #{imp >= t} <= fmr * n. FMR(t) only changes at impostor
    scores, so the candidates are -inf and the float just above each impostor score."""
    imp = [float(x) for x in impostors]
    allowed = fmr * len(imp) * (1 + 1e-12)
    cands = sorted({float("-inf")} | {float(NEXT(x)) for x in imp})
    for c in cands:
        if sum(1 for x in imp if x >= c) <= allowed:
            return c
    raise AssertionError("unreachable: nextafter(max) accepts nothing")


def ref_edc(scores, genuine, quality, fmr):
    t = ref_threshold([s for s, g in zip(scores, genuine) if not g], fmr)
    gen = [(float(q), float(s)) for s, g, q in zip(scores, genuine, quality) if g]
    n = len(gen)
    fr, er = [0.0], [sum(1 for _, s in gen if s < t) / n]
    for v in sorted({q for q, _ in gen}):
        kept = [s for q, s in gen if q > v]
        fr.append((n - len(kept)) / n)
        er.append(sum(1 for s in kept if s < t) / len(kept) if kept else 0.0)
    return np.array(fr), np.array(er), t


def ref_pauc_fiqat(d, e, limit):
    """fiqat's compute_edc_pauc loop (step interpolation, unnormalised)."""
    area = 0.0
    for i in range(len(d)):
        if i == len(d) - 1 or d[i + 1] >= limit:
            area += e[i] * (limit - d[i])
            break
        area += e[i] * (d[i + 1] - d[i])
    return area


def ref_erc(scores, genuine, quality, fmr, fractions):
    n = len(scores)
    qs = sorted(float(q) for q in quality)
    out_f, out_e = [], []
    for u in fractions:
        m = int(np.floor(u * n + 1e-9))
        cut_q = qs[m] if m < n else float("inf")
        kept = [(s, g) for s, g, q in zip(scores, genuine, quality) if q >= cut_q]
        out_f.append((n - len(kept)) / n)
        imp = [s for s, g in kept if not g]
        gen = [s for s, g in kept if g]
        if not imp or not gen:
            out_e.append(float("nan"))
            continue
        t = ref_threshold(imp, fmr)
        out_e.append(sum(1 for s in gen if s < t) / len(gen))
    return np.array(out_f), np.array(out_e)


# --- hand-computed cases --------------------------------------------------------------------------


def test_threshold_rule_by_hand():
    imp = np.arange(1, 11) / 10  # 0.1 ... 1.0
    # FMR 0.2 of 10 impostors allows k = 2 false matches; the 3rd highest is 0.8, so t is the float
    # just above 0.8: 0.9 and 1.0 are accepted (FMR 0.2), 0.8 is not.
    assert threshold_at_fmr(imp, 0.2) == NEXT(0.8)
    assert threshold_at_fmr(imp, 0.25) == NEXT(0.8)  # floor(2.5) = 2
    assert threshold_at_fmr(imp, 0.29) == NEXT(0.8)  # 0.29*10 = 2.9 -> 2
    assert threshold_at_fmr(imp, 0.3) == NEXT(0.7)  # k = 3 (despite 0.3*10 = 3.0000000000000004)
    # 0.29 * 100 = 28.999999999999996 in floating point: still 29 false matches allowed.
    assert threshold_at_fmr(np.arange(100) / 100, 0.29) == NEXT(0.70)
    # Below 1/n: nothing may be accepted, t sits just above the maximum.
    assert threshold_at_fmr(imp, 0.05) == NEXT(1.0)
    # FMR 1 allows every impostor: -inf.
    assert threshold_at_fmr(imp, 1.0) == -np.inf
    # Ties cannot be split: three impostors at 0.5 and k = 2 -> t must clear all of them (FMR 0).
    assert threshold_at_fmr([0.5, 0.5, 0.5, 0.2], 0.5) == NEXT(0.5)


# Impostors [0.1, 0.2, 0.3, 0.9] at FMR 0.25: k = 1, 2nd highest 0.3, t = next(0.3).
# Genuine (quality, score), x = false non-match (score <= 0.3):
#   (1, 0.2)x (1, 0.8) (2, 0.3)x (3, 0.9) (3, 0.1)x (4, 0.7)        N = 6, 3 errors
# discard 0               -> 3/6
# discard q<=1 (2 pairs)  -> (2,.3)x (3,.9) (3,.1)x (4,.7) = 2/4   at 2/6
# discard q<=2 (3 pairs)  -> (3,.9) (3,.1)x (4,.7)          = 1/3   at 3/6
# discard q<=3 (5 pairs)  -> (4,.7)                         = 0/1   at 5/6
# discard q<=4 (6 pairs)  -> nothing left, error 0 (fiqat)          at 1
HAND_GEN = [(1, 0.2), (1, 0.8), (2, 0.3), (3, 0.9), (3, 0.1), (4, 0.7)]
HAND_IMP = [0.1, 0.2, 0.3, 0.9]


def hand_curve(**kw) -> EDCCurve:
    scores = [s for _, s in HAND_GEN] + HAND_IMP
    genuine = [True] * len(HAND_GEN) + [False] * len(HAND_IMP)
    quality = [q for q, _ in HAND_GEN] + [0.0, 9.0, 5.0, 1.0]  # impostor quality must not matter
    return compute_edc(scores, genuine, quality, fmr=0.25, **kw)


def test_edc_points_with_ties_by_hand():
    c = hand_curve()
    assert c.threshold == NEXT(0.3)
    assert c.fmr_achieved == pytest.approx(0.25)
    np.testing.assert_allclose(c.discard_fractions, [0, 2 / 6, 3 / 6, 5 / 6, 1])
    np.testing.assert_allclose(c.errors, [3 / 6, 2 / 4, 1 / 3, 0, 0])
    np.testing.assert_array_equal(c.discard_counts, [0, 2, 3, 5, 6])
    np.testing.assert_array_equal(c.error_counts, [3, 2, 1, 0, 0])
    np.testing.assert_array_equal(c.quality_thresholds, [1, 2, 3, 4, np.inf])
    assert (c.n_genuine, c.n_impostor, c.start_error) == (6, 4, 0.5)
    # Explicit threshold: 0.5 makes (1,.2) (2,.3) (3,.1) errors as before -> same curve.
    np.testing.assert_allclose(hand_curve(threshold=0.5).errors, c.errors)
    assert np.isnan(hand_curve(threshold=0.5).fmr_target)


def test_pauc_by_hand():
    c = hand_curve()
    # Step rule on [0, 0.6]: 0.5*(1/3) + 0.5*(1/2-1/3) + (1/3)*(0.6-0.5) = 1/6 + 1/12 + 1/30 = 17/60.
    assert pauc(c, 0.6, normalize=False) == pytest.approx(17 / 60)
    assert pauc(c, 0.6) == pytest.approx(17 / 36)  # / 0.6
    # Whole curve: 1/6 + 1/12 + (1/3)*(1/3) = 13/36 (error 0 after 5/6).
    assert pauc(c, 1.0) == pytest.approx(13 / 36)
    # Limit inside the first step: the flat start error.
    assert pauc(c, 0.2) == pytest.approx(0.5)
    # Trapezoid on [0, 1]: 1/6 + (1/2+1/3)/2*(1/6) + (1/3)/2*(1/3) = 12/72 + 5/72 + 4/72 = 21/72.
    assert pauc(c, 1.0, interpolation="linear") == pytest.approx(21 / 72)
    with pytest.raises(ValueError):
        pauc(c, 0.0)


def test_aoc_by_hand():
    c = hand_curve()
    # Integral over [0, 0.95] = 13/36 (the curve is 0 beyond 5/6).
    assert aoc(c) == pytest.approx(1 - (13 / 36) / 0.95)  # 0.619883
    assert aoc(c, normalize=False) == pytest.approx(1 - 13 / 36)  # literal SDD-FIQA Eq. 11
    assert aoc(c) == pytest.approx(1 - pauc(c, 0.95))
    # [0.4, 0.6]: 0.5*0.1 + (1/3)*0.1 = 1/12, / 0.2 = 5/12.
    assert aoc(c, lower=0.4, upper=0.6) == pytest.approx(1 - 5 / 12)


def test_theoretical_best_by_hand():
    c = hand_curve()
    b = theoretical_best(c)
    # N = 6, e = 3: discarding the k errors first gives (3-k)/(6-k) at k/6, k = 0..3.
    np.testing.assert_allclose(b.discard_fractions, [0, 1 / 6, 2 / 6, 3 / 6, 1])
    np.testing.assert_allclose(b.errors, [1 / 2, 2 / 5, 1 / 4, 0, 0])
    # Raw area: (1/6)(1/2 + 2/5 + 1/4) = 23/120.
    assert pauc(b, 1.0) == pytest.approx(23 / 120)
    # Continuous: a + (1 - E0) ln(1 - a), a = min(L, E0) = 0.5 -> 0.5 + 0.5 ln 0.5 = 0.1534264.
    assert theoretical_best_pauc(c, 1.0) == pytest.approx(0.5 + 0.5 * np.log(0.5))
    assert theoretical_best_pauc(0.5, 0.25, normalize=False) == pytest.approx(0.25 + 0.5 * np.log(0.75))
    assert theoretical_best_pauc(0.0, 0.3) == 0.0
    assert theoretical_best_pauc(1.0, 0.3) == pytest.approx(1.0)
    # The discrete best is within E0 / (N L) above the continuous one and below the real curve.
    for lim in (0.1, 0.3, 0.6, 1.0):
        cont, disc = theoretical_best_pauc(c, lim), pauc(b, lim)
        assert cont - 1e-12 <= disc <= cont + 0.5 / (6 * lim) + 1e-12
        assert disc <= pauc(c, lim) + 1e-12


# Pairs (quality, genuine?, score), FMR 0.34:
#   (1,I,.9) (2,G,.2) (3,I,.5) (4,G,.45) (5,I,.3) (6,G,.8) (7,I,.1) (8,G,.7)
# u=0   : impostors {.9,.5,.3,.1}, k=floor(1.36)=1 -> t=next(.5); genuine {.2,.45,.8,.7} -> 2/4
# u=0.25: drop q<3 (2 pairs);  impostors {.5,.3,.1}, k=floor(1.02)=1 -> t=next(.3); {.45,.8,.7} -> 0
# u=0.5 : drop q<5 (4 pairs);  impostors {.3,.1}, k=floor(.68)=0 -> t=next(.3); {.8,.7} -> 0
# With the threshold kept at next(.5), the fixed EDC still has .45 as an error at 1/4 discard.
ERC_ROWS = [(1, False, .9), (2, True, .2), (3, False, .5), (4, True, .45),
            (5, False, .3), (6, True, .8), (7, False, .1), (8, True, .7)]


def test_erc_refixed_by_hand():
    q, g, s = map(list, zip(*ERC_ROWS))
    c = erc_refixed_threshold(s, g, q, fmr=0.34, discard_fractions=[0, 0.25, 0.5])
    np.testing.assert_allclose(c.discard_fractions, [0, 0.25, 0.5])
    np.testing.assert_allclose(c.errors, [0.5, 0, 0])
    np.testing.assert_array_equal(c.thresholds, [NEXT(.5), NEXT(.3), NEXT(.3)])
    assert c.kind == "erc_refixed" and c.n_discard_basis == 8
    fixed = compute_edc(s, g, q, fmr=0.34)
    np.testing.assert_allclose(fixed.discard_fractions, [0, .25, .5, .75, 1])
    np.testing.assert_allclose(fixed.errors, [0.5, 1 / 3, 0, 0, 0])


def test_erc_keeps_ties_together():
    # Qualities 1,1,1,2,2,2,3,3: the 2nd-lowest cut (u=0.25 -> 2 pairs) falls inside the tie group
    # of 1s, which is kept, so nothing is dropped; u=0.5 -> 4 pairs -> cut value 2 -> drop the three 1s.
    q = [1, 1, 1, 2, 2, 2, 3, 3]
    g = [True, False] * 4
    s = [.9, .1, .8, .2, .7, .3, .6, .4]
    c = erc_refixed_threshold(s, g, q, fmr=0.5, discard_fractions=[0, 0.25, 0.5])
    np.testing.assert_allclose(c.discard_fractions, [0, 0, 3 / 8])
    np.testing.assert_array_equal(c.quality_thresholds, [1, 1, 2])


def test_pair_quality():
    a, b = np.array([0.2, 0.9]), np.array([0.5, 0.4])
    np.testing.assert_allclose(pair_quality(a, b), [0.2, 0.4])
    np.testing.assert_allclose(pair_quality(a, b, "mean"), [0.35, 0.65])
    np.testing.assert_allclose(pair_quality(a, b, "product"), [0.1, 0.36])
    np.testing.assert_allclose(pair_quality(a, b, np.fmax), [0.5, 0.9])
    with pytest.raises(ValueError):
        pair_quality(a, b, "median")


def test_bad_inputs():
    with pytest.raises(ValueError, match="NaN"):
        compute_edc([0.1, 0.2], [True, False], [np.nan, 1.0])
    with pytest.raises(ValueError, match="length"):
        compute_edc([0.1, 0.2], [True, False], [1.0])
    with pytest.raises(ValueError, match="genuine"):
        compute_edc([0.1, 0.2], [False, False], [1.0, 2.0])
    with pytest.raises(ValueError, match="impostor"):
        compute_edc([0.1, 0.2], [True, True], [1.0, 2.0])


# --- brute force vs vectorised ---------------------------------------------------------------------


def random_pairs(rng, n, ties=True):
    g = rng.random(n) < 0.4
    s = np.where(g, rng.normal(0.5, 0.2, n), rng.normal(0.0, 0.2, n))
    q = rng.random(n)
    if ties:  # coarse values force tie groups in both scores and qualities
        s, q = np.round(s, 1), np.round(q * 8) / 8
    return s, g, q


@pytest.mark.parametrize("seed", range(6))
def test_edc_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    s, g, q = random_pairs(rng, 120, ties=seed % 2 == 0)
    fmr = [0.3, 0.1, 0.05, 0.2, 0.01, 0.5][seed]
    c = compute_edc(s, g, q, fmr=fmr)
    fr, er, t = ref_edc(s, g, q, fmr)
    assert c.threshold == t
    np.testing.assert_allclose(c.discard_fractions, fr)
    np.testing.assert_allclose(c.errors, er)
    for lim in (0.05, 0.2, 1 / 3, 0.5, 0.95, 1.0):
        assert pauc(c, lim, normalize=False) == pytest.approx(ref_pauc_fiqat(fr, er, lim), abs=1e-12)
    b = theoretical_best(c)
    for lim in (0.05, 0.2, 0.5, 1.0):
        assert pauc(b, lim, normalize=False) == pytest.approx(ref_pauc_fiqat(b.discard_fractions, b.errors, lim))
        assert pauc(b, lim) <= pauc(c, lim) + 1e-12


@pytest.mark.parametrize("seed", range(4))
def test_erc_matches_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    s, g, q = random_pairs(rng, 150, ties=seed % 2 == 0)
    fr = [0, 0.05, 0.1, 0.3, 0.5, 0.9, 0.95]
    c = erc_refixed_threshold(s, g, q, fmr=0.1, discard_fractions=fr)
    rf, re = ref_erc(s, g, q, 0.1, fr)
    np.testing.assert_allclose(c.discard_fractions, rf)
    np.testing.assert_allclose(c.errors, re, equal_nan=True)


def test_threshold_matches_brute_force():
    rng = np.random.default_rng(7)
    for _ in range(30):
        imp = np.round(rng.normal(size=rng.integers(1, 60)), 1)
        for fmr in (0.0, 0.01, 0.1, 0.25, 0.5, 0.99, 1.0):
            assert threshold_at_fmr(imp, fmr) == ref_threshold(imp, fmr)


# --- behaviour on a synthetic dataset ----------------------------------------------------------------


def synthetic(seed, n_gen=4000, n_imp=40000):
    """Genuine similarity rises with a latent quality; impostors do not depend on it."""
    rng = np.random.default_rng(seed)
    latent = rng.random(n_gen)
    gen = 0.25 + 0.5 * latent + rng.normal(0, 0.1, n_gen)
    imp = rng.normal(0.0, 0.1, n_imp)
    s = np.concatenate([gen, imp])
    g = np.concatenate([np.ones(n_gen, bool), np.zeros(n_imp, bool)])
    q_good = np.concatenate([latent + rng.normal(0, 0.05, n_gen), rng.random(n_imp)])
    q_rand = rng.random(n_gen + n_imp)
    return s, g, q_good, q_rand


def test_random_quality_is_flat_and_informative_quality_falls():
    lim = 0.3
    flat, good, best, start = [], [], [], []
    for seed in range(5):
        s, g, q_good, q_rand = synthetic(seed)
        cr = compute_edc(s, g, q_rand, fmr=1e-3)
        cg = compute_edc(s, g, q_good, fmr=1e-3)
        assert cr.start_error == cg.start_error  # same threshold, same genuine set
        start.append(cr.start_error)
        flat.append(pauc(cr, lim))
        good.append(pauc(cg, lim))
        best.append(pauc(theoretical_best(cg), lim))
        assert best[-1] < good[-1] < flat[-1]
        assert theoretical_best_pauc(cg, lim) <= best[-1]
    e0, f, gd = np.mean(start), np.mean(flat), np.mean(good)
    assert 0.05 < e0 < 0.3  # the fixture really has errors to remove
    assert abs(f - e0) < 0.05 * e0  # random discarding leaves the FNMR where it was
    assert gd < 0.6 * e0  # ranking by the latent quality removes errors early ...
    at_lim = cg.errors[np.searchsorted(cg.discard_fractions, lim)]
    assert at_lim < 0.3 * cg.start_error  # ... and most of them by 30 % discarded


def test_perfect_ranking_reaches_theoretical_best():
    s, g, _, _ = synthetic(11, n_gen=2000, n_imp=20000)
    c = compute_edc(s, g, s, fmr=1e-2)  # quality = genuine score: false non-matches go first
    b = theoretical_best(c)
    k = b.discard_counts.size - 1  # points 0..e of the best curve
    np.testing.assert_allclose(c.errors[:k], b.errors[:k])
    assert pauc(c, 0.3) == pytest.approx(pauc(b, 0.3))


def test_million_pairs_match_a_direct_count():
    # At scale (1e6 pairs, 1e5 genuine) the curve equals a direct recount at a few discard fractions:
    # drop the pairs with the lowest quality, count genuine scores below the fixed threshold.
    rng = np.random.default_rng(3)
    n = 1_000_000
    g = rng.random(n) < 0.1
    s = np.where(g, rng.normal(0.6, 0.15, n), rng.normal(0.0, 0.1, n))
    q = rng.random(n)  # continuous: no ties
    c = compute_edc(s, g, q, fmr=1e-4)
    imp = np.sort(s[~g])[::-1]
    k = int(np.floor(1e-4 * imp.size))  # at most k impostors may score at or above the threshold
    assert (imp >= c.threshold).sum() <= k < (imp >= imp[k]).sum()  # the lowest threshold meeting the FMR
    gs, gq = s[g], q[g]
    for frac in (0.0, 0.05, 0.1, 0.2):
        m = int(round(frac * gs.size))
        kept = gs[np.argsort(gq)[m:]]
        i = np.searchsorted(c.discard_counts, m)
        assert c.discard_counts[i] == m
        assert c.errors[i] == pytest.approx(np.mean(kept < c.threshold), abs=1e-12)
    # random quality discards errors and successes alike: the curve stays flat
    assert pauc(c, 0.2) == pytest.approx(c.start_error, rel=0.02)  # pAUC is normalised by the interval


# --- plotting ------------------------------------------------------------------------------------------


def test_plot_edc_writes_png(tmp_path):
    import matplotlib

    backend = matplotlib.get_backend()
    s, g, q_good, q_rand = synthetic(0, n_gen=500, n_imp=5000)
    curves = {"good": compute_edc(s, g, q_good), "random": compute_edc(s, g, q_rand)}
    out = plot_edc(curves, tmp_path / "sub" / "edc.png", title="synthetic", discard_limit=0.3)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    out2 = plot_edc({"erc": erc_refixed_threshold(s, g, q_good)}, tmp_path / "erc.png", log_y=True)
    assert out2.stat().st_size > 5000
    assert matplotlib.get_backend() == backend  # no global backend switch

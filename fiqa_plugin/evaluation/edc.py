"""Error-versus-Discard Characteristic (EDC), its pAUC, the theoretical best, AOC and the CR-FIQA ERC.

The EDC follows ISO/IEC 29794-1 and Schlett et al., "Considerations on the evaluation of biometric
quality assessment algorithms" (IEEE T-BIOM 2024), as implemented in their ``fiqat`` toolkit:

* **Pair quality** is ``min(q_a, q_b)`` by default (:func:`pair_quality`): discarding pairs in
  ascending pair quality is then the same as discarding samples in ascending quality.
* **Threshold** fixed once, before any discarding, at the target FMR over *all* impostor pairs with
  :func:`~fiqa_plugin.evaluation.verification.threshold_at_fmr`: the smallest ``t`` such that
  ``#{impostor >= t} / #impostor <= fmr``; a pair is accepted when ``score >= t``.
* **Error** is the FNMR over the genuine (mated) pairs that remain.
* **Discard fraction** is the fraction of *genuine* pairs discarded (fiqat: the FNMR-EDC is computed
  on the mated comparisons only). Pairs are discarded in ascending pair quality and pairs of equal
  quality are always discarded together, so the curve has one point at discard 0 and one point
  after each distinct quality value has been discarded; the last point is discard 1 with error 0
  (no pair left: fiqat's convention).
* **pAUC** (:func:`pauc`) integrates the curve as a right-continuous step function -- the error of
  point ``i`` holds on ``[d_i, d_{i+1})``, exactly fiqat's ``compute_edc_pauc`` -- over ``[0, L]`` and,
  unlike fiqat, divides by ``L`` by default, so a flat curve has pAUC equal to its starting FNMR.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Union

import numpy as np

from .verification import _as_scores, allowed_false_matches, fmr_at_threshold, threshold_at_fmr
from ..errors import UsageError

log = logging.getLogger(__name__)

#: CR-FIQA's grid of unconsidered ratios: 0, 0.05, ..., 0.95.
DEFAULT_ERC_FRACTIONS: np.ndarray = np.round(np.arange(20) * 0.05, 2)

_COMBINERS = {"min": np.minimum, "max": np.maximum,
              "mean": lambda a, b: (a + b) / 2.0, "product": np.multiply}


@dataclass
class EDCCurve:
    """A discard curve: ``errors[i]`` is the FNMR after discarding ``discard_fractions[i]``.

    ``discard_counts``/``error_counts`` are the integer counts behind the fractions.
    ``quality_thresholds[i]`` is the pair quality below which pairs are discarded at point ``i``
    (``+inf`` at full discard). ``n_discard_basis`` is what the fractions are relative to: the
    genuine pairs for an EDC, all pairs for :func:`erc_refixed_threshold`. ``thresholds`` holds the
    per-point similarity thresholds of the re-fixed ERC (``None`` for a fixed-threshold EDC).
    """

    discard_fractions: np.ndarray
    errors: np.ndarray
    threshold: float
    fmr_target: float
    discard_counts: np.ndarray = field(repr=False)
    error_counts: np.ndarray = field(repr=False)
    quality_thresholds: np.ndarray = field(repr=False)
    n_genuine: int = 0
    n_impostor: int = 0
    fmr_achieved: float = float("nan")
    n_discard_basis: int = 0
    thresholds: Optional[np.ndarray] = field(default=None, repr=False)
    kind: str = "edc"

    @property
    def start_error(self) -> float:
        """FNMR with nothing discarded."""
        return float(self.errors[0])


def pair_quality(qa, qb, combine: Union[str, Callable] = "min") -> np.ndarray:
    """Per-pair quality from the two samples' qualities.

    ``combine`` is ``"min"`` (default, see module doc), ``"max"``, ``"mean"``, ``"product"`` or a callable.
    """
    a = np.asarray(qa, dtype=np.float64)
    b = np.asarray(qb, dtype=np.float64)
    if callable(combine):
        return np.asarray(combine(a, b), dtype=np.float64)
    try:
        return _COMBINERS[combine](a, b)
    except KeyError:
        raise UsageError(f"unknown combine {combine!r}; use one of {sorted(_COMBINERS)} or a callable") from None


def _check_inputs(scores, is_genuine, quality):
    s = _as_scores(scores, "scores")
    g = np.asarray(is_genuine, dtype=bool).ravel()
    q = np.asarray(quality, dtype=np.float64).ravel()
    if not (s.shape == g.shape == q.shape):
        raise UsageError(f"scores, is_genuine and quality differ in length: {s.size}, {g.size}, {q.size}")
    if np.isnan(q).any():
        raise UsageError("quality contains NaN: drop or impute those pairs first")
    return s, g, q


def compute_edc(scores, is_genuine, quality, fmr: float = 1e-3,
                threshold: Optional[float] = None) -> EDCCurve:
    """FNMR-EDC of per-pair similarity ``scores`` against per-pair ``quality`` (see module doc).

    The threshold is ``threshold_at_fmr(impostor scores, fmr)`` unless ``threshold`` is given
    (then ``fmr_target`` is NaN). Runs in O(n log n).
    """
    s, g, q = _check_inputs(scores, is_genuine, quality)
    imp = s[~g]
    if threshold is None:
        if imp.size == 0:
            raise UsageError("no impostor pairs to fix the threshold on; pass threshold=")
        t, fmr_target = threshold_at_fmr(imp, fmr), float(fmr)
    else:
        t, fmr_target = float(threshold), float("nan")
    gs, gq = s[g], q[g]
    n = gs.size
    if n == 0:
        raise UsageError("no genuine pairs: the FNMR-EDC is undefined")
    order = np.argsort(gq, kind="stable")
    gq = gq[order]
    err = gs[order] < t
    # errors_from[i] = false non-matches among the pairs kept after discarding the i lowest.
    errors_from = np.concatenate([np.cumsum(err[::-1])[::-1], [0]])
    starts = np.flatnonzero(np.concatenate([[True], gq[1:] != gq[:-1]]))  # first index of each tie group
    discard_counts = np.concatenate([starts, [n]])
    error_counts = errors_from[discard_counts]
    remaining = n - discard_counts
    errors = np.divide(error_counts, remaining, out=np.zeros(discard_counts.size), where=remaining > 0)
    curve = EDCCurve(
        discard_fractions=discard_counts / n, errors=errors, threshold=t, fmr_target=fmr_target,
        discard_counts=discard_counts, error_counts=error_counts,
        quality_thresholds=np.concatenate([gq[starts], [np.inf]]),
        n_genuine=n, n_impostor=int(imp.size),
        fmr_achieved=fmr_at_threshold(imp, t) if imp.size else float("nan"),
        n_discard_basis=n, kind="edc")
    log.debug("EDC: %d genuine, %d impostor, threshold %.6g, start FNMR %.4g, %d points",
              n, imp.size, t, curve.start_error, errors.size)
    return curve


def _area(curve: EDCCurve, limit: float, interpolation: str) -> float:
    """Area under the curve over ``[0, limit]`` (the last point's error is held beyond its fraction)."""
    d = np.asarray(curve.discard_fractions, dtype=np.float64)
    e = np.asarray(curve.errors, dtype=np.float64)
    if d.size == 0 or d[0] != 0:
        raise UsageError("the curve must start at discard fraction 0")
    if limit <= 0:
        return 0.0
    if interpolation == "step":
        x = np.minimum(np.append(d, max(limit, d[-1])), limit)
        w = np.diff(x)
        return float(np.sum(np.where(w > 0, e * w, 0.0)))
    if interpolation == "linear":
        keep = d < limit
        x = np.append(d[keep], limit)
        y = np.append(e[keep], np.interp(limit, d, e))
        return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0)
    raise UsageError(f"interpolation must be 'step' or 'linear', got {interpolation!r}")


def pauc(curve: EDCCurve, discard_limit: float, normalize: bool = True,
         interpolation: str = "step") -> float:
    """Partial area under the curve over discard fractions ``[0, discard_limit]``.

    ``interpolation="step"`` (default, fiqat's rule): ``errors[i]`` holds on ``[d_i, d_{i+1})``.
    ``"linear"`` is the trapezoid rule (what CR-FIQA's ``sklearn.metrics.auc`` does).
    ``normalize=True`` divides by ``discard_limit`` (the mean error over the interval);
    ``normalize=False`` gives fiqat's raw area. NaN errors inside the interval (an ERC step with no
    pair left) make the result NaN.
    """
    if not 0 < discard_limit <= 1:
        raise UsageError(f"discard_limit must be in (0, 1], got {discard_limit}")
    a = _area(curve, discard_limit, interpolation)
    return a / discard_limit if normalize else a


def aoc(curve: EDCCurve, upper: float = 0.95, lower: float = 0.0, normalize: bool = True,
        interpolation: str = "step") -> float:
    """SDD-FIQA's Area Over Curve, ``1 - integral of FNMR over the unconsidered ratio [lower, upper]``.

    SDD-FIQA (Ou et al., CVPR 2021, Eq. 11) writes ``AOC = 1 - int_a^b g(phi) dphi`` with ``a = 0``,
    ``b = 0.95`` and no normalisation. Here the integral is divided by ``upper - lower`` by default so
    that AOC lies in ``[0, 1]`` and equals ``1 - pauc(curve, upper)`` for ``lower = 0``; pass
    ``normalize=False`` for the literal Eq. 11 (then AOC lies in ``[1 - (upper-lower), 1]``).
    The integration rule is the same step rule as :func:`pauc` unless ``interpolation="linear"``.
    """
    if not 0 <= lower < upper <= 1:
        raise UsageError(f"need 0 <= lower < upper <= 1, got {lower}, {upper}")
    integral = _area(curve, upper, interpolation) - _area(curve, lower, interpolation)
    return 1.0 - (integral / (upper - lower) if normalize else integral)


def theoretical_best(curve: Union[EDCCurve, float], n_genuine: int = 10_000) -> EDCCurve:
    """The best EDC any quality measure can reach from this starting FNMR ``E0``.

    The false non-matches are discarded first, so after discarding a fraction ``f`` of the genuine
    pairs the FNMR is ``max(0, (E0 - f) / (1 - f))`` (Schlett et al.). It is returned on the
    finite-sample grid ``f = k / n_genuine`` of the given curve (or of ``n_genuine`` pairs for a bare
    ``E0``), where it is exact; its step-rule :func:`pauc` is then a true lower bound of the curve's,
    and exceeds the continuous :func:`theoretical_best_pauc` by at most ``E0 / (n_genuine * L)``.
    """
    if isinstance(curve, EDCCurve):
        if curve.kind != "edc":
            raise UsageError("theoretical_best is defined for the fixed-threshold FNMR-EDC")
        n, e = int(curve.n_genuine), int(curve.error_counts[0])
        t, fmr_target, n_imp, fmr_ach = curve.threshold, curve.fmr_target, curve.n_impostor, curve.fmr_achieved
    else:
        e0 = float(curve)
        if not 0 <= e0 <= 1:
            raise UsageError(f"starting error must be in [0, 1], got {e0}")
        n, e = int(n_genuine), int(round(e0 * n_genuine))
        t, fmr_target, n_imp, fmr_ach = float("nan"), float("nan"), 0, float("nan")
    k = np.arange(min(e, n - 1) + 1)
    errors = (e - k) / (n - k)
    discard_counts = np.append(k, n)  # k stops at n - 1, so the full-discard point is always new
    error_counts = np.append(e - k, 0)
    errors = np.append(errors, 0.0)
    return EDCCurve(discard_fractions=discard_counts / n, errors=errors, threshold=t, fmr_target=fmr_target,
                    discard_counts=discard_counts, error_counts=error_counts,
                    quality_thresholds=np.full(discard_counts.size, np.nan), n_genuine=n, n_impostor=n_imp,
                    fmr_achieved=fmr_ach, n_discard_basis=n, kind="theoretical_best")


def theoretical_best_pauc(start_error: Union[EDCCurve, float], discard_limit: float,
                          normalize: bool = True) -> float:
    """Closed-form pAUC of the continuous best curve ``max(0, (E0 - f)/(1 - f))`` over ``[0, L]``.

    ``int_0^a (E0 - f)/(1 - f) df = a + (1 - E0) ln(1 - a)`` with ``a = min(L, E0)``. (fiqat's
    ``compute_edc_area_under_theoretical_best`` uses the straight line ``E0 - f`` instead, a
    slightly smaller area.)
    """
    e0 = start_error.start_error if isinstance(start_error, EDCCurve) else float(start_error)
    if not 0 < discard_limit <= 1:
        raise UsageError(f"discard_limit must be in (0, 1], got {discard_limit}")
    a = min(discard_limit, e0)
    area = a if e0 >= 1.0 else a + (1.0 - e0) * np.log1p(-a)
    area = max(float(area), 0.0)  # log1p rounding can leave -1e-17 for tiny E0
    return area / discard_limit if normalize else area


def erc_refixed_threshold(scores, is_genuine, quality, fmr: float = 1e-3,
                          discard_fractions: Sequence[float] = DEFAULT_ERC_FRACTIONS) -> EDCCurve:
    """CR-FIQA's ERC: FNMR vs fraction of *all* pairs discarded, threshold re-fixed at each step.

    At each requested fraction ``u`` the pairs of lowest pair quality are dropped (genuine and
    impostor alike), the threshold is re-fixed with :func:`threshold_at_fmr` on the *remaining*
    impostor pairs, and the FNMR is taken over the remaining genuine pairs. Unlike CR-FIQA, which
    cuts ``int(u * n)`` pairs from an argsort, pairs of equal quality stay together: the pairs with
    quality below that of the ``int(u * n)``-th lowest are dropped, so the achieved fraction (stored
    in ``discard_fractions``) can fall short of ``u`` when a tie group straddles the cut. Points with
    no genuine or no impostor pair left get NaN.
    """
    s, g, q = _check_inputs(scores, is_genuine, quality)
    n = s.size
    u = np.asarray(discard_fractions, dtype=np.float64).ravel()
    if u.size == 0 or np.any(u < 0) or np.any(u > 1) or np.any(np.diff(u) < 0):
        raise UsageError("discard_fractions must be ascending values in [0, 1]")
    order = np.argsort(q, kind="stable")
    s, g, q = s[order], g[order], q[order]
    m = np.minimum(np.floor(u * n * (1.0 + 1e-12)).astype(np.int64), n)
    cut = np.where(m < n, np.searchsorted(q, q[np.minimum(m, n - 1)], side="left"), n)
    errs = np.full(u.size, np.nan)
    thrs = np.full(u.size, np.nan)
    err_counts = np.zeros(u.size, dtype=np.int64)
    qthr = np.where(cut < n, q[np.minimum(cut, n - 1)], np.inf)
    n_gen0 = int(np.count_nonzero(g))
    warned = False
    for i, c in enumerate(cut):
        gr, ir = s[c:][g[c:]], s[c:][~g[c:]]
        if gr.size == 0 or ir.size == 0:
            continue
        # Impostors thin out as pairs are dropped: say once, not per step, that the FMR got unresolved.
        unresolved = allowed_false_matches(ir.size, fmr) == 0
        t = threshold_at_fmr(ir, fmr, warn=unresolved and not warned)
        warned = warned or unresolved
        thrs[i] = t
        err_counts[i] = int(np.count_nonzero(gr < t))
        errs[i] = err_counts[i] / gr.size
    return EDCCurve(discard_fractions=cut / n, errors=errs, threshold=float(thrs[0]), fmr_target=float(fmr),
                    discard_counts=cut, error_counts=err_counts, quality_thresholds=qthr,
                    n_genuine=n_gen0, n_impostor=n - n_gen0,
                    fmr_achieved=fmr_at_threshold(s[~g], thrs[0]) if n > n_gen0 else float("nan"),
                    n_discard_basis=n, thresholds=thrs, kind="erc_refixed")

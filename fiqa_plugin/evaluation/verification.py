"""One-to-one verification metrics: threshold at a target FMR, ROC, TAR@FAR, FNMR@FMR, accuracy.

Conventions shared by the whole ``fiqa_plugin.evaluation`` package:

* Scores are **similarities** (higher = more alike) and are compared in float64.
* A comparison is accepted as a match when ``score >= t`` (ISO/IEC 2382-37 decision rule).
* :func:`threshold_at_fmr` picks the **smallest** float64 threshold ``t`` whose empirical false
  match rate ``#{impostor >= t} / #impostor`` does not exceed the target. With ``k =
  floor(fmr * #impostor)`` false matches allowed and ``s`` the ``(k+1)``-th highest impostor score,
  that is ``t = nextafter(s, +inf)``: every impostor strictly above ``s`` is accepted (at most
  ``k`` of them; fewer when ``s`` is tied with higher scores, since ties cannot be split), so a
  genuine pair is a false non-match exactly when its score is ``<= s``. When ``k >= #impostor``
  the threshold is ``-inf`` (everything accepted).
"""
from __future__ import annotations

import logging
from typing import Dict, Sequence, Tuple, Union

import numpy as np
from ..errors import UsageError

log = logging.getLogger(__name__)

DEFAULT_FARS: Tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)

# fmr * n is computed in floating point (0.29 * 100 = 28.999999999999996); a relative nudge keeps
# floor() from losing a whole allowed false match without ever adding one for sane inputs.
_FLOOR_RTOL = 1e-12


def _as_scores(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    if np.isnan(a).any():
        raise UsageError(f"{name} contains NaN")
    return a


def allowed_false_matches(n_impostor: int, fmr: float) -> int:
    """``floor(fmr * n_impostor)``: how many impostor acceptances a target FMR tolerates."""
    if not 0.0 <= fmr <= 1.0:
        raise UsageError(f"fmr must be in [0, 1], got {fmr}")
    return int(np.floor(fmr * n_impostor * (1.0 + _FLOOR_RTOL)))


def threshold_at_fmr(impostor_scores, fmr: float, warn: bool = True) -> float:
    """Smallest threshold ``t`` with ``#{impostor >= t} / #impostor <= fmr`` (accept ``score >= t``).

    Returns ``nextafter(s, inf)`` for ``s`` the ``(floor(fmr*n)+1)``-th highest impostor score, or
    ``-inf`` when the target allows every impostor through. Logs a warning when ``fmr < 1/n``: the
    threshold then only says "above every impostor seen" and the operating point is not resolved
    (``warn=False`` silences that).
    """
    imp = _as_scores(impostor_scores, "impostor_scores")
    n = imp.size
    if n == 0:
        raise UsageError("threshold_at_fmr needs at least one impostor score")
    k = allowed_false_matches(n, fmr)
    if k >= n:
        return float("-inf")
    if k == 0 and warn:
        log.warning("target FMR %g is below 1/#impostors (%d impostor pairs): the threshold sits just "
                    "above the highest impostor score and the operating point is unresolved", fmr, n)
    s = np.partition(imp, n - k - 1)[n - k - 1]  # (k+1)-th highest
    return float(np.nextafter(s, np.inf))


def fmr_at_threshold(impostor_scores, threshold: float) -> float:
    """Empirical FMR ``#{impostor >= threshold} / #impostor``."""
    imp = _as_scores(impostor_scores, "impostor_scores")
    return float(np.count_nonzero(imp >= threshold) / imp.size) if imp.size else float("nan")


def roc(genuine_scores, impostor_scores) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC as ``(fmr, tmr, thresholds)``, one point per distinct score plus ``(0, 0)`` at ``+inf``.

    Point ``i`` is the operating point of accepting ``score >= thresholds[i]``; thresholds descend,
    so FMR and TMR ascend, ending at ``(1, 1)`` for the lowest score.
    """
    gen = np.sort(_as_scores(genuine_scores, "genuine_scores"))
    imp = np.sort(_as_scores(impostor_scores, "impostor_scores"))
    if gen.size == 0 or imp.size == 0:
        raise UsageError("roc needs genuine and impostor scores")
    thr = np.unique(np.concatenate([gen, imp]))[::-1]
    thr = np.concatenate([[np.inf], thr])
    # Count of scores >= t in an ascending array: n - (number strictly below t).
    fmr = (imp.size - np.searchsorted(imp, thr, side="left")) / imp.size
    tmr = (gen.size - np.searchsorted(gen, thr, side="left")) / gen.size
    return fmr, tmr, thr


def tar_at_far(genuine_scores, impostor_scores,
               fars: Sequence[float] = DEFAULT_FARS) -> Dict[float, float]:
    """``{far: TAR}`` at the :func:`threshold_at_fmr` threshold of each FAR.

    NaN where there are fewer than ``1/far`` impostor pairs (no false accept is resolvable there).
    """
    gen = _as_scores(genuine_scores, "genuine_scores")
    imp = _as_scores(impostor_scores, "impostor_scores")
    if gen.size == 0 or imp.size == 0:
        raise UsageError("tar_at_far needs genuine and impostor scores")
    out: Dict[float, float] = {}
    for far in fars:
        if allowed_false_matches(imp.size, far) < 1:
            log.info("TAR@FAR=%g left NaN: %d impostor pairs, need at least %d", far, imp.size,
                     int(np.ceil(1.0 / far)) if far > 0 else -1)
            out[far] = float("nan")
            continue
        t = threshold_at_fmr(imp, far)
        out[far] = float(np.count_nonzero(gen >= t) / gen.size)
    return out


def fnmr_at_fmr(genuine_scores, impostor_scores, fmr: float) -> float:
    """FNMR ``#{genuine < t} / #genuine`` at ``t = threshold_at_fmr(impostors, fmr)``.

    NaN when there are fewer than ``1/fmr`` impostor pairs.
    """
    tar = tar_at_far(genuine_scores, impostor_scores, (fmr,))[fmr]
    return float("nan") if np.isnan(tar) else 1.0 - tar


def _best_on_sorted(s: np.ndarray, y: np.ndarray) -> Tuple[float, float]:
    """:func:`best_threshold` on scores already sorted ascending."""
    starts = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]]))
    cand_idx = np.concatenate([starts, [s.size]])  # index of the first accepted pair
    gen_before = np.concatenate([[0], np.cumsum(y)])
    imp_before = np.arange(s.size + 1) - gen_before
    # Accepting from index j on is right for the genuine pairs at or above j and the impostors below.
    correct = (gen_before[-1] - gen_before[cand_idx]) + imp_before[cand_idx]
    best = int(np.argmax(correct))
    thr = float(s[cand_idx[best]]) if cand_idx[best] < s.size else float("inf")
    return thr, float(correct[best] / s.size)


def best_threshold(scores, is_genuine) -> Tuple[float, float]:
    """``(threshold, accuracy)`` maximising the accuracy of ``score >= threshold`` on these pairs.

    Candidates are every distinct score and ``+inf`` (reject all); ties go to the lowest threshold.
    """
    s = _as_scores(scores, "scores")
    y = np.asarray(is_genuine, dtype=bool).ravel()
    if s.shape != y.shape or s.size == 0:
        raise UsageError("scores and is_genuine must be non-empty and of equal length")
    order = np.argsort(s, kind="stable")
    return _best_on_sorted(s[order], y[order])


def verification_accuracy(scores, is_genuine,
                          folds: Union[None, int, Sequence[int], np.ndarray] = None,
                          seed: int = 0) -> float:
    """Verification accuracy with the best threshold.

    ``folds=None``: the threshold is tuned on all pairs (optimistic). Otherwise LFW style: for each
    fold the threshold is tuned on the other folds and applied to it, and the fold accuracies are
    averaged. ``folds`` is either a fold id per pair (e.g. from :func:`parse_lfw_pairs`) or an int
    ``k`` for a seeded random split into ``k`` folds.
    """
    s = _as_scores(scores, "scores")
    y = np.asarray(is_genuine, dtype=bool).ravel()
    if folds is None:
        return best_threshold(s, y)[1]
    if isinstance(folds, (int, np.integer)):
        if folds < 2:
            raise UsageError("need at least 2 folds")
        perm = np.random.default_rng(seed).permutation(s.size)
        fold_id = np.empty(s.size, dtype=np.int64)
        fold_id[perm] = np.arange(s.size) % int(folds)
    else:
        fold_id = np.asarray(folds).ravel()
        if fold_id.shape != s.shape:
            raise UsageError("folds must give one fold id per pair")
    ids = np.unique(fold_id)
    if ids.size < 2:
        raise UsageError("need at least 2 distinct folds")
    # One sort serves every fold: a subset of a sorted array is still sorted.
    order = np.argsort(s, kind="stable")
    s, y, fold_id = s[order], y[order], fold_id[order]
    accs = []
    for f in ids:
        test = fold_id == f
        t, _ = _best_on_sorted(s[~test], y[~test])
        accs.append(np.mean((s[test] >= t) == y[test]))
    return float(np.mean(accs))


def split_scores(scores, is_genuine) -> Tuple[np.ndarray, np.ndarray]:
    """``(genuine_scores, impostor_scores)`` from per-pair scores and labels."""
    s = _as_scores(scores, "scores")
    y = np.asarray(is_genuine, dtype=bool).ravel()
    if s.shape != y.shape:
        raise UsageError("scores and is_genuine must have equal length")
    return s[y], s[~y]


"""Evaluation of face image quality by its effect on verification: EDC/pAUC, AOC, ERC, ROC metrics, pairs.

See :mod:`fiqa_plugin.evaluation.edc` for the conventions (threshold rule, discard fraction, pAUC
integration, AOC normalisation). ``plot_edc`` imports matplotlib only when called.
"""
from __future__ import annotations

from .edc import (DEFAULT_ERC_FRACTIONS, EDCCurve, aoc, compute_edc, erc_refixed_threshold, pair_quality, pauc,
                  theoretical_best, theoretical_best_pauc)
from .pairs import LFWPair, lfw_image_path, lfw_pairs_path, pairs_arrays, parse_lfw_pairs, sample_pairs
from .verification import (DEFAULT_FARS, allowed_false_matches, best_threshold, fmr_at_threshold, fnmr_at_fmr, roc,
                           split_scores, tar_at_far, threshold_at_fmr, verification_accuracy)


def plot_edc(*args, **kwargs):
    """Lazy wrapper of :func:`fiqa_plugin.evaluation.plots.plot_edc` (keeps matplotlib out of imports)."""
    from .plots import plot_edc as _plot_edc

    return _plot_edc(*args, **kwargs)


__all__ = [
    "DEFAULT_ERC_FRACTIONS", "DEFAULT_FARS", "EDCCurve", "LFWPair", "allowed_false_matches", "aoc", "best_threshold",
    "compute_edc", "erc_refixed_threshold", "fmr_at_threshold", "fnmr_at_fmr", "lfw_image_path", "lfw_pairs_path",
    "pair_quality", "pairs_arrays", "parse_lfw_pairs", "pauc", "plot_edc", "roc", "sample_pairs", "split_scores",
    "tar_at_far", "theoretical_best", "theoretical_best_pauc", "threshold_at_fmr", "verification_accuracy",
]

"""One JSON-ready summary of a quality method on a set of verification pairs (``fiqa evaluate``, the
FiftyOne EDC operator): the EDC (threshold fixed once) and CR-FIQA's ERC (threshold re-fixed at each
discard step), since papers report both."""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from .edc import aoc, compute_edc, erc_refixed_threshold, pauc, theoretical_best_pauc
from .verification import DEFAULT_FARS, split_scores, tar_at_far


def edc_report(similarity, is_genuine, pair_q, fmrs: Sequence[float] = (1e-3, 1e-2),
               discard_limits: Sequence[float] = (0.2, 0.3), fars: Sequence[float] = DEFAULT_FARS) -> Dict:
    """EDC summary per target FMR (threshold, FNMR at 0 discard, pAUC per limit, theoretical best, AOC),
    the re-fixed-threshold ERC per target FMR (``erc_refixed``: pAUC per limit by the trapezoid rule over
    CR-FIQA's 5% grid of the fraction of *all* pairs discarded, and its points), plus TAR@FAR of the pairs.
    Keys are strings and NaNs are ``None`` so the result serialises to strict JSON unchanged."""
    sim = np.asarray(similarity, np.float64)
    gen = np.asarray(is_genuine, bool)
    genuine, impostor = split_scores(sim, gen)
    out: Dict = {"pairs": int(sim.size), "genuine": int(genuine.size), "impostor": int(impostor.size),
                 "tar_at_far": {f"{far:g}": _finite(v) for far, v in tar_at_far(genuine, impostor, fars).items()},
                 "edc": {}}
    for fmr in fmrs:
        curve = compute_edc(sim, gen, pair_q, fmr=fmr)
        out["edc"][f"{fmr:g}"] = {
            "threshold": float(curve.threshold),
            "fmr_achieved": _finite(curve.fmr_achieved),
            "fnmr_at_0_discard": curve.start_error,
            "pauc": {f"{lim:g}": pauc(curve, lim) for lim in discard_limits},
            "theoretical_best_pauc": {f"{lim:g}": theoretical_best_pauc(curve, lim) for lim in discard_limits},
            "aoc": aoc(curve),
            "curve": {"discard_fractions": curve.discard_fractions.tolist(), "fnmr": curve.errors.tolist()},
        }
        erc = erc_refixed_threshold(sim, gen, pair_q, fmr=fmr)
        out["edc"][f"{fmr:g}"]["erc_refixed"] = {
            "pauc": {f"{lim:g}": _finite(pauc(erc, lim, interpolation="linear")) for lim in discard_limits},
            "curve": {"discard_fractions": erc.discard_fractions.tolist(),
                      "fnmr": [_finite(v) for v in erc.errors.tolist()],
                      "thresholds": [_finite(v) for v in erc.thresholds.tolist()]},
        }
    return out


def _finite(v: float):
    return None if v is None or not np.isfinite(v) else float(v)


def markdown_summary(report: Dict, name: str = "quality") -> str:
    """A one-table markdown view of :func:`edc_report` (rows: target FMRs)."""
    fmrs = list(report["edc"])
    lims = list(report["edc"][fmrs[0]]["pauc"])
    head = ["FMR", "threshold", "FNMR@0 discard"] + [f"pAUC [0,{lim}]" for lim in lims] + \
           [f"best pAUC [0,{lim}]" for lim in lims] + ["AOC [0,0.95]"] + \
           [f"ERC pAUC [0,{lim}] (re-fixed)" for lim in lims]
    rows = [f"| {' | '.join(head)} |", "|" + "---:|" * len(head)]
    for f in fmrs:
        e = report["edc"][f]
        cells = [f, f"{e['threshold']:.4f}", f"{e['fnmr_at_0_discard']:.4f}"] + \
                [f"{e['pauc'][lim]:.4f}" for lim in lims] + \
                [f"{e['theoretical_best_pauc'][lim]:.4f}" for lim in lims] + [f"{e['aoc']:.4f}"] + \
                [_fmt(e.get("erc_refixed", {}).get("pauc", {}).get(lim)) for lim in lims]
        rows.append(f"| {' | '.join(cells)} |")
    title = (f"{name}: {report['pairs']} pairs ({report['genuine']} genuine, {report['impostor']} impostor); "
             "pAUC lower is better, AOC higher is better; ERC: CR-FIQA's variant, threshold re-fixed at each step "
             "over the remaining impostors, fraction of all pairs discarded")
    return title + "\n\n" + "\n".join(rows)


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.4f}"

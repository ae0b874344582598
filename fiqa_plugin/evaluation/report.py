"""One JSON-ready summary of a quality method on a set of verification pairs (``fiqa evaluate``)."""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from .edc import aoc, compute_edc, pauc, theoretical_best_pauc
from .verification import DEFAULT_FARS, split_scores, tar_at_far


def edc_report(similarity, is_genuine, pair_q, fmrs: Sequence[float] = (1e-3, 1e-2),
               discard_limits: Sequence[float] = (0.2, 0.3), fars: Sequence[float] = DEFAULT_FARS) -> Dict:
    """EDC summary per target FMR (threshold, FNMR at 0 discard, pAUC per limit, theoretical best, AOC)
    plus TAR@FAR of the pairs. Keys are strings so the result serialises to JSON unchanged."""
    sim = np.asarray(similarity, np.float64)
    gen = np.asarray(is_genuine, bool)
    genuine, impostor = split_scores(sim, gen)
    out: Dict = {"pairs": int(sim.size), "genuine": int(genuine.size), "impostor": int(impostor.size),
                 "tar_at_far": {f"{far:g}": v for far, v in tar_at_far(genuine, impostor, fars).items()},
                 "edc": {}}
    for fmr in fmrs:
        curve = compute_edc(sim, gen, pair_q, fmr=fmr)
        out["edc"][f"{fmr:g}"] = {
            "threshold": float(curve.threshold),
            "fmr_achieved": float(curve.fmr_achieved),
            "fnmr_at_0_discard": curve.start_error,
            "pauc": {f"{lim:g}": pauc(curve, lim) for lim in discard_limits},
            "theoretical_best_pauc": {f"{lim:g}": theoretical_best_pauc(curve, lim) for lim in discard_limits},
            "aoc": aoc(curve),
            "curve": {"discard_fractions": curve.discard_fractions.tolist(), "fnmr": curve.errors.tolist()},
        }
    return out


def markdown_summary(report: Dict, name: str = "quality") -> str:
    """A one-table markdown view of :func:`edc_report` (rows: target FMRs)."""
    fmrs = list(report["edc"])
    lims = list(report["edc"][fmrs[0]]["pauc"])
    head = ["FMR", "threshold", "FNMR@0 discard"] + [f"pAUC [0,{lim}]" for lim in lims] + \
           [f"best pAUC [0,{lim}]" for lim in lims] + ["AOC [0,0.95]"]
    rows = [f"| {' | '.join(head)} |", "|" + "---:|" * len(head)]
    for f in fmrs:
        e = report["edc"][f]
        cells = [f, f"{e['threshold']:.4f}", f"{e['fnmr_at_0_discard']:.4f}"] + \
                [f"{e['pauc'][lim]:.4f}" for lim in lims] + \
                [f"{e['theoretical_best_pauc'][lim]:.4f}" for lim in lims] + [f"{e['aoc']:.4f}"]
        rows.append(f"| {' | '.join(cells)} |")
    title = (f"{name}: {report['pairs']} pairs ({report['genuine']} genuine, {report['impostor']} impostor); "
             "pAUC lower is better, AOC higher is better")
    return title + "\n\n" + "\n".join(rows)

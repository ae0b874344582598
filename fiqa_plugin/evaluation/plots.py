"""EDC figures (PNG) drawn with matplotlib's Agg canvas, without touching pyplot's global backend."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np

from .edc import EDCCurve, pauc, theoretical_best_pauc
from ..errors import UsageError

log = logging.getLogger(__name__)


def plot_edc(curves: Mapping[str, EDCCurve], path: Union[str, os.PathLike], title: str = "",
             discard_limit: Optional[float] = None, log_y: bool = False, dpi: int = 150) -> Path:
    """Write an EDC figure to ``path`` (PNG) and return the path.

    Each curve is drawn as the step function that :func:`~fiqa_plugin.evaluation.edc.pauc`
    integrates; the theoretical best ``max(0, (E0 - f)/(1 - f))`` is dashed (one per distinct starting
    FNMR). With ``discard_limit`` the x axis stops there and the legend shows each pAUC. The y axis
    is linear by default (the errors that matter reach 0, which a log axis cannot show);
    ``log_y=True`` helps when several curves sit near a small FNMR.
    """
    if not curves:
        raise UsageError("plot_edc needs at least one curve")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xmax = 1.0 if discard_limit is None else float(discard_limit)
    ymax = 0.0
    best_drawn = set()
    fmr_targets = set()
    for name, c in curves.items():
        d, e = np.asarray(c.discard_fractions), np.asarray(c.errors)
        label = name if discard_limit is None else f"{name} (pAUC {pauc(c, discard_limit):.4f})"
        line, = ax.plot(d, e, drawstyle="steps-post", lw=1.6, label=label)
        ymax = max(ymax, float(np.nanmax(e[d <= xmax])) if np.any(d <= xmax) else 0.0)
        if np.isfinite(c.fmr_target):
            fmr_targets.add(c.fmr_target)
        e0 = round(c.start_error, 12)
        # The bound assumes a fixed threshold and genuine-pair discard fractions: EDC curves only.
        if c.kind != "edc" or e0 in best_drawn or not np.isfinite(e0):
            continue
        best_drawn.add(e0)
        f = np.linspace(0.0, min(xmax, 0.999999), 400)
        best = np.maximum(0.0, (e0 - f) / (1.0 - f))
        blabel = "theoretical best" if len(curves) == 1 or len(best_drawn) == 1 else f"theoretical best ({name})"
        if discard_limit is not None:
            blabel += f" (pAUC {theoretical_best_pauc(e0, discard_limit):.4f})"
        ax.plot(f, best, ls="--", lw=1.0, color="0.35" if len(best_drawn) == 1 else line.get_color(),
                label=blabel)
    ax.set_xlim(0.0, xmax)
    if log_y:
        ax.set_yscale("log")
    else:
        ax.set_ylim(0.0, ymax * 1.05 if ymax > 0 else 1.0)
    basis = "all" if all(c.kind == "erc_refixed" for c in curves.values()) else "genuine"
    ax.set_xlabel(f"fraction of {basis} pairs discarded (lowest pair quality first)")
    fmr_txt = ", ".join(f"{x:g}" for x in sorted(fmr_targets))
    ax.set_ylabel(f"FNMR at FMR={fmr_txt}" if fmr_txt else "FNMR")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, format="png")
    log.info("EDC plot written to %s", out)
    return out

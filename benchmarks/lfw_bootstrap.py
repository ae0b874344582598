"""How sure are the LFW EDC rankings? Bootstrap confidence intervals of pAUC and of paired differences.

    python benchmarks/lfw_bootstrap.py [--docs] [--resamples 1000] [--methods ...] [--reference embedding-norm lightqnet]

Uses the LFW benchmark's cached faces, embeddings and quality scores (``benchmarks/lfw_edc.py``;
computed here if missing). Genuine and impostor pairs are resampled with replacement, separately
(so every resample keeps 3000 + 3000 pairs); in each resample the threshold is fixed again at the
target FMR over the resampled impostors and every method's pAUC (FMR=1e-3, discard [0, 0.2]) is
computed on the same pairs, so differences between methods are paired. Prints one table per
recognizer (pAUC with its 95% percentile interval, and the paired difference to each reference
method with its interval), writes a plot to ``--out``; ``--docs`` also writes the plot to
``docs/figures/`` and the tables to ``docs/lfw_benchmark.md``.
"""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Dict, Sequence

import numpy as np

from fiqa_plugin.evaluation import harness as C
from fiqa_plugin.progress import iter_progress

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "lfw_benchmark.md"
FIGURES = REPO / "docs" / "figures"
FMR, LIMIT = 1e-3, 0.2


def pauc_of(sim: np.ndarray, genuine: np.ndarray, pair_q: np.ndarray) -> float:
    from fiqa_plugin.evaluation import compute_edc, pauc

    return pauc(compute_edc(sim, genuine, pair_q, fmr=FMR), LIMIT)


def bootstrap_paucs(sim: np.ndarray, genuine: np.ndarray, pair_qs: Dict[str, np.ndarray], resamples: int,
                    limits: Sequence[float] = (LIMIT,), fmr: float = FMR, seed: int = 0,
                    show: bool = True) -> Dict[float, Dict[str, np.ndarray]]:
    """``{limit: {method: [resamples] pAUC}}``, all methods on the same resampled pairs.

    Genuine and impostor pairs are resampled separately; the threshold is fixed again at ``fmr``
    over each resample's impostors (once, shared by every method)."""
    from fiqa_plugin.evaluation import compute_edc, pauc, threshold_at_fmr

    rng = np.random.default_rng(seed)
    gen, imp = np.flatnonzero(genuine), np.flatnonzero(~genuine)
    out = {lim: {m: np.empty(resamples) for m in pair_qs} for lim in limits}
    for r in iter_progress(range(resamples), total=resamples, desc="resamples", enable=show, unit="rs"):
        gi, ii = rng.choice(gen, gen.size), rng.choice(imp, imp.size)
        t = threshold_at_fmr(sim[ii], fmr)
        # the impostors only fix the threshold; the EDC needs the genuine pairs alone once it is fixed
        s, g = sim[gi], np.ones(gi.size, bool)
        for m, q in pair_qs.items():
            curve = compute_edc(s, g, q[gi], threshold=t)
            for lim in limits:
                out[lim][m][r] = pauc(curve, lim)
    return out


def bootstrap(sim: np.ndarray, genuine: np.ndarray, pair_qs: Dict[str, np.ndarray], resamples: int,
              seed: int = 0) -> Dict[str, np.ndarray]:
    """``{method: [resamples] pAUC}`` at FMR=1e-3 over discard [0, 0.2] (see :func:`bootstrap_paucs`)."""
    return bootstrap_paucs(sim, genuine, pair_qs, resamples, (LIMIT,), FMR, seed)[LIMIT]


def table(full: Dict[str, float], boot: Dict[str, np.ndarray], refs: Sequence[str]) -> str:
    refs = [r for r in refs if r in boot]
    head = ["method", "pAUC", "95% interval"] + [f"Δ vs {r} [95% interval]" for r in refs] + \
           [f"P(better than {r})" for r in refs]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for m in sorted(full, key=lambda k: (full[k], k)):
        lo, hi = np.percentile(boot[m], [2.5, 97.5])
        cells = [m, f"{full[m]:.4f}", f"{lo:.4f} – {hi:.4f}"]
        for r in refs:
            if r == m:
                cells.append("–")
                continue
            d = boot[m] - boot[r]
            dl, dh = np.percentile(d, [2.5, 97.5])
            cells.append(f"{full[m] - full[r]:+.4f} [{dl:+.4f}, {dh:+.4f}]")
        cells += ["–" if r == m else f"{float((boot[m] < boot[r]).mean()):.2f}" for r in refs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(per_rec: Dict[str, tuple], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(per_rec), figsize=(6 * len(per_rec), 0.45 * max(len(v[0]) for v in per_rec.values()) + 1.5),
                             squeeze=False)
    for ax, (rec, (full, boot)) in zip(axes[0], per_rec.items()):
        names = sorted(full, key=lambda k: (-full[k], k))
        lo = [full[m] - np.percentile(boot[m], 2.5) for m in names]
        hi = [np.percentile(boot[m], 97.5) - full[m] for m in names]
        ax.errorbar([full[m] for m in names], range(len(names)), xerr=[lo, hi], fmt="o", capsize=3)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel(f"pAUC, FMR={FMR:g}, discard [0, {LIMIT}] (lower is better)")
        ax.set_title(f"LFW, {rec}: pAUC, 95% bootstrap interval")
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    from fiqa_plugin.evaluation import pair_quality

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--methods", nargs="*", default=None, help="quality methods (default: every registered one)")
    ap.add_argument("--reference", nargs="+", default=["embedding-norm", "lightqnet"],
                    help="methods every other one is compared with")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out")
    ap.add_argument("--docs", action="store_true", help="also write docs/figures/lfw_bootstrap.png and docs/lfw_benchmark.md")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    C.set_threads(args.threads)
    show = not args.no_progress
    t0 = time.perf_counter()

    lfw = C.load_lfw()
    fc = C.build_faces(lfw, show=show)
    qualities, skipped = C.score_methods(fc, lfw, C.method_names(args.methods), show)
    a, b = lfw.pairs[:, 0], lfw.pairs[:, 1]
    pair_qs = {m: pair_quality(q[a], q[b]) for m, q in qualities.items()}
    per_rec, tables = {}, {}
    for rec in C.RECOGNIZERS:
        sim = C.similarities(fc, lfw, rec, show)
        full = {m: pauc_of(sim, lfw.genuine, q) for m, q in pair_qs.items()}
        boot = bootstrap(sim, lfw.genuine, pair_qs, args.resamples)
        per_rec[rec] = (full, boot)
        tables[rec] = table(full, boot, args.reference)
        print(f"\n### {rec}\n\n{tables[rec]}")
    png = plot(per_rec, args.out / "lfw_bootstrap.png")
    print(f"\nplot: {png}  ({time.perf_counter() - t0:.1f} s)")
    if args.docs:
        plot(per_rec, FIGURES / "lfw_bootstrap.png")
        cmd = "python benchmarks/lfw_bootstrap.py " + " ".join(shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
        parts = [f"## How sure are these rankings? (bootstrap)\n\nProduced by:\n\n```\n{cmd.strip()}\n```\n",
                 f"{args.resamples} resamples of the LFW View 2 pairs (genuine and impostor pairs drawn with "
                 "replacement, separately; threshold fixed again at FMR=1e-3 in each resample; all methods on the "
                 "same resampled pairs). pAUC at FMR=1e-3 over discard [0, 0.2]; \"Δ\" is the method's pAUC minus "
                 "the reference's (negative = better) with its 95% percentile interval; \"P(better than …)\" is the "
                 "fraction of resamples in which the method's pAUC is lower. An interval for Δ that contains 0 "
                 "means LFW cannot tell the two apart." +
                 (" Skipped: " + "; ".join(f"`{k}` ({v})" for k, v in skipped.items()) + "." if skipped else "") + "\n"]
        for rec in per_rec:
            parts.append(f"### {rec}\n\n{tables[rec]}\n")
        parts.append("![pAUC with bootstrap intervals](figures/lfw_bootstrap.png)\n")
        C.update_doc_section(DOC, "lfw_bootstrap", "\n".join(parts), header=C.DOC_HEADER)
        print(f"wrote {DOC} and {FIGURES / 'lfw_bootstrap.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One LFW fold as a regression check: the pAUC of the README table's methods, pinned.

    python benchmarks/lfw_fold.py [--fold 0] [--pin]      # --pin rewrites tests/benchmarks/lfw_fold_paucs.json

The fold's 300 genuine pairs, and as impostors every cross-identity pair of the fold's images (about
1.5×10⁵, so that FMR = 1e-3 rests on ~150 impostor scores instead of the fold's own 300 impostor
pairs). EDC pAUC at FMR = 1e-3 over [0, 0.2] and [0, 0.3], both recognizers, pair quality = min.

A fold is too small to reproduce the full table's order (the top methods differ by less than a fold's
noise: ``docs/lfw_benchmark.md``'s bootstrap), so ``tests/benchmarks/test_lfw_fold.py`` pins these
values instead: any change to detection, alignment, a recognizer or a shipped model that moves a
method's pAUC on real photographs fails it, and the fix is to rerun this script with ``--pin`` and
say in the commit why the numbers moved (and regenerate the README's tables).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Dict

import numpy as np

from fiqa_plugin.evaluation import harness as C

REPO = Path(__file__).resolve().parents[1]
PIN = REPO / "tests" / "benchmarks" / "lfw_fold_paucs.json"
#: The README table's reference rows: the accurate and the tiny tier, the recognizer's own signal, LightQNet, blur.
METHODS = ("embedding-head", "mbv2_t1_w025_h256", "embedding-norm", "lightqnet", "blur")
SEEDS = 10


def fold_set(lfw: C.LFWSet, fold: int) -> C.LFWSet:
    """The fold's genuine pairs plus every cross-identity pair of its images, over the fold's images only."""
    keep = np.flatnonzero(lfw.fold == fold)
    used = np.unique(lfw.pairs[keep])
    rel = [lfw.rel[i] for i in used]
    pos = {int(i): k for k, i in enumerate(used)}
    genuine = np.array([[pos[int(a)], pos[int(b)]] for a, b in lfw.pairs[keep][lfw.genuine[keep]]], np.int64)
    ident = np.array([r.split("/")[0] for r in rel])
    i, j = np.triu_indices(len(rel), 1)
    cross = ident[i] != ident[j]
    impostor = np.stack([i[cross], j[cross]], 1).astype(np.int64)
    pairs = np.concatenate([genuine, impostor])
    gen = np.r_[np.ones(len(genuine), bool), np.zeros(len(impostor), bool)]
    return C.LFWSet(lfw.root, rel, pairs, gen, np.full(len(pairs), fold))


def fold_paucs(fold: int = 0, show: bool = False) -> Dict[str, Dict[str, Dict[str, float]]]:
    """``{recognizer: {method: {"pauc3_20", "pauc3_30"}}}`` on :func:`fold_set`, random = mean of 10 seeds."""
    _, _, results, skipped = C.run_lfw(methods=list(METHODS), seeds=SEEDS, show=show,
                                       lfw=fold_set(C.load_lfw(), fold))
    if skipped:
        raise RuntimeError(f"methods could not be built: {skipped}")
    out = {}
    for rec, res in results.items():
        out[rec] = {m: {k: float(r[k]) for k in ("pauc3_20", "pauc3_30")} for m, r in res.rows.items()}
        out[rec]["_pairs"] = {"genuine": res.n_genuine, "impostor": res.n_impostor, "failed": res.n_failed_pairs}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pin", action="store_true", help=f"write the values to {PIN.relative_to(REPO)}")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    C.set_threads(args.threads)
    res = fold_paucs(args.fold, show=not args.no_progress)
    for rec, rows in res.items():
        print(f"\n### {rec} (fold {args.fold}: {rows['_pairs']})\n\n| method | pAUC [0,0.2] | pAUC [0,0.3] |\n|---|---:|---:|")
        for m, r in sorted(((m, r) for m, r in rows.items() if m != "_pairs"), key=lambda kv: kv[1]["pauc3_20"]):
            print(f"| {m} | {r['pauc3_20']:.4f} | {r['pauc3_30']:.4f} |")
    if args.pin:
        PIN.write_text(json.dumps({"fold": args.fold, "methods": list(METHODS), "paucs": res}, indent=1) + "\n")
        print(f"\npinned to {PIN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

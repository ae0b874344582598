"""Which LFW false non-matches does a quality measure catch? (what `docs/tinyfqnet.md` "Where it fails" cites)

    python benchmarks/tinyfqnet_failures.py [--methods tinyfqnet.celeba-r2 embedding-norm lightqnet ...]
                                            [--recognizer buffalo_sc] [--fmr 1e-3] [--discard 0.2]

Reads the LFW benchmark's caches (``evaluation/harness.py``: scores missing there are computed
first). For each method: how many of the genuine pairs the recognizer rejects at the
FMR threshold (nothing discarded) fall among the lowest-quality ``--discard`` fraction of genuine
pairs (pair quality = min of the two images' qualities, as in the EDC). Then the LFW pAUC of the
rank average of the first two methods after tinyFQnet (an upper reference for what combining
existing measures gives). Prints markdown.
"""
from __future__ import annotations

import argparse
import sys

from fiqa_plugin.evaluation import harness as C


def main(argv=None) -> int:
    from scipy.stats import rankdata

    from fiqa_plugin.evaluation import pair_quality
    from fiqa_plugin.evaluation.edc import threshold_at_fmr

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=["tinyfqnet.celeba-r2", "embedding-norm", "lightqnet", "pose",
                                                     "detector-confidence", "mbv2_t1_w025_h256.celeba-r1"])
    ap.add_argument("--recognizer", default="buffalo_sc")
    ap.add_argument("--fmr", type=float, default=1e-3)
    ap.add_argument("--discard", type=float, default=0.2)
    args = ap.parse_args(argv)
    lfw = C.load_lfw()
    fc = C.build_faces(lfw, show=False)
    a, b = lfw.pairs[:, 0], lfw.pairs[:, 1]
    g = lfw.genuine
    sim = C.similarities(fc, lfw, args.recognizer, show=False)
    t = threshold_at_fmr(sim[~g], args.fmr)
    fnm = (sim < t)[g]
    print(f"{int(fnm.sum())} of {int(g.sum())} genuine pairs rejected by {args.recognizer} at FMR={args.fmr:g}\n")
    print(f"| method | rejected pairs among the lowest {args.discard:.0%} of genuine pairs |\n|---|---:|")
    ranks = {}
    qualities, skipped = C.score_methods(fc, lfw, args.methods, show=False)
    if skipped:
        raise SystemExit(f"cannot score: {skipped}")
    for m in args.methods:
        q = qualities[m]
        ranks[m] = rankdata(q) / len(q)
        pr = rankdata(pair_quality(q[a], q[b])[g]) / g.sum()
        print(f"| {m} | {int((pr[fnm] <= args.discard).sum())} / {int(fnm.sum())} |")
    if len(args.methods) >= 3:
        m1, m2 = args.methods[1], args.methods[2]
        print(f"\n| rank average of {m1} and {m2} (weight of {m1}) | pAUC FMR=1e-3 [0,0.2] {args.recognizer} |\n|---|---:|")
        for w in (0.5, 0.7):
            q = w * ranks[m1] + (1 - w) * ranks[m2]
            m, _ = C.evaluate(sim, g, pair_quality(q[a], q[b]))
            print(f"| {w} | {m['pauc3_20']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Recommended quality thresholds on all of LFW View 2 (6,000 pairs): ``fiqa evaluate --recommend`` from the cache.

    python benchmarks/recommend_lfw.py [--method mbv2_t1_w025_h256] [--recognizer buffalo_sc] [--fmr 1e-3 1e-2]

Faces, embeddings and scores come from the LFW cache of ``benchmarks/lfw_edc.py`` (built on first use,
see ``fiqa_plugin/evaluation/harness.py``); an image without a detected face has the lowest quality and no calibrated
score. Prints, per target FMR, :func:`fiqa_plugin.evaluation.recommend.recommendations_markdown`.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from fiqa_plugin.evaluation import harness as C


def main(argv=None) -> int:
    from fiqa_plugin.evaluation.recommend import recommend_thresholds, recommendations_markdown
    from fiqa_plugin.quality.calibration import calibration_for
    from fiqa_plugin.scoring import DEFAULT_METHOD, resolve_method

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", default=DEFAULT_METHOD)
    ap.add_argument("--recognizer", default="buffalo_sc")
    ap.add_argument("--fmr", type=float, nargs="+", default=[1e-3, 1e-2])
    args = ap.parse_args(argv)
    lfw = C.load_lfw()
    fc = C.build_faces(lfw)
    sim = C.similarities(fc, lfw, args.recognizer)
    scores, skipped = C.score_methods(fc, lfw, [args.method])
    if skipped:
        raise SystemExit(f"{args.method}: {skipped[args.method]}")
    q = scores[args.method]
    cal = calibration_for(resolve_method(args.method))
    fs = cal.to_score(q) if cal is not None else np.full(len(q), np.nan)
    fs[~np.isfinite(q)] = np.nan
    for fmr in args.fmr:
        recs = recommend_thresholds(sim, lfw.genuine, lfw.pairs, q, fmr, face_score=fs)
        print(recommendations_markdown(recs, f"{args.method} on LFW ({len(lfw.pairs)} pairs, {args.recognizer})") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

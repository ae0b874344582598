"""``fiqa evaluate PAIRS --scores scores.csv``: error-versus-discard (EDC) of a quality method on verification pairs.

PAIRS is an LFW-style ``pairs.txt`` (images under ``--images``, default the ``images`` folder beside it) or a
CSV with columns ``a,b,genuine`` and optionally ``similarity``; without a similarity column every image is
detected, aligned and embedded with ``--recognizer``. Qualities come from ``fiqa score``'s CSV. An image
without a quality (no face, unreadable, not scored) gets the lowest quality, so its pairs are discarded
first; an image without an embedding makes its pair a certain non-match (similarity −1).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
from pathlib import Path
from typing import Dict, List

import numpy as np
from ..errors import UsageError
from ..io import read_pairs, read_scores

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="EDC/pAUC/AOC and TAR@FAR of quality scores on verification pairs")
    p.add_argument("pairs", help="LFW-style pairs.txt, or a CSV with columns a,b,genuine[,similarity]")
    p.add_argument("--scores", required=True, help="CSV from `fiqa score` (columns path,quality,...)")
    p.add_argument("--images", default=None, help="image folder of a pairs.txt (default: images/ beside it)")
    p.add_argument("--recognizer", default="buffalo_sc", help="recognizer for the pair similarities")
    p.add_argument("--pack", default="buffalo_sc", help="InsightFace pack for detection")
    p.add_argument("--mode", choices=["largest", "aligned"], default="largest", help="detect the largest face, or inputs are aligned crops")
    p.add_argument("--fmr", type=float, nargs="+", default=[1e-3, 1e-2], help="target FMRs of the EDC threshold")
    p.add_argument("--discard-limit", type=float, nargs="+", default=[0.2, 0.3], help="pAUC upper discard limits")
    p.add_argument("--plot", default=None, help="write the EDC plot (PNG) here")
    p.add_argument("--json", action="store_true", help="print the full report (curves included) as JSON")
    p.add_argument("--recommend", action="store_true",
                   help="also print, per target FMR, the quality threshold that drops 1/2/5/10/20%% of the faces "
                        "(raw and 0-100) with the FNMR before and after")
    p.set_defaults(func=run)


def embed_images(paths: List[str], recognizer: str, pack: str, mode: str) -> Dict[str, np.ndarray]:
    """Unit embeddings of each image's face (largest face, or the aligned input); failures left out.
    Checkpointed like every face set (:func:`fiqa_plugin.faces.dataset.embed_list`): a killed run resumes."""
    from ..faces.dataset import cache_key, dataset_cache_dir, embed_list
    from ..progress import progress_bar

    sig = [(p, os.path.getsize(p) if os.path.isfile(p) else -1) for p in paths]
    parts = dataset_cache_dir() / f"pairs-{cache_key(sig, pack, recognizer, mode)}"
    with progress_bar(len(paths), f"embedding with {recognizer}") as cb:
        fs = embed_list([(p, "") for p in paths], pack, recognizer, threads=None, progress=cb,
                        where="the pairs list", checkpoint=parts, mode=mode)
    for p in fs.failed:
        log.info("%s: no face", p)
    return dict(zip(fs.paths.tolist(), fs.embeddings))


def run(args: argparse.Namespace) -> int:
    from ..evaluation import compute_edc, pair_quality, plot_edc
    from ..evaluation.report import edc_report, markdown_summary

    a, b, gen, sim = read_pairs(args.pairs, args.images)
    qual = read_scores(args.scores)
    a_abs, b_abs = [os.path.abspath(p) for p in a], [os.path.abspath(p) for p in b]
    missing = sorted({p for p in a_abs + b_abs if p not in qual})
    if len(missing) == len(set(a_abs + b_abs)):
        raise UsageError(f"none of the pair images is in {args.scores}: score them first, e.g. "
                         f"`fiqa score <image folder> --out {args.scores}`")
    if missing:
        log.warning("%d pair images have no score in %s: they get the lowest quality", len(missing), args.scores)

    def q_of(p):
        v = qual.get(p, math.nan)
        return -math.inf if math.isnan(v) else v

    pq = pair_quality(np.array([q_of(p) for p in a_abs]), np.array([q_of(p) for p in b_abs]))
    if sim is None:
        emb = embed_images(sorted(set(a_abs + b_abs)), args.recognizer, args.pack, args.mode)
        sim = np.array([float(emb[x] @ emb[y]) if x in emb and y in emb else -1.0 for x, y in zip(a_abs, b_abs)])
    report = edc_report(sim, gen, pq, args.fmr, args.discard_limit)
    report.update(pairs_file=str(args.pairs), scores_file=str(args.scores), unscored_images=len(missing),
                  recognizer=args.recognizer)
    if args.plot:
        curves = {f"FMR={f:g}": compute_edc(sim, gen, pq, fmr=f) for f in args.fmr}
        plot_edc(curves, args.plot, title=f"EDC of {Path(args.scores).name}")
    if args.recommend:
        report["recommendations"] = recommendations(args.scores, a_abs, b_abs, sim, gen, q_of, args.fmr)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        from ..evaluation.recommend import recommendations_markdown

        print(markdown_summary(report, Path(args.scores).name))
        for recs in report.get("recommendations", {}).values():
            print("\n" + recommendations_markdown(recs, Path(args.scores).name))
    return 0


def recommendations(scores_csv: str, a_abs: List[str], b_abs: List[str], sim, gen, q_of, fmrs) -> Dict[str, list]:
    """``{fmr: recommend_thresholds(...)}`` over the pair images, with 0-100 thresholds from the CSV's
    ``quality_score`` column (None where the CSV has none)."""
    from ..errors import InputError
    from ..evaluation.recommend import recommend_thresholds

    faces = sorted(set(a_abs + b_abs))
    index = {p: i for i, p in enumerate(faces)}
    try:
        cal = read_scores(scores_csv, "quality_score")
    except InputError:  # a CSV from before calibrated scores, or from another tool
        cal = {}
    pairs = np.array([[index[x], index[y]] for x, y in zip(a_abs, b_abs)])
    fq = np.array([q_of(p) for p in faces])
    fs = np.array([cal.get(p, math.nan) for p in faces])
    return {f"{f:g}": recommend_thresholds(sim, gen, pairs, fq, f, face_score=fs) for f in fmrs}

"""``fiqa evaluate PAIRS --scores scores.csv``: error-versus-discard (EDC) of a quality method on verification pairs.

PAIRS is an LFW-style ``pairs.txt`` (images under ``--images``, default the ``images`` folder beside it) or a
CSV with columns ``a,b,genuine`` and optionally ``similarity``; without a similarity column every image is
detected, aligned and embedded with ``--recognizer``. Qualities come from ``fiqa score``'s CSV. An image
without a quality (no face, unreadable, not scored) gets the lowest quality, so its pairs are discarded
first; an image without an embedding makes its pair a certain non-match (similarity −1).
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
from ..errors import UsageError

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
    p.set_defaults(func=run)


def read_pairs(path: str, images: Optional[str]) -> Tuple[List[str], List[str], np.ndarray, Optional[np.ndarray]]:
    """``(paths_a, paths_b, is_genuine, similarity or None)`` from a pairs.txt or a CSV."""
    from ..evaluation import parse_lfw_pairs

    first = Path(path).read_text().split("\n", 1)[0]
    if all(tok.isdigit() for tok in first.split()) and first.strip():
        pairs = parse_lfw_pairs(path, images)
        return [p.path_a for p in pairs], [p.path_b for p in pairs], np.array([p.is_genuine for p in pairs]), None
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    need = {"a", "b", "genuine"}
    if not rows or not need <= set(rows[0]):
        raise UsageError(f"{path}: expected an LFW pairs.txt or a CSV with columns a,b,genuine[,similarity]")
    base = Path(images) if images else Path(path).parent
    resolve = (lambda s: s if os.path.isabs(s) else str(base / s))
    gen = np.array([r["genuine"].strip().lower() in ("1", "true", "yes", "same") for r in rows])
    sim = np.array([float(r["similarity"]) for r in rows]) if "similarity" in rows[0] else None
    return [resolve(r["a"]) for r in rows], [resolve(r["b"]) for r in rows], gen, sim


def read_scores(path: str) -> Dict[str, float]:
    """``{absolute path: quality}``; the first face of an image wins, a failed image maps to NaN."""
    out: Dict[str, Tuple[int, float]] = {}
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            key = os.path.abspath(r["path"])
            face = int(r.get("face") or 0)
            q = float(r["quality"]) if r.get("quality") not in (None, "") else math.nan
            if key not in out or (face >= 0 and face < out[key][0]):
                out[key] = (face if face >= 0 else 1 << 30, q)
    return {k: v[1] for k, v in out.items()}


def embed_images(paths: List[str], recognizer: str, pack: str, mode: str) -> Dict[str, np.ndarray]:
    """Unit embeddings of each image's face (largest face, or the aligned input); failures left out."""
    from ..faces.pipeline import FacePipeline
    from ..scoring import resolve_recognizer
    from .progress import progress_bar

    pipe = FacePipeline.from_pack(pack, mode=mode)
    rec = resolve_recognizer(recognizer)
    out: Dict[str, np.ndarray] = {}
    batch: List[Tuple[str, np.ndarray]] = []

    def flush():
        if batch:
            emb = rec.embed(np.stack([c for _, c in batch])).normed
            out.update({p: e for (p, _), e in zip(batch, emb)})
            batch.clear()

    with progress_bar(len(paths), f"embedding with {recognizer}") as cb:
        for i, p in enumerate(paths):
            r = pipe.process(p)
            if r.ok:
                batch.append((p, r.faces[0].aligned))
            else:
                log.info("%s: %s (%s)", p, r.status, r.error)
            if len(batch) == 64:
                flush()
            cb(i + 1, len(paths))
        flush()
    return out


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
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(markdown_summary(report, Path(args.scores).name))
    return 0

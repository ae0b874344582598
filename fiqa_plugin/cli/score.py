"""``fiqa score INPUT --method NAME --out scores.csv``: quality of every face in a folder, glob or list."""
from __future__ import annotations

import argparse
import csv
import logging
import math
import os

log = logging.getLogger(__name__)
COLUMNS = ["path", "quality", "status", "face", "error"]


def register(sub) -> None:
    p = sub.add_parser("score", help="score images (folder, glob or .txt list) into a CSV")
    p.add_argument("input", help="a folder (searched recursively), a glob pattern or a .txt file with one path per line")
    p.add_argument("--method", default=None, help="quality method (see `fiqa methods`); default: the shipped tinyFQnet")
    p.add_argument("--out", default="scores.csv", help="output CSV: path,quality,status,face,error")
    p.add_argument("--mode", choices=["largest", "all", "aligned"], default="largest",
                   help="largest face per image, all faces, or inputs already aligned (skip detection)")
    p.add_argument("--pack", default="buffalo_sc", help="InsightFace model pack for detection / recognition")
    p.add_argument("--root", default=None, help="InsightFace root holding models/<pack>/")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--resume", action="store_true", help="keep rows already in --out and score only the rest")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..faces.pipeline import list_images
    from ..scoring import QualityScorer
    from .progress import progress_bar

    paths = list_images(args.input)
    done = set()
    if args.resume and os.path.exists(args.out):
        with open(args.out, newline="") as fh:
            done = {row["path"] for row in csv.DictReader(fh)}
        log.info("resuming: %d images already scored", len(done))
    todo = [p for p in paths if p not in done]
    scorer = QualityScorer(args.method, mode=args.mode, pack=args.pack, root=args.root, batch_size=args.batch_size)
    append = bool(done)
    counts: dict = {}
    with open(args.out, "a" if append else "w", newline="") as fh:
        w = csv.writer(fh)
        if not append:
            w.writerow(COLUMNS)
        with progress_bar(len(todo), f"fiqa score ({scorer.method.name})") as cb:
            for i, row in enumerate(scorer.score(todo, progress=cb)):
                q = "" if math.isnan(row.quality) else f"{row.quality:.6g}"
                w.writerow([row.source, q, row.status, row.face_index, row.error])
                counts[row.status] = counts.get(row.status, 0) + 1
                if i % 256 == 0:
                    fh.flush()  # the CSV is the checkpoint: --resume picks up from it
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    print(f"scored {len(todo)} images with {scorer.method.name} -> {args.out} ({summary or 'nothing to do'})")
    return 0

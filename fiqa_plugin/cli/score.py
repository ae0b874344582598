"""``fiqa score INPUT --method NAME --out scores.csv``: quality of every face in a folder, glob or list."""
from __future__ import annotations

import argparse
import itertools
import logging
import math

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
    from ..io.writers import CsvRows
    from ..scoring import QualityScorer
    from .progress import progress_bar

    paths = list_images(args.input)
    scorer = QualityScorer(args.method, mode=args.mode, pack=args.pack, root=args.root, batch_size=args.batch_size)
    counts: dict = {}
    with CsvRows(args.out, COLUMNS, resume=args.resume) as out:  # the CSV is the checkpoint --resume reads
        todo = [p for p in paths if p not in out.done]
        if out.done:
            log.info("resuming: %d images already in %s", len(out.done), args.out)
        with progress_bar(len(todo), f"fiqa score ({scorer.method.name})") as cb:
            for _, image_rows in itertools.groupby(scorer.score(todo, progress=cb), key=lambda r: r.source):
                lines = []  # an image's faces reach the file together, so a resume never half-skips it
                for row in image_rows:
                    q = "" if math.isnan(row.quality) else f"{row.quality:.6g}"
                    lines.append([row.source, q, row.status, row.face_index, row.error])
                    counts[row.status] = counts.get(row.status, 0) + 1
                out.write_rows(lines)
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    print(f"scored {len(todo)} images with {scorer.method.name} -> {args.out} ({summary or 'nothing to do'})")
    return 0

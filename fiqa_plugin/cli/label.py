"""``fiqa label DATA --out labels.csv``: recognition-oriented quality labels for a folder of identity
sub-folders (``--method center``: cosine to the identity's mean embedding, Peng et al. Eq. 1)."""
from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path

log = logging.getLogger(__name__)
COLUMNS = ["path", "identity", "quality", "status"]


def register(sub) -> None:
    p = sub.add_parser("label", help="quality labels (CSV) for a folder with one sub-folder per identity")
    p.add_argument("data", help="folder with one sub-folder of face images per identity")
    p.add_argument("--out", default="labels.csv", help="output CSV: path,identity,quality,status")
    p.add_argument("--method", choices=["center"], default="center", help="labeling method")
    p.add_argument("--pack", default="buffalo_sc", help="InsightFace pack for detection")
    p.add_argument("--recognizer", default="buffalo_sc", help="recognizer whose embeddings define the labels")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..training.data import center_labels, embed_folder, identity_images
    from .progress import progress_bar

    with progress_bar(len(identity_images(args.data)), f"fiqa label ({args.recognizer})") as cb:
        faces = embed_folder(args.data, args.pack, args.recognizer, args.threads, cache=not args.no_cache, progress=cb)
    q = center_labels(faces.embeddings, faces.identities)
    with open(args.out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for p, y, v in zip(faces.paths, faces.identities, q):
            w.writerow([p, faces.names[y], f"{v:.6g}", "ok"])
        for p in faces.failed:
            w.writerow([p, Path(p).parent.name, "", "no_face"])
    print(f"labelled {len(q)} faces ({len(faces.failed)} images without a face) -> {args.out}")
    return 0

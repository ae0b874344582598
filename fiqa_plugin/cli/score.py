"""``fiqa score INPUT --method NAME --out scores.csv``: quality of every face in a folder, glob or list."""
from __future__ import annotations

import argparse
import itertools
import logging
import math

log = logging.getLogger(__name__)
COLUMNS = ["path", "quality", "quality_score", "status", "face", "error"]
#: status of a scored face whose calibrated score is under --min-quality (the row keeps its scores)
LOW_QUALITY = "low_quality"


def register(sub) -> None:
    p = sub.add_parser("score", help="score images (folder, glob or .txt list) into a CSV")
    p.add_argument("input", help="a folder (searched recursively), a glob pattern or a .txt file with one path per line")
    p.add_argument("--method", default=None, help="quality method; default: fiqa_plugin.scoring.DEFAULT_METHOD "
                   "(marked '(default)' by `fiqa methods --long`)")
    p.add_argument("--out", default="scores.csv", help="output CSV: path,quality,quality_score,status,face,error "
                   "(quality_score: 0-100 percentile among typical faces, see `fiqa methods`)")
    p.add_argument("--min-quality", type=float, default=None, metavar="Q",
                   help=f"0-100: faces with quality_score below Q get status {LOW_QUALITY!r} (and are counted apart)")
    p.add_argument("--mode", choices=["largest", "all", "aligned"], default="largest",
                   help="largest face per image, all faces, or inputs already aligned (skip detection)")
    p.add_argument("--pack", default="buffalo_sc", help="InsightFace model pack for detection / recognition")
    p.add_argument("--root", default=None, help="InsightFace root holding models/<pack>/")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--resume", action="store_true", help="keep rows already in --out and score only the rest")
    add_engine_args(p)
    p.set_defaults(func=run)


def add_engine_args(p) -> None:
    """``--engine local|ray`` and the Ray options (shared by ``fiqa score`` and ``fiqa label``)."""
    g = p.add_argument_group("engine", "local: this process; ray: a Ray cluster (needs the ray extra; docs/scaling.md)")
    g.add_argument("--engine", choices=["local", "ray"], default="local")
    g.add_argument("--ray-address", default=None, help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray)")
    g.add_argument("--workers", type=int, default=None, help="ray: detection actors (default: every CPU, autoscaled)")
    g.add_argument("--shard-size", type=int, default=1000, help="ray: images per Parquet shard (the unit of resume)")
    g.add_argument("--shards", default=None, help="ray: folder of the Parquet shards (default: <out>.shards)")


def ray_rows(args: argparse.Namespace, paths, progress, method=None, mode="largest", recognizer=None,
             embeddings=False):
    """Score ``paths`` on Ray into ``--shards`` (finished shards kept with ``--resume``); the rows in input order."""
    from ..integrations.ray import ensure_ray, read_rows, score_with_ray

    ensure_ray(args.ray_address)
    shards = args.shards or f"{args.out}.shards"
    score_with_ray(paths, shards, method=method, mode=mode, pack=args.pack, root=getattr(args, "root", None),
                   recognizer=recognizer, keep_embeddings=embeddings, shard_size=args.shard_size,
                   workers=args.workers, resume=args.resume, progress=progress)
    return read_rows(shards)


def run(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..faces.pipeline import list_images
    from ..io.writers import CsvRows
    from ..scoring import QualityScorer
    from ..progress import progress_bar

    if "://" in args.input:  # object storage: only Ray workers read it (pyarrow filesystems)
        if args.engine != "ray":
            raise UsageError(f"{args.input} is an object-storage URI: add --engine ray")
        from ..integrations.ray import list_uris

        paths = list_uris(args.input)
    else:
        paths = list_images(args.input)
    scorer = QualityScorer(args.method, mode=args.mode, pack=args.pack, root=args.root, batch_size=args.batch_size)
    if args.min_quality is not None:
        check_min_quality(args.min_quality, scorer)
    counts: dict = {}
    # Local: the CSV is the checkpoint --resume reads. Ray: the shards are, and the CSV is written whole.
    with CsvRows(args.out, COLUMNS, resume=args.resume and args.engine == "local") as out:
        todo = [p for p in paths if p not in out.done]
        if out.done:
            log.info("resuming: %d images already in %s", len(out.done), args.out)
        with progress_bar(len(todo), f"fiqa score ({scorer.method.name})") as cb:
            rows = (scorer.score(todo, progress=cb) if args.engine == "local"
                    else ray_rows(args, todo, cb, args.method, args.mode))
            for _, image_rows in itertools.groupby(rows, key=lambda r: r.source):
                lines = []  # an image's faces reach the file together, so a resume never half-skips it
                for row in image_rows:
                    q = "" if math.isnan(row.quality) else f"{row.quality:.6g}"
                    qs = "" if math.isnan(row.quality_score) else f"{row.quality_score:.2f}"
                    if args.min_quality is not None and row.status == "ok" and row.quality_score < args.min_quality:
                        row.status = LOW_QUALITY
                    lines.append([row.source, q, qs, row.status, row.face_index, row.error])
                    counts[row.status] = counts.get(row.status, 0) + 1
                out.write_rows(lines)
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    print(f"scored {len(todo)} images with {scorer.method.name} -> {args.out} ({summary or 'nothing to do'})")
    return 0


def check_min_quality(q: float, scorer) -> None:
    """``--min-quality`` must be on the 0-100 scale and the method must have a calibration table."""
    from ..errors import UsageError

    if not 0 <= q <= 100:
        raise UsageError(f"--min-quality is a 0-100 calibrated score, got {q:g}")
    if scorer.calibration is None:
        raise UsageError(f"{scorer.method.name} has no calibration table, so --min-quality cannot be applied",
                         hint=f"build it: python benchmarks/calibrate.py --methods {scorer.method.name}")

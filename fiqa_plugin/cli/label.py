"""``fiqa label DATA --out labels.csv``: recognition-oriented quality labels for faces with identities.

``DATA`` is a folder with one sub-folder per identity, or a CSV list with ``path,identity`` columns.
Methods (the labelers of :mod:`fiqa_plugin.labelers`):

* ``center``: cosine to the identity's mean embedding (Peng et al. Eq. 1);
* ``sdd``: SDD-FIQA labels (Ou et al. Eq. 7–10), ``[0, 100]``;
* ``optimize``: any method's scores refined with mated-pair similarities (Babnik et al. 2023) —
  the scores come from ``--scores`` (a ``fiqa score`` CSV) or ``--initial-method``.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from ..errors import UsageError

log = logging.getLogger(__name__)
COLUMNS = ["path", "identity", "quality", "status"]


def register(sub) -> None:
    p = sub.add_parser("label", help="quality labels (CSV) for faces with identities (folder per identity or CSV list)")
    p.add_argument("data", help="folder with one sub-folder of face images per identity, or a CSV with path,identity")
    p.add_argument("--out", default="labels.csv", help="output CSV: path,identity,quality,status")
    from ..plugins import LABELERS

    p.add_argument("--method", choices=LABELERS.names(), default="center",
                   help="labeler (the LABELERS registry; plugins add more): "
                        + "; ".join(f"{e.name}: {e.summary}" for e in LABELERS.entries()))
    p.add_argument("--pack", default="buffalo_sc", help="InsightFace pack for detection")
    p.add_argument("--recognizer", default="buffalo_sc", help="recognizer whose embeddings define the labels")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-cache", action="store_true",
                   help="do not read or write the embedding cache (which also checkpoints: a killed run resumes)")
    g = p.add_argument_group("sdd")
    g.add_argument("--sdd-mode", choices=["sampled", "exact"], default="sampled",
                   help="Eq. 8 sampling (m genuine + m impostor pairs, K draws) or every pair")
    g.add_argument("--m", type=int, default=24, help="pairs per draw (sampled)")
    g.add_argument("--k", type=int, default=12, help="draws (sampled)")
    g.add_argument("--variant", choices=["full", "pos_only", "neg_only"], default="full")
    g.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("optimize")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--scores", help="initial scores: CSV with path,quality (e.g. from `fiqa score`)")
    src.add_argument("--initial-method", help="initial scores: a registered quality method (see `fiqa methods`)")
    g.add_argument("--clusters", type=int, default=20, help="C: k-means clusters per identity")
    g.add_argument("--theta", type=float, default=0.001, help="θ: step towards the mated-pair position")
    g.add_argument("--repetitions", type=int, default=10, help="R: random pairings averaged")
    from .score import add_engine_args

    add_engine_args(p)  # with --engine ray the shards are the embedding cache (--no-cache starts them over)
    p.set_defaults(func=run)


def labeler_options(args: argparse.Namespace) -> dict:
    """CLI options under the parameter names labeler factories take; each labeler gets the ones it accepts."""
    return {"mode": args.sdd_mode, "m": args.m, "k": args.k, "variant": args.variant, "seed": args.seed,
            "wd_backend": "numpy", "clusters": args.clusters, "theta": args.theta, "repetitions": args.repetitions,
            "mapping": "none"}  # raw centre cosines: fiqa label writes the labeler's own scale


def run(args: argparse.Namespace) -> int:
    import inspect

    from ..faces.dataset import embed_items, items_of, method_scores
    from ..io import scores_for
    from ..io.writers import write_csv
    from ..plugins import LABELERS
    from ..progress import progress_bar

    entry = LABELERS.entry(args.method)
    needs_initial = entry.tags.get("needs_initial_scores", False)
    if needs_initial and not (args.scores or args.initial_method):
        from ..scoring import default_method

        # No default on purpose: the labels keep the initial scores' values, re-ordered, so which method's
        # scores are refined is the user's choice. The hint names the default policy's model for --recognizer.
        raise UsageError(f"--method {args.method} refines existing scores: pass --scores CSV or --initial-method NAME",
                         hint=f"e.g. --initial-method {default_method(args.recognizer)}, the default quality model "
                              f"where {args.recognizer} runs anyway")
    accepted = inspect.signature(entry.factory).parameters
    labeler = entry.factory(**{k: v for k, v in labeler_options(args).items() if k in accepted})
    initial = None
    with progress_bar(len(items_of(args.data)), f"fiqa label ({args.recognizer})") as cb:
        if args.engine == "ray":
            from ..integrations.ray import embed_with_ray, ensure_ray

            ensure_ray(args.ray_address)
            faces, initial = embed_with_ray(
                items_of(args.data), args.shards or f"{args.out}.shards", args.pack, args.recognizer,
                method=args.initial_method if needs_initial else None, resume=not args.no_cache,
                shard_size=args.shard_size, workers=args.workers, progress=cb)
        else:
            faces = embed_items(args.data, args.pack, args.recognizer, args.threads, cache=not args.no_cache,
                                progress=cb)
    kw = {}
    if needs_initial:
        kw["initial_scores"] = (scores_for(args.scores, faces.paths) if args.scores else initial if initial is not None
                                else method_scores(args.initial_method, faces, args.pack, args.recognizer))
    q = labeler.label(faces.embeddings, faces.identities, **kw)
    rows = [[p, faces.names[y], f"{v:.6g}" if np.isfinite(v) else "", "ok" if np.isfinite(v) else "no_label"]
            for p, y, v in zip(faces.paths, faces.identities, q)]
    rows += [[p, Path(p).parent.name, "", "no_face"] for p in faces.failed]
    write_csv(args.out, COLUMNS, rows)  # whole or not at all: a killed run never leaves half a file
    print(f"labelled {len(q)} faces with {args.method} ({len(faces.failed)} images without a face) -> {args.out}")
    return 0

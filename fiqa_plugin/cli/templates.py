"""``fiqa templates FOLDER``: template verification with quality-based face selection and weighting.

FOLDER holds ``<identity>/<image>`` files (LFW's ``images/``, CelebA). Prints TAR at
FAR and verification accuracy for the baselines (mean, random) and, for each quality
method, top-1, top-k and the quality-weighted mean.
"""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("templates", help="template verification with quality-based selection / weighting",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", help="folder of <identity>/<image> files")
    p.add_argument("--method", nargs="+", help="quality methods (see `fiqa methods`; default: fiqa_plugin.scoring.DEFAULT_METHOD)")
    p.add_argument("--template-size", type=int, default=4, help="faces per template")
    p.add_argument("--k", type=int, default=2, help="faces kept by top-k / random-k")
    p.add_argument("--draws", type=int, default=3, help="genuine template pairs drawn per identity")
    p.add_argument("--max-images", type=int, default=16, help="images used per identity (seeded subset)")
    p.add_argument("--max-identities", type=int, default=0, help="0 = every identity with enough images")
    p.add_argument("--degrade", type=float, default=0.5, help="probability that a face is degraded")
    p.add_argument("--recognizer", default="buffalo_sc")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import templates as T
    from ..scoring import DEFAULT_METHOD

    args.method = args.method or [DEFAULT_METHOD]
    from ..progress import progress_bar

    ids = T.identity_folders(args.folder, 2 * args.template_size, args.max_images, args.max_identities, args.seed)
    with progress_bar(sum(len(v) for v in ids.values()), "faces") as progress:
        faces = T.build_faceset(args.folder, args.method, min_images=2 * args.template_size,
                                max_images=args.max_images, max_identities=args.max_identities,
                                recognizer=args.recognizer, degrade_p=args.degrade, seed=args.seed,
                                progress=progress)
    proto = T.make_protocol(faces.identities, args.template_size, args.draws, args.seed)
    rows = T.evaluate(faces, proto, args.method, k=args.k, seed=args.seed)
    print(f"{len(faces)} faces of {len(set(faces.identities.tolist()))} identities, "
          f"{sum(d != 'none' for d in faces.degradations)} degraded; templates of {args.template_size}; "
          f"{len(proto.genuine)} genuine / {len(proto.impostor)} impostor template pairs")
    print(T.format_table(rows, k=args.k))
    return 0

"""Template verification on LFW with seeded degradations, for every quality method (tinyFQnet Tables 3–5).

    python benchmarks/templates.py --threads 1

Identities of shared LFW with ≥ 2×template-size images (at most ``--max-images`` each,
a seeded subset), largest face detected and aligned, half the faces degraded (blur,
downscale, noise, JPEG, occlusion), buffalo_sc embeddings. Templates of
``--template-size`` faces; ``--draws`` genuine pairs of disjoint templates per identity;
impostors: every pair of templates of different identities (at most 200,000).
"""
from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+",
                    default=["tinyfqnet", "lightqnet", "blur", "pose", "jpeg", "perceptual",
                             "detector-confidence", "embedding-norm"])
    ap.add_argument("--template-size", type=int, default=4)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--max-images", type=int, default=16)
    ap.add_argument("--max-identities", type=int, default=0)
    ap.add_argument("--degrade", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    os.environ["FIQA_THREADS"] = str(args.threads)

    from fiqa_plugin import templates as T
    from fiqa_plugin.degradations import TEMPLATE_DEGRADATIONS
    from fiqa_plugin.paths import shared_path

    t0 = time.perf_counter()
    faces = T.build_faceset(shared_path("data", "lfw", "images"), args.methods, min_images=2 * args.template_size,
                            max_images=args.max_images, max_identities=args.max_identities,
                            degrade_p=args.degrade, seed=args.seed)
    proto = T.make_protocol(faces.identities, args.template_size, args.draws, args.seed)
    rows = T.evaluate(faces, proto, args.methods, k=args.k, seed=args.seed)
    kinds = {k: faces.degradations.count(k) for k in ("none",) + TEMPLATE_DEGRADATIONS}
    print(f"LFW: {len(faces)} faces of {len(faces.names)} identities; degradations {kinds}")
    print(f"templates of {args.template_size} faces, k={args.k}; {len(proto.genuine)} genuine / "
          f"{len(proto.impostor)} impostor template pairs; seed {args.seed}; {time.perf_counter() - t0:.0f} s")
    print()
    print(T.format_table(rows, k=args.k))


if __name__ == "__main__":
    main()

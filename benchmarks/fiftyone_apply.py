"""apply_model and compute_quality throughput on real LFW images versus the plain QualityScorer, same images, same run.

    python benchmarks/fiftyone_apply.py [--n 1000] [--method lightqnet] [--batch-size 64] [--repeats 3]

All three run the pipelined driver (``QualityScorer.iter_scored``): the scorer and ``compute_quality``
over every path at once, ``apply_model`` once per FiftyOne batch (FiftyOne decodes each batch first).

Uses a throw-away FiftyOne database (temp folder); both paths score every face with the
same method and batch size. Prints one JSON line.
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--method", default="lightqnet")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="fiqa-fo-bench-")
    # Registered before fiftyone is imported, so it runs after FiftyOne has stopped its mongod.
    atexit.register(shutil.rmtree, tmp, True)
    os.environ.update(FIFTYONE_DO_NOT_TRACK="true", FIFTYONE_DATABASE_DIR=os.path.join(tmp, "db"),
                      FIFTYONE_DATABASE_VALIDATION="false", FIFTYONE_SHOW_PROGRESS_BARS="false")
    import fiftyone as fo

    from fiqa_plugin.integrations.fiftyone import compute_quality, load_model
    from fiqa_plugin.paths import shared_path
    from fiqa_plugin.scoring import QualityScorer

    paths = sorted(str(p) for p in shared_path("data", "lfw", "images").glob("*/*.jpg"))[: args.n]
    if len(paths) < args.n:
        raise SystemExit(f"only {len(paths)} LFW images found, asked for {args.n}")
    ds = fo.Dataset()
    try:
        ds.add_samples([fo.Sample(filepath=p) for p in paths], progress=False)
        # Same settings for both: every face (mode "all"), same batch size.
        scorer = QualityScorer(args.method, mode="all", batch_size=args.batch_size)
        model = load_model(args.method, batch_size=args.batch_size)
        list(scorer.score(paths[:16]))  # warm-up both paths (session init, page cache)
        model.predict_all(paths[:16])

        t_scorer, t_apply, t_compute = [], [], []
        for _ in range(args.repeats):  # rounds interleaved; medians (the machine may be shared)
            t = time.perf_counter()
            rows = list(scorer.score(paths))
            t_scorer.append(time.perf_counter() - t)

            t = time.perf_counter()
            ds.apply_model(model, label_field="fiqa", batch_size=args.batch_size, progress=False)
            t_apply.append(time.perf_counter() - t)

            t = time.perf_counter()
            compute_quality(ds, model, quality_field="cq", faces_field="cq_faces", batch_size=args.batch_size)
            t_compute.append(time.perf_counter() - t)

        faces_scorer = sum(1 for r in rows if r.face_index >= 0)
        faces_apply = ds.count("fiqa_faces.detections")
        faces_compute = ds.count("cq_faces.detections")
        fs, fa, fc = (faces_scorer / float(np.median(t_scorer)), faces_apply / float(np.median(t_apply)),
                      faces_compute / float(np.median(t_compute)))
        out = {
            "images": len(paths), "method": args.method, "batch_size": args.batch_size, "repeats": args.repeats,
            "faces_scorer": faces_scorer, "faces_apply_model": faces_apply, "faces_compute_quality": faces_compute,
            "scorer_faces_per_s": round(fs, 1),
            "apply_model_faces_per_s": round(fa, 1),
            "compute_quality_faces_per_s": round(fc, 1),
            "apply_model_over_scorer": round(fa / fs, 3),
            "compute_quality_over_scorer": round(fc / fs, 3),
            "runs_s": {"scorer": [round(x, 2) for x in t_scorer], "apply_model": [round(x, 2) for x in t_apply],
                       "compute_quality": [round(x, 2) for x in t_compute]},
            "cpu_count": os.cpu_count(), "load_average_end": round(os.getloadavg()[0], 1),
        }
        sys.stdout.write(json.dumps(out) + "\n")
    finally:
        ds.delete()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

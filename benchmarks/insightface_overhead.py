"""Cost of quality in InsightFace's ``app.get``: the same images with and without ``quality=True``.

    python benchmarks/insightface_overhead.py --images 100 --repeats 3 --threads 1

Images: t1.jpg (six faces, bundled with InsightFace) plus the first ``--images`` LFW
photographs in sorted order. Runs are interleaved (plain, quality, plain, ...) and the
fastest repeat of each is kept, so background load on a shared machine distorts less.

``--methods`` are registered names; ``NAME@two-pass`` runs a head composed with the recognizer
as a whole graph on the kept crop (a second recognizer pass) instead of from the recognition
pass, for comparison. The default set is the package default, the accurate tier (one pass) and
the accurate tier in two passes:

    python benchmarks/insightface_overhead.py --images 100 --repeats 5 --threads 1
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np


TWO_PASS = "@two-pass"


def whole_graph(name: str, **kw):
    """A registered composed model behind a plain crop method, so FaceAnalysis runs its whole graph
    (recognizer included) on the kept crop instead of sharing the recognition pass."""
    from fiqa_plugin.plugins import QUALITY_METHODS
    from fiqa_plugin.quality.base import CropQualityMethod

    model = QUALITY_METHODS.create(name, **kw)

    class _WholeGraph(CropQualityMethod):
        def score_crops(self, crops):
            return model.score_crops(crops)

    m = _WholeGraph()
    m.name = model.name
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=100, help="LFW photographs besides t1.jpg")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads for every model")
    ap.add_argument("--methods", nargs="+", default=None,
                    help="registered names, NAME@two-pass for a composed head run on the crop "
                         "(default: DEFAULT_METHOD, ACCURATE_METHOD, ACCURATE_METHOD@two-pass)")
    args = ap.parse_args()
    os.environ["FIQA_THREADS"] = str(args.threads)
    from fiqa_plugin.scoring import ACCURATE_METHOD, DEFAULT_METHOD

    methods = args.methods or [DEFAULT_METHOD, ACCURATE_METHOD, f"{ACCURATE_METHOD}{TWO_PASS}"]

    import insightface
    import onnxruntime as ort
    from insightface.app import FaceAnalysis as PlainFaceAnalysis

    from fiqa_plugin.integrations.insightface import FaceAnalysis
    from fiqa_plugin.paths import insightface_root, shared_path

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = args.threads, 1
    common = dict(name="buffalo_sc", providers=["CPUExecutionProvider"], sess_options=opts)
    lfw = sorted(shared_path("data", "lfw", "images").glob("*/*.jpg"))[: args.images]
    t1 = Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"
    images = [cv2.imread(str(p)) for p in [t1, *lfw]]

    apps = {"plain": PlainFaceAnalysis(root=str(insightface_root()), **common)}
    for m in methods:
        kw = {"threads": args.threads} if m != "blur" else {}
        if m.endswith(TWO_PASS):
            apps[m] = FaceAnalysis(quality_model=whole_graph(m[: -len(TWO_PASS)], **kw), **common)
        else:
            apps[m] = FaceAnalysis(quality_model=m, quality_kwargs=kw, **common)
            if apps[m].one_pass:
                apps[f"{m} (one pass)"] = apps.pop(m)
    for a in apps.values():
        a.prepare(ctx_id=-1, det_size=(640, 640))
        a.get(images[0])  # warm-up

    best = {k: float("inf") for k in apps}
    n_faces = 0
    for _ in range(args.repeats):
        for k, a in apps.items():
            t = time.perf_counter()
            n = sum(len(a.get(img)) for img in images)
            best[k] = min(best[k], time.perf_counter() - t)
            n_faces = n
    base = best["plain"]
    print(f"{len(images)} images, {n_faces} faces, {args.threads} thread(s), best of {args.repeats}")
    print("| app.get | ms / image | overhead vs plain |")
    print("|---|---:|---:|")
    for k, v in best.items():
        print(f"| {k if k == 'plain' else 'quality_model=' + k} | {1000 * v / len(images):.2f} | "
              f"{'—' if k == 'plain' else f'{100 * (v / base - 1):+.1f}%'} |")


if __name__ == "__main__":
    np.random.seed(0)
    main()

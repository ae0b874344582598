"""Ray Data engine vs the local engine on this machine, and the per-stage cost model of docs/scaling.md.

    python benchmarks/ray_scaling.py [--images 240] [--repeats 3] [--cpus 2] [--stage-images 150]

* cost model: each stage alone on one core (onnxruntime with 1 thread), timed in process CPU time
  (which other jobs on a shared machine do not inflate) over ``--stage-images`` LFW photos (250×250):
  decode (``decode_image``), detect + align (``FacePipeline.faces_from_array``, largest face),
  quality (the default crop model, batches of 256) and embedding (``buffalo_sc``, batches of 64).
  Prints images (or faces) per second per core.
* scaling: ``--images`` LFW photos scored end to end (largest face, default method) by the local
  engine (``QualityScorer.score``, the ``fiqa score`` defaults) and by ``score_with_ray`` on a local
  Ray with ``--cpus`` CPUs and 1, then 2 face workers; ``--repeats`` rounds, the configurations
  interleaved in each; faces/s end to end (wall time, Ray's actor start-up included) and the marginal
  rate without fixed costs (each configuration also runs the first half of the list: the extra
  faces of the full list over the extra seconds they took); medians, ratios to the local engine.

The machine is shared: wall-time figures move with other jobs, so compare within a run only.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")


def lfw_paths(n: int) -> list:
    from fiqa_plugin.paths import shared_path

    root = shared_path("data", "lfw", "images")
    # one photo per person, so the list is spread over the whole set rather than a few people
    return [str(sorted(d.glob("*.jpg"))[0]) for d in sorted(root.iterdir())[:n]]


def cpu_rate(fn, n: int) -> float:
    """Items per CPU-second of ``fn()`` (which handles ``n`` items)."""
    t = time.process_time()
    fn()
    return n / (time.process_time() - t)


def stage_costs(paths: list) -> dict:
    """Items per second per core of each stage, one thread each."""
    import numpy as np

    from fiqa_plugin.faces.pipeline import FacePipeline
    from fiqa_plugin.imageio import decode_image
    from fiqa_plugin.onnx_session import THREADS_ENV
    from fiqa_plugin.plugins import RECOGNIZERS
    from fiqa_plugin.scoring import QualityScorer

    old = os.environ.get(THREADS_ENV)
    os.environ[THREADS_ENV] = "1"
    try:
        pipe = FacePipeline.from_pack("buffalo_sc", mode="largest")
        scorer = QualityScorer(pipeline=FacePipeline(None, "aligned"))
        rec = RECOGNIZERS.create("buffalo_sc")
    finally:
        if old is None:
            del os.environ[THREADS_ENV]
        else:
            os.environ[THREADS_ENV] = old
    imgs = [decode_image(p) for p in paths]
    out = {"decode (images)": cpu_rate(lambda: [decode_image(p) for p in paths], len(paths))}
    faces = []
    out["detect + align (images)"] = cpu_rate(lambda: faces.extend(
        f for im in imgs for f in pipe.faces_from_array(im.bgr).faces), len(imgs))
    faces = faces[: len(imgs)]
    many = (faces * (2048 // max(1, len(faces)) + 1))[:2048]
    out["quality, default crop model (faces)"] = cpu_rate(
        lambda: [scorer.score_faces(many[i : i + 256]) for i in range(0, len(many), 256)], len(many))
    crops = np.stack([f.aligned for f in many[:512]])
    out["embedding, buffalo_sc (faces)"] = cpu_rate(
        lambda: [rec.embed(crops[i : i + 64]) for i in range(0, len(crops), 64)], len(crops))
    return out


def run_local(paths: list, _out: Path) -> tuple:
    """(faces, seconds) of the local engine, scorer construction included (as in ``fiqa score``)."""
    from fiqa_plugin.scoring import QualityScorer

    t = time.perf_counter()
    n = sum(r.face_index >= 0 for r in QualityScorer().score(paths))
    return n, time.perf_counter() - t


def run_ray(workers: int):
    def run(paths: list, out: Path) -> tuple:
        """(faces, seconds) of the Ray engine, actor start-up included."""
        from fiqa_plugin.integrations.ray import read_rows, score_with_ray

        t = time.perf_counter()
        score_with_ray(paths, out, workers=workers, shard_size=25, batch_size=8, resume=False)
        sec = time.perf_counter() - t
        return sum(r.face_index >= 0 for r in read_rows(out)), sec
    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=240)
    ap.add_argument("--stage-images", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cpus", type=int, default=2)
    args = ap.parse_args()
    import ray

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    costs = stage_costs(lfw_paths(args.stage_images))
    print("\n| stage | per second per core |\n|---|---:|")
    for k, v in costs.items():
        print(f"| {k} | {v:,.0f} |")

    paths = lfw_paths(args.images)
    half = paths[: len(paths) // 2]
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    engines = {"local": run_local, "ray 1 worker": run_ray(1), "ray 2 workers": run_ray(2)}
    total: dict = {k: [] for k in engines}
    marginal: dict = {k: [] for k in engines}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for name, run in engines.items():
                n1, t1 = run(half, Path(tmp) / f"{name}-{r}-half")
                n2, t2 = run(paths, Path(tmp) / f"{name}-{r}")
                total[name].append(n2 / t2)
                marginal[name].append((n2 - n1) / (t2 - t1) if t2 > t1 else float("nan"))
            print(f"round {r + 1}: " + ", ".join(f"{k} {total[k][-1]:.1f} ({marginal[k][-1]:.1f})" for k in engines),
                  file=sys.stderr)
    ray.shutdown()
    tot = {k: statistics.median(v) for k, v in total.items()}
    mar = {k: statistics.median(v) for k, v in marginal.items()}
    print(f"\n{args.images} LFW photos (and their first half, for the marginal rate), largest face, "
          f"default method; {args.cpus} Ray CPUs; median of {args.repeats} interleaved rounds "
          f"(load {os.getloadavg()[0]:.1f} at the end)\n")
    print("| engine | faces/s end to end | × local | faces/s marginal | × local |\n|---|---:|---:|---:|---:|")
    for k in engines:
        print(f"| {k} | {tot[k]:.1f} | {tot[k] / tot['local']:.2f} | {mar[k]:.1f} | {mar[k] / mar['local']:.2f} |")
    print(f"\nscaling 1 → 2 workers: {tot['ray 2 workers'] / tot['ray 1 worker']:.2f}× end to end, "
          f"{mar['ray 2 workers'] / mar['ray 1 worker']:.2f}× marginal")
    return 0


if __name__ == "__main__":
    sys.exit(main())

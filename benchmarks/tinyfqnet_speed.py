"""Speed of the shipped tinyFQnet against the buffalo_sc recognizer on pre-aligned crops.

    python benchmarks/tinyfqnet_speed.py [--model tinyfqnet] [--threads 2] [--batch 256] [--compare lightqnet]

Both run with onnxruntime on the same in-memory 112×112 aligned crops (real LFW faces
through detection + alignment, tiled), ``--threads`` intra-op threads, batches of
``--batch``; tinyFQnet's time includes its 112→64 resize and normalisation. Peak memory is
the max RSS of a fresh child process that loads only tinyFQnet and scores ``--stream``
faces batch by batch. ``--compare NAME`` times another quality method in the same interleaved rounds
(same crops, threads and batches; e.g. the LightQNet baseline) and prints the speed ratio. Prints a
markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def real_crops(n: int = 64) -> np.ndarray:
    from fiqa_plugin.faces.pipeline import FacePipeline
    from fiqa_plugin.paths import shared_path

    root = shared_path("data", "lfw", "images")
    pipe = FacePipeline.from_pack("buffalo_sc", mode="largest")
    crops = []
    for d in sorted(root.iterdir()):
        for p in sorted(d.glob("*.jpg"))[:1]:
            r = pipe.process(p)
            if r.ok:
                crops.append(r.faces[0].aligned)
        if len(crops) >= n:
            break
    return np.stack(crops)


def batches(crops: np.ndarray, total: int, batch: int):
    reps = -(-batch // len(crops))
    block = np.concatenate([crops] * reps)[:batch]
    for i in range(0, total, batch):
        yield block[: min(batch, total - i)]


def faces_per_s(fn, crops: np.ndarray, total: int, batch: int) -> float:
    fn(next(batches(crops, batch, batch)))  # warm-up
    t = time.perf_counter()
    for b in batches(crops, total, batch):
        fn(b)
    return total / (time.perf_counter() - t)


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries the parent's peak
    over fork+exec into it, which would count the recognizer benchmark run before."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def memory_child(model: str, threads: int, batch: int, total: int, crops_path: str) -> None:
    from fiqa_plugin.plugins import QUALITY_METHODS

    crops = np.load(crops_path)
    m = QUALITY_METHODS.create(model, threads=threads, batch_size=batch)
    base = peak_rss_mb()
    n = 0
    for b in batches(crops, total, batch):
        n += len(m.score_crops(b))
    print(json.dumps({"faces": n, "peak_rss_mb": peak_rss_mb(), "before_scoring_mb": base}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tinyfqnet", help="quality method name (default: the shipped tinyFQnet)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--faces", type=int, default=20480, help="faces timed for the quality model")
    ap.add_argument("--rec-faces", type=int, default=1024, help="faces timed for the recognizer")
    ap.add_argument("--stream", type=int, default=10000, help="faces streamed for the memory measurement")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved timing repeats (medians reported)")
    ap.add_argument("--compare", default=None, help="another quality method timed in the same rounds (e.g. lightqnet)")
    ap.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.memory_child:
        memory_child(a.model, a.threads, a.batch, a.stream, a.memory_child)
        return

    from fiqa_plugin.plugins import QUALITY_METHODS, RECOGNIZERS

    crops = real_crops(64)
    q = QUALITY_METHODS.create(a.model, threads=a.threads, batch_size=a.batch)
    rec = RECOGNIZERS.create("buffalo_sc", threads=a.threads, batch_size=a.batch)
    # Interleaved repeats, medians: the machine is shared, so a single timing can catch a busy moment.
    other = QUALITY_METHODS.create(a.compare, threads=a.threads, batch_size=a.batch) if a.compare else None
    q_runs, r_runs, o_runs = [], [], []
    for _ in range(a.repeats):
        q_runs.append(faces_per_s(q.score_crops, crops, a.faces, a.batch))
        r_runs.append(faces_per_s(rec.embed, crops, a.rec_faces, a.batch))
        if other is not None:
            o_runs.append(faces_per_s(other.score_crops, crops, a.rec_faces, a.batch))
    q_fps, r_fps = float(np.median(q_runs)), float(np.median(r_runs))
    tmp = tempfile.NamedTemporaryFile(suffix=".npy", delete=False)
    np.save(tmp, crops)
    tmp.close()
    child = subprocess.run([sys.executable, __file__, "--memory-child", tmp.name, "--model", a.model, "--threads", str(a.threads),
                            "--batch", str(a.batch), "--stream", str(a.stream)], capture_output=True, text=True, check=True)
    os.unlink(tmp.name)
    mem = json.loads(child.stdout.strip().splitlines()[-1])
    runs = lambda xs: ", ".join(f"{x:,.0f}" for x in xs)  # noqa: E731
    print(f"| model | faces/s ({a.threads} threads, batch {a.batch}), median | runs | faces per run |")
    print("|---|---|---|---|")
    print(f"| {q.name} | {q_fps:,.0f} | {runs(q_runs)} | {a.faces} |")
    print(f"| buffalo_sc recognizer (w600k_mbf) | {r_fps:,.0f} | {runs(r_runs)} | {a.rec_faces} |")
    if other is not None:
        o_fps = float(np.median(o_runs))
        print(f"| {other.name} | {o_fps:,.0f} | {runs(o_runs)} | {a.rec_faces} |")
    print(f"\nratio {q.name} / recognizer: {q_fps / r_fps:.1f}x")
    if other is not None:
        print(f"ratio {q.name} / {other.name}: {q_fps / o_fps:.1f}x (same run, interleaved rounds)")
    print(f"peak RSS scoring {mem['faces']} faces streamed (fresh process, {q.name} only): "
          f"{mem['peak_rss_mb']:.0f} MB (of which {mem['before_scoring_mb']:.0f} MB before scoring began)")


if __name__ == "__main__":
    main()

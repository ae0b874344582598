"""Photos to scores on LFW: end-to-end images/s of the scoring driver against each of its stages, same run.

    python benchmarks/pipeline_e2e.py [--images 300] [--repeats 3] [--threads 2] [--old-tree DIR]

On the first ``--images`` LFW View 2 photographs (250×250 JPEG, one face each), rounds interleaved,
medians of ``--repeats`` (the machine is shared: say so when quoting) of images/s (wall) and of CPU ms
per image (process CPU time summed over threads, which other jobs inflate least):

* decode only: ``fiqa_plugin.imageio.decode_image`` one after another (1 thread);
* detection only: ``ScrfdDetector.detect`` on the decoded images in memory, input sized to the image
  (now) and the 640×640 letterbox (before);
* alignment only: ``align_face`` on the detected landmarks (1 thread);
* quality only: the default model's ``score_crops`` on the aligned crops (faces/s);
* end to end: ``QualityScorer()`` (largest face, default model, the driver ``fiqa score`` runs)
  consuming every row, in a fresh process; with ``--old-tree DIR`` (a source tree of an earlier
  commit, e.g. ``git archive 00ab918 | tar -x -C DIR``: the last tree that runs with the preprocessing
  in Python, the 640 letterbox and the unpipelined driver; 6468f1d–8ee4dcf import a
  ``preprocess_graph`` module they do not contain) the same snippet also runs on that code. The old
  tree must sit next to ``shared/`` (e.g. ``/work/old_tree``), as the checkout does.

Prints a markdown table (docs/performance.md).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from fiqa_plugin.evaluation import harness as C

E2E = """
import sys, time, json
sys.meta_path = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]  # the tree on PYTHONPATH wins
from fiqa_plugin.scoring import QualityScorer
paths = json.load(open(sys.argv[1]))
import resource
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
s = QualityScorer()
list(s.score(paths[:8]))  # warm-up
t, c = time.perf_counter(), cpu()
rows = list(s.score(paths))
print(json.dumps({"images_per_s": len(paths) / (time.perf_counter() - t), "cpu_ms": (cpu() - c) / len(paths) * 1e3,
                  "ok": sum(r.status == "ok" for r in rows), "file": __import__("fiqa_plugin").__file__}))
"""


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rate(fn, items) -> tuple:
    """``(items per wall second, process CPU ms per item)``."""
    t, c = time.perf_counter(), cpu_s()
    for x in items:
        fn(x)
    return len(items) / (time.perf_counter() - t), (cpu_s() - c) / len(items) * 1e3


def e2e(tree: str, paths_file: str, threads: int) -> dict:
    env = dict(os.environ, PYTHONPATH=tree, FIQA_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", E2E, paths_file], env=env, cwd=tree, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--old-tree", default=None, help="source tree of an earlier commit to time end to end in the same run")
    a = ap.parse_args(argv)
    C.set_threads(a.threads)
    from fiqa_plugin.faces import FacePipeline
    from fiqa_plugin.faces.align import align_face
    from fiqa_plugin.faces.detector import ScrfdDetector
    from fiqa_plugin.imageio import decode_image
    from fiqa_plugin.plugins import QUALITY_METHODS
    from fiqa_plugin.scoring import DEFAULT_METHOD

    paths = C.load_lfw().paths[: a.images]
    repo = str(Path(__file__).resolve().parent.parent)
    pf = Path(os.environ.get("TMPDIR", "/tmp")) / f"fiqa_e2e_{os.getpid()}.json"
    pf.write_text(json.dumps([str(p) for p in paths]))
    imgs = [decode_image(p).bgr for p in paths]
    pipe = FacePipeline.from_pack("buffalo_sc", mode="largest")
    det_fit = pipe.detector
    det_box = ScrfdDetector(det_fit.model_path, fit_input=False)
    found = [(im, f) for im in imgs for f in pipe.faces_from_array(im).faces]
    crops = np.stack([f.aligned for _, f in found])
    q = QUALITY_METHODS.create(DEFAULT_METHOD)
    t: dict = {}
    for _ in range(a.repeats):
        t.setdefault("decode only (decode_image, 1 thread)", []).append(rate(decode_image, paths))
        t.setdefault("detection only, input sized to the image", []).append(rate(det_fit.detect, imgs))
        t.setdefault("detection only, 640×640 letterbox (before)", []).append(rate(det_box.detect, imgs))
        t.setdefault("alignment only (align_face, 1 thread)", []).append(rate(lambda x: align_face(x[0], x[1].landmarks), found))
        t.setdefault("decode + detect + align (FacePipeline.process, 1 thread)", []).append(rate(pipe.process, paths))
        per_batch, ms = rate(q.score_crops, [crops])  # one call on every crop: per face below
        t.setdefault(f"quality only ({q.name}; faces/s, CPU ms per face)", []).append((per_batch * len(crops), ms / len(crops)))
        r = e2e(repo, str(pf), a.threads)
        t.setdefault("end to end: QualityScorer (fiqa score's driver), now", []).append((r["images_per_s"], r["cpu_ms"]))
        if a.old_tree:
            r_old = e2e(a.old_tree, str(pf), a.threads)
            assert r_old["file"].startswith(a.old_tree), r_old
            t.setdefault(f"end to end, before ({a.old_tree})", []).append((r_old["images_per_s"], r_old["cpu_ms"]))
    pf.unlink()
    med = {k: float(np.median([x[0] for x in v])) for k, v in t.items()}
    cpu = {k: float(np.median([x[1] for x in v])) for k, v in t.items()}
    e = med["end to end: QualityScorer (fiqa score's driver), now"]
    dec = med["decode only (decode_image, 1 thread)"]
    det = med["detection only, input sized to the image"]
    print(f"{len(paths)} LFW images, {a.threads} threads, load average {os.getloadavg()[0]:.1f} at the end\n")
    print(f"| stage | images/s (median of {a.repeats}) | runs | CPU ms/image | end to end ÷ this |\n|---|---|---|---|---|")
    for k, v in med.items():
        print(f"| {k} | {v:,.1f} | {', '.join(f'{x[0]:,.1f}' for x in t[k])} | {cpu[k]:.2f} | {e / v:.2f} |")
    print(f"\nend to end now = {e / dec:.2f}× decode-only and {e / det:.2f}× detection-only throughput")
    if a.old_tree:
        print(f"end to end now ÷ before: {e / med[f'end to end, before ({a.old_tree})']:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build the calibration tables (raw score → 0–100 percentile) of quality methods on the reference population.

    python benchmarks/calibrate.py                         # every registered method (not `onnx`)
    python benchmarks/calibrate.py --methods NAME [NAME…]  # e.g. a model trained since: arch.tag
    python benchmarks/calibrate.py --limit 300             # a quick check on a subset (tables not written)

Reference population (:data:`fiqa_plugin.quality.calibration.REFERENCE`): every 8th file (sorted paths) of
``../shared/data/celeba_aligned`` (pre-aligned 112×112 crops, fed without detection) plus every 8th file of
``../shared/data/celeba`` (loose crops: largest face detected and aligned with ``buffalo_sc``). Methods
that need detector landmarks (pose, perceptual, detector-confidence) are calibrated on the
``data/celeba`` part alone. Images without a detected face are left out.

Each table goes where :func:`fiqa_plugin.quality.calibration.calibration_file` says: shipped models and
built-in measures in ``fiqa_plugin/weights/calibration/<name>.json``, user models in
``<user models dir>/calibration/<name>.json``. Aliases (``tinyfqnet``) resolve to their model name.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

log = logging.getLogger("fiqa.calibrate")
SKIP = {"onnx"}
BATCH = 256
#: One file in EVERY of each part: ~2,800 faces, a percentile standard error under 1 point, and the
#: recognizer-based methods still run in minutes on a 2-core machine.
EVERY = 8


def reference_faces(every: int = 4, limit: int = 0) -> Dict[str, list]:
    """``{"aligned": [Face…], "detected": [Face…]}``: every ``every``-th file (sorted paths) of each part
    (``limit``: at most that many per part, spread evenly)."""
    from fiqa_plugin.faces.pipeline import FacePipeline, list_images
    from fiqa_plugin.paths import shared_path

    out: Dict[str, list] = {}
    for part, folder, mode in (("aligned", "celeba_aligned", "aligned"), ("detected", "celeba", "largest")):
        paths = sorted(list_images(str(shared_path("data", folder))))[::every]
        if limit:
            paths = paths[:: max(1, len(paths) // limit)][:limit]
        pipe = FacePipeline.from_pack("buffalo_sc", mode=mode)
        faces, failed, t0 = [], 0, time.time()
        for p in paths:
            r = pipe.process(p)
            if not r.ok:
                failed += 1
                continue
            f = r.faces[0]
            if f.region is not None:
                f.region = f.region.copy()  # a view would keep the whole decoded image alive
            faces.append(f)
        log.info("%s: %d faces from %d images (%d without a face) in %.0fs", folder, len(faces), len(paths),
                 failed, time.time() - t0)
        out[part] = faces
    return out


def method_names(requested: List[str]) -> List[str]:
    """Distinct model names to calibrate (aliases such as ``tinyfqnet`` collapse onto ``tinyfqnet.celeba-r2``)."""
    from fiqa_plugin.plugins import QUALITY_METHODS
    from fiqa_plugin.quality.builtin import register_user_models

    register_user_models()
    names = requested or [n for n in QUALITY_METHODS.names() if n not in SKIP]
    out: List[str] = []
    for n in names:
        cfg = QUALITY_METHODS.entry(n).tags.get("config")
        real = cfg.name if cfg is not None else n
        if real not in out:
            out.append(real)
    return out


def raw_scores(name: str, faces: Dict[str, list]):
    """``(method instance, its raw scores on the reference faces it can score)``."""
    from fiqa_plugin.faces.pipeline import FacePipeline
    from fiqa_plugin.scoring import QualityScorer, resolve_method

    method = resolve_method(name)
    pool = faces["detected"] if "detection" in method.requires else faces["aligned"] + faces["detected"]
    # scorer.score_faces only (no decoding): the pipeline is a placeholder, faces come ready
    scorer = QualityScorer(method, mode="largest", pipeline=FacePipeline(None, "aligned"))
    return method, np.concatenate([scorer.score_faces(pool[i : i + BATCH]) for i in range(0, len(pool), BATCH)])


def update_costs(names: List[str]) -> int:
    """Recount ``macs_per_face`` of existing tables (the quantiles are left as they are)."""
    from fiqa_plugin.quality.calibration import calibration_file, calibration_for, save_calibration
    from fiqa_plugin.quality.cost import method_macs
    from fiqa_plugin.scoring import resolve_method

    for name in names:
        method = resolve_method(name)
        cal = calibration_for(method)
        if cal is None:
            log.warning("%s has no table yet: run without --cost-only", method.name)
            continue
        cal = dataclasses.replace(cal, macs_per_face=method_macs(method))
        save_calibration(cal, calibration_file(method))
        print(f"{method.name}: {cal.macs_per_face / 1e6:.3f} M MACs per face")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", nargs="*", default=[], help="method names (default: all registered)")
    ap.add_argument("--every", type=int, default=EVERY, help="use every N-th file of each part (sorted paths)")
    ap.add_argument("--cost-only", action="store_true", help="only (re)count the MACs per face in existing tables")
    ap.add_argument("--limit", type=int, default=0, help="faces per part, for a quick check (tables not written)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from fiqa_plugin.quality.calibration import REFERENCE, build_calibration, calibration_file, save_calibration
    from fiqa_plugin.quality.cost import method_macs

    names = method_names(args.methods)
    if args.cost_only:
        return update_costs(names)
    faces = reference_faces(args.every, args.limit)
    print("| method | faces | p1 | p10 | p50 | p90 | p99 | table |\n|---|---:|---:|---:|---:|---:|---:|---|")
    for name in names:
        t0 = time.time()
        method, raw = raw_scores(name, faces)
        name = method.name  # e.g. lightqnet -> lightqnet.dm100
        cal = build_calibration(name, raw, reference=REFERENCE if args.every == EVERY else
                                REFERENCE.replace(f"every {EVERY}th", f"every {args.every}-th"))
        cal = dataclasses.replace(cal, macs_per_face=method_macs(method))
        path = calibration_file(method)
        if not args.limit:
            save_calibration(cal, path)
        p = cal.to_raw([1, 10, 50, 90, 99])
        where = str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)
        print(f"| {name} | {cal.n} | " + " | ".join(f"{v:.4g}" for v in p) +
              f" | {where if not args.limit else '(not written: --limit)'} |", flush=True)
        log.info("%s done in %.0fs", name, time.time() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())

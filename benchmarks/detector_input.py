"""Detector input sized to the image vs the 640×640 letterbox: speed on LFW and CelebA, landmarks, LFW EDC.

    python benchmarks/detector_input.py [--threads 2] [--speed-images 300] [--repeats 3]
                                        [--folds 0 1 2 ...] [--resamples 1000]

Two ``ScrfdDetector``s on the same ``det_500m.onnx`` (buffalo_sc): ``fit_input=True`` (today: input
sized to the image, sides a multiple of 32, at most 640; the letterbox passes only as retries) and
``fit_input=False`` (before: a 640×640 letterbox, 320 retry).

* speed: ``detect`` on the first ``--speed-images`` LFW View-2 photographs (250×250) and the first
  ``--speed-images`` CelebA loose crops (``../shared/data/celeba``, 224×224, sorted), decoded once and
  held in memory; rounds interleaved, median of ``--repeats`` rounds of images/s (wall) and of process
  CPU ms per image (summed over threads; other jobs on the shared machine inflate it least).
* landmarks: on every LFW image of the chosen folds, the largest face of each detector; how often
  both / only one find a face, and the distance between their 5 landmarks (pixels, and as a fraction
  of the inter-ocular distance; the same on the speed images). For scale, the detector's own
  jitter on the first ``--jitter-images`` of them: the letterbox at 320×320 instead of 640×640 (another
  input scale, the size of the existing retry), and the 640 letterbox on the image shifted by one pixel
  (a replicated row and column at the top left; landmarks shifted back).
* LFW EDC: the pairs of ``--folds`` (default: all 10, 6,000 pairs), largest face, the default quality
  model and the buffalo_sc recognizer on each detector's aligned crops; pAUC of the FNMR-EDC at
  FMR=1e-3 over discard [0, 0.2] (pair quality = the lower of the two; a failed image: similarity −1,
  quality −∞, as in ``benchmarks/lfw_edc.py``), with a paired bootstrap (``--resamples``: genuine and
  impostor pairs resampled separately, the same resample for both detectors, each detector's
  threshold fixed again on the resampled impostors) giving 95% intervals of each pAUC and of the
  difference.

Prints markdown tables (docs/performance.md).
"""
from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import time

import cv2
import numpy as np

from fiqa_plugin.evaluation import harness as C
from fiqa_plugin.progress import iter_progress

FMR, LIMIT = 1e-3, 0.2


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn, items) -> tuple:
    """``(images per wall second, process CPU ms per image)``."""
    t, c = time.perf_counter(), cpu_s()
    for x in items:
        fn(x)
    return len(items) / (time.perf_counter() - t), (cpu_s() - c) / len(items) * 1e3


def largest(dets):
    return max(dets, key=lambda d: d.area) if dets else None


def mean_iod(lm: np.ndarray, ref: np.ndarray) -> float:
    """Mean distance of 5 landmarks to ``ref``'s, as a fraction of ``ref``'s inter-ocular distance."""
    return float(np.linalg.norm(lm - ref, axis=1).mean() / np.linalg.norm(ref[0] - ref[1]))


def paired_bootstrap(sims: dict, pqs: dict, genuine: np.ndarray, resamples: int, seed: int = 0) -> dict:
    """``{name: [resamples] pAUC}`` with the same resampled pairs for every name."""
    from fiqa_plugin.evaluation import compute_edc, pauc, threshold_at_fmr

    rng = np.random.default_rng(seed)
    gen, imp = np.flatnonzero(genuine), np.flatnonzero(~genuine)
    out = {k: np.empty(resamples) for k in sims}
    for r in range(resamples):
        gi, ii = rng.choice(gen, gen.size), rng.choice(imp, imp.size)
        for k in sims:
            t = threshold_at_fmr(sims[k][ii], FMR)
            out[k][r] = pauc(compute_edc(sims[k][gi], np.ones(gi.size, bool), pqs[k][gi], threshold=t), LIMIT)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--speed-images", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--folds", type=int, nargs="+", default=list(range(10)), help="LFW View-2 folds for landmarks and EDC")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--jitter-images", type=int, default=1000)
    ap.add_argument("--max-pairs", type=int, default=0, help="smoke runs: the first N/2 genuine and N/2 impostor pairs only")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    C.set_threads(a.threads)
    from fiqa_plugin.evaluation import compute_edc, pair_quality, pauc
    from fiqa_plugin.faces import FacePipeline
    from fiqa_plugin.imageio import decode_image
    from fiqa_plugin.paths import shared_path
    from fiqa_plugin.plugins import QUALITY_METHODS, RECOGNIZERS
    from fiqa_plugin.scoring import DEFAULT_METHOD

    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; {a.threads} threads\n")
    pipes = {"sized to the image (now)": FacePipeline.from_pack("buffalo_sc", mode="largest"),
             "640×640 letterbox (before)": FacePipeline.from_pack("buffalo_sc", mode="largest", fit_input=False)}
    assert [p.detector.fit_input for p in pipes.values()] == [True, False]
    names = list(pipes)

    # --- speed -------------------------------------------------------------------------------------
    lfw_all = C.load_lfw()
    sets = {"LFW photos (250×250)": [decode_image(p).bgr for p in lfw_all.paths[: a.speed_images]],
            "CelebA loose crops (224×224)": [decode_image(p).bgr for p in
                                             sorted(shared_path("data", "celeba").glob("*/*.jpg"))[: a.speed_images]]}
    times: dict = {}
    for _ in range(a.repeats):
        for s, imgs in sets.items():
            for n, p in pipes.items():
                times.setdefault((s, n), []).append(timed(p.detector.detect, imgs))
    print(f"| images | detector input | images/s (median of {a.repeats}) | runs | CPU ms/image | × letterbox (wall) | × letterbox (CPU) |")
    print("|---|---|---:|---|---:|---:|---:|")
    for s, imgs in sets.items():
        base = times[(s, names[1])]
        bw, bc = np.median([x[0] for x in base]), np.median([x[1] for x in base])
        for n in names:
            w, c = np.median([x[0] for x in times[(s, n)]]), np.median([x[1] for x in times[(s, n)]])
            runs = ", ".join(f"{x[0]:,.0f}" for x in times[(s, n)])
            print(f"| {s}, first {len(imgs)} | {n} | {w:,.1f} | {runs} | {c:.2f} | {w / bw:.2f} | {bc / c:.2f} |")

    lm_speed = {s: [[getattr(largest(pipes[k].detector.detect(im)), "landmarks", None) for im in imgs] for k in names]
                for s, imgs in sets.items()}

    # --- landmarks and EDC on the chosen folds -----------------------------------------------------
    keep = np.isin(lfw_all.fold, a.folds)
    if a.max_pairs:
        keep &= np.concatenate([np.cumsum(keep & lfw_all.genuine)[:, None], np.cumsum(keep & ~lfw_all.genuine)[:, None]], 1)[
            np.arange(len(keep)), (~lfw_all.genuine).astype(int)] <= a.max_pairs // 2
    used = np.unique(lfw_all.pairs[keep])
    remap = -np.ones(len(lfw_all.rel), np.int64)
    remap[used] = np.arange(used.size)
    pairs, genuine = remap[lfw_all.pairs[keep]], lfw_all.genuine[keep]
    q_model = QUALITY_METHODS.create(DEFAULT_METHOD, threads=a.threads)
    rec = RECOGNIZERS.create("buffalo_sc", threads=a.threads)
    n = used.size
    res = {k: dict(ok=np.zeros(n, bool), lm=np.zeros((n, 5, 2), np.float32), crops=np.zeros((n, 112, 112, 3), np.uint8))
           for k in names}
    ref = {"letterbox at 320×320 vs 640×640": [], "letterbox 640×640 on the image shifted by 1 px": []}
    t0 = time.perf_counter()
    for j, i in enumerate(iter_progress(used, n, "detect+align (both)")):
        bgr = decode_image(lfw_all.root / lfw_all.rel[i]).bgr
        for k, p in pipes.items():
            f = p.faces_from_array(bgr)
            if f.ok:
                res[k]["ok"][j], res[k]["lm"][j], res[k]["crops"][j] = True, f.faces[0].landmarks, f.faces[0].aligned
        if j < a.jitter_images and res[names[1]]["ok"][j]:
            det, lm = pipes[names[1]].detector, res[names[1]]["lm"][j]
            h, w = bgr.shape[:2]
            f320 = largest(det._detect_at(bgr, (320, 320), det._letterbox(h, w, (320, 320))))
            f1 = largest(det.detect(cv2.copyMakeBorder(bgr, 1, 0, 1, 0, cv2.BORDER_REPLICATE)))
            for key, f, shift in (("letterbox at 320×320 vs 640×640", f320, 0), ("letterbox 640×640 on the image shifted by 1 px", f1, 1)):
                if f is not None:
                    ref[key].append(mean_iod(f.landmarks - shift, lm))
    both = res[names[0]]["ok"] & res[names[1]]["ok"]
    d = np.linalg.norm(res[names[0]]["lm"] - res[names[1]]["lm"], axis=2)[both]  # [n_both, 5] pixels
    moved = np.array([mean_iod(x, y) for x, y in zip(res[names[0]]["lm"][both], res[names[1]]["lm"][both])])
    print(f"\nLFW folds {a.folds}: {len(pairs)} pairs ({int(genuine.sum())} genuine), {n} images; "
          f"detection + alignment of both took {time.perf_counter() - t0:.0f} s")
    print(f"\nface found by both / only sized / only letterbox / neither: {int(both.sum())} / "
          f"{int((res[names[0]]['ok'] & ~res[names[1]]['ok']).sum())} / {int((~res[names[0]]['ok'] & res[names[1]]['ok']).sum())} / "
          f"{int((~res[names[0]]['ok'] & ~res[names[1]]['ok']).sum())}; landmark distance sized vs letterbox (px), "
          f"median / 99th percentile / max: {np.median(d):.2f} / {np.percentile(d, 99):.2f} / {d.max():.2f}")
    print("\n| largest face's landmarks: mean distance ÷ inter-ocular distance | images | median | 95th pct | 99th pct | max |"
          "\n|---|---:|---:|---:|---:|---:|")
    rows = {f"LFW: sized to the image vs 640×640 letterbox": moved, **{f"LFW reference: {k}": np.array(v) for k, v in ref.items()}}
    for s_, lms in lm_speed.items():
        ok2 = [(x, y) for x, y in zip(*lms) if x is not None and y is not None]
        rows[f"{s_}: sized to the image vs 640×640 letterbox"] = np.array([mean_iod(x, y) for x, y in ok2])
    for k, v in rows.items():
        if len(v):
            print(f"| {k} | {len(v)} | {np.median(v):.4f} | {np.percentile(v, 95):.4f} | {np.percentile(v, 99):.4f} | {v.max():.4f} |")

    sims, pqs = {}, {}
    for k in names:
        ok = res[k]["ok"]
        q = np.full(n, -np.inf)
        q[ok] = q_model.score_crops(res[k]["crops"][ok])
        emb = np.zeros((n, rec.dim), np.float32)
        for s in range(0, int(ok.sum()), 64):
            idx = np.flatnonzero(ok)[s : s + 64]
            emb[idx] = rec.embed(res[k]["crops"][idx]).normed
        a_, b_ = pairs[:, 0], pairs[:, 1]
        sim = np.einsum("ij,ij->i", emb[a_].astype(np.float64), emb[b_].astype(np.float64))
        sim[~(ok[a_] & ok[b_])] = -1.0
        sims[k], pqs[k] = sim, pair_quality(q[a_], q[b_])
    full = {}
    for k in names:
        c = compute_edc(sims[k], genuine, pqs[k], fmr=FMR)
        full[k] = (pauc(c, LIMIT), c.start_error)
    boot = paired_bootstrap(sims, pqs, genuine, a.resamples)
    diff = boot[names[0]] - boot[names[1]]
    print(f"\n| detector input | FNMR at FMR=1e-3 | pAUC (FMR=1e-3, discard ≤ 0.2), {DEFAULT_METHOD} | 95% interval ({a.resamples} resamples) |")
    print("|---|---:|---:|---|")
    for k in names:
        lo, hi = np.percentile(boot[k], [2.5, 97.5])
        print(f"| {k} | {full[k][1]:.4f} | {full[k][0]:.4f} | {lo:.4f} – {hi:.4f} |")
    lo, hi = np.percentile(diff, [2.5, 97.5])
    print(f"| difference (sized − letterbox), paired | {full[names[0]][1] - full[names[1]][1]:+.4f} | "
          f"{full[names[0]][0] - full[names[1]][0]:+.4f} | {lo:+.4f} – {hi:+.4f} |")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())

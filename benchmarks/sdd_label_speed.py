"""SDD-FIQA label generation speed and memory on synthetic clustered embeddings.

    python benchmarks/sdd_label_speed.py                   # 200k × 512-D, ~10k identities, sampled mode
    python benchmarks/sdd_label_speed.py --n 20000 --mode exact
    python benchmarks/sdd_label_speed.py --celeba --mode exact   # real: buffalo_sc embeddings of ../shared/data/celeba

Embeddings: a random unit centre per identity plus Gaussian noise whose level varies per sample
(``σ ~ U(0.3, 2.0)``, so quality varies within identities), re-normalised, float32. Identity sizes
are Poisson around ``n / identities``. Prints a markdown table row: wall time of ``sdd_labels``,
the process's peak RSS (input included) and, in a second run under tracemalloc, the peak of the
memory the labeler itself allocated. Restrict cores with ``taskset -c 0,1``.
"""
from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc

import numpy as np

from fiqa_plugin.labelers.sdd import sdd_labels


def synthetic(n: int, d: int, n_ids: int, seed: int = 0, chunk: int = 16384):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, n_ids, n)
    centres = rng.standard_normal((n_ids, d), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    sigma = rng.uniform(0.3, 2.0, n).astype(np.float32)
    emb = np.empty((n, d), np.float32)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        x = centres[ids[s:e]] + sigma[s:e, None] * rng.standard_normal((e - s, d), dtype=np.float32) / np.sqrt(d)
        emb[s:e] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return emb, ids, sigma


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--ids", type=int, default=10_000)
    ap.add_argument("--mode", default="sampled", choices=["sampled", "exact"])
    ap.add_argument("--m", type=int, default=24)
    ap.add_argument("--k", type=int, default=12)
    ap.add_argument("--no-trace", action="store_true", help="skip the tracemalloc run")
    ap.add_argument("--celeba", action="store_true", help="real CelebA faces (buffalo_sc) instead of synthetic ones")
    args = ap.parse_args()

    if args.celeba:
        from fiqa_plugin.paths import shared_path
        from fiqa_plugin.training.data import embed_folder

        faces = embed_folder(shared_path("data", "celeba"))
        emb, ids = faces.embeddings, faces.identities
        sigma = -sdd_labels(emb, ids, mode="exact", wd_backend="numpy")  # ρ below: agreement with exact labels
        args.n, args.d = emb.shape
    kw = dict(mode=args.mode, m=args.m, k=args.k)
    t0 = time.perf_counter()
    q = sdd_labels(emb, ids, **kw)
    dt = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    traced = "—"
    if not args.no_trace:
        tracemalloc.start()
        sdd_labels(emb, ids, **kw)
        traced = f"{tracemalloc.get_traced_memory()[1] / 2**20:.0f}"
        tracemalloc.stop()
    ok = np.isfinite(q)
    from scipy.stats import spearmanr  # sanity: labels should fall with the noise level

    rho = spearmanr(q[ok], -sigma[ok])[0]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    data = "CelebA (buffalo_sc)" if args.celeba else "synthetic"
    rho_head = "ρ(label, exact label)" if args.celeba else "ρ(label, −σ)"
    print(f"| data | N | d | identities | mode | m | K | cores | time (s) | peak RSS (MB) | labeler peak, tracemalloc (MB) | {rho_head} |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {data} | {args.n} | {args.d} | {len(np.unique(ids))} | {args.mode} | {args.m} | {args.k} | {cores} | {dt:.1f} "
          f"| {rss_mb:.0f} | {traced} | {rho:.3f} |")


if __name__ == "__main__":
    main()

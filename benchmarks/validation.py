"""The CelebA validation protocol: model selection for quality models (LFW is for reporting only).

    python benchmarks/validation.py [--docs] [--resamples 200] [--methods ...] [--no-lfw]
    python benchmarks/validation.py --write-protocol   # (re)draw the identities (seeded; never needed again)

**Protocol.** ``benchmarks/protocols/celeba_val_identities.txt`` lists 200 identities of
``../shared/data/celeba_aligned`` (drawn with seed 0 among those with at least 10 images); every
face of them is held out of all training. Pairs: every genuine pair of their faces, and
``IMPOSTOR_PAIRS`` impostor pairs drawn uniformly (seed 0, no repeats) among faces of different
identities, so FMR=1e-3 rests on 200 impostor scores. The faces are ArcFace-aligned 112×112 crops
and are scored as they are (no detection): quality methods that need landmarks or the detector's
confidence read them from ``index.csv`` (``landmarks_in_source``: head pose is invariant to the
similarity transform that aligned the crop). EDC pAUC at FMR=1e-3 over discard [0, 0.2] and
[0, 0.3] with ``buffalo_sc`` and ``mobilefacenet-128d``, paired bootstrap intervals (genuine and
impostor pairs resampled separately, ``benchmarks/lfw_bootstrap.py``), and a **large-yaw view**:
the genuine pairs in which at least one face has |yaw| >= ``LARGE_YAW`` degrees by its landmarks,
against the same threshold (fixed over all impostors). The rankings of the methods are compared with
LFW's (Spearman and Kendall correlation of the pAUCs), so the protocol's claim to predict is
measured, not assumed. Faces, embeddings and scores are cached under
``$FIQA_CACHE/celeba_val/`` (default ``~/.cache/fiqa/celeba_val``).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from fiqa_plugin.evaluation import harness as C
import lfw_bootstrap as B

REPO = Path(__file__).resolve().parent.parent
PROTOCOL = REPO / "benchmarks" / "protocols" / "celeba_val_identities.txt"
DOC = REPO / "docs" / "validation.md"
CACHE = "celeba_val"
SEED = 0
N_IDENTITIES = 200
MIN_IMAGES = 10
IMPOSTOR_PAIRS = 200_000
LARGE_YAW = 30.0
LIMITS = (0.2, 0.3)
REFERENCES = ("embedding-norm", "lightqnet")


def data_root() -> Path:
    from fiqa_plugin.paths import shared_path

    return shared_path("data", "celeba_aligned")


def read_index(root: Optional[Path] = None) -> List[dict]:
    """Rows of ``celeba_aligned/index.csv`` (path, identity, det_score, landmarks_in_source, ...)."""
    with open((root or data_root()) / "index.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def draw_identities(rows: Sequence[dict], n: int = N_IDENTITIES, seed: int = SEED, min_images: int = MIN_IMAGES) -> List[str]:
    """``n`` identities with at least ``min_images`` faces, drawn with ``seed`` (sorted numerically)."""
    counts: Dict[str, int] = {}
    for r in rows:
        counts[r["identity"]] = counts.get(r["identity"], 0) + 1
    pool = sorted((y for y, c in counts.items() if c >= min_images), key=int)
    pick = np.random.default_rng(seed).choice(len(pool), n, replace=False)
    return sorted((pool[i] for i in pick), key=int)


def read_protocol(path: Path = PROTOCOL) -> List[str]:
    """The validation identities (one CelebA identity number a line; ``#`` comments)."""
    return [ln.strip() for ln in Path(path).read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def write_protocol(path: Path = PROTOCOL) -> List[str]:
    ids = draw_identities(read_index())
    path.parent.mkdir(parents=True, exist_ok=True)
    head = (f"# CelebA validation identities of ../shared/data/celeba_aligned (benchmarks/validation.py):\n"
            f"# {N_IDENTITIES} drawn with numpy default_rng({SEED}) among identities with >= {MIN_IMAGES} faces.\n"
            f"# Every face of these identities is held out of training quality models.\n")
    path.write_text(head + "\n".join(ids) + "\n")
    return ids


def make_pairs(identity: np.ndarray, n_impostor: int = IMPOSTOR_PAIRS, seed: int = SEED) -> Tuple[np.ndarray, np.ndarray]:
    """``(pairs [n, 2], genuine [n])``: every genuine pair, then ``n_impostor`` distinct impostor pairs."""
    ident = np.asarray(identity)
    gen = []
    for y in np.unique(ident):
        m = np.flatnonzero(ident == y)
        a, b = np.triu_indices(len(m), 1)
        gen.append(np.stack([m[a], m[b]], 1))
    gen = np.concatenate(gen)
    rng = np.random.default_rng(seed)
    n = len(ident)
    got: set = set()
    imp = []
    while len(imp) < n_impostor:
        a, b = rng.integers(0, n, (2, 2 * n_impostor))
        for i, j in zip(a.tolist(), b.tolist()):
            if ident[i] == ident[j]:
                continue
            k = (min(i, j), max(i, j))
            if k not in got:
                got.add(k)
                imp.append(k)
                if len(imp) == n_impostor:
                    break
    pairs = np.concatenate([gen, np.asarray(imp, np.int64)])
    return pairs, np.concatenate([np.ones(len(gen), bool), np.zeros(n_impostor, bool)])


def load_set(ids: Optional[Sequence[str]] = None, n_impostor: int = IMPOSTOR_PAIRS) -> Tuple[C.LFWSet, C.FaceCache, np.ndarray]:
    """The validation pairs (an :class:`common.LFWSet` without source images), their faces, and each face's yaw."""
    import cv2

    from fiqa_plugin.quality.measures import head_pose

    root = data_root()
    ids = list(ids if ids is not None else read_protocol())
    keep = set(ids)
    rows = sorted((r for r in read_index(root) if r["identity"] in keep), key=lambda r: r["path"])
    rel = [r["path"] for r in rows]
    landmarks = np.array([[float(v) for v in r["landmarks_in_source"].split()] for r in rows], np.float32).reshape(-1, 5, 2)
    det = np.array([float(r["det_score"]) for r in rows], np.float32)
    key = C.cache_key("celeba-val-faces-v2", hashlib.sha1("\n".join(rel).encode()).hexdigest())
    with C.using_cache(CACHE):
        store = C.ImageStore(C.cache_root() / "crops", key)
        todo = store.missing(rel)
        if todo:
            crops = np.stack([cv2.imread(str(root / r), cv2.IMREAD_COLOR) for r in todo])
            store.add(todo, {"crops": crops})
        crops = store.take(rel)["crops"]
    n = len(rel)
    fc = C.FaceCache(rel, np.full(n, "ok", dtype="<U16"), crops, det, landmarks, np.zeros((n, 4), np.float32), key)
    ident = np.array([r["identity"] for r in rows])
    pairs, genuine = make_pairs(ident, n_impostor)
    vs = C.LFWSet(None, rel, pairs, genuine, np.zeros(len(pairs), np.int64))
    yaw = np.array([head_pose(lm)[0] for lm in landmarks])
    return vs, fc, yaw


def subset(vs: C.LFWSet, keep_genuine: np.ndarray) -> C.LFWSet:
    """The genuine pairs where ``keep_genuine`` and every impostor pair (the threshold stays the same)."""
    sel = ~vs.genuine | keep_genuine
    return C.LFWSet(vs.root, vs.rel, vs.pairs[sel], vs.genuine[sel], vs.fold[sel])


def large_yaw_pairs(vs: C.LFWSet, yaw: np.ndarray) -> np.ndarray:
    """Per pair: at least one of its faces has |yaw| >= :data:`LARGE_YAW` degrees."""
    return (np.abs(yaw[vs.pairs[:, 0]]) >= LARGE_YAW) | (np.abs(yaw[vs.pairs[:, 1]]) >= LARGE_YAW)


def rank_agreement(a: Dict[str, float], b: Dict[str, float]) -> Tuple[float, float, int]:
    """Spearman and Kendall correlation of two methods → pAUC maps over their shared methods."""
    from scipy.stats import kendalltau, spearmanr

    names = sorted(set(a) & set(b))
    x, y = [a[n] for n in names], [b[n] for n in names]
    return float(spearmanr(x, y)[0]), float(kendalltau(x, y)[0]), len(names)


def ci_table(full: Dict[float, Dict[str, float]], boot: Dict[float, Dict[str, np.ndarray]], refs: Sequence[str]) -> str:
    """pAUC at each limit with its 95% interval, and paired Δ to each reference at [0, 0.3] and [0, 0.2]."""
    refs = [r for r in refs if r in boot[LIMITS[0]]]
    head = ["method"] + [f"pAUC [0,{lim}] (95% CI)" for lim in LIMITS] + \
           [f"Δ vs {r} [0,{lim}] (95% CI)" for r in refs for lim in LIMITS]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    order = sorted(full[LIMITS[1]], key=lambda m: (full[LIMITS[1]][m], m))
    for m in order:
        cells = [m]
        for lim in LIMITS:
            lo, hi = np.percentile(boot[lim][m], [2.5, 97.5])
            cells.append(f"{full[lim][m]:.4f} ({lo:.4f}–{hi:.4f})")
        for r in refs:
            for lim in LIMITS:
                if r == m:
                    cells.append("–")
                    continue
                dl, dh = np.percentile(boot[lim][m] - boot[lim][r], [2.5, 97.5])
                flag = " ✓" if dh < 0 else ""
                cells.append(f"{full[lim][m] - full[lim][r]:+.4f} [{dl:+.4f}, {dh:+.4f}]{flag}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def evaluate_view(sim: np.ndarray, vs: C.LFWSet, qualities: Dict[str, np.ndarray], rand: Sequence[np.ndarray],
                  rec: str, resamples: int, show: bool):
    """Point pAUCs (incl. random and the best) and bootstrap samples of every method's pAUC."""
    from fiqa_plugin.evaluation import pair_quality

    res = C.evaluate_recognizer(sim, vs, qualities, rand, rec)
    a, b = vs.pairs[:, 0], vs.pairs[:, 1]
    pair_qs = {m: pair_quality(q[a], q[b]) for m, q in qualities.items()}
    boot = B.bootstrap_paucs(sim, vs.genuine, pair_qs, resamples, LIMITS, 1e-3, seed=SEED, show=show)
    full = {lim: {m: res.rows[m][f"pauc3_{int(lim * 100)}"] for m in qualities} for lim in LIMITS}
    return res, full, boot


def run(methods: Optional[Sequence[str]] = None, resamples: int = 200, show: bool = True, seeds: int = 10):
    """Everything the report needs: per recognizer, the all-pairs and large-yaw views."""
    vs, fc, yaw = load_set()
    with C.using_cache(CACHE):
        qualities, skipped = C.score_methods(fc, vs, C.method_names(methods), show)
        rand = [C.random_scores(fc, s) for s in range(seeds)]
        large = large_yaw_pairs(vs, yaw)
        views = {"all pairs": vs, f"large yaw (≥{LARGE_YAW:g}°)": subset(vs, large & vs.genuine)}
        out = {}
        for rec in C.RECOGNIZERS:
            sim = C.similarities(fc, vs, rec, show)
            for view, s in views.items():
                keep = ~vs.genuine | (large & vs.genuine) if s is not vs else np.ones(len(sim), bool)
                out[(rec, view)] = evaluate_view(sim[keep], s, qualities, rand, rec, resamples, show)
    return vs, fc, yaw, large, out, skipped


def lfw_paucs(methods: Sequence[str], show: bool) -> Dict[str, Dict[float, Dict[str, float]]]:
    """LFW pAUCs of the same methods (from the LFW benchmark's cache), per recognizer and limit."""
    _, _, results, _ = C.run_lfw(methods=methods, seeds=10, show=show)
    return {rec: {lim: {m: r.rows[m][f"pauc3_{int(lim * 100)}"] for m in methods if m in r.rows} for lim in LIMITS}
            for rec, r in results.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write-protocol", action="store_true", help="draw the identities again and write the protocol file")
    ap.add_argument("--methods", nargs="*", default=None, help="quality methods (default: every registered one)")
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--no-lfw", action="store_true", help="skip the comparison with LFW's ranking")
    ap.add_argument("--reference", nargs="+", default=list(REFERENCES),
                    help="methods every other one is compared with (paired bootstrap Δ columns)")
    ap.add_argument("--docs", action="store_true", help="write the tables to docs/validation.md")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.write_protocol:
        ids = write_protocol()
        print(f"wrote {PROTOCOL} ({len(ids)} identities)")
        return 0
    C.set_threads(args.threads)
    show = not args.no_progress
    t0 = time.perf_counter()
    vs, fc, yaw, large, out, skipped = run(args.methods, args.resamples, show)
    n_gen, n_imp = int(vs.genuine.sum()), int((~vs.genuine).sum())
    n_large = int((large & vs.genuine).sum())
    cmd = "python benchmarks/validation.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    parts = [f"## CelebA validation protocol\n\nProduced by:\n\n```\n{cmd.strip()}\n```\n",
             f"{len(read_protocol())} identities, {len(fc.rel)} faces, {n_gen} genuine and {n_imp} impostor pairs "
             f"(FMR=1e-3 allows {n_imp // 1000} impostor matches); {int((np.abs(yaw) >= LARGE_YAW).sum())} faces with "
             f"|yaw| ≥ {LARGE_YAW:g}° (landmark estimate), in {n_large} genuine pairs. pAUC at FMR=1e-3 (lower is better) "
             f"with 95% bootstrap intervals ({args.resamples} resamples); Δ = method − reference on the same resamples, "
             "✓ = the interval of Δ lies below zero. See the module docstring of `benchmarks/validation.py` for the "
             "protocol." + (" Skipped: " + "; ".join(f"`{k}` ({v})" for k, v in skipped.items()) + "." if skipped else "")
             + "\n"]
    for (rec, view), (res, full, boot) in out.items():
        table = ci_table(full, boot, args.reference)
        rnd = next(k for k in res.rows if k.startswith("random"))
        extra = ", ".join(f"{k}: {res.rows[k]['pauc3_20']:.4f} / {res.rows[k]['pauc3_30']:.4f}" for k in (rnd, "theoretical best"))
        text = f"### {rec}, {view}\n\n{table}\n\n([0,0.2] / [0,0.3]) {extra}; FNMR at no discard {res.rows[rnd]['fnmr3']:.4f}.\n"
        print("\n" + text)
        parts.append(text)
    if not args.no_lfw:
        names = [m for m in out[(C.RECOGNIZERS[0], "all pairs")][1][LIMITS[0]]]
        with C.using_cache("lfw"):
            lfw = lfw_paucs(names, show)
        lines = ["| recognizer | view | discard | Spearman | Kendall | methods |", "|---|---|---|---:|---:|---:|"]
        for (rec, view), (_, full, _) in out.items():
            for lim in LIMITS:
                rho, tau, n = rank_agreement(full[lim], lfw[rec][lim])
                lines.append(f"| {rec} | {view} | [0, {lim}] | {rho:.2f} | {tau:.2f} | {n} |")
        text = ("### Does the protocol rank methods as LFW does?\n\nRank correlation of the methods' pAUC (FMR=1e-3) "
                "here with their LFW pAUC (`benchmarks/lfw_edc.py`, same recognizer and discard range).\n\n"
                + "\n".join(lines) + "\n")
        print("\n" + text)
        parts.append(text)
    print(f"({time.perf_counter() - t0:.0f} s)")
    if args.docs:
        C.update_doc_section(DOC, "validation", "\n".join(parts),
                             header="# CelebA validation protocol\n\nModel selection for the quality models uses this "
                                    "protocol only; LFW (docs/lfw_benchmark.md) is for reporting.\n")
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

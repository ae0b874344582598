"""SDD regressor and label optimisation on LFW: baseline vs optimised scores vs a head trained on
optimised labels, judged by the labelling recognizer (buffalo_sc) and an independent one
(mobilefacenet-128d).

    python benchmarks/label_optimization.py [--methods tinyfqnet blur pose lightqnet sdd-regressor]
        [--sdd-run runs/sdd] [--docs]
    python benchmarks/label_optimization.py --protocol validation [--docs]   # the new data (see below)

For each base method ``B``:

* **baseline**: ``B``'s LFW scores (``fiqa_plugin/evaluation/harness.py`` caches);
* **optimised θ (LFW, transductive)**: ``B``'s LFW scores refined by ``optimize_scores`` with the
  buffalo_sc embeddings and the LFW identities of the 7,701 benchmark images. This uses the test
  identities, so it is an upper reference, not a deployable method;
* **head (CelebA-optimised θ)**: ``B`` scores the clean CelebA training faces, ``optimize_scores``
  refines them with the CelebA identities (buffalo_sc embeddings), and a Babnik transfer head
  (``fiqa_plugin/training/embedding_head.py``) learns the refined labels from the raw buffalo_sc
  embeddings; it then scores LFW from the embeddings alone (no LFW identities);
* **head (CelebA, B's own labels)**: the same head trained on ``B``'s unrefined CelebA scores, so
  the effect of the optimisation is separated from that of the head.

``sdd-regressor`` scores come from the run folder ``--sdd-run`` (its ``best.pt``, else ``last.pt``) applied to the
cached recognizer features at the cut (no ONNX needed); LFW features at the cut are cached under
``$FIQA_CACHE/lfw/``. Metric: pAUC of the EDC at FMR=1e-3 over discard [0, 0.2] (lower is better).

``--protocol validation`` asks the same two questions on the pre-aligned faces and the CelebA
validation protocol (``benchmarks/validation.py``; LFW plays no part), with bootstrap intervals:

* **the labels' own EDC**: each base method's scores of the validation faces, refined by
  ``optimize_scores`` with the validation identities (transductive, as the LFW column), against the
  unrefined scores;
* **a model trained on them**: base labels of the clean ``celeba_aligned`` training faces (outside the
  validation identities) — the leave-one-out ``cos+cr-both`` recipe of ``benchmarks/accurate_tier.py``
  and the base methods' scores — refined with the training identities, then learned by the accurate
  tier's ridge regression on ``buffalo_sc``'s pooled last-stage input + raw embedding (standardised,
  λ = 1000; the distillation teacher of the shipped crop models) and by a Babnik transfer head (MLP on the
  raw embedding); each model scores the validation faces and is compared with the same model trained on
  the unrefined labels (paired resamples).
"""
from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Dict

import numpy as np

from fiqa_plugin.evaluation import harness as C
from fiqa_plugin.progress import iter_progress

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "sdd_and_optimization.md"
log = logging.getLogger("fiqa.benchmarks.labelopt")



def _report(table: str, section: str, t0: float, docs: bool) -> None:
    """Print ``table`` and the run time; with ``docs``, write it with its command into ``section`` of the doc."""
    cmd = "python benchmarks/label_optimization.py " + " ".join(shlex.quote(a) for a in sys.argv[1:] if a != "--docs")
    print(table)
    print(f"\n({time.time() - t0:.0f} s)")
    if docs:
        C.update_doc_section(DOC, section, f"Command: `{cmd}`\n\n{table}\n", header=_DOC_HEADER)
        print(f"wrote {DOC}")

def lfw_cut_features(fc: C.FaceCache, show: bool = True):
    """buffalo_sc features at the SDD regressor's cut for every ok LFW face, cached (float16)."""
    import onnx

    from fiqa_plugin.plugins import RECOGNIZERS
    from fiqa_plugin.training.sdd_regressor import find_split, prefix_features

    path = RECOGNIZERS.create(C.QUALITY_RECOGNIZER, threads=1).model_path
    split = find_split(onnx.load(path))
    key = C.cache_key("cut-v2", C.file_key(path), split.cut, fc.key)
    store = C.ImageStore(C.cache_root() / f"cut_{C.safe_name(C.QUALITY_RECOGNIZER)}_{C.safe_name(split.cut)}", key)
    todo = [r for r in store.missing(fc.rel)]
    if todo:
        pos = {r: i for i, r in enumerate(fc.rel)}
        rows = np.array([pos[r] for r in todo])
        feats = None
        ok = np.flatnonzero(fc.ok[rows])
        bar = iter_progress(None, len(ok), "LFW cut features", show) if show else None
        f, _ = prefix_features(path, split, fc.crops[rows[ok]], threads=1,
                               progress=(lambda d, t: bar.update(d - bar.n)) if bar is not None else None)
        feats = np.zeros((len(todo),) + f.shape[1:], np.float16)
        feats[ok] = f
        store.add(todo, {"features": feats})
    return store.take(fc.rel)["features"], split, path


def sdd_scores(run: Path, features: np.ndarray, split, rec_path: str, ckpt_name: str = "") -> np.ndarray:
    """The SDD regressor of a ``fiqa train --arch sdd-regressor`` run folder on cut features
    (checkpoint ``ckpt_name``, default ``best.pt`` — the best held-out CelebA epoch — else ``last.pt``)."""
    import torch

    from fiqa_plugin.training.sdd_regressor import SDDRegressor, predict

    ckpt = run / (ckpt_name or ("best.pt" if (run / "best.pt").exists() else "last.pt"))
    state = torch.load(ckpt, weights_only=False)
    model = SDDRegressor(rec_path, split, features.shape[1:])
    model.load_state_dict(state["model"])
    return predict(model, features).astype(np.float64)


def lfw_identities(lfw: C.LFWSet) -> np.ndarray:
    return np.array([r.split(os.sep)[0] for r in lfw.rel])


def celeba_base_scores(names, fs_clean_crops, faces_paths, feature_set, sdd_run, split, rec_path, show=True,
                       sdd_ckpt: str = "") -> Dict[str, np.ndarray]:
    """Scores of the base methods on the clean CelebA training faces (cached per method)."""
    from fiqa_plugin.faces.pipeline import FacePipeline
    from fiqa_plugin.plugins import QUALITY_METHODS
    from fiqa_plugin.quality.base import CropQualityMethod

    out = {}
    cache = C.cache_root().parent / "celeba"
    cache.mkdir(parents=True, exist_ok=True)
    key = C.cache_key("celeba-q-v1", str(len(faces_paths)), faces_paths[0], faces_paths[-1])
    n = len(faces_paths)
    for name in names:
        if name == "sdd-regressor":
            out[name] = sdd_scores(sdd_run, feature_set.features[:n], split, rec_path, sdd_ckpt)
            continue
        m = QUALITY_METHODS.create(name)
        store = C.ImageStore(cache / f"q_{C.safe_name(name)}", C.method_key(m, name, key))
        if not store.missing(faces_paths):
            out[name] = store.take(faces_paths)["q"]
            continue
        if isinstance(m, CropQualityMethod):
            q = np.concatenate([m.score_crops(fs_clean_crops[s : s + 256]) for s in range(0, n, 256)])
        else:  # pose needs the detector's landmarks: detect again (the faces cache keeps only crops)
            pipe = FacePipeline.from_pack("buffalo_sc", mode="largest")
            q = np.full(n, np.nan)
            for i, path in enumerate(iter_progress(faces_paths, n, f"CelebA {name}", show)):
                r = pipe.process(path)
                if r.ok:
                    q[i] = float(m.score_faces([r.faces[0]])[0])
        store.add(faces_paths, {"q": np.asarray(q, np.float64)})
        out[name] = np.asarray(q, np.float64)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", choices=("lfw", "validation"), default="lfw",
                    help="lfw: the LFW tables (CelebA-trained heads); validation: the pre-aligned faces and the "
                         "CelebA validation protocol, with bootstrap intervals")
    ap.add_argument("--resamples", type=int, default=200, help="bootstrap resamples (--protocol validation)")
    ap.add_argument("--methods", nargs="+", default=["tinyfqnet", "blur", "pose", "lightqnet", "sdd-regressor"])
    ap.add_argument("--sdd-run", default="runs/sdd", help="run folder of `fiqa train --arch sdd-regressor`")
    ap.add_argument("--sdd-ckpt", default="", help="checkpoint in --sdd-run (default best.pt, else last.pt)")
    ap.add_argument("--thetas", type=float, nargs="+", default=[0.001, 0.5],
                    help="θ values of the optimisation (0.001: the paper's; larger: stronger refinement)")
    ap.add_argument("--head-epochs", type=int, default=60)
    ap.add_argument("--docs", action="store_true", help=f"write the tables into {DOC.relative_to(REPO)}")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    C.set_threads(1)
    if args.protocol == "validation":
        run_validation(args)
        return
    import torch

    torch.set_num_threads(1)
    from fiqa_plugin.labelers import optimize_scores
    from fiqa_plugin.paths import shared_path
    from fiqa_plugin.training.data import embed_folder
    from fiqa_plugin.training.embedding_head import HeadTrainConfig, normalise_labels, predict_head, train_head
    from fiqa_plugin.training.sdd_regressor import build_feature_set

    show = not args.no_progress
    t0 = time.time()
    lfw = C.load_lfw()
    fc = C.build_faces(lfw, show=show)
    base = [m for m in args.methods if m != "sdd-regressor"]
    lfw_q, _ = C.score_methods(fc, lfw, base, show)
    normed, norms = C.build_embeddings(fc, C.QUALITY_RECOGNIZER, show)
    raw_lfw = normed * norms[:, None]
    sdd_run = Path(args.sdd_run)
    feats, split, rec_path = None, None, None
    if "sdd-regressor" in args.methods:
        feats, split, rec_path = lfw_cut_features(fc, show)
        q = sdd_scores(sdd_run, feats, split, rec_path, args.sdd_ckpt)
        q[~fc.ok] = -np.inf
        lfw_q["sdd-regressor"] = q
    sims = {r: C.similarities(fc, lfw, r, show) for r in C.RECOGNIZERS}

    # CelebA: clean faces, their raw buffalo_sc embeddings (the feature set's first block) and base scores
    root = shared_path("data", "celeba")
    faces = embed_folder(root, "buffalo_sc", C.QUALITY_RECOGNIZER, 1)
    fs, split_c = build_feature_set(root, C.QUALITY_RECOGNIZER, degrade_copies=2, profile="v2", seed=0, threads=1)
    n = len(faces.crops)
    raw_c, ids_c = fs.embeddings[:n], faces.identities
    celeba_q = celeba_base_scores(args.methods, faces.crops, faces.paths, fs, sdd_run, split_c,
                                  rec_path or C.RECOGNIZERS[0], show, args.sdd_ckpt)

    ids_lfw = lfw_identities(lfw)
    ok = fc.ok
    rows = {}
    for name in args.methods:
        q = lfw_q[name]
        variants = {"baseline": q}
        qc = celeba_q[name]
        good = np.isfinite(qc)
        labels = {"head (CelebA, own labels)": qc}
        for th in args.thetas:
            qo = q.copy()
            qo[ok] = optimize_scores(q[ok], normed[ok], ids_lfw[ok], theta=th)
            variants[f"optimised θ={th:g} (LFW, transductive)"] = qo
            lab_opt = np.full(n, np.nan)
            lab_opt[good] = optimize_scores(qc[good], faces.embeddings[good], ids_c[good], theta=th)
            labels[f"head (CelebA-optimised θ={th:g})"] = lab_opt
        for label, lab in labels.items():
            head, hist = train_head(raw_c, normalise_labels(lab), ids_c, HeadTrainConfig(epochs=args.head_epochs))
            h = predict_head(head, raw_lfw).astype(np.float64)
            h[~ok] = -np.inf
            variants[label] = h
            log.info("%s %s: val SRCC %.3f", name, label, hist[-1].get("val_srcc", float("nan")))
        rows[name] = {}
        for v, qq in variants.items():
            for r in C.RECOGNIZERS:
                m, _ = C.evaluate(sims[r], lfw.genuine, _pair_q(qq, lfw))
                rows[name][(v, r)] = m["pauc3_20"]
    ref = {}
    for r in C.RECOGNIZERS:
        for extra in ("embedding-norm",):
            q2, _ = C.score_methods(fc, lfw, [extra], show)
            m, _ = C.evaluate(sims[r], lfw.genuine, _pair_q(q2[extra], lfw))
            ref[(extra, r)] = m["pauc3_20"]
    _report(_table(rows, ref), "label-optimization", t0, args.docs)


def training_faces_cache(faces) -> C.FaceCache:
    """The clean training faces of ``celeba_aligned`` as a face cache (crops as they are; landmarks and
    detector confidence from ``index.csv``), so quality methods score them as the validation faces."""
    import validation as V
    from fiqa_plugin.training.aligned import index_columns

    root = V.data_root()
    rel = [str(Path(p).resolve().relative_to(root.resolve())) for p in faces.paths]
    cols = index_columns(root, [str(p) for p in faces.paths])
    n = len(rel)
    key = C.cache_key("celeba-train-faces-v1", str(n), rel[0], rel[-1])
    return C.FaceCache(rel, np.full(n, "ok", dtype="<U16"), faces.crops, cols["det_score"].astype(np.float32),
                       cols["landmarks"].astype(np.float32), np.zeros((n, 4), np.float32), key)


def run_validation(args) -> None:
    """``--protocol validation``: see the module docstring."""
    import accurate_features as AF
    import accurate_tier as AT
    import lfw_bootstrap as B
    import validation as V
    from fiqa_plugin.labelers import optimize_scores
    from fiqa_plugin.training.aligned import aligned_faces
    from fiqa_plugin.training.embedding_head import normalise_labels

    show = not args.no_progress
    t0 = time.time()
    methods = [m for m in args.methods if m != "sdd-regressor"] + (["sdd-regressor"] if "sdd-regressor" in args.methods else [])
    # validation faces: pairs, similarities, unit buffalo_sc embeddings, identities, the base methods' scores
    vs, fc, _ = V.load_set()
    with C.using_cache(V.CACHE):
        sims = {r: C.similarities(fc, vs, r, show) for r in C.RECOGNIZERS}
        normed_v, norms_v = C.build_embeddings(fc, C.QUALITY_RECOGNIZER, show)
        q_val, _ = C.score_methods(fc, vs, methods, show)
    ids_v = np.array([r.split("/")[0] for r in fc.rel])
    # training faces (clean, validation identities left out): recognizer outputs, base labels
    a = AF.load(0, 1)
    faces = aligned_faces(V.data_root(), exclude=V.read_protocol())
    if len(faces.paths) != len(a["copy"]) or list(map(str, faces.paths)) != list(map(str, a["paths"])):
        raise SystemExit("accurate_features' training faces differ from aligned_faces(): rerun accurate_features.py")
    with C.using_cache("celeba_train"):
        q_tr, _ = C.score_methods(training_faces_cache(faces), vs, methods, show)
    ids_t = a["identities"]
    unit_t = AT.unit(a["buffalo_sc/embedding"]).astype(np.float32)
    base_t = {"cos+cr-both (labels)": AT.recipes(AT.base_labels(a, ["cos", "cr"]), ["cos", "cr"])["cos+cr-both"]}
    base_t.update({m: np.where(np.isfinite(q_tr[m]), q_tr[m], np.nan) for m in methods})
    # model inputs: ridge on pool+emb (standardised), Babnik head on the raw embedding
    x = AT.head_inputs("pool+emb", a["buffalo_sc/embedding"], a["buffalo_sc/pooled"])
    mu, sd = AT.standardiser(x)
    x = (x - mu) / sd
    vx = AT.head_inputs("pool+emb", (normed_v * norms_v[:, None]), AF.validation_outputs(1)["pooled"])
    vx = (vx - mu) / sd
    raw_t, raw_v = a["buffalo_sc/embedding"].astype(np.float32), (normed_v * norms_v[:, None]).astype(np.float32)

    variants: Dict[str, Dict[str, np.ndarray]] = {}  # group → {variant: validation scores}
    for m in methods:
        g = variants.setdefault(f"{m}: scores (transductive)", {})
        q = q_val[m]
        ok = np.isfinite(q)
        g["unrefined"] = q
        for th in args.thetas:
            qo = q.copy()
            qo[ok] = optimize_scores(q[ok], normed_v[ok], ids_v[ok], theta=th)
            g[f"optimised θ={th:g}"] = qo
    for name, y in base_t.items():
        good = np.isfinite(y)
        labs = {"unrefined": y}
        for th in args.thetas:
            yo = np.full(len(y), np.nan)
            yo[good] = optimize_scores(y[good], unit_t[good], ids_t[good], theta=th)
            labs[f"optimised θ={th:g}"] = yo
        for model in ("ridge", "head"):
            g = variants.setdefault(f"{name}: {model} trained on them", {})
            for v, lab in labs.items():
                if model == "ridge":
                    g[v] = AT.predict(AT.train_ridge(x, AT.pct_rank(lab), 1000.0), vx).astype(np.float64)
                else:
                    g[v] = AT.predict(AT.train_heads(raw_t, normalise_labels(lab), ids_t, [0], args.head_epochs, 128),
                                      raw_v).astype(np.float64)
                log.info("%s / %s / %s: %s", name, model, v, AT.val_paucs(g[v], vs, sims))
    from fiqa_plugin.evaluation import pair_quality

    a_, b_ = vs.pairs[:, 0], vs.pairs[:, 1]
    flat = {f"{g}|{v}": q for g, vv in variants.items() for v, q in vv.items()}
    pq = {k: pair_quality(q[a_], q[b_]) for k, q in flat.items()}
    full = {r: {k: AT.val_paucs(q, vs, {r: sims[r]}) for k, q in flat.items()} for r in C.RECOGNIZERS}
    boot = {r: B.bootstrap_paucs(sims[r], vs.genuine, pq, args.resamples, V.LIMITS, 1e-3, seed=V.SEED, show=show)
            for r in C.RECOGNIZERS}
    ref = {r: AT.val_paucs(norms_v.astype(np.float64), vs, {r: sims[r]}) for r in C.RECOGNIZERS}
    _report(_validation_table(variants, full, boot, ref), "label-optimization-validation", t0, args.docs)


def _validation_table(variants, full, boot, ref) -> str:
    """Per recognizer: each group's variants, pAUC at [0, 0.2] / [0, 0.3] with 95% intervals, and the paired
    Δ to the group's unrefined variant (✓ = the interval lies below zero, ✗ = above)."""
    import accurate_tier as AT
    import validation as V

    lines = []
    for r in C.RECOGNIZERS:
        s = AT.SHORT[r]
        lines.append(f"\n**{r}** (pAUC, EDC at FMR=1e-3, validation protocol; lower is better; embedding-norm: "
                     f"{ref[r][f'{s}@0.2']:.4f} / {ref[r][f'{s}@0.3']:.4f})\n")
        head = ["base / what is judged", "variant"] + [f"pAUC [0,{lim}] (95% CI)" for lim in V.LIMITS] + \
               [f"Δ vs unrefined [0,{lim}] (95% CI)" for lim in V.LIMITS]
        lines += ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
        for g, vv in variants.items():
            for v in vv:
                k = f"{g}|{v}"
                cells = [g, v]
                for lim in V.LIMITS:
                    lo, hi = np.percentile(boot[r][lim][k], [2.5, 97.5])
                    cells.append(f"{full[r][k][f'{s}@{lim}']:.4f} ({lo:.4f}–{hi:.4f})")
                for lim in V.LIMITS:
                    if v == "unrefined":
                        cells.append("–")
                        continue
                    d = boot[r][lim][k] - boot[r][lim][f"{g}|unrefined"]
                    dl, dh = np.percentile(d, [2.5, 97.5])
                    flag = " ✓" if dh < 0 else " ✗" if dl > 0 else ""
                    cells.append(f"{full[r][k][f'{s}@{lim}'] - full[r][f'{g}|unrefined'][f'{s}@{lim}']:+.4f} "
                                 f"[{dl:+.4f}, {dh:+.4f}]{flag}")
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pair_q(q: np.ndarray, lfw: C.LFWSet) -> np.ndarray:
    from fiqa_plugin.evaluation import pair_quality

    return pair_quality(q[lfw.pairs[:, 0]], q[lfw.pairs[:, 1]])


def _table(rows, ref) -> str:
    variants = list(next(iter(rows.values())).keys())
    variants = list(dict.fromkeys(v for v, _ in variants))
    lines = []
    for r in C.RECOGNIZERS:
        lines.append(f"\n**{r}** (pAUC, EDC at FMR=1e-3, discard [0, 0.2]; lower is better; "
                     f"embedding-norm: {ref[('embedding-norm', r)]:.4f})\n")
        lines.append("| base method | " + " | ".join(variants) + " |")
        lines.append("|---|" + "---:|" * len(variants))
        for name, vals in rows.items():
            lines.append(f"| {name} | " + " | ".join(f"{vals[(v, r)]:.4f}" for v in variants) + " |")
    return "\n".join(lines)


_DOC_HEADER = """# SDD-FIQA regressor and label optimisation

Generated sections below are rewritten by the commands written in them.
"""

if __name__ == "__main__":
    main()

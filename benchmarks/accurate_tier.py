"""Label and recipe selection for the accurate tier, on the CelebA validation protocol only (never LFW).

    python benchmarks/accurate_tier.py [--copies 1] [--kinds cos cr sdd] [--input pool+emb+ln] [--model ridge]
                                       [--seeds 0 1 2] [--export DIR --pick NAME --tag TAG]

For every label recipe (centre cosine, certainty ratio (CR-FIQA), SDD; from ``buffalo_sc``,
``mobilefacenet-128d`` or both; fusions = mean of percentile ranks), a head is trained on the
training faces of ``benchmarks/accurate_features.py`` and judged by its pAUC (FMR=1e-3, discard
[0, 0.2] and [0, 0.3]) on the validation pairs of ``benchmarks/validation.py`` with both
recognizers. ``--input`` is what the head reads (:func:`head_inputs`: ``buffalo_sc``'s raw embedding,
optionally its last-stage input pooled and the log norm; inputs other than ``emb`` are standardised);
``--model`` an MLP (:mod:`fiqa_plugin.training.embedding_head`, mean of ``--seeds``) or a closed-form
ridge regression. Labels are leave-one-out: centres are the clean faces of each identity, and a face
(or a degraded copy) leaves its clean original out of its own centre. ``--export`` writes the picked
recipe as ``embedding-head.<tag>.onnx/.json`` composed with ``buffalo_sc`` (the pooling, log norm and
standardisation computed inside the head's graph: :func:`feature_module`).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Dict, Sequence

import numpy as np

import accurate_features as AF
from fiqa_plugin.evaluation import harness as C
import validation as V

log = logging.getLogger("fiqa.benchmarks")
SHORT = {"buffalo_sc": "bsc", "mobilefacenet-128d": "mfn", "sface-128d": "sf"}
#: Recognizers that judge a recipe: the two of the validation protocol, plus SFace, which no label recipe here
#: uses (a stand-in for the recognizers a user brings that the labels never saw).
JUDGES = ("buffalo_sc", "mobilefacenet-128d", "sface-128d")
LICENSE = ("non-commercial research only: trained on CelebA images, on InsightFace buffalo_sc features, with labels "
           "from buffalo_sc and mobilefacenet-128d")


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


#: What a head reads, "+"-joined parts in this order: ``grid`` (the last-stage input averaged over 3×3
#: blocks, accurate_features.grid_pool), ``pool`` (its mean ‖ max over 7×7), ``emb`` (the raw embedding)
#: and ``ln`` (the log of the embedding's norm).
PARTS = ("grid", "pool", "emb", "ln")
INPUTS = ("emb", "pool+emb", "pool+emb+ln", "grid+pool+emb+ln")


def head_inputs(kind: str, embedding: np.ndarray, pooled=None, grid=None) -> np.ndarray:
    """The vector a head reads (see :data:`PARTS`); ``emb`` alone is the raw embedding, norm included."""
    parts = kind.split("+")
    got = {"grid": grid, "pool": pooled, "emb": embedding,
           "ln": np.log(np.linalg.norm(embedding, axis=1, keepdims=True)) if "ln" in parts else None}
    return np.concatenate([np.asarray(got[p], np.float32) for p in PARTS if p in parts], 1)


def standardiser(x: np.ndarray):
    """Per-column mean and std of ``x`` (``pool+emb``: the pooled activations and the embedding differ in scale)."""
    mu = x.mean(0).astype(np.float32)
    return mu, np.maximum(x.std(0), 1e-6).astype(np.float32)


def pct_rank(q: np.ndarray) -> np.ndarray:
    """Percentile ranks on (0, 1) of the finite values (NaN stays NaN)."""
    from fiqa_plugin.training.data import rank_labels

    out = np.full(len(q), np.nan)
    ok = np.isfinite(q)
    out[ok] = rank_labels(q[ok])
    return out


def base_labels(a: Dict[str, np.ndarray], kinds: Sequence[str]) -> Dict[str, np.ndarray]:
    """``{"<kind>-<rec>": labels}`` for every kind and recognizer (leave-one-out, clean centres)."""
    from fiqa_plugin.labelers.certainty import certainty_ratio_labels
    from fiqa_plugin.labelers.sdd import sdd_labels
    from fiqa_plugin.labelers.center import center_labels  # Eq. 1 with the copy-aware leave-one-out exclusion

    clean = a["copy"] == -1
    exclude = a["source"]  # clean face i is row i: every copy leaves its clean original out of its centre
    out = {}
    for rec in AF.RECOGNIZERS:
        e = unit(a[f"{rec}/embedding"]).astype(np.float32)
        ids = a["identities"]
        for k in kinds:
            t0 = time.time()
            if k == "cos":
                q = center_labels(e, ids, center_mask=clean, exclude=exclude, mapping="none")
            elif k == "cr":
                q = certainty_ratio_labels(e, ids, center_mask=clean, exclude=exclude)
            elif k == "sdd":
                q = sdd_labels(e, ids, mode="sampled", seed=0, wd_backend="numpy")
            else:
                raise ValueError(k)
            out[f"{k}-{SHORT[rec]}"] = q
            log.info("labels %s-%s: %.1f s", k, SHORT[rec], time.time() - t0)
    return out


def fuse(labels: Dict[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    return np.nanmean(np.stack([pct_rank(labels[n]) for n in names]), 0)


def recipes(labels: Dict[str, np.ndarray], kinds: Sequence[str]) -> Dict[str, np.ndarray]:
    r = {k: pct_rank(v) for k, v in labels.items()}
    for k in kinds:
        r[f"{k}-both"] = fuse(labels, [f"{k}-bsc", f"{k}-mfn"])
    if {"cos", "cr"} <= set(kinds):
        r["cos+cr-both"] = fuse(labels, ["cos-bsc", "cos-mfn", "cr-bsc", "cr-mfn"])
    if {"cr", "sdd"} <= set(kinds):
        r["cr+sdd-both"] = fuse(labels, ["cr-bsc", "cr-mfn", "sdd-bsc", "sdd-mfn"])
    return r


def val_inputs(kind: str = "emb", references: Sequence[str] = ("lightqnet",)):
    """Validation faces' raw ``buffalo_sc`` embeddings, the head inputs ``kind`` of them, per recognizer the
    pair similarities (and, as ``"<rec>-yaw"``, those of the protocol's large-yaw view, ``NaN`` elsewhere), and
    ``{method: scores}`` of the ``references`` (registered methods shown as reference rows)."""
    vs, fc, yaw = V.load_set()
    with C.using_cache(V.CACHE):
        normed, norms = C.build_embeddings(fc, "buffalo_sc", show=False)
        sims = {rec: C.similarities(fc, vs, rec, show=False) for rec in JUDGES}
        refs = C.score_methods(fc, vs, list(references), show=False)[0]
    keep = ~vs.genuine | V.large_yaw_pairs(vs, yaw)  # the large-yaw view: its genuine pairs and every impostor pair
    for rec in JUDGES:
        sims[f"{rec}-yaw"] = np.where(keep, sims[rec], np.nan)
    emb = (normed * norms[:, None]).astype(np.float32)
    parts = kind.split("+")
    pooled = AF.validation_outputs()["pooled"] if "pool" in parts else None
    grid = AF.validation_grid() if "grid" in parts else None
    return vs, emb, head_inputs(kind, emb, pooled, grid), sims, refs


#: The synthetic-edit view: this share of the validation faces is replaced by a degraded copy (training profile
#: ``v2``, a seed no training copy uses), so pairs mix clean and degraded faces, as in benchmarks of synthetic edits.
EDIT_SHARE, EDIT_SEED = 0.15, 7


def edited_val_inputs(kind: str = "emb", references: Sequence[str] = ("lightqnet",)):
    """:func:`val_inputs` of the synthetic-edit view (``buffalo_sc`` and ``mobilefacenet-128d`` judge; SFace,
    at ~0.1 s per face, is left out), with the ``references`` scored on the edited crops; recognizer passes cached."""
    from types import SimpleNamespace

    from fiqa_plugin.plugins import QUALITY_METHODS
    from fiqa_plugin.training.aligned import recognizer_outputs
    from fiqa_plugin.training.data import v2_copy

    vs, fc, _ = V.load_set()
    crops = fc.crops.copy()
    pick = np.random.default_rng(EDIT_SEED).random(len(crops)) < EDIT_SHARE
    crops[pick] = v2_copy(SimpleNamespace(crops=crops[pick]), EDIT_SEED, 0)[0]
    key = ["aligned-val-edit-v1", fc.rel, EDIT_SHARE, EDIT_SEED]
    run, path, _ = AF.buffalo_runner(2)
    bsc = recognizer_outputs("aligned-val-edit-buffalo_sc", crops, run, key + [str(path)])
    mrun, mpath = AF.other_runner("mobilefacenet-128d", 2)
    embs = {"buffalo_sc": bsc["embedding"],
            "mobilefacenet-128d": recognizer_outputs("aligned-val-edit-mfn", crops, mrun, key + [str(mpath)])["embedding"]}
    a, b = vs.pairs[:, 0], vs.pairs[:, 1]
    sims = {rec: np.einsum("ij,ij->i", unit(e)[a].astype(np.float64), unit(e)[b].astype(np.float64))
            for rec, e in embs.items()}
    refs = {m: np.asarray(QUALITY_METHODS.create(m).score_crops(crops), np.float64) for m in references}
    emb = bsc["embedding"].astype(np.float32)
    return vs, emb, head_inputs(kind, emb, bsc["pooled"] if "pool" in kind else None), sims, refs


def val_paucs(q: np.ndarray, vs, sims) -> Dict[str, float]:
    from fiqa_plugin.evaluation import compute_edc, pair_quality, pauc

    pq = pair_quality(q[vs.pairs[:, 0]], q[vs.pairs[:, 1]])
    out = {}
    for rec, s in sims.items():
        ok = np.isfinite(s)
        c = compute_edc(s[ok], vs.genuine[ok], pq[ok], fmr=1e-3)
        name = SHORT[rec.removesuffix("-yaw")] + ("-yaw" if rec.endswith("-yaw") else "")
        for lim in V.LIMITS:
            out[f"{name}@{lim}"] = pauc(c, lim)
    return out


def train_heads(x: np.ndarray, y: np.ndarray, ids: np.ndarray, seeds: Sequence[int], epochs: int, hidden: int):
    from fiqa_plugin.training.embedding_head import HeadTrainConfig, train_head

    models = []
    for s in seeds:
        cfg = HeadTrainConfig(epochs=epochs, hidden=hidden, seed=s, val_fraction=0.0, threads=1)  # a small MLP: one thread
        models.append(train_head(x, y, ids, cfg)[0])
    return models


def train_ridge(x: np.ndarray, y: np.ndarray, lam: float):
    """Ridge regression on standardised inputs (the bias unpenalised), as a ``torch.nn.Linear``."""
    import torch

    ok = np.isfinite(y)
    xo, yo = x[ok].astype(np.float64), y[ok].astype(np.float64)
    xm, ym = xo.mean(0), yo.mean()
    w = np.linalg.solve((xo - xm).T @ (xo - xm) + lam * np.eye(x.shape[1]), (xo - xm).T @ (yo - ym))
    lin = torch.nn.Linear(x.shape[1], 1)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(w[None].astype(np.float32)))
        lin.bias.fill_(float(ym - xm @ w))
    return [lin.eval()]


def predict(models, x: np.ndarray) -> np.ndarray:
    from fiqa_plugin.training.embedding_head import predict_head

    return np.mean([predict_head(m, x) for m in models], 0)


def feature_module(kind: str, model, mu: np.ndarray, sd: np.ndarray):
    """``(features [N, C, 7, 7] at the recognizer's cut, raw embedding [N, d]) → quality [N, 1]``: the parts
    of :func:`head_inputs` computed in the graph (as ``accurate_features`` computed them), standardised,
    then ``model``."""
    import torch
    from torch import nn

    parts = kind.split("+")

    class FeatureHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = model
            self.register_buffer("mu", torch.from_numpy(mu))
            self.register_buffer("sd", torch.from_numpy(sd))

        def forward(self, features: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
            xs = []
            if "grid" in parts:
                xs += [features[:, :, r0:r1, c0:c1].mean((2, 3)) for r0, r1 in AF.GRID for c0, c1 in AF.GRID]
            if "pool" in parts:
                xs += [features.mean((2, 3)), features.amax((2, 3))]
            if "emb" in parts:
                xs.append(embedding)
            if "ln" in parts:
                xs.append(torch.log(torch.linalg.vector_norm(embedding, dim=1, keepdim=True)))
            return self.head((torch.cat(xs, 1) - self.mu) / self.sd)

    return FeatureHead().eval()


def export(args, a: Dict[str, np.ndarray], models, y: np.ndarray, paucs: Dict[str, float], cmd: str, std) -> None:
    """The picked recipe as ``embedding-head.<tag>``: the mean of the seed heads, composed with ``buffalo_sc``
    (registered as the arch's default, ``embedding-head``)."""
    import warnings

    import onnx
    import torch

    from fiqa_plugin.plugins import RECOGNIZERS
    from fiqa_plugin.training.export import export_onnx, write_config
    from fiqa_plugin.training.sdd_regressor import MeanRegressor, find_split

    rec_path = RECOGNIZERS.create("buffalo_sc", threads=1).model_path
    split = find_split(onnx.load(rec_path))
    model = (models[0] if len(models) == 1 else MeanRegressor(models)).eval()
    n_clean = int((a["copy"] == -1).sum())
    d = a["buffalo_sc/embedding"].shape[1]
    labels = (f"recipe {args.pick}: percentile ranks of leave-one-out labels on {len(y)} samples ({n_clean} clean "
              f"celeba_aligned faces outside the validation identities + {len(y) - n_clean} degraded copies)")
    out = Path(args.export)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"embedding-head.{args.tag}"
    if args.input == "emb":
        what = "MLP on buffalo_sc's raw embedding"
        inputs = {"embedding": split.embedding}
        export_onnx(model, out / f"{stem}.onnx", example=torch.zeros(2, d), input_name="embedding")
    else:
        what = f"{'ridge regression' if args.model == 'ridge' else 'MLP'} on buffalo_sc's {args.input} features"
        inputs = {"features": split.cut, "embedding": split.embedding}
        c = a["buffalo_sc/pooled"].shape[1] // 2
        wrapped = feature_module(args.input, model, *std)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapped, (torch.rand(2, c, 7, 7), torch.rand(2, d)), str(out / f"{stem}.onnx"),
                              input_names=["features", "embedding"], output_names=["quality"],
                              dynamic_axes={"features": {0: "batch"}, "embedding": {0: "batch"}, "quality": {0: "batch"}},
                              opset_version=17, do_constant_folding=True, dynamo=False)
        onnx.checker.check_model(onnx.load(str(out / f"{stem}.onnx")))
    write_config(out / f"{stem}.json", "embedding-head", args.tag, f"{stem}.onnx", 112, 127.5, 127.5,
                 f"accurate tier: {what} ({args.pick} labels" + (f", mean of {len(models)} seeds" if args.model == "mlp" else "")
                 + "); composed with buffalo_sc",
                 True, {"labels": labels, "recognizer": "buffalo_sc", "seeds": list(args.seeds) if args.model == "mlp" else [],
                        "input": args.input, "model": args.model,
                        "command": f"python benchmarks/accurate_tier.py {cmd}", "validation_pauc": paucs,
                        "license": LICENSE},
                 score_range=(0.0, 1.0), batch_size=64,
                 compose={"recognizer": "buffalo_sc", "recognizer_file": Path(rec_path).name, "inputs": inputs})
    log.info("exported %s", out / f"{stem}.onnx")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--kinds", nargs="+", default=["cos", "cr"])
    ap.add_argument("--only", nargs="*", default=None, help="recipes to train (default: all)")
    ap.add_argument("--input", choices=INPUTS, default="emb", help="what the head reads (see head_inputs)")
    ap.add_argument("--model", choices=("mlp", "ridge"), default="mlp")
    ap.add_argument("--ridge-lambda", type=float, default=1000.0, help="ridge penalty (standardised inputs)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/accurate_tier.json"))
    ap.add_argument("--export", type=Path, help="export the recipe --pick (mean of --seeds heads) into this folder")
    ap.add_argument("--pick", help="the recipe to export")
    ap.add_argument("--tag", default="celeba2-r1")
    ap.add_argument("--cached-only", action="store_true", help="use only the training faces already embedded")
    ap.add_argument("--references", nargs="+", default=["lightqnet"],
                    help="registered crop methods shown as reference rows (embedding-norm always is)")
    ap.add_argument("--edited", action="store_true",
                    help="judge on the synthetic-edit view of the validation protocol (edited_val_inputs)")
    args = ap.parse_args(argv)
    if args.export and not args.pick:
        ap.error("--export needs --pick (a recipe chosen on the validation table)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    C.set_threads(2)
    a = AF.load(args.copies, 2, cached_only=args.cached_only)
    log.info("training samples: %d (%d identities)", len(a["copy"]), len(np.unique(a["identities"])))
    labels = base_labels(a, args.kinds)
    rs = recipes(labels, args.kinds)
    if args.edited and "grid" in args.input:
        ap.error("--edited has no grid features")
    vs, ev, xv, sims, refs = (edited_val_inputs if args.edited else val_inputs)(args.input, args.references)
    rows = {"embedding-norm (reference)": val_paucs(np.linalg.norm(ev, axis=1), vs, sims)}
    for m, q in refs.items():
        rows[f"{m} (reference)"] = val_paucs(q, vs, sims)
    x = head_inputs(args.input, a["buffalo_sc/embedding"], a.get("buffalo_sc/pooled"),
                    AF.load_grid(args.copies) if "grid" in args.input else None)
    std = None
    if args.input != "emb":
        std = standardiser(x)
        x, xv = (x - std[0]) / std[1], (xv - std[0]) / std[1]
    cmd = " ".join(sys.argv[1:] if argv is None else argv)
    for name, y in rs.items():
        if (args.only and name not in args.only) or (args.export and name != args.pick):
            continue
        t0 = time.time()
        models = train_ridge(x, y, args.ridge_lambda) if args.model == "ridge" else \
            train_heads(x, y, a["identities"], args.seeds, args.epochs, args.hidden)
        rows[name] = val_paucs(predict(models, xv), vs, sims)
        log.info("%s: %s (%.0f s)", name, rows[name], time.time() - t0)
        if args.export:
            export(args, a, models, y, rows[name], cmd, std)
            return 0
    cols = list(next(iter(rows.values())))
    print(f"input {args.input}, model {args.model}" + (f" (lambda {args.ridge_lambda:g})" if args.model == "ridge" else
          f", seeds {args.seeds}") + f", {len(a['copy'])} training samples")
    print("| recipe | " + " | ".join(cols) + " |\n|---|" + "---:|" * len(cols))
    for n, r in sorted(rows.items(), key=lambda kv: kv[1][cols[1]]):
        print(f"| {n} | " + " | ".join(f"{r[c]:.4f}" for c in cols) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                                    "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

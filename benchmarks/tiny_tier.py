"""The tiny tier: a small crop model trained on the new pre-aligned faces, chosen on the validation protocol.

    python benchmarks/tiny_tier.py --labels cr-both --out runs/tiny-cr-both [--copies 1] [--epochs 10]
    python benchmarks/tiny_tier.py --teacher embedding-head.celeba2-r1 --out runs/tiny-distil
    python benchmarks/tiny_tier.py --export fiqa_plugin/weights --run runs/tiny-cr-both --name mbv2_t1_w025_h256 \
        --tag celeba2-r1 [--card-tables benchmarks/out/tiny_card.md]

Training samples: the ``celeba_aligned`` faces outside the validation identities
(``benchmarks/protocols/celeba_val_identities.txt``), fed as the ArcFace-aligned 112×112 crops they
are (no detection), clean plus ``--copies`` degraded copies (``v2``, seed 0: the same copies whose
recognizer outputs ``benchmarks/accurate_features.py`` caches). Labels, either

* ``--labels RECIPE``: a label recipe of ``benchmarks/accurate_tier.py`` (leave-one-out centre cosine
  ``cos``, certainty ratio ``cr``, per recognizer ``-bsc``/``-mfn`` or fused over both ``-both`` as the
  mean of percentile ranks; ``cos+cr-both``), computed from the cached recognizer outputs; or
* ``--teacher METHOD``: the percentile ranks of a shipped embedding head's score of each sample
  (its ONNX file run on the cached raw ``buffalo_sc`` embedding, so no recognizer pass is repeated).

``--yaw-oversample K`` repeats the clean faces whose landmark yaw (``index.csv``) is at least
``--yaw`` degrees K times in every epoch (the pose-aware variant: the held-out benchmarks say the
misses are turned heads). The model (``--arch``/``--arch-kwargs``, default the MobileNetV2 t=1 w=0.25
head 256 of the current default) is trained by :func:`fiqa_plugin.training.train.train` at
``--input-size`` px; after every epoch it is judged on the validation protocol (EDC pAUC, FMR=1e-3,
discard [0, 0.3], with ``buffalo_sc`` and ``mobilefacenet-128d``), and the epoch with the lowest mean
of the two is kept (``best.pt``; ``selection.json`` has every epoch's numbers and LightQNet's). LFW
plays no part. ``--export`` writes the kept epoch as ``<name>.<tag>.onnx/.json`` (+ ``.md`` when
``--card-tables`` gives the card's result tables).
"""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Dict

import numpy as np

import accurate_features as AF
import accurate_tier as AT
from fiqa_plugin.evaluation import harness as C
import validation as V

log = logging.getLogger("fiqa.benchmarks")
LICENSE = ("non-commercial research only: trained on CelebA images with labels from InsightFace buffalo_sc "
           "and MobileFaceNet-128d")


def teacher_scores(teacher: str, embeddings: np.ndarray) -> np.ndarray:
    """A shipped embedding head's scores from raw embeddings (its ONNX file run alone, as composed)."""
    from fiqa_plugin.onnx_session import make_session
    from fiqa_plugin.plugins import QUALITY_METHODS

    cfg = QUALITY_METHODS.entry(teacher).tags["config"]
    sess = make_session(str(cfg.model_path), threads=2)
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: embeddings[s : s + 4096]})[0].reshape(-1)
                           for s in range(0, len(embeddings), 4096)])


def recipe_labels(a: Dict[str, np.ndarray], recipe: str) -> np.ndarray:
    """The percentile-rank labels of ``recipe`` (a name of :func:`accurate_tier.recipes`)."""
    kinds = sorted({k for part in recipe.split("-")[0].split("+") for k in [part]})
    return AT.recipes(AT.base_labels(a, kinds), kinds)[recipe]


def ridge_teacher(a: Dict[str, np.ndarray], recipe: str, lam: float = 1000.0, folds: int = 5, seed: int = 0):
    """Out-of-fold scores of a ridge regression of ``recipe``'s labels on ``buffalo_sc``'s pooled last-stage
    input and raw embedding (the accurate tier's ``pool+emb`` input, standardised): each sample is scored by
    a ridge fitted on the other identities' folds, so the crop model learns what the recognizer's features
    generalise to, not the training labels' noise. Also returns the ridge fitted on everything (to check it
    on the validation protocol)."""
    x = np.concatenate([a["buffalo_sc/pooled"], a["buffalo_sc/embedding"]], 1).astype(np.float64)
    mu, sd = x.mean(0), np.maximum(x.std(0), 1e-6)
    x = (x - mu) / sd
    y = recipe_labels(a, recipe)
    ok = np.isfinite(y)
    ids = np.unique(a["identities"])
    fold_of = dict(zip(ids, np.random.default_rng(seed).permutation(len(ids)) % folds))
    fold = np.array([fold_of[i] for i in a["identities"]])

    def fit(rows):
        xm, ym = x[rows], y[rows]
        w = np.linalg.solve(xm.T @ xm + lam * np.eye(x.shape[1]), xm.T @ (ym - ym.mean()))
        return w, ym.mean()

    out = np.full(len(y), np.nan)
    for f in range(folds):
        w, b = fit(ok & (fold != f))
        out[fold == f] = x[fold == f] @ w + b
    w, b = fit(ok)
    return out, (lambda feats: ((feats - mu) / sd) @ w + b)


def yaws(paths: np.ndarray) -> np.ndarray:
    """Landmark yaw (degrees) of each training face, from ``celeba_aligned/index.csv``."""
    from fiqa_plugin.quality.measures import head_pose
    from fiqa_plugin.training.aligned import index_columns

    lm = index_columns(V.data_root(), [str(p) for p in paths])["landmarks"]
    return np.array([head_pose(x)[0] for x in lm], np.float32)


def training_set(args, a: Dict[str, np.ndarray]):
    """The :class:`TrainingSet` of every cached sample (copy −1 = the clean face) at ``--input-size``."""
    from fiqa_plugin.training.aligned import aligned_faces
    from fiqa_plugin.training.data import TrainingSet, resize_crops, v2_copy

    faces = aligned_faces(V.data_root(), exclude=V.read_protocol())
    copy, source = a["copy"], a["source"]
    crops = np.zeros((len(copy), args.input_size, args.input_size, 3), np.uint8)
    desc = np.full(len(copy), "", dtype=object)
    for c in np.unique(copy):
        rows = np.flatnonzero(copy == c)
        if c < 0:
            crops[rows] = resize_crops(faces.crops[source[rows]], args.input_size)
            continue
        dc, dd = v2_copy(faces, 0, int(c))
        crops[rows] = resize_crops(dc[source[rows]], args.input_size)
        desc[rows] = dd[source[rows]]
    if args.teacher and args.teacher.startswith("ridge:"):
        q, full = ridge_teacher(a, args.teacher.split(":", 1)[1])
        val = AF.validation_outputs(args.threads)
        vs, _, sims = val_sims()
        args.teacher_val = val_paucs(full(np.concatenate([val["pooled"], val["embedding"]], 1).astype(np.float64)), vs, sims)
        log.info("teacher %s (fitted on every training sample) on the validation protocol: %s", args.teacher,
                 args.teacher_val)
        labels = AT.pct_rank(q)
    elif args.teacher:
        labels = AT.pct_rank(teacher_scores(args.teacher, a["buffalo_sc/embedding"]))
    else:
        labels = recipe_labels(a, args.labels)
    keep = np.isfinite(labels)
    idx = np.flatnonzero(keep)
    if args.yaw_oversample > 1:
        yaw = yaws(faces.paths)
        turned = idx[(copy[idx] < 0) & (np.abs(yaw[source[idx]]) >= args.yaw)]
        log.info("pose-aware: %d clean faces with |yaw| >= %g° repeated %d×", len(turned), args.yaw, args.yaw_oversample)
        idx = np.concatenate([idx] + [turned] * (args.yaw_oversample - 1))
    log.info("training samples: %d (%d clean, %d identities; %d without a label left out)", len(idx),
             int((copy[idx] < 0).sum()), len(np.unique(a["identities"][idx])), int((~keep).sum()))
    return TrainingSet(crops[idx], labels[idx].astype(np.float32), a["identities"][idx].astype(np.int32),
                       source[idx].astype(np.int32), desc[idx].astype(str), faces.names,
                       AT.unit(a["buffalo_sc/embedding"][idx]).astype(np.float32)), faces


def val_sims():
    """The validation pairs and, per recognizer, their similarities (cached with ``benchmarks/validation.py``)."""
    vs, fc, _ = V.load_set()
    with C.using_cache(V.CACHE):
        sims = {rec: C.similarities(fc, vs, rec, show=False) for rec in C.RECOGNIZERS}
    return vs, fc, sims


val_paucs = AT.val_paucs  # pAUC (FMR=1e-3) at each discard limit, per recognizer (``bsc@0.3`` …)


def reference_paucs(vs, fc, sims) -> Dict[str, Dict[str, float]]:
    """Validation-protocol pAUCs of LightQNet and the current default (the numbers to beat)."""
    from fiqa_plugin.plugins import QUALITY_METHODS

    out = {}
    for m in ("lightqnet", "mbv2_t1_w025_h256.celeba-r1"):
        q = QUALITY_METHODS.create(m, threads=2).score_crops(fc.crops)
        out[m] = val_paucs(np.asarray(q, np.float64), vs, sims)
    return out


def init_from_onnx(model, onnx_path: Path, crops_bgr: np.ndarray) -> float:
    """Load a shipped crop model's weights (BatchNorm folded into its convolutions by the exporter) into
    ``model`` of the same architecture; each BatchNorm gets the statistics its convolution's output has on
    ``crops_bgr`` and the affine that makes it reproduce the folded layer, so training resumes from the same
    function. Returns max |torch − onnxruntime| on ``crops_bgr``."""
    import onnx
    import torch
    from onnx import numpy_helper

    from fiqa_plugin.onnx_session import make_session
    from fiqa_plugin.training.train import to_input

    g = onnx.load(str(onnx_path)).graph
    init = {t.name: numpy_helper.to_array(t).copy() for t in g.initializer}
    convs = [(init[n.input[1]], init[n.input[2]]) for n in g.node if n.op_type == "Conv"]
    gemm = next(n for n in g.node if n.op_type == "Gemm")
    pairs = []
    mods = list(model.modules())
    for i, m in enumerate(mods):
        if isinstance(m, torch.nn.Conv2d):
            bn = mods[i + 1]
            assert isinstance(bn, torch.nn.BatchNorm2d), "every convolution is followed by its BatchNorm"
            pairs.append((m, bn))
    if len(pairs) != len(convs):
        raise ValueError(f"{onnx_path}: {len(convs)} convolutions, the model has {len(pairs)}")
    stats = {}
    with torch.no_grad():
        for (conv, bn), (w, b) in zip(pairs, convs):
            conv.weight.copy_(torch.from_numpy(w))
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(b))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
        model.fc.weight.copy_(torch.from_numpy(init[gemm.input[1]]).reshape(model.fc.weight.shape))
        model.fc.bias.copy_(torch.from_numpy(init[gemm.input[2]]).reshape(-1))
        hooks = [conv.register_forward_hook(lambda mod, inp, out, k=k: stats.__setitem__(
            k, (out.mean((0, 2, 3)), out.var((0, 2, 3), unbiased=False)))) for k, (conv, _) in enumerate(pairs)]
        model.eval()
        x = to_input(crops_bgr)
        ref = model(x).reshape(-1).numpy()
        for h in hooks:
            h.remove()
        for k, (_, bn) in enumerate(pairs):
            mu, var = stats[k]
            bn.running_mean.copy_(mu)
            bn.running_var.copy_(var)
            bn.bias.add_(mu)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
        got = model(x).reshape(-1).numpy()
    sess = make_session(str(onnx_path), threads=2)
    want = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0].reshape(-1)
    log.info("initialised from %s: max |torch − onnx| %.2e (before the BatchNorm statistics %.2e)", onnx_path,
             float(np.abs(got - want).max()), float(np.abs(ref - want).max()))
    return float(np.abs(got - want).max())


def run_training(args) -> int:
    import torch

    from fiqa_plugin.training.data import resize_crops
    from fiqa_plugin.training.train import TrainConfig, build_model, predict, train

    torch.set_num_threads(args.threads)
    a = AF.load(args.copies, args.threads, cached_only=args.cached_only)
    ts, _ = training_set(args, a)
    vs, fc, sims = val_sims()
    refs = reference_paucs(vs, fc, sims)
    log.info("references on the validation protocol: %s", refs)
    val_crops = resize_crops(fc.crops, args.input_size)
    best: Dict = {"score": np.inf, "epochs": [], "references": refs, "args": vars(args) | {"out": str(args.out)},
                  "teacher_val": getattr(args, "teacher_val", None), "n_samples": len(ts.labels), "n_clean": int((ts.degradation == "").sum())}
    cfg = TrainConfig(arch=args.arch, arch_kwargs=json.loads(args.arch_kwargs), input_size=args.input_size,
                      epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_step=args.lr_step,
                      threads=args.threads, sampling="none", val_fraction=0.02, seed=args.seed,
                      rank_weight=args.rank_weight)
    t0 = time.time()

    def on_epoch(epoch, rec):
        # train() has just written this epoch's checkpoint: score it on the validation protocol
        model = build_model(cfg.arch, **cfg.arch_kwargs)
        model.load_state_dict(torch.load(args.out / "last.pt", weights_only=False)["model"])
        p = val_paucs(predict(model, val_crops), vs, sims)
        score = (p["bsc@0.3"] + p["mfn@0.3"]) / 2
        best["epochs"].append({"epoch": epoch, "score": score, **p, "train_mse": rec["train_mse"],
                               "minutes": (time.time() - t0) / 60})
        log.info("epoch %d validation protocol: %s (mean @0.3 %.5f)", epoch, {k: round(v, 5) for k, v in p.items()}, score)
        if score < best["score"]:
            best.update(score=score, epoch=epoch, paucs=p)
            torch.save(model.state_dict(), args.out / "best.pt")
        (args.out / "selection.json").write_text(json.dumps(best, indent=1, default=float) + "\n")

    args.out.mkdir(parents=True, exist_ok=True)
    resume = False
    if args.init_from:
        # train() builds its own model: hand it the initial weights as an "epoch 0" checkpoint to resume from
        from dataclasses import asdict

        from fiqa_plugin.plugins import QUALITY_METHODS
        from fiqa_plugin.training.checkpoint import Checkpoint

        torch.manual_seed(cfg.seed)
        model = build_model(cfg.arch, **cfg.arch_kwargs)
        src = QUALITY_METHODS.entry(args.init_from).tags["config"].model_path
        clean = np.flatnonzero(ts.degradation == "")
        best["init_parity"] = init_from_onnx(model, Path(src), ts.crops[clean[:: max(1, len(clean) // 1024)]])
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.StepLR(opt, cfg.lr_step, cfg.lr_gamma)
        Checkpoint(args.out, asdict(cfg)).save(-1, [], model=model, optimizer=opt, scheduler=sched)
        p = val_paucs(predict(model, val_crops), vs, sims)
        best["epochs"].append({"epoch": 0, "score": (p["bsc@0.3"] + p["mfn@0.3"]) / 2, **p, "train_mse": float("nan"),
                               "minutes": 0.0})
        log.info("epoch 0 (initial weights) validation protocol: %s", p)
        resume = True
    (args.out / "command.txt").write_text("python benchmarks/tiny_tier.py " + " ".join(shlex.quote(x) for x in args.argv) + "\n")
    train(ts, cfg, args.out, resume=resume, progress=False, on_epoch_end=on_epoch)
    print(json.dumps({k: best[k] for k in ("score", "epoch", "paucs", "references")}, default=float))
    return 0


def fmt(p: Dict[str, float]) -> str:
    """``buffalo_sc 0.0320 / 0.0297, mobilefacenet-128d …`` ([0, 0.2] / [0, 0.3])."""
    return ", ".join(f"{rec} {p[f'{s}@0.2']:.4f} / {p[f'{s}@0.3']:.4f}" for rec, s in AT.SHORT.items()) + \
        " (pAUC FMR=1e-3, discard [0, 0.2] / [0, 0.3])"


def run_export(args) -> int:
    """The kept epoch of ``--run`` as ``<name>.<tag>`` (ONNX + config, and the card when tables are given)."""
    import torch

    from fiqa_plugin.quality.onnx_model import OnnxQualityModel
    from fiqa_plugin.training.export import export_model, onnx_parity, write_card
    from fiqa_plugin.training.train import build_model

    sel = json.loads((args.run / "selection.json").read_text())
    r = sel["args"]
    kw = json.loads(r["arch_kwargs"])
    model = build_model(r["arch"], **kw)
    model.load_state_dict(torch.load(args.run / "best.pt", weights_only=True))
    model.eval()
    labels = f"teacher:{r['teacher']}" if r.get("teacher") else r["labels"]
    what = (f"distilled from a ridge regression of leave-one-out {r['teacher'].split(':', 1)[1]} labels on "
            "buffalo_sc's features" if (r.get("teacher") or "").startswith("ridge:") else
            f"regressor of {labels} scores" if r.get("teacher") else f"regressor of leave-one-out {labels} labels")
    summary = (f"tiny tier: {r['arch']}{' ' + str(kw) if kw else ''} at {r['input_size']} px, {what} (buffalo_sc + mobilefacenet-128d), "
               "trained on celeba_aligned, epoch chosen on the validation protocol")
    paths = export_model(model, args.export, args.name, args.tag, r["input_size"], 127.5, 127.5, summary,
                         default=args.default,
                         extra={"labels": labels, "recognizer": "buffalo_sc+mobilefacenet-128d", "arch_kwargs": kw,
                                "training_data": "celeba_aligned minus benchmarks/protocols/celeba_val_identities.txt",
                                "validation_pauc_fmr1e-3": sel["paucs"], "epoch": sel["epoch"], "license": LICENSE})
    _, fc, _ = V.load_set()
    from fiqa_plugin.training.data import resize_crops

    small = resize_crops(fc.crops[:256], r["input_size"])
    parity = onnx_parity(model, paths["onnx"], small)
    q = OnnxQualityModel.from_config(paths["json"], threads=2).score_crops(fc.crops)
    vs, _, sims = val_sims()
    p = val_paucs(np.asarray(q, np.float64), vs, sims)
    size = paths["onnx"].stat().st_size
    print(f"exported {args.name}.{args.tag}: {paths['onnx']} ({size:,} bytes); parity {parity:.2e}; "
          f"validation protocol of the ONNX file: {p} (torch at selection: {sel['paucs']})")
    if args.card_tables:
        cmd = (args.run / "command.txt").read_text().strip()
        rows = "\n".join(f"| {e['epoch']} | {e['train_mse']:.5f} | {e['bsc@0.2']:.4f} | {e['bsc@0.3']:.4f} | "
                         f"{e['mfn@0.2']:.4f} | {e['mfn@0.3']:.4f} |" for e in sel["epochs"])
        n_clean = f" ({sel['n_samples']:,} samples, {sel['n_clean']:,} of them clean faces)" if "n_samples" in sel else ""
        recipe = r["teacher"].split(":", 1)[1] if (r.get("teacher") or "").startswith("ridge:") else r["labels"]
        recipe_text = (f"recipe `{recipe}` of `benchmarks/accurate_tier.py`: leave-one-out labels (identity centres = mean "
             "of the clean faces; a face and its copies leave their clean original out of its own centre) from the "
             "raw embeddings of `buffalo_sc` and `mobilefacenet-128d`; `cos` = cosine to the own centre (Peng et al. "
             "Eq. 1), `cr` = certainty ratio (CR-FIQA: cosine to the own centre relative to the nearest other "
             "centre); `-both` = the mean of the percentile ranks over both recognizers (`+`: over both kinds too).")
        teacher_text = ""
        if (r.get("teacher") or "").startswith("ridge:"):
            tv = sel.get("teacher_val")
            teacher_text = ("Distilled: the training targets are the percentile ranks of out-of-fold scores (5 folds of "
                            "whole identities, seed 0) of a ridge regression (λ = 1000) on `buffalo_sc`'s pooled "
                            "last-stage input (mean ‖ max over 7×7) and raw embedding, standardised (the accurate "
                            "tier's `pool+emb` input), fitted to the labels below; each sample is scored by a ridge "
                            "that never saw its identity"
                            + (f". The ridge fitted on every training sample scores {fmt(tv)} on the validation protocol"
                               if tv else "") + ". Labels the ridge was fitted to: ")
        elif r.get("teacher"):
            teacher_text = f"Distilled: percentile ranks of `{r['teacher']}`'s scores of each sample. Its labels: "
        start = (f"warm start from `{r['init_from']}` (its ONNX weights; every BatchNorm rebuilt from the folded "
                 "convolution with the statistics of about 1,000 clean training crops, so epoch 0 is that model exactly), "
                 if r.get("init_from") else "")
        write_card(paths["md"], f"{args.name}.{args.tag}", [
            ("What it is", f"{summary}. Input: the aligned 112×112 ArcFace crop resized to {r['input_size']}×"
                           f"{r['input_size']} (INTER_AREA, inside the graph when loaded), RGB, (x − 127.5) / 127.5, NCHW; "
                           f"output: one score in (0, 1), higher = better for recognition. ONNX file: {size:,} bytes. "
                           + (f"Registered as `{args.name}.{args.tag}` and, as its architecture's default "
                              f"(`\"default\": true`), as `{args.name}`." if args.default else
                              f"Registered as `{args.name}.{args.tag}` only (`\"default\": false`: the plain "
                              f"`{args.name}` and the package default stay what they were).")),
            ("Data", f"`../shared/data/celeba_aligned` (ArcFace-aligned 112×112 crops, used as they are: no detection) "
                     f"minus the 200 validation identities of `benchmarks/protocols/celeba_val_identities.txt`; "
                     + (f"each face clean plus {r['copies']} degraded copies (profile v2, seed 0, "
                        "`fiqa_plugin.training.data.v2_copy`), each copy passed through both recognizers so its label "
                        "stays recognition-true" if r["copies"] else "the clean faces only") +
                     f"{n_clean}. 2% of the training identities are held out inside the trainer (its own diagnostics "
                     "only)." + (f" The warm-start model `{r['init_from']}` was trained on `../shared/data/celeba` "
                                 "(other identities) with degraded copies; see its card." if r.get("init_from") else "")
                     + (f" Clean faces with landmark |yaw| ≥ {r['yaw']:g}° repeated {r['yaw_oversample']}× per epoch."
                        if r.get("yaw_oversample", 1) > 1 else "")),
            ("Labels", teacher_text + (recipe_text if teacher_text else recipe_text[0].upper() + recipe_text[1:])),
            ("Training", f"`fiqa_plugin.training.train.train`: L2 regression, no sampling, " + start + f"SGD lr {r['lr']}, momentum 0.9, "
                         f"×0.1 every {r['lr_step']} epochs, batch {r['batch_size']}, weight decay 1e-4, flips, "
                         + (f"plus {r['rank_weight']} × the in-batch pairwise ranking loss, " if r.get("rank_weight") else "")
                         + f"seed "
                         f"{r['seed']}, {r['epochs']} epochs; after each epoch the model is scored on the validation "
                         "protocol (`benchmarks/validation.py`: 200 held-out CelebA identities) and the epoch with the "
                         f"lowest mean pAUC (FMR=1e-3, [0, 0.3], both recognizers) is kept: epoch {sel['epoch']}. "
                         f"max |torch − onnxruntime| on 256 validation crops: {parity:.2e}.\n\nReproduce:\n\n```\n{cmd}\n"
                         f"python benchmarks/tiny_tier.py --export {args.export} --run {args.run} --name {args.name} "
                         f"--tag {args.tag}{' --default' if args.default else ''} --card-tables RESULTS.md  # RESULTS.md: the Results section below\n```\n\nPer epoch (validation protocol pAUC, "
                         "FMR=1e-3; lower is better):\n\n| epoch | train MSE | buffalo_sc [0,0.2] | buffalo_sc [0,0.3] | "
                         f"mfn-128d [0,0.2] | mfn-128d [0,0.3] |\n|---|---:|---:|---:|---:|---:|\n{rows}"),
            ("Results", Path(args.card_tables).read_text()),
            ("Limits", "Trained on about 12.6k faces of CelebA celebrities (mostly frontal); labels come from two "
                       "recognizers and measure what they find hard, not what a person finds ugly. A crop model "
                       "sees only the aligned crop."),
        ])
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", default="cr-both", help="label recipe of benchmarks/accurate_tier.py")
    ap.add_argument("--teacher", help="distil from this embedding head instead of --labels; ridge:RECIPE = "
                                      "out-of-fold ridge on buffalo_sc's pooled features + embedding, fitted to RECIPE")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--cached-only", action="store_true", help="only the training faces already embedded")
    ap.add_argument("--arch", default="mobilenetv2")
    ap.add_argument("--arch-kwargs", default='{"t": 1, "w": 0.25, "head": 256}')
    ap.add_argument("--input-size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--lr-step", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rank-weight", type=float, default=0.0, help="weight of the in-batch pairwise ranking loss")
    ap.add_argument("--init-from", help="start from this shipped crop model's weights (same architecture)")
    ap.add_argument("--yaw", type=float, default=30.0)
    ap.add_argument("--yaw-oversample", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--export", type=Path, help="export the kept epoch of --run into this folder")
    ap.add_argument("--run", type=Path)
    ap.add_argument("--name", default="mbv2_t1_w025_h256")
    ap.add_argument("--tag", default="celeba2-r1")
    ap.add_argument("--default", action="store_true", help="export as the architecture's default (replacing the "
                                                           "current one: set its JSON's \"default\" to false)")
    ap.add_argument("--card-tables", help="markdown file with the card's result tables (validation protocol, LFW)")
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.export:
        return run_export(args)
    if args.out is None:
        ap.error("--out is required for training")
    return run_training(args)


if __name__ == "__main__":
    sys.exit(main())

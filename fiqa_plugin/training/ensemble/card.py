"""The model card of an exported ensemble: data, labels, hyper-parameters, held-out results, cost."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Sequence

import numpy as np

from ..export import write_card
from ..flops import count_macs, count_parameters
from .train import EnsembleConfig, correlations, ensemble_model, load_members


def _table(rows: Dict[str, Dict[str, float]]) -> str:
    lines = ["| model | SRCC | PLCC | (SRCC+PLCC)/2 |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['srcc']:.4f} | {v['plcc']:.4f} | {v['score']:.4f} |" for k, v in rows.items()]
    return "\n".join(lines)


def write_ensemble_card(path: Path, title: str, summary: str, cfg: EnsembleConfig, meta: Dict, run_dir: Path, data,
                        val: np.ndarray, q: np.ndarray, parity: float, rounding: Dict[str, float], size: int,
                        views: Sequence[str], export_cmd: str) -> None:
    _, members = load_members(run_dir)
    model = ensemble_model(members, views)
    macs = count_macs(model, (1, 3, cfg.input_size, cfg.input_size))["macs"]
    results = json.loads((run_dir / "results.json").read_text())
    y = data.labels[val]
    clean = data.degradation[val] == ""
    rows = {f"all held-out ({len(val)})": correlations(q, y)}
    if clean.any() and (~clean).any():
        rows[f"clean held-out ({int(clean.sum())})"] = correlations(q[clean], y[clean])
    weights = ", ".join(f"{m}: {cfg.backbone_weights.get(m, 'none (trained from scratch)')}" for m in cfg.members)
    epochs = []
    for m in cfg.members:
        h = json.loads((run_dir / m / "history.json").read_text())["history"]
        epochs.append(f"{m}:\n\n| epoch | head lr after | train loss | SRCC | PLCC |\n|---|---|---|---|---|\n" + "\n".join(
            f"| {r['epoch']} | {r['lr_head']:.1e} | {r['train_loss']:.5f} | {r['val_srcc']:.4f} | {r['val_plcc']:.4f} |"
            for r in h))
    cmds = meta.get("commands") or [meta.get("command") or "(command not recorded)"]
    cmd = "\n".join(cmds)
    write_card(path, title, [
        ("What it is", f"{summary}. Hamidi et al., \"A Lightweight Ensemble-Based Face Image Quality Assessment Method "
                       f"with Correlation-Aware Loss\": MobileNetV3-Small (576 → 288 → 1 head) and ShuffleNetV2 x1.0 "
                       f"(1024 → 512 → 256 → 1 head) regressors; each scores the views {', '.join(views)} as one "
                       f"batched pass inside the ONNX graph, the views are averaged, then the two members. Input: the "
                       f"aligned 112×112 ArcFace crop resized to {cfg.input_size}×{cfg.input_size}, RGB, "
                       f"(x − {cfg.mean}) / {cfg.std}, NCHW; output: one linear (unclipped) score, higher = better; the config's `score_range` is the range of the training labels. "
                       f"ONNX file: {size:,} bytes (float16 weights, float32 compute). Parameters: {count_parameters(model, trainable_only=False):,}; "
                       f"{macs / 1e6:.1f} M multiply-accumulates per face with all {len(views)} views "
                       f"({2 * macs / 1e9:.4f} GFLOPs)."),
        ("Backbone initialisation", weights + ".  No ImageNet weights were available here, so the numbers below "
                                    "are from-scratch numbers unless a path is listed."),
        ("Data and labels", f"{meta['source']}. {meta['samples']} samples; {cfg.val_fraction:.0%} held out "
                            f"(whole identities when known): {len(val)} samples."),
        ("Training", f"Each member separately: loss MSE + {cfg.alpha}·(1 − Pearson) per batch; Adam, head lr {cfg.lr}, "
                     f"backbone lr {cfg.member_backbone_lr(cfg.members[0])}, weight decay {cfg.weight_decay}, cosine "
                     f"decay over {cfg.epochs} epochs, batch {cfg.batch_size}, dropout {cfg.dropout}; each training "
                     f"sample shown in one random view of {', '.join(cfg.train_views)}; seed {cfg.seed}, "
                     f"{cfg.threads} torch thread(s).\n\nReproduce:\n\n```\n{cmd}\n{export_cmd}\n```"),
        ("Results (held-out)", f"The exported ONNX through `OnnxQualityModel` (from `{export_cmd}`):\n\n{_table(rows)}\n\n"
                               f"Members and ensemble with and without TTA (torch, float32, from the training command(s)):\n\n"
                               f"{_table(results['ablation'])}\n\n"
                               f"max |torch − onnxruntime| on 256 held-out crops: {parity:.1e}; effect of folding "
                               f"BatchNorm and storing float16 weights: max |Δscore| {rounding['max_abs']:.1e}, mean "
                               f"{rounding['mean_abs']:.1e}.\n\nPer epoch (held-out, identity view):\n\n" + "\n\n".join(epochs)),
        ("Limits", (f"Labels: {meta['source']}; " + ("pseudo-labels from one recognizer measure what it finds hard, "
                    "not what a person finds ugly; " if meta["data"].get("root") else "")) +
                   f"trained at {cfg.input_size}×{cfg.input_size} for {cfg.epochs} epochs on a CPU"
                   f"{', from scratch' if not cfg.backbone_weights else ''} — far from the paper's ImageNet-initialised "
                   "600×416 setting."),
    ])

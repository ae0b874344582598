"""``fiqa export RUN --tag TAG``: a trained run → ``<arch>.<tag>.onnx`` + ``.json`` config + ``.md`` model
card (in ``fiqa_plugin/weights`` by default, where it is registered as a quality method)."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)
PARITY_TOLERANCE = 1e-5


def register(sub) -> None:
    p = sub.add_parser("export", help="export a `fiqa train` run as ONNX + config + model card")
    p.add_argument("run", help="run folder written by `fiqa train`")
    p.add_argument("--tag", required=True, help="model tag, e.g. celeba-r1 (the method is named <arch>.<tag>)")
    p.add_argument("--out-dir", default=None, help="where to write (default: the package's weights folder)")
    p.add_argument("--no-default", action="store_true", help="do not mark it the default model of its arch")
    p.add_argument("--summary", default="", help="one line shown by `fiqa methods`")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ..paths import WEIGHTS_DIR
    from ..training.data import build_training_set, split_by_identity
    from ..training.export import export_model, onnx_parity, write_card
    from ..training.train import TrainConfig, build_model, correlations

    run_dir = Path(args.run)
    hist = json.loads((run_dir / "history.json").read_text())
    meta = json.loads((run_dir / "run.json").read_text())
    cfg = TrainConfig(**hist["config"])
    model = build_model(cfg.arch, **cfg.arch_kwargs)
    model.load_state_dict(torch.load(run_dir / "model.pt", weights_only=True))
    model.eval()
    out_dir = Path(args.out_dir) if args.out_dir else WEIGHTS_DIR
    d = meta["data"]
    summary = args.summary or (f"{cfg.arch} regressor of {d['recognizer']} centre labels "
                               f"(Peng et al.), trained on {Path(d['root']).name}, {cfg.input_size}px")
    paths = export_model(model, out_dir, cfg.arch, args.tag, cfg.input_size, cfg.mean, cfg.std, summary,
                         default=not args.no_default, extra={"labels": "center", "recognizer": d["recognizer"]})

    # Parity and held-out correlations of the exported file, on the run's own (cached) data.
    from ..quality.onnx_model import OnnxQualityModel

    ts = build_training_set(d["root"], d["size"], d["degrade_copies"], d["seed"], d["pack"], d["recognizer"], cfg.threads)
    _, val = split_by_identity(ts.identities, cfg.val_fraction, cfg.seed)
    vi = np.flatnonzero(val)
    parity = onnx_parity(model, paths["onnx"], ts.crops[vi[:256]], cfg.mean, cfg.std)
    if parity >= PARITY_TOLERANCE:
        raise ValueError(f"exported ONNX differs from torch by {parity:.2e} (>= {PARITY_TOLERANCE})")
    q = OnnxQualityModel.from_config(paths["json"], threads=1).score_crops(ts.crops[vi])
    clean = ts.degradation[vi] == ""
    c_all = correlations(q, ts.labels[vi])
    c_clean = correlations(q[clean], ts.labels[vi][clean])
    size = paths["onnx"].stat().st_size
    export_cmd = " ".join(["fiqa", "export", args.run, "--tag", args.tag]
                          + (["--out-dir", args.out_dir] if args.out_dir else []) + (["--no-default"] if args.no_default else []))
    rows = "\n".join(f"| {h['epoch']} | {h['lr']:.0e} | {h['train_mse']:.5f} | {h['val_srcc']:.4f} | {h['val_plcc']:.4f} |"
                     for h in hist["history"])
    n_val_ids = len(np.unique(ts.identities[vi]))
    write_card(paths["md"], f"{cfg.arch}.{args.tag}", [
        ("What it is", f"{summary}. Input: the aligned 112×112 ArcFace crop resized to {cfg.input_size}×{cfg.input_size}, "
                       f"RGB, (x − {cfg.mean}) / {cfg.std}, NCHW; output: one score in (0, 1), higher = better for "
                       f"recognition. ONNX file: {size:,} bytes."),
        ("Data", f"`{d['root']}` (folder of identity sub-folders; {len(ts.names)} identities with a detected face). "
                 f"Faces: `FacePipeline.from_pack('{d['pack']}', mode='largest')`, aligned 112×112. "
                 f"{d['degrade_copies']} degraded copies per face (blur, downscale, noise, JPEG, brightness, occlusion; "
                 f"seed {d['seed']}), each re-embedded by the recognizer, so their labels stay recognition-true. "
                 f"{meta['samples']} samples in all; {cfg.val_fraction:.0%} of the identities ({n_val_ids}) held out."),
        ("Labels", f"Peng et al. Eq. 1: cos(f_x, u_y) with the `{d['recognizer']}` recognizer, u_y the normalised mean "
                   f"embedding of identity y's clean faces."),
        ("Training", f"L2 regression (Eq. 2); {cfg.sampling} sampling (identities with ≥ {cfg.min_images} images, "
                     f"100 bins, lowest 10% / highest 5% oversampled ×{cfg.oversample}); SGD lr {cfg.lr}, momentum "
                     f"{cfg.momentum}, ×{cfg.lr_gamma} every {cfg.lr_step} epochs, batch {cfg.batch_size}, weight decay "
                     f"{cfg.weight_decay}, {cfg.epochs} epochs, flips {cfg.flip}, seed {cfg.seed}, {cfg.threads} torch "
                     f"thread(s).\n\nReproduce:\n\n```\n{meta['command']}\n{export_cmd}\n```"),
        ("Results (held-out identities)", f"From `{export_cmd}` (the exported ONNX scored on the held-out samples):\n\n"
                     f"| samples | SRCC | PLCC |\n|---|---|---|\n"
                     f"| all held-out ({len(vi)}) | {c_all['srcc']:.4f} | {c_all['plcc']:.4f} |\n"
                     f"| clean held-out ({int(clean.sum())}) | {c_clean['srcc']:.4f} | {c_clean['plcc']:.4f} |\n\n"
                     f"max |torch − onnxruntime| on 256 held-out crops: {parity:.2e}.\n\n"
                     f"Per epoch (from `{meta['command']}`, held-out, torch):\n\n"
                     f"| epoch | lr after | train MSE | SRCC | PLCC |\n|---|---|---|---|---|\n{rows}"),
        ("Limits", "Trained on a few thousand CelebA faces of celebrities; labels come from one recognizer "
                   f"({d['recognizer']}) and measure what it finds hard, not what a person finds ugly."),
    ])
    print(f"exported {cfg.arch}.{args.tag}: {paths['onnx']} ({size:,} bytes), {paths['json']}, {paths['md']}; "
          f"held-out SRCC {c_all['srcc']:.4f} PLCC {c_all['plcc']:.4f}, parity {parity:.1e}")
    return 0

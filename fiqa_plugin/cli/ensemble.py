"""``fiqa ensemble train|export``: the lightweight MobileNetV3-Small + ShuffleNetV2 ensemble
(Hamidi et al.) trained on any float target, exported as one ONNX graph with TTA inside.

    fiqa ensemble train ../shared/data/celeba --out runs/ens            # buffalo_sc pseudo-labels
    fiqa ensemble train --labels mos.csv --out runs/ens-mos             # path,label[,group] (e.g. MOS)
    fiqa ensemble export runs/ens --tag celeba-r1                       # → fiqa_plugin/weights/ensemble.celeba-r1.*

A separate command from ``fiqa train`` because its options (Adam with a backbone learning rate,
α of the correlation loss, TTA views, ImageNet weights, CSV targets) differ from tinyFQnet's.
"""
from __future__ import annotations

import argparse
import json
import logging
import shlex
from pathlib import Path
from ..errors import UsageError

log = logging.getLogger(__name__)
PARITY_TOLERANCE = 1e-5


def register(sub) -> None:
    from ..training.ensemble.names import ALL_VIEWS, MEMBERS, VIEWS

    p = sub.add_parser("ensemble", help="MobileNetV3-Small + ShuffleNetV2 quality ensemble (train / export)")
    ss = p.add_subparsers(dest="ensemble_command", required=True, metavar="ACTION")
    t = ss.add_parser("train", help="train both members on pseudo-labels (identity folder) or a path,label CSV")
    t.add_argument("data", nargs="?", default=None, help="folder with one sub-folder of face images per identity")
    t.add_argument("--labels", default=None, help="CSV path,label[,group] with any float target instead of DATA")
    t.add_argument("--aligned", action="store_true", help="--labels images are aligned face crops (no detection)")
    t.add_argument("--out", required=True, help="run folder: per-member checkpoints, histories, results.json")
    t.add_argument("--members", nargs="+", choices=MEMBERS, default=list(MEMBERS))
    t.add_argument("--backbone-weights", nargs="+", default=[], metavar="[NAME=]PATH",
                   help="local torchvision ImageNet .pth per backbone (member detected from its keys); default: from scratch")
    t.add_argument("--input-size", type=int, default=64, help="square input (the paper used 600×416; 64 trains on a CPU)")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=5e-4, help="Adam learning rate of the heads")
    t.add_argument("--backbone-lr", type=float, default=None,
                   help="Adam learning rate of the backbones (default: lr/5 with ImageNet weights, lr from scratch)")
    t.add_argument("--weight-decay", type=float, default=1e-4)
    t.add_argument("--alpha", type=float, default=1.0, help="loss = MSE + alpha·(1 − Pearson); 0 = plain MSE")
    t.add_argument("--views", nargs="+", choices=ALL_VIEWS, default=list(VIEWS), help="TTA views")
    t.add_argument("--train-views", nargs="+", choices=ALL_VIEWS, default=None,
                   help="random view per training sample (default: the TTA views)")
    t.add_argument("--val-fraction", type=float, default=0.2, help="held out (whole identities/groups when known)")
    t.add_argument("--degrade-copies", type=int, default=2, help="degraded, re-labelled copies per face (DATA only)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads")
    t.add_argument("--pack", default="buffalo_sc", help="InsightFace pack for detection")
    t.add_argument("--recognizer", default="buffalo_sc", help="recognizer that pseudo-labels DATA")
    t.add_argument("--no-resume", action="store_true", help="start over even if --out has checkpoints")
    t.set_defaults(func=run_train)

    e = ss.add_parser("export", help="export a trained run as ensemble.<tag>.onnx + .json + .md")
    e.add_argument("run", help="run folder written by `fiqa ensemble train`")
    e.add_argument("--tag", required=True, help="model tag; the quality method is named ensemble.<tag>")
    e.add_argument("--out-dir", default=None, help="where to write (default: the user models folder, registered at once; fiqa_plugin/weights to ship a model with the package)")
    e.add_argument("--views", nargs="+", choices=ALL_VIEWS, default=None, help="TTA views in the graph (default: the run's)")
    e.add_argument("--no-default", action="store_true", help="do not also register it as plain `ensemble`")
    e.add_argument("--summary", default="", help="one line shown by `fiqa methods`")
    e.set_defaults(func=run_export)


def _weights(specs) -> dict:
    from ..training.ensemble.model import detect_backbone

    out = {}
    for s in specs:
        name, _, path = s.rpartition("=") if "=" in s else ("", "", s)
        name = name or detect_backbone(path)
        out[name] = str(Path(path).resolve())
    return out


def _load_data(d: dict, threads: int):
    from ..training.ensemble.data import from_csv, from_identity_folder
    from ..progress import progress_bar

    if d["labels"]:
        from ..io import read_target_csv

        with progress_bar(len(read_target_csv(d["labels"])), "faces") as cb:
            return from_csv(d["labels"], d["aligned"], d["pack"], progress=cb)
    from ..faces.dataset import identity_images

    with progress_bar(len(identity_images(d["root"])), "faces (cached after the first run)") as cb:
        return from_identity_folder(d["root"], d["degrade_copies"], d["seed"], d["pack"], d["recognizer"], threads, cb)


def command_line(args: argparse.Namespace) -> str:
    """The ``fiqa ensemble train`` command that reproduces this run, every option spelled out."""
    parts = ["fiqa", "ensemble", "train"] + ([args.data] if args.data else []) + ["--out", args.out]
    for k, v in sorted(vars(args).items()):
        if k in ("data", "out", "func", "command", "ensemble_command", "verbose") or v is None or v is False or v == []:
            continue
        flag = "--" + k.replace("_", "-")
        parts += [flag] if v is True else [flag] + ([str(x) for x in v] if isinstance(v, list) else [str(v)])
    return " ".join(shlex.quote(p) for p in parts)


def run_train(args: argparse.Namespace) -> int:
    from ..training.ensemble.train import EnsembleConfig, train_ensemble

    if (args.data is None) == (args.labels is None):
        raise UsageError("give either DATA (identity folder, pseudo-labels) or --labels CSV, not both or neither")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    d = {"root": str(Path(args.data).resolve()) if args.data else None, "labels": args.labels and str(Path(args.labels).resolve()),
         "aligned": args.aligned, "degrade_copies": args.degrade_copies, "seed": args.seed, "pack": args.pack,
         "recognizer": args.recognizer}
    cfg = EnsembleConfig(members=args.members, input_size=args.input_size, epochs=args.epochs, batch_size=args.batch_size,
                         lr=args.lr, backbone_lr=args.backbone_lr, weight_decay=args.weight_decay, alpha=args.alpha,
                         views=args.views, train_views=args.train_views, val_fraction=args.val_fraction, seed=args.seed,
                         threads=args.threads, backbone_weights=_weights(args.backbone_weights))
    data = _load_data(d, args.threads)
    command = command_line(args)
    commands = [command]
    if (out / "run.json").exists():  # members trained by separate commands into one run folder
        commands = [c for c in json.loads((out / "run.json").read_text()).get("commands", []) if c != command] + commands
    (out / "run.json").write_text(json.dumps({"command": " && ".join(commands), "commands": commands, "data": d,
                                              "source": data.source, "samples": int(len(data.labels))}, indent=2) + "\n")
    res = train_ensemble(data, cfg, out, resume=not args.no_resume, progress=True)
    r = res["results"]
    print(f"held-out ({r['held_out']} samples; backbones: {', '.join(f'{k}: {v}' for k, v in r['backbone_weights'].items())})")
    print("| model | SRCC | PLCC | (SRCC+PLCC)/2 |\n|---|---|---|---|")
    for name, c in r["ablation"].items():
        print(f"| {name} | {c['srcc']:.4f} | {c['plcc']:.4f} | {c['score']:.4f} |")
    return 0


def run_export(args: argparse.Namespace) -> int:
    import numpy as np

    from ..paths import user_models_dir
    from ..quality.onnx_model import OnnxQualityModel
    from ..training.ensemble.card import write_ensemble_card
    from ..training.ensemble.data import split
    from ..training.ensemble.export import export_ensemble_onnx, parity, rounding_effect, shippable, write_ensemble_config
    from ..training.ensemble.train import ensemble_model, load_members
    from ..training.train import to_input

    run_dir = Path(args.run)
    meta = json.loads((run_dir / "run.json").read_text())
    cfg, members = load_members(run_dir)
    views = args.views or cfg.views
    model = ensemble_model(members, views)
    ship = shippable(model)
    out_dir = Path(args.out_dir) if args.out_dir else user_models_dir(create=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"ensemble.{args.tag}"
    onnx_path = export_ensemble_onnx(ship, out_dir / f"{stem}.onnx", cfg.input_size)
    scratch = not cfg.backbone_weights
    summary = args.summary or (f"MobileNetV3-Small + ShuffleNetV2 ensemble (Hamidi et al.), {len(views)}-view TTA, "
                               f"{cfg.input_size}px, {'from scratch' if scratch else 'ImageNet init'}")
    json_path = out_dir / f"{stem}.json"
    data = _load_data(meta["data"], cfg.threads).resized(cfg.input_size)
    labels = data.labels[np.isfinite(data.labels)]
    write_ensemble_config(json_path, args.tag, onnx_path.name, cfg.input_size, cfg.mean, cfg.std, summary,
                          default=not args.no_default, score_range=(float(labels.min()), float(labels.max())),
                          extra={"members": cfg.members, "views": list(views), "labels": meta["source"],
                                 "backbone_weights": "none (trained from scratch)" if scratch else "torchvision ImageNet"})
    # Parity and held-out correlations of the exported file, on the run's own (cached) data.
    _, val = split(data, cfg.val_fraction, cfg.seed)
    x = to_input(data.crops[val[:256]], cfg.mean, cfg.std)
    par = parity(ship, onnx_path, x)
    if par >= PARITY_TOLERANCE:
        raise UsageError(f"exported ONNX differs from torch by {par:.2e} (>= {PARITY_TOLERANCE})")
    rounding = rounding_effect(model, ship, x)
    q = OnnxQualityModel.from_config(json_path, threads=cfg.threads).score_crops(data.crops[val])
    export_cmd = " ".join(["fiqa", "ensemble", "export", args.run, "--tag", args.tag]
                          + (["--out-dir", args.out_dir] if args.out_dir else [])
                          + (["--views", *args.views] if args.views else []) + (["--no-default"] if args.no_default else []))
    write_ensemble_card(out_dir / f"{stem}.md", stem, summary, cfg, meta, run_dir, data, val, q, par, rounding,
                        onnx_path.stat().st_size, views, export_cmd)
    from ..training.ensemble.train import correlations

    c = correlations(q, data.labels[val])
    print(f"exported {stem}: {onnx_path} ({onnx_path.stat().st_size:,} bytes); held-out SRCC {c['srcc']:.4f} "
          f"PLCC {c['plcc']:.4f}; parity {par:.1e}; fp16 rounding max |Δ| {rounding['max_abs']:.1e}")
    return 0

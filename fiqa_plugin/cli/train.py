"""``fiqa train DATA --out RUN``: train tinyFQnet (or a MobileNetV2 variant) on a folder of identity
sub-folders, labelled by the recognizer (Peng et al. Eq. 1). Checkpoints every epoch; rerunning
the same command resumes an interrupted run."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from ..errors import UsageError

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("train", help="train a quality regressor on recognizer labels (tinyFQnet)")
    p.add_argument("data", help="folder with one sub-folder of face images per identity")
    p.add_argument("--out", required=True, help="run folder: checkpoints, history.json, histograms, model.pt")
    from ..plugins import ARCHITECTURES

    p.add_argument("--arch", choices=ARCHITECTURES.names(), default="tinyfqnet",
                   help="registered architectures: " + "; ".join(f"{e.name}: {e.summary}" for e in ARCHITECTURES.entries()))
    p.add_argument("--t", type=int, default=6, help="mobilenetv2 expansion factor")
    p.add_argument("--w", type=float, default=1.0, help="mobilenetv2 width multiplier")
    p.add_argument("--head", type=int, default=None, help="mobilenetv2 last-convolution channels (default 1280)")
    p.add_argument("--input-size", type=int, default=64)
    # None = the arch's own default (tinyFQnet/MobileNetV2: the paper's 17 / 1024 / 0.01 / 1e-4;
    # sdd-regressor and embedding-head: training/regressors.py DEFAULTS), so any explicit value is honoured.
    p.add_argument("--epochs", type=int, default=None, help="default: the arch's own (tinyfqnet 17)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the arch's own (tinyfqnet 1024)")
    p.add_argument("--lr", type=float, default=None, help="default: the arch's own (tinyfqnet 0.01)")
    p.add_argument("--lr-step", type=int, default=5, help="epochs between ×0.1 learning-rate steps")
    p.add_argument("--weight-decay", type=float, default=None, help="default: the arch's own (tinyfqnet 1e-4)")
    p.add_argument("--sampling", choices=["smooth", "random", "none"], default="smooth")
    p.add_argument("--min-images", type=int, default=10, help="drop identities with fewer images")
    p.add_argument("--degrade-copies", type=int, default=2, help="degraded, re-labelled copies per face")
    p.add_argument("--degrade-profile", choices=["v1", "v2"], default="v1",
                   help="v1: blur/downscale/noise/JPEG/brightness/occlusion; v2: harsher, plus motion blur, "
                        "contrast loss and geometric misalignment")
    p.add_argument("--labels", type=_labels, default="center",
                   help="a registered labeler (`fiqa label --help` lists them; -loo: leave-one-out centres, "
                        "-loo-norm: times the embedding-norm factor), e.g. center (Eq. 1), center-loo, sdd, "
                        "certainty-ratio-loo; or teacher:METHOD: distil a crop-only quality method "
                        "(e.g. teacher:sdd-regressor), labels = its score ranks")
    p.add_argument("--rank-weight", type=float, default=0.0, help="weight of an in-batch pairwise ranking loss added to L2")
    p.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    p.add_argument("--val-fraction", type=float, default=0.1, help="identities held out for validation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads")
    p.add_argument("--pack", default="buffalo_sc", help="InsightFace pack for detection")
    p.add_argument("--recognizer", default="buffalo_sc", help="recognizer that labels the faces")
    p.add_argument("--no-resume", action="store_true", help="start over even if --out has a checkpoint")
    g = p.add_argument_group("sdd-regressor / embedding-head")
    g.add_argument("--label-csv", help="embedding-head: labels CSV (path,identity,quality) from `fiqa label`; "
                                       "default: SDD labels of the training faces")
    g.add_argument("--sdd-mode", choices=["exact", "sampled"],
                   help="SDD labels: all pairs (exact, the default) or Eq. 8 sampling (m=24, K=12)")
    g.add_argument("--cut", help="sdd-regressor: recognizer tensor where the frozen prefix ends "
                                 "(default: the input of its last resolution stage)")
    g.add_argument("--seeds", type=int, nargs="+",
                   help="sdd-regressor: train one member per seed (own degraded copies and held-out identities, "
                        "in OUT/seed-S) and export the mean of their outputs as one model")
    g.add_argument("--tag", help="model tag of the exported <arch>.<tag>.onnx/.json (default: run)")
    p.set_defaults(func=run)


def _labels(value: str) -> str:
    from ..training.data import check_labels

    try:
        return check_labels(value)
    except ValueError as exc:  # argparse shows an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(exc)) from None


def command_line(args: argparse.Namespace) -> str:
    """The ``fiqa train`` command that reproduces this run, every option spelled out."""
    parts = ["fiqa", "train", args.data, "--out", args.out]
    for k, v in sorted(vars(args).items()):
        if k in ("data", "out", "func", "command", "verbose") or v is None or v is False:
            continue
        flag = "--" + k.replace("_", "-")
        parts += [flag] if v is True else [flag, *map(str, v)] if isinstance(v, (list, tuple)) else [flag, str(v)]
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    if args.seeds and args.arch != "sdd-regressor":
        raise UsageError(f"--seeds trains a seed ensemble of the sdd-regressor only; for {args.arch} use --seed N")
    from ..plugins import ARCHITECTURES

    if ARCHITECTURES.entry(args.arch).tags.get("trainer") == "recognizer-head":
        from ..training.regressors import RegressorJob, train_regressor

        job = RegressorJob(
            arch=args.arch, data=args.data, out=args.out, recognizer=args.recognizer, pack=args.pack,
            threads=args.threads, seeds=args.seeds or [args.seed], epochs=args.epochs, batch_size=args.batch_size,
            lr=args.lr, weight_decay=args.weight_decay, label_csv=args.label_csv, sdd_mode=args.sdd_mode,
            cut=args.cut, degrade_copies=args.degrade_copies, degrade_profile=args.degrade_profile,
            val_fraction=args.val_fraction, resume=not args.no_resume, tag=args.tag, command=command_line(args))
        print(train_regressor(job))
        return 0
    from ..faces.dataset import identity_images
    from ..training.data import build_training_set
    from ..training.train import TrainConfig, train
    from ..progress import progress_bar

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = {"root": str(Path(args.data).resolve()), "data_arg": args.data, "size": args.input_size,
            "degrade_copies": args.degrade_copies, "seed": args.seed, "pack": args.pack, "recognizer": args.recognizer,
            "profile": args.degrade_profile, "labels": args.labels}
    with progress_bar(len(identity_images(args.data)), "faces (cached after the first run)") as cb:
        ts = build_training_set(args.data, args.input_size, args.degrade_copies, args.seed, args.pack,
                                args.recognizer, args.threads, progress=cb, profile=args.degrade_profile,
                                labels=args.labels)
    (out / "run.json").write_text(json.dumps({"command": command_line(args), "data": data,
                                                   "samples": int(len(ts.labels))}, indent=2) + "\n")
    arch_kwargs = {"t": args.t, "w": args.w} if args.arch == "mobilenetv2" else {}
    if args.arch == "mobilenetv2" and args.head:
        arch_kwargs["head"] = args.head
    given = {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "weight_decay") if getattr(args, k) is not None}
    cfg = TrainConfig(arch=args.arch, arch_kwargs=arch_kwargs, input_size=args.input_size, **given, lr_step=args.lr_step,
                      seed=args.seed, threads=args.threads, sampling=args.sampling, min_images=args.min_images,
                      flip=not args.no_flip, val_fraction=args.val_fraction, rank_weight=args.rank_weight)
    res = train(ts, cfg, out, resume=not args.no_resume, progress=True)
    last = res.history[-1] if res.history else {}
    print(f"trained {args.arch} for {len(res.history)} epochs -> {out}/model.pt "
          f"(held-out SRCC {last.get('val_srcc', float('nan')):.4f}, PLCC {last.get('val_plcc', float('nan')):.4f})")
    return 0

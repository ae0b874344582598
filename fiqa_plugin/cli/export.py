"""``fiqa export RUN --tag TAG``: a trained run → ``<arch>.<tag>.onnx`` + ``.json`` config + ``.md`` model
card, in the user models folder by default (:func:`fiqa_plugin.paths.user_models_dir`), where it is
registered as a quality method; ``--out-dir fiqa_plugin/weights`` ships it with the package."""
from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path
from ..errors import UsageError

log = logging.getLogger(__name__)
PARITY_TOLERANCE = 1e-5


def register(sub) -> None:
    p = sub.add_parser("export", help="export a `fiqa train` run as ONNX + config + model card")
    p.add_argument("run", help="run folder written by `fiqa train`")
    p.add_argument("--tag", required=True, help="model tag, e.g. celeba-r1 (the method is named <arch>.<tag>)")
    p.add_argument("--out-dir", default=None, help="where to write (default: the user models folder, registered at once; fiqa_plugin/weights to ship a model with the package)")
    p.add_argument("--no-default", action="store_true", help="do not mark it the default model of its arch")
    p.add_argument("--name", default=None,
                   help="architecture part of the method name (default: the training arch), e.g. mbv2_t1_w025_h256 "
                        "for a MobileNetV2 variant, so variants do not share one name")
    p.add_argument("--summary", default="", help="one line shown by `fiqa methods`")
    p.set_defaults(func=run)


def _retag_regressor(run_dir: Path, arch: str, args: argparse.Namespace) -> int:
    """Recognizer-based regressors are exported by ``fiqa train`` itself (head ONNX + composing config +
    card in the run folder): copy them under the new tag into the models folder."""
    from ..paths import user_models_dir

    configs = sorted(run_dir.glob(f"{arch}.*.json"))
    if not configs:
        raise UsageError(f"{run_dir} has no exported {arch}.<tag>.json: rerun its `fiqa train` command to finish it")
    cfg = json.loads(configs[-1].read_text())
    name = args.name or arch
    out_dir = Path(args.out_dir) if args.out_dir else user_models_dir(create=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{name}.{args.tag}"
    shutil.copyfile(run_dir / cfg["file"], out_dir / f"{stem}.onnx")
    card = configs[-1].with_suffix(".md")
    if card.is_file():
        shutil.copyfile(card, out_dir / f"{stem}.md")
    cfg.update(arch=name, tag=args.tag, file=f"{stem}.onnx", default=not args.no_default)
    if args.summary:
        cfg["summary"] = args.summary
    (out_dir / f"{stem}.json").write_text(json.dumps(cfg, indent=2) + "\n")
    print(f"exported {stem} -> {out_dir}")
    return 0


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ..paths import user_models_dir
    from ..training.data import build_training_set, split_by_identity
    from ..training.export import export_model, onnx_parity, write_card
    from ..training.train import TrainConfig, build_model, correlations

    run_dir = Path(args.run)
    if not (run_dir / "run.json").is_file():
        raise UsageError(f"{run_dir} is not a `fiqa train` run folder (no run.json)")
    meta = json.loads((run_dir / "run.json").read_text())
    if meta.get("arch") in ("sdd-regressor", "embedding-head"):
        return _retag_regressor(run_dir, meta["arch"], args)
    hist = json.loads((run_dir / "history.json").read_text())
    cfg = TrainConfig(**hist["config"])
    model = build_model(cfg.arch, **cfg.arch_kwargs)
    model.load_state_dict(torch.load(run_dir / "model.pt", weights_only=True))
    model.eval()
    out_dir = Path(args.out_dir) if args.out_dir else user_models_dir(create=True)
    d = meta["data"]
    name = args.name or cfg.arch
    if not name.replace("_", "").replace("-", "").isalnum():
        raise UsageError(f"--name {name!r}: use letters, digits, '_' and '-' only (the method is named <name>.<tag>)")
    profile, labels = d.get("profile", "v1"), d.get("labels", "center")
    kind = "SDD labels (Ou et al.)" if labels == "sdd" else "centre labels (Peng et al.)"
    summary = args.summary or (f"{cfg.arch} regressor of {d['recognizer']} {kind}, trained on "
                               f"{Path(d['root']).name}, {cfg.input_size}px")
    arch_extra = {"arch_kwargs": cfg.arch_kwargs} if cfg.arch_kwargs else {}
    paths = export_model(model, out_dir, name, args.tag, cfg.input_size, cfg.mean, cfg.std, summary,
                         default=not args.no_default,
                         extra={"labels": labels, "recognizer": d["recognizer"], **arch_extra})

    # Parity and held-out correlations of the exported file, on the run's own (cached) data.
    from ..quality.onnx_model import OnnxQualityModel

    ts = build_training_set(d["root"], d["size"], d["degrade_copies"], d["seed"], d["pack"], d["recognizer"], cfg.threads,
                            profile=profile, labels=labels)
    _, val = split_by_identity(ts.identities, cfg.val_fraction, cfg.seed)
    vi = np.flatnonzero(val)
    parity = onnx_parity(model, paths["onnx"], ts.crops[vi[:256]], cfg.mean, cfg.std)
    if parity >= PARITY_TOLERANCE:
        raise UsageError(f"exported ONNX differs from torch by {parity:.2e} (>= {PARITY_TOLERANCE})")
    q = OnnxQualityModel.from_config(paths["json"], threads=1).score_crops(ts.crops[vi])
    clean = ts.degradation[vi] == ""
    c_all = correlations(q, ts.labels[vi])
    c_clean = correlations(q[clean], ts.labels[vi][clean])
    edc = ""
    if ts.embeddings is not None:
        from ..training.train import validation_pauc

        cv = vi[clean]
        pa = validation_pauc(q[clean], ts.embeddings[cv], ts.identities[cv], ts.source[cv])
        edc = (f"Held-out EDC pAUC of the exported model: {pa:.4f} (every pair of the {len(cv)} clean held-out faces, "
               f"{d['recognizer']} similarity, FMR=1e-3, discard [0, 0.2], lower is better).\n\n")
    size = paths["onnx"].stat().st_size
    export_cmd = " ".join(["fiqa", "export", args.run, "--tag", args.tag]
                          + (["--name", args.name] if args.name else [])
                          + (["--out-dir", args.out_dir] if args.out_dir else []) + (["--no-default"] if args.no_default else []))
    rows = "\n".join(f"| {h['epoch']} | {h['lr']:.0e} | {h['train_mse']:.5f} | {h['val_srcc']:.4f} | {h['val_plcc']:.4f} | "
                     f"{h.get('val_clean_srcc', float('nan')):.4f} | {h.get('val_pauc', float('nan')):.4f} |"
                     for h in hist["history"])
    ops = {"v1": "blur, downscale, noise, JPEG, brightness, occlusion",
           "v2": "blur, downscale up to 16×, noise, JPEG, extreme brightness, occlusion incl. eye bars and lower-face "
                 "covers, motion blur, contrast loss, geometric misalignment (±40° rotation, 0.7–1.3 scale, ±15% shift), "
                 "black beyond a straight edge (a face cut by the photo border); one to three per copy"}[profile]
    centre = ("the normalised mean embedding of identity y's clean faces" if labels == "center" else
              "the normalised mean embedding of identity y's *other* clean faces (leave-one-out: a face, and every "
              "degraded copy of it, is compared with a centre it did not vote for)")
    rec = d["recognizer"]
    label_text = {
        "sdd": f"SDD-FIQA (Ou et al. Eq. 7–9): Wasserstein distance between each face's genuine and impostor `{rec}` "
               f"similarity distributions (sampled: m=24 pairs each, K=12 draws, seed {d['seed']}), over all clean "
               "and degraded faces, min-max scaled to [0, 1].",
        "center-loo-norm": f"Peng et al. Eq. 1 with the `{rec}` recognizer, u_y {centre}, clipped to [0, 1] and "
                           f"multiplied by the face's `{rec}` embedding norm relative to the 95th percentile of the "
                           "clean faces' norms (clipped to 1).",
    }.get(labels) or _label_text(labels, rec, centre)
    n_val_ids = len(np.unique(ts.identities[vi]))
    write_card(paths["md"], f"{name}.{args.tag}", [
        ("What it is", f"{summary}. Input: the aligned 112×112 ArcFace crop resized to {cfg.input_size}×{cfg.input_size}, "
                       f"RGB, (x − {cfg.mean}) / {cfg.std}, NCHW; output: one score in (0, 1), higher = better for "
                       f"recognition. ONNX file: {size:,} bytes."),
        ("Data", f"`{d.get('data_arg', d['root'])}` (folder of identity sub-folders; {len(ts.names)} identities with a detected face). "
                 f"Faces: `FacePipeline.from_pack('{d['pack']}', mode='largest')`, aligned 112×112. "
                 f"{d['degrade_copies']} degraded copies per face (profile {profile}: {ops}; "
                 f"seed {d['seed']}), each re-embedded by the recognizer, so their labels stay recognition-true. "
                 f"{meta['samples']} samples in all; {cfg.val_fraction:.0%} of the identities ({n_val_ids}) held out."),
        ("Labels", label_text),
        ("Training", f"L2 regression (Eq. 2); {cfg.sampling} sampling (identities with ≥ {cfg.min_images} images, "
                     f"100 bins, lowest 10% / highest 5% oversampled ×{cfg.oversample}); SGD lr {cfg.lr}, momentum "
                     f"{cfg.momentum}, ×{cfg.lr_gamma} every {cfg.lr_step} epochs, batch {cfg.batch_size}, weight decay "
                     f"{cfg.weight_decay}, {cfg.epochs} epochs, flips {cfg.flip}, seed {cfg.seed}, {cfg.threads} torch "
                     f"thread(s)" + (f", plus {cfg.rank_weight} × an in-batch pairwise ranking loss" if cfg.rank_weight else "")
                     + (f"; architecture options {cfg.arch_kwargs}" if cfg.arch_kwargs else "") + f".\n\nReproduce:\n\n```\n{meta['command']}\n{export_cmd}\n```"),
        ("Results (held-out identities)", f"From `{export_cmd}` (the exported ONNX scored on the held-out samples):\n\n"
                     f"| samples | SRCC | PLCC |\n|---|---|---|\n"
                     f"| all held-out ({len(vi)}) | {c_all['srcc']:.4f} | {c_all['plcc']:.4f} |\n"
                     f"| clean held-out ({int(clean.sum())}) | {c_clean['srcc']:.4f} | {c_clean['plcc']:.4f} |\n\n"
                     f"{edc}max |torch − onnxruntime| on 256 held-out crops: {parity:.2e}.\n\n"
                     f"Per epoch (from `{meta['command']}`, held-out, torch):\n\n"
                     f"| epoch | lr after | train MSE | SRCC | PLCC | clean SRCC | EDC pAUC |\n|---|---|---|---|---|---|---|\n{rows}\n\n"
                     f"EDC pAUC: every pair of clean held-out faces, {d['recognizer']} similarity, FMR=1e-3, discard "
                     f"[0, 0.2], lower is better (nan: not recorded by the version of `fiqa train` that ran the epoch)."),
        ("Limits", "Trained on a few thousand CelebA faces of celebrities; labels come from one recognizer "
                   f"({d['recognizer']}) and measure what it finds hard, not what a person finds ugly."),
    ])
    print(f"exported {name}.{args.tag}: {paths['onnx']} ({size:,} bytes), {paths['json']}, {paths['md']}; "
          f"held-out SRCC {c_all['srcc']:.4f} PLCC {c_all['plcc']:.4f}, parity {parity:.1e}")
    return 0


def _label_text(labels: str, rec: str, centre: str) -> str:
    """The model card's description of registry or teacher labels (the special cases are spelt out above)."""
    from ..plugins import LABELERS
    from ..training.data import parse_labels

    if labels.startswith("teacher:"):
        return (f"distilled from `{labels.split(':', 1)[1]}`: the percentile ranks on (0, 1) of its scores of every "
                "clean and degraded 112×112 crop.")
    base, loo, _ = parse_labels(labels)
    if base == "center":
        return f"Peng et al. Eq. 1: cos(f_x, u_y) with the `{rec}` recognizer, u_y {centre}."
    return (f"the registered labeler `{base}` ({LABELERS.entry(base).summary}) with the `{rec}` recognizer"
            + (", each face left out of its own centre (leave-one-out)" if loo else "") + ".")

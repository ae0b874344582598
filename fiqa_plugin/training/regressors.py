"""``fiqa train --arch sdd-regressor | embedding-head``: the two recognizer-based regressors.

* ``sdd-regressor`` (SDD-FIQA, :mod:`.sdd_regressor`): the recognizer's late stage fine-tuned with
  Dropout(0.5) + FC on SDD labels (Eq. 7–10, ``[0, 100]``), Huber (ζ = 1), Adam lr 1e-3, wd 5e-4.
* ``embedding-head`` (Babnik et al. transfer learning, :mod:`.embedding_head`): an MLP on the frozen
  raw embeddings, L1 on labels normalised to ``[0, 1]``; labels from ``--label-csv`` (e.g. written
  by ``fiqa label --method optimize``), else SDD labels.

Both run on :func:`.sdd_regressor.build_feature_set` (clean + degraded faces, one recognizer
pass each, cached) and export ``<arch>.<tag>.onnx`` + ``.json`` (composed with the recognizer at
load time) into the run folder; copy them to ``fiqa_plugin/weights/`` to ship.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import numpy as np
from ..errors import UsageError
from ..io import scores_for

log = logging.getLogger(__name__)

ARCHS = ("sdd-regressor", "embedding-head")
#: Paper defaults used when the shared ``fiqa train`` options are left at their tinyFQnet defaults.
DEFAULTS = {"sdd-regressor": dict(epochs=6, batch_size=64, lr=1e-3, weight_decay=5e-4),
            "embedding-head": dict(epochs=60, batch_size=256, lr=1e-3, weight_decay=1e-4)}


@dataclass
class RegressorJob:
    """One ``sdd-regressor`` / ``embedding-head`` training run. ``None`` hyper-parameters mean the
    arch's paper defaults (:data:`DEFAULTS`)."""

    arch: str
    data: str
    out: str
    recognizer: str = "buffalo_sc"
    pack: str = "buffalo_sc"
    threads: int = 1
    seeds: Sequence[int] = (0,)
    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    weight_decay: Optional[float] = None
    label_csv: Optional[str] = None
    sdd_mode: Optional[str] = None
    cut: Optional[str] = None
    degrade_copies: int = 2
    degrade_profile: str = "v1"
    val_fraction: float = 0.1
    resume: bool = True
    tag: Optional[str] = None
    command: str = ""

    def hyper(self, name: str):
        """The user's value of ``name``, else this arch's default."""
        v = getattr(self, name)
        return DEFAULTS[self.arch][name] if v is None else v


def export_regressor(model, out_dir: os.PathLike | str, arch: str, tag: str, recognizer: str, recognizer_file: str,
                     head_input: str, recognizer_tensor: str, example, summary: str, score_range,
                     extra: Optional[dict] = None, default: bool = False) -> Dict[str, Path]:
    """``<arch>.<tag>.onnx`` (the head alone) + ``.json`` composing it with ``recognizer`` (the one exporter)."""
    from .export import export_model

    return export_model(model, out_dir, arch, tag, 112, 127.5, 127.5, summary, default, extra, example=example,
                        input_name=head_input, score_range=score_range, batch_size=64,
                        compose={"recognizer": recognizer, "recognizer_file": recognizer_file,
                                 "inputs": {head_input: recognizer_tensor}})


def _features_and_labels(args: RegressorJob, seed: int):
    """The training faces (clean + degraded copies drawn with ``seed``) and their labels."""
    from ..progress import progress_bar
    from ..labelers.sdd import sdd_labels
    from ..faces.dataset import identity_images
    from .sdd_regressor import build_feature_set

    with progress_bar(len(identity_images(args.data)), "faces and recognizer features (cached)") as cb:
        fs, split = build_feature_set(args.data, args.recognizer, args.degrade_copies, args.degrade_profile, seed,
                                      args.cut, args.threads, args.pack, progress=cb)
    if args.arch == "embedding-head" and args.label_csv:
        clean = scores_for(args.label_csv, fs.paths)
        labels = clean[fs.source]
        labels[fs.degradation != ""] = np.nan  # the CSV labels the listed images, not our degraded copies of them
        return fs, split, labels, f"labels from {args.label_csv}"
    mode = args.sdd_mode or "exact"
    labels = sdd_labels(fs.normed, fs.identities, mode=mode, wd_backend="numpy")
    return fs, split, labels, f"SDD labels ({mode}, {args.recognizer}) of clean + {args.degrade_copies} degraded copies"


def train_regressor(args: RegressorJob) -> str:
    """Train one of :data:`ARCHS` (one member per seed) and export it; returns a one-line summary."""
    if args.arch not in ARCHS:
        raise UsageError(f"{args.arch!r} is not a recognizer-based regressor; choose from {ARCHS}")
    import torch

    from .embedding_head import HeadTrainConfig, normalise_labels, train_head
    from .sdd_regressor import MeanRegressor, SDDTrainConfig, train_sdd_regressor

    torch.set_num_threads(args.threads)
    tag = args.tag or "run"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from ..plugins import RECOGNIZERS

    rec_path = RECOGNIZERS.create(args.recognizer, threads=1).model_path
    epochs, bs = args.hyper("epochs"), args.hyper("batch_size")
    lr, wd = args.hyper("lr"), args.hyper("weight_decay")
    seeds = list(args.seeds)
    members, hists = [], []
    for seed in seeds:
        # a seed ensemble trains each member in its own folder: own degraded copies, own held-out identities
        member_out = out if len(seeds) == 1 else out / f"seed-{seed}"
        member_out.mkdir(parents=True, exist_ok=True)
        fs, split, labels, label_desc = _features_and_labels(args, seed)
        run_info = {"command": args.command, "arch": args.arch, "labels": label_desc,
                    "samples": int(np.isfinite(labels).sum()), "split": split.__dict__}
        (member_out / "run.json").write_text(json.dumps(run_info, indent=2) + "\n")
        if args.arch == "sdd-regressor":
            cfg = SDDTrainConfig(epochs=epochs, batch_size=bs, lr=lr, weight_decay=wd, val_fraction=args.val_fraction,
                                 seed=seed, threads=args.threads, cut=split.cut)
            model, h = train_sdd_regressor(fs.features, labels, fs.identities, rec_path, split, cfg, member_out,
                                           resume=args.resume, progress=True)
            example = torch.zeros(2, *fs.features.shape[1:])
        else:
            cfg = HeadTrainConfig(epochs=epochs, batch_size=bs, lr=lr, weight_decay=wd, val_fraction=args.val_fraction,
                                  seed=seed, threads=args.threads)
            model, h = train_head(fs.embeddings, normalise_labels(labels), fs.identities, cfg, member_out, resume=args.resume)
            example = torch.zeros(2, fs.embeddings.shape[1])
        members.append(model)
        hists.append(h)
        del fs
    if len(seeds) > 1:
        run_info.update(labels=f"{label_desc}, per member", members=[f"seed-{s}" for s in seeds])
        (out / "run.json").write_text(json.dumps(run_info, indent=2) + "\n")
    if args.arch == "sdd-regressor":
        summary = f"SDD-FIQA regressor on {args.recognizer} (late stage fine-tuned)"
        if len(members) > 1:
            summary += f", mean of {len(members)} seeds ({', '.join(map(str, seeds))})"
        paths = export_regressor(members[0] if len(members) == 1 else MeanRegressor(members), out, args.arch, tag,
                                 args.recognizer, Path(rec_path).name, "features", split.cut, example, summary,
                                 (0.0, 100.0), {"labels": label_desc, "recognizer": args.recognizer,
                                                "seeds": list(seeds)})
    else:
        paths = export_regressor(model, out, args.arch, tag, args.recognizer, Path(rec_path).name, "embedding",
                                 split.embedding, example,
                                 f"embedding head on {args.recognizer} (Babnik et al. transfer learning)",
                                 (0.0, 1.0), {"labels": label_desc, "recognizer": args.recognizer})
    info = json.loads((out / "run.json").read_text())
    info["hyper_parameters"] = {"epochs": epochs, "batch_size": bs, "lr": lr, "weight_decay": wd}
    (out / "run.json").write_text(json.dumps(info, indent=2) + "\n")
    picked = []
    for h in hists:
        b = max(h, key=lambda r: r.get("val_srcc", float("-inf"))) if h else {}
        where = f"epoch {b.get('epoch')}, the best held-out" if args.arch == "sdd-regressor" else "held-out"
        picked.append(f"{where} SRCC {b.get('val_srcc', float('nan')):.4f}")
    return f"trained {args.arch} ({len(members)} member(s)) -> {paths['onnx']} + {paths['json'].name} ({'; '.join(picked)})"

"""Training the ensemble members (Hamidi et al. Sec. 3): each backbone + head regressed separately
with :class:`~.loss.MSECorrLoss`, Adam (a lower learning rate for the backbone), cosine decay.

Every member is trained by the one loop (:func:`..trainer.fit`): it checkpoints to
``<out>/<member>/last.pt`` after each epoch; rerunning resumes. Each epoch's shuffle, augmentation
views and torch seed (dropout) come from a generator seeded with ``(seed, member, epoch)``.
"""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ...errors import MissingAssetError, ResumeError, UsageError
from ..train import correlations, to_input
from ..trainer import TrainingRun, fit
from .data import RegressionData, split
from .loss import MSECorrLoss
from .model import MEMBERS, VIEWS, EnsembleQuality, QualityMember, build_member, make_views

log = logging.getLogger(__name__)


@dataclass
class EnsembleConfig:
    """Hyper-parameters; the defaults are the paper's except ``input_size`` (it used 600×416) and the schedule."""

    members: Sequence[str] = MEMBERS
    input_size: int = 64  # CPU-trainable: a member epoch on ~15k crops takes ~2 min on one core
    epochs: int = 30
    batch_size: int = 64
    lr: float = 5e-4  # heads
    backbone_lr: Optional[float] = None  # None: lr / 5 with ImageNet weights, lr when training from scratch
    weight_decay: float = 1e-4
    alpha: float = 1.0  # weight of (1 − Pearson); 0 = plain MSE
    views: Sequence[str] = VIEWS  # TTA views at inference
    train_views: Optional[Sequence[str]] = None  # random view per training sample; None = the TTA views
    dropout: float = 0.2
    val_fraction: float = 0.2
    seed: int = 0
    threads: int = 1
    backbone_weights: Dict[str, str] = field(default_factory=dict)  # member → torchvision ImageNet .pth
    mean: float = 127.5
    std: float = 127.5

    def __post_init__(self) -> None:
        self.members, self.views = list(self.members), list(self.views)
        self.train_views = list(self.train_views) if self.train_views is not None else list(self.views)
        unknown = [m for m in self.members if m not in MEMBERS] + [m for m in self.backbone_weights if m not in self.members]
        if unknown:
            raise UsageError(f"unknown member(s) {unknown}; choose from {MEMBERS}")

    def member_backbone_lr(self, member: str) -> float:
        if self.backbone_lr is not None:
            return self.backbone_lr
        return self.lr / 5 if member in self.backbone_weights else self.lr


def augment(crops: np.ndarray, views: Sequence[str], rng: np.random.Generator) -> np.ndarray:
    """Each crop (NHWC) shown in one view drawn uniformly from ``views`` (so TTA views are familiar)."""
    out = crops.copy()
    pick = rng.integers(0, len(views), len(crops))
    for k, v in enumerate(views):
        sel = pick == k
        if v == "hflip":
            out[sel] = crops[sel][:, :, ::-1]
        elif v == "vflip":
            out[sel] = crops[sel][:, ::-1]
        elif v == "hvflip":
            out[sel] = crops[sel][:, ::-1, ::-1]
    return out


def view_scores(model: nn.Module, crops_bgr: np.ndarray, views: Sequence[str], mean: float = 127.5, std: float = 127.5,
                batch_size: int = 256) -> np.ndarray:
    """``[V, N]`` scores of one member under each view."""
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(crops_bgr), batch_size):
            x = to_input(crops_bgr[i : i + batch_size], mean, std)
            out.append(model(make_views(x, views)).reshape(len(views), -1).numpy())
    return np.concatenate(out, 1) if out else np.zeros((len(views), 0), np.float32)


def _optimizer(model: QualityMember, cfg: EnsembleConfig) -> torch.optim.Optimizer:
    groups = [{"params": list(model.backbone.parameters()), "lr": cfg.member_backbone_lr(model.name)},
              {"params": list(model.head.parameters()), "lr": cfg.lr}]
    return torch.optim.Adam(groups, weight_decay=cfg.weight_decay)


def _comparable(config: Dict) -> Dict:
    # Members may be trained by separate processes into one run folder: the list may differ.
    return {k: v for k, v in config.items() if k != "members"}


def _merge_config(path: Path, cfg: EnsembleConfig) -> None:
    """Write ``config.json``; a run folder shared by per-member processes keeps the union of their members."""
    if path.exists():
        old = json.loads(path.read_text())
        if _comparable(old) != _comparable(json.loads(json.dumps(asdict(cfg)))):
            raise ResumeError(f"{path} was written with a different config; use another --out or the same options")
        members = [m for m in MEMBERS if m in set(old["members"]) | set(cfg.members)]
    else:
        members = list(cfg.members)
    path.write_text(json.dumps({**asdict(cfg), "members": members}, indent=2) + "\n")


def train_member(data: RegressionData, tr: np.ndarray, val: np.ndarray, cfg: EnsembleConfig, member: str,
                 out_dir: os.PathLike | str, resume: bool = True, progress: bool = False,
                 on_epoch_end: Optional[Callable[[int, Dict], None]] = None) -> tuple:
    """Train one member; returns ``(model in eval mode, per-epoch history)``; checkpoints every epoch."""

    out_dir = Path(out_dir) / member
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    mi = list(MEMBERS).index(member)
    torch.manual_seed(cfg.seed * 100 + mi)
    model = build_member(member, cfg.backbone_weights.get(member), cfg.dropout)
    opt = _optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5 * (1 + math.cos(math.pi * e / cfg.epochs)))
    loss_fn = MSECorrLoss(cfg.alpha)
    labels = torch.from_numpy(data.labels.astype(np.float32))

    def batch_loss(model: nn.Module, b: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        x = to_input(augment(data.crops[b], cfg.train_views, rng), cfg.mean, cfg.std)
        return loss_fn(model(x).reshape(-1), labels[b])

    def validate(model: nn.Module) -> Dict:
        pred = view_scores(model, data.crops[val], ["identity"], cfg.mean, cfg.std)[0]
        return {"lr_head": opt.param_groups[1]["lr"], **{f"val_{k}": v for k, v in correlations(pred, data.labels[val]).items()}}

    model, history = fit(TrainingRun(
        model, opt, tr, cfg.batch_size, cfg.epochs, batch_loss, rng_key=[cfg.seed, mi], config=_comparable(asdict(cfg)),
        out_dir=out_dir, scheduler=sched, validate=validate, min_batch=2,  # BatchNorm and Pearson need two samples
        reseed_torch=True, name=member, progress=progress, resume=resume, on_epoch_end=on_epoch_end))
    torch.save(model.state_dict(), out_dir / "model.pt")
    return model, history


def ablation(members: Dict[str, nn.Module], data: RegressionData, idx: np.ndarray, views: Sequence[str],
             mean: float = 127.5, std: float = 127.5) -> Dict[str, Dict[str, float]]:
    """SRCC / PLCC / score of each member and of the ensemble, without and with TTA, on ``data[idx]``."""
    views = list(views)
    if "identity" not in views:
        views = ["identity"] + views
    s = {m: view_scores(model, data.crops[idx], views, mean, std) for m, model in members.items()}
    y = data.labels[idx]
    first = views.index("identity")
    out = {}
    for m, v in s.items():
        out[m] = correlations(v[first], y)
        out[f"{m} + TTA"] = correlations(v.mean(0), y)
    if len(s) > 1:
        out["ensemble"] = correlations(np.mean([v[first] for v in s.values()], 0), y)
        out["ensemble + TTA"] = correlations(np.mean([v.mean(0) for v in s.values()], 0), y)
    return out


def load_members(run_dir: os.PathLike | str, require_all: bool = True) -> tuple:
    """``(config, {member: model})`` of a ``train_ensemble`` run folder: every member with a finished
    ``model.pt`` (members may come from separate processes); ``require_all``: also every member in config.json."""
    run_dir = Path(run_dir)
    cfg = EnsembleConfig(**json.loads((run_dir / "config.json").read_text()))
    wanted = [m for m in MEMBERS if m in cfg.members or (run_dir / m / "model.pt").exists()]
    members = {}
    for m in wanted:
        p = run_dir / m / "model.pt"
        if not p.exists():
            if require_all:
                raise MissingAssetError(f"{p} missing: the run has not finished training {m}; rerun its command to resume")
            continue
        model = QualityMember(m, cfg.dropout)
        model.load_state_dict(torch.load(p, weights_only=True))
        members[m] = model.eval()
    if not members:
        raise MissingAssetError(f"no trained member in {run_dir} (expected <member>/model.pt)")
    cfg.members = list(members)
    return cfg, members


def train_ensemble(data: RegressionData, cfg: EnsembleConfig, out_dir: os.PathLike | str, resume: bool = True,
                   progress: bool = False) -> Dict:
    """Train every member on the train split, then evaluate members and ensemble (± TTA) on the held-out split."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if data.crops.shape[1] != cfg.input_size:
        data = data.resized(cfg.input_size)
    _merge_config(out_dir / "config.json", cfg)
    tr, val = split(data, cfg.val_fraction, cfg.seed)
    log.info("training on %d samples, validating on %d", len(tr), len(val))
    members, histories = {}, {}
    for m in cfg.members:
        members[m], histories[m] = train_member(data, tr, val, cfg, m, out_dir, resume, progress)
    finished = load_members(out_dir, require_all=False)[1]  # members trained by other processes too
    results = {"held_out": int(len(val)), "train": int(len(tr)), "members": list(finished),
               "ablation": ablation(finished, data, val, cfg.views, cfg.mean, cfg.std),
               "backbone_weights": {m: cfg.backbone_weights.get(m, "none (trained from scratch)") for m in finished}}
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return {"members": members, "histories": histories, "results": results, "config": cfg}


def ensemble_model(members: Dict[str, nn.Module], views: Sequence[str]) -> EnsembleQuality:
    return EnsembleQuality(list(members.values()), views).eval()

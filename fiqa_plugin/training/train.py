"""The crop trainer of quality regressors: L2 regression on recognition-oriented labels
(Peng et al. Eq. 2), SGD with step decay, on the one training loop (:func:`.trainer.fit`: a
checkpoint every epoch and exact resume).

Determinism: the model is initialised from ``seed``; each epoch's shuffle and flips come
from a generator seeded with ``(seed, epoch)``, so an interrupted run resumed from its last
checkpoint ends with the same weights as an uninterrupted one (single-threaded CPU).
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
from torch import nn

from ..errors import UsageError
from .data import TrainingSet, split_by_identity
from .sampling import SmoothSamplingConfig, random_sample, save_histograms, smooth_sample
from .trainer import TrainingRun, fit

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Hyper-parameters; the defaults are the paper's (SGD 0.01, ×0.1 every 5 epochs, batch 1024, 17 epochs)."""

    arch: str = "tinyfqnet"
    arch_kwargs: Dict = field(default_factory=dict)
    input_size: int = 64
    epochs: int = 17
    batch_size: int = 1024
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_step: int = 5
    lr_gamma: float = 0.1
    seed: int = 0
    threads: int = 1
    sampling: str = "smooth"  # smooth | random | none
    min_images: int = 10
    oversample: int = 3
    flip: bool = True
    val_fraction: float = 0.1
    mean: float = 127.5
    std: float = 127.5
    rank_weight: float = 0.0  # weight of the pairwise ranking loss added to the L2 loss (0: the paper's L2 only)


@dataclass
class TrainResult:
    """The trained model (eval mode), its per-epoch history and the run folder."""

    model: nn.Module
    history: List[Dict]
    out_dir: Path


def build_model(arch: str, **kw) -> nn.Module:
    """A fresh model of a registered architecture (:data:`fiqa_plugin.plugins.ARCHITECTURES`)."""
    from ..plugins import ARCHITECTURES

    model = ARCHITECTURES.create(arch, **kw)
    if not isinstance(model, nn.Module):
        raise UsageError(f"architecture {arch!r} built a {type(model).__name__}, not a torch.nn.Module")
    return model


def to_input(crops_bgr: np.ndarray, mean: float = 127.5, std: float = 127.5) -> torch.Tensor:
    """BGR uint8 ``[N,S,S,3]`` → normalised RGB NCHW float tensor (what the ONNX config declares)."""
    x = torch.from_numpy(np.ascontiguousarray(crops_bgr[..., ::-1].transpose(0, 3, 1, 2))).float()
    return (x - mean) / std


def ordinal_srcc(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation on ordinal ranks (ties broken by position): the regressors' checkpoint criterion."""
    from scipy.stats import rankdata

    return float(np.corrcoef(rankdata(a, method="ordinal"), rankdata(b, method="ordinal"))[0, 1])


def correlations(pred: np.ndarray, target: np.ndarray) -> Dict[str, float]:
    """Spearman (SRCC), Pearson (PLCC) and their mean (``score``, the VQualA challenge's final score);
    NaN for a constant input, where neither is defined."""
    from scipy.stats import pearsonr, spearmanr

    if len(pred) < 2 or np.ptp(pred) == 0 or np.ptp(target) == 0:
        return {"srcc": float("nan"), "plcc": float("nan"), "score": float("nan")}
    s, p = float(spearmanr(pred, target)[0]), float(pearsonr(pred, target)[0])
    return {"srcc": s, "plcc": p, "score": (s + p) / 2}


def pairwise_rank_loss(pred: torch.Tensor, target: torch.Tensor, margin: float = 0.02, scale: float = 20.0) -> torch.Tensor:
    """Logistic loss on every in-batch pair whose labels differ by more than ``margin``: the model
    is rewarded for ordering faces as the labels do (what EDC measures), not only for their values."""
    dp = pred[:, None] - pred[None, :]
    dy = target[:, None] - target[None, :]
    mask = dy > margin
    if not bool(mask.any()):
        return pred.sum() * 0.0
    return nn.functional.softplus(-scale * dp[mask]).mean()


def validation_pauc(quality: np.ndarray, embeddings: np.ndarray, identities: np.ndarray, source: np.ndarray,
                    fmr: float = 1e-3, discard_limit: float = 0.2) -> float:
    """EDC pAUC over every pair of validation samples (copies of one face excluded), pair quality = min."""
    from ..evaluation import compute_edc, pair_quality, pauc

    i, j = np.triu_indices(len(quality), 1)
    keep = ~((source[i] == source[j]) & (identities[i] == identities[j]))
    i, j = i[keep], j[keep]
    emb = np.asarray(embeddings, np.float32)
    sim = np.einsum("ij,ij->i", emb[i], emb[j])
    genuine = identities[i] == identities[j]
    if genuine.all() or not genuine.any():
        return float("nan")  # one held-out identity (or none with two images): no EDC
    curve = compute_edc(sim, genuine, pair_quality(quality[i], quality[j]), fmr=fmr)
    return float(pauc(curve, discard_limit))


def predict(model: nn.Module, crops_bgr: np.ndarray, mean: float = 127.5, std: float = 127.5, batch_size: int = 1024) -> np.ndarray:
    """Model scores of BGR crops at the model's input size."""
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(crops_bgr), batch_size):
            out.append(model(to_input(crops_bgr[i : i + batch_size], mean, std)).reshape(-1).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def select_training_indices(ts: TrainingSet, train_mask: np.ndarray, cfg: TrainConfig, out_dir: Optional[Path] = None) -> np.ndarray:
    """Indices of the training samples after the chosen sampling strategy; histograms saved to ``out_dir``."""
    idx = np.flatnonzero(train_mask)
    clean = ts.degradation[idx] == ""
    scores, ids = ts.labels[idx], ts.identities[idx]
    if cfg.sampling == "none":
        sel = np.arange(len(idx))
    else:
        smooth = smooth_sample(scores, ids, SmoothSamplingConfig(min_images=cfg.min_images, oversample=cfg.oversample),
                               seed=cfg.seed, count_mask=clean)
        if cfg.sampling == "smooth":
            sel = smooth
        elif cfg.sampling == "random":
            sel = random_sample(scores, ids, len(smooth), cfg.min_images, cfg.seed, count_mask=clean)
        else:
            raise UsageError(f"unknown sampling {cfg.sampling!r}; choose smooth, random or none")
    if out_dir is not None:
        save_histograms(scores, sel, out_dir / f"histogram-{cfg.sampling}.png", title=f"{cfg.sampling} sampling")
    return idx[sel]


def train(
    ts: TrainingSet,
    cfg: TrainConfig,
    out_dir: os.PathLike | str,
    resume: bool = True,
    progress: bool = False,
    on_epoch_end: Optional[Callable[[int, Dict], None]] = None,
) -> TrainResult:
    """Train on ``ts`` (held-out identities for validation), checkpointing to ``out_dir/last.pt`` every epoch."""

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    if ts.crops.shape[1] != cfg.input_size:
        raise UsageError(f"training set crops are {ts.crops.shape[1]} px, the config wants {cfg.input_size}")
    train_mask, val_mask = split_by_identity(ts.identities, cfg.val_fraction, cfg.seed)
    tr = select_training_indices(ts, train_mask, cfg, out_dir)
    val = np.flatnonzero(val_mask)
    log.info("training on %d samples, validating on %d (%d held-out identities)", len(tr), len(val),
             len(np.unique(ts.identities[val])))

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.arch, **cfg.arch_kwargs)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    loss_fn = nn.MSELoss()
    labels = torch.from_numpy(ts.labels.astype(np.float32))

    def batch_loss(model: nn.Module, b: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        crops = ts.crops[b]
        if cfg.flip:
            f = rng.random(len(b)) < 0.5
            crops[f] = crops[f][:, :, ::-1]
        y = labels[b]
        pred = model(to_input(crops, cfg.mean, cfg.std)).reshape(-1)
        loss = loss_fn(pred, y)
        if cfg.rank_weight > 0:
            loss = loss + cfg.rank_weight * pairwise_rank_loss(pred, y)
        return loss

    def validate(model: nn.Module) -> Dict:
        pred_val = predict(model, ts.crops[val], cfg.mean, cfg.std)
        rec = {"lr": opt.param_groups[0]["lr"]}
        rec.update({f"val_{k}": v for k, v in correlations(pred_val, ts.labels[val]).items()})
        clean = ts.degradation[val] == ""
        if clean.any() and (~clean).any():
            rec.update({f"val_clean_{k}": v for k, v in correlations(pred_val[clean], ts.labels[val][clean]).items()})
        if ts.embeddings is not None and clean.sum() > 1:
            # the clean held-out faces: real photos, like the ones the model will score
            pa = validation_pauc(pred_val[clean], ts.embeddings[val][clean], ts.identities[val][clean], ts.source[val][clean])
            if np.isfinite(pa):  # NaN (no impostor pairs) is left out: it would never compare equal on resume
                rec["val_pauc"] = pa
        return rec

    model, history = fit(TrainingRun(
        model, opt, tr, cfg.batch_size, cfg.epochs, batch_loss, rng_key=[cfg.seed], config=asdict(cfg),
        out_dir=out_dir, scheduler=torch.optim.lr_scheduler.StepLR(opt, cfg.lr_step, cfg.lr_gamma),
        validate=validate, loss_name="train_mse", min_batch=2,  # BatchNorm needs two samples
        progress=progress, resume=resume, on_epoch_end=on_epoch_end))
    torch.save(model.state_dict(), out_dir / "model.pt")
    return TrainResult(model, history, out_dir)

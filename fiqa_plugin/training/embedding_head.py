"""Transfer-learning quality head on frozen recognizer embeddings (Babnik, Damer, Štruc, IWBF 2023).

A small MLP reads the recognizer's *raw* embedding (its norm carries quality information, see the
``embedding-norm`` measure) and regresses quality labels normalised to ``[0, 1]`` with the L1
loss. The recognizer stays frozen, so training takes seconds on cached embeddings; at inference
the exported head (input ``embedding``, output ``quality``) is composed with the recognizer
(:mod:`fiqa_plugin.quality.compose`): one pass, embedding and quality.
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from .train import ordinal_srcc
from .trainer import TrainingRun, fit

log = logging.getLogger(__name__)


def normalise_labels(labels: np.ndarray) -> np.ndarray:
    """Min-max to ``[0, 1]`` over the finite labels (NaN stays NaN; a constant set gives 0.5)."""
    q = np.asarray(labels, np.float64)
    out = np.full(q.shape, np.nan)
    ok = np.isfinite(q)
    if ok.any():
        lo, hi = q[ok].min(), q[ok].max()
        out[ok] = 0.5 if hi <= lo else (q[ok] - lo) / (hi - lo)
    return out


class EmbeddingHead(nn.Module):
    """``embedding [N, d]`` (raw) → quality ``[N, 1]``: scale, Linear–ReLU–Dropout–Linear."""

    def __init__(self, dim: int, hidden: int = 128, dropout: float = 0.1, scale: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(float(scale)))  # 1 / mean training norm: inputs near unit length
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.net(embedding * self.scale)


@dataclass
class HeadTrainConfig:
    epochs: int = 60
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    hidden: int = 128
    dropout: float = 0.1
    val_fraction: float = 0.1
    seed: int = 0
    threads: int = 1


def train_head(embeddings: np.ndarray, labels01: np.ndarray, identities: Optional[np.ndarray],
               cfg: HeadTrainConfig = HeadTrainConfig(), out: Optional[os.PathLike | str] = None,
               resume: bool = True) -> Tuple[EmbeddingHead, List[dict]]:
    """Train a head with L1 on ``labels01`` (``[0, 1]``, NaN rows skipped); identities held out for
    validation when ``identities`` is given (``val_fraction`` > 0). Returns the model (eval mode)
    and its per-epoch history; with ``out`` it checkpoints every epoch (resumed from when ``resume``) and
    writes ``history.json`` and ``head.pt`` (the loop: :func:`.trainer.fit`)."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    x = np.asarray(embeddings, np.float32)
    y = np.asarray(labels01, np.float32)
    ok = np.isfinite(y)
    if identities is not None and cfg.val_fraction > 0:
        from .data import split_by_identity

        tr, va = split_by_identity(np.asarray(identities), cfg.val_fraction, cfg.seed)
        tr, va = np.flatnonzero(tr & ok), np.flatnonzero(va & ok)
    else:
        tr, va = np.flatnonzero(ok), np.zeros(0, np.int64)
    scale = 1.0 / float(np.mean(np.linalg.norm(x[tr], axis=1)))
    model = EmbeddingHead(x.shape[1], cfg.hidden, cfg.dropout, scale)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def batch_loss(model: nn.Module, b: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        idx = torch.from_numpy(b)
        return (model(xt[idx])[:, 0] - yt[idx]).abs().mean()

    def validate(model: nn.Module) -> dict:
        if not len(va):
            return {}
        p = predict_head(model, x[va])
        return {"val_l1": float(np.mean(np.abs(p - y[va]))), "val_srcc": ordinal_srcc(p, y[va])}

    model, history = fit(TrainingRun(model, opt, tr, cfg.batch_size, cfg.epochs, batch_loss, rng_key=[cfg.seed],
                                     config={**asdict(cfg), "dim": x.shape[1]}, out_dir=out, scheduler=sched,
                                     validate=validate, loss_name="train_l1", resume=resume))
    if out is not None:
        torch.save({"model": model.state_dict(), "config": asdict(cfg), "dim": x.shape[1]}, Path(out) / "head.pt")
    log.info("embedding head: %s", history[-1] if history else {})
    return model, history


@torch.no_grad()
def predict_head(model: nn.Module, embeddings: np.ndarray, batch: int = 4096) -> np.ndarray:
    model.eval()
    x = np.asarray(embeddings, np.float32)
    return np.concatenate([model(torch.from_numpy(x[s : s + batch]))[:, 0].numpy() for s in range(0, len(x), batch)]) \
        if len(x) else np.zeros(0, np.float32)


def export_head(model: EmbeddingHead, path: os.PathLike | str) -> Path:
    """ONNX with input ``embedding [batch, d]`` and output ``quality [batch, 1]``."""
    from .export import export_onnx

    dim = model.net[0].in_features
    return export_onnx(model, path, example=torch.zeros(2, dim), input_name="embedding")

"""The one training loop: every trainer (crop models, SDD regressor, embedding head, ensemble members)
describes its run as a :class:`TrainingRun` and calls :func:`fit`.

``fit`` owns what all of them share: resume from ``last.pt`` (same config only), the per-epoch
generator, shuffling and batching, the progress bar, optimizer and scheduler steps, the per-epoch
record, a checkpoint every epoch (and ``best.pt`` when a metric selects the model), ``history.json``
and logging. A trainer supplies only what is its own: the model and optimizer, how one batch's loss
is computed and how the model is validated.

Determinism: epoch ``e`` draws everything (the shuffle, and whatever ``batch_loss`` draws for
augmentation) from ``numpy.random.default_rng([*rng_key, e])``, and torch's RNG state is kept in the
checkpoint, so a run resumed from its last checkpoint ends with the weights of an uninterrupted one
(single-threaded CPU).
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..errors import UsageError
from ..progress import iter_progress
from .checkpoint import Checkpoint, write_history

log = logging.getLogger(__name__)

BEST = "best.pt"

#: ``batch_loss(model, batch_indices, rng) -> scalar tensor``; ``rng`` is the epoch's generator.
BatchLoss = Callable[[nn.Module, np.ndarray, np.random.Generator], torch.Tensor]


@dataclass
class TrainingRun:
    """Everything :func:`fit` needs to train one model."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    train_indices: np.ndarray  # what is shuffled and cut into batches each epoch
    batch_size: int
    epochs: int
    batch_loss: BatchLoss
    rng_key: Sequence[int]  # epoch e draws from default_rng([*rng_key, e])
    config: Dict[str, Any]  # saved with every checkpoint and in history.json; a resume needs the same
    out_dir: Optional[os.PathLike | str] = None  # None: no checkpoint, no history.json
    scheduler: Optional[Any] = None  # stepped once per epoch
    validate: Optional[Callable[[nn.Module], Dict[str, float]]] = None  # the epoch record's other fields
    loss_name: str = "train_loss"  # the record's key for the epoch's sample-weighted mean loss
    min_batch: int = 1  # smaller batches (the epoch's last) are skipped: BatchNorm and Pearson need two
    select_by: Optional[str] = None  # keep the epoch with the highest record[select_by] in best.pt and return it
    reseed_torch: bool = False  # seed torch from the epoch's generator first (dropout masks per epoch)
    checkpoint_extra: Dict[str, Any] = field(default_factory=dict)  # more entries for every checkpoint
    name: str = ""  # the progress bar's and the log's prefix
    progress: bool = False
    resume: bool = True
    on_epoch_end: Optional[Callable[[int, Dict], None]] = None  # (1-based epoch, record), after its checkpoint


def batches(order: np.ndarray, batch_size: int, min_batch: int = 1) -> List[np.ndarray]:
    """``order`` cut into consecutive batches of ``batch_size``; a batch under ``min_batch`` is dropped."""
    cut = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [b for b in cut if len(b) >= min_batch]


def fit(run: TrainingRun) -> Tuple[nn.Module, List[Dict]]:
    """Train ``run.model`` for the epochs its checkpoint has not done yet; returns ``(model in eval mode,
    per-epoch history)``; the model of the ``select_by``-best epoch when a metric selects."""
    model, opt, sched = run.model, run.optimizer, run.scheduler
    objects = {"model": model, "optimizer": opt, **({"scheduler": sched} if sched is not None else {})}
    ckpt = best = None
    if run.out_dir is not None:
        Path(run.out_dir).mkdir(parents=True, exist_ok=True)
        ckpt = Checkpoint(run.out_dir, run.config)
        best = Checkpoint(run.out_dir, run.config, name=BEST)
    elif run.select_by is not None:
        raise UsageError("select_by needs an out_dir to keep best.pt in")
    state = ckpt.load(**objects) if ckpt is not None and run.resume else None
    history: List[Dict] = state["history"] if state is not None else []
    if state is None and best is not None and best.path.exists():
        best.path.unlink()  # a fresh run: a best.pt left by an earlier one must not be returned
    for epoch in range(len(history), run.epochs):
        t0 = time.monotonic()
        label = f"{run.name} epoch {epoch + 1}/{run.epochs}".strip()
        rng = np.random.default_rng([*run.rng_key, epoch])
        if run.reseed_torch:
            torch.manual_seed(int(rng.integers(2**31)))
        order = run.train_indices[rng.permutation(len(run.train_indices))]
        model.train()
        total, seen = 0.0, 0
        bar = iter_progress(batches(order, run.batch_size, run.min_batch), desc=label, enable=run.progress,
                            unit="batch")
        for b in bar:
            loss = run.batch_loss(model, b, rng)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
            seen += len(b)
            bar.set_postfix(loss=f"{total / seen:.4f}")
        if sched is not None:
            sched.step()
        model.eval()
        with torch.no_grad():
            rec = {"epoch": epoch + 1, run.loss_name: total / max(seen, 1), **(run.validate(model) if run.validate else {})}
        history.append(rec)
        log.info("%s (%.1f s): %s", label, time.monotonic() - t0, json.dumps({k: round(v, 4) for k, v in rec.items()}))
        if ckpt is not None:
            # best.pt before last.pt, both atomic: a kill between the two redoes this epoch, which rewrites best.pt
            if run.select_by is not None and _is_best(history, run.select_by):
                best.save(epoch, history, run.checkpoint_extra, **objects)
            ckpt.save(epoch, history, run.checkpoint_extra, **objects)
            write_history(run.out_dir, run.config, history)
        if run.on_epoch_end is not None:
            run.on_epoch_end(epoch + 1, rec)
    if ckpt is not None:
        write_history(run.out_dir, run.config, history)
        if run.select_by is not None and best.path.exists():
            model.load_state_dict(torch.load(best.path, weights_only=True)["model"])
            log.info("using the epoch with the best %s (%s)", run.select_by, best.path)
    model.eval()
    return model, history


def _is_best(history: List[Dict], metric: str) -> bool:
    """The last record's ``metric`` is finite and at least every earlier finite one (a tie: the later epoch)."""
    value = history[-1].get(metric, float("nan"))
    earlier = [h[metric] for h in history[:-1] if np.isfinite(h.get(metric, float("nan")))]
    return bool(np.isfinite(value)) and all(value >= e for e in earlier)

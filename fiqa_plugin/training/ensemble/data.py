"""Regression data for the ensemble: aligned 112×112 BGR crops with any float target.

Two sources:

* an identity folder → :func:`fiqa_plugin.training.data.build_training_set` (clean + degraded
  crops with ``buffalo_sc`` centre pseudo-labels, cached under ``~/.cache/fiqa/training``);
* a CSV ``path,label[,group]`` (e.g. human opinion scores, MOS): images are detected and aligned
  like everywhere else (or taken as pre-aligned crops with ``aligned=True``).

Splits hold out whole groups (identities) when groups are known, else random samples.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Tuple

import cv2
import numpy as np
from ...errors import InputError
from ...io import read_target_csv

log = logging.getLogger(__name__)


@dataclass
class RegressionData:
    """``crops`` ``[N,S,S,3]`` BGR uint8, ``labels`` ``[N]`` float32, ``groups`` ``[N]`` int (−1 = unknown)."""

    crops: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    degradation: np.ndarray  # "" for untouched images (always "" for CSV data)
    source: str  # what the labels are, for reports and model cards

    def __post_init__(self) -> None:
        if not (len(self.crops) == len(self.labels) == len(self.groups) == len(self.degradation)):
            raise InputError("crops, labels, groups and degradation must have the same length")
        if not np.isfinite(self.labels).all():
            raise InputError(f"{int((~np.isfinite(self.labels)).sum())} labels are not finite numbers")

    def resized(self, size: int) -> "RegressionData":
        from ..data import resize_crops

        return RegressionData(resize_crops(self.crops, size), self.labels, self.groups, self.degradation, self.source)


def from_identity_folder(root: os.PathLike | str, degrade_copies: int = 2, seed: int = 0, pack: str = "buffalo_sc",
                         recognizer: str = "buffalo_sc", threads: int = 1,
                         progress: Optional[Callable[[int, int], None]] = None) -> RegressionData:
    """Pseudo-labelled crops of an identity folder (the shared training-set cache, at 112 px)."""
    from ..data import build_training_set

    ts = build_training_set(root, 112, degrade_copies, seed, pack, recognizer, threads, progress=progress)
    return RegressionData(ts.crops, ts.labels.astype(np.float32), ts.identities.astype(np.int64), ts.degradation,
                          f"{recognizer} centre labels (Peng et al. Eq. 1) of {Path(root).name}, "
                          f"{degrade_copies} degraded copies per face (seed {seed})")


def from_csv(path: os.PathLike | str, aligned: bool = False, pack: str = "buffalo_sc",
             progress: Optional[Callable[[int, int], None]] = None) -> RegressionData:
    """Crops and float targets from a ``path,label[,group]`` CSV; unreadable or faceless images are skipped (logged)."""
    from ...imageio import try_decode

    rows = read_target_csv(path)
    pipe = None
    if not aligned:
        from ...faces.pipeline import FacePipeline

        pipe = FacePipeline.from_pack(pack, mode="largest")
    crops, labels, groups, skipped = [], [], [], []
    group_ids: dict = {}
    for i, (p, y, g) in enumerate(rows):
        if aligned:
            img, err = try_decode(p)
            crop = None if img is None else cv2.resize(img.bgr, (112, 112), interpolation=cv2.INTER_AREA)
        else:
            res = pipe.process(p)
            crop = res.faces[0].aligned if res.ok else None
        if crop is None:
            skipped.append(p)
        else:
            crops.append(crop)
            labels.append(y)
            groups.append(group_ids.setdefault(g, len(group_ids)) if g else -1)
        if progress:
            progress(i + 1, len(rows))
    if skipped:
        log.warning("%d of %d images skipped (unreadable or no face), e.g. %s", len(skipped), len(rows), skipped[:3])
    if not crops:
        raise InputError(f"no usable image in {path}")
    return RegressionData(np.stack(crops), np.asarray(labels, np.float32), np.asarray(groups, np.int64),
                          np.full(len(crops), "", dtype="<U1"), f"float labels from {Path(path).name}")


def split(data: RegressionData, val_fraction: float = 0.2, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Train / validation index arrays: whole groups held out when every sample has one, else random samples."""
    rng = np.random.default_rng(seed)
    if (data.groups >= 0).all():
        ids = np.unique(data.groups)
        val_ids = rng.choice(ids, size=max(1, round(len(ids) * val_fraction)), replace=False)
        val = np.isin(data.groups, val_ids)
    else:
        val = np.zeros(len(data.labels), bool)
        val[rng.permutation(len(val))[: max(1, round(len(val) * val_fraction))]] = True
    return np.flatnonzero(~val), np.flatnonzero(val)

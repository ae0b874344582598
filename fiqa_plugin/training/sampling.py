"""Training-set sampling (Peng et al. Sec. 3.4): smooth sampling that flattens the label
histogram, and the plain random strategy it is compared with in Table 7.

Smooth sampling: drop identities with fewer than ``min_images`` images (their centres are
unreliable); split [0, 1] into ``bins`` equal-width bins; oversample the samples among the
lowest ``low_fraction`` and highest ``high_fraction`` of scores (the rare tails) by
``oversample``; cap every bin at ``cap`` samples (default: the mean count of the non-empty
bins), sampling without replacement in crowded bins so the histogram flattens.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np
from ..errors import UsageError

log = logging.getLogger(__name__)


@dataclass
class SmoothSamplingConfig:
    """Parameters of :func:`smooth_sample` (defaults: Sec. 3.4 with T = 10 for CelebA)."""

    min_images: int = 10
    bins: int = 100
    low_fraction: float = 0.10
    high_fraction: float = 0.05
    oversample: int = 3
    cap: Optional[int] = None


def identity_filter(identities: np.ndarray, min_images: int, count_mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Mask of samples whose identity has at least ``min_images`` images (counted where ``count_mask``)."""
    ids = np.asarray(identities)
    counted = ids if count_mask is None else ids[np.asarray(count_mask, bool)]
    uniq, counts = np.unique(counted, return_counts=True)
    keep = uniq[counts >= min_images]
    return np.isin(ids, keep)


def bin_index(scores: np.ndarray, bins: int = 100) -> np.ndarray:
    """Equal-width bin of each score over [0, 1] (scores outside are clipped into the end bins)."""
    return np.clip((np.asarray(scores, np.float64) * bins).astype(np.int64), 0, bins - 1)


def smooth_sample(
    scores: np.ndarray,
    identities: np.ndarray,
    config: SmoothSamplingConfig = SmoothSamplingConfig(),
    seed: int = 0,
    count_mask: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Indices (with repeats for oversampled samples) of the smoothed training set."""
    scores = np.asarray(scores, np.float64)
    rng = np.random.default_rng(seed)
    keep = identity_filter(identities, config.min_images, count_mask) & np.isfinite(scores)
    idx = np.flatnonzero(keep)
    if len(idx) == 0:
        raise UsageError(f"no identity has {config.min_images} or more images; lower min_images")
    s = scores[idx]
    lo, hi = np.quantile(s, config.low_fraction), np.quantile(s, 1 - config.high_fraction)
    weight = np.where((s <= lo) | (s >= hi), config.oversample, 1)
    b = bin_index(s, config.bins)
    counts = np.bincount(b, minlength=config.bins)
    cap = config.cap or int(np.ceil(counts[counts > 0].mean()))
    out = []
    for k in np.flatnonzero(counts):
        members = np.flatnonzero(b == k)
        pool = np.repeat(members, weight[members])  # tail samples appear `oversample` times
        target = min(len(pool), cap)
        if target < len(members):
            pick = rng.choice(members, size=target, replace=False)
        else:
            # every sample once, the rest drawn from the oversampled pool
            pick = np.concatenate([members, rng.choice(pool, size=target - len(members), replace=True)])
        out.append(idx[pick])
    res = np.sort(np.concatenate(out))
    log.info("smooth sampling: %d -> %d samples (identities >= %d images, cap %d per bin)",
             len(scores), len(res), config.min_images, cap)
    return res


def random_sample(
    scores: np.ndarray, identities: np.ndarray, size: int, min_images: int = 10, seed: int = 0,
    count_mask: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Table 7's baseline: ``size`` samples drawn uniformly (same identity filter)."""
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(identity_filter(identities, min_images, count_mask) & np.isfinite(scores))
    return np.sort(rng.choice(idx, size=size, replace=size > len(idx)))


def save_histograms(scores: np.ndarray, sampled: np.ndarray, path: os.PathLike | str, bins: int = 100,
                    title: str = "smooth sampling") -> None:
    """Before/after label histograms side by side, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharex=True)
    edges = np.linspace(0, 1, bins + 1)
    for ax, data, name in ((axes[0], scores, f"before (n={len(scores)})"), (axes[1], scores[sampled], f"after (n={len(sampled)})")):
        ax.hist(np.clip(data, 0, 1), bins=edges, color="tab:blue")
        ax.set_title(name)
        ax.set_xlabel("quality label cos(f, u_y)")
    axes[0].set_ylabel("samples per bin")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

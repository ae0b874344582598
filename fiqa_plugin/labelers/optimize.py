"""Optimisation of existing quality scores with mated-pair similarities (Babnik, Damer, Štruc,
"Optimization-Based Improvement of Face Image Quality Assessment Techniques", IWBF 2023, Sec. III).

Any method's scores ``q`` are refined with the recognition embeddings:

1. Per identity, K-means on the embeddings with ``C_y = min(C, n_y)`` clusters (default C = 20;
   a small numpy k-means with k-means++ seeding, so the core does not need scikit-learn).
2. Each image is paired with one random image from every *other* cluster of its identity
   (``C_y − 1`` mated pairs per image). All pair similarities are sorted into ``X_s``; the scores
   are sorted into ``X_q``.
3. For each image, the mean position in ``X_s`` of the pairs in which it is the lower-quality
   member (by the current positions in ``X_q``) pulls its own position: ``p ← p + θ·(s̄ − p)``
   (θ = 0.001 by default). Images that are never the lower member keep their position.
4. Steps 2–3 are repeated ``R`` times (default 10) with fresh random pairings, each starting from
   the original positions, and the new positions are averaged.
5. Scores are reassigned by rank from the original distribution: the ``i``-th lowest new position
   receives the ``i``-th lowest original score, so the histogram of the scores is unchanged.

Documented choices
------------------
* **One scale.** Positions in ``X_s`` and ``X_q`` are ordinal ranks divided by ``length − 1``, so
  both lie in ``[0, 1]`` whatever the numbers of pairs and images.
* **Pairs count for both members.** A pair drawn for image ``i`` with partner ``j`` counts for
  whichever of the two is the lower-quality member (it is "its pair" for both).
* **Ties.** Equal scores, and equal similarities, are ordered by index (stable sorts); equal new
  positions keep their original order.
* **NaN scores** (e.g. SDD's single-image identities) stay NaN; those images take no part.
* Identities with one image (or one cluster) produce no pairs; their images keep their position.
"""
from __future__ import annotations

import logging
from typing import List, Optional, Tuple

import numpy as np

from .base import Labeler, Progress, check_inputs, report
from ..errors import UsageError

log = logging.getLogger(__name__)

_GRAM_MAX = 2048  # identities larger than this compute pair similarities directly, not from a Gram matrix


# ----------------------------------------------------------------------------------------------
# k-means
# ----------------------------------------------------------------------------------------------
def _sqdist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    d2 = (x * x).sum(1)[:, None] - 2.0 * x @ c.T + (c * c).sum(1)[None, :]
    return np.maximum(d2, 0.0)


def _kmeans_pp(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    n = len(x)
    idx = [int(rng.integers(n))]
    d2 = _sqdist(x, x[idx])[:, 0]
    for _ in range(1, k):
        tot = d2.sum()
        j = int(rng.choice(n, p=d2 / tot)) if tot > 0 else int(rng.integers(n))
        idx.append(j)
        d2 = np.minimum(d2, _sqdist(x, x[j : j + 1])[:, 0])
    return x[idx].copy()


def kmeans(
    x: np.ndarray,
    k: int,
    *,
    seed: Optional[int] = 0,
    n_init: int = 1,
    max_iter: int = 100,
    tol: float = 1e-10,
    rng: Optional[np.random.Generator] = None,
) -> Tuple[np.ndarray, np.ndarray, float]:
    """Lloyd's k-means with k-means++ seeding: ``(labels [n], centres [k, d], inertia)``.

    ``k`` is capped at ``n``; with ``k == n`` every point is its own cluster. An empty cluster is
    re-seeded with the point farthest from its centre. The best of ``n_init`` runs (lowest
    inertia) is returned. Deterministic for a given ``seed`` (or ``rng``).
    """
    x = np.asarray(x, np.float64)
    n = len(x)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros((0, x.shape[1])), 0.0
    k = max(1, min(int(k), n))
    if k == n:
        return np.arange(n), x.copy(), 0.0
    rng = rng if rng is not None else np.random.default_rng(seed)
    best: Optional[Tuple[np.ndarray, np.ndarray, float]] = None
    for _ in range(max(1, n_init)):
        centres = _kmeans_pp(x, k, rng)
        for _ in range(max_iter):
            d2 = _sqdist(x, centres)
            lab = d2.argmin(1)
            cnt = np.bincount(lab, minlength=k)
            new = np.zeros_like(centres)
            np.add.at(new, lab, x)
            full = cnt > 0
            new[full] /= cnt[full, None]
            if not full.all():  # re-seed empty clusters with the worst-fitted points
                far = np.argsort(-d2[np.arange(n), lab], kind="stable")[: int((~full).sum())]
                new[~full] = x[far]
            shift = float(((new - centres) ** 2).sum())
            centres = new
            if shift <= tol:
                break
        d2 = _sqdist(x, centres)
        lab = d2.argmin(1)
        inertia = float(d2[np.arange(n), lab].sum())
        if best is None or inertia < best[2]:
            best = (lab, centres, inertia)
    assert best is not None
    return best


# ----------------------------------------------------------------------------------------------
# The position update
# ----------------------------------------------------------------------------------------------
def ordinal_positions(values: np.ndarray) -> np.ndarray:
    """Position of each value in its sorted list, on ``[0, 1]``: ``rank / (len − 1)`` (stable ties)."""
    values = np.asarray(values)
    n = len(values)
    pos = np.empty(n, np.float64)
    pos[np.argsort(values, kind="stable")] = np.arange(n) / max(n - 1, 1)
    return pos


def position_update(
    positions: np.ndarray, pair_a: np.ndarray, pair_b: np.ndarray, pair_sims: np.ndarray, theta: float
) -> np.ndarray:
    """One pass of Sec. III: new quality positions from one set of mated pairs.

    ``positions [N]``: current positions in ``X_q`` (``[0, 1]``, distinct); pairs ``(a, b)`` with
    similarities ``pair_sims``. For each image, ``s̄`` = mean position in ``X_s`` (see
    :func:`ordinal_positions`) of the pairs where it has the lower position; the new position is
    ``p + θ·(s̄ − p)``, unchanged for images that are never the lower member.
    """
    p = np.asarray(positions, np.float64)
    a = np.asarray(pair_a, np.int64)
    b = np.asarray(pair_b, np.int64)
    new = p.copy()
    if len(a) == 0:
        return new
    s_pos = ordinal_positions(pair_sims)
    lower = np.where(p[a] < p[b], a, b)
    cnt = np.bincount(lower, minlength=len(p))
    tot = np.bincount(lower, weights=s_pos, minlength=len(p))
    hit = cnt > 0
    new[hit] = p[hit] + theta * (tot[hit] / cnt[hit] - p[hit])
    return new


# ----------------------------------------------------------------------------------------------
# Pairing
# ----------------------------------------------------------------------------------------------
class _Pairing:
    """Per-identity clusters, flattened so that a fresh random pairing is a few vectorised ops."""

    def __init__(self, emb: np.ndarray, inv: np.ndarray, n_ids: int, clusters: int, seed: Optional[int],
                 n_init: int, progress, total: int) -> None:
        rng = np.random.default_rng(seed)
        self.emb = emb
        counts = np.bincount(inv, minlength=n_ids)
        order = np.argsort(inv, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)])
        src: List[np.ndarray] = []  # image of each (image, other cluster) slot
        cl_of_slot: List[np.ndarray] = []  # global cluster id of the slot's partner cluster
        cl_members: List[np.ndarray] = []
        cl_sizes: List[int] = []
        gram_parts: List[np.ndarray] = []
        self.gram_off = np.full(len(emb), -1, np.int64)  # image → offset of its Gram row, -1 for big identities
        self.local = np.zeros(len(emb), np.int64)
        self.gram_n = np.zeros(len(emb), np.int64)
        g_off = 0
        n_cl = 0
        for y in range(n_ids):
            members = order[starts[y] : starts[y + 1]]
            n = len(members)
            c = min(clusters, n)
            if c >= 2:
                e = emb[members]
                lab, _, _ = kmeans(e, c, n_init=n_init, rng=rng)
                used = np.unique(lab)
                lab = np.searchsorted(used, lab)  # compact: only non-empty clusters
                c = len(used)
            if c >= 2:
                by_cl = np.argsort(lab, kind="stable")
                sizes = np.bincount(lab, minlength=c)
                bounds = np.concatenate([[0], np.cumsum(sizes)])
                for j in range(c):
                    cl_members.append(members[by_cl[bounds[j] : bounds[j + 1]]])
                cl_sizes.extend(sizes.tolist())
                other = np.ones((n, c), bool)
                other[np.arange(n), lab] = False
                ii, jj = np.nonzero(other)
                src.append(members[ii])
                cl_of_slot.append(n_cl + jj)
                n_cl += c
                self.local[members] = np.arange(n)
                self.gram_n[members] = n
                if n <= _GRAM_MAX:
                    gram_parts.append((e @ e.T).ravel())
                    self.gram_off[members] = g_off + n * np.arange(n)
                    g_off += n * n
            report(progress, starts[y + 1], total)
        self.src = np.concatenate(src) if src else np.zeros(0, np.int64)
        self.slot_cluster = np.concatenate(cl_of_slot) if cl_of_slot else np.zeros(0, np.int64)
        self.cl_sizes = np.asarray(cl_sizes, np.int64)
        self.cl_start = np.concatenate([[0], np.cumsum(self.cl_sizes)])[:-1].astype(np.int64)
        self.cl_flat = np.concatenate(cl_members) if cl_members else np.zeros(0, np.int64)
        self.gram = np.concatenate(gram_parts) if gram_parts else np.zeros(0, np.float32)
        log.debug("optimize: %d clusters, %d pair slots", n_cl, len(self.src))

    def draw(self, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A fresh random pairing: ``(a, b, similarity)``, one pair per (image, other cluster)."""
        c = self.slot_cluster
        pick = (rng.random(len(c)) * self.cl_sizes[c]).astype(np.int64)
        b = self.cl_flat[self.cl_start[c] + np.minimum(pick, self.cl_sizes[c] - 1)]
        a = self.src
        sims = np.empty(len(a), np.float64)
        small = self.gram_off[a] >= 0
        sims[small] = self.gram[self.gram_off[a[small]] + self.local[b[small]]]
        big = np.nonzero(~small)[0]
        for s in range(0, len(big), 65536):
            sl = big[s : s + 65536]
            sims[sl] = np.einsum("nd,nd->n", self.emb[a[sl]], self.emb[b[sl]])
        return a, b, sims


def optimize_scores(
    initial_scores: np.ndarray,
    embeddings: np.ndarray,
    identities: np.ndarray,
    *,
    clusters: int = 20,
    theta: float = 0.001,
    repetitions: int = 10,
    seed: Optional[int] = 0,
    n_init: int = 1,
    progress: Optional[Progress] = None,
) -> np.ndarray:
    """Refined scores ``[N]``: the original score values, re-ordered (see the module docstring).

    ``clusters`` = C (per identity ``min(C, n_y)``), ``theta`` = θ, ``repetitions`` = R random
    pairings averaged, ``n_init`` k-means restarts. ``np.sort(out) == np.sort(initial_scores)``
    exactly (NaN entries stay NaN, in place). Returns the input's float dtype.
    """
    q = np.asarray(initial_scores)
    emb, inv, n_ids = check_inputs(embeddings, identities)
    if q.shape != (len(emb),):
        raise UsageError(f"initial_scores must be [N] with N={len(emb)}, got shape {q.shape}")
    if not np.issubdtype(q.dtype, np.floating):
        q = q.astype(np.float64)
    if clusters < 1 or repetitions < 1:
        raise UsageError(f"clusters and repetitions must be positive, got {clusters}, {repetitions}")
    out = q.copy()
    ok = np.isfinite(q)
    if ok.sum() < 2:
        return out
    if not ok.all():
        log.warning("optimize: %d non-finite initial scores are left as they are", int((~ok).sum()))
    idx = np.nonzero(ok)[0]
    e, yv = (emb, inv) if ok.all() else (emb[idx], inv[idx])  # no copy of the embeddings when all are scored
    _, yv = np.unique(yv, return_inverse=True)
    n, n_y = len(idx), int(yv.max()) + 1
    total = n * (repetitions + 1)
    pairing = _Pairing(e, yv.reshape(-1), n_y, clusters, seed, n_init, progress, total)
    pos = ordinal_positions(q[idx])
    rng = np.random.default_rng(None if seed is None else [seed, 1])
    acc = np.zeros(n)
    for r in range(repetitions):
        a, b, sims = pairing.draw(rng)
        acc += position_update(pos, a, b, sims, theta)
        report(progress, n * (r + 2), total)
    new_pos = acc / repetitions
    order = np.lexsort((pos, new_pos))  # ascending new position, ties by original position
    vals = np.sort(q[idx], kind="stable")
    res = np.empty(n, q.dtype)
    res[order] = vals
    out[idx] = res
    moved = float(np.mean(order != np.argsort(pos, kind="stable")))
    log.info("optimize: %d images, %d identities, %d pairs per pass; %.1f%% of ranks changed",
             n, n_y, len(pairing.src), 100 * moved)
    return out


class OptimizeLabeler(Labeler):
    """Optimisation-based refinement of any method's scores (Babnik, Damer, Štruc 2023)."""

    name = "optimize"
    needs_initial_scores = True

    def __init__(self, clusters: int = 20, theta: float = 0.001, repetitions: int = 10, seed: Optional[int] = 0,
                 n_init: int = 1) -> None:
        self.opts = dict(clusters=clusters, theta=theta, repetitions=repetitions, seed=seed, n_init=n_init)

    def label(self, embeddings: np.ndarray, identities: np.ndarray, *, initial_scores: Optional[np.ndarray] = None,
              progress: Optional[Progress] = None, **kw) -> np.ndarray:
        if initial_scores is None:
            raise UsageError("the optimize labeler refines existing scores: pass initial_scores=")
        opts = dict(self.opts)
        opts.update(kw)
        return optimize_scores(initial_scores, embeddings, identities, progress=progress, **opts)

"""Verification pairs: the LFW ``pairs.txt`` protocol, and seeded sampling from identity labels."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from ..errors import InputError

log = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]


class LFWPair(NamedTuple):
    """One protocol pair: two image paths, whether they show the same person, and its fold (0-based)."""

    path_a: str
    path_b: str
    is_genuine: bool
    fold: int


def lfw_pairs_path() -> Path:
    """The shared LFW ``pairs.txt`` (raises :class:`~fiqa_plugin.paths.MissingAssetError` with the fix when absent)."""
    from ..paths import shared_path

    return shared_path("data", "lfw", "pairs.txt")


def lfw_image_path(image_root: PathLike, name: str, index: int) -> str:
    """``<image_root>/<Name>/<Name>_%04d.jpg``."""
    return str(Path(image_root) / name / f"{name}_{int(index):04d}.jpg")


def parse_lfw_pairs(path: Optional[PathLike] = None, image_root: Optional[PathLike] = None) -> List[LFWPair]:
    """Parse an LFW pairs file into ``LFWPair(path_a, path_b, is_genuine, fold)`` rows, file order kept.

    The header is ``<folds> <pairs per side>`` (``10 300`` for View 2: each fold holds 300 same
    pairs ``Name i j`` then 300 different pairs ``NameA i NameB j``) or a single count for the View 1
    files (one fold). ``path`` defaults to :func:`lfw_pairs_path`, ``image_root`` to the ``images``
    folder next to it. Raises ``ValueError`` on a malformed file.
    """
    p = Path(path) if path is not None else lfw_pairs_path()
    root = Path(image_root) if image_root is not None else p.parent / "images"
    lines = [ln.split() for ln in p.read_text().splitlines() if ln.strip()]
    if not lines:
        raise InputError(f"{p} is empty")
    head = lines[0]
    try:
        folds, per_side = (1, int(head[0])) if len(head) == 1 else (int(head[0]), int(head[1]))
    except (ValueError, IndexError):
        raise InputError(f"{p}: bad header {' '.join(head)!r}; expected '<folds> <pairs per side>'") from None
    body = lines[1:]
    if len(head) > 2 or len(body) != 2 * folds * per_side:
        raise InputError(f"{p}: header says {folds} folds x 2 x {per_side} pairs, file has {len(body)} pair lines")
    out: List[LFWPair] = []
    for i, tok in enumerate(body):
        fold, pos = divmod(i, 2 * per_side)
        expect_same = pos < per_side
        try:
            if len(tok) == 3:
                row = LFWPair(lfw_image_path(root, tok[0], int(tok[1])), lfw_image_path(root, tok[0], int(tok[2])),
                              True, fold)
            elif len(tok) == 4:
                row = LFWPair(lfw_image_path(root, tok[0], int(tok[1])), lfw_image_path(root, tok[2], int(tok[3])),
                              False, fold)
            else:
                raise ValueError
        except ValueError:
            raise InputError(f"{p}:{i + 2}: expected 'Name i j' or 'NameA i NameB j', got {' '.join(tok)!r}") from None
        if row.is_genuine != expect_same:
            raise InputError(f"{p}:{i + 2}: a {'same' if expect_same else 'different'} pair was expected "
                             f"at this position of fold {fold}")
        out.append(row)
    log.debug("parsed %d pairs in %d folds from %s", len(out), folds, p)
    return out


def pairs_arrays(pairs: Sequence[LFWPair]) -> Tuple[List[str], np.ndarray, np.ndarray, np.ndarray]:
    """``(unique image paths, [n, 2] index pairs into them, is_genuine, fold)`` for scoring each image once."""
    paths: List[str] = []
    index: dict = {}
    idx = np.empty((len(pairs), 2), dtype=np.int64)
    for r, pr in enumerate(pairs):
        for c, path in enumerate((pr.path_a, pr.path_b)):
            j = index.get(path)
            if j is None:
                j = index[path] = len(paths)
                paths.append(path)
            idx[r, c] = j
    gen = np.fromiter((pr.is_genuine for pr in pairs), dtype=bool, count=len(pairs))
    fold = np.fromiter((pr.fold for pr in pairs), dtype=np.int64, count=len(pairs))
    return paths, idx, gen, fold


def _choose(n_total: int, n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(n_total)[:n]


def _genuine_pairs(order: np.ndarray, sizes: np.ndarray, n: int, rng: np.random.Generator,
                   enumerate_limit: int) -> np.ndarray:
    """``order`` lists item indices grouped by identity, ``sizes`` the group lengths."""
    per_class = sizes * (sizes - 1) // 2
    total = int(per_class.sum())
    if n > total:
        log.warning("asked for %d genuine pairs, only %d exist: returning all of them", n, total)
        n = total
    if n <= 0:
        return np.empty((0, 2), dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    if total <= enumerate_limit:
        allp = []
        for off, sz in zip(offsets, sizes):
            if sz > 1:
                a, b = np.triu_indices(sz, 1)
                allp.append(np.stack([order[off + a], order[off + b]], axis=1))
        return np.concatenate(allp)[_choose(total, n, rng)]
    # Uniform over genuine pairs without enumerating them: pick an identity with probability
    # proportional to its pair count, then two distinct members; duplicates are dropped and redrawn.
    p = per_class / total

    def draw(k):
        cls = rng.choice(sizes.size, size=k, p=p)
        sz = sizes[cls]
        i = (rng.random(k) * sz).astype(np.int64)
        j = (rng.random(k) * (sz - 1)).astype(np.int64)
        j = j + (j >= i)  # a second, distinct member
        return order[offsets[cls] + i], order[offsets[cls] + j]

    return _rejection_sample(n, rng, draw)


def _rejection_sample(n: int, rng: np.random.Generator, draw) -> np.ndarray:
    keys = np.empty(0, dtype=np.int64)
    pairs = np.empty((0, 2), dtype=np.int64)
    while pairs.shape[0] < n:
        a, b = draw(max(2 * (n - pairs.shape[0]), 64))
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        cand = np.stack([lo, hi], axis=1)
        k = lo * (1 << 31) + hi
        # Keep first occurrences in draw order so the sample stays uniform.
        _, first = np.unique(k, return_index=True)
        first.sort()
        cand, k = cand[first], k[first]
        fresh = ~np.isin(k, keys)
        keys = np.concatenate([keys, k[fresh]])
        pairs = np.concatenate([pairs, cand[fresh]])
    return pairs[:n]


def sample_pairs(identities: Sequence, n_genuine: int, n_impostor: int, seed: int = 0,
                 enumerate_limit: int = 2_000_000) -> Tuple[np.ndarray, np.ndarray]:
    """Seeded genuine and impostor pairs from one identity label per item.

    Returns ``(pairs, is_genuine)``: ``pairs`` is ``[m, 2]`` item indices with ``a < b``, no pair
    twice and no self pairs, genuine pairs first. Each kind is drawn uniformly without replacement
    among all such pairs; when fewer exist than asked for, all of them are returned (with a warning).
    Pair sets up to ``enumerate_limit`` are enumerated, larger ones rejection-sampled.
    """
    labels = np.asarray(identities)
    if labels.ndim != 1:
        raise InputError("identities must be one label per item")
    if n_genuine < 0 or n_impostor < 0:
        raise InputError("pair counts must be non-negative")
    if labels.size > (1 << 31):
        raise InputError("too many items for 31-bit pair keys")
    rng = np.random.default_rng(seed)
    _, inv = np.unique(labels, return_inverse=True)
    inv = inv.ravel()
    order = np.argsort(inv, kind="stable")
    sizes = np.bincount(inv).astype(np.int64) if labels.size else np.zeros(0, np.int64)
    gen = _genuine_pairs(order, sizes, int(n_genuine), rng, enumerate_limit)

    n = labels.size
    total_imp = int((n * (n - 1) - int(np.sum(sizes * (sizes - 1)))) // 2)
    n_imp = int(n_impostor)
    if n_imp > total_imp:
        log.warning("asked for %d impostor pairs, only %d exist: returning all of them", n_imp, total_imp)
        n_imp = total_imp
    if n_imp == 0:
        imp = np.empty((0, 2), dtype=np.int64)
    elif n * (n - 1) // 2 <= enumerate_limit:
        a, b = np.triu_indices(n, 1)
        diff = inv[a] != inv[b]
        imp = np.stack([a[diff], b[diff]], axis=1).astype(np.int64)[_choose(total_imp, n_imp, rng)]
    else:
        def draw(k):
            # Uniform ordered item pairs restricted to different identities are uniform unordered pairs.
            while True:
                a = rng.integers(0, n, size=k)
                b = rng.integers(0, n, size=k)
                ok = inv[a] != inv[b]
                if ok.any():
                    return a[ok], b[ok]
        imp = _rejection_sample(n_imp, rng, draw)
    pairs = np.concatenate([gen, imp]).astype(np.int64)
    pairs = np.sort(pairs, axis=1)
    is_gen = np.concatenate([np.ones(len(gen), bool), np.zeros(len(imp), bool)])
    return pairs, is_gen

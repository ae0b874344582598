"""The labeler interface: recognition embeddings and identities in, one quality label per face out.

Labelers turn a labelled face set (L2-normalised embeddings ``[N, d]`` and identity labels ``[N]``)
into pseudo quality labels ``[N]`` (higher = better) for training a quality regressor. They are
pure numpy: no torch, no file I/O (callers load embeddings and write labels), logging instead of
printing, and long loops report through an optional ``progress(done, total)`` callback.
"""
from __future__ import annotations

import abc
import logging
from typing import Optional, Tuple

import numpy as np
from ..errors import UsageError
from ..progress import Progress

log = logging.getLogger(__name__)

#: ``progress(done, total)``, called from long loops; ``done`` counts faces (or steps) finished.


class Labeler(abc.ABC):
    """A quality-label generator.

    ``label(embeddings, identities, **kw)`` returns float labels ``[N]`` (higher = better; NaN
    where a face cannot be labelled, e.g. the only image of its identity). Labelers that refine
    existing scores (``needs_initial_scores = True``) take them as ``initial_scores=``.
    """

    name: str = ""
    #: Whether ``label`` needs ``initial_scores`` (scores of another method to refine).
    needs_initial_scores: bool = False

    @abc.abstractmethod
    def label(self, embeddings: np.ndarray, identities: np.ndarray, **kw) -> np.ndarray:
        """Quality labels ``[N]`` for embeddings ``[N, d]`` (unit length) with identities ``[N]``."""

    def __call__(self, embeddings: np.ndarray, identities: np.ndarray, **kw) -> np.ndarray:
        return self.label(embeddings, identities, **kw)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def check_inputs(embeddings: np.ndarray, identities: np.ndarray) -> Tuple[np.ndarray, np.ndarray, int]:
    """Validate ``embeddings [N, d]`` / ``identities [N]``.

    Returns the embeddings as a float32 array (no copy when already float32) and the identities
    re-coded as int64 indices ``0..n_ids-1`` (``np.unique`` order), plus ``n_ids``. Embeddings are
    not re-normalised; rows far from unit length are reported with a warning.
    """
    emb = np.asarray(embeddings)
    if emb.ndim != 2:
        raise UsageError(f"embeddings must be [N, d], got shape {emb.shape}")
    if emb.dtype != np.float32:
        emb = emb.astype(np.float32)
    ids = np.asarray(identities)
    if ids.ndim != 1 or len(ids) != len(emb):
        raise UsageError(f"identities must be [N] with N={len(emb)}, got shape {ids.shape}")
    if len(emb):
        probe = emb[:: max(1, len(emb) // 1000)]
        norms = np.linalg.norm(probe, axis=1)
        if np.any(np.abs(norms - 1.0) > 1e-2):
            log.warning("embeddings are not L2-normalised (norms %.3g..%.3g); labels assume unit length",
                        float(norms.min()), float(norms.max()))
    _, inv = np.unique(ids, return_inverse=True)
    inv = inv.reshape(-1).astype(np.int64)
    n_ids = int(inv.max()) + 1 if len(inv) else 0
    return emb, inv, n_ids


def minmax_to_100(q: np.ndarray) -> np.ndarray:
    """SDD-FIQA Eq. 9: ``100 · (q − min) / (max − min)`` over the finite entries (NaN stays NaN).

    A constant (or single-valued) set maps to 50 — there is no ranking information to spread.
    """
    q = np.asarray(q, np.float64)
    out = np.full(q.shape, np.nan)
    ok = np.isfinite(q)
    if not ok.any():
        return out
    lo, hi = q[ok].min(), q[ok].max()
    out[ok] = 50.0 if hi <= lo else 100.0 * (q[ok] - lo) / (hi - lo)
    return out


def report(progress: Optional[Progress], done: int, total: int) -> None:
    if progress is not None:
        progress(int(done), int(total))

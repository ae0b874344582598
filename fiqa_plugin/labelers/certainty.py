"""Certainty-ratio labels from identity centres (CR-FIQA, Boutros et al., CVPR 2023, Eq. 5, with mean-embedding centres).

CR-FIQA measures how certainly a face belongs to its class: the cosine to its own class centre
(CCS) relative to the cosine to the nearest other centre (NNCCS),
``CR = CCS / (NNCCS + 1 + ε)``. The paper reads the centres from the classifier weights during
training; here, as for :mod:`.center`, a centre is the re-normalised mean of an identity's unit
embeddings, and with ``leave_one_out`` a face's own embedding (or the face named by ``exclude``,
e.g. the clean original of a degraded copy) is left out of its own centre. ``center_mask`` picks
the faces centres are built from (e.g. only clean ones). Labels are raw ratios (higher = better;
NaN when the face's own centre is empty, or when there is no other identity).
"""
from __future__ import annotations

import logging
from typing import Optional

import numpy as np

from .base import Labeler, Progress, check_inputs, report
from .center import masked_centre_sums, own_centre_cosines

log = logging.getLogger(__name__)

EPS = 1e-9


def certainty_ratio_labels(embeddings: np.ndarray, identities: np.ndarray, *, leave_one_out: bool = True,
                           center_mask: Optional[np.ndarray] = None, exclude: Optional[np.ndarray] = None,
                           chunk_size: int = 4096, progress: Optional[Progress] = None) -> np.ndarray:
    """``CCS / (NNCCS + 1 + ε)`` per face, float64 ``[N]`` (see the module doc).

    ``exclude[i]``: index of the centre member left out of face ``i``'s own centre (``-1``: none);
    default with ``leave_one_out``: the face itself (when it is a centre member).
    """
    emb, inv, n_ids = check_inputs(embeddings, identities)
    n = len(emb)
    e64, sums, counts, exclude = masked_centre_sums(emb, inv, n_ids, center_mask, exclude, leave_one_out)
    centres = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    out = np.full(n, np.nan)
    for s in range(0, n, chunk_size):
        e = slice(s, min(n, s + chunk_size))
        f, y = e64[e], inv[e]
        ccs = own_centre_cosines(e64, inv, sums, counts, exclude, e)
        others = f @ centres.T
        others[np.arange(len(y)), y] = -np.inf
        others[:, counts == 0] = -np.inf
        nn = others.max(1) if n_ids > 1 else np.full(len(y), -np.inf)
        cr = ccs / (nn + 1.0 + EPS)
        cr[~np.isfinite(nn)] = np.nan
        out[e] = cr
        report(progress, e.stop, n)
    bad = int(np.isnan(out).sum())
    if bad:
        log.warning("certainty-ratio labels: %d faces have no own or no other centre; their labels are NaN", bad)
    return out


class CertaintyRatioLabeler(Labeler):
    """Certainty ratio to the identity centres (CR-FIQA, Boutros et al. 2023), leave-one-out by default."""

    name = "certainty-ratio"

    def __init__(self, leave_one_out: bool = True, chunk_size: int = 4096) -> None:
        self.leave_one_out = leave_one_out
        self.chunk_size = chunk_size

    def label(self, embeddings: np.ndarray, identities: np.ndarray, *, progress: Optional[Progress] = None,
              **kw) -> np.ndarray:
        opts = dict(leave_one_out=self.leave_one_out, chunk_size=self.chunk_size)
        opts.update(kw)
        return certainty_ratio_labels(embeddings, identities, progress=progress, **opts)

"""Centre-similarity labels (tinyFQnet, Peng et al., Eq. 1 / Algorithm 1).

``quality(x) = cos(f_x, u_y)``: the cosine between a face's embedding and the centre of its
identity ``y``. The centre is either

* the identity's row of a classifier weight matrix ``W [classes, d]`` (the paper's choice when the
  recognition model was trained with a softmax-type loss: its weights are the class centres), or
* the mean of the identity's normalised embeddings, re-normalised. With ``leave_one_out=True``
  a face's own embedding is left out of its centre, so it does not vote for itself (this matters
  for small identities, where self-similarity inflates the label of every face).

Cosines lie in ``[-1, 1]``; :func:`cosine_to_unit` maps them to ``[0, 1]`` (default: clip).
"""
from __future__ import annotations

import logging
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from .base import Labeler, Progress, check_inputs, report
from ..errors import UnknownNameError, UsageError

log = logging.getLogger(__name__)

MAPPINGS = ("clip", "affine", "none")


def cosine_to_unit(c: np.ndarray, mode: str = "clip") -> np.ndarray:
    """Map cosine labels from ``[-1, 1]`` to the score range ``[0, 1]``.

    * ``"clip"`` (default): ``clip(c, 0, 1)``. The paper's labels are the raw cosines, which for a
      trained recognizer are essentially always in ``[0, 1]``; clipping keeps them unchanged there,
      so a model trained on them regresses exactly the paper's targets. A negative cosine means
      the face is no closer to its identity than an unrelated face — useless for recognition
      either way — and becomes 0.
    * ``"affine"``: ``(c + 1) / 2``, strictly monotone over the full range, but squeezes the range
      actually used (``[0, 1]``) into ``[0.5, 1]``.
    * ``"none"``: the raw cosine.

    NaN stays NaN.
    """
    c = np.asarray(c, np.float64)
    if mode == "clip":
        return np.clip(c, 0.0, 1.0)
    if mode == "affine":
        return (c + 1.0) / 2.0
    if mode == "none":
        return c.copy()
    raise UsageError(f"mapping must be one of {MAPPINGS}, got {mode!r}")


def _rows_for(identities: np.ndarray, class_index: Union[None, Mapping[Any, int], Sequence[Any]], n_classes: int) -> np.ndarray:
    ids = np.asarray(identities)
    if class_index is None:
        if not np.issubdtype(ids.dtype, np.integer):
            raise UsageError("identities are not integer class indices: pass class_index={identity: row of W}")
        rows = ids.astype(np.int64)
    else:
        if not isinstance(class_index, Mapping):  # a sequence of row labels: row k belongs to class_index[k]
            class_index = {y: k for k, y in enumerate(class_index)}
        missing = sorted({y for y in ids.tolist() if y not in class_index}, key=str)
        if missing:
            raise UnknownNameError(f"{len(missing)} identities have no row in class_index, e.g. {missing[:5]}")
        rows = np.array([class_index[y] for y in ids.tolist()], np.int64)
    if len(rows) and (rows.min() < 0 or rows.max() >= n_classes):
        raise UsageError(f"class indices must lie in [0, {n_classes}), got {rows.min()}..{rows.max()}")
    return rows


def center_labels(
    embeddings: np.ndarray,
    identities: np.ndarray,
    *,
    weights: Optional[np.ndarray] = None,
    class_index: Union[None, Mapping[Any, int], Sequence[Any]] = None,
    leave_one_out: bool = False,
    center_mask: Optional[np.ndarray] = None,
    exclude: Optional[np.ndarray] = None,
    mapping: str = "clip",
    chunk_size: int = 8192,
    progress: Optional[Progress] = None,
) -> np.ndarray:
    """Eq. 1 labels ``cos(f_i, u_{y_i})`` mapped by :func:`cosine_to_unit`, float64 ``[N]``.

    ``center_mask`` ``[N]`` picks the faces the mean centres are made of (default: all; e.g. only the
    clean faces when degraded copies are labelled too); ``exclude[i]`` is the centre member left out
    of face ``i``'s own centre (``-1``: none; e.g. the clean original of a degraded copy). A face
    whose centre is left with no member gets NaN.

    ``weights``: classifier weights ``[classes, d]`` used as centres (rows are L2-normalised
    here); ``class_index`` maps an identity to its row (a dict, or a sequence whose ``k``-th
    element is the identity of row ``k``; default: identities are the row indices).
    Without ``weights`` the centre is the re-normalised mean embedding of the identity;
    ``leave_one_out`` excludes the face itself. Under leave-one-out the only image of an identity
    has no centre: its label is NaN (logged as a warning).
    """
    if mapping not in MAPPINGS:
        raise UsageError(f"mapping must be one of {MAPPINGS}, got {mapping!r}")
    emb, inv, n_ids = check_inputs(embeddings, identities)
    n, d = emb.shape
    cos = np.empty(n, np.float64)
    if weights is not None:
        if leave_one_out:
            raise UsageError("leave_one_out applies to mean-embedding centres, not to classifier weights")
        w = np.asarray(weights, np.float64)
        if w.ndim != 2 or w.shape[1] != d:
            raise UsageError(f"weights must be [classes, {d}], got {w.shape}")
        w = w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)
        rows = _rows_for(identities, class_index, len(w))
        for s in range(0, n, chunk_size):
            e = slice(s, min(n, s + chunk_size))
            cos[e] = np.einsum("nd,nd->n", emb[e].astype(np.float64), w[rows[e]])
            report(progress, e.stop, n)
        return cosine_to_unit(cos, mapping)

    if center_mask is not None or exclude is not None:
        return cosine_to_unit(_masked_centre_cosines(emb, inv, n_ids, center_mask, exclude, leave_one_out,
                                                     chunk_size, progress), mapping)
    sums = np.zeros((n_ids, d), np.float64)
    for s in range(0, n, chunk_size):
        e = slice(s, min(n, s + chunk_size))
        np.add.at(sums, inv[e], emb[e].astype(np.float64))
    counts = np.bincount(inv, minlength=n_ids)
    if not leave_one_out:
        centres = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    sq = np.einsum("kd,kd->k", sums, sums)  # ||S_y||²
    for s in range(0, n, chunk_size):
        e = slice(s, min(n, s + chunk_size))
        f = emb[e].astype(np.float64)
        if not leave_one_out:
            cos[e] = np.einsum("nd,nd->n", f, centres[inv[e]])
        else:
            # u = (S_y − f) / ||S_y − f||:  f·u = (f·S − |f|²) / sqrt(|S|² − 2 f·S + |f|²)
            fs = np.einsum("nd,nd->n", f, sums[inv[e]])
            ff = np.einsum("nd,nd->n", f, f)
            norm2 = sq[inv[e]] - 2.0 * fs + ff
            with np.errstate(invalid="ignore", divide="ignore"):
                c = (fs - ff) / np.sqrt(np.maximum(norm2, 0.0))
            c[(counts[inv[e]] < 2) | ~(norm2 > 1e-20)] = np.nan
            cos[e] = c
        report(progress, e.stop, n)
    if leave_one_out:
        single = int((counts == 1).sum())
        if single:
            log.warning("leave-one-out centre labels: %d identities have a single image; their labels are NaN", single)
    return cosine_to_unit(cos, mapping)


def masked_centre_sums(embeddings: np.ndarray, inv: np.ndarray, n_ids: int, center_mask: Optional[np.ndarray],
                       exclude: Optional[np.ndarray], leave_one_out: bool):
    """``(float64 embeddings, per-identity sums of the center_mask faces, their counts, exclude)`` for
    :func:`own_centre_cosines`; ``exclude`` defaults to the face itself under ``leave_one_out``."""
    n = len(embeddings)
    mask = np.ones(n, bool) if center_mask is None else np.asarray(center_mask, bool)
    if exclude is None:
        exclude = np.where(mask, np.arange(n), -1) if leave_one_out else np.full(n, -1)
    e64 = embeddings.astype(np.float64)
    sums = np.zeros((n_ids, embeddings.shape[1]))
    np.add.at(sums, inv[mask], e64[mask])
    return e64, sums, np.bincount(inv[mask], minlength=n_ids), np.asarray(exclude, np.int64)


def own_centre_cosines(e64: np.ndarray, inv: np.ndarray, sums: np.ndarray, counts: np.ndarray,
                       exclude: np.ndarray, rows: slice) -> np.ndarray:
    """Cosine of each face in ``rows`` to its own centre less its ``exclude`` member (NaN when empty)."""
    own, ex = sums[inv[rows]].copy(), exclude[rows]
    drop = ex >= 0
    own[drop] -= e64[ex[drop]]
    norm = np.linalg.norm(own, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.einsum("nd,nd->n", e64[rows], own) / norm
    c[(counts[inv[rows]] - drop < 1) | ~(norm > 1e-10)] = np.nan
    return c


def _masked_centre_cosines(emb: np.ndarray, inv: np.ndarray, n_ids: int, center_mask: Optional[np.ndarray],
                           exclude: Optional[np.ndarray], leave_one_out: bool, chunk_size: int,
                           progress: Optional[Progress]) -> np.ndarray:
    """Cosines to centres made of the ``center_mask`` faces, each less its ``exclude`` member."""
    e64, sums, counts, exclude = masked_centre_sums(emb, inv, n_ids, center_mask, exclude, leave_one_out)
    n = len(emb)
    cos = np.full(n, np.nan)
    for s in range(0, n, chunk_size):
        e = slice(s, min(n, s + chunk_size))
        cos[e] = own_centre_cosines(e64, inv, sums, counts, exclude, e)
        report(progress, e.stop, n)
    return cos


class CenterLabeler(Labeler):
    """Cosine to the identity centre (tinyFQnet, Peng et al. Eq. 1): classifier weights or mean embedding."""

    name = "center"

    def __init__(
        self,
        weights: Optional[np.ndarray] = None,
        class_index: Union[None, Mapping[Any, int], Sequence[Any]] = None,
        leave_one_out: bool = False,
        mapping: str = "clip",
        chunk_size: int = 8192,
    ) -> None:
        if mapping not in MAPPINGS:
            raise UsageError(f"mapping must be one of {MAPPINGS}, got {mapping!r}")
        self.weights = weights
        self.class_index = class_index
        self.leave_one_out = leave_one_out
        self.mapping = mapping
        self.chunk_size = chunk_size

    def label(self, embeddings: np.ndarray, identities: np.ndarray, *, progress: Optional[Progress] = None,
              **kw) -> np.ndarray:
        opts = dict(weights=self.weights, class_index=self.class_index, leave_one_out=self.leave_one_out,
                    mapping=self.mapping, chunk_size=self.chunk_size)
        opts.update(kw)
        return center_labels(embeddings, identities, progress=progress, **opts)

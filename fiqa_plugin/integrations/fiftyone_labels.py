"""FiftyOne adapter, dataset side of training: face embeddings and pseudo quality labels per sample.

``embed_samples`` detects the largest face of each sample, embeds it with a recognizer and saves the
unit embedding per batch (a restarted job skips samples already embedded or failed);
``generate_pseudo_labels`` runs a labeler of :mod:`fiqa_plugin.labelers` on those embeddings and the
samples' identities. onnxruntime only; torch is never imported.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Dict, List, Optional, Tuple

import fiftyone as fo
import numpy as np
from ..errors import UsageError
from ..progress import Progress

log = logging.getLogger(__name__)



def default_embeddings_field(recognizer: str) -> str:
    """``embedding_<recognizer>`` with characters FiftyOne field names cannot hold replaced by ``_``."""
    return "embedding_" + re.sub(r"[^0-9A-Za-z_]", "_", recognizer)


def group_labels(samples: fo.core.collections.SampleCollection, field: str) -> List[Any]:
    """One group key per sample: a Classification's label, a Group's id, or the field's value."""
    if not samples.has_field(field):
        raise UsageError(f"the samples have no field {field!r} (identity/group field); "
                         f"fields: {', '.join(sorted(samples.get_field_schema()))}")
    out = []
    for v in samples.values(field):
        if isinstance(v, fo.Classification):
            v = v.label
        elif isinstance(v, fo.Group):
            v = v.id
        out.append(v)
    return out


def _ensure(ds: fo.Dataset, field: str, ftype: Any) -> None:
    if not ds.has_sample_field(field):
        ds.add_sample_field(field, ftype)


def embed_samples(
    samples: fo.core.collections.SampleCollection,
    recognizer: str = "buffalo_sc",
    embeddings_field: Optional[str] = None,
    pack: str = "buffalo_sc",
    batch_size: int = 32,
    skip_existing: bool = True,
    progress: Optional[Progress] = None,
) -> Dict[str, Any]:
    """Unit embedding of each sample's largest face in ``embeddings_field`` (a vector); why a sample has
    none in ``<embeddings_field>_error``. Saved per batch. Returns counts and the field name."""
    from ..faces.dataset import embed_crops, largest_faces
    from ..faces.pipeline import FacePipeline
    from ..scoring import resolve_recognizer

    field = embeddings_field or default_embeddings_field(recognizer)
    err_field = f"{field}_error"
    ds = samples._dataset
    _ensure(ds, field, fo.VectorField)
    _ensure(ds, err_field, fo.StringField)
    todo = samples.exists(field, False).exists(err_field, False) if skip_existing else samples
    ids, paths = todo.values(["id", "filepath"])
    total = len(samples)
    counts: Dict[str, Any] = {"field": field, "total": total, "embedded": 0, "failed": 0, "skipped": total - len(ids)}
    rec = resolve_recognizer(recognizer, threads=1) if ids else None
    pipe = FacePipeline.from_pack(pack, mode="largest") if ids else None
    for i in range(0, len(ids), batch_size):
        bid = ids[i : i + batch_size]
        faces = largest_faces(paths[i : i + batch_size], pipe)
        ok = [k for k, (c, _) in enumerate(faces) if c is not None]
        emb: List[Optional[np.ndarray]] = [None] * len(bid)
        if ok:
            normed = embed_crops(rec, np.stack([faces[k][0].aligned for k in ok]), batch=len(ok))[0]
            for k, e in zip(ok, normed):
                emb[k] = e
        ds.set_values(field, dict(zip(bid, emb)), key_field="id")
        ds.set_values(err_field, {b: e for b, (_, e) in zip(bid, faces)}, key_field="id")
        counts["embedded"] += len(ok)
        counts["failed"] += len(bid) - len(ok)
        if progress:
            progress(counts["skipped"] + i + len(bid), total)
    log.info("embedded %s with %s: %s", ds.name, recognizer, counts)
    return counts


def embeddings_of(samples: fo.core.collections.SampleCollection, field: str) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """``(sample ids, [N, d] float32 embeddings with NaN rows where missing, has-embedding mask)``."""
    ids, vecs = samples.values(["id", field])
    have = np.array([v is not None for v in vecs], bool)
    dim = next((len(v) for v in vecs if v is not None), 1)
    out = np.full((len(ids), dim), np.nan, np.float32)
    for k in np.flatnonzero(have):
        out[k] = vecs[k]
    return ids, out, have


def generate_pseudo_labels(
    samples: fo.core.collections.SampleCollection,
    labeler: str = "center",
    identity_field: str = "ground_truth",
    label_field: str = "pseudo_quality",
    recognizer: str = "buffalo_sc",
    embeddings_field: Optional[str] = None,
    initial_field: Optional[str] = None,
    pack: str = "buffalo_sc",
    batch_size: int = 32,
    labeler_kwargs: Optional[Dict[str, Any]] = None,
    progress: Optional[Progress] = None,
) -> Dict[str, Any]:
    """Recognition-oriented quality labels (``center``, ``sdd`` or ``optimize``; any registered labeler)
    in ``label_field``, from ``recognizer`` embeddings and the identities in ``identity_field``.

    Embedding is the slow, resumable part (:func:`embed_samples`, cached in ``embeddings_field``); the
    labeler then runs on every embedded sample with an identity. ``optimize`` refines the scores in
    ``initial_field`` (e.g. a ``compute_quality`` output). Samples without a face, identity or initial
    score get ``None``. Returns counts.
    """
    from ..plugins import LABELERS

    entry = LABELERS.entry(labeler)  # fail before the slow part on a typo
    needs_init = bool(entry.tags.get("needs_initial_scores"))
    if needs_init and not initial_field:
        raise UsageError(f"the {labeler!r} labeler refines existing scores: pass initial_field= "
                         f"(a quality field, e.g. from compute_quality)")
    from .fiftyone_checks import count, output_fields

    batch_size = count(batch_size, "batch_size")
    output_fields(samples._dataset, [  # before the slow part, so a bad name never costs an embedding run
        (label_field, "label_field", fo.FloatField, None),
        (embeddings_field or default_embeddings_field(recognizer), "embeddings_field", fo.Field, None)])
    groups = group_labels(samples, identity_field)  # checks the field before embedding anything
    total = len(samples)

    def embed_progress(done: int, n: int) -> None:
        if progress:
            progress(int(0.9 * done), total)

    counts = embed_samples(samples, recognizer, embeddings_field, pack, batch_size, True, embed_progress)
    ids, emb, have = embeddings_of(samples, counts["field"])
    use = have & np.array([g is not None for g in groups], bool)
    init = None
    if needs_init:
        vals = np.array([np.nan if v is None else float(v) for v in samples.values(initial_field)], np.float64)
        use &= np.isfinite(vals)
        init = vals[use]
    q = np.full(len(ids), np.nan)
    if use.sum() >= 2:
        lab = LABELERS.create(labeler, **(labeler_kwargs or {}))
        ident = np.array([str(g) for g, u in zip(groups, use) if u])
        kw = {"initial_scores": init} if needs_init else {}
        q[use] = lab.label(emb[use], ident, **kw)
    else:
        log.warning("fewer than two samples have a face and an identity: nothing to label")
    ds = samples._dataset
    _ensure(ds, label_field, fo.FloatField)
    ds.set_values(label_field, {i: (float(v) if np.isfinite(v) else None) for i, v in zip(ids, q)}, key_field="id")
    if progress:
        progress(total, total)
    out = {"total": total, "labelled": int(np.isfinite(q).sum()), "no_face": int((~have).sum()),
           "no_identity": int(sum(g is None for g in groups)), "embeddings_field": counts["field"],
           "embedded_now": counts["embedded"], "skipped": counts["skipped"]}
    log.info("pseudo-labels %s on %s: %s", labeler, ds.name, out)
    return out

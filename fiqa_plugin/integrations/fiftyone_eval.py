"""FiftyOne adapter: error-versus-discard (EDC) of a quality field, stored on the dataset as a run.

Pairs come from a pairs file (LFW ``pairs.txt`` or a CSV ``a,b,genuine[,similarity]``, matched to the
samples by file path) or are sampled from an identity field. Similarities are cosines of the samples'
embeddings (:func:`~fiqa_plugin.integrations.fiftyone_labels.embed_samples`, reused when present).
As in ``fiqa evaluate``: a sample without a quality gets the lowest one (its pairs go first), a sample
without an embedding makes its pair a non-match (similarity −1). The report
(:func:`fiqa_plugin.evaluation.report.edc_report`) is saved as a custom FiftyOne run under ``eval_key``
(``dataset.load_run_results(eval_key).report``), with the recommended quality thresholds per target FMR
under ``report["recommendations"]`` (:func:`recommendations`). onnxruntime only.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, Optional, Sequence

import fiftyone as fo
import numpy as np

from .fiftyone_labels import embed_samples, embeddings_of, group_labels
from ..errors import UsageError
from ..progress import Progress

log = logging.getLogger(__name__)

RUN_METHOD = "fiqa-edc"


def _pairs_from_file(path: str, images: Optional[str], filepaths: Sequence[str]) -> tuple:
    """``(index pairs [m, 2] into filepaths, is_genuine, similarity or None, dropped count)``."""
    from ..io import read_pairs

    a, b, gen, sim = read_pairs(path, images)
    index = {os.path.abspath(p): k for k, p in enumerate(filepaths)}
    rows = [(index.get(os.path.abspath(x)), index.get(os.path.abspath(y))) for x, y in zip(a, b)]
    keep = np.array([i is not None and j is not None for i, j in rows], bool)
    if not keep.any():
        raise UsageError(f"no pair of {path} has both images in the samples (pairs are matched by file path; "
                         f"check --images / images_root)")
    pairs = np.array([r for r, k in zip(rows, keep) if k], np.int64)
    return pairs, gen[keep], (sim[keep] if sim is not None else None), int((~keep).sum())


def evaluate_edc(
    samples: fo.core.collections.SampleCollection,
    quality_field: str,
    identity_field: Optional[str] = None,
    pairs_file: Optional[str] = None,
    images_root: Optional[str] = None,
    recognizer: str = "buffalo_sc",
    embeddings_field: Optional[str] = None,
    n_genuine: int = 3000,
    n_impostor: int = 30000,
    seed: int = 0,
    fmrs: Sequence[float] = (1e-3, 1e-2),
    discard_limits: Sequence[float] = (0.2, 0.3),
    eval_key: Optional[str] = "edc",
    pack: str = "buffalo_sc",
    progress: Optional[Progress] = None,
) -> Dict[str, Any]:
    """EDC report of ``quality_field`` (pairs from ``pairs_file``, else sampled from ``identity_field``),
    saved as run ``eval_key`` on the samples' dataset (``None``: not saved). Returns the report."""
    from ..evaluation import pair_quality, sample_pairs
    from ..evaluation.report import edc_report

    if (pairs_file is None) == (identity_field is None):
        raise UsageError("give exactly one of pairs_file (a pairs.txt or a,b,genuine CSV) and identity_field")
    if not samples.has_field(quality_field):
        raise UsageError(f"the samples have no field {quality_field!r}: run compute_quality first")
    ids, filepaths = samples.values(["id", "filepath"])
    sim = None
    if pairs_file:
        pairs, gen, sim, dropped = _pairs_from_file(pairs_file, images_root, filepaths)
    else:
        labels = group_labels(samples, identity_field)
        have = np.flatnonzero([g is not None for g in labels])
        pairs, gen = sample_pairs(np.array([str(labels[k]) for k in have]), n_genuine, n_impostor, seed)
        pairs, dropped = have[pairs], 0
    if sim is None:
        counts = embed_samples(samples, recognizer, embeddings_field, pack, skip_existing=True, progress=progress)
        _, emb, has = embeddings_of(samples, counts["field"])
        a, b = pairs[:, 0], pairs[:, 1]
        sim = np.where(has[a] & has[b], np.einsum("ij,ij->i", np.nan_to_num(emb[a]), np.nan_to_num(emb[b])), -1.0)
    q = np.array([np.nan if v is None else float(v) for v in samples.values(quality_field)], np.float64)
    recs = recommendations(samples, quality_field, sim, gen, pairs, q, fmrs)
    unscored = ~np.isfinite(q)
    q[unscored] = (np.nanmin(q) - 1.0) if (~unscored).any() else 0.0
    report = edc_report(sim, gen, pair_quality(q[pairs[:, 0]], q[pairs[:, 1]]), fmrs=fmrs, discard_limits=discard_limits)
    report.update({"quality_field": quality_field, "pairs_source": pairs_file or f"sampled from {identity_field}",
                   "pairs_dropped": dropped, "unscored_samples": int(unscored.sum()), "recommendations": recs})
    if eval_key:
        ds = samples._dataset
        config = ds.init_run(method=RUN_METHOD, quality_field=quality_field, identity_field=identity_field,
                             pairs_file=pairs_file, recognizer=recognizer, n_genuine=n_genuine,
                             n_impostor=n_impostor, seed=seed, fmrs=list(fmrs), discard_limits=list(discard_limits))
        samples.register_run(eval_key, config, overwrite=True)
        samples.save_run_results(eval_key, samples.init_run_results(eval_key, report=report), overwrite=True)
        report["eval_key"] = eval_key
    log.info("EDC of %s: %d pairs (%d genuine)", quality_field, report["pairs"], report["genuine"])
    return report


def recommendations(samples, quality_field: str, sim, gen, pairs, q, fmrs) -> Dict[str, list]:
    """``{fmr: recommend_thresholds(...)}`` over all the samples (the faces a threshold would drop), with
    0-100 thresholds from ``<quality_field>_score`` when the samples have it; stored in the EDC report as
    ``"recommendations"`` (render it with :func:`fiqa_plugin.evaluation.recommend.recommendations_table`)."""
    from ..evaluation.recommend import recommend_thresholds
    from ..quality.calibration import score_field

    sf = score_field(quality_field)
    fs = (np.array([np.nan if v is None else float(v) for v in samples.values(sf)], np.float64)
          if samples.has_field(sf) else None)
    return {f"{f:g}": recommend_thresholds(sim, gen, pairs, q, f, face_score=fs) for f in fmrs}


def load_edc(dataset: fo.Dataset, eval_key: str = "edc") -> Dict[str, Any]:
    """The report saved by :func:`evaluate_edc` under ``eval_key``."""
    if eval_key not in dataset.list_runs():
        raise UsageError(f"dataset {dataset.name!r} has no run {eval_key!r}; runs: {dataset.list_runs()}")
    return dataset.load_run_results(eval_key).report

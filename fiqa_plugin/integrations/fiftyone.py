"""FiftyOne adapter: a batching ``fiftyone`` Model and the library calls behind the plugin operators.

Quick use::

    import fiftyone as fo
    from fiqa_plugin.integrations.fiftyone import load_model, compute_quality

    model = load_model(detect_faces=False)    # the default method (fiqa_plugin.scoring.DEFAULT_METHOD), one float per sample
    dataset.apply_model(model, label_field="quality")

    model = load_model("tinyfqnet")           # any registered method; every face as a Detection
    dataset.apply_model(model, label_field="fiqa")  # fiqa_quality, fiqa_quality_score, fiqa_faces, fiqa_landmarks, fiqa_error

    compute_quality(dataset, quality_field="quality", faces_field="faces")  # robust, resumable

Calibrated scores: beside each raw quality field ``X`` a float field ``X_score`` holds its 0–100
percentile among typical faces (:mod:`fiqa_plugin.quality.calibration`); each face Detection and
Keypoint carries ``quality`` and ``quality_score``. A method without a calibration table leaves them ``None``.

Everything runs through the core's onnxruntime path (:class:`~fiqa_plugin.scoring.QualityScorer`,
:class:`~fiqa_plugin.faces.FacePipeline`); torch is never imported.
"""
from __future__ import annotations

import itertools
import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import fiftyone as fo
import fiftyone.core.models as fomodels
import numpy as np
from fiftyone import ViewField as F

from ..faces.pipeline import FaceMode, ImageFaces
from ..plugins import QUALITY_METHODS
from ..quality.base import QualityMethod
from ..quality.calibration import Calibration, calibration_for, score_field
from ..scoring import QualityScorer
from ..errors import UsageError
from ..progress import Progress

log = logging.getLogger(__name__)


class FIQAModel(fomodels.Model):
    """A FiftyOne image model scoring face quality with a registered method (onnxruntime only).

    ``predict_all`` takes FiftyOne's decoded RGB arrays (what ``apply_model`` passes) or
    file paths (decoded by the core's robust reader). With ``store_faces`` the output is a
    dict ``{"quality", "quality_score", "faces", "landmarks", "error"}`` (``apply_model`` writes one
    field per key, ``<label_field>_<key>``); otherwise one raw float (``None`` when no face scored).
    """

    def __init__(self, scorer: QualityScorer, store_faces: bool = True, batch_size: int = 64) -> None:
        self.scorer = scorer
        self.store_faces = store_faces
        self.batch_size = batch_size
        self._preprocess = False

    # --- fiftyone.core.models.Model interface -------------------------------------------
    @property
    def media_type(self) -> str:
        return "image"

    @property
    def ragged_batches(self) -> bool:
        # Inputs of any size are fine: each image is detected/aligned on its own before batching.
        return False

    @property
    def transforms(self) -> None:
        return None

    @property
    def preprocess(self) -> bool:
        return self._preprocess

    @preprocess.setter
    def preprocess(self, value: bool) -> None:
        self._preprocess = value

    @property
    def method_name(self) -> str:
        return self.scorer.method.name

    def predict(self, arg: Any) -> Any:
        """Quality (and faces) of one image: RGB uint8 array or file path."""
        return self.predict_all([arg])[0]

    def predict_all(self, args: Sequence[Any]) -> List[Any]:
        """Quality (and faces) of a batch of images; faces of the whole batch are scored together."""
        records = [_record(f, q, self.scorer.calibration) for f, q in self.score_images(args)]
        if self.store_faces:
            # apply_model cannot type a new field from None: leave absent keys out.
            return [{k: v for k, v in r.items() if v is not None} for r in records]
        return [r["quality"] for r in records]

    # --- lower-level -----------------------------------------------------------------------
    def score_images(self, args: Sequence[Any]) -> List[Tuple[ImageFaces, np.ndarray]]:
        """``(ImageFaces, per-face quality)`` per input, through the scorer's pipelined driver
        (:meth:`~fiqa_plugin.scoring.QualityScorer.iter_scored`); never raises for a bad image."""
        return list(self.scorer.iter_scored(_bgr(a) for a in args))


def _bgr(a: Any) -> Any:
    """FiftyOne hands RGB arrays; the pipeline works in BGR (paths and bytes pass through)."""
    if isinstance(a, np.ndarray) and a.ndim == 3 and a.shape[2] >= 3:
        return np.ascontiguousarray(a[..., 2::-1])
    return a


def _finite(x: float) -> Optional[float]:
    return float(x) if math.isfinite(float(x)) else None


def _record(item: ImageFaces, q: np.ndarray, calibration: Optional[Calibration] = None) -> Dict[str, Any]:
    """FiftyOne labels for one image: best quality and its 0-100 score, Detections, Keypoints, error text."""
    qs = calibration.to_score(q) if calibration is not None else np.full(len(q), np.nan)
    best = _finite(np.nanmax(q)) if len(q) and np.isfinite(q).any() else None
    best_score = _finite(np.nanmax(qs)) if best is not None and np.isfinite(qs).any() else None
    error = None
    if best is None:
        error = item.error or item.status or "no score"
        if item.source and item.source not in error and not item.source.startswith("<"):
            error = f"{item.status}: {error}"
    dets, kps = [], []
    w, h = item.image_size or (0, 0)
    for face, qf, sf in zip(item.faces, q, qs):
        if face.bbox is None or not w or not h:
            continue  # pre-aligned crops have no box in a source image
        x1, y1, x2, y2 = (float(v) for v in face.bbox)
        x1, y1 = max(0.0, x1 / w), max(0.0, y1 / h)
        x2, y2 = min(1.0, x2 / w), min(1.0, y2 / h)
        pts = [[float(x) / w, float(y) / h] for x, y in np.asarray(face.landmarks)]
        dets.append(fo.Detection(
            label="face", bounding_box=[x1, y1, x2 - x1, y2 - y1], confidence=_finite(face.det_score),
            quality=_finite(qf), quality_score=_finite(sf), landmarks=pts, face_index=int(face.index),
        ))
        kps.append(fo.Keypoint(label="face", points=pts, quality=_finite(qf), quality_score=_finite(sf)))
    return {
        "quality": best,
        "quality_score": best_score,
        "faces": fo.Detections(detections=dets) if dets else None,
        "landmarks": fo.Keypoints(keypoints=kps) if kps else None,
        "error": error,
    }


def load_model(
    name: Union[str, QualityMethod, None] = None,
    detect_faces: bool = True,
    pack: str = "buffalo_sc",
    root: Optional[str] = None,
    batch_size: int = 64,
    store_faces: Optional[bool] = None,
    mode: Optional[str] = None,
    recognizer: Optional[str] = None,
    workers: Optional[int] = None,
    **method_kwargs: Any,
) -> FIQAModel:
    """A FiftyOne Model for the registered quality method ``name`` (default:
    :data:`fiqa_plugin.scoring.DEFAULT_METHOD`),
    or for a ready :class:`~fiqa_plugin.quality.base.QualityMethod` instance.

    ``detect_faces=False`` treats every image as a pre-aligned 112×112 crop. With detection the
    default ``mode`` is ``"all"`` (every face scored, the sample's quality is its best face's).
    ``store_faces`` (default: ``detect_faces``) makes the output a dict with Detections.
    """
    if mode is None:
        mode = "all" if detect_faces else "aligned"
    elif not detect_faces and mode != "aligned":
        raise UsageError("detect_faces=False means pre-aligned input: mode must be 'aligned'")
    if isinstance(name, str) and name not in QUALITY_METHODS:
        refresh_user_models()  # trained by another process (e.g. a delegated job) since this one started
    method = QUALITY_METHODS.create(name, **method_kwargs) if isinstance(name, str) else name
    scorer = QualityScorer(method, mode=FaceMode(mode), pack=pack, root=root, recognizer=recognizer,
                           batch_size=batch_size, workers=workers)
    return FIQAModel(scorer, store_faces=detect_faces if store_faces is None else store_faces,
                     batch_size=batch_size)


# --- library calls behind the operators ----------------------------------------------------

def _ensure_field(dataset: fo.Dataset, field: str, ftype: Any, **kw: Any) -> None:
    if not dataset.has_sample_field(field):
        dataset.add_sample_field(field, ftype, **kw)


def _ensure_quality_fields(dataset: fo.Dataset, quality_field: str, faces_field: Optional[str],
                           error_field: str) -> None:
    from .fiftyone_checks import output_fields

    wanted = [(quality_field, "quality_field", fo.FloatField, None),
              (score_field(quality_field), "the calibrated score field", fo.FloatField, None),
              (error_field, "error_field", fo.StringField, None)]
    if faces_field:
        wanted += [(faces_field, "faces_field", fo.EmbeddedDocumentField, fo.Detections),
                   (f"{faces_field}_landmarks", "the landmarks field", fo.EmbeddedDocumentField, fo.Keypoints)]
    output_fields(dataset, wanted)  # every name and type checked before the first field is added
    _ensure_field(dataset, quality_field, fo.FloatField)
    _ensure_field(dataset, score_field(quality_field), fo.FloatField)
    _ensure_field(dataset, error_field, fo.StringField)
    if faces_field:
        _ensure_field(dataset, faces_field, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
        _ensure_field(dataset, f"{faces_field}_landmarks", fo.EmbeddedDocumentField, embedded_doc_type=fo.Keypoints)


def write_records(dataset: fo.Dataset, keys: Sequence[str], records: Sequence[Dict[str, Any]],
                  quality_field: str = "quality", faces_field: Optional[str] = None,
                  error_field: Optional[str] = None, key_field: str = "id") -> None:
    """Write :func:`_record` outputs into ``dataset`` in bulk (one ``set_values`` per field), matching
    samples by ``key_field`` (``"id"``, or ``"filepath"`` for results scored elsewhere, e.g. on Ray).

    ``quality_field`` and ``error_field`` are written last: a sample counts as done (``skip_existing``)
    once one of them is set, so a job killed between two ``set_values`` leaves no sample marked done
    with a field missing; a resumed job scores and writes it again in full."""
    error_field = error_field or f"{quality_field}_error"
    fields = {score_field(quality_field): "quality_score"}
    if faces_field:
        fields.update({faces_field: "faces", f"{faces_field}_landmarks": "landmarks"})
    fields.update({quality_field: "quality", error_field: "error"})  # the "done" marks, last
    _ensure_quality_fields(dataset, quality_field, faces_field, error_field)
    for field, key in fields.items():
        dataset.set_values(field, {k: r[key] for k, r in zip(keys, records)}, key_field=key_field)


def compute_quality(
    samples: fo.core.collections.SampleCollection,
    model: Union[FIQAModel, str, None] = None,
    quality_field: str = "quality",
    faces_field: Optional[str] = None,
    error_field: Optional[str] = None,
    batch_size: Optional[int] = None,
    skip_existing: bool = False,
    progress: Optional[Progress] = None,
    **model_kwargs: Any,
) -> Dict[str, int]:
    """Score every sample from its filepath and write the results, batch by batch.

    Writes ``quality_field`` (float, ``None`` when no face scored), its 0-100 calibrated score
    ``<quality_field>_score`` (``None`` also when the method has no calibration table), ``error_field`` (default
    ``<quality_field>_error``: why a sample has no score, else ``None``) and, when
    ``faces_field`` is given, a Detections field (quality, det confidence and relative
    landmarks per face) plus ``<faces_field>_landmarks`` Keypoints. Results are saved per
    batch, so with ``skip_existing`` a restarted job only scores samples not done yet.
    Returns counts ``{"total", "scored", "failed", "skipped"}``.
    """
    from .fiftyone_checks import count

    error_field = error_field or f"{quality_field}_error"
    ds = samples._dataset
    if batch_size is not None:
        batch_size = count(batch_size, "batch_size")
    _ensure_quality_fields(ds, quality_field, faces_field, error_field)  # bad names fail before the model loads
    if not isinstance(model, FIQAModel):
        model = load_model(model, **model_kwargs)
    todo = samples.exists(quality_field, False).exists(error_field, False) if skip_existing else samples
    total_all = len(samples)
    ids, paths = todo.values(["id", "filepath"])
    counts = {"total": total_all, "scored": 0, "failed": 0, "skipped": total_all - len(ids)}
    step = batch_size or model.batch_size
    # One pipelined pass over every path (decoding and detection run ahead while a batch is written);
    # results are still written and counted batch by batch, so a killed job keeps its finished batches.
    scored = model.scorer.iter_scored(paths)
    try:
        for i in range(0, len(ids), step):
            bid = ids[i : i + step]
            recs = [_record(f, q, model.scorer.calibration) for f, q in itertools.islice(scored, len(bid))]
            write_records(ds, bid, recs, quality_field, faces_field, error_field)
            ok = sum(r["quality"] is not None for r in recs)
            counts["scored"] += ok
            counts["failed"] += len(recs) - ok
            if progress:
                progress(counts["skipped"] + i + len(bid), total_all)
    finally:
        scored.close()  # stops the driver's threads (all of its work is done unless a write failed)
    log.info("quality %s on %d samples: %s", model.method_name, total_all, counts)
    return counts


def select_by_quality(
    samples: fo.core.collections.SampleCollection,
    quality_field: str = "quality",
    threshold: Optional[float] = None,
    lowest_k: Optional[int] = None,
    best_k_per: Optional[int] = None,
    group_field: Optional[str] = None,
    calibrated: bool = False,
) -> fo.DatasetView:
    """A view of samples by quality: below ``threshold`` (with ``calibrated``, a 0-100 threshold on the
    calibrated field ``<quality_field>_score``), the ``lowest_k`` overall, or the
    ``best_k_per`` highest-quality samples of each ``group_field`` value (an identity, a video or
    template id; a Classification groups by its label, a grouped dataset's ``group`` field by group).
    Unscored samples (``None``) count as lowest. Exactly one criterion must be given."""
    from . import fiftyone_checks as check

    given = [x is not None for x in (threshold, lowest_k, best_k_per)]
    if sum(given) != 1:
        raise UsageError("give exactly one of threshold, lowest_k, best_k_per")
    field = score_field(quality_field) if calibrated and threshold is not None else quality_field
    if not samples.has_field(field):
        raise UsageError(f"the samples have no field {field!r}: compute quality first")
    if threshold is not None:
        threshold = check.threshold(threshold, calibrated)
        return samples.match((F(field) == None) | (F(field) < threshold))  # noqa: E711
    if lowest_k is not None:
        lowest_k = check.count(lowest_k, "lowest_k")
        # None sorts first ascending, so failed samples are the first ones reviewed.
        return samples.sort_by(quality_field).limit(int(lowest_k))
    best_k_per = check.count(best_k_per, "best_k_per")
    if not group_field:
        raise UsageError("best_k_per needs a group_field (e.g. the identity field)")
    from .fiftyone_labels import group_labels

    ids, q = samples.values(["id", quality_field])
    by: Dict[Any, List[Tuple[float, str]]] = {}
    for i, label, v in zip(ids, group_labels(samples, group_field), q):
        if v is not None and label is not None:
            by.setdefault(label, []).append((v, i))
    keep = [i for rows in by.values() for _, i in sorted(rows, reverse=True)[: int(best_k_per)]]
    return samples.select(keep, ordered=False)


def tag_or_save(view: fo.DatasetView, tag: Optional[str] = None, view_name: Optional[str] = None) -> Dict[str, Any]:
    """Tag the view's samples and/or save it on its dataset; returns what was done (both names are
    checked first, so a bad view name never leaves the samples tagged)."""
    for what, name in (("tag", tag), ("view_name", view_name)):
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise UsageError(f"{what} must be a non-empty name, got {name!r}")
    out: Dict[str, Any] = {"count": len(view)}
    if tag:
        view.tag_samples(tag)
        out["tag"] = tag
    if view_name:
        view._dataset.save_view(view_name, view, overwrite=True)
        out["view"] = view_name
    return out


def export_model(name: str, out_dir: Union[str, os.PathLike]) -> Dict[str, str]:
    """Copy the ONNX file and JSON config of the registered ONNX quality model ``name`` to ``out_dir``.

    The copied config points at the copied ONNX (relative ``file``), so ``onnx --config`` loads it.
    """
    from ..quality.onnx_model import OnnxQualityModel

    kind = QUALITY_METHODS.entry(name).tags.get("kind")
    method = QUALITY_METHODS.create(name, threads=1) if kind in ("shipped", "baseline", "user") else None
    if not isinstance(method, OnnxQualityModel):
        raise UsageError(f"quality method {name!r} is not an ONNX model (nothing to export); "
                         f"measures like blur need no weights")
    cfg = method.config
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    onnx_dst = out / f"{cfg.name}.onnx"
    shutil.copyfile(cfg.model_path, onnx_dst)
    cfg_out = json.loads(json.dumps({k: getattr(cfg, k) for k in cfg.__dataclass_fields__ if k not in ("extra", "path")}))
    cfg_out.update(cfg.extra)
    cfg_out["file"] = onnx_dst.name
    cal = calibration_for(method)
    if cal is not None:  # the copy carries its 0-100 table (a config's own table wins over sidecar files)
        cfg_out["calibration"] = cal.to_json()
    json_dst = out / f"{cfg.name}.json"
    json_dst.write_text(json.dumps(cfg_out, indent=2) + "\n")
    return {"onnx": str(onnx_dst), "config": str(json_dst)}


def refresh_user_models() -> List[str]:
    """Register models added to the user models folder since the registry loaded; returns their names."""
    from ..quality.builtin import register_user_models

    return register_user_models()


def method_choices() -> List[str]:
    """Registered quality-method names usable without extra arguments (for forms and the zoo)."""
    refresh_user_models()
    return [e.name for e in QUALITY_METHODS.entries() if e.tags.get("kind") != "external"]

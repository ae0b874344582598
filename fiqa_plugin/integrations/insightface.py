"""InsightFace ``FaceAnalysis`` with face image quality: ``face.quality`` beside ``face.embedding``.

    from fiqa_plugin.integrations.insightface import FaceAnalysis
    app = FaceAnalysis(name="buffalo_sc", quality=True)  # or quality_model="tinyfqnet", "lightqnet", ...
    app.prepare(ctx_id=-1)
    for face in app.get(img_bgr):
        print(face.quality, face.quality_score, face.quality_method, face.normed_embedding.shape)

``face.quality_score`` is the 0–100 calibrated score (percentile among typical faces,
:mod:`fiqa_plugin.quality.calibration`; NaN when the method has no calibration table).

How it hooks in (InsightFace 2.1's own extension points, no patching):

* loading: ``insightface.app.FaceAnalysis.__init__`` loads the pack as usual; quality
  ONNX files inside the pack are recognised by NAME (a JSON config with ``"arch"``
  beside them, or ``fiqa`` in the file name) and any InsightFace task that its
  shape-based ``ModelRouter`` built from one of them is dropped again, with the task
  reloaded from the pack's other files (see :func:`quality_files_in_pack`).
* per face: the ``recognition`` entry of ``self.models`` (the per-task model protocol
  ``prepare(ctx_id)`` / ``get(img, face)`` that FaceAnalysis iterates over) is wrapped
  by :class:`_SharedCropRecognition`, which does exactly what ``ArcFaceONNX.get`` does
  (``norm_crop`` → ``get_feat``) and keeps the crop; ``get`` then scores those very
  crops in one batch, so quality and embedding see the same pixels and the embedding
  is bit-identical to plain InsightFace.
* one pass: a quality head on the recognizer's own tensors (a ``compose`` config, e.g. the accurate
  tier ``fused-heads``, or ``sdd-regressor``, ``embedding-head``) whose ``recognizer_file`` is the pack's recognizer gets no second
  recognizer run: the recognizer's session is rebuilt from the same file with the head's input
  tensors as extra outputs (:func:`fiqa_plugin.quality.compose.add_outputs`), ``get_feat`` runs
  unchanged on it, and ``get`` feeds the kept tensors to the head alone
  (:class:`~fiqa_plugin.quality.compose.RecognizerHead`). Left out, ``quality_model`` is that
  accurate tier when the pack's recognizer is the one it was trained on
  (:func:`fiqa_plugin.scoring.default_method`).
"""
from __future__ import annotations

import functools
import glob
import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from insightface.app import FaceAnalysis as _InsightFaceAnalysis
from insightface.model_zoo import model_zoo
from insightface.model_zoo.arcface_onnx import ArcFaceONNX
from insightface.model_zoo.onnxruntime_utils import get_default_providers
from insightface.utils import face_align

from ..faces.pipeline import Face as FiqaFace
from ..faces.pipeline import grid_region
from ..paths import insightface_root
from ..quality.base import CropQualityMethod, QualityMethod
from ..quality.calibration import Calibration, calibration_for
from ..quality.compose import RecognizerHead, add_outputs, missing_tensors
from ..quality.onnx_model import OnnxQualityModel, QualityModelConfig
from ..errors import ModelError

log = logging.getLogger(__name__)

QUALITY_CROP_SIZE = 112


def _real(p: Union[str, os.PathLike]) -> str:
    return os.path.realpath(os.fspath(p))


def quality_configs_in_pack(pack_dir: Union[str, os.PathLike]) -> List[QualityModelConfig]:
    """Quality-model configs (JSON with an ``"arch"`` key) stored in an InsightFace pack folder."""
    out = []
    for j in sorted(Path(pack_dir).glob("*.json")):
        try:
            data = json.loads(j.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or "arch" not in data:
            continue  # e.g. InsightFace's own manifest
        try:
            out.append(QualityModelConfig.load(j))
        except (ValueError, TypeError) as exc:
            log.warning("ignoring unreadable quality config %s: %s", j, exc)
    return out


def quality_files_in_pack(pack_dir: Union[str, os.PathLike]) -> set:
    """Real paths of the pack's quality ONNX files, identified by name only (never by tensor shape).

    A file is a quality model when a JSON config with ``"arch"`` names it, or when its
    file name contains ``fiqa``.
    """
    files = {_real(c.model_path) for c in quality_configs_in_pack(pack_dir)}
    files |= {_real(p) for p in glob.glob(os.path.join(os.fspath(pack_dir), "*.onnx")) if "fiqa" in Path(p).name.lower()}
    return files


class _ExtraOutputsSession:
    """Stands in for the recognizer's onnxruntime session: a session of the same file that also returns
    ``extra`` tensors. ``run`` with the recognizer's own output names returns just those, as before, and
    keeps the extra tensors of that run in ``last``; everything else goes to the new session."""

    def __init__(self, session: Any, own_outputs: int, extra: Sequence[str]) -> None:
        self._session = session
        self._own = own_outputs
        self.extra = list(extra)
        self.last: Dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def get_outputs(self) -> list:
        return self._session.get_outputs()[: self._own]

    def run(self, output_names: Any, input_feed: Dict[str, Any], run_options: Any = None) -> list:
        names = list(output_names or [o.name for o in self.get_outputs()])
        out = self._session.run(names + self.extra, input_feed, run_options)
        self.last = dict(zip(self.extra, out[len(names):]))
        return out[: len(names)]


def _with_extra_outputs(rec: ArcFaceONNX, graph: Any, tensors: Sequence[str]) -> _ExtraOutputsSession:
    """A session of the recognizer's graph with ``tensors`` as extra outputs, built with the providers and
    options of InsightFace's own session (same kernels, so the same embedding)."""
    import onnxruntime as ort

    old = rec.session
    providers = old.get_providers()
    options = old.get_provider_options()
    graph = type(graph).FromString(graph.SerializeToString())  # add_outputs changes it: not the shared one
    session = ort.InferenceSession(add_outputs(graph, tensors).SerializeToString(), sess_options=old.get_session_options(),
                                   providers=providers, provider_options=[options.get(p, {}) for p in providers])
    return _ExtraOutputsSession(session, len(old.get_outputs()), tensors)


class _SharedCropRecognition:
    """The pack's ArcFace recognizer, keeping each face's aligned crop (and, for a one-pass head, the
    recognizer tensors it reads) for the quality method.

    ``get`` repeats ``ArcFaceONNX.get`` step for step, so embeddings do not change. With ``extra``
    (:func:`_with_extra_outputs`) the recognizer's session is replaced by one of the same file that
    also returns those tensors; ``get_feat`` itself runs unchanged.
    Everything else is delegated to the wrapped model.
    """

    def __init__(self, inner: ArcFaceONNX, extra: Optional[_ExtraOutputsSession] = None) -> None:
        self.inner = inner
        self.crops: Dict[int, np.ndarray] = {}
        #: id(face) -> recognizer tensor name -> [1, ...] (one-pass heads only)
        self.tensors: Dict[int, Dict[str, np.ndarray]] = {}
        self._extra = extra
        if extra is not None:
            inner.session = extra

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def prepare(self, ctx_id: int, **kwargs: Any) -> None:
        self.inner.prepare(ctx_id, **kwargs)

    def clear(self) -> None:
        self.crops.clear()
        self.tensors.clear()

    def get(self, img: np.ndarray, face: Any) -> np.ndarray:
        aimg = face_align.norm_crop(img, landmark=face.kps, image_size=self.inner.input_size[0])
        face.embedding = self.inner.get_feat(aimg).flatten()
        self.crops[id(face)] = aimg
        if self._extra is not None:
            self.tensors[id(face)] = self._extra.last
        return face.embedding


class FaceAnalysis(_InsightFaceAnalysis):
    """``insightface.app.FaceAnalysis`` that also sets ``face.quality``, ``face.quality_score`` (0-100) and
    ``face.quality_method``.

    ``quality_model`` is the name of a quality model stored in the pack folder
    (``<arch>.<tag>`` or ``<arch>``), else of any registered quality method
    (``fiqa methods``), or a :class:`QualityMethod` instance; left out, the pack's own
    quality model if it has one (the first by file name), else the accurate tier
    :data:`fiqa_plugin.scoring.ACCURATE_METHOD` when the pack's recognizer is the one it was trained on,
    else :data:`fiqa_plugin.scoring.DEFAULT_METHOD` (:func:`fiqa_plugin.scoring.default_method`). A head
    on the pack's own recognizer is computed from the same recognizer pass as the embedding
    (``one_pass`` tells). ``root`` defaults to :func:`fiqa_plugin.paths.insightface_root`. Other
    arguments go to InsightFace. Not thread-safe (neither is InsightFace's).
    """

    def __init__(
        self,
        name: Any = "buffalo_sc",
        root: Optional[Union[str, os.PathLike]] = None,
        allowed_modules: Optional[Sequence[str]] = None,
        *,
        quality: bool = True,
        quality_model: Union[str, QualityMethod, None] = None,
        quality_kwargs: Optional[Dict[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        root = os.fspath(root) if root is not None else os.fspath(insightface_root())
        if kwargs.get("providers") is None:
            kwargs["providers"] = get_default_providers()
        super().__init__(name=name, root=root, allowed_modules=allowed_modules, **kwargs)
        self.quality_files = quality_files_in_pack(self.model_dir)
        self._drop_misrouted_quality_models(allowed_modules, kwargs)
        self.quality_method: Optional[QualityMethod] = None
        self.quality_calibration: Optional[Calibration] = None
        self._shared: Optional[_SharedCropRecognition] = None
        self._head: Optional[RecognizerHead] = None
        if quality:
            rec = self.models.get("recognition")
            # Only a recognizer whose get() is ArcFaceONNX's own is known to do norm_crop → get_feat.
            rec = rec if rec is not None and type(rec).get is ArcFaceONNX.get else None
            self.quality_method, self._head = self._resolve_quality(quality_model, dict(quality_kwargs or {}), rec)
            self.quality_calibration = calibration_for(self.quality_method)
            if rec is not None:
                extra = _with_extra_outputs(rec, _graph(rec), self._head.tensors) if self._head is not None else None
                self._shared = _SharedCropRecognition(rec, extra)
                self.models["recognition"] = self._shared
            log.info("FaceAnalysis quality method %s (shared recognizer crop: %s, one pass: %s)",
                     self.quality_method.name, self._shared is not None, self.one_pass)

    @property
    def one_pass(self) -> bool:
        """Whether quality comes from the recognizer pass that computes the embedding (a head on its tensors)."""
        return self._head is not None

    def _drop_misrouted_quality_models(self, allowed_modules: Optional[Sequence[str]], kwargs: Dict[str, Any]) -> None:
        # InsightFace routes legacy packs' ONNX files by input shape: a 112×112 (or any
        # square ≥112, multiple of 16) quality model becomes "recognition" and can even
        # displace the real recognizer as a "duplicate"; 96×96 becomes an attribute model.
        bad = [t for t, m in self.models.items() if _real(getattr(m, "model_file", "") or "") in self.quality_files]
        if not bad:
            return
        for task in bad:
            log.info("dropping %s model %s: it is a quality model", task, self.models[task].model_file)
            del self.models[task]
        if self.model_package is not None:
            return  # manifest packs declare their tasks: nothing else to reload
        loaded = {_real(m.model_file) for m in self.models.values() if getattr(m, "model_file", None)}
        for f in sorted(glob.glob(os.path.join(self.model_dir, "*.onnx"))):
            if _real(f) in self.quality_files or _real(f) in loaded:
                continue
            model = model_zoo.get_model(f, **kwargs)
            if model is None or model.taskname not in bad or model.taskname in self.models:
                continue
            if allowed_modules is not None and model.taskname not in allowed_modules:
                continue
            self.models[model.taskname] = model
        if "detection" not in self.models:
            raise ModelError(f"no face detector left in {self.model_dir} once its quality models are set aside")
        self.det_model = self.models["detection"]

    def _resolve_quality(self, spec: Union[str, QualityMethod, None], kw: Dict[str, Any],
                         rec: Optional[ArcFaceONNX]) -> Tuple[QualityMethod, Optional[RecognizerHead]]:
        """The quality method, and its head alone when it is computed from ``rec``'s own pass."""
        if isinstance(spec, QualityMethod):
            return spec, _one_pass_head(spec, rec, kw)
        for cfg in quality_configs_in_pack(self.model_dir):
            if spec is None or spec in (cfg.name, cfg.arch):
                return self._onnx_method(cfg, kw, rec)
        from ..plugins import QUALITY_METHODS
        from ..scoring import DEFAULT_METHOD, default_method, resolve_method

        if spec is None:
            spec = default_method(rec.model_file if rec is not None else None)
            cfg = QUALITY_METHODS.entry(spec).tags.get("config")
            if spec != DEFAULT_METHOD and not _runs_on(cfg, rec):
                log.info("the pack's recognizer lacks the tensors %s reads: default %s instead", spec, DEFAULT_METHOD)
                spec = DEFAULT_METHOD
        cfg = QUALITY_METHODS.entry(spec).tags.get("config") if spec in QUALITY_METHODS else None
        if _runs_on(cfg, rec):
            return self._onnx_method(cfg, kw, rec)
        return resolve_method(spec, **kw), None

    @staticmethod
    def _onnx_method(cfg: QualityModelConfig, kw: Dict[str, Any],
                     rec: Optional[ArcFaceONNX]) -> Tuple[QualityMethod, Optional[RecognizerHead]]:
        if not _runs_on(cfg, rec):
            return OnnxQualityModel(cfg, **kw), None
        assert rec is not None
        # The whole model is composed with the pack's own recognizer file: it scores the faces the
        # recognizer skipped (e.g. the liveness add-on rejected them), and is what quality_method names.
        method = OnnxQualityModel(cfg, recognizer_path=rec.model_file, **kw)
        return method, RecognizerHead(cfg, threads=kw.get("threads"))

    def get(self, img: np.ndarray, max_num: int = 0, det_metric: str = "default") -> list:
        """InsightFace's faces, each with ``quality`` (float, NaN when not computable) and ``quality_method``."""
        if self._shared is not None:
            self._shared.clear()
        faces = super().get(img, max_num=max_num, det_metric=det_metric)
        if self.quality_method is not None and faces:
            self._score(img, faces)
        if self._shared is not None:
            self._shared.clear()
        return faces

    def _crop(self, img: np.ndarray, face: Any) -> Optional[np.ndarray]:
        if self._shared is not None:
            crop = self._shared.crops.get(id(face))
            if crop is not None and crop.shape[0] == QUALITY_CROP_SIZE:
                return crop
        if face.kps is None:
            return None
        # Recognition skipped (e.g. liveness) or not 112 px: align once for quality alone.
        return face_align.norm_crop(img, landmark=face.kps, image_size=QUALITY_CROP_SIZE)

    def _score(self, img: np.ndarray, faces: list) -> None:
        method = self.quality_method
        assert method is not None
        q = np.full(len(faces), np.nan, np.float32)
        todo = list(range(len(faces)))
        if self._head is not None and self._shared is not None:
            got = [self._shared.tensors.get(id(f)) for f in faces]
            done = [i for i, t in enumerate(got) if t is not None]
            if done:
                q[done] = self._head.score({t: np.concatenate([got[i][t] for i in done]) for t in self._head.tensors})
            todo = [i for i, t in enumerate(got) if t is None]  # recognition skipped (e.g. liveness): the composed graph
        rest = set(todo)
        crops = [self._crop(img, f) if i in rest else None for i, f in enumerate(faces)]
        needs_emb = "embedding" in method.requires
        usable = [i for i in todo if crops[i] is not None and not (needs_emb and faces[i].embedding is None)]
        if usable:
            if isinstance(method, CropQualityMethod):
                q[usable] = method.score_crops(np.stack([crops[i] for i in usable]))
            else:
                q[usable] = method.score_faces([self._fiqa_face(img, faces[i], crops[i], k) for k, i in enumerate(usable)])
        qs = self.quality_calibration.to_score(q) if self.quality_calibration is not None else np.full(len(q), np.nan)
        for f, v, sv in zip(faces, q, qs):
            f.quality = float(v)
            f.quality_score = float(sv)
            f.quality_method = method.name

    @staticmethod
    def _fiqa_face(img: np.ndarray, face: Any, crop: np.ndarray, index: int) -> FiqaFace:
        emb, norm = None, float("nan")
        if face.embedding is not None:
            norm = float(np.linalg.norm(face.embedding))
            emb = (face.embedding / max(norm, 1e-12)).astype(np.float32)
        bbox = np.asarray(face.bbox, np.float32)
        return FiqaFace(
            aligned=crop, landmarks=np.asarray(face.kps, np.float32), bbox=bbox,
            det_score=float(face.det_score), index=index, embedding=emb, embedding_norm=norm,
            region=grid_region(img, bbox),
        )


def _graph(rec: ArcFaceONNX) -> Any:
    """The recognizer's ONNX graph, read once per file: start-up asks :func:`_runs_on` several times. Shared:
    callers must not change it (:func:`_with_extra_outputs` copies it)."""
    return _load_graph(os.fspath(rec.model_file))


@functools.lru_cache(maxsize=4)
def _load_graph(path: str) -> Any:
    import onnx

    return onnx.load(path)


def _runs_on(cfg: Optional[QualityModelConfig], rec: Optional[ArcFaceONNX]) -> bool:
    """Whether ``cfg`` is a head on ``rec``'s own tensors: its ``compose.recognizer_file`` is ``rec``'s file
    name and the graph has every tensor the head reads."""
    comp = getattr(cfg, "compose", None)
    if not comp or rec is None or not comp.get("recognizer_file"):
        return False
    if os.path.basename(os.fspath(rec.model_file)) != comp["recognizer_file"]:
        return False
    missing = missing_tensors(_graph(rec), comp["inputs"].values())
    if missing:
        log.warning("%s has no tensor(s) %s: %s cannot share its pass", rec.model_file, missing, cfg.name)
    return not missing


def _one_pass_head(method: QualityMethod, rec: Optional[ArcFaceONNX], kw: Dict[str, Any]) -> Optional[RecognizerHead]:
    """The head alone of a composed ONNX model instance that reads ``rec``'s tensors, else ``None``."""
    cfg = getattr(method, "config", None) if isinstance(method, OnnxQualityModel) else None
    return RecognizerHead(cfg, threads=kw.get("threads")) if _runs_on(cfg, rec) else None

"""Score images or faces with any registered quality method, streaming in batches.

Rows come out in input order; an image that cannot be decoded, or has no face,
gets a row with ``quality = NaN`` and a status, and never stops the run.
"""
from __future__ import annotations

import logging
import math
import os
import itertools
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Deque, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .faces.pipeline import Face, FaceMode, FacePipeline, ImageFaces
from .plugins import QUALITY_METHODS, RECOGNIZERS
from .quality.base import QualityMethod
from .quality.calibration import calibration_for
from .recognizers.base import Recognizer
from .errors import UsageError
from .progress import Progress

log = logging.getLogger(__name__)

# The best shipped crop model on LFW at tinyFQnet-class cost (docs/lfw_benchmark.md); tinyFQnet itself stays registered.
DEFAULT_METHOD = "mbv2_t1_w025_h256"
#: The accurate tier, the default wherever the recognizer it was trained on runs anyway (see
#: :func:`default_method`). An architecture name: the registry resolves it to the tag whose JSON says
#: ``"default": true``, so a retrained tag takes over through its config alone. ``fused-heads``: the SDD
#: regressor (a fine-tuned last stage, close to LightQNet on turned heads) and the embedding head (a read-out,
#: ahead on synthetic edits) standardised and averaged in one graph, ahead of both parts on the validation
#: protocol's all-pairs views and with SFace, which no model here used (weights/fused-heads.celeba2-r1.md).
ACCURATE_METHOD = "fused-heads"


@dataclass
class ScoreRow:
    """One scored face (or one failed image, with ``face_index = -1``)."""

    source: str
    quality: float
    status: str
    face_index: int = 0
    error: str = ""
    bbox: Optional[np.ndarray] = None
    landmarks: Optional[np.ndarray] = None
    det_score: float = float("nan")
    embedding: Optional[np.ndarray] = None
    #: 0-100 percentile of ``quality`` in the method's reference population (NaN: no table; see quality/calibration.py)
    quality_score: float = float("nan")


def resolve_method(method: Union[str, QualityMethod, None], **kw) -> QualityMethod:
    """A method object from a registered name (default: :data:`DEFAULT_METHOD`; a missing default raises,
    it is never silently replaced by another method)."""
    if isinstance(method, QualityMethod):
        return method
    return QUALITY_METHODS.create(method or DEFAULT_METHOD, **kw)


def default_method(recognizer: Union[str, os.PathLike, None] = None) -> str:
    """The default quality method's name given the recognizer running anyway: :data:`ACCURATE_METHOD` when
    ``recognizer`` is the one it was trained on (a registered recognizer name equal to its config's
    ``compose.recognizer``, or the path of an ONNX file named its ``compose.recognizer_file``), else
    :data:`DEFAULT_METHOD` (also when no recognizer runs, ``None``). Reads configs only; loads no model."""
    if recognizer is None or ACCURATE_METHOD not in QUALITY_METHODS:
        return DEFAULT_METHOD
    cfg = QUALITY_METHODS.entry(ACCURATE_METHOD).tags.get("config")
    comp = getattr(cfg, "compose", None) or {}
    rec = os.fspath(recognizer)
    if rec == comp.get("recognizer") or (comp.get("recognizer_file") and os.path.basename(rec) == comp["recognizer_file"]):
        return ACCURATE_METHOD
    return DEFAULT_METHOD


def resolve_recognizer(recognizer: Union[str, Recognizer, None], **kw) -> Recognizer:
    if recognizer is None or isinstance(recognizer, str):
        return RECOGNIZERS.create(recognizer or "buffalo_sc", **kw)
    return recognizer


class QualityScorer:
    """Decode → faces → quality, for a method chosen by name.

    ``mode`` is ``largest`` (one face per image), ``all`` or ``aligned`` (inputs are
    ArcFace-aligned crops: no detection). Methods that need embeddings get them
    from ``recognizer`` (default ``buffalo_sc``).
    """

    def __init__(
        self,
        method: Union[str, QualityMethod, None] = None,
        mode: Union[FaceMode, str] = FaceMode.LARGEST,
        pack: str = "buffalo_sc",
        root: Optional[str] = None,
        recognizer: Union[str, Recognizer, None] = None,
        batch_size: int = 256,
        workers: Optional[int] = None,
        keep_embeddings: bool = False,
        pipeline: Optional[FacePipeline] = None,
    ) -> None:
        self.method = resolve_method(method)
        self.mode = FaceMode(mode)
        if "detection" in self.method.requires and self.mode is FaceMode.ALIGNED:
            raise UsageError(
                f"quality method {self.method.name!r} needs detector landmarks; "
                "use mode='largest' or 'all' instead of pre-aligned input"
            )
        self.pipeline = pipeline or FacePipeline.from_pack(pack, root, mode=self.mode)
        needs_embedding = "embedding" in self.method.requires or keep_embeddings
        self.recognizer = resolve_recognizer(recognizer) if needs_embedding else None
        self.batch_size = batch_size
        # Detection releases the GIL inside onnxruntime, so two threads pay off; for
        # pre-aligned crops the per-image work is a cheap decode and threads only add overhead.
        self.workers = max(1, workers if workers is not None else (1 if self.mode is FaceMode.ALIGNED else 2))
        self.keep_embeddings = keep_embeddings
        self.calibration = calibration_for(self.method)

    def score_faces(self, faces: Sequence[Face]) -> np.ndarray:
        """Quality of already aligned faces (embeddings are filled in when needed)."""
        if self.recognizer is not None and faces:
            emb = self.recognizer.embed(np.stack([f.aligned for f in faces]))
            for f, e, n in zip(faces, emb.normed, emb.norms):
                f.embedding, f.embedding_norm = e, float(n)
        return np.asarray(self.method.score_faces(faces), np.float32)

    def score_items(self, items: List[ImageFaces]) -> List[Tuple[ImageFaces, np.ndarray]]:
        """``(item, per-face quality)`` for already processed images, their faces scored together; a
        failing batch marks each item that has faces ``status="error"`` (quality NaN) instead of raising."""
        faces = [f for it in items for f in it.faces]
        try:
            q = self.score_faces(faces) if faces else np.zeros(0, np.float32)
        except Exception as exc:  # a failing batch is reported per item rather than killing the run
            log.exception("quality method %s failed on a batch", self.method.name)
            for it in items:
                if it.faces:
                    it.status, it.error = "error", f"{type(exc).__name__}: {exc}"
            q = np.full(len(faces), np.nan, np.float32)
        out, k = [], 0
        for it in items:
            out.append((it, q[k : k + len(it.faces)]))
            k += len(it.faces)
        return out

    def _rows(self, items: List[ImageFaces]) -> Iterator[ScoreRow]:
        return self._rows_of(self.score_items(items))

    def _rows_of(self, scored: Iterable[Tuple[ImageFaces, np.ndarray]]) -> Iterator[ScoreRow]:
        for it, q in scored:
            if not it.faces:
                yield ScoreRow(it.source, math.nan, it.status, -1, it.error)
                continue
            qs = self.calibration.to_score(q) if self.calibration is not None else np.full(len(q), np.nan)
            err = it.error if it.status == "error" else ""
            for f, qf, sf in zip(it.faces, q, qs):
                qf = float(qf)
                status = "error" if err else ("ok" if math.isfinite(qf) else "no_score")
                yield ScoreRow(
                    it.source, qf, status, f.index, err, f.bbox, f.landmarks, f.det_score,
                    f.embedding if self.keep_embeddings else None, float(sf),
                )

    def iter_scored(self, sources: Iterable[Union[str, os.PathLike, bytes, np.ndarray]],
                    progress: Optional[Progress] = None,
                    total: Optional[int] = None) -> Iterator[Tuple[ImageFaces, np.ndarray]]:
        """The pipelined driver: ``(ImageFaces, per-face quality)`` per source, in input order.

        ``workers`` threads decode + detect + align a sliding window of images while one more thread
        scores the previous batch of faces (and embeds it when asked); onnxruntime releases the GIL,
        so the stages overlap and the slowest one sets the pace. Bounded queues (the window, at most
        two batches in flight) keep memory flat. Sources are read lazily (a generator is fine).
        """
        window = max(2 * self.batch_size, 4 * self.workers)
        images: Deque[Future] = deque()
        batches: Deque[Future] = deque()
        pending: List[ImageFaces] = []
        n_faces = done = 0
        it = iter(sources)
        with ThreadPoolExecutor(self.workers) as pool, ThreadPoolExecutor(1) as scorer:
            for src in itertools.islice(it, window):
                images.append(pool.submit(self.pipeline.process, src))
            while images:
                result = images.popleft().result()
                nxt = next(it, _END)
                if nxt is not _END:
                    images.append(pool.submit(self.pipeline.process, nxt))
                pending.append(result)
                n_faces += len(result.faces)
                done += 1
                if progress and (done % 64 == 0 or not images):
                    progress(done, total if total is not None else done + len(images))
                if n_faces >= self.batch_size or not images:
                    batches.append(scorer.submit(self.score_items, pending))
                    pending, n_faces = [], 0
                while batches and (len(batches) > 2 or batches[0].done() or not images):
                    yield from batches.popleft().result()

    def score(self, sources: Iterable[Union[str, os.PathLike, bytes, np.ndarray]],
              progress: Optional[Progress] = None, total: Optional[int] = None) -> Iterator[ScoreRow]:
        """Score each source (path, bytes or BGR array); yields rows in input order (:meth:`iter_scored`)."""
        sources = list(sources) if total is None else sources
        total = len(sources) if total is None else total  # type: ignore[arg-type]
        for scored in self.iter_scored(sources, progress, total):
            yield from self._rows_of([scored])


_END = object()


def score_paths(paths: Sequence[str], method: Union[str, QualityMethod, None] = None, **kw) -> List[ScoreRow]:
    """Convenience: score a list of image paths and return all rows."""
    return list(QualityScorer(method, **kw).score(paths))

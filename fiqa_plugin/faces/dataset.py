"""The one face dataset: a folder of identity sub-folders, a ``path,identity`` list or a benchmark's
images turned into detected, aligned (112x112, ArcFace template) and embedded faces, cached per
image in one format (:class:`ImageStore` shards, :class:`FaceStore`).

Used by ``fiqa label``, training, labeling in FiftyOne and the benchmarks alike. Core layer:
onnxruntime only, no torch.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import MissingAssetError, UsageError
from ..progress import iter_progress

if TYPE_CHECKING:
    from .pipeline import Face

log = logging.getLogger(__name__)

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
_CACHE_VERSION = 2


def identity_images(root: os.PathLike | str) -> List[Tuple[str, str]]:
    """``(path, identity)`` for every image in ``root/<identity>/``, sorted (absolute paths, so the cache
    keys built from them do not depend on the working directory or how ``root`` was spelled)."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise MissingAssetError(f"{root} is not a folder of identity sub-folders")
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        out += [(str(f), d.name) for f in sorted(d.iterdir()) if f.suffix.lower() in IMAGE_EXTS and f.is_file()]
    if not out:
        raise MissingAssetError(f"no images in identity sub-folders of {root} (expected {root}/<identity>/<image>.jpg)")
    return out


@dataclass
class FaceSet:
    """Aligned faces of an identity folder with their embeddings."""

    crops: np.ndarray  # [N,112,112,3] BGR uint8
    embeddings: np.ndarray  # [N,D] float32, unit length
    identities: np.ndarray  # [N] int, index into names
    names: np.ndarray  # identity folder names
    paths: np.ndarray  # source image paths
    failed: np.ndarray  # paths where no face was found


def cache_key(*parts) -> str:
    """A short stable digest of JSON-able ``parts`` (cache file names)."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def dataset_cache_dir() -> Path:
    """Where face sets and training intermediates are cached (``cache_dir()/training``)."""
    from ..paths import cache_dir

    d = cache_dir() / "training"
    d.mkdir(parents=True, exist_ok=True)
    return d


def load_recognizer(name: str, threads: Optional[int]):
    """A registered recognizer with ``threads`` onnxruntime threads."""
    from ..plugins import RECOGNIZERS

    return RECOGNIZERS.create(name, threads=threads)


#: Images per checkpoint shard of :func:`embed_list` (a kill loses at most this much work).
CHUNK = 64


def largest_faces(paths: Iterable[str], pipe) -> List[Tuple[Optional["Face"], Optional[str]]]:
    """``(Face or None, why not or None)`` of the largest face of each image (a ``FacePipeline`` in
    ``largest`` or ``aligned`` mode): its aligned 112×112 BGR crop and the detector's outputs; never raises."""
    out: List[Tuple[Optional["Face"], Optional[str]]] = []
    for p in paths:
        it = pipe.process(p)
        if it.ok and it.faces:
            out.append((it.faces[0], None))
        else:
            out.append((None, f"{it.status}: {it.error}" if it.error else it.status))
    return out


def embed_crops(rec, crops_bgr: np.ndarray, batch: int = 64,
                progress: Optional[Callable[[int], object]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """``(unit embeddings [N, d] float32, raw norms [N] float32)`` of aligned crops, ``batch`` per run
    (``progress(n)`` after each run of ``n`` crops)."""
    if not len(crops_bgr):
        return np.zeros((0, 0), np.float32), np.zeros(0, np.float32)
    got = []
    for s in range(0, len(crops_bgr), batch):
        got.append(rec.embed(crops_bgr[s : s + batch]))
        if progress:
            progress(len(got[-1].normed))
    return (np.concatenate([g.normed for g in got]).astype(np.float32),
            np.concatenate([g.norms for g in got]).astype(np.float32))


def embed_list(items: Sequence[Tuple[str, str]], pack: str, recognizer: str, threads: Optional[int],
               progress: Optional[Callable[[int, int], None]] = None, where: str = "the list",
               checkpoint: Optional[Path] = None, mode: str = "largest") -> FaceSet:
    """Largest face of each ``(path, identity)`` item detected, aligned and embedded (``mode="aligned"``:
    the images are already aligned crops); images without a face are listed in ``failed``.

    With ``checkpoint`` (a folder), faces and embeddings are cached there per image (a :class:`FaceStore`),
    :data:`CHUNK` images a shard, each written atomically; a run killed at any point and started again
    loads the finished shards and redoes only the rest (same chunks, so the result is identical to an
    uninterrupted run).
    """
    import tempfile

    with tempfile.TemporaryDirectory() if checkpoint is None else contextlib.nullcontext(checkpoint) as folder:
        store = FaceStore(folder, pack=pack, mode=mode)
        paths = [p for p, _ in items]
        cached = len(paths) - len(store.missing_faces(paths))
        crops, embs, ok = [], [], []
        for start in range(0, len(items), CHUNK):
            fc = store.faces(paths[start : start + CHUNK])
            normed = store.embeddings(fc, recognizer, threads=threads)[0]
            crops.append(fc.crops[fc.ok])
            embs.append(normed[fc.ok])
            ok.append(fc.ok)
            if progress:
                progress(min(start + CHUNK, len(items)), len(items))
    if cached == len(items):
        log.info("loaded cached faces from %s", checkpoint)
    elif cached:
        log.info("resumed: %d of %d images loaded from the checkpoints in %s", cached, len(items), checkpoint)
    hit = np.concatenate(ok) if ok else np.zeros(0, bool)
    if not hit.any():
        raise UsageError(f"no face found in any image of {where}")
    names = sorted({y for _, y in items})
    index = {y: i for i, y in enumerate(names)}
    ids = np.asarray([index[y] for _, y in items], np.int32)
    return FaceSet(np.concatenate(crops), np.concatenate(embs), ids[hit], np.asarray(names),
                   np.asarray(paths)[hit], np.asarray(paths)[~hit].astype(str))


def embed_folder(
    root: os.PathLike | str,
    pack: str = "buffalo_sc",
    recognizer: str = "buffalo_sc",
    threads: int = 1,
    limit_per_identity: Optional[int] = None,
    identities: Optional[Sequence[str]] = None,
    cache: bool = True,
    progress: Optional[Callable[[int, int], None]] = None,
) -> FaceSet:
    """Detect (largest face), align and embed every image of an identity folder; cached."""
    items = identity_images(root)
    if identities is not None:
        keep = set(identities)
        items = [it for it in items if it[1] in keep]
    if limit_per_identity:
        seen: Dict[str, int] = {}
        kept = []
        for it in items:
            seen[it[1]] = seen.get(it[1], 0) + 1
            if seen[it[1]] <= limit_per_identity:
                kept.append(it)
        items = kept
    sig = [(p, os.path.getsize(p)) for p, _ in items]
    path = dataset_cache_dir() / f"faces-{cache_key(_CACHE_VERSION, sig, pack, recognizer)}"
    return _cached(path if cache else None, items, pack, recognizer, threads, progress, str(root))


def _cached(path: Optional[Path], items, pack, recognizer, threads, progress, where) -> FaceSet:
    """The face set of ``items``, cached per image in the folder ``path`` (when given): a killed run
    resumes where it stopped, a finished one loads."""
    fs = embed_list(items, pack, recognizer, threads, progress, where=where, checkpoint=path)
    log.info("%d faces, %d images without a face", len(fs.crops), len(fs.failed))
    return fs


def items_of(data: os.PathLike | str) -> List[Tuple[str, str]]:
    """A folder of identity sub-folders or a ``path,identity`` CSV → ``(path, identity)`` items."""
    from ..io import read_identity_list

    return read_identity_list(data) if Path(data).is_file() else identity_images(data)


def embed_items(data: os.PathLike | str, pack: str, recognizer: str, threads: int, cache: bool = True,
                progress: Optional[Callable[[int, int], None]] = None) -> FaceSet:
    """Detected, aligned and embedded faces (largest per image) of a folder or a list, cached and
    checkpointed (a killed run resumes) unless ``cache`` is false."""
    if not Path(data).is_file():
        return embed_folder(data, pack, recognizer, threads, cache=cache, progress=progress)
    from ..io import read_identity_list

    items = read_identity_list(data)
    sig = [(p, y, os.path.getsize(p) if os.path.isfile(p) else -1) for p, y in items]
    path = dataset_cache_dir() / f"faces-list-{cache_key(_CACHE_VERSION, sig, pack, recognizer)}"
    return _cached(path if cache else None, items, pack, recognizer, threads, progress, str(data))


def score_in_batches(method, crops_bgr: np.ndarray, batch: int = 256) -> np.ndarray:
    """``method.score_crops`` over aligned crops, ``batch`` at a time (bounded memory for big models)."""
    return np.concatenate([method.score_crops(crops_bgr[s : s + batch]) for s in range(0, len(crops_bgr), batch)])


def method_scores(method: str, faces: FaceSet, pack: str, recognizer: str) -> np.ndarray:
    """Scores of ``faces`` by a registered quality method. Crop-only methods score the aligned crops;
    methods that need detection or embeddings re-run the pipeline on the images."""
    from ..plugins import QUALITY_METHODS
    from ..quality.base import CropQualityMethod
    from ..scoring import QualityScorer

    m = QUALITY_METHODS.create(method)
    if isinstance(m, CropQualityMethod):
        return score_in_batches(m, faces.crops).astype(np.float64)
    rows = {str(r.source): r.quality for r in QualityScorer(m, mode="largest", pack=pack, recognizer=recognizer)
            .score([str(p) for p in faces.paths]) if r.face_index == 0}
    return np.array([rows.get(str(p), np.nan) for p in faces.paths], np.float64)


# --------------------------------------------------------------------------------------------------
# the per-image cache: one format for every face set (folders, lists, a benchmark's pairs)


def file_key(path: os.PathLike | str) -> str:
    """``name:size:mtime`` of a file: cheap and changes whenever the file is replaced."""
    st = os.stat(path)
    return f"{os.path.basename(path)}:{st.st_size}:{int(st.st_mtime)}"


def safe_name(name: str) -> str:
    """``name`` with every character a file name should not hold replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


class ImageStore:
    """Per-image arrays valid under one ``key`` (what made them: model files, settings), kept in a folder
    of shards: each ``.npz`` holds ``key``, the image ``names`` and one row per name of every array.

    Built incrementally: :meth:`add` writes only the new rows, as one more shard written atomically, so
    a run over a subset and a later run over the whole set share work and a killed run keeps every
    finished shard. Shards of another key are removed when the store is opened.
    """

    def __init__(self, folder: os.PathLike | str, key: str) -> None:
        self.folder, self.key = Path(folder), key
        self.folder.mkdir(parents=True, exist_ok=True)
        self._where: Dict[str, Tuple[Path, int]] = {}  # name -> (shard, row); a later shard wins
        stale = []
        for shard in sorted(self.folder.glob("*.npz")):
            try:
                with np.load(shard, allow_pickle=False) as z:
                    if str(z["key"]) != key:
                        stale.append(shard)
                        continue
                    names = z["names"].tolist()
            except Exception as exc:  # a damaged shard is redone, never trusted
                log.warning("ignoring damaged cache shard %s (%s)", shard, exc)
                continue
            self._where.update((n, (shard, i)) for i, n in enumerate(names))
        if stale:
            log.info("%d cache shards in %s are stale (key changed): recomputing", len(stale), self.folder)
            for shard in stale:
                shard.unlink(missing_ok=True)

    def __contains__(self, name: str) -> bool:
        return name in self._where

    def missing(self, names: Iterable[str]) -> List[str]:
        """The names (once each, in order) not in the store yet."""
        return [n for n in dict.fromkeys(names) if n not in self._where]

    def add(self, names: Sequence[str], arrays: Dict[str, np.ndarray]) -> None:
        """Store one row of each array per name, as one new shard."""
        if not len(names):
            return
        path = self.folder / f"{time.time_ns():020d}-{os.getpid()}.npz"
        tmp = self.folder / f".{path.name}.tmp"
        with open(tmp, "wb") as f:  # uncompressed: crops do not compress much and loading stays fast
            np.savez(f, key=np.array(self.key), names=np.asarray(list(names), dtype=str), **arrays)
        os.replace(tmp, path)  # a shard is there whole or not at all
        self._where.update((n, (path, i)) for i, n in enumerate(names))

    def take(self, names: Sequence[str]) -> Dict[str, np.ndarray]:
        """Every array's rows of ``names`` (all in the store), in that order."""
        by_shard: Dict[Path, Tuple[List[int], List[int]]] = {}
        for j, n in enumerate(names):
            shard, row = self._where[n]
            js, rows = by_shard.setdefault(shard, ([], []))
            js.append(j)
            rows.append(row)
        parts: Dict[str, List[np.ndarray]] = {}
        order = []
        for shard, (js, rows) in by_shard.items():
            order += js
            with np.load(shard, allow_pickle=False) as z:
                for k in z.files:
                    if k not in ("key", "names"):
                        parts.setdefault(k, []).append(z[k][rows])
        back = np.argsort(np.asarray(order, np.int64), kind="stable")
        return {k: np.concatenate(v)[back] for k, v in parts.items()}


@dataclass
class FaceCache:
    """The largest face of each image of a list (in the order asked), as :class:`FaceStore` keeps it."""

    rel: List[str]  # the images' names in the store (their paths relative to its root)
    status: np.ndarray  # str: "ok", or why there is no face ("no_face", "<decode status>: <error>")
    crops: np.ndarray  # [n,112,112,3] BGR uint8 (zeros when failed)
    det_score: np.ndarray  # [n] (NaN when failed or pre-aligned)
    landmarks: np.ndarray  # [n,5,2] source pixels
    bbox: np.ndarray  # [n,4] source pixels
    key: str  # what made them (detector file and settings)
    embeddings: Dict[str, Tuple[np.ndarray, np.ndarray, str]] = field(default_factory=dict)  # name → normed, norms, key

    @property
    def ok(self) -> np.ndarray:
        return self.status == "ok"


def detector_key(pipe) -> str:
    """The cache key of what a ``FacePipeline`` makes of an image (detector file and settings, mode)."""
    det = pipe.detector  # None for pre-aligned crops
    settings = [] if det is None else [file_key(det.model_path), str(det.det_size), str(det.score_threshold),
                                       str(det.retry_size)]
    return cache_key("faces-v2", pipe.mode.value, *settings)


class FaceStore:
    """The largest face of each image (aligned crop, detector confidence, landmarks, box) and its embeddings
    per recognizer, cached per image under ``folder`` (``faces/`` and ``emb_<recognizer>/``, each an
    :class:`ImageStore`): only images not there yet are detected, only faces not there yet embedded.

    Images are named by their path relative to ``root`` (or by their path when ``root`` is None).
    """

    def __init__(self, folder: os.PathLike | str, root: Optional[os.PathLike | str] = None, pipeline=None,
                 pack: str = "buffalo_sc", mode: str = "largest") -> None:
        self.folder, self.root = Path(folder), None if root is None else Path(root)
        self._pipe, self.pack, self.mode = pipeline, pack, mode
        self._stores: Dict[str, ImageStore] = {}
        self._recognizers: Dict[Tuple[str, Optional[int]], object] = {}

    @property
    def pipeline(self):
        if self._pipe is None:
            from .pipeline import FacePipeline

            self._pipe = FacePipeline.from_pack(self.pack, mode=self.mode)
        return self._pipe

    def _store(self, name: str, key: str) -> ImageStore:
        """The store ``folder/name`` under ``key``, opened once."""
        if name not in self._stores or self._stores[name].key != key:
            self._stores[name] = ImageStore(self.folder / name, key)
        return self._stores[name]

    def _faces_store(self) -> Tuple[ImageStore, str]:
        key = detector_key(self.pipeline)
        return self._store("faces", key), key

    def missing_faces(self, names: Sequence[str]) -> List[str]:
        """The images of ``names`` not detected yet."""
        return self._faces_store()[0].missing(names)

    def faces(self, names: Sequence[str], show: bool = False) -> FaceCache:
        """The largest face of every image in ``names``, detecting (and caching) those not cached yet."""
        store, key = self._faces_store()
        todo = store.missing(names)
        if todo:
            log.debug("detecting faces in %d of %d images", len(todo), len(names))
            n = len(todo)
            out = dict(status=np.empty(n, dtype=object), crops=np.zeros((n, 112, 112, 3), np.uint8),
                       det_score=np.full(n, np.nan, np.float32), landmarks=np.zeros((n, 5, 2), np.float32),
                       bbox=np.zeros((n, 4), np.float32))
            paths = (str(self.root / r) if self.root is not None else r for r in todo)
            found = largest_faces(iter_progress(paths, n, "detect+align", show), self.pipeline)
            for i, (f, why) in enumerate(found):
                out["status"][i] = why or "ok"
                if f is not None:
                    out["crops"][i], out["det_score"][i], out["landmarks"][i] = f.aligned, f.det_score, f.landmarks
                    if f.bbox is not None:
                        out["bbox"][i] = f.bbox
            out["status"] = out["status"].astype(f"<U{max(16, max(map(len, out['status'])))}")
            store.add(todo, out)
        a = store.take(list(names))
        return FaceCache(list(names), a["status"], a["crops"], a["det_score"], a["landmarks"], a["bbox"], key)

    def embeddings(self, fc: FaceCache, recognizer: str, batch: int = 64, threads: Optional[int] = None,
                   show: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """Unit embeddings and raw norms of ``fc``'s faces by a registered recognizer (zeros where no face),
        embedding (``batch`` crops a run) and caching those not cached yet; kept in ``fc.embeddings``."""
        if recognizer in fc.embeddings:
            return fc.embeddings[recognizer][:2]
        if (recognizer, threads) not in self._recognizers:
            self._recognizers[recognizer, threads] = load_recognizer(recognizer, threads)
        rec = self._recognizers[recognizer, threads]
        model = getattr(rec, "model_path", "") or ""
        key = cache_key("emb-v2", recognizer, file_key(model) if model else recognizer, fc.key)
        store = self._store(f"emb_{safe_name(recognizer)}", key)
        todo = store.missing(fc.rel)
        if todo:
            pos = {r: i for i, r in enumerate(fc.rel)}
            rows = np.array([pos[r] for r in todo], np.int64)
            normed = np.zeros((len(todo), rec.dim), np.float32)
            norms = np.zeros(len(todo), np.float32)
            ok = np.flatnonzero(fc.ok[rows])
            if len(ok):
                bar = iter_progress(None, len(ok), f"embed {recognizer}", show, "face")
                normed[ok], norms[ok] = embed_crops(rec, fc.crops[rows[ok]], batch, progress=bar.update)
                bar.close()
            store.add(todo, {"normed": normed, "norms": norms})
        a = store.take(fc.rel)
        fc.embeddings[recognizer] = (a["normed"], a["norms"], key)
        return a["normed"], a["norms"]

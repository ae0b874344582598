"""The one face dataset: a folder of identity sub-folders or a ``path,identity`` list turned into
detected, aligned (112x112, ArcFace template) and embedded faces, cached as ``.npz``.

Used by ``fiqa label``, training, labeling in FiftyOne and the benchmarks alike. Core layer:
onnxruntime only, no torch.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import MissingAssetError, UsageError

log = logging.getLogger(__name__)

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
_CACHE_VERSION = 1


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

    def save(self, path: Path) -> None:
        np.savez(path, crops=self.crops, embeddings=self.embeddings, identities=self.identities,
                 names=self.names, paths=self.paths, failed=self.failed)

    @classmethod
    def load(cls, path: Path) -> "FaceSet":
        with np.load(path, allow_pickle=False) as z:
            return cls(**{k: z[k] for k in ("crops", "embeddings", "identities", "names", "paths", "failed")})


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


def largest_faces(paths: Sequence[str], pipe) -> List[Tuple[Optional[np.ndarray], Optional[str]]]:
    """``(aligned 112×112 BGR crop or None, why not or None)`` of the largest face of each image (a
    ``FacePipeline`` in ``largest`` or ``aligned`` mode); never raises."""
    out: List[Tuple[Optional[np.ndarray], Optional[str]]] = []
    for p in paths:
        it = pipe.process(p)
        if it.ok and it.faces:
            out.append((it.faces[0].aligned, None))
        else:
            out.append((None, f"{it.status}: {it.error}" if it.error else it.status))
    return out


def embed_crops(rec, crops_bgr: np.ndarray, batch: int = 64) -> Tuple[np.ndarray, np.ndarray]:
    """``(unit embeddings [N, d] float32, raw norms [N] float32)`` of aligned crops, ``batch`` per run."""
    if not len(crops_bgr):
        return np.zeros((0, 0), np.float32), np.zeros(0, np.float32)
    got = [rec.embed(crops_bgr[s : s + batch]) for s in range(0, len(crops_bgr), batch)]
    return (np.concatenate([g.normed for g in got]).astype(np.float32),
            np.concatenate([g.norms for g in got]).astype(np.float32))


def embed_list(items: Sequence[Tuple[str, str]], pack: str, recognizer: str, threads: Optional[int],
               progress: Optional[Callable[[int, int], None]] = None, where: str = "the list",
               checkpoint: Optional[Path] = None, mode: str = "largest") -> FaceSet:
    """Largest face of each ``(path, identity)`` item detected, aligned and embedded (``mode="aligned"``:
    the images are already aligned crops); images without a face are listed in ``failed``.

    With ``checkpoint`` (a folder), every :data:`CHUNK` images are saved there as one shard, written
    atomically; a run killed at any point and started again loads the finished shards and redoes
    only the rest (same chunks, so the result is identical to an uninterrupted run).
    """
    from ..faces.pipeline import FacePipeline

    pipe = rec = None
    names = sorted({y for _, y in items})
    index = {y: i for i, y in enumerate(names)}
    crops, embs, ok = [], [], []
    resumed = 0
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        shard = checkpoint / f"{start // CHUNK:07d}.npz" if checkpoint is not None else None
        got = _load_shard(shard, len(chunk)) if shard is not None else None
        if got is None:
            if pipe is None:
                pipe = FacePipeline.from_pack(pack, mode=mode)
                rec = load_recognizer(recognizer, threads)
            found = largest_faces([p for p, _ in chunk], pipe)
            hit = np.array([c is not None for c, _ in found], bool)
            c = np.stack([c for c, _ in found if c is not None]) if hit.any() else np.zeros((0, 112, 112, 3), np.uint8)
            got = (c, embed_crops(rec, c)[0], hit)
            if shard is not None:
                _save_shard(shard, *got)
        else:
            resumed += len(chunk)
        crops.append(got[0])
        embs.append(got[1])
        ok.append(got[2])
        if progress:
            progress(min(start + CHUNK, len(items)), len(items))
    if resumed:
        log.info("resumed: %d of %d images loaded from the checkpoints in %s", resumed, len(items), checkpoint)
    hit = np.concatenate(ok) if ok else np.zeros(0, bool)
    if not hit.any():
        raise UsageError(f"no face found in any image of {where}")
    paths = np.asarray([p for p, _ in items])
    ids = np.asarray([index[y] for _, y in items], np.int32)
    return FaceSet(np.concatenate(crops), np.concatenate([e for e in embs if e.size]), ids[hit], np.asarray(names),
                   paths[hit], paths[~hit].astype(str))


def _save_shard(path: Path, crops: np.ndarray, emb: np.ndarray, hit: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, crops=crops, embeddings=emb, ok=hit)
    os.replace(tmp, path)  # a shard is there whole or not at all


def _load_shard(path: Path, n: int) -> Optional[tuple]:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            got = z["crops"], z["embeddings"], z["ok"]
    except Exception as exc:  # a damaged shard is redone, never trusted
        log.warning("ignoring damaged checkpoint %s (%s)", path, exc)
        return None
    return got if len(got[2]) == n and int(got[2].sum()) == len(got[0]) else None


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
    path = dataset_cache_dir() / f"faces-{cache_key(_CACHE_VERSION, sig, pack, recognizer)}.npz"
    return _cached(path if cache else None, items, pack, recognizer, threads, progress, str(root))


def _cached(path: Optional[Path], items, pack, recognizer, threads, progress, where) -> FaceSet:
    """The face set of ``items`` from ``path``, else embedded with checkpoints beside it (``.parts/``,
    removed once ``path`` is written): a killed run resumes where it stopped."""
    import shutil

    if path is not None and path.exists():
        log.info("loading cached faces from %s", path)
        return FaceSet.load(path)
    parts = path.with_suffix(".parts") if path is not None else None
    fs = embed_list(items, pack, recognizer, threads, progress, where=where, checkpoint=parts)
    log.info("%d faces embedded, %d images without a face", len(fs.crops), len(fs.failed))
    if path is not None:
        tmp = path.with_suffix(".tmp.npz")
        fs.save(tmp)
        os.replace(tmp, path)
        shutil.rmtree(parts, ignore_errors=True)
        log.info("cached faces in %s", path)
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
    path = dataset_cache_dir() / f"faces-list-{cache_key(_CACHE_VERSION, sig, pack, recognizer)}.npz"
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

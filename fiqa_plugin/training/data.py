"""Training data for quality regressors: a folder of identity sub-folders → aligned crops,
embeddings and recognition-oriented quality labels, cached as ``.npz`` files.

Two cached stages, both under ``fiqa_plugin.paths.cache_dir()/training``:

1. :func:`embed_folder`: every image is detected (largest face), aligned to 112×112 and
   embedded once with the recognizer (the slow part: ~25 ms per face).
2. :func:`build_training_set`: clean faces plus ``degrade_copies`` degraded copies of each
   (blur, downscale, noise, JPEG, brightness, occlusion). Each copy is re-embedded by the
   recognizer, so its label is what the recognizer makes of it, not a guess.

Labels follow Peng et al. Eq. 1, ``q(x) = cos(f_x, u_y)`` with ``u_y`` the normalised mean
embedding of the *clean* faces of identity ``y``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

log = logging.getLogger(__name__)

DEGRADATIONS = ("blur", "downscale", "noise", "jpeg", "brightness", "occlusion")
_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
_CACHE_VERSION = 1


def identity_images(root: os.PathLike | str) -> List[Tuple[str, str]]:
    """``(path, identity)`` for every image in ``root/<identity>/``, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder of identity sub-folders")
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        out += [(str(f), d.name) for f in sorted(d.iterdir()) if f.suffix.lower() in _EXTS and f.is_file()]
    if not out:
        raise FileNotFoundError(f"no images in identity sub-folders of {root} (expected {root}/<identity>/<image>.jpg)")
    return out


def center_labels(embeddings: np.ndarray, identities: np.ndarray, center_mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Eq. 1: cosine of each (unit) embedding with its identity's normalised mean embedding.

    ``center_mask`` picks the samples the centres are computed from (default: all).
    """
    emb = np.asarray(embeddings, np.float64)
    ids = np.asarray(identities)
    mask = np.ones(len(ids), bool) if center_mask is None else np.asarray(center_mask, bool)
    q = np.full(len(ids), np.nan, np.float32)
    for y in np.unique(ids):
        sel = ids == y
        src = sel & mask
        if not src.any():
            continue
        u = emb[src].mean(0)
        u /= max(np.linalg.norm(u), 1e-12)
        q[sel] = (emb[sel] @ u).astype(np.float32)
    return q


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


def _key(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _training_cache() -> Path:
    from ..paths import cache_dir

    d = cache_dir() / "training"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _recognizer(name: str, threads: int):
    from ..plugins import RECOGNIZERS

    return RECOGNIZERS.create(name, threads=threads)


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
    from ..faces.pipeline import FacePipeline

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
    path = _training_cache() / f"faces-{_key(_CACHE_VERSION, sig, pack, recognizer)}.npz"
    if cache and path.exists():
        log.info("loading cached faces from %s", path)
        return FaceSet.load(path)
    pipe = FacePipeline.from_pack(pack, mode="largest")
    rec = _recognizer(recognizer, threads)
    names = sorted({y for _, y in items})
    index = {y: i for i, y in enumerate(names)}
    crops, ids, paths, failed = [], [], [], []
    for i, (p, y) in enumerate(items):
        res = pipe.process(p)
        if res.ok:
            crops.append(res.faces[0].aligned)
            ids.append(index[y])
            paths.append(p)
        else:
            failed.append(p)
        if progress:
            progress(i + 1, len(items))
    if not crops:
        raise ValueError(f"no face found in any image under {root}")
    crops_a = np.stack(crops)
    emb = np.concatenate([rec.embed(crops_a[i : i + 256]).normed for i in range(0, len(crops_a), 256)])
    fs = FaceSet(crops_a, emb.astype(np.float32), np.asarray(ids, np.int32), np.asarray(names), np.asarray(paths),
                 np.asarray(failed, dtype=str))
    log.info("%d faces embedded, %d images without a face", len(crops_a), len(failed))
    if cache:
        fs.save(path)
        log.info("cached faces in %s", path)
    return fs


def degrade(crop: np.ndarray, rng: np.random.Generator, ops: Optional[Sequence[str]] = None) -> Tuple[np.ndarray, str]:
    """One randomly degraded copy of an aligned BGR crop and a description of what was done.

    One or two degradations are drawn (from ``ops``, default all) with strengths wide enough
    to reach faces the recognizer can no longer match.
    """
    ops = list(ops or DEGRADATIONS)
    chosen = rng.choice(ops, size=min(len(ops), 1 + int(rng.random() < 0.4)), replace=False)
    x = crop.copy()
    h, w = x.shape[:2]
    desc = []
    for op in chosen:
        if op == "blur":
            s = float(rng.uniform(0.8, 5.0))
            x = cv2.GaussianBlur(x, (0, 0), s)
            desc.append(f"blur{s:.1f}")
        elif op == "downscale":
            f = float(rng.uniform(2.0, 10.0))
            small = cv2.resize(x, (max(4, round(w / f)), max(4, round(h / f))), interpolation=cv2.INTER_AREA)
            x = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
            desc.append(f"down{f:.1f}")
        elif op == "noise":
            s = float(rng.uniform(5, 45))
            x = np.clip(x.astype(np.float32) + rng.normal(0, s, x.shape), 0, 255).astype(np.uint8)
            desc.append(f"noise{s:.0f}")
        elif op == "jpeg":
            q = int(rng.integers(3, 40))
            ok, buf = cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, q])
            x = cv2.imdecode(buf, cv2.IMREAD_COLOR)
            desc.append(f"jpeg{q}")
        elif op == "brightness":
            g = float(rng.choice([rng.uniform(0.1, 0.5), rng.uniform(1.6, 3.0)]))
            x = np.clip(x.astype(np.float32) * g, 0, 255).astype(np.uint8)
            desc.append(f"gain{g:.2f}")
        elif op == "occlusion":
            oh, ow = int(h * rng.uniform(0.25, 0.6)), int(w * rng.uniform(0.25, 0.8))
            y0, x0 = int(rng.integers(0, h - oh + 1)), int(rng.integers(0, w - ow + 1))
            x[y0 : y0 + oh, x0 : x0 + ow] = rng.integers(0, 256, 3).astype(np.uint8)
            desc.append(f"occl{oh}x{ow}")
        else:
            raise ValueError(f"unknown degradation {op!r}; choose from {DEGRADATIONS}")
    return x, "+".join(desc)


@dataclass
class TrainingSet:
    """Crops at model resolution with their recognition-oriented labels."""

    crops: np.ndarray  # [N,S,S,3] BGR uint8, resized from the aligned 112 crop like OnnxQualityModel does
    labels: np.ndarray  # [N] float32 Eq. 1 labels
    identities: np.ndarray  # [N] int
    source: np.ndarray  # [N] index of the clean face in the FaceSet
    degradation: np.ndarray  # [N] "" for clean faces, else what was done
    names: np.ndarray

    def save(self, path: Path) -> None:
        np.savez(path, crops=self.crops, labels=self.labels, identities=self.identities, source=self.source,
                 degradation=self.degradation, names=self.names)

    @classmethod
    def load(cls, path: os.PathLike | str) -> "TrainingSet":
        with np.load(path, allow_pickle=False) as z:
            return cls(**{k: z[k] for k in ("crops", "labels", "identities", "source", "degradation", "names")})

    def subset(self, idx: np.ndarray) -> "TrainingSet":
        return TrainingSet(self.crops[idx], self.labels[idx], self.identities[idx], self.source[idx],
                           self.degradation[idx], self.names)


def resize_crops(crops: np.ndarray, size: int) -> np.ndarray:
    """Resize 112 crops exactly as :class:`~fiqa_plugin.quality.onnx_model.OnnxQualityModel` does at inference."""
    if crops.shape[1] == size:
        return crops
    interp = cv2.INTER_AREA if crops.shape[1] > size else cv2.INTER_LINEAR
    return np.stack([cv2.resize(c, (size, size), interpolation=interp) for c in crops])


def build_training_set(
    root: os.PathLike | str,
    size: int = 64,
    degrade_copies: int = 2,
    seed: int = 0,
    pack: str = "buffalo_sc",
    recognizer: str = "buffalo_sc",
    threads: int = 1,
    limit_per_identity: Optional[int] = None,
    identities: Optional[Sequence[str]] = None,
    cache: bool = True,
    progress: Optional[Callable[[int, int], None]] = None,
) -> TrainingSet:
    """Clean + degraded, recognizer-labelled crops at ``size``; cached as an ``.npz``."""
    faces = embed_folder(root, pack, recognizer, threads, limit_per_identity, identities, cache, progress)
    key = _key(_CACHE_VERSION, [str(p) for p in faces.paths], pack, recognizer, size, degrade_copies, seed)
    path = _training_cache() / f"trainset-{key}.npz"
    if cache and path.exists():
        log.info("loading cached training set from %s", path)
        return TrainingSet.load(path)
    n = len(faces.crops)
    crops112 = [faces.crops]
    emb = [faces.embeddings]
    src = [np.arange(n)]
    desc = [np.full(n, "", dtype=object)]
    if degrade_copies > 0:
        rng = np.random.default_rng(seed)
        rec = _recognizer(recognizer, threads)
        for c in range(degrade_copies):
            out = [degrade(x, rng) for x in faces.crops]
            dc = np.stack([o[0] for o in out])
            crops112.append(dc)
            emb.append(np.concatenate([rec.embed(dc[i : i + 256]).normed for i in range(0, n, 256)]))
            src.append(np.arange(n))
            desc.append(np.array([o[1] for o in out], dtype=object))
            log.info("degraded copy %d/%d embedded", c + 1, degrade_copies)
    all_crops = np.concatenate(crops112)
    all_emb = np.concatenate(emb)
    all_src = np.concatenate(src)
    ids = faces.identities[all_src]
    clean = np.concatenate([np.ones(n, bool)] + [np.zeros(n, bool)] * degrade_copies)
    labels = center_labels(all_emb, ids, center_mask=clean)
    ts = TrainingSet(resize_crops(all_crops, size), labels.astype(np.float32), ids.astype(np.int32),
                     all_src.astype(np.int32), np.concatenate(desc).astype(str), faces.names)
    if cache:
        ts.save(path)
        log.info("cached training set (%d samples) in %s", len(ts.labels), path)
    return ts


def split_by_identity(identities: np.ndarray, val_fraction: float = 0.1, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Boolean train / validation masks with whole identities held out."""
    ids = np.unique(identities)
    rng = np.random.default_rng(seed)
    val_ids = rng.choice(ids, size=max(1, round(len(ids) * val_fraction)), replace=False)
    val = np.isin(identities, val_ids)
    return ~val, val

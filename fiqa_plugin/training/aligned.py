"""Pre-aligned training faces (``celeba_aligned``: ArcFace-aligned 112×112 crops with an ``index.csv``)
and resumable recognizer passes over them.

The faces need no detection: the crop is what the recognizer sees. :func:`aligned_faces` reads a
folder of ``<identity>/<file>.jpg`` crops, leaving out held-out identities (the validation
protocol's); :func:`index_columns` reads the detector confidence and landmarks of those crops from
``index.csv``. :func:`recognizer_outputs` runs a recognizer over many crops in chunks, each chunk
cached on its own, so an interrupted pass resumes where it stopped.
"""
from __future__ import annotations

import csv
import logging
import os
import zipfile
from pathlib import Path
from typing import Callable, Dict, Iterable, Optional, Sequence

import numpy as np

from ..errors import InputError, MissingAssetError, ModelError, UsageError
from ..faces.dataset import FaceSet, cache_key, dataset_cache_dir, identity_images

log = logging.getLogger(__name__)

ALIGNED_SHAPE = (112, 112, 3)


def aligned_faces(root: os.PathLike | str, exclude: Iterable[str] = ()) -> FaceSet:
    """Every aligned crop of ``root/<identity>/`` except identities in ``exclude`` (embeddings left empty).

    Identities are numbered in numeric-then-lexical order of their folder names; ``paths`` are absolute."""
    import cv2

    skip = {str(y) for y in exclude}
    items = [(p, y) for p, y in identity_images(root) if y not in skip]
    if not items:
        raise UsageError(f"{root}: every identity is excluded", hint="exclude fewer identities")
    names = sorted({y for _, y in items}, key=lambda y: (len(y), y))
    index = {y: i for i, y in enumerate(names)}
    crops = np.empty((len(items),) + ALIGNED_SHAPE, np.uint8)
    for i, (p, _) in enumerate(items):
        img = cv2.imread(p, cv2.IMREAD_COLOR)
        if img is None:
            raise InputError(f"{p}: not a readable image", hint="remove or replace the file")
        if img.shape != ALIGNED_SHAPE:
            raise InputError(f"{p}: expected a 112×112 aligned crop, got {img.shape[1]}×{img.shape[0]}",
                             hint="feed ArcFace-aligned 112×112 crops, or use a folder of photos with detection")
        crops[i] = img
    return FaceSet(crops, np.zeros((len(items), 0), np.float32), np.array([index[y] for _, y in items], np.int32),
                   np.asarray(names), np.asarray([p for p, _ in items]), np.zeros(0, dtype=str))


def index_columns(root: os.PathLike | str, paths: Sequence[str]) -> Dict[str, np.ndarray]:
    """``det_score [N]`` and ``landmarks [N, 5, 2]`` (source pixels) of ``paths`` from ``root/index.csv``."""
    root = Path(root).resolve()
    index = root / "index.csv"
    if not index.is_file():
        raise MissingAssetError(f"{index} is missing", hint="an aligned-crop folder needs its index.csv "
                                                             "(path,identity,det_score,landmarks_in_source,...)")
    with open(index, newline="") as fh:
        rows = {str((root / r["path"]).resolve()): r for r in csv.DictReader(fh)}
    got = []
    for p in paths:
        r = rows.get(str(Path(p).resolve()))
        if r is None:
            raise InputError(f"{p} is not listed in {index}", hint="pass crops of that folder only")
        got.append(r)
    lm = [[float(v) for v in r["landmarks_in_source"].split()] for r in got]
    if any(len(v) != 10 for v in lm):
        raise InputError(f"{index}: landmarks_in_source must hold 10 numbers (5 x, y pairs)")
    return {"det_score": np.array([float(r["det_score"]) for r in got], np.float32),
            "landmarks": np.array(lm, np.float32).reshape(-1, 5, 2)}


def _load_chunk(path: Path, rows: int) -> Optional[Dict[str, np.ndarray]]:
    """A cached chunk, or ``None`` (with a warning) when it is unreadable or has the wrong length."""
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        log.warning("%s is unreadable (%s); computing it again", path, e)
        return None
    if not out or any(len(v) != rows for v in out.values()):
        log.warning("%s does not hold %d rows; computing it again", path, rows)
        return None
    return out


def recognizer_outputs(name: str, crops: np.ndarray, run: Callable[[np.ndarray], Dict[str, np.ndarray]],
                       key_parts: Sequence, chunk: int = 1024,
                       progress: Optional[Callable[[int, int], None]] = None,
                       cached_only: bool = False) -> Dict[str, np.ndarray]:
    """``run(crops[chunk]) → {output: array}`` over all crops, each chunk cached under
    ``dataset_cache_dir()/<name>-<key>/`` (``key_parts`` must identify the crops and the model).
    ``cached_only``: run nothing, return the leading chunks already cached (possibly none: ``{}``)."""
    if chunk < 1:
        raise UsageError(f"chunk must be >= 1, got {chunk}")
    d = dataset_cache_dir() / f"{name}-{cache_key(*key_parts, len(crops), chunk)}"
    d.mkdir(parents=True, exist_ok=True)
    parts = []
    for i, s in enumerate(range(0, len(crops), chunk)):
        p = d / f"chunk-{i:04d}.npz"
        rows = min(len(crops), s + chunk) - s
        out = _load_chunk(p, rows) if p.exists() else None
        if out is None:
            if cached_only:
                break
            out = {k: np.asarray(v) for k, v in run(crops[s : s + chunk]).items()}
            if not out or any(len(v) != rows for v in out.values()):
                raise ModelError(f"{name}: the recognizer returned {({k: len(v) for k, v in out.items()})} rows "
                                 f"for {rows} crops")
            tmp = p.with_suffix(".tmp.npz")
            np.savez(tmp, **out)
            os.replace(tmp, p)
        parts.append(out)
        if progress:
            progress(s + rows, len(crops))
    return {k: np.concatenate([q[k] for q in parts]) for k in parts[0]} if parts else {}

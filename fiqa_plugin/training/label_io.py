"""Inputs of ``fiqa label``: a folder of identity sub-folders or a CSV list, embedded by a recognizer,
and the initial scores the ``optimize`` labeler refines (a scores CSV or a quality method)."""
from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .data import FaceSet, embed_folder, embed_list, identity_images, score_in_batches
from ..errors import InputError

log = logging.getLogger(__name__)


def read_list(path: os.PathLike | str) -> List[Tuple[str, str]]:
    """``(image path, identity)`` rows of a CSV with ``path`` and ``identity`` columns (relative
    paths are taken relative to the CSV's folder)."""
    base = Path(path).resolve().parent
    out = []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"path", "identity"} <= set(reader.fieldnames):
            raise InputError(f"{path}: a list needs 'path' and 'identity' columns, got {reader.fieldnames}")
        for row in reader:
            p = Path(row["path"])
            out.append((str(p if p.is_absolute() else base / p), row["identity"]))
    if not out:
        raise InputError(f"{path}: no rows")
    return out


def items_of(data: os.PathLike | str) -> List[Tuple[str, str]]:
    """A folder of identity sub-folders or a ``path,identity`` CSV → ``(path, identity)`` items."""
    return read_list(data) if Path(data).is_file() else identity_images(data)


def embed_items(data: os.PathLike | str, pack: str, recognizer: str, threads: int, cache: bool = True,
                progress: Optional[Callable[[int, int], None]] = None) -> FaceSet:
    """Detected, aligned and embedded faces (largest per image) of a folder (cached) or a list."""
    if not Path(data).is_file():
        return embed_folder(data, pack, recognizer, threads, cache=cache, progress=progress)
    return embed_list(read_list(data), pack, recognizer, threads, progress, where=str(data))


def scores_from_csv(path: os.PathLike | str, paths: Sequence[str]) -> np.ndarray:
    """Initial scores from a ``path,quality`` CSV (e.g. ``fiqa score`` output), aligned to ``paths``.

    Several faces of one image: the first row wins (``fiqa label`` uses the largest face)."""
    got: Dict[str, float] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            key = os.path.abspath(row["path"])
            if key not in got:
                q = row.get("quality", "")
                got[key] = float(q) if q not in ("", None) else np.nan
    out = np.array([got.get(os.path.abspath(p), np.nan) for p in paths], np.float64)
    if not np.isfinite(out).any():
        raise InputError(f"{path}: no score matches the images (the 'path' column must hold the same image paths)")
    return out


def scores_from_method(method: str, faces: FaceSet, pack: str, recognizer: str) -> np.ndarray:
    """Initial scores by a registered quality method. Crop-only methods score the aligned crops;
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

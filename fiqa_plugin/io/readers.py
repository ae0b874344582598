"""Readers of the CSV and text formats users hand to ``fiqa`` (one parser per format)."""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError


def read_identity_list(path: os.PathLike | str) -> List[Tuple[str, str]]:
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


def read_scores(path: os.PathLike | str, column: str = "quality") -> Dict[str, float]:
    """``{absolute path: score}`` from a CSV with ``path`` and ``column`` columns (``fiqa score`` output,
    a ``fiqa label`` file...). Several faces of one image: the lowest ``face`` index wins (face 0 is the
    largest); an empty score maps to NaN."""
    out: Dict[str, Tuple[int, float]] = {}
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"path", column} <= set(reader.fieldnames):
            raise InputError(f"{path}: expected columns 'path' and {column!r}, got {reader.fieldnames}")
        for r in reader:
            key = os.path.abspath(r["path"])
            try:
                face = int(r.get("face") or 0)
                q = float(r[column]) if r.get(column) not in (None, "") else math.nan
            except ValueError:
                raise InputError(f"{path}: row {r!r} has a non-numeric {column!r} or face") from None
            face = face if face >= 0 else 1 << 30  # face -1: a failed image, kept only if nothing better
            if key not in out or face < out[key][0]:
                out[key] = (face, q)
    return {k: v[1] for k, v in out.items()}


def scores_for(path: os.PathLike | str, paths: Sequence[str], column: str = "quality") -> np.ndarray:
    """:func:`read_scores` aligned to ``paths`` (NaN where absent); raises when none matches."""
    got = read_scores(path, column)
    out = np.array([got.get(os.path.abspath(p), np.nan) for p in paths], np.float64)
    if len(out) and not np.isfinite(out).any():
        raise InputError(f"{path}: no {column!r} matches the images",
                         hint="the 'path' column must hold the same image paths")
    return out


def read_target_csv(path: os.PathLike | str) -> List[Tuple[str, float, str]]:
    """Rows ``(image_path, label, group)`` of a ``path,label[,group]`` CSV (header optional; paths relative
    to the CSV): any float target, e.g. mean opinion scores."""
    path = Path(path)
    rows = []
    with open(path, newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            if not row or row[0].startswith("#"):
                continue
            try:
                label = float(row[1])
            except (IndexError, ValueError):
                if i == 0:  # header line
                    continue
                raise InputError(f"{path}:{i + 1}: expected 'path,label[,group]' with a float label, got {row!r}")
            img = Path(row[0])
            rows.append((str(img if img.is_absolute() else path.parent / img), label, row[2] if len(row) > 2 else ""))
    if not rows:
        raise InputError(f"{path} has no 'path,label' rows")
    return rows


def read_pairs(path: os.PathLike | str, images: Optional[str] = None
               ) -> Tuple[List[str], List[str], np.ndarray, Optional[np.ndarray]]:
    """``(paths_a, paths_b, is_genuine, similarity or None)`` from an LFW ``pairs.txt`` (images under
    ``images``, default the ``images`` folder beside it) or a CSV ``a,b,genuine[,similarity]``."""
    from ..evaluation.pairs import parse_lfw_pairs

    first = Path(path).read_text().split("\n", 1)[0]
    if all(tok.isdigit() for tok in first.split()) and first.strip():
        pairs = parse_lfw_pairs(path, images)
        return [p.path_a for p in pairs], [p.path_b for p in pairs], np.array([p.is_genuine for p in pairs]), None
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"a", "b", "genuine"} <= set(rows[0]):
        raise InputError(f"{path}: expected an LFW pairs.txt or a CSV with columns a,b,genuine[,similarity]")
    base = Path(images) if images else Path(path).parent
    resolve = (lambda s: s if os.path.isabs(s) else str(base / s))
    gen = np.array([r["genuine"].strip().lower() in ("1", "true", "yes", "same") for r in rows])
    sim = np.array([float(r["similarity"]) for r in rows]) if "similarity" in rows[0] else None
    return [resolve(r["a"]) for r in rows], [resolve(r["b"]) for r in rows], gen, sim

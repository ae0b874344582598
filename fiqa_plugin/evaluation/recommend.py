"""Threshold guidance: for a few fractions of faces to discard, the quality threshold and what it buys.

For each discard fraction ``f`` the threshold is the quality of the ``floor(f·N)``-th lowest face
(0-based; faces with a lower quality are dropped, so at most ``f·N`` go: ties are kept together). The
similarity threshold is fixed once at the target FMR over all impostor pairs (as in the EDC); FNMR
before is over all genuine pairs, FNMR after over the genuine pairs whose two faces are both kept.

Used by ``fiqa evaluate --recommend`` and stored in the FiftyOne EDC run result
(``report["recommendations"]``, see :func:`fiqa_plugin.integrations.fiftyone_eval.evaluate_edc`); the
App panel renders it with :func:`recommendations_table` (rows) or the raw list of dicts.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import UsageError
from .verification import split_scores, threshold_at_fmr

DISCARD_FRACTIONS = (0.01, 0.02, 0.05, 0.10, 0.20)


def recommend_thresholds(similarity, is_genuine, pairs, face_quality, fmr: float = 1e-3,
                         fractions: Sequence[float] = DISCARD_FRACTIONS,
                         face_score: Optional[Sequence[float]] = None) -> List[Dict]:
    """One dict per discard fraction: ``discard_fraction``, ``threshold`` (raw), ``threshold_score``
    (the 0–100 calibrated score of the threshold face when ``face_score`` is given, else ``None``),
    ``faces``, ``faces_dropped``, ``genuine_pairs``, ``genuine_pairs_dropped``, ``fmr``, ``fnmr_before``,
    ``fnmr_after``.

    ``pairs`` is ``[m, 2]`` indices into ``face_quality`` (one quality per face; ``-inf`` or NaN for a
    face without one: dropped first); ``similarity``/``is_genuine`` are per pair; ``face_score`` is the
    calibrated score of each face (same order as ``face_quality``)."""
    sim = np.asarray(similarity, np.float64)
    gen = np.asarray(is_genuine, bool)
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    q = np.asarray(face_quality, np.float64).copy()
    q[np.isnan(q)] = -np.inf
    if not (len(sim) == len(gen) == len(pairs)) or q.size == 0:
        raise UsageError("similarity, is_genuine and pairs need one entry per pair, and face_quality at least one face")
    _, impostor = split_scores(sim, gen)
    thr = threshold_at_fmr(impostor, fmr, warn=False)
    fails = gen & (sim < thr)
    n_gen = int(gen.sum())
    order = np.argsort(q, kind="stable")
    out = []
    for f in fractions:
        k = min(int(np.floor(f * q.size + 1e-9)), q.size - 1)
        face = order[k]
        t = q[face]
        keep = q >= t
        both = keep[pairs[:, 0]] & keep[pairs[:, 1]]
        kept_gen = int((gen & both).sum())
        out.append({
            "discard_fraction": float(f),
            "threshold": float(t) if math.isfinite(t) else None,
            "threshold_score": (None if face_score is None or not math.isfinite(float(face_score[face]))
                                else float(face_score[face])),
            "faces": int(q.size), "faces_dropped": int((~keep).sum()),
            "genuine_pairs": n_gen, "genuine_pairs_dropped": n_gen - kept_gen,
            "fmr": float(fmr),
            "fnmr_before": float(fails.sum() / n_gen) if n_gen else None,
            "fnmr_after": float((fails & both).sum() / kept_gen) if kept_gen else None,
        })
    return out


def recommendations_table(recs: List[Dict]) -> List[List[str]]:
    """Header + rows of strings for :func:`recommend_thresholds`' output (for markdown or an App table)."""
    head = ["discard", "threshold (raw)", "threshold (0-100)", "faces dropped", "FNMR before", "FNMR after"]
    rows = [head]
    for r in recs:
        rows.append([f"{100 * r['discard_fraction']:g}%", _num(r["threshold"], ".5g"), _num(r["threshold_score"], ".1f"),
                     f"{r['faces_dropped']} of {r['faces']}", _num(r["fnmr_before"], ".4f"), _num(r["fnmr_after"], ".4f")])
    return rows


def recommendations_markdown(recs: List[Dict], title: str = "") -> str:
    """A markdown table of :func:`recommend_thresholds`' output, titled with its FMR."""
    rows = recommendations_table(recs)
    lines = [f"| {' | '.join(r)} |" for r in rows]
    lines.insert(1, "|" + "---:|" * len(rows[0]))
    fmr = f"FMR {recs[0]['fmr']:g}" if recs else ""
    head = f"{title + ': ' if title else ''}recommended thresholds at {fmr} (drop faces below the threshold)"
    return head + "\n\n" + "\n".join(lines)


def _num(v, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)

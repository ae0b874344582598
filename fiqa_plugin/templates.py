"""Template verification with face quality (the tinyFQnet / SDD-FIQA template protocols).

A *template* is a set of faces of one identity. Quality enters in two ways:

* selection: keep the top-1 / top-k faces by quality and verify with their mean
  embedding (against random selection and the plain mean of all faces);
* aggregation: the quality-weighted mean ``f = Σ q_i f_i / n``.

The protocol builder (:func:`build_faceset` + :func:`make_protocol`) turns an
identity-labelled folder (``<identity>/<image>``; LFW, CelebA) into faces with seeded
random degradations (blur, downscale, noise, JPEG, occlusion, applied with OpenCV to
the aligned crops) so templates mix good and bad faces, then draws pairs of disjoint
templates of one identity (genuine) and of two identities (impostor).

Everything except :func:`build_faceset` is plain numpy on embeddings and qualities.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
from .degradations import random_degradation
from .errors import MissingAssetError, UsageError
from .evaluation.verification import tar_at_far

log = logging.getLogger(__name__)

#: Strategies that ignore quality, and those that use it.
BASELINE_STRATEGIES = ("mean", "random-1", "random-k")
QUALITY_STRATEGIES = ("top-1", "top-k", "weighted")
STRATEGIES = BASELINE_STRATEGIES + QUALITY_STRATEGIES
#: FARs of the template table: fewer than evaluation.TABLE_FARS, template protocols have ~10^4 impostor pairs.
TABLE_FARS = (1e-1, 1e-2, 1e-3, 1e-4)


# --- faces and protocol ------------------------------------------------------------------


@dataclass
class ScoredFaces:
    """Per-face data: identity, L2-normalised embedding, one quality array per method."""

    identities: np.ndarray  # [N] int, index into ``names``
    names: List[str]
    embeddings: np.ndarray  # [N, D] float32, unit norm
    qualities: Dict[str, np.ndarray] = field(default_factory=dict)  # method → [N]
    paths: List[str] = field(default_factory=list)
    degradations: List[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.identities)


@dataclass
class Protocol:
    """Templates (face-index arrays) and genuine / impostor template pairs."""

    templates: List[np.ndarray]
    template_identity: np.ndarray  # [T]
    genuine: np.ndarray  # [G, 2] template indices, same identity, disjoint faces
    impostor: np.ndarray  # [I, 2] template indices, different identities


def make_protocol(identities: np.ndarray, template_size: int, draws: int = 3, seed: int = 0,
                  max_impostors: int = 200_000) -> Protocol:
    """Templates of ``template_size`` faces, ``draws`` genuine pairs per identity, impostors across identities.

    Each draw reshuffles an identity's faces and splits off two disjoint templates;
    identities with fewer than ``2 * template_size`` faces are left out. Impostor pairs
    are all pairs of templates of different identities, or a seeded sample of
    ``max_impostors`` of them.
    """
    rng = np.random.default_rng(seed)
    identities = np.asarray(identities)
    templates: List[np.ndarray] = []
    tid: List[int] = []
    genuine = []
    for ident in np.unique(identities):
        idx = np.flatnonzero(identities == ident)
        if len(idx) < 2 * template_size:
            continue
        for _ in range(draws):
            perm = rng.permutation(idx)
            a, b = np.sort(perm[:template_size]), np.sort(perm[template_size : 2 * template_size])
            genuine.append((len(templates), len(templates) + 1))
            templates += [a, b]
            tid += [int(ident), int(ident)]
    tid_arr = np.asarray(tid, np.int64)
    n = len(templates)
    if n == 0:
        raise UsageError(f"no identity has the {2 * template_size} faces two templates of {template_size} need")
    i, j = np.triu_indices(n, k=1)
    diff = tid_arr[i] != tid_arr[j]
    i, j = i[diff], j[diff]
    if len(i) > max_impostors:
        keep = np.sort(rng.choice(len(i), max_impostors, replace=False))
        i, j = i[keep], j[keep]
    return Protocol(templates, tid_arr, np.asarray(genuine, np.int64).reshape(-1, 2), np.stack([i, j], 1))


# --- selection and aggregation -----------------------------------------------------------


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def select_top_k(quality: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest-quality faces (ties: the earlier face), best first."""
    return np.argsort(-np.asarray(quality, np.float64), kind="stable")[: max(1, k)]


def quality_weights(quality: np.ndarray) -> np.ndarray:
    """Non-negative weights from qualities: the scores themselves, shifted to start at 0 if any is negative.

    A method with negative scores (e.g. a negated distance) would otherwise flip embeddings.
    """
    q = np.nan_to_num(np.asarray(quality, np.float64), nan=0.0)
    return q - q.min() if q.size and q.min() < 0 else q


def aggregate(embeddings: np.ndarray, quality: Optional[np.ndarray], strategy: str, k: int = 2,
              rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """One unit-norm template vector from its faces' embeddings ``[n, D]``.

    ``mean``: mean of all faces; ``random-1`` / ``random-k``: mean of randomly chosen faces;
    ``top-1`` / ``top-k``: mean of the best faces by ``quality``; ``weighted``: Σ q_i f_i / n.
    """
    e = np.asarray(embeddings, np.float64)
    if strategy == "mean":
        return _unit(e.mean(0))
    if strategy in ("random-1", "random-k"):
        rng = rng if rng is not None else np.random.default_rng(0)
        n = 1 if strategy == "random-1" else min(k, len(e))
        return _unit(e[rng.choice(len(e), n, replace=False)].mean(0))
    if quality is None:
        raise UsageError(f"strategy {strategy!r} needs qualities")
    if strategy in ("top-1", "top-k"):
        return _unit(e[select_top_k(quality, 1 if strategy == "top-1" else k)].mean(0))
    if strategy == "weighted":
        w = quality_weights(quality)
        if w.sum() <= 0:
            return _unit(e.mean(0))
        return _unit((w[:, None] * e).sum(0) / len(e))
    raise UsageError(f"unknown strategy {strategy!r}; choose from {STRATEGIES}")


def template_vectors(faces: ScoredFaces, protocol: Protocol, strategy: str, method: Optional[str] = None,
                     k: int = 2, seed: int = 0) -> np.ndarray:
    """``[T, D]`` template vectors of every template of ``protocol``."""
    rng = np.random.default_rng(seed)
    q = faces.qualities[method] if method is not None else None
    return np.stack([aggregate(faces.embeddings[t], None if q is None else q[t], strategy, k, rng)
                     for t in protocol.templates])


def pair_scores(vectors: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Cosine similarity of each template pair."""
    return np.einsum("ij,ij->i", vectors[pairs[:, 0]], vectors[pairs[:, 1]])


# --- metrics (fiqa_plugin.evaluation.verification's conventions: accept score >= t) --------


def verification_accuracy(genuine: np.ndarray, impostor: np.ndarray, folds: int = 10, seed: int = 0) -> float:
    """LFW-style accuracy on balanced pairs (impostors subsampled, seeded, to #genuine): the threshold
    is tuned on 9 folds and applied to the 10th, averaged."""
    from .evaluation.verification import verification_accuracy as _accuracy

    rng = np.random.default_rng(seed)
    gen = np.asarray(genuine, np.float64)
    imp = np.asarray(impostor, np.float64)
    if len(imp) > len(gen):
        imp = imp[rng.choice(len(imp), len(gen), replace=False)]
    s = np.concatenate([gen, imp])
    y = np.concatenate([np.ones(len(gen), bool), np.zeros(len(imp), bool)])
    return _accuracy(s, y, folds=min(folds, len(s)), seed=seed)


@dataclass
class ResultRow:
    """One line of the template table."""

    method: str  # quality method, or "—" for baselines
    strategy: str
    tar: Dict[float, float]
    accuracy: float


def evaluate(faces: ScoredFaces, protocol: Protocol, methods: Sequence[str], k: int = 2,
             fars: Sequence[float] = TABLE_FARS, seed: int = 0) -> List[ResultRow]:
    """Baselines once, then each quality strategy for each method in ``methods``."""
    rows = []

    def run(method: Optional[str], strategy: str) -> None:
        v = template_vectors(faces, protocol, strategy, method, k, seed)
        g, i = pair_scores(v, protocol.genuine), pair_scores(v, protocol.impostor)
        rows.append(ResultRow(method or "—", strategy, tar_at_far(g, i, tuple(fars)), verification_accuracy(g, i, seed=seed)))

    for s in BASELINE_STRATEGIES:
        run(None, s)
    for m in methods:
        for s in QUALITY_STRATEGIES:
            run(m, s)
    return rows


def format_table(rows: Sequence[ResultRow], fars: Sequence[float] = TABLE_FARS, k: int = 2) -> str:
    """Markdown table in the layout of the tinyFQnet paper's Tables 3–5 (TAR in %, accuracy in %)."""
    head = "| quality method | selection | " + " | ".join(f"TAR@FAR={f:g}" for f in fars) + " | accuracy |"
    lines = [head, "|---|---|" + "---:|" * (len(fars) + 1)]
    for r in rows:
        strat = r.strategy.replace("-k", f"-{k}")
        tars = " | ".join("—" if np.isnan(r.tar[f]) else f"{100 * r.tar[f]:.2f}" for f in fars)
        lines.append(f"| {r.method} | {strat} | {tars} | {100 * r.accuracy:.2f} |")
    return "\n".join(lines)


# --- building a face set from an identity-labelled folder --------------------------------


def identity_folders(folder: os.PathLike | str, min_images: int, max_images: int = 0,
                     max_identities: int = 0, seed: int = 0) -> Dict[str, List[str]]:
    """``{identity: image paths}`` for sub-folders with ≥ ``min_images`` images (seeded subsets when capped)."""
    exts = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
    rng = np.random.default_rng(seed)
    out = {}
    root = Path(folder)
    if not root.is_dir():
        raise MissingAssetError(f"{root} is not a folder of <identity>/<image> files")
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        imgs = sorted(str(f) for f in d.iterdir() if f.suffix.lower() in exts)
        if len(imgs) < min_images:
            continue
        if max_images and len(imgs) > max_images:
            imgs = sorted(rng.choice(imgs, max_images, replace=False).tolist())
        out[d.name] = imgs
    if max_identities and len(out) > max_identities:
        keep = sorted(rng.choice(sorted(out), max_identities, replace=False).tolist())
        out = {n: out[n] for n in keep}
    if not out:
        raise UsageError(f"no identity folder in {root} has ≥{min_images} images")
    return out


def build_faceset(folder: os.PathLike | str, methods: Sequence[str], *, min_images: int = 8, max_images: int = 16,
                  max_identities: int = 0, recognizer: str = "buffalo_sc", degrade_p: float = 0.5, seed: int = 0,
                  pack: str = "buffalo_sc", progress: Optional[Callable[[int, int], None]] = None,
                  batch_size: int = 64) -> ScoredFaces:
    """Detect the largest face of each image, align, degrade (seeded), embed and score with every method.

    Images without a face are dropped (logged). The degradation of image ``n`` depends only
    on ``seed`` and ``n``, so runs are reproducible.
    """
    from .faces import FacePipeline
    from .faces.dataset import embed_crops
    from .faces.pipeline import Face
    from .plugins import QUALITY_METHODS, RECOGNIZERS

    ids = identity_folders(folder, min_images, max_images, max_identities, seed)
    pipe = FacePipeline.from_pack(pack, mode="largest")
    rec = RECOGNIZERS.create(recognizer)
    qms = {m: QUALITY_METHODS.create(m) for m in methods}
    names = sorted(ids)
    items = [(n_i, p) for n_i, n in enumerate(names) for p in ids[n]]
    faces: List[Face] = []
    identities, paths, kinds = [], [], []
    for n, (ident, path) in enumerate(items):
        res = pipe.process(path)
        if progress is not None:
            progress(n + 1, len(items))
        if not res.ok:
            log.info("no face in %s (%s)", path, res.status)
            continue
        f = res.faces[0]
        crop, kind = random_degradation(f.aligned, np.random.default_rng([seed, n]), degrade_p)
        # The source-grid region no longer shows the degraded pixels: measure the crop.
        faces.append(Face(crop, f.landmarks, f.bbox, f.det_score, region=None))
        identities.append(ident)
        paths.append(path)
        kinds.append(kind)
    embeddings, norms = embed_crops(rec, np.stack([f.aligned for f in faces]), batch_size)
    for f, e, nn in zip(faces, embeddings, norms):
        f.embedding, f.embedding_norm = e, float(nn)
    qualities = {}
    for m, qm in qms.items():
        qualities[m] = np.concatenate([qm.score_faces(faces[i : i + batch_size])
                                       for i in range(0, len(faces), batch_size)]).astype(np.float32)
    return ScoredFaces(np.asarray(identities, np.int64), names, embeddings, qualities, paths, kinds)

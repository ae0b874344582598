"""Training data for quality regressors: a folder of identity sub-folders → aligned crops,
embeddings and recognition-oriented quality labels, cached as ``.npz`` files.

Two cached stages, both under ``fiqa_plugin.paths.cache_dir()/training``:

1. :func:`embed_folder`: every image is detected (largest face), aligned to 112×112 and
   embedded once with the recognizer (the slow part: ~25 ms per face).
2. :func:`build_training_set`: clean faces plus ``degrade_copies`` degraded copies of each.
   Each copy is re-embedded by the recognizer, so its label is what the recognizer makes of
   it, not a guess. Two degradation profiles: ``v1`` (blur, downscale, noise, JPEG, brightness,
   occlusion) and ``v2`` (v1 made harsher plus motion blur, contrast loss, geometric
   misalignment: rotation, scale and shift of the aligned crop, as a bad detection produces, and
   black beyond a straight edge, as a face cut by the photo border shows). With ``v2`` every copy's embeddings are cached on their own (crops are
   regenerated from the seed), so adding copies or changing the input size re-embeds nothing.

Labels follow Peng et al. Eq. 1, ``q(x) = cos(f_x, u_y)`` with ``u_y`` the normalised mean
embedding of the *clean* faces of identity ``y``; ``labels="center-loo"`` leaves the face's own
clean image out of its centre (for a degraded copy: the clean face it was made from);
``labels="center-loo-norm"`` multiplies that by the recognizer's embedding norm relative to the
95th percentile of the clean faces' norms (clipped to 1): the recognizer's own confidence in the
face (the MagFace observation), which the centre cosine of a clean face only partly reflects.
``labels="sdd"``: SDD-FIQA labels (Ou et al., sampled Eq. 8 with m=24, K=12, seeded) over all clean and
degraded faces, scaled from [0, 100] to [0, 1], so the small regressors can learn the SDD target.
Every label name is read from the labeler registry (:func:`label_choices`): any registered
pseudo-labeler works, e.g. ``certainty-ratio`` (CR-FIQA) and ``certainty-ratio-loo``.
``labels="teacher:METHOD"``: distillation: any registered quality method scores every clean and
degraded 112×112 crop, and its scores' percentile ranks on ``(0, 1)`` are the labels (a rank target
is what the EDC judges, and it is flat, so a big teacher's scale never matters).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from ..degradations import PROFILES, degrade
from ..errors import UsageError
from ..faces.dataset import (  # noqa: F401  (re-exported: the one face dataset lives in core)
    FaceSet, cache_key, dataset_cache_dir, embed_crops, embed_folder, load_recognizer as _recognizer,
    score_in_batches,
)

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # of the training-set cache; bump when its content changes


@dataclass
class TrainingSet:
    """Crops at model resolution with their recognition-oriented labels."""

    crops: np.ndarray  # [N,S,S,3] BGR uint8, resized from the aligned 112 crop like OnnxQualityModel does
    labels: np.ndarray  # [N] float32 Eq. 1 labels
    identities: np.ndarray  # [N] int
    source: np.ndarray  # [N] index of the clean face in the FaceSet
    degradation: np.ndarray  # [N] "" for clean faces, else what was done
    names: np.ndarray
    embeddings: Optional[np.ndarray] = None  # [N,D] unit recognizer embeddings (for validation EDC)

    def save(self, path: Path) -> None:
        extra = {} if self.embeddings is None else {"embeddings": self.embeddings}
        np.savez(path, crops=self.crops, labels=self.labels, identities=self.identities, source=self.source,
                 degradation=self.degradation, names=self.names, **extra)

    @classmethod
    def load(cls, path: os.PathLike | str) -> "TrainingSet":
        with np.load(path, allow_pickle=False) as z:
            kw = {k: z[k] for k in ("crops", "labels", "identities", "source", "degradation", "names")}
            return cls(**kw, embeddings=z["embeddings"] if "embeddings" in z.files else None)


def resize_crops(crops: np.ndarray, size: int) -> np.ndarray:
    """Resize 112 crops exactly as :class:`~fiqa_plugin.quality.onnx_model.OnnxQualityModel` does at inference."""
    if crops.shape[1] == size:
        return crops
    interp = cv2.INTER_AREA if crops.shape[1] > size else cv2.INTER_LINEAR
    return np.stack([cv2.resize(c, (size, size), interpolation=interp) for c in crops])


def v2_copy(faces: FaceSet, seed: int, copy: int) -> Tuple[np.ndarray, np.ndarray]:
    """Degraded copy ``copy`` of every face (``v2``; a generator per copy, so copies are independent)."""
    rng = np.random.default_rng([seed, copy])
    out = [degrade(x, rng, profile="v2") for x in faces.crops]
    return np.stack([o[0] for o in out]), np.array([o[1] for o in out])


def _v2_copy_embeddings(faces: FaceSet, crops: np.ndarray, desc: np.ndarray, recognizer: str, threads: int,
                        seed: int, copy: int, cache: bool) -> np.ndarray:
    """Embeddings of one ``v2`` copy, cached on their own (12 MB per 6k faces instead of the crops)."""
    path = dataset_cache_dir() / f"copy-{cache_key(CACHE_VERSION, [str(p) for p in faces.paths], recognizer, 'v2', seed, copy)}.npz"
    if cache and path.exists():
        with np.load(path, allow_pickle=False) as z:
            if np.array_equal(z["degradation"], desc):  # the crops regenerated from the seed are the same
                return z["embeddings"]
        log.warning("%s does not match the regenerated copy; re-embedding", path)
    emb = embed_crops(_recognizer(recognizer, threads), crops, batch=256)[0]
    if cache:
        np.savez(path, embeddings=emb, degradation=desc)
    return emb


def _norms(faces: FaceSet, crops: np.ndarray, part: str, recognizer: str, threads: int, cache: bool) -> np.ndarray:
    """Raw (pre-normalisation) embedding norms of ``crops``, cached per part of the training set."""
    path = dataset_cache_dir() / f"norms-{cache_key(CACHE_VERSION, [str(p) for p in faces.paths], recognizer, part)}.npz"
    if cache and path.exists():
        with np.load(path, allow_pickle=False) as z:
            return z["norms"]
    rec = _recognizer(recognizer, threads)
    norms = embed_crops(rec, crops, batch=256)[1]
    if cache:
        np.savez(path, norms=norms)
    return norms


def norm_factor(norms: np.ndarray, clean: np.ndarray, percentile: float = 95.0) -> np.ndarray:
    """Embedding norm relative to the ``percentile`` of the clean faces' norms, clipped to [0, 1]."""
    ref = float(np.percentile(norms[clean], percentile))
    return np.clip(norms / ref, 0.0, 1.0)


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
    profile: str = "v1",
    labels: str = "center",
) -> TrainingSet:
    """Clean + degraded, recognizer-labelled crops at ``size``; cached as an ``.npz``.

    ``profile``: degradation profile (:data:`PROFILES`); ``labels``: one of :func:`label_choices`
    (e.g. ``center``, Eq. 1, or ``center-loo``, leave-one-out centres) or ``teacher:METHOD``.
    """
    if profile not in PROFILES:
        raise UsageError(f"unknown degradation profile {profile!r}; choose from {sorted(PROFILES)}")
    check_labels(labels)
    teacher = crop_teacher(labels.split(":", 1)[1]) if labels.startswith("teacher:") else None
    base, loo, with_norm = parse_labels(labels)
    faces = embed_folder(root, pack, recognizer, threads, limit_per_identity, identities, cache, progress)
    parts = [CACHE_VERSION, [str(p) for p in faces.paths], pack, recognizer, size, degrade_copies, seed]
    if (profile, labels) != ("v1", "center"):  # keeps the keys of earlier caches valid
        parts += [profile, labels]
    path = dataset_cache_dir() / f"trainset-{cache_key(*parts)}.npz"
    if cache and path.exists():
        log.info("loading cached training set from %s", path)
        return TrainingSet.load(path)
    n = len(faces.crops)
    crops = [resize_crops(faces.crops, size)]
    emb = [faces.embeddings]
    src = [np.arange(n)]
    desc = [np.full(n, "", dtype=object)]
    norms = [_norms(faces, faces.crops, "clean", recognizer, threads, cache)] if with_norm else []
    if norms and profile != "v2":
        raise UsageError(f"labels={labels!r} needs profile='v2' (its copies are regenerated from the seed)")
    rng = np.random.default_rng(seed)
    # a teacher scores the full-size crops as they are made, so they need not be kept
    teacher_scores = [score_in_batches(teacher, faces.crops)] if teacher else []
    rec = _recognizer(recognizer, threads) if degrade_copies > 0 and profile == "v1" else None
    for c in range(degrade_copies):
        if profile == "v1":
            out = [degrade(x, rng) for x in faces.crops]
            dc, dd = np.stack([o[0] for o in out]), np.array([o[1] for o in out])
            emb.append(embed_crops(rec, dc, batch=256)[0])
        else:
            dc, dd = v2_copy(faces, seed, c)
            emb.append(_v2_copy_embeddings(faces, dc, dd, recognizer, threads, seed, c, cache))
            if norms:
                norms.append(_norms(faces, dc, f"v2-{seed}-{c}", recognizer, threads, cache))
        crops.append(resize_crops(dc, size))
        if teacher:
            teacher_scores.append(score_in_batches(teacher, dc))
        src.append(np.arange(n))
        desc.append(dd.astype(object))
        log.info("degraded copy %d/%d embedded", c + 1, degrade_copies)
    all_emb = np.concatenate(emb)
    all_src = np.concatenate(src)
    ids = faces.identities[all_src]
    clean = np.concatenate([np.ones(n, bool)] + [np.zeros(n, bool)] * degrade_copies)
    exclude = all_src if loo else None  # clean face i sits at row i
    if teacher:
        q = rank_labels(np.concatenate(teacher_scores))
        log.info("teacher %s labelled %d crops", teacher.name, len(q))
    else:
        q = registry_labels(base, all_emb, ids, clean, exclude, seed).astype(np.float32)
    if norms:
        q = np.clip(q, 0.0, 1.0) * norm_factor(np.concatenate(norms), clean)
    ts = TrainingSet(np.concatenate(crops), q.astype(np.float32), ids.astype(np.int32),
                     all_src.astype(np.int32), np.concatenate(desc).astype(str), faces.names,
                     all_emb.astype(np.float32))
    if cache:
        ts.save(path)
        log.info("cached training set (%d samples) in %s", len(ts.labels), path)
    return ts


def parse_labels(labels: str) -> Tuple[str, bool, bool]:
    """``"<labeler>[-loo][-norm]"`` → (registered labeler name, leave-one-out, norm factor).

    ``-loo`` leaves each face (for a degraded copy: its clean original) out of its own centre, for
    labelers tagged ``centres``; ``-norm`` multiplies the labels by :func:`norm_factor`.
    """
    base, norm = (labels[: -len("-norm")], True) if labels.endswith("-norm") else (labels, False)
    base, loo = (base[: -len("-loo")], True) if base.endswith("-loo") else (base, False)
    return base, loo, norm


def label_choices() -> List[str]:
    """Every ``--labels`` value from the labeler registry (pseudo-labelers on embeddings alone)."""
    from ..plugins import LABELERS

    out = []
    for e in LABELERS.entries():
        if e.tags.get("needs_initial_scores"):
            continue
        out.append(e.name)
        if e.tags.get("centres"):
            out += [f"{e.name}-loo", f"{e.name}-loo-norm"]
    return out


def check_labels(labels: str) -> str:
    """``labels`` if it is one of :func:`label_choices` or ``teacher:METHOD``; else a UsageError naming them."""
    if labels in label_choices() or (labels.startswith("teacher:") and len(labels) > len("teacher:")):
        return labels
    import difflib

    close = difflib.get_close_matches(labels, label_choices(), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UsageError(f"unknown labels {labels!r}; {hint}choose from {', '.join(label_choices())} or teacher:METHOD")


def registry_labels(name: str, embeddings: np.ndarray, identities: np.ndarray, clean: np.ndarray,
                    exclude: Optional[np.ndarray], seed: int) -> np.ndarray:
    """Labels of every sample by the registered labeler ``name``: centres of the ``clean`` samples
    (less ``exclude[i]``) when it is tagged ``centres``, its ``training_options``, divided by its ``label_scale``."""
    import inspect

    from ..plugins import LABELERS

    entry = LABELERS.entry(name)
    opts = dict(entry.tags.get("training_options", {}))
    if "seed" in inspect.signature(entry.factory).parameters:
        opts["seed"] = seed
    kw = {}
    if entry.tags.get("centres"):
        kw = dict(center_mask=clean, exclude=np.full(len(clean), -1) if exclude is None else exclude)
    q = LABELERS.create(name, **opts).label(embeddings, identities, **kw)
    return np.asarray(q, np.float64) / float(entry.tags.get("label_scale", 1.0))


def crop_teacher(method: str):
    """The registered quality method ``method``, which must score aligned crops alone (degraded copies have no image)."""
    from ..plugins import QUALITY_METHODS
    from ..quality.base import CropQualityMethod

    teacher = QUALITY_METHODS.create(method)
    if not isinstance(teacher, CropQualityMethod):
        raise UsageError(f"teacher {method!r} needs more than the aligned crop (it requires {sorted(teacher.requires)}); "
                         "degraded copies have only crops: pick a crop-only method, e.g. sdd-regressor or lightqnet")
    return teacher


def rank_labels(scores: np.ndarray) -> np.ndarray:
    """Percentile ranks of ``scores`` in ``(0, 1)``, ties broken by position: a flat label histogram."""
    from scipy.stats import rankdata

    return (rankdata(scores.astype(np.float64), method="ordinal") - 0.5) / len(scores)


def split_by_identity(identities: np.ndarray, val_fraction: float = 0.1, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Boolean train / validation masks with whole identities held out."""
    ids = np.unique(identities)
    rng = np.random.default_rng(seed)
    val_ids = rng.choice(ids, size=max(1, round(len(ids) * val_fraction)), replace=False)
    val = np.isin(identities, val_ids)
    return ~val, val

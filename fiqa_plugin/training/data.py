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
``labels="teacher:METHOD"``: distillation: any registered quality method scores every clean and
degraded 112×112 crop, and its scores' percentile ranks on ``(0, 1)`` are the labels (a rank target
is what the EDC judges, and it is flat, so a big teacher's scale never matters).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence, Tuple

import cv2
import numpy as np
from ..errors import UsageError
from ..faces.dataset import (  # noqa: F401  (re-exported: the one face dataset lives in core)
    FaceSet, cache_key, dataset_cache_dir, embed_folder, load_recognizer as _recognizer, score_in_batches,
)

log = logging.getLogger(__name__)

DEGRADATIONS = ("blur", "downscale", "noise", "jpeg", "brightness", "occlusion")
#: Degradation profiles: the ops drawn from and how many are combined per copy.
PROFILES = {"v1": DEGRADATIONS, "v2": DEGRADATIONS + ("motion", "contrast", "geometric", "edge")}
LABELS = ("center", "center-loo", "center-loo-norm", "sdd")
CACHE_VERSION = 1  # of the training-set cache; bump when its content changes


def center_labels(embeddings: np.ndarray, identities: np.ndarray, center_mask: Optional[np.ndarray] = None,
                  exclude: Optional[np.ndarray] = None) -> np.ndarray:
    """Eq. 1: cosine of each (unit) embedding with its identity's normalised mean embedding.

    ``center_mask`` picks the samples the centres are computed from (default: all).
    ``exclude[i]`` (index of a centre member, ``-1`` for none) is left out of sample ``i``'s
    centre (leave-one-out); a sample whose centre would be empty gets NaN.
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
        total = emb[src].sum(0)
        rows = np.flatnonzero(sel)
        u = np.broadcast_to(total, (len(rows), emb.shape[1])).copy()
        if exclude is not None:
            ex = np.asarray(exclude)[rows]
            drop = ex >= 0
            u[drop] -= emb[ex[drop]]
            if src.sum() == 1:
                u[drop] = np.nan  # its only centre member was left out
        norm = np.linalg.norm(u, axis=1)
        q[rows] = (np.einsum("ij,ij->i", emb[rows], u) / np.maximum(norm, 1e-12)).astype(np.float32)
    return q


def _motion_kernel(length: int, angle: float) -> np.ndarray:
    k = np.zeros((length, length), np.float32)
    k[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1.0)
    k = cv2.warpAffine(k, rot, (length, length))
    return k / max(float(k.sum()), 1e-6)


def degrade(crop: np.ndarray, rng: np.random.Generator, ops: Optional[Sequence[str]] = None,
            profile: str = "v1") -> Tuple[np.ndarray, str]:
    """One randomly degraded copy of an aligned BGR crop and a description of what was done.

    ``v1``: one or two degradations (from ``ops``, default all of the profile) with strengths
    wide enough to reach faces the recognizer can no longer match. ``v2``: one to three, with
    harsher downscaling, brightness and occlusion (eye bars and lower-face covers, like
    sunglasses, hands and masks), plus motion blur, contrast loss, geometric misalignment and
    black beyond a straight edge (a face cut by the photo border).
    """
    if profile not in PROFILES:
        raise UsageError(f"unknown degradation profile {profile!r}; choose from {sorted(PROFILES)}")
    v2 = profile == "v2"
    ops = list(ops or PROFILES[profile])
    n_ops = 1 + int(rng.random() < 0.5) + int(rng.random() < 0.15) if v2 else 1 + int(rng.random() < 0.4)
    chosen = rng.choice(ops, size=min(len(ops), n_ops), replace=False)
    x = crop.copy()
    h, w = x.shape[:2]
    desc = []
    for op in chosen:
        if op == "blur":
            s = float(rng.uniform(0.8, 5.0))
            x = cv2.GaussianBlur(x, (0, 0), s)
            desc.append(f"blur{s:.1f}")
        elif op == "downscale":
            f = float(np.exp(rng.uniform(np.log(2.0), np.log(16.0)))) if v2 else float(rng.uniform(2.0, 10.0))
            small = cv2.resize(x, (max(4, round(w / f)), max(4, round(h / f))), interpolation=cv2.INTER_AREA)
            x = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
            desc.append(f"down{f:.1f}")
        elif op == "motion":
            length, angle = int(rng.integers(5, 26)), float(rng.uniform(0, 180))
            x = cv2.filter2D(x, -1, _motion_kernel(length, angle))
            desc.append(f"motion{length}@{angle:.0f}")
        elif op == "contrast":
            c = float(rng.uniform(0.15, 0.5))
            m = x.reshape(-1, 3).mean(0)
            x = np.clip((x.astype(np.float32) - m) * c + m, 0, 255).astype(np.uint8)
            desc.append(f"contrast{c:.2f}")
        elif op == "geometric":
            # a misaligned crop: what a bad landmark fit or an off-centre head gives the recognizer
            ang, sc = float(rng.uniform(-40, 40)), float(rng.uniform(0.7, 1.3))
            tx, ty = rng.uniform(-0.15, 0.15, 2) * (w, h)
            m = cv2.getRotationMatrix2D((w / 2, h / 2), ang, sc)
            m[:, 2] += (tx, ty)
            x = cv2.warpAffine(x, m, (w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
            desc.append(f"geo{ang:.0f}/{sc:.2f}/{tx:.0f},{ty:.0f}")
        elif op == "edge":
            # black beyond a straight edge: a face cut by the photo border, or the black wedges that
            # rotated (e.g. deep-funneled LFW) photos bring into the aligned crop
            ang = float(rng.uniform(0, 2 * np.pi))
            frac = float(rng.uniform(0.1, 0.45))
            yy, xx = np.mgrid[0:h, 0:w]
            proj = (xx - w / 2) * np.cos(ang) + (yy - h / 2) * np.sin(ang)
            x[proj > np.quantile(proj, 1 - frac)] = 0
            desc.append(f"edge{frac:.2f}@{np.degrees(ang):.0f}")
        elif op == "occlusion" and v2 and rng.random() < 0.6:
            kind = "eyes" if rng.random() < 0.5 else "lower"
            if kind == "eyes":  # a bar over the eyes (ArcFace template: eyes at y ≈ 0.46 h)
                y0, oh = int(h * rng.uniform(0.3, 0.42)), int(h * rng.uniform(0.14, 0.26))
            else:  # mouth/chin covered, like a hand or a mask
                y0 = int(h * rng.uniform(0.55, 0.7))
                oh = h - y0
            shade = rng.integers(0, 256, 3) if rng.random() < 0.5 else np.zeros(3)
            x[y0 : y0 + oh] = shade.astype(np.uint8)
            desc.append(f"occl-{kind}")
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
            g = float(rng.choice([rng.uniform(0.06, 0.5), rng.uniform(1.6, 4.0)] if v2 else
                                 [rng.uniform(0.1, 0.5), rng.uniform(1.6, 3.0)]))
            x = np.clip(x.astype(np.float32) * g, 0, 255).astype(np.uint8)
            desc.append(f"gain{g:.2f}")
        elif op == "occlusion":
            oh, ow = int(h * rng.uniform(0.25, 0.6)), int(w * rng.uniform(0.25, 0.8))
            y0, x0 = int(rng.integers(0, h - oh + 1)), int(rng.integers(0, w - ow + 1))
            x[y0 : y0 + oh, x0 : x0 + ow] = rng.integers(0, 256, 3).astype(np.uint8)
            desc.append(f"occl{oh}x{ow}")
        else:
            raise UsageError(f"unknown degradation {op!r}; choose from {PROFILES['v2']}")
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


def _embed_batches(rec, crops: np.ndarray) -> np.ndarray:
    return np.concatenate([rec.embed(crops[i : i + 256]).normed for i in range(0, len(crops), 256)])


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
    emb = _embed_batches(_recognizer(recognizer, threads), crops).astype(np.float32)
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
    norms = np.concatenate([rec.embed(crops[i : i + 256]).norms for i in range(0, len(crops), 256)]).astype(np.float32)
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

    ``profile``: degradation profile (:data:`PROFILES`); ``labels``: ``center`` (Eq. 1) or
    ``center-loo`` (leave-one-out centres).
    """
    if profile not in PROFILES:
        raise UsageError(f"unknown degradation profile {profile!r}; choose from {sorted(PROFILES)}")
    check_labels(labels)
    teacher = crop_teacher(labels.split(":", 1)[1]) if labels.startswith("teacher:") else None
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
    norms = [_norms(faces, faces.crops, "clean", recognizer, threads, cache)] if labels == "center-loo-norm" else []
    if norms and profile != "v2":
        raise UsageError("labels='center-loo-norm' needs profile='v2' (its copies are regenerated from the seed)")
    rng = np.random.default_rng(seed)
    # a teacher scores the full-size crops as they are made, so they need not be kept
    teacher_scores = [score_in_batches(teacher, faces.crops)] if teacher else []
    rec = _recognizer(recognizer, threads) if degrade_copies > 0 and profile == "v1" else None
    for c in range(degrade_copies):
        if profile == "v1":
            out = [degrade(x, rng) for x in faces.crops]
            dc, dd = np.stack([o[0] for o in out]), np.array([o[1] for o in out])
            emb.append(_embed_batches(rec, dc))
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
    exclude = all_src if labels.startswith("center-loo") else None  # clean face i sits at row i
    if teacher:
        q = rank_labels(np.concatenate(teacher_scores))
        log.info("teacher %s labelled %d crops", teacher.name, len(q))
    elif labels == "sdd":
        from ..labelers.sdd import sdd_labels

        q = sdd_labels(all_emb, ids, mode="sampled", seed=seed) / 100.0
    else:
        q = center_labels(all_emb, ids, center_mask=clean, exclude=exclude)
    if norms:
        q = np.clip(q, 0.0, 1.0) * norm_factor(np.concatenate(norms), clean)
    ts = TrainingSet(np.concatenate(crops), q.astype(np.float32), ids.astype(np.int32),
                     all_src.astype(np.int32), np.concatenate(desc).astype(str), faces.names,
                     all_emb.astype(np.float32))
    if cache:
        ts.save(path)
        log.info("cached training set (%d samples) in %s", len(ts.labels), path)
    return ts


def check_labels(labels: str) -> str:
    """``labels`` if it names a label kind (:data:`LABELS` or ``teacher:METHOD``); else a ValueError naming them."""
    if labels in LABELS or (labels.startswith("teacher:") and len(labels) > len("teacher:")):
        return labels
    raise UsageError(f"unknown labels {labels!r}; choose from {', '.join(LABELS)} or teacher:METHOD")


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

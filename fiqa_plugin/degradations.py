"""Synthetic degradations of aligned face crops (OpenCV on BGR uint8), seeded by the caller's generator.

Two strength tables with two jobs, in one place:

* :func:`degrade` (profiles ``v1`` and ``v2``): training augmentation, one to three combined
  operations strong enough to reach faces the recognizer can no longer match;
* :func:`degrade_once` / :func:`random_degradation`: the template benchmark's single, named
  degradation per face (``fiqa templates``), kept at its own strengths so its published numbers
  stay comparable.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from .errors import UsageError

DEGRADATIONS = ("blur", "downscale", "noise", "jpeg", "brightness", "occlusion")
#: Training degradation profiles: the operations drawn from.
PROFILES = {"v1": DEGRADATIONS, "v2": DEGRADATIONS + ("motion", "contrast", "geometric", "edge")}
#: The template benchmark's degradations (one per degraded face).
TEMPLATE_DEGRADATIONS = ("blur", "downscale", "noise", "jpeg", "occlusion")


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


def degrade_once(crop: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """One degradation ``kind`` of :data:`TEMPLATE_DEGRADATIONS` at a random strength (a new array)."""
    h, w = crop.shape[:2]
    if kind == "none":
        return crop.copy()
    if kind == "blur":
        return cv2.GaussianBlur(crop, (0, 0), sigmaX=float(rng.uniform(1.5, 4.0)))
    if kind == "downscale":
        s = int(rng.integers(10, 28))
        small = cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if kind == "noise":
        noisy = crop.astype(np.float32) + rng.normal(0.0, rng.uniform(12.0, 35.0), crop.shape)
        return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
    if kind == "jpeg":
        ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(4, 15))])
        assert ok
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if kind == "occlusion":
        # A block over part of the inner face, where identity cues are.
        out = crop.copy()
        bh, bw = int(h * rng.uniform(0.3, 0.5)), int(w * rng.uniform(0.4, 0.7))
        y, x = int(rng.integers(h // 5, h - bh)), int(rng.integers(0, w - bw + 1))
        out[y : y + bh, x : x + bw] = rng.integers(0, 256, 3, dtype=np.uint8) if rng.random() < 0.5 else 0
        return out
    raise UsageError(f"unknown degradation {kind!r}; choose from {TEMPLATE_DEGRADATIONS}")


def random_degradation(crop: np.ndarray, rng: np.random.Generator, p: float = 0.5,
                       kinds: Sequence[str] = TEMPLATE_DEGRADATIONS) -> Tuple[np.ndarray, str]:
    """With probability ``p`` a random degradation of ``crop``, else a copy; returns (crop, kind)."""
    kind = str(rng.choice(list(kinds))) if rng.random() < p else "none"
    return degrade_once(crop, kind, rng), kind

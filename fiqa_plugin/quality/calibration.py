"""Calibrated quality: a method's raw score → 0–100, its percentile among a reference population.

Raw scores mean different things per method (a Laplacian variance, a regressed label, a norm), so each
method ships a small table of quantiles of its raw score over one documented population of real,
clean faces (:data:`REFERENCE`, built by ``benchmarks/calibrate.py``). ``quality_score`` = 50 means
"a typical reference face", 10 "worse than 90% of them", for every method alike.

The table holds the raw scores at ``K`` evenly spaced percentiles (0, 100/(K−1), …, 100). The mapping
interpolates linearly between them (monotone non-decreasing; 0 below the minimum, 100 above the
maximum); a raw value on a run of equal quantiles (a discrete measure) maps to the middle of that
run (the mid-rank percentile). Tables are of the method's *output*, which is always higher = better
(:class:`~fiqa_plugin.quality.onnx_model.OnnxQualityModel` negates ``higher_is_better: false``
models), so no direction flag is needed.

Where a table lives, first match wins:

1. ``"calibration"`` in an ONNX model's JSON config (how an exported or third-party model carries it);
2. ``calibration/<method name>.json`` beside the model's config (shipped models and built-in
   measures: ``fiqa_plugin/weights/calibration/``; user models: ``<user models dir>/calibration/``).

API (the FiftyOne panel and the CLI use these): :func:`calibration_for` (a method or name → a
:class:`Calibration` or ``None``), :meth:`Calibration.to_score` (raw → 0–100),
:meth:`Calibration.to_raw` (0–100 → raw threshold), :func:`score_field` (the calibrated field's name),
:func:`build_calibration`, :func:`save_calibration`.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np

from ..errors import ModelError

log = logging.getLogger(__name__)

#: The reference population every shipped table is built on (see benchmarks/calibrate.py).
REFERENCE = (
    "CelebA in-the-wild faces from ../shared, every 8th file (sorted paths) of data/celeba_aligned "
    "(ArcFace-aligned 112x112 crops, 940 identities) and of data/celeba (loose crops of 299 other identities, "
    "largest face detected and aligned with buffalo_sc det_500m); methods needing detector landmarks use "
    "the data/celeba part only"
)
DEFAULT_QUANTILES = 1001
CALIBRATION_DIR = "calibration"
#: The calibrated value sits beside the raw one under the raw one's name + this suffix: CSV column
#: ``quality_score``, FiftyOne field ``<quality field>_score`` (``quality_score``, ``fiqa_quality_score``),
#: Detection/Keypoint attribute ``quality_score``, InsightFace ``face.quality_score``.
SCORE_SUFFIX = "_score"


def score_field(quality_field: str) -> str:
    """Name of the 0–100 calibrated field beside the raw ``quality_field`` (``quality`` → ``quality_score``)."""
    return quality_field + SCORE_SUFFIX


@dataclass(frozen=True)
class Calibration:
    """Quantiles ``quantiles[i]`` of the raw score at percentile ``100·i/(K−1)`` of a reference population."""

    method: str
    quantiles: np.ndarray
    reference: str = REFERENCE
    n: int = 0
    #: multiply-accumulates per face (:mod:`fiqa_plugin.quality.cost`), kept here for `fiqa methods`
    macs_per_face: Optional[int] = None

    @property
    def percentiles(self) -> np.ndarray:
        return np.linspace(0.0, 100.0, len(self.quantiles))

    def to_score(self, raw: Any) -> np.ndarray:
        """0–100 percentile of each raw score (NaN stays NaN); monotone non-decreasing in ``raw``."""
        x = np.asarray(raw, np.float64)
        q, p = self.quantiles, self.percentiles
        # Runs of equal quantiles (discrete measures): one knot per distinct value, holding the run's
        # lowest and highest percentile; the value itself maps to the run's middle.
        u, first = np.unique(q, return_index=True)
        last = np.r_[first[1:], len(q)] - 1
        lo, hi = p[first], p[last]
        k = np.searchsorted(u, x, side="left")  # u[k-1] < x <= u[k]
        kc = np.clip(k, 0, len(u) - 1)
        exact = (k < len(u)) & (u[kc] == x)
        left = np.clip(k - 1, 0, len(u) - 1)
        span = u[kc] - u[left]
        t = np.where(span > 0, (x - u[left]) / np.where(span > 0, span, 1.0), 0.0)
        between = hi[left] + t * (lo[kc] - hi[left])
        out = np.where(exact, (lo[kc] + hi[kc]) / 2, between)
        out = np.where(x < u[0], 0.0, np.where(x > u[-1], 100.0, out))
        return np.where(np.isnan(x), np.nan, out)

    def to_raw(self, score: Any) -> np.ndarray:
        """The raw score at percentile ``score`` (0–100): the threshold keeping faces with ``to_score >= score``
        up to interpolation; the inverse of :meth:`to_score` where the table is strictly increasing."""
        s = np.clip(np.asarray(score, np.float64), 0.0, 100.0)
        return np.interp(s, self.percentiles, self.quantiles)

    def to_json(self) -> Dict[str, Any]:
        return {"method": self.method, "reference": self.reference, "n": int(self.n), "macs_per_face": self.macs_per_face,
                "percentiles": len(self.quantiles), "quantiles": [float(f"{v:.7g}") for v in self.quantiles]}

    @classmethod
    def from_json(cls, d: Dict[str, Any], method: str = "") -> "Calibration":
        q = np.asarray(d.get("quantiles", []), np.float64)
        if q.ndim != 1 or len(q) < 2 or not np.all(np.isfinite(q)) or np.any(np.diff(q) < 0):
            raise ModelError(f"calibration of {method or d.get('method')!r}: 'quantiles' must be a non-decreasing "
                             f"list of at least 2 finite numbers")
        return cls(d.get("method") or method, q, d.get("reference", ""), int(d.get("n", 0)), d.get("macs_per_face"))


def build_calibration(method: str, raw: Any, n_quantiles: int = DEFAULT_QUANTILES,
                      reference: str = REFERENCE) -> Calibration:
    """The table of ``raw`` (finite values only) at ``n_quantiles`` evenly spaced percentiles (numpy's linear rule)."""
    x = np.asarray(raw, np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2:
        raise ModelError(f"calibration of {method!r}: fewer than 2 finite scores")
    q = np.percentile(x, np.linspace(0.0, 100.0, n_quantiles))
    return Calibration(method, np.maximum.accumulate(q), reference, int(x.size))


def _method_name(method: Any) -> str:
    return method if isinstance(method, str) else getattr(method, "name", "")


def _registered(name: str):
    """``(config or None, model name)`` of a registered name without building it: an alias such as
    ``tinyfqnet`` resolves to its default model (``tinyfqnet.celeba2-r1``), ``lightqnet`` to its ``model_name`` tag."""
    from ..plugins import QUALITY_METHODS

    if name not in QUALITY_METHODS:
        return None, name
    tags = QUALITY_METHODS.entry(name).tags
    cfg = tags.get("config")
    return cfg, (cfg.name if cfg is not None else tags.get("model_name", name))


def calibration_file(method: Any) -> Path:
    """Where the sidecar table of ``method`` (an instance or a registered name) is read and written."""
    from ..paths import WEIGHTS_DIR

    if isinstance(method, str):
        cfg, name = _registered(method)
    else:
        cfg, name = getattr(method, "config", None), method.name
    # User models keep their tables in their own folder; everything else (shipped models, measures,
    # baselines whose weights live elsewhere) in the package's weights folder.
    base = WEIGHTS_DIR
    if cfg is not None and getattr(cfg, "path", None) is not None:
        from ..paths import user_models_dir

        if Path(cfg.path).resolve().parent == user_models_dir().resolve():
            base = user_models_dir()
    return Path(base) / CALIBRATION_DIR / f"{name}.json"


def calibration_for(method: Any) -> Optional[Calibration]:
    """The table of ``method`` (a :class:`~fiqa_plugin.quality.base.QualityMethod` or a registered name),
    or ``None`` when it has none (then calibrated scores are NaN; run ``benchmarks/calibrate.py``)."""
    name = _method_name(method)
    cfg = getattr(method, "config", None)
    if isinstance(method, str):
        cfg, name = _registered(method)
    if cfg is not None and isinstance(cfg.extra.get("calibration"), dict):
        return Calibration.from_json(cfg.extra["calibration"], name)
    path = calibration_file(method)
    if not path.is_file():
        log.info("no calibration table for %s at %s", name, path)
        return None
    return Calibration.from_json(json.loads(path.read_text()), name)


def save_calibration(cal: Calibration, path: Union[str, os.PathLike]) -> Path:
    """Write ``cal`` as JSON to ``path`` (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cal.to_json()) + "\n")
    return path

"""Quality models shipped or supplied as ONNX plus a small JSON config.

Config keys (``<arch>.<tag>.json`` beside ``<arch>.<tag>.onnx``)::

    {
      "arch": "tinyfqnet", "tag": "celeba-r1",       # the model is named "<arch>.<tag>"
      "file": "tinyfqnet.celeba-r1.onnx",            # relative to the config
      "input_size": 64,                              # the aligned 112 crop is resized to this
      "layout": "NCHW" | "NHWC", "channels": "RGB" | "BGR",
      "mean": 127.5, "std": 127.5,                   # scalars or per-channel lists, pixel units
      "score_range": [0, 1], "higher_is_better": true,
      "default": true,                               # also registered as plain "<arch>"
      "summary": "one line shown by `fiqa methods`",
      "batch_size": 256
    }
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import cv2
import numpy as np

from ..onnx_session import make_session
from .base import CropQualityMethod

log = logging.getLogger(__name__)


@dataclass
class QualityModelConfig:
    """How to feed an ONNX quality model and read its output."""

    arch: str
    tag: str
    file: str
    input_size: int = 112
    layout: str = "NCHW"
    channels: str = "RGB"
    mean: Any = 127.5
    std: Any = 127.5
    score_range: Optional[Sequence[float]] = None
    higher_is_better: bool = True
    default: bool = False
    summary: str = ""
    batch_size: int = 256
    extra: Dict[str, Any] = field(default_factory=dict)
    path: Optional[Path] = None  # where the config was read from

    @property
    def name(self) -> str:
        return f"{self.arch}.{self.tag}"

    @property
    def model_path(self) -> Path:
        base = self.path.parent if self.path else Path.cwd()
        return (base / self.file).resolve()

    @classmethod
    def load(cls, path: os.PathLike | str) -> "QualityModelConfig":
        path = Path(path)
        data = json.loads(path.read_text())
        known = {k: data.pop(k) for k in list(data) if k in cls.__dataclass_fields__ and k not in ("extra", "path")}
        missing = {"arch", "tag", "file"} - set(known)
        if missing:
            raise ValueError(f"{path}: quality-model config lacks {sorted(missing)}")
        layout, channels = known.get("layout", "NCHW").upper(), known.get("channels", "RGB").upper()
        if layout not in ("NCHW", "NHWC") or channels not in ("RGB", "BGR"):
            raise ValueError(f"{path}: layout must be NCHW/NHWC and channels RGB/BGR, got {layout}/{channels}")
        known.update(layout=layout, channels=channels)
        return cls(**known, extra=data, path=path)

    def save(self, path: os.PathLike | str) -> None:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("extra", "path")}
        d.update(self.extra)
        Path(path).write_text(json.dumps(d, indent=2) + "\n")


class OnnxQualityModel(CropQualityMethod):
    """A crop-based quality model run with onnxruntime (never torch)."""

    def __init__(self, config: QualityModelConfig, threads: Optional[int] = None, batch_size: Optional[int] = None):
        self.config = config
        self.name = config.name
        self.score_range = tuple(config.score_range) if config.score_range else None
        self.session = make_session(str(config.model_path), threads=threads)
        self.input_name = self.session.get_inputs()[0].name
        self.batch_size = batch_size or config.batch_size
        shape = self.session.get_inputs()[0].shape
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        self._mean = np.asarray(config.mean, np.float32).reshape(-1)
        self._scale = 1.0 / np.asarray(config.std, np.float32).reshape(-1)

    @classmethod
    def from_config(cls, path: os.PathLike | str, **kw) -> "OnnxQualityModel":
        return cls(QualityModelConfig.load(path), **kw)

    def preprocess(self, crops_bgr: np.ndarray) -> np.ndarray:
        s = self.config.input_size
        if crops_bgr.shape[1] != s:
            interp = cv2.INTER_AREA if crops_bgr.shape[1] > s else cv2.INTER_LINEAR
            crops_bgr = np.stack([cv2.resize(c, (s, s), interpolation=interp) for c in crops_bgr])
        x = crops_bgr[..., ::-1] if self.config.channels == "RGB" else crops_bgr
        x = (x.astype(np.float32) - self._mean) * self._scale
        if self.config.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x)

    def score_crops(self, crops_bgr: np.ndarray) -> np.ndarray:
        step = self.fixed_batch or self.batch_size
        out = []
        for i in range(0, len(crops_bgr), step):
            x = self.preprocess(crops_bgr[i : i + step])
            n = len(x)
            if self.fixed_batch and n < self.fixed_batch:
                x = np.concatenate([x, np.zeros((self.fixed_batch - n,) + x.shape[1:], x.dtype)])
            out.append(self.session.run(None, {self.input_name: x})[0].reshape(len(x), -1)[:n, 0])
        q = np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)
        return q if self.config.higher_is_better else -q


def shipped_configs(weights_dir: Optional[Path] = None) -> list[QualityModelConfig]:
    """Configs of the models shipped in ``fiqa_plugin/weights``."""
    from ..paths import WEIGHTS_DIR

    d = weights_dir or WEIGHTS_DIR
    out = []
    for p in sorted(d.glob("*.json")):
        try:
            out.append(QualityModelConfig.load(p))
        except (ValueError, json.JSONDecodeError) as exc:
            log.warning("skipping unreadable model config %s: %s", p, exc)
    return out

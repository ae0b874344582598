"""Quality models shipped or supplied as ONNX plus a small JSON config.

Config keys (``<arch>.<tag>.json`` beside ``<arch>.<tag>.onnx``)::

    {
      "arch": "tinyfqnet", "tag": "celeba-r2",       # the model is named "<arch>.<tag>"
      "file": "tinyfqnet.celeba-r2.onnx",            # relative to the config
      "input_size": 64,                              # the aligned 112 crop is resized to this
      "layout": "NCHW" | "NHWC", "channels": "RGB" | "BGR",
      "mean": 127.5, "std": 127.5,                   # scalars or per-channel lists, pixel units
      "score_range": [0, 1], "higher_is_better": true,
      "default": true,                               # also registered as plain "<arch>"
      "summary": "one line shown by `fiqa methods`",
      "batch_size": 256,
      "input_format": "float",                       # the file takes float input as above; the crop
                                                     # preprocessing is prepended to the graph at load time
                                                     # ("uint8_crops": the file already takes uint8 [N,112,112,3] BGR)
      "output": "quality",                           # optional: the output holding the score (default: the first)
      "compose": {"recognizer": "buffalo_sc",        # optional: a head run on a recognizer's tensors,
                  "recognizer_file": "w600k_mbf.onnx",  # composed with it at load time
                  "inputs": {"features": "637"}}     # (see fiqa_plugin/quality/compose.py)
    }

A composed model takes the recognizer's input (set ``input_size``/``channels``/``mean``/``std`` to
the recognizer's) and yields quality and embedding in one pass (:meth:`OnnxQualityModel.score_and_embed`).
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

from ..errors import MissingAssetError, ModelError
from ..onnx_session import make_session
from .base import CropQualityMethod
from .preprocess_graph import with_preprocessing

log = logging.getLogger(__name__)

#: ``float``: the ONNX file takes the float tensor the config describes (preprocessing is added at load
#: time); ``uint8_crops``: the file itself takes uint8 ``[N, 112, 112, 3]`` BGR aligned crops.
INPUT_FORMATS = ("float", "uint8_crops")
ALIGNED = 112  # side of the face pipeline's aligned crops
RUN_CHUNK = 64  # crops per onnxruntime run


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
    input_format: str = "float"
    output: Optional[str] = None
    compose: Optional[Dict[str, Any]] = None
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
            raise ModelError(f"{path}: quality-model config lacks {sorted(missing)}")
        layout, channels = known.get("layout", "NCHW").upper(), known.get("channels", "RGB").upper()
        if layout not in ("NCHW", "NHWC") or channels not in ("RGB", "BGR"):
            raise ModelError(f"{path}: layout must be NCHW/NHWC and channels RGB/BGR, got {layout}/{channels}")
        known.update(layout=layout, channels=channels)
        if known.get("input_format", "float") not in INPUT_FORMATS:
            raise ModelError(f"{path}: input_format must be one of {INPUT_FORMATS}, got {known['input_format']!r}")
        comp = known.get("compose")
        if comp is not None and not (isinstance(comp, dict) and "recognizer" in comp and isinstance(comp.get("inputs"), dict)):
            raise ModelError(f"{path}: 'compose' must be {{\"recognizer\": NAME, \"inputs\": {{head input: recognizer tensor}}}}")
        return cls(**known, extra=data, path=path)

    def save(self, path: os.PathLike | str) -> None:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("extra", "path")}
        d = {k: v for k, v in d.items() if v is not None or k not in ("output", "compose")}
        if d.get("input_format") == "float":
            del d["input_format"]  # the default; configs written before it existed stay byte-identical
        d.update(self.extra)
        Path(path).write_text(json.dumps(d, indent=2) + "\n")


class OnnxQualityModel(CropQualityMethod):
    """A crop-based quality model run with onnxruntime (never torch)."""

    def __init__(self, config: QualityModelConfig, threads: Optional[int] = None, batch_size: Optional[int] = None,
                 recognizer_path: Optional[str] = None):
        """``recognizer_path``: for a composed model, the recognizer ONNX file to compose with instead of the
        registered recognizer's (e.g. the one an InsightFace pack loaded)."""
        self.config = config
        self.name = config.name
        self.score_range = tuple(config.score_range) if config.score_range else None
        self._threads = threads
        if config.input_format == "float":
            # Resize, channel order, normalisation and layout run inside the graph (fiqa_plugin/quality/preprocess_graph.py).
            self._float_model = self._load_float_model(config, recognizer_path)
            self._sessions: Dict[int, Any] = {}
            self.session = self._session(ALIGNED)
        else:
            if not config.model_path.exists():
                raise MissingAssetError(f"ONNX model not found: {config.model_path}")
            self.session = make_session(str(config.model_path), threads=threads)
        outputs = [o.name for o in self.session.get_outputs()]
        want = config.output if config.output and not config.compose else None
        if want is not None and want not in outputs:
            raise ModelError(f"{config.name}: output {want!r} not in the model's outputs {outputs}")
        self._out = outputs.index(want) if want else 0  # composed graphs put the quality first
        self.input_name = self.session.get_inputs()[0].name
        self.batch_size = batch_size or config.batch_size
        shape = self.session.get_inputs()[0].shape
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None

    @classmethod
    def from_config(cls, path: os.PathLike | str, **kw) -> "OnnxQualityModel":
        return cls(QualityModelConfig.load(path), **kw)

    @staticmethod
    def _load_float_model(config: QualityModelConfig, rec_file: Optional[str] = None):
        import onnx

        if config.compose:
            from .compose import compose_with_recognizer, recognizer_path

            c = config.compose
            rec = rec_file or recognizer_path(c["recognizer"], c.get("recognizer_file"))
            return compose_with_recognizer(config.model_path, rec, c["inputs"], config.output)
        if not config.model_path.exists():
            raise MissingAssetError(f"ONNX model not found: {config.model_path}")
        return onnx.load(str(config.model_path))

    def _session(self, side: int):
        """The session taking uint8 ``side × side`` crops (built on first use: 112 for the face
        pipeline's crops, other sizes only when a caller passes them)."""
        if side not in self._sessions:
            c = self.config
            model = with_preprocessing(self._float_model, c.input_size, c.layout, c.channels, c.mean, c.std, crop_size=side)
            self._sessions[side] = make_session(model.SerializeToString(), threads=self._threads)
        return self._sessions[side]

    def _run(self, crops_bgr: np.ndarray, embed: bool):
        crops_bgr = np.ascontiguousarray(crops_bgr, dtype=np.uint8)
        h, w = crops_bgr.shape[1:3]
        # The graph shrinks square crops (INTER_AREA); anything else is resized here, as before.
        side = ALIGNED if self.config.input_format == "uint8_crops" else max(self.config.input_size, h if h == w else 0)
        if (h, w) != (side, side):
            interp = cv2.INTER_AREA if min(h, w) > side else cv2.INTER_LINEAR
            crops_bgr = np.stack([cv2.resize(c, (side, side), interpolation=interp) for c in crops_bgr])
        session = self.session if self.config.input_format == "uint8_crops" else self._session(side)
        # At most RUN_CHUNK crops per run: their float copies inside the graph (150 kB a crop) then stay
        # small (peak RSS scoring 100,000 faces streamed: 192 MB), and 64-crop runs were also the fastest
        # measured (docs/performance.md, section 1).
        step = self.fixed_batch or min(self.batch_size, RUN_CHUNK)
        out, emb = [], []
        for i in range(0, len(crops_bgr), step):
            x = crops_bgr[i : i + step]
            n = len(x)
            if self.fixed_batch and n < self.fixed_batch:
                x = np.concatenate([x, np.zeros((self.fixed_batch - n,) + x.shape[1:], x.dtype)])
            res = session.run(None, {self.input_name: x})
            out.append(res[self._out].reshape(len(x), -1)[:n, 0])
            if embed:
                emb.append(res[1][:n])
        q = np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)
        q = q if self.config.higher_is_better else -q
        return q, (np.concatenate(emb) if emb else None)

    def score_crops(self, crops_bgr: np.ndarray) -> np.ndarray:
        return self._run(crops_bgr, False)[0]

    def score_and_embed(self, crops_bgr: np.ndarray) -> tuple:
        """``(quality [N], raw recognizer embedding [N, d])`` from one pass of a composed model."""
        if not self.config.compose:
            raise ModelError(f"{self.name} is not composed with a recognizer: it yields no embedding")
        return self._run(crops_bgr, True)


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

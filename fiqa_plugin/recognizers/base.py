"""Recognizers turn aligned 112×112 crops into L2-normalised embeddings (raw norms kept)."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Optional, Protocol, runtime_checkable

import numpy as np

from ..onnx_session import make_session

log = logging.getLogger(__name__)


@dataclass
class Embeddings:
    """Unit-length embeddings ``[N, d]`` and the norms they had before normalisation ``[N]``."""

    normed: np.ndarray
    norms: np.ndarray


@runtime_checkable
class Recognizer(Protocol):
    name: str
    dim: int

    def embed(self, crops_bgr: np.ndarray) -> Embeddings:
        """Embeddings of aligned crops ``[N, 112, 112, 3]`` BGR uint8."""
        ...


def l2_normalise(x: np.ndarray) -> Embeddings:
    norms = np.linalg.norm(x, axis=1)
    return Embeddings((x / np.maximum(norms, 1e-12)[:, None]).astype(np.float32), norms.astype(np.float32))


class OnnxRecognizer:
    """An ONNX recognizer taking ``[N, 3, S, S]`` input ``(pixel − mean) / std`` in the declared channel order."""

    def __init__(
        self,
        model_path: os.PathLike | str,
        name: str = "",
        mean: float = 127.5,
        std: float = 127.5,
        rgb: bool = True,
        batch_size: int = 64,
        threads: Optional[int] = None,
    ) -> None:
        self.model_path = str(model_path)
        self.name = name or os.path.splitext(os.path.basename(self.model_path))[0]
        self.session = make_session(self.model_path, threads=threads)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_size = int(inp.shape[2]) if isinstance(inp.shape[2], int) else 112
        # Some exported models fix the batch dimension to 1: feed them one crop at a time.
        self.fixed_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
        self.dim = int(self.session.get_outputs()[0].shape[-1])
        self.mean, self.std, self.rgb = float(mean), float(std), bool(rgb)
        self.batch_size = batch_size

    def preprocess(self, crops_bgr: np.ndarray) -> np.ndarray:
        x = crops_bgr[..., ::-1] if self.rgb else crops_bgr
        if x.shape[1] != self.input_size:
            import cv2

            x = np.stack([cv2.resize(c, (self.input_size, self.input_size)) for c in x])
        x = (x.astype(np.float32) - self.mean) / self.std
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def raw(self, crops_bgr: np.ndarray) -> np.ndarray:
        """Un-normalised embeddings."""
        crops_bgr = np.asarray(crops_bgr)
        if crops_bgr.ndim == 3:
            crops_bgr = crops_bgr[None]
        step = self.fixed_batch or self.batch_size
        outs = []
        for i in range(0, len(crops_bgr), step):
            blob = self.preprocess(crops_bgr[i : i + step])
            if self.fixed_batch and len(blob) < self.fixed_batch:
                pad = np.zeros((self.fixed_batch - len(blob),) + blob.shape[1:], blob.dtype)
                outs.append(self.session.run(None, {self.input_name: np.concatenate([blob, pad])})[0][: len(blob)])
            else:
                outs.append(self.session.run(None, {self.input_name: blob})[0])
        if not outs:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate(outs).reshape(len(crops_bgr), -1)

    def embed(self, crops_bgr: np.ndarray) -> Embeddings:
        return l2_normalise(self.raw(crops_bgr))

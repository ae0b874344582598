"""Crop preprocessing as ONNX nodes, prepended to a quality model's graph.

A quality model exported for float input (``layout``/``channels``/``mean``/``std``/``input_size``
in its config) becomes one that takes the aligned crops as the face pipeline holds them:
``uint8 [N, H, W, 3]`` BGR. Resize, channel order, normalisation and layout then run inside
onnxruntime (multi-threaded, no Python loop, no float copy of the 112 px crops).

The resize reproduces the ``cv2.resize(..., INTER_AREA)`` of the Python path it replaces, rounded
to uint8 like OpenCV's output (identical pixels on real crops). Area weights repeat every
``p = in/g`` input pixels (``g = gcd(in, out)``), and the area resize is separable, so it is two
small MatMuls on the uint8 crops' own NHWC layout: rows (a ``[q, p]`` matrix on blocks of ``p``
rows), then columns with the channels interleaved (``kron(aᵀ, I₃)``, ``[3p, 3q]``); only the
resized ``s × s`` image is transposed to channel-first. For 112→64 that is 0.41 M multiply-adds
per crop against 0.60 M for the first version, a 7×7 grouped convolution with a DepthToSpace (same
pixels; the CPU time of both is in docs/performance.md).

:func:`with_preprocessing` is applied when a config with ``"input_format": "float"`` is loaded,
so every exported model (old or new) gets it without new files; :func:`bake` writes a model file
that already takes uint8 crops (``"input_format": "uint8_crops"``) for use outside this package.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: Name of the uint8 crop input of a model with preprocessing.
CROPS_INPUT = "crops"
_P = "fiqa_pre_"  # prefix of the added nodes and tensors


def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``[n_out, n_in]`` weights of OpenCV's INTER_AREA when shrinking: each output averages the
    input pixels its footprint covers, partially covered ones by the covered fraction."""
    r = n_in / n_out
    m = np.zeros((n_out, n_in), np.float64)
    for i in range(n_out):
        a, b = i * r, (i + 1) * r
        for j in range(int(math.floor(a)), min(n_in, int(math.ceil(b)))):
            m[i, j] = (min(b, j + 1) - max(a, j)) / r
    return m


class _Builder:
    def __init__(self) -> None:
        self.nodes: list = []
        self.inits: list = []

    def const(self, value: np.ndarray) -> str:
        name = f"{_P}c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], out: str = "", **attrs) -> str:
        k = len(self.nodes) + 1
        out = out or f"{_P}t{k}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=f"{_P}n{k}", **attrs))
        return out


def with_preprocessing(
    model: onnx.ModelProto,
    input_size: int,
    layout: str = "NCHW",
    channels: str = "RGB",
    mean: Union[float, Sequence[float]] = 127.5,
    std: Union[float, Sequence[float]] = 127.5,
    crop_size: int = 112,
) -> onnx.ModelProto:
    """``model`` (float input as the config describes) with its first input replaced by
    ``crops``: uint8 ``[N, crop_size, crop_size, 3]`` BGR, ``crop_size >= input_size`` (the Python
    side enlarges smaller crops, as OpenCV's INTER_LINEAR did before). Returns a new model;
    ``model`` is not changed."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    inits = {t.name for t in g.initializer}
    inp = next(i for i in g.input if i.name not in inits)
    batch = inp.type.tensor_type.shape.dim[0]
    batch_dim = batch.dim_value if batch.HasField("dim_value") else (batch.dim_param or "batch")
    b = _Builder()
    s = input_size
    if crop_size < s:
        raise ValueError(f"crops of {crop_size} px cannot be enlarged in the graph to {s} px; resize them first")
    if crop_size != s:
        gcd = math.gcd(crop_size, s)
        p, q = crop_size // gcd, s // gcd
        a = area_matrix(crop_size, s)[:q, :p].astype(np.float32)  # one block's weights, repeated gcd times
        x = b.op("Cast", [CROPS_INPUT], to=TensorProto.FLOAT)  # [N, H, W, 3]
        x = b.op("Reshape", [x, b.const(np.array([-1, gcd, p, crop_size * 3], np.int64))])
        x = b.op("MatMul", [b.const(a), x])  # rows: [N, gcd, q, W·3]
        x = b.op("Reshape", [x, b.const(np.array([-1, s, gcd, p * 3], np.int64))])
        x = b.op("MatMul", [x, b.const(np.kron(a.T, np.eye(3, dtype=np.float32)))])  # columns: [N, s, gcd, q·3]
        x = b.op("Reshape", [x, b.const(np.array([-1, s, s, 3], np.int64))])
        # OpenCV's resize returns uint8: rounding here keeps the scores those of the Python path. It rounds
        # halves to even, except when halving (its 2×2 integer average rounds halves up).
        if crop_size == 2 * s:
            x = b.op("Floor", [b.op("Add", [x, b.const(np.array(0.5, np.float32))])])
        else:
            x = b.op("Round", [x])
        x = b.op("Transpose", [x], perm=[0, 3, 1, 2])
    else:
        # Channel-first (moving one axis is onnxruntime's fast transpose), then float.
        x = b.op("Transpose", [CROPS_INPUT], perm=[0, 3, 1, 2])
        x = b.op("Cast", [x], to=TensorProto.FLOAT)
    if channels.upper() == "RGB":
        x = b.op("Gather", [x, b.const(np.array([2, 1, 0], np.int64))], axis=1)
    n = max(np.size(mean), np.size(std))  # per-channel values are in the model's channel order
    shape = (1, n, 1, 1) if n > 1 else (1,)
    mean_a = np.broadcast_to(np.asarray(mean, np.float32).reshape(-1), (n,)).reshape(shape)
    scale = (1.0 / np.broadcast_to(np.asarray(std, np.float32).reshape(-1), (n,))).reshape(shape)
    x = b.op("Sub", [x, b.const(mean_a.astype(np.float32))])
    scale = scale.astype(np.float32)
    if layout.upper() == "NHWC":
        x = b.op("Mul", [x, b.const(scale)])
        b.op("Transpose", [x], inp.name, perm=[0, 2, 3, 1])
    else:
        b.op("Mul", [x, b.const(scale)], inp.name)
    new_in = helper.make_tensor_value_info(CROPS_INPUT, TensorProto.UINT8, [batch_dim, crop_size, crop_size, 3])
    keep = [i for i in g.input if i.name != inp.name]
    del g.input[:]
    g.input.extend([new_in] + keep)
    old_nodes = list(g.node)
    del g.node[:]
    g.node.extend(b.nodes + old_nodes)
    g.initializer.extend(b.inits)
    return model


def bake(config_path: Union[str, Path], out_dir: Union[str, Path]) -> Path:
    """Write ``<stem>.onnx`` + ``.json`` to ``out_dir``: the model of ``config_path`` with its
    preprocessing in the file (``"input_format": "uint8_crops"``); returns the new config's path."""
    from .onnx_model import QualityModelConfig

    cfg = QualityModelConfig.load(config_path)
    if cfg.input_format != "float" or cfg.compose:
        raise ValueError(f"{config_path}: only plain float-input models can be baked")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = with_preprocessing(onnx.load(str(cfg.model_path)), cfg.input_size, cfg.layout, cfg.channels, cfg.mean, cfg.std)
    onnx_path = out_dir / Path(cfg.file).name
    onnx.save(model, str(onnx_path))
    cfg.file, cfg.input_format = onnx_path.name, "uint8_crops"
    json_path = out_dir / Path(config_path).name
    cfg.save(json_path)
    return json_path

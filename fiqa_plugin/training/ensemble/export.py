"""Export the TTA ensemble as ONE ONNX graph: the views are built inside the graph (Flip = Slice with
step −1) and scored as one batched pass through each member, then averaged.

To keep the file small the weights are stored as float16 and cast to float32 at load (compute stays
float32). BatchNorm is folded into the convolutions first and the torch model is rounded the same
way, so the exported graph and the (rounded) torch model agree to float32 precision; the rounding's
own effect on the scores is measured by :func:`rounding_effect`.
"""
from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from ...errors import UsageError

log = logging.getLogger(__name__)


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (eval) with every Conv2d→BatchNorm2d pair inside a Sequential folded into the conv."""
    model = copy.deepcopy(model).eval()
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            if isinstance(seq[i], nn.Conv2d) and isinstance(seq[i + 1], nn.BatchNorm2d):
                seq[i] = fuse_conv_bn_eval(seq[i], seq[i + 1])
                seq[i + 1] = nn.Identity()
    left = [n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    if left:
        raise UsageError(f"BatchNorm layers not preceded by a conv in a Sequential: {left[:3]}")
    return model


def round_fp16(model: nn.Module) -> nn.Module:
    """Round every parameter and buffer to the nearest float16 value (kept as float32), in place."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())
    return model


def shippable(model: nn.Module) -> nn.Module:
    """What is exported: BatchNorm folded, weights rounded to float16."""
    return round_fp16(fuse_batchnorm(model))


def _store_fp16(path: Path) -> None:
    """Rewrite float32 initializers as float16 + a Cast node, halving the file; outputs stay float32."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(path))
    g = m.graph
    casts, keep = [], []
    for init in g.initializer:
        if init.data_type == onnx.TensorProto.FLOAT and np.prod(init.dims) >= 16:
            arr = numpy_helper.to_array(init).astype(np.float16)
            keep.append(numpy_helper.from_array(arr, init.name + "_fp16"))
            casts.append(helper.make_node("Cast", [init.name + "_fp16"], [init.name], to=onnx.TensorProto.FLOAT,
                                          name=init.name + "_cast"))
        else:
            keep.append(init)
    del g.initializer[:]
    g.initializer.extend(keep)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def export_ensemble_onnx(model: nn.Module, path: os.PathLike | str, input_size: int, opset: int = 17,
                         fp16_storage: bool = True) -> Path:
    """Write ``model`` (already :func:`shippable` when fp16 storage is used) with the one exporter
    (input ``input`` ``[N,3,S,S]``, output ``quality`` ``[N,1]``, dynamic batch), then store its weights
    as float16."""
    from ..export import export_onnx

    path = export_onnx(model, path, input_size, opset=opset)
    if fp16_storage:
        _store_fp16(path)
    log.info("exported %s (%d bytes)", path, path.stat().st_size)
    return path


def torch_scores(model: nn.Module, x: torch.Tensor, batch_size: int = 128) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return np.concatenate([model(x[i : i + batch_size]).reshape(-1).numpy() for i in range(0, len(x), batch_size)])


def onnx_scores(onnx_path: os.PathLike | str, x: np.ndarray, batch_size: int = 128) -> np.ndarray:
    from ...onnx_session import make_session

    sess = make_session(str(onnx_path), threads=1)
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i : i + batch_size]})[0].reshape(-1) for i in range(0, len(x), batch_size)])


def parity(model: nn.Module, onnx_path: os.PathLike | str, x: torch.Tensor) -> float:
    """Largest |torch − onnxruntime| over the normalised NCHW batch ``x``."""
    return float(np.abs(torch_scores(model, x) - onnx_scores(onnx_path, x.numpy())).max())


def rounding_effect(model: nn.Module, shipped: nn.Module, x: torch.Tensor) -> Dict[str, float]:
    """How far the float16-rounded, BN-folded model's scores are from the trained float32 model's."""
    a, b = torch_scores(model, x), torch_scores(shipped, x)
    return {"max_abs": float(np.abs(a - b).max()), "mean_abs": float(np.abs(a - b).mean())}


def write_ensemble_config(json_path: os.PathLike | str, tag: str, onnx_name: str, input_size: int, mean: float,
                          std: float, summary: str, default: bool = True, extra: Optional[Dict] = None,
                          score_range: Optional[Tuple[float, float]] = None):
    """The config beside the ONNX (the one :func:`~fiqa_plugin.training.export.write_config`). ``score_range``:
    the training targets' range (the linear output is not clipped, so a face may score slightly outside it)."""
    from ..export import write_config

    return write_config(json_path, "ensemble", tag, onnx_name, input_size, mean, std, summary, default, extra,
                        score_range=[round(v, 4) for v in score_range] if score_range else None, batch_size=64)

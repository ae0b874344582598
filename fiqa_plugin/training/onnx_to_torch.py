"""A small ONNX → torch converter for the plain CNN recognizers we fine-tune (training only).

:class:`OnnxGraphModule` turns an ONNX graph into an ``nn.Module`` that executes the graph's nodes
in their (topological) order with torch ops; initializers become ``nn.Parameter``s (float) or
buffers (integer, e.g. reshape shapes), so the weights can be trained and exported again. A
sub-graph is chosen with ``inputs=`` / ``outputs=`` (tensor names): only the nodes needed to
reach the outputs from the inputs are kept — this is how a recognizer is cut into a frozen
prefix, a trainable suffix and the embedding layer.

Supported ops (what InsightFace's ``w600k_mbf.onnx`` and the cross ``mobilefacenet-128d.onnx``
use, plus a few common neighbours): Conv, BatchNormalization, PRelu, Relu, Clip, Sigmoid, Add,
Sub, Mul, Div, Flatten, Reshape, Gemm, MatMul, GlobalAveragePool, Identity, Dropout, Constant.
Anything else raises with the op name. Written here rather than depending on ``onnx2torch``
(a large dependency for ~15 ops); tested against onnxruntime on real LFW crops.
"""
from __future__ import annotations

import logging
import os
from typing import Dict, Iterable, List, Optional, Sequence, Set, Union

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn
from ..errors import UsageError

log = logging.getLogger(__name__)

SUPPORTED_OPS = frozenset({
    "Conv", "BatchNormalization", "PRelu", "Relu", "Clip", "Sigmoid", "Add", "Sub", "Mul", "Div", "Flatten",
    "Reshape", "Gemm", "MatMul", "GlobalAveragePool", "Identity", "Dropout", "Constant",
})


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pname(name: str) -> str:
    """A parameter name torch accepts (no dots)."""
    return "p_" + "".join(c if c.isalnum() else "_" for c in name)


def needed_nodes(graph: onnx.GraphProto, inputs: Iterable[str], outputs: Iterable[str]) -> List[onnx.NodeProto]:
    """Nodes (in graph order) on a path from ``inputs`` (or initializers/constants) to ``outputs``."""
    producer = {o: n for n in graph.node for o in n.output}
    stop = set(inputs)
    keep: Set[int] = set()
    index = {id(n): i for i, n in enumerate(graph.node)}
    todo = [o for o in outputs]
    seen: Set[str] = set()
    while todo:
        t = todo.pop()
        if t in seen or t in stop or t == "":
            continue
        seen.add(t)
        n = producer.get(t)
        if n is None:
            continue  # a graph input or an initializer
        keep.add(index[id(n)])
        todo.extend(n.input)
    return [graph.node[i] for i in sorted(keep)]


class OnnxGraphModule(nn.Module):
    """Executes (a sub-graph of) an ONNX model with torch.

    ``inputs``: tensor names fed to ``forward`` in order (default: the graph inputs);
    ``outputs``: tensor names returned (default: the graph outputs); one output is returned as a
    tensor, several as a tuple.
    """

    def __init__(self, model: Union[onnx.ModelProto, str, os.PathLike], inputs: Optional[Sequence[str]] = None,
                 outputs: Optional[Sequence[str]] = None) -> None:
        super().__init__()
        if not isinstance(model, onnx.ModelProto):
            model = onnx.load(str(model))
        g = model.graph
        inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.input_names = list(inputs) if inputs else [i.name for i in g.input if i.name not in inits]
        self.output_names = list(outputs) if outputs else [o.name for o in g.output]
        self.nodes = needed_nodes(g, self.input_names, self.output_names)
        unknown = sorted({n.op_type for n in self.nodes} - SUPPORTED_OPS)
        if unknown:
            raise NotImplementedError(f"ONNX ops not supported by onnx_to_torch: {unknown}; "
                                      f"supported: {sorted(SUPPORTED_OPS)}")
        used = {t for n in self.nodes for t in n.input}
        produced = {t for n in self.nodes for t in n.output} | set(self.input_names)
        missing = [o for o in self.output_names if o not in produced]
        if missing:
            raise UsageError(f"outputs {missing} cannot be computed from inputs {self.input_names}")
        self._param: Dict[str, str] = {}  # tensor name → attribute name on self
        for name in sorted(used & set(inits)):
            arr = inits[name]
            attr = _pname(name)
            t = torch.from_numpy(np.array(arr, copy=True))
            if t.is_floating_point():
                self.register_parameter(attr, nn.Parameter(t))
            else:
                self.register_buffer(attr, t)
            self._param[name] = attr
        self._attrs = [_attrs(n) for n in self.nodes]

    def tensor(self, name: str) -> torch.Tensor:
        """The parameter (or buffer) holding initializer ``name``."""
        return getattr(self, self._param[name])

    def forward(self, *xs: torch.Tensor):
        if len(xs) != len(self.input_names):
            raise UsageError(f"expected {len(self.input_names)} inputs ({self.input_names}), got {len(xs)}")
        env: Dict[str, torch.Tensor] = dict(zip(self.input_names, xs))
        last_use: Dict[str, int] = {}
        for i, n in enumerate(self.nodes):
            for t in n.input:
                last_use[t] = i
        for i, (n, a) in enumerate(zip(self.nodes, self._attrs)):
            args = [None if t == "" else (env[t] if t in env else self.tensor(t)) for t in n.input]
            res = _run(n.op_type, args, a)
            for o, r in zip(n.output, res if isinstance(res, tuple) else (res,)):
                env[o] = r
            for t in n.input:  # free activations early: the graph is long and training keeps the graph anyway
                if last_use.get(t) == i and t not in self.output_names and t in env and t not in self.input_names:
                    del env[t]
        outs = tuple(env[o] for o in self.output_names)
        return outs[0] if len(outs) == 1 else outs


def _pads(p: Sequence[int]) -> tuple:
    k = len(p) // 2
    return tuple(p[:k]), tuple(p[k:])


def _run(op: str, x: list, a: dict):
    if op == "Conv":
        begin, end = _pads(a.get("pads", [0, 0, 0, 0]))
        inp = x[0]
        if begin != end:  # asymmetric padding: pad explicitly
            pad = []
            for b, e in zip(reversed(begin), reversed(end)):
                pad += [b, e]
            inp, padding = F.pad(inp, pad), 0
        else:
            padding = begin
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise NotImplementedError("Conv auto_pad is not supported")
        return F.conv2d(inp, x[1], x[2] if len(x) > 2 else None, stride=tuple(a.get("strides", [1, 1])),
                        padding=padding, dilation=tuple(a.get("dilations", [1, 1])), groups=a.get("group", 1))
    if op == "BatchNormalization":
        # inference form (running statistics), as in the exported graph; frozen statistics when fine-tuning
        return F.batch_norm(x[0], x[3], x[4], x[1], x[2], training=False, eps=a.get("epsilon", 1e-5))
    if op == "PRelu":
        if x[0].dim() >= 2 and x[1].numel() == x[0].shape[1]:  # per-channel slope: exports back as PRelu
            return F.prelu(x[0], x[1].reshape(-1))
        return torch.where(x[0] >= 0, x[0], x[0] * x[1])
    if op == "Relu":
        return F.relu(x[0])
    if op == "Clip":
        lo = a.get("min", x[1] if len(x) > 1 and x[1] is not None else None)
        hi = a.get("max", x[2] if len(x) > 2 and x[2] is not None else None)
        return torch.clamp(x[0], min=None if lo is None else float(lo), max=None if hi is None else float(hi))
    if op == "Sigmoid":
        return torch.sigmoid(x[0])
    if op == "Add":
        return x[0] + x[1]
    if op == "Sub":
        return x[0] - x[1]
    if op == "Mul":
        return x[0] * x[1]
    if op == "Div":
        return x[0] / x[1]
    if op == "Flatten":
        ax = a.get("axis", 1)
        return x[0].reshape(int(np.prod(x[0].shape[:ax])) if ax else 1, -1)
    if op == "Reshape":
        shape = [int(s) for s in x[1].tolist()]
        shape = [x[0].shape[i] if s == 0 and not a.get("allowzero", 0) else s for i, s in enumerate(shape)]
        return x[0].reshape(shape)
    if op == "Gemm":
        A = x[0].t() if a.get("transA", 0) else x[0]
        B = x[1].t() if a.get("transB", 0) else x[1]
        y = a.get("alpha", 1.0) * (A @ B)
        if len(x) > 2 and x[2] is not None:
            y = y + a.get("beta", 1.0) * x[2]
        return y
    if op == "MatMul":
        return x[0] @ x[1]
    if op == "GlobalAveragePool":
        return x[0].mean(dim=tuple(range(2, x[0].dim())), keepdim=True)
    if op in ("Identity", "Dropout"):
        return x[0]
    if op == "Constant":
        v = a.get("value")
        if v is None:
            raise NotImplementedError("Constant without a tensor 'value' is not supported")
        return torch.from_numpy(np.array(numpy_helper.to_array(v), copy=True))
    raise NotImplementedError(op)  # unreachable: checked in __init__

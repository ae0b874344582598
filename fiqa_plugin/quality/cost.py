"""Compute cost of an ONNX quality model: multiply-accumulates per face, counted from the graph.

Counts ``Conv`` (output elements · input channels/groups · kernel area), ``Gemm`` and ``MatMul``
(output elements · inner dimension), after ONNX shape inference at batch 1; other ops (activations,
pooling, normalisation, resizing) are not counted, the usual convention of MAC counters. A machine-
independent number, so ``fiqa methods`` can compare methods without a noisy timing run.
"""
from __future__ import annotations

import logging
from typing import Dict

import numpy as np

log = logging.getLogger(__name__)


def count_macs(model) -> int:
    """Multiply-accumulates of one face through ``model`` (an ``onnx.ModelProto``, batch dimension set to 1)."""
    import onnx

    model = onnx.ModelProto.FromString(model.SerializeToString())  # never modify the caller's graph
    inits = {i.name for i in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        dims = inp.type.tensor_type.shape.dim
        if len(dims) and not dims[0].dim_value:
            dims[0].ClearField("dim_param")
            dims[0].dim_value = 1
    model = onnx.shape_inference.infer_shapes(model)
    shapes: Dict[str, list] = {}
    for v in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        shapes[v.name] = [d.dim_value for d in v.type.tensor_type.shape.dim]
    for i in model.graph.initializer:
        shapes[i.name] = list(i.dims)
    shapes.update(_run_shapes(model, shapes))
    total, unknown = 0, 0
    for n in model.graph.node:
        if n.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        out = shapes.get(n.output[0])
        if not out or 0 in out:
            unknown += 1
            continue
        if n.op_type == "Conv":
            w = shapes.get(n.input[1])
            if not w or 0 in w:
                unknown += 1
                continue
            total += int(np.prod(out)) * int(np.prod(w[1:]))
        else:
            a = shapes.get(n.input[0])
            if not a or not a[-1]:
                unknown += 1
                continue
            trans_a = any(at.name == "transA" and at.i for at in n.attribute)
            k = a[-2] if trans_a else a[-1]
            total += int(np.prod(out)) * int(k)
    if unknown:
        log.info("count_macs: %d Conv/Gemm/MatMul nodes without inferred shapes were not counted", unknown)
    return total


def method_macs(method) -> int:
    """MACs per face of a registered method instance: its ONNX graph (composed models: recognizer included),
    the recognizer's for methods that need an embedding, 0 for measures without a network."""
    import onnx

    from .onnx_model import OnnxQualityModel

    if isinstance(method, OnnxQualityModel):
        cfg = method.config
        if cfg.compose:
            from .compose import compose_with_recognizer, recognizer_path

            c = cfg.compose
            return count_macs(compose_with_recognizer(cfg.model_path, recognizer_path(c["recognizer"], c.get("recognizer_file")),
                                                      c["inputs"], cfg.output))
        return count_macs(onnx.load(str(cfg.model_path)))
    if "embedding" in getattr(method, "requires", ()):
        from ..plugins import RECOGNIZERS

        return count_macs(onnx.load(str(RECOGNIZERS.create("buffalo_sc", threads=1).model_path)))
    return 0


def _run_shapes(model, shapes: Dict[str, list]) -> Dict[str, list]:
    """Shapes that static inference left open (graphs that reshape with computed shapes, e.g. a channel
    shuffle): run the graph once on zeros at batch 1 with those tensors exposed as outputs."""
    import onnx
    import onnxruntime as ort

    types = {v.name: v.type.tensor_type.elem_type for v in model.graph.value_info}
    want = []
    for n in model.graph.node:
        if n.op_type in ("Conv", "Gemm", "MatMul"):
            for t in (n.input[0], n.output[0]):
                s = shapes.get(t)
                if (not s or 0 in s) and types.get(t) and t not in want:
                    want.append(t)
    if not want:
        return {}
    have = {o.name for o in model.graph.output}
    model.graph.output.extend(onnx.helper.make_tensor_value_info(t, types[t], None) for t in want if t not in have)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {}
    for i in sess.get_inputs():
        dims = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
        feeds[i.name] = np.zeros(dims, np.float16 if "float16" in i.type else np.float32)
    res = sess.run(want, feeds)
    return {t: list(r.shape) for t, r in zip(want, res)}

"""Compose a shipped quality head with the recognizer it was trained on, into one ONNX graph.

A head trained on a recognizer's intermediate tensor (SDD-FIQA regressor: a late feature map) or on
its embedding (Babnik et al. transfer head) is shipped alone — small, and without the recognizer's
weights, which users get from the recognizer's own distribution (e.g. InsightFace's packs). At
load time the head is wired to the recognizer graph with ``onnx.compose``; the result takes the
recognizer's input and returns ``[quality, embedding]`` in one pass.

Config (``"compose"`` in the model's JSON, see :mod:`.onnx_model`)::

    "compose": {"recognizer": "buffalo_sc",             # a registered recognizer (its ONNX file)
                "recognizer_file": "w600k_mbf.onnx",    # optional check of the file name
                "inputs": {"features": "637"}}          # head input → recognizer tensor
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import numpy as np

from ..errors import ModelError

log = logging.getLogger(__name__)

PREFIX = "q_"  # head names are prefixed so they never clash with the recognizer's tensor names


def _onnx():
    try:
        import onnx
        import onnx.compose  # noqa: F401
        import onnx.version_converter  # noqa: F401
    except ImportError as exc:  # pragma: no cover - onnx is a core dependency
        raise ImportError("composed quality models need the 'onnx' package: pip install onnx") from exc
    return onnx


def compose_with_recognizer(head_path: os.PathLike | str, recognizer_path: os.PathLike | str,
                            inputs: Dict[str, str], quality_output: Optional[str] = None):
    """One ``onnx.ModelProto``: recognizer input → ``[quality, embedding]``.

    ``inputs`` maps each head input to the recognizer tensor that feeds it (an intermediate tensor
    or the embedding output). ``quality_output``: the head's output (default: its first).
    """
    onnx = _onnx()
    rec = onnx.load(str(recognizer_path))
    head = onnx.load(str(head_path))
    missing = missing_tensors(rec, inputs.values())
    if missing:
        raise ModelError(f"recognizer {recognizer_path} has no tensor(s) {missing}: this head was trained on a "
                         f"different recognizer file")
    head_inputs = [i.name for i in head.graph.input]
    unknown = [h for h in inputs if h not in head_inputs]
    if unknown or len(inputs) != len(head_inputs):
        raise ModelError(f"compose inputs {sorted(inputs)} must name every head input {head_inputs}")
    q_out = quality_output or head.graph.output[0].name
    embedding = rec.graph.output[0].name
    # one opset and IR version for both graphs: lift the older one
    v_rec = max(o.version for o in rec.opset_import if o.domain in ("", "ai.onnx"))
    v_head = max(o.version for o in head.opset_import if o.domain in ("", "ai.onnx"))
    if v_rec < v_head:
        rec = onnx.version_converter.convert_version(rec, v_head)
    elif v_head < v_rec:
        head = onnx.version_converter.convert_version(head, v_rec)
    ir = max(rec.ir_version, head.ir_version)
    rec.ir_version = head.ir_version = ir
    add_outputs(rec, inputs.values())
    head = onnx.compose.add_prefix(head, PREFIX)
    merged = onnx.compose.merge_models(
        rec, head, io_map=[(t, PREFIX + h) for h, t in inputs.items()], outputs=[PREFIX + q_out, embedding],
        doc_string=f"{Path(recognizer_path).name} + {Path(head_path).name}")
    # merge_models lists the recognizer's outputs first; the quality must come first
    order = {PREFIX + q_out: 0, embedding: 1}
    outs = sorted(merged.graph.output, key=lambda o: order[o.name])
    del merged.graph.output[:]
    merged.graph.output.extend(outs)
    return merged


def missing_tensors(model, tensors: Iterable[str]) -> List[str]:
    """The names in ``tensors`` that no node of ``model`` (an ``onnx.ModelProto``) produces."""
    produced = {o for n in model.graph.node for o in n.output}
    return [t for t in tensors if t not in produced]


def add_outputs(model, tensors: Iterable[str]):
    """``model`` (an ``onnx.ModelProto``, changed in place and returned) with ``tensors`` as extra graph
    outputs, after its own: a session of it returns them beside the usual outputs from the same pass."""
    onnx = _onnx()
    outs = {o.name for o in model.graph.output}
    for t in tensors:
        if t not in outs:
            model.graph.output.append(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None))
            outs.add(t)
    return model


class RecognizerHead:
    """A composed model's head alone, fed recognizer tensors computed elsewhere (a recognizer session that
    returns them as extra outputs, :func:`add_outputs`): the composed graph's quality without a second
    recognizer pass. ``config`` is the model's :class:`~.onnx_model.QualityModelConfig` (with ``compose``)."""

    def __init__(self, config, threads: Optional[int] = None) -> None:
        from ..onnx_session import make_session

        if not config.compose:
            raise ModelError(f"{config.name} is not a head on a recognizer (no 'compose' in its config)")
        self.name = config.name
        #: head input -> recognizer tensor
        self.inputs: Dict[str, str] = dict(config.compose["inputs"])
        self.session = make_session(str(config.model_path), threads=threads)
        outputs = [o.name for o in self.session.get_outputs()]
        if config.output and config.output not in outputs:
            raise ModelError(f"{config.name}: output {config.output!r} not in the head's outputs {outputs}")
        self._out = outputs.index(config.output) if config.output else 0
        self._sign = 1.0 if config.higher_is_better else -1.0

    @property
    def tensors(self) -> List[str]:
        """The recognizer tensors the head reads."""
        return list(self.inputs.values())

    def score(self, tensors: Dict[str, np.ndarray]) -> np.ndarray:
        """Quality ``[N]`` (higher = better) from recognizer tensor name -> ``[N, ...]`` values."""
        feed = {h: np.ascontiguousarray(tensors[t], np.float32) for h, t in self.inputs.items()}
        q = self.session.run(None, feed)[self._out]
        return (self._sign * q.reshape(len(q), -1)[:, 0]).astype(np.float32)


def recognizer_path(name: str, expected_file: Optional[str] = None) -> str:
    """The ONNX file of a registered recognizer (checked against ``expected_file`` when given)."""
    from ..plugins import RECOGNIZERS

    path = getattr(RECOGNIZERS.create(name, threads=1), "model_path", None)
    if not path:
        raise ModelError(f"recognizer {name!r} has no ONNX file to compose a quality head with")
    if expected_file and Path(path).name != expected_file:
        raise ModelError(f"recognizer {name!r} is {Path(path).name}, but this quality head was trained on "
                         f"{expected_file}; point the recognizer at that file")
    return str(path)

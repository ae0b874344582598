"""Export a trained quality regressor as ``<arch>.<tag>.onnx`` + ``.json`` config + ``.md`` model card,
the layout :mod:`fiqa_plugin.quality.onnx_model` loads (and auto-registers from ``fiqa_plugin/weights``)."""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..quality.onnx_model import QualityModelConfig

log = logging.getLogger(__name__)


def export_onnx(model: nn.Module, path: os.PathLike | str, input_size: int = 64, opset: int = 17, dynamo: bool = False) -> Path:
    """Write ``model`` as ONNX with a dynamic batch dimension (input ``input`` NCHW, output ``quality`` [N,1]).

    The TorchScript exporter is the default because it folds BatchNorm into the convolutions
    (a smaller, faster file); ``dynamo=True`` uses the torch.export-based one.
    """
    path = Path(path)
    model = model.eval()
    x = torch.zeros(2, 3, input_size, input_size)
    if not dynamo:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.onnx.export(model, (x,), str(path), input_names=["input"], output_names=["quality"],
                                  dynamic_axes={"input": {0: "batch"}, "quality": {0: "batch"}},
                                  opset_version=opset, do_constant_folding=True, dynamo=False)
            return path
        except Exception as exc:  # the legacy exporter may be gone in a future torch
            log.warning("TorchScript ONNX export failed (%s); trying the dynamo exporter", exc)
    prog = torch.onnx.export(model, (x,), input_names=["input"], output_names=["quality"],
                             dynamic_shapes=({0: torch.export.Dim("batch")},), opset_version=max(opset, 18), dynamo=True)
    prog.save(str(path))
    return path


def onnx_parity(model: nn.Module, onnx_path: os.PathLike | str, crops_bgr: np.ndarray, mean: float = 127.5,
                std: float = 127.5) -> float:
    """Largest |torch − onnxruntime| over ``crops_bgr`` (already at the model's input size)."""
    from ..onnx_session import make_session
    from .train import to_input

    x = to_input(crops_bgr, mean, std)
    model.eval()
    with torch.no_grad():
        ref = model(x).numpy().reshape(-1)
    sess = make_session(str(onnx_path), threads=1)
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0].reshape(-1)
    return float(np.abs(ref - got).max())


def write_config(
    json_path: os.PathLike | str,
    arch: str,
    tag: str,
    onnx_name: str,
    input_size: int,
    mean: float,
    std: float,
    summary: str,
    default: bool = True,
    extra: Optional[Dict] = None,
) -> QualityModelConfig:
    """The QualityModelConfig JSON beside the ONNX file."""
    cfg = QualityModelConfig(arch=arch, tag=tag, file=onnx_name, input_size=input_size, layout="NCHW", channels="RGB",
                             mean=mean, std=std, score_range=[0.0, 1.0], higher_is_better=True, default=default,
                             summary=summary, batch_size=256, extra=dict(extra or {}))
    cfg.save(json_path)
    return cfg


def write_card(md_path: os.PathLike | str, title: str, sections: Sequence[tuple]) -> None:
    """A markdown model card from ``(heading, body)`` pairs."""
    parts = [f"# {title}\n"]
    for heading, body in sections:
        parts.append(f"## {heading}\n\n{body.strip()}\n")
    Path(md_path).write_text("\n".join(parts))


def export_model(
    model: nn.Module,
    out_dir: os.PathLike | str,
    arch: str,
    tag: str,
    input_size: int = 64,
    mean: float = 127.5,
    std: float = 127.5,
    summary: str = "",
    default: bool = True,
    extra: Optional[Dict] = None,
) -> Dict[str, Path]:
    """ONNX + JSON config for ``<arch>.<tag>`` in ``out_dir`` (the card is written by the caller, with its numbers)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{arch}.{tag}"
    onnx_path = export_onnx(model, out_dir / f"{stem}.onnx", input_size)
    json_path = out_dir / f"{stem}.json"
    write_config(json_path, arch, tag, onnx_path.name, input_size, mean, std,
                 summary or f"{arch} quality regressor ({tag})", default, extra)
    log.info("exported %s (%d bytes)", onnx_path, onnx_path.stat().st_size)
    return {"onnx": onnx_path, "json": json_path, "md": out_dir / f"{stem}.md"}

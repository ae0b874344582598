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


def export_onnx(model: nn.Module, path: os.PathLike | str, input_size: int = 64, opset: int = 17, dynamo: bool = False,
                example: Optional[torch.Tensor] = None, input_name: str = "input", output_name: str = "quality") -> Path:
    """Write ``model`` as ONNX with a dynamic batch dimension: the one exporter of every architecture.

    The input is ``example`` (default ``[2, 3, input_size, input_size]``, a crop model's NCHW batch;
    heads on recognizer features pass their own) named ``input_name``; the output ``output_name`` is
    ``[N, 1]``. The TorchScript exporter is the default because it folds BatchNorm into the
    convolutions (a smaller, faster file); ``dynamo=True`` uses the torch.export-based one. The file is
    checked by ``onnx.checker``.
    """
    import onnx

    path = Path(path)
    model = model.eval()
    x = example if example is not None else torch.zeros(2, 3, input_size, input_size)
    names = dict(input_names=[input_name], output_names=[output_name])
    if not dynamo:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, (x,), str(path), **names,
                                  dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
                                  opset_version=opset, do_constant_folding=True, dynamo=False)
            onnx.checker.check_model(onnx.load(str(path)))
            return path
        except Exception as exc:  # the legacy exporter may be gone in a future torch
            log.warning("TorchScript ONNX export failed (%s); trying the dynamo exporter", exc)
    prog = torch.onnx.export(model, (x,), **names, dynamic_shapes=({0: torch.export.Dim("batch")},),
                             opset_version=max(opset, 18), dynamo=True)
    prog.save(str(path))
    onnx.checker.check_model(onnx.load(str(path)))
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
    *,
    score_range: Optional[Sequence[float]] = (0.0, 1.0),
    batch_size: int = 256,
    compose: Optional[Dict] = None,
) -> QualityModelConfig:
    """The QualityModelConfig JSON beside the ONNX file (every architecture's; ``compose`` for a head
    on a recognizer's tensor, joined with that recognizer at load time)."""
    cfg = QualityModelConfig(arch=arch, tag=tag, file=onnx_name, input_size=input_size, layout="NCHW", channels="RGB",
                             mean=mean, std=std, score_range=list(score_range) if score_range is not None else None,
                             higher_is_better=True, default=default, summary=summary, batch_size=batch_size,
                             compose=compose, extra=dict(extra or {}))
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
    *,
    example: Optional[torch.Tensor] = None,
    input_name: str = "input",
    score_range: Optional[Sequence[float]] = (0.0, 1.0),
    batch_size: int = 256,
    compose: Optional[Dict] = None,
) -> Dict[str, Path]:
    """ONNX + JSON config for ``<arch>.<tag>`` in ``out_dir`` (the card is written by the caller, with its
    numbers): crop regressors (the defaults) and heads composed with a recognizer (``example``,
    ``input_name``, ``compose``) alike."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{arch}.{tag}"
    onnx_path = export_onnx(model, out_dir / f"{stem}.onnx", input_size, example=example, input_name=input_name)
    json_path = out_dir / f"{stem}.json"
    write_config(json_path, arch, tag, onnx_path.name, input_size, mean, std,
                 summary or f"{arch} quality regressor ({tag})", default, extra,
                 score_range=score_range, batch_size=batch_size, compose=compose)
    log.info("exported %s (%d bytes)", onnx_path, onnx_path.stat().st_size)
    return {"onnx": onnx_path, "json": json_path, "md": out_dir / f"{stem}.md"}

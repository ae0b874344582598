"""Built-in quality methods, registered through the same hook as third-party plugins."""
from __future__ import annotations

from typing import Optional

from ..hookspecs import hookimpl
from ..paths import shared_path
from . import measures
from .onnx_model import OnnxQualityModel, QualityModelConfig, shipped_configs


def lightqnet_config(path: Optional[str] = None) -> QualityModelConfig:
    """LightQNet (Chen et al., IEEE SPL 2021): 96×96 BGR NHWC, (x − 128)/128, higher = better."""
    p = path or shared_path("models", "baselines", "lightqnet-dm100.onnx")
    return QualityModelConfig(
        arch="lightqnet", tag="dm100", file=str(p), input_size=96, layout="NHWC", channels="BGR",
        mean=128.0, std=128.0, score_range=(0.0, 1.0), summary="LightQNet baseline (ONNX from ../shared)",
    )


@hookimpl
def fiqa_register_quality_methods(registry) -> None:
    for cls in (
        measures.BlurQuality, measures.PoseQuality, measures.JpegQuality, measures.CombinedQuality,
        measures.DetectorConfidence, measures.EmbeddingNorm,
    ):
        registry.add(cls.name, cls, (cls.__doc__ or "").strip().splitlines()[0], kind="measure")

    @registry.register("lightqnet", "LightQNet baseline (Chen et al. 2021), ONNX; path= to override", kind="baseline")
    def lightqnet(path: Optional[str] = None, **kw) -> OnnxQualityModel:
        return OnnxQualityModel(lightqnet_config(path), **kw)

    @registry.register("onnx", "any ONNX quality model described by a JSON config: config=PATH", kind="external")
    def external(config: str, **kw) -> OnnxQualityModel:
        return OnnxQualityModel.from_config(config, **kw)

    for cfg in shipped_configs():
        _register_shipped(registry, cfg)


def _register_shipped(registry, cfg: QualityModelConfig) -> None:
    def build(_cfg=cfg, **kw) -> OnnxQualityModel:
        return OnnxQualityModel(_cfg, **kw)

    registry.add(cfg.name, build, cfg.summary or f"shipped {cfg.arch} model", kind="shipped", config=cfg)
    if cfg.default:
        registry.add(cfg.arch, build, f"{cfg.summary or cfg.arch} (= {cfg.name})", kind="shipped", config=cfg)

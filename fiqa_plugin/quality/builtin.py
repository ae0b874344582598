"""Built-in quality methods, registered through the same hook as third-party plugins."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from ..hookspecs import hookimpl
from ..paths import shared_path, user_models_dir
from . import measures
from .onnx_model import OnnxQualityModel, QualityModelConfig, shipped_configs

log = logging.getLogger(__name__)


def lightqnet_config(path: Optional[str] = None) -> QualityModelConfig:
    """LightQNet (Chen et al., IEEE SPL 2021): 96×96 BGR NHWC, (x − 128)/128, higher = better."""
    p = path or shared_path("models", "baselines", "lightqnet-dm100.onnx")
    return QualityModelConfig(
        arch="lightqnet", tag="dm100", file=str(p), input_size=96, layout="NHWC", channels="BGR",
        mean=128.0, std=128.0, score_range=(0.0, 1.0), summary="LightQNet baseline (ONNX from ../shared)",
    )


@hookimpl(tryfirst=True)  # built-ins first: a broken third-party plugin cannot hide them
def fiqa_register_quality_methods(registry) -> None:
    for cls in (
        measures.BlurQuality, measures.PoseQuality, measures.JpegQuality, measures.CombinedQuality,
        measures.DetectorConfidence, measures.EmbeddingNorm,
    ):
        registry.add(cls.name, cls, (cls.__doc__ or "").strip().splitlines()[0], kind="measure")

    # model_name: the name its instances carry (for the calibration table), known without loading the file
    @registry.register("lightqnet", "LightQNet baseline (Chen et al. 2021), ONNX; path= to override", kind="baseline",
                       model_name="lightqnet.dm100")
    def lightqnet(path: Optional[str] = None, **kw) -> OnnxQualityModel:
        return OnnxQualityModel(lightqnet_config(path), **kw)

    @registry.register("onnx", "any ONNX quality model described by a JSON config: config=PATH", kind="external")
    def external(config: str, **kw) -> OnnxQualityModel:
        return OnnxQualityModel.from_config(config, **kw)

    for cfg in shipped_configs():
        _register_shipped(registry, cfg)
    register_user_models(registry)


def _register_shipped(registry, cfg: QualityModelConfig, kind: str = "shipped") -> None:
    def build(_cfg=cfg, **kw) -> OnnxQualityModel:
        return OnnxQualityModel(_cfg, **kw)

    registry.add(cfg.name, build, cfg.summary or f"{kind} {cfg.arch} model", kind=kind, config=cfg)
    if cfg.default:
        registry.add(cfg.arch, build, f"{cfg.summary or cfg.arch} (= {cfg.name})", kind=kind, config=cfg)


def register_user_models(registry=None, directory=None) -> list:
    """Register the models in ``directory`` (default :func:`~fiqa_plugin.paths.user_models_dir`) not
    registered yet (kind ``user``); returns their names. Called when the registry loads and again after a model is trained or copied
    there, so a new ``arch.tag`` is usable at once. Shipped names win: a user model never replaces one."""
    if registry is None:
        from ..plugins import QUALITY_METHODS as registry
    d = Path(directory) if directory else user_models_dir()
    if not d.is_dir():
        return []
    added = []
    for cfg in shipped_configs(d):
        if cfg.name in registry:
            if registry.entry(cfg.name).tags.get("kind") != "user":
                log.warning("user model %s has the name of a built-in method; skipped (rename its tag)", cfg.name)
            continue  # a user model already registered reads its (possibly retrained) file when created
        if not cfg.model_path.is_file():
            log.warning("user model %s: %s is missing; skipped", cfg.name, cfg.model_path)
            continue
        cfg.default = cfg.default and cfg.arch not in registry
        _register_shipped(registry, cfg, kind="user")
        added.append(cfg.name)
    if added:
        log.info("registered user quality models from %s: %s", d, ", ".join(added))
    return added

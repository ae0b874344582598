"""Built-in recognizers, registered through the same hook as third-party plugins."""
from __future__ import annotations

from typing import Optional

from ..hookspecs import hookimpl
from ..paths import pack_dir, shared_path
from .base import OnnxRecognizer
from ..errors import MissingAssetError


def pack_recognizer(pack: str = "buffalo_sc", root: Optional[str] = None, **kw) -> OnnxRecognizer:
    """The ArcFace recognizer of an InsightFace model pack (the ``w600k_*`` / ``glintr100`` ONNX)."""
    d = pack_dir(pack, root)
    cands = [p for p in sorted(d.glob("*.onnx")) if not p.name.startswith(("det_", "1k3d", "2d106", "genderage"))]
    cands = [p for p in cands if "quality" not in p.name and "fiqa" not in p.name]
    if not cands:
        raise MissingAssetError(f"no recognizer ONNX in model pack {d}")
    return OnnxRecognizer(cands[0], name=kw.pop("name", f"{pack}"), mean=127.5, std=127.5, rgb=True, **kw)


@hookimpl(tryfirst=True)  # built-ins first: a broken third-party plugin cannot hide them
def fiqa_register_recognizers(registry) -> None:
    @registry.register("buffalo_sc", "ArcFace MobileFaceNet (WebFace600K), 512-D, from InsightFace's buffalo_sc pack")
    def buffalo_sc(**kw) -> OnnxRecognizer:
        return pack_recognizer("buffalo_sc", **kw)

    @registry.register("insightface-pack", "the ArcFace recognizer of any InsightFace pack: pack=NAME, root=DIR")
    def any_pack(pack: str = "buffalo_l", root: Optional[str] = None, **kw) -> OnnxRecognizer:
        return pack_recognizer(pack, root, **kw)

    @registry.register("mobilefacenet-128d", "an independent MobileFaceNet, 128-D (cross-model evaluation)")
    def mobilefacenet_128d(path: Optional[str] = None, **kw) -> OnnxRecognizer:
        p = path or shared_path("models", "cross", "mobilefacenet-128d.onnx")
        return OnnxRecognizer(p, name="mobilefacenet-128d", mean=127.5, std=127.5, rgb=True, **kw)

    @registry.register("sface-128d", "SFace (OpenCV model zoo), 128-D, int8: a third independent recognizer "
                                     "(cross-model checks, labels from several recognizers)")
    def sface_128d(path: Optional[str] = None, **kw) -> OnnxRecognizer:
        p = path or shared_path("models", "cross", "sface-128d-int8.onnx")
        return OnnxRecognizer(p, name="sface-128d", mean=0.0, std=1.0, rgb=True, **kw)  # raw RGB 0-255 input

    @registry.register("onnx", "a generic ONNX recognizer: path=..., mean=, std=, rgb=")
    def generic(path: str, **kw) -> OnnxRecognizer:
        return OnnxRecognizer(path, **kw)

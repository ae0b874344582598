"""FiftyOne remote zoo source for fiqa-plugin quality models.

FiftyOne imports this file from its model-zoo folder and calls ``download_model``,
``load_model`` and ``resolve_input``. Models are named ``fiqa/<method>`` after the
registered quality methods. Shipped ONNX models are copied from the installed
``fiqa-plugin`` package (a requirement of every model) into the zoo folder with their JSON
config and calibration table; measures such as ``blur`` need no weights and get a small
marker file. Baselines whose weights the project cannot ship (LightQNet) are not listed. Regenerate ``manifest.json`` after shipping a model (a test fails
until then) with, from the repository root::

    .venv/bin/python zoo/__init__.py
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "fiqa/"
SOURCE_NAME = "fiqa/fiqa-plugin"
MARKER = "method.json"


def method_name(model_name: str) -> str:
    """The registered quality-method name of zoo model ``fiqa/<method>[@version]``."""
    name = model_name.split("@", 1)[0]
    return name[len(PREFIX):] if name.startswith(PREFIX) else name


def download_model(model_name: str, model_path: str) -> None:
    """Materialise the model at ``model_path`` (a folder): ONNX + config, or a marker for weightless methods."""
    from fiqa_plugin.plugins import QUALITY_METHODS
    from fiqa_plugin.quality.onnx_model import OnnxQualityModel

    name = method_name(model_name)
    os.makedirs(model_path, exist_ok=True)
    method = QUALITY_METHODS.create(name, threads=1) if _is_onnx(name) else None
    if isinstance(method, OnnxQualityModel):
        from fiqa_plugin.integrations.fiftyone import export_model

        export_model(name, model_path)
    Path(model_path, MARKER).write_text(json.dumps({"method": name}) + "\n")


def _is_onnx(name: str) -> bool:
    from fiqa_plugin.plugins import QUALITY_METHODS

    kind = QUALITY_METHODS.entry(name).tags.get("kind")
    return kind in ("shipped", "baseline", "external", "user")


def load_model(model_name: str, model_path: str, **kwargs):
    """A :class:`fiqa_plugin.integrations.fiftyone.FIQAModel`; kwargs go to its ``load_model``
    (``detect_faces``, ``batch_size``, ``pack``, ``root``, ``store_faces``, ``mode``)."""
    from fiqa_plugin.integrations import fiftyone as fiqa_fo

    name = method_name(model_name)
    configs = [p for p in Path(model_path).glob("*.json") if p.name != MARKER]
    if configs:
        from fiqa_plugin.quality.onnx_model import OnnxQualityModel

        # Run the copy in the zoo folder, so what was downloaded is what is used.
        method = OnnxQualityModel.from_config(configs[0])
        return fiqa_fo.load_model(method, **kwargs)
    return fiqa_fo.load_model(name, **kwargs)


def resolve_input(model_name: str, ctx):
    """Form fields shown by FiftyOne's "apply zoo model" operator."""
    import fiftyone.operators.types as types

    inputs = types.Object()
    inputs.bool("detect_faces", default=True, label="Detect faces",
                description="off: every image is already an aligned 112x112 face crop")
    inputs.int("batch_size", default=64, label="Batch size")
    return types.Property(inputs)


def _license(entry) -> str:
    """A shipped model's own licence (its JSON ``license``); code-only measures are MIT like the package."""
    cfg = entry.tags.get("config")
    return (cfg.extra.get("license") if cfg is not None else None) or "MIT"


def build_manifest() -> dict:
    """The manifest for every registered quality method usable without arguments."""
    from fiqa_plugin.plugins import QUALITY_METHODS

    models = []
    for e in QUALITY_METHODS.entries():
        kind = e.tags.get("kind", "")
        if kind in ("external", "user", "baseline"):
            # needs a config path / lives only on this machine / weights the project may not ship
            continue
        models.append({
            "base_name": PREFIX + e.name,
            "base_filename": "fiqa-" + e.name.replace("/", "-"),
            "author": "fiqa-plugin",
            "license": _license(e),
            "source": "fiqa-plugin",
            "description": f"Face image quality: {e.summary}",
            "tags": ["face-quality", "fiqa", "onnx", kind or "measure"],
            "date_added": "2025-01-01 00:00:00",
            # the weights come from the installed package, so the package itself is the first requirement
            "requirements": {"packages": ["fiqa-plugin", "onnxruntime"], "cpu": {"support": True},
                             "gpu": {"support": False}},
        })
    return {"name": SOURCE_NAME, "models": models}


if __name__ == "__main__":  # regenerate manifest.json beside this file (--stdout: print it instead)
    import sys

    text = json.dumps(build_manifest(), indent=4) + "\n"
    if "--stdout" in sys.argv[1:]:
        sys.stdout.write(text)
    else:
        out = Path(__file__).with_name("manifest.json")
        out.write_text(text)
        print(f"wrote {out}")

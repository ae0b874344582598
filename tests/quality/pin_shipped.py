"""Regenerate tests/quality/shipped_scores.json: every shipped model's scores on 8 fixed real crops.

Run after shipping a model (a new training is a new tag, so old pins never change):
    .venv/bin/python tests/quality/pin_shipped.py

Crop models that take float input are scored here *without* the package's scoring path: onnxruntime on
the model file with the config's preprocessing written out by hand (cv2 INTER_AREA resize, BGR->RGB,
(x - mean) / std, NCHW). Heads composed with a recognizer are scored through the registry (their graph
is built at load time from the user's recognizer), so their pins guard against change, not derivation.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
PINS = HERE / "shipped_scores.json"
N_CROPS = 8


def crop_paths(shared: Path) -> list:
    """8 celeba_aligned crops spread over the identities (sorted, every 1,500th)."""
    return sorted((shared / "data" / "celeba_aligned").glob("*/*.jpg"))[::1500][:N_CROPS]


def load_crops(shared: Path) -> np.ndarray:
    return np.stack([cv2.imread(str(p)) for p in crop_paths(shared)])


def independent_scores(cfg, crops: np.ndarray) -> np.ndarray:
    """onnxruntime on the file, preprocessing by hand (float-input, non-composed models only)."""
    import onnxruntime as ort

    s = cfg.input_size
    x = np.stack([cv2.resize(c, (s, s), interpolation=cv2.INTER_AREA) if c.shape[0] != s else c for c in crops])
    x = x.astype(np.float32)
    if cfg.channels == "RGB":
        x = x[..., ::-1]
    x = (x - np.asarray(cfg.mean, np.float32)) / np.asarray(cfg.std, np.float32)
    if cfg.layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    sess = ort.InferenceSession(str(cfg.model_path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(x, np.float32)})[0]
    return out.reshape(len(crops), -1)[:, 0].astype(np.float64)


def main() -> int:
    from fiqa_plugin.paths import shared_dir
    from fiqa_plugin.plugins import QUALITY_METHODS
    from fiqa_plugin.quality.onnx_model import shipped_configs

    crops = load_crops(shared_dir())
    pins = {}
    for cfg in shipped_configs():
        if cfg.compose or cfg.input_format != "float":
            q = QUALITY_METHODS.create(cfg.name).score_crops(crops)
            how = "registry"
        else:
            q = independent_scores(cfg, crops)
            how = "onnxruntime + hand preprocessing"
        pins[cfg.name] = {"scores": [round(float(v), 7) for v in q], "source": how}
        print(f"{cfg.name}: {how}", file=sys.stderr)
    PINS.write_text(json.dumps({"crops": [str(p.relative_to(shared_dir())) for p in crop_paths(shared_dir())],
                                "models": pins}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

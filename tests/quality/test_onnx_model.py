import json

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from fiqa_plugin import QUALITY_METHODS
from fiqa_plugin.quality.onnx_model import QualityModelConfig


def test_lightqnet_matches_direct_onnxruntime(shared, aligned_crops):
    """Independent preprocessing: 96×96 BGR NHWC, (x − 128)/128, as LightQNet documents."""
    sess = ort.InferenceSession(str(shared / "models/baselines/lightqnet-dm100.onnx"), providers=["CPUExecutionProvider"])
    x = np.stack([cv2.resize(c, (96, 96), interpolation=cv2.INTER_AREA) for c in aligned_crops]).astype(np.float32)
    ref = sess.run(None, {sess.get_inputs()[0].name: (x - 128.0) / 128.0})[0][:, 0]
    ours = QUALITY_METHODS.create("lightqnet").score_crops(aligned_crops)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_lightqnet_prefers_sharp_faces(aligned_crops):
    m = QUALITY_METHODS.create("lightqnet")
    sharp = m.score_crops(aligned_crops)
    blurred = m.score_crops(np.stack([cv2.GaussianBlur(c, (0, 0), 3.0) for c in aligned_crops]))
    assert sharp.mean() > blurred.mean()


def test_external_config_round_trip(tmp_path, shared, aligned_crops):
    cfg = QualityModelConfig(
        arch="lqn", tag="copy", file=str(shared / "models/baselines/lightqnet-dm100.onnx"), input_size=96,
        layout="NHWC", channels="BGR", mean=128.0, std=128.0, score_range=[0, 1], higher_is_better=False,
    )
    path = tmp_path / "lqn.copy.json"
    cfg.save(path)
    loaded = QualityModelConfig.load(path)
    assert loaded.name == "lqn.copy" and loaded.layout == "NHWC" and not loaded.higher_is_better
    m = QUALITY_METHODS.create("onnx", config=str(path))
    ref = QUALITY_METHODS.create("lightqnet").score_crops(aligned_crops)
    np.testing.assert_allclose(m.score_crops(aligned_crops), -ref, atol=1e-6)  # direction flipped


def test_bad_config_says_what_is_missing(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"arch": "x"}))
    with pytest.raises(ValueError, match="lacks"):
        QualityModelConfig.load(p)

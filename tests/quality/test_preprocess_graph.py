"""In-graph crop preprocessing: the scores of the Python preprocessing it replaced, on real crops."""
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from fiqa_plugin.paths import WEIGHTS_DIR
from fiqa_plugin.quality.onnx_model import OnnxQualityModel, QualityModelConfig
from fiqa_plugin.quality.preprocess_graph import area_matrix, bake, with_preprocessing


def _celeba_aligned(shared: Path, n: int = 96) -> np.ndarray:
    root = shared / "data" / "celeba_aligned"
    files = sorted(root.glob("*/*.jpg"))[:n]
    assert len(files) == n, f"need {n} aligned CelebA crops in {root} (see ../shared/README.md)"
    return np.stack([cv2.imread(str(f)) for f in files])


def _reference(cfg: QualityModelConfig, crops: np.ndarray) -> np.ndarray:
    """The pre-graph recipe, written out here: per-crop cv2 INTER_AREA, BGR→RGB, (x−127.5)/127.5, NCHW."""
    s = cfg.input_size
    x = np.stack([cv2.resize(c, (s, s), interpolation=cv2.INTER_AREA) for c in crops])[..., ::-1]
    x = ((x.astype(np.float32) - 127.5) / 127.5).transpose(0, 3, 1, 2)
    sess = ort.InferenceSession(str(cfg.model_path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(x)})[0][:, 0]


def test_area_matrix_weights():
    m = area_matrix(112, 64)  # each output covers 1.75 input pixels
    np.testing.assert_allclose(m[0, :3], [1 / 1.75, 0.75 / 1.75, 0.0])
    np.testing.assert_allclose(m[1, 1:5], [0.25 / 1.75, 1 / 1.75, 0.5 / 1.75, 0.0])
    np.testing.assert_allclose(m.sum(1), 1.0)


@pytest.mark.parametrize("size", [64, 56, 28, 96, 112])
def test_resize_gives_opencv_pixels(shared, size):
    """The graph's resize on real crops equals cv2.resize INTER_AREA pixel for pixel (an identity
    network behind it; halving is OpenCV's 2×2 path, which rounds halves up, the rest round to even)."""
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Identity", ["input"], ["out"])], "id",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, size, size])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)])
    ident = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    model = with_preprocessing(ident, size, channels="BGR", mean=0.0, std=1.0)
    crops = _celeba_aligned(shared, 64)
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"crops": crops})[0]
    want = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops]).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("stem", ["mbv2_t1_w025_h256.celeba-r1", "tinyfqnet.celeba-r2"])
def test_shipped_model_scores_unchanged(shared, stem):
    cfg = QualityModelConfig.load(WEIGHTS_DIR / f"{stem}.json")
    assert cfg.mean == 127.5 and cfg.std == 127.5 and cfg.channels == "RGB" and cfg.layout == "NCHW"
    crops = _celeba_aligned(shared)
    got = OnnxQualityModel(cfg, threads=1).score_crops(crops)
    want = _reference(cfg, crops)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert (np.argsort(got, kind="stable") == np.argsort(want, kind="stable")).all()


def test_baked_file_scores_like_load_time_graph(shared, tmp_path):
    src = WEIGHTS_DIR / "tinyfqnet.celeba-r2.json"
    baked = QualityModelConfig.load(bake(src, tmp_path))
    assert baked.input_format == "uint8_crops"
    crops = _celeba_aligned(shared, 16)
    m = OnnxQualityModel(baked, threads=1)
    assert m.session.get_inputs()[0].type == "tensor(uint8)"
    np.testing.assert_allclose(m.score_crops(crops), OnnxQualityModel(QualityModelConfig.load(src), threads=1).score_crops(crops),
                               atol=1e-6)

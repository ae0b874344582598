"""ONNX export: torch/onnxruntime parity on real face crops, size, config loading, the shipped model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fiqa_plugin.training.data import resize_crops
from fiqa_plugin.training.export import export_model, onnx_parity
from fiqa_plugin.training.tinyfqnet import TinyFQNet
from fiqa_plugin.training.train import to_input


@pytest.fixture(scope="module")
def lfw_crops(lfw_images):
    from fiqa_plugin.faces.pipeline import FacePipeline

    pipe = FacePipeline.from_pack("buffalo_sc", mode="largest")
    crops = [pipe.process(p).faces[0].aligned for p in lfw_images]
    return np.stack(crops)


@pytest.fixture(scope="module")
def model(lfw_crops):
    torch.manual_seed(0)
    m = TinyFQNet()
    m.train()
    with torch.no_grad():  # non-trivial BN running statistics, so folding them is exercised
        for _ in range(3):
            m(to_input(resize_crops(lfw_crops, 64)))
    return m.eval()


def test_parity_and_size(model, lfw_crops, tmp_path):
    paths = export_model(model, tmp_path, "tinyfqnet", "test", default=False)
    assert paths["onnx"].stat().st_size < 200_000
    assert onnx_parity(model, paths["onnx"], resize_crops(lfw_crops, 64)) < 1e-5


def test_exported_config_scores_like_torch(model, lfw_crops, tmp_path):
    from fiqa_plugin.quality.onnx_model import OnnxQualityModel

    paths = export_model(model, tmp_path, "tinyfqnet", "test", default=False)
    onnx_model = OnnxQualityModel.from_config(paths["json"], threads=1)
    assert onnx_model.name == "tinyfqnet.test"
    got = onnx_model.score_crops(lfw_crops)  # 112 crops: the config's preprocessing resizes them
    with torch.no_grad():
        ref = model(to_input(resize_crops(lfw_crops, 64))).numpy().reshape(-1)
    assert np.abs(got - ref).max() < 1e-5


def test_shipped_tinyfqnet(lfw_crops):
    from fiqa_plugin.paths import WEIGHTS_DIR
    from fiqa_plugin.quality.onnx_model import OnnxQualityModel, QualityModelConfig

    configs = sorted(WEIGHTS_DIR.glob("tinyfqnet.*.json"))
    assert configs, f"no shipped tinyfqnet.<tag>.json in {WEIGHTS_DIR}"
    for path in configs:
        cfg = QualityModelConfig.load(path)
        assert cfg.model_path.stat().st_size < 200_000
        assert (path.with_suffix(".md")).exists(), "every shipped model needs its model card"
        q = OnnxQualityModel(cfg, threads=1).score_crops(lfw_crops)
        assert q.shape == (len(lfw_crops),) and np.all((q > 0) & (q < 1))
        assert q.std() > 1e-3  # not a constant output

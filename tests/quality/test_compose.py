"""A quality head composed with its recognizer: one graph, [quality, embedding], equal to running both."""
from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from fiqa_plugin.quality.compose import compose_with_recognizer
from fiqa_plugin.quality.onnx_model import OnnxQualityModel, QualityModelConfig
from fiqa_plugin.training.embedding_head import EmbeddingHead, export_head, predict_head
from fiqa_plugin.training.sdd_regressor import preprocess


@pytest.fixture(scope="module")
def head_onnx(tmp_path_factory):
    torch.manual_seed(0)
    head = EmbeddingHead(512, hidden=16, scale=1 / 20.0).eval()
    return head, export_head(head, tmp_path_factory.mktemp("head") / "h.onnx")


def test_composed_graph_yields_quality_and_embedding(shared, aligned_crops, head_onnx):
    head, path = head_onnx
    rec = shared / "insightface/models/buffalo_sc/w600k_mbf.onnx"
    merged = compose_with_recognizer(path, rec, {"embedding": "516"})
    sess = ort.InferenceSession(merged.SerializeToString(), providers=["CPUExecutionProvider"])
    q, emb = sess.run(None, {sess.get_inputs()[0].name: preprocess(aligned_crops)})
    ref_sess = ort.InferenceSession(str(rec), providers=["CPUExecutionProvider"])
    ref_emb = ref_sess.run(None, {"input.1": preprocess(aligned_crops)})[0]
    np.testing.assert_allclose(emb, ref_emb, atol=1e-4)
    np.testing.assert_allclose(q[:, 0], predict_head(head, ref_emb), atol=1e-4)


def test_config_with_compose_registers_and_scores(tmp_path, aligned_crops, head_onnx):
    head, path = head_onnx
    cfg = QualityModelConfig(arch="embedding-head", tag="t", file=str(path), input_size=112, mean=127.5, std=127.5,
                             compose={"recognizer": "buffalo_sc", "recognizer_file": "w600k_mbf.onnx",
                                      "inputs": {"embedding": "516"}})
    cfg.save(tmp_path / "embedding-head.t.json")
    data = json.loads((tmp_path / "embedding-head.t.json").read_text())
    assert data["compose"]["inputs"] == {"embedding": "516"} and "output" not in data  # None fields not written
    m = OnnxQualityModel.from_config(tmp_path / "embedding-head.t.json", threads=1)
    q, emb = m.score_and_embed(aligned_crops)
    from fiqa_plugin.plugins import RECOGNIZERS

    ref = RECOGNIZERS.create("buffalo_sc", threads=1).raw(aligned_crops)
    np.testing.assert_allclose(emb, ref, atol=1e-4)
    np.testing.assert_allclose(m.score_crops(aligned_crops), predict_head(head, ref), atol=1e-4)


def test_wrong_recognizer_or_tensor_fails_loudly(tmp_path, head_onnx, shared):
    _, path = head_onnx
    with pytest.raises(ValueError, match="no tensor"):
        compose_with_recognizer(path, shared / "insightface/models/buffalo_sc/w600k_mbf.onnx", {"embedding": "nope"})
    bad = {"arch": "a", "tag": "b", "file": str(path), "compose": {"recognizer": "buffalo_sc"}}
    (tmp_path / "a.b.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="compose"):
        QualityModelConfig.load(tmp_path / "a.b.json")
    cfg = QualityModelConfig(arch="a", tag="b", file=str(path),
                             compose={"recognizer": "buffalo_sc", "recognizer_file": "r100.onnx", "inputs": {"embedding": "516"}})
    with pytest.raises(ValueError, match="r100.onnx"):
        OnnxQualityModel(cfg, threads=1)

"""ONNX → torch conversion of the real recognizers: torch reproduces onnxruntime on real LFW crops."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from fiqa_plugin.training.onnx_to_torch import OnnxGraphModule, needed_nodes
from fiqa_plugin.training.sdd_regressor import find_split, preprocess, prefix_features


def _ort(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i : i + 1]})[0] for i in range(len(x))])


@pytest.mark.parametrize("rel", ["insightface/models/buffalo_sc/w600k_mbf.onnx", "models/cross/mobilefacenet-128d.onnx"])
def test_embeddings_match_onnxruntime(shared, aligned_crops, rel):
    torch.set_num_threads(1)
    path = shared / rel
    x = preprocess(aligned_crops)
    ref = _ort(path, x)  # one crop at a time: the cross model has a fixed batch of 1
    m = OnnxGraphModule(str(path)).eval()
    with torch.no_grad():
        got = np.concatenate([m(torch.from_numpy(x[i : i + 1])).numpy() for i in range(len(x))])
    assert got.shape == ref.shape and np.abs(ref).max() > 1.0
    assert np.abs(got - ref).max() < 1e-4
    if "w600k" in rel:  # a batch too (the mbf graph has a free batch axis)
        with torch.no_grad():
            assert np.abs(m(torch.from_numpy(x)).numpy() - ref).max() < 1e-4


def test_subgraph_cut_reproduces_the_backbone(shared, aligned_crops):
    """prefix (onnxruntime, cached features) → converted suffix == the recognizer's own backbone_out."""
    torch.set_num_threads(1)
    path = shared / "insightface/models/buffalo_sc/w600k_mbf.onnx"
    model = onnx.load(str(path))
    split = find_split(model)
    assert (split.cut, split.backbone_out, split.embedding) == ("637", "513", "516")  # golden: read off the onnx node listing (Flatten←513, Gemm, BN→516; first 7×7 Add takes 637)
    feats, emb = prefix_features(path, split, aligned_crops)
    assert feats.shape[1:] == (256, 7, 7) and feats.dtype == np.float16
    np.testing.assert_allclose(emb, _ort(path, preprocess(aligned_crops)), atol=1e-4)
    suffix = OnnxGraphModule(model, inputs=[split.cut], outputs=[split.backbone_out]).eval()
    full_to_513 = OnnxGraphModule(model, outputs=[split.backbone_out]).eval()
    with torch.no_grad():
        a = suffix(torch.from_numpy(feats.astype(np.float32))).numpy()
        b = full_to_513(torch.from_numpy(preprocess(aligned_crops))).numpy()
    assert a.shape == (len(aligned_crops), 64, 7, 7)
    assert np.abs(a - b).max() < 0.02 * np.abs(b).max()  # float16 features: small, bounded difference
    n_suffix = len(needed_nodes(model.graph, [split.cut], [split.backbone_out]))
    assert 10 < n_suffix < len(model.graph.node) // 3  # a late stage only: the prefix stays frozen


def test_unsupported_op_says_which():
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])
    g = onnx.helper.make_graph([onnx.helper.make_node("Softsign", ["x"], ["y"])], "g", [x], [y])
    with pytest.raises(NotImplementedError, match="Softsign"):
        OnnxGraphModule(onnx.helper.make_model(g))

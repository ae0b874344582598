"""The shipped accurate tier ``fused-heads`` equals its formula computed from its two registered parts."""
from __future__ import annotations

import json

import numpy as np

import accurate_fusion
from fiqa_plugin.plugins import QUALITY_METHODS


def test_fused_heads_is_the_mean_of_its_standardised_parts(aligned_crops):
    cfg = json.loads((accurate_fusion.WEIGHTS / "fused-heads.celeba2-r1.json").read_text())
    got = QUALITY_METHODS.create("fused-heads.celeba2-r1").score_crops(aligned_crops)
    want = np.zeros(len(aligned_crops))
    for part, w in zip(cfg["parts"], (cfg["weight"], 1 - cfg["weight"])):
        # the constants recomputed from the calibration table, not read back from the config
        q = np.asarray(json.loads((accurate_fusion.WEIGHTS / "calibration" / f"{part}.json").read_text())["quantiles"])
        want += w * (QUALITY_METHODS.create(part).score_crops(aligned_crops) - q.mean()) / q.std()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.ptp(got) > 0.1  # real crops of different quality get different scores


def test_rebuilt_graph_matches_the_shipped_file(tmp_path, aligned_crops):
    """`python benchmarks/accurate_fusion.py` reproduces the shipped ONNX (same outputs on real crops)."""
    import onnxruntime as ort

    accurate_fusion.main(["--tag", "t", "--out", str(tmp_path)])
    feats = {"features": np.random.default_rng(0).standard_normal((3, 256, 7, 7)).astype(np.float32),
             "embedding": np.random.default_rng(1).standard_normal((3, 512)).astype(np.float32) * 20}
    run = lambda p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, feats)[0]
    np.testing.assert_allclose(run(tmp_path / "fused-heads.t.onnx"),
                               run(accurate_fusion.WEIGHTS / "fused-heads.celeba2-r1.onnx"), rtol=1e-6, atol=1e-6)

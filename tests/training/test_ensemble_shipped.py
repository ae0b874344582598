"""The shipped ensemble: registered, small, torch-free, and it ranks real degraded faces lower."""
from __future__ import annotations

import json

import cv2
import numpy as np

from fiqa_plugin.paths import WEIGHTS_DIR

TAG = "celeba-r1"


def test_shipped_ensemble_is_registered_and_small():
    from fiqa_plugin.plugins import QUALITY_METHODS

    for ext in ("onnx", "json", "md"):
        assert (WEIGHTS_DIR / f"ensemble.{TAG}.{ext}").exists()
    assert (WEIGHTS_DIR / f"ensemble.{TAG}.onnx").stat().st_size < 10_000_000
    cfg = json.loads((WEIGHTS_DIR / f"ensemble.{TAG}.json").read_text())
    assert cfg["views"] == ["identity", "hflip", "vflip"] and cfg["backbone_weights"] == "none (trained from scratch)"
    assert f"ensemble.{TAG}" in QUALITY_METHODS and "ensemble" in QUALITY_METHODS


def test_shipped_ensemble_scores_real_faces(aligned_crops):
    from fiqa_plugin.plugins import QUALITY_METHODS

    m = QUALITY_METHODS.create(f"ensemble.{TAG}", threads=1)
    clean = m.score_crops(aligned_crops)
    blurred = m.score_crops(np.stack([cv2.GaussianBlur(c, (0, 0), 4.0) for c in aligned_crops]))
    assert clean.shape == (len(aligned_crops),) and np.isfinite(clean).all()
    assert (clean > blurred).all()  # heavy blur makes LFW faces harder to recognise

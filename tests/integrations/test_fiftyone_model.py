"""The FiftyOne Model and helpers on real LFW photographs (onnxruntime only)."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

import fiftyone as fo

from fiqa_plugin.integrations.fiftyone import (
    FIQAModel, compute_quality, export_model, load_model, select_by_quality, tag_or_save,
)
from fiqa_plugin.scoring import QualityScorer


@pytest.fixture(scope="module")
def lq_faces():
    return load_model("lightqnet", batch_size=8)


def test_apply_model_writes_best_face_quality(make_dataset, lfw20):
    ds = make_dataset(lfw20[:8])
    ds.apply_model(load_model("lightqnet", store_faces=False), label_field="quality", batch_size=4)
    q = ds.values("quality")
    ref = {}
    for r in QualityScorer("lightqnet", mode="all").score(lfw20[:8]):
        ref[r.source] = max(ref.get(r.source, -1.0), r.quality)
    np.testing.assert_allclose(q, [ref[p] for p in lfw20[:8]], atol=1e-5)
    assert isinstance(ds.get_field("quality"), fo.FloatField)


def test_apply_model_stores_faces_as_detections(make_dataset, lfw20, lq_faces):
    ds = make_dataset(lfw20[:6])
    ds.apply_model(lq_faces, label_field="fiqa", batch_size=3)
    for s in ds:
        dets = s.fiqa_faces.detections
        assert dets and all(d.label == "face" for d in dets)
        assert s.fiqa_quality == pytest.approx(max(d.quality for d in dets))
        for d in dets:
            x, y, w, h = d.bounding_box
            assert 0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 and 0 < h <= 1
            assert len(d.landmarks) == 5 and 0 < d.confidence <= 1
            # landmarks lie inside (or on) the face box
            lm = np.array(d.landmarks)
            assert (lm[:, 0] > x - 0.05).all() and (lm[:, 0] < x + w + 0.05).all()
        assert len(s.fiqa_landmarks.keypoints) == len(dets)
        assert not s.has_field("fiqa_error") or s.get_field("fiqa_error") is None


def test_compute_quality_survives_bad_files_and_resumes(make_dataset, lfw20, bad_files, lq_faces):
    ds = make_dataset(lfw20 + bad_files)
    seen = []
    counts = compute_quality(ds, lq_faces, faces_field="faces", batch_size=8, progress=lambda d, t: seen.append((d, t)))
    assert counts == {"total": 22, "scored": 20, "failed": 2, "skipped": 0}
    assert seen[-1] == (22, 22)
    q, err = ds.values("quality"), ds.values("quality_error")
    assert all(v is not None for v in q[:20]) and q[20:] == [None, None]
    assert err[:20] == [None] * 20 and "corrupt.jpg" in err[20] and "missing.jpg" in err[21]
    assert ds.count("faces.detections") >= 20

    # A restarted job only scores what is not done yet.
    redo = ds.limit(3)
    redo.set_field("quality", None).save("quality")
    counts = compute_quality(ds, lq_faces, faces_field="faces", skip_existing=True)
    assert counts == {"total": 22, "scored": 3, "failed": 0, "skipped": 19}
    np.testing.assert_allclose(ds.values("quality")[:20], q[:20], atol=1e-6)


def test_prealigned_crops(make_dataset, tmp_path, pipeline_largest, lfw20):
    from fiqa_plugin import QUALITY_METHODS

    crops = [pipeline_largest.process(p).faces[0].aligned for p in lfw20[:4]]
    paths = []
    for i, c in enumerate(crops):
        paths.append(str(tmp_path / f"crop{i}.png"))
        cv2.imwrite(paths[-1], c)
    ds = make_dataset(paths)
    model = load_model("lightqnet", detect_faces=False)
    assert isinstance(model, FIQAModel) and not model.store_faces
    ds.apply_model(model, label_field="quality", batch_size=4)
    ref = QUALITY_METHODS.create("lightqnet").score_crops(np.stack(crops))
    np.testing.assert_allclose(ds.values("quality"), ref, atol=1e-5)


def test_select_tag_and_save_view(make_dataset, lfw20):
    ids = [f"id{i % 3}" for i in range(12)]
    ds = make_dataset(lfw20[:12], quality=[0.1 * i for i in range(11)] + [None], identity=ids)
    assert len(select_by_quality(ds, threshold=0.35)) == 5  # 0, .1, .2, .3 and the unscored one
    low = select_by_quality(ds, lowest_k=2)
    assert low.values("quality") == [None, 0.0]
    best = select_by_quality(ds, best_k_per=1, group_field="identity")
    assert sorted(best.values("identity")) == ["id0", "id1", "id2"]
    assert sorted(best.values("quality")) == pytest.approx([0.8, 0.9, 1.0])
    out = tag_or_save(low, tag="low_quality", view_name="worst")
    assert out == {"count": 2, "tag": "low_quality", "view": "worst"}
    assert ds.count_sample_tags() == {"low_quality": 2}
    assert len(ds.load_saved_view("worst")) == 2
    with pytest.raises(ValueError):
        select_by_quality(ds, threshold=0.1, lowest_k=3)


def test_export_model(tmp_path):
    from fiqa_plugin.quality.onnx_model import OnnxQualityModel

    out = export_model("lightqnet", tmp_path / "exp")
    cfg = json.loads(open(out["config"]).read())
    assert cfg["file"] == "lightqnet.dm100.onnx"
    model = OnnxQualityModel.from_config(out["config"])  # loads from the copy
    assert model.config.model_path == (tmp_path / "exp" / "lightqnet.dm100.onnx").resolve()
    with pytest.raises(ValueError, match="not an ONNX model"):
        export_model("blur", tmp_path / "x")


def test_adapter_never_imports_torch(lfw20):
    code = (
        "import sys, fiftyone\n"
        "from fiqa_plugin.integrations.fiftyone import load_model\n"
        f"print(load_model('lightqnet', store_faces=False).predict_all({lfw20[:2]!r}))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]

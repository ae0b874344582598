"""FaceAnalysis with quality, on InsightFace's own t1.jpg (six faces) and the shared buffalo_sc pack."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from fiqa_plugin.paths import insightface_root, pack_dir
from fiqa_plugin.plugins import QUALITY_METHODS
from fiqa_plugin.quality.base import CropQualityMethod


def _crop_methods() -> list:
    """Registered crop-based quality methods (the ``onnx`` entry needs a config, so it is left out)."""
    names = []
    for e in QUALITY_METHODS.entries():
        if e.tags.get("kind") == "external":
            continue
        cls = e.factory if isinstance(e.factory, type) else None
        if cls is not None and not issubclass(cls, CropQualityMethod):
            continue
        names.append(e.name)
    return names


CROP_METHODS = _crop_methods()
FACE_METHODS = ["pose", "perceptual", "jpeg", "detector-confidence", "embedding-norm"]


@pytest.fixture(scope="module")
def t1(group_photo) -> np.ndarray:
    img = cv2.imread(group_photo)
    assert img is not None, group_photo
    return img


@pytest.fixture(scope="module")
def plain_faces(t1):
    """Plain InsightFace on t1.jpg: the reference embeddings."""
    from insightface.app import FaceAnalysis

    app = FaceAnalysis(name="buffalo_sc", root=str(insightface_root()), providers=["CPUExecutionProvider"])
    app.prepare(ctx_id=-1)
    faces = app.get(t1)
    assert len(faces) == 6
    return faces


def _app(**kw):
    from fiqa_plugin.integrations.insightface import FaceAnalysis

    app = FaceAnalysis(name="buffalo_sc", providers=["CPUExecutionProvider"], **kw)
    app.prepare(ctx_id=-1)
    return app


def _in_range(q: float, rng) -> bool:
    lo, hi = (rng or (None, None))
    return math.isfinite(q) and (lo is None or q >= lo - 1e-6) and (hi is None or q <= hi + 1e-6)


def test_tinyfqnet_is_among_the_crop_methods():
    assert "tinyfqnet" in CROP_METHODS and "blur" in CROP_METHODS and "lightqnet" in CROP_METHODS


@pytest.mark.parametrize("method", CROP_METHODS + FACE_METHODS)
def test_every_face_gets_a_quality_and_the_same_embedding(method, t1, plain_faces):
    app = _app(quality_model=method)
    faces = app.get(t1)
    assert len(faces) == len(plain_faces) == 6
    rng = app.quality_method.score_range
    for f, ref in zip(faces, plain_faces):
        assert f.quality_method == app.quality_method.name
        assert isinstance(f.quality, float) and _in_range(f.quality, rng), (method, f.quality, rng)
        assert np.array_equal(f.embedding, ref.embedding)
        assert np.array_equal(f.bbox, ref.bbox)


def test_quality_false_is_plain_insightface(t1, plain_faces):
    faces = _app(quality=False).get(t1)
    assert all(np.array_equal(f.embedding, r.embedding) for f, r in zip(faces, plain_faces))
    assert all("quality" not in f for f in faces)


def test_quality_uses_the_recognizer_crop(t1):
    """The quality method sees exactly the crop InsightFace's recognizer embedded."""
    from insightface.utils import face_align

    seen = []

    class Spy(CropQualityMethod):
        name = "spy"

        def score_crops(self, crops):
            seen.append(crops.copy())
            return np.ones(len(crops), np.float32)

    app = _app(quality_model=Spy())
    faces = app.get(t1)
    assert len(seen) == 1 and seen[0].shape == (6, 112, 112, 3)  # one batch per image
    rec = app.models["recognition"]
    for f, crop in zip(faces, seen[0]):
        assert np.array_equal(crop, face_align.norm_crop(t1, landmark=f.kps, image_size=112))
        assert np.array_equal(rec.inner.get_feat(crop).flatten(), f.embedding)


def test_lfw_photo_one_face(lfw_images):
    app = _app()
    faces = app.get(cv2.imread(lfw_images[0]))
    assert len(faces) >= 1 and math.isfinite(faces[0].quality) and 0.0 <= faces[0].quality_score <= 100.0


def test_default_quality_model_is_the_scoring_default_for_buffalo_sc():
    """buffalo_sc's recognizer runs anyway: the default is the policy's (the accurate tier, one pass)."""
    from fiqa_plugin.plugins import QUALITY_METHODS
    from fiqa_plugin.scoring import default_method

    app = _app()
    want = default_method(app.models["recognition"].model_file)
    assert app.quality_method.name == QUALITY_METHODS.entry(want).tags["config"].name


def test_unknown_quality_model_names_the_choices():
    with pytest.raises(KeyError, match="tinyfqnet"):
        _app(quality_model="tinyfqnt")


# --- quality ONNX stored inside a model pack ----------------------------------------------


def _mean_brightness_onnx(path: Path, size: int) -> None:
    """A tiny real ONNX 'quality model' with a square NCHW input: sigmoid(mean pixel)."""
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input"], ["p"]),
         helper.make_node("Flatten", ["p"], ["f"]),
         helper.make_node("ReduceMean", ["f"], ["m"], axes=[1], keepdims=1),
         helper.make_node("Sigmoid", ["m"], ["score"])],
        "brightness",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch", 1])],
    )
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))


@pytest.fixture()
def user_pack(tmp_path) -> Path:
    """buffalo_sc's two models linked into a fresh pack, plus quality models that InsightFace's
    shape-based router would claim (112×112 → recognition, sorting before w600k; 96×96 → attribute)
    and the shipped 64×64 tinyFQnet with its config."""
    from fiqa_plugin.paths import WEIGHTS_DIR

    d = tmp_path / "models" / "mypack"
    d.mkdir(parents=True)
    for f in ("det_500m.onnx", "w600k_mbf.onnx"):
        os.symlink(pack_dir("buffalo_sc") / f, d / f)
    _mean_brightness_onnx(d / "bright.v1.onnx", 112)
    (d / "bright.v1.json").write_text(json.dumps(
        {"arch": "bright", "tag": "v1", "file": "bright.v1.onnx", "input_size": 112, "score_range": [0, 1]}))
    _mean_brightness_onnx(d / "attr96-fiqa.onnx", 96)  # no config: protected by its name alone
    for ext in ("onnx", "json"):
        src = WEIGHTS_DIR / f"tinyfqnet.celeba-r2.{ext}"
        assert src.exists(), f"{src} missing: the shipped tinyFQnet model is needed"
        (d / src.name).write_bytes(src.read_bytes())
    return d


def test_plain_insightface_misroutes_pack_quality_models(user_pack):
    """Why the protection exists: InsightFace alone takes the 112×112 quality model for its recognizer."""
    from insightface.app import FaceAnalysis

    app = FaceAnalysis(name=str(user_pack), providers=["CPUExecutionProvider"])
    assert Path(app.models["recognition"].model_file).name == "bright.v1.onnx"
    assert "attribute_1" in app.models


def test_pack_quality_models_are_found_by_name_and_never_misrouted(user_pack, t1, plain_faces):
    from fiqa_plugin.integrations.insightface import FaceAnalysis, quality_files_in_pack

    assert {Path(p).name for p in quality_files_in_pack(user_pack)} == {
        "bright.v1.onnx", "attr96-fiqa.onnx", "tinyfqnet.celeba-r2.onnx"}
    for spec, name in (("bright", "bright.v1"), ("tinyfqnet.celeba-r2", "tinyfqnet.celeba-r2")):
        app = FaceAnalysis(name=str(user_pack), quality_model=spec, providers=["CPUExecutionProvider"])
        app.prepare(ctx_id=-1)
        assert sorted(app.models) == ["detection", "recognition"]
        assert Path(app.models["recognition"].model_file).name == "w600k_mbf.onnx"
        assert Path(app.quality_method.config.model_path).parent == user_pack.resolve()
        faces = app.get(t1)
        assert len(faces) == 6
        assert all(np.array_equal(f.embedding, r.embedding) for f, r in zip(faces, plain_faces))
        assert all(f.quality_method == name and 0.0 <= f.quality <= 1.0 for f in faces)


def test_pack_quality_model_is_the_default_for_its_pack(user_pack):
    from fiqa_plugin.integrations.insightface import FaceAnalysis

    app = FaceAnalysis(name=str(user_pack), providers=["CPUExecutionProvider"])
    assert app.quality_method.name == "bright.v1"  # the first config by file name
    assert Path(app.models["recognition"].model_file).name == "w600k_mbf.onnx"

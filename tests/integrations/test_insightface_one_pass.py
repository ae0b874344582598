"""FaceAnalysis(quality=True) with a head on the pack's own recognizer: quality from the recognition pass.

References are independent of the one-pass code: plain InsightFace for the embeddings, and the
registered model's composed graph (:class:`OnnxQualityModel`, recognizer + head in one ONNX graph,
preprocessing inside it) on the same aligned crops for the quality.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from fiqa_plugin.paths import insightface_root, pack_dir
from fiqa_plugin.plugins import QUALITY_METHODS
from fiqa_plugin.scoring import ACCURATE_METHOD, DEFAULT_METHOD

N_LFW = 12  # real LFW photos (plus t1.jpg's six faces)


def _name(method: str) -> str:
    """``arch.tag`` a registered name stands for, read from its config (no model built)."""
    cfg = QUALITY_METHODS.entry(method).tags.get("config")
    return cfg.name if cfg is not None else method


def _app(**kw):
    from fiqa_plugin.integrations.insightface import FaceAnalysis

    kw.setdefault("name", "buffalo_sc")
    app = FaceAnalysis(providers=["CPUExecutionProvider"], **kw)
    app.prepare(ctx_id=-1)
    return app


@pytest.fixture(scope="module")
def images(shared, group_photo) -> list:
    paths = sorted((shared / "data" / "lfw" / "images").glob("*/*.jpg"))[:N_LFW]
    assert len(paths) == N_LFW, "LFW images missing from the shared folder"
    return [cv2.imread(str(p)) for p in [Path(group_photo), *paths]]


@pytest.fixture(scope="module")
def plain():
    """Plain InsightFace on the same pack: the reference embeddings."""
    from insightface.app import FaceAnalysis

    app = FaceAnalysis(name="buffalo_sc", root=str(insightface_root()), providers=["CPUExecutionProvider"])
    app.prepare(ctx_id=-1)
    return app


def _crops(img: np.ndarray, faces: list) -> np.ndarray:
    from insightface.utils import face_align

    return np.stack([face_align.norm_crop(img, landmark=f.kps, image_size=112) for f in faces])


def test_the_accurate_tier_is_the_default_on_its_recognizer():
    app = _app()
    assert ACCURATE_METHOD in QUALITY_METHODS
    # the registry's default tag of the accurate tier's architecture (celeba2-r1 when this was written)
    assert app.quality_method.name == _name(ACCURATE_METHOD) != _name(DEFAULT_METHOD)
    assert app.quality_method.config.compose["recognizer_file"] == "w600k_mbf.onnx"
    assert app.one_pass


@pytest.mark.parametrize("method", [ACCURATE_METHOD, "sdd-regressor"])
def test_one_pass_keeps_the_embedding_and_equals_the_composed_model(method, images, plain):
    app = _app(quality_model=method)
    assert app.one_pass
    # the composed graph is never run: quality comes from the recognizer's own pass, one run per face
    app.quality_method.score_crops = lambda crops: pytest.fail("the composed model ran a second recognizer pass")
    rec = app.models["recognition"].inner
    runs = []
    run = rec.session.run
    rec.session.run = lambda *a, **k: runs.append(1) or run(*a, **k)
    reference = QUALITY_METHODS.create(method, threads=1)  # composed with the registered buffalo_sc
    n = 0
    for img in images:
        faces, ref_faces = app.get(img), plain.get(img)
        assert len(faces) == len(ref_faces) >= 1
        for f, r in zip(faces, ref_faces):
            assert np.array_equal(f.embedding, r.embedding)
            assert np.array_equal(f.bbox, r.bbox)
        q = np.array([f.quality for f in faces], np.float32)
        np.testing.assert_allclose(q, reference.score_crops(_crops(img, faces)), rtol=0, atol=1e-5)
        assert all(f.quality_method == reference.name for f in faces)
        n += len(faces)
    assert n >= N_LFW + 6 and len(runs) == n


def test_faces_the_recognizer_skipped_get_the_composed_score(images):
    """Without the recognizer's tensors (e.g. the liveness add-on skipped recognition) a face is scored
    by the whole composed graph, on the same crop: the same number."""
    app = _app()
    img = images[0]
    faces = app.get(img)
    one_pass = np.array([f.quality for f in faces])
    app._shared.clear()  # as if recognition had not run on these faces
    app._score(img, faces)
    np.testing.assert_allclose([f.quality for f in faces], one_pass, rtol=0, atol=1e-5)


def test_quality_model_overrides_the_default(images, plain):
    app = _app(quality_model=DEFAULT_METHOD)
    assert app.quality_method.name == _name(DEFAULT_METHOD) and not app.one_pass
    faces = app.get(images[0])
    assert all(np.array_equal(f.embedding, r.embedding) for f, r in zip(faces, plain.get(images[0])))


def test_without_a_recognizer_the_default_is_the_package_default():
    app = _app(allowed_modules=["detection"])
    assert "recognition" not in app.models
    assert app.quality_method.name == _name(DEFAULT_METHOD) and not app.one_pass


def _pack(tmp_path: Path, recognizer: Path, as_name: str) -> Path:
    d = tmp_path / "models" / "otherpack"
    d.mkdir(parents=True)
    os.symlink(pack_dir("buffalo_sc") / "det_500m.onnx", d / "det_500m.onnx")
    os.symlink(recognizer, d / as_name)
    return d


@pytest.fixture()
def mfn(shared) -> Path:
    p = shared / "models" / "cross" / "mobilefacenet-128d.onnx"
    assert p.exists(), f"{p} missing: restore shared/models/cross"
    return p


@pytest.mark.parametrize("as_name", ["mobilefacenet-128d.onnx", "w600k_mbf.onnx"])
def test_another_recognizer_falls_back_to_the_package_default(as_name, tmp_path, mfn, images):
    """A pack whose recognizer is not the accurate tier's (by file name, or by graph under the right
    name): the default is DEFAULT_METHOD, and an explicit request runs the composed model (two passes)."""
    from insightface.app import FaceAnalysis as Plain

    d = _pack(tmp_path, mfn, as_name)
    app = _app(name=str(d))
    assert Path(app.models["recognition"].model_file).name == as_name
    assert app.quality_method.name == _name(DEFAULT_METHOD) and not app.one_pass
    explicit = _app(name=str(d), quality_model=ACCURATE_METHOD)
    assert explicit.quality_method.name == _name(ACCURATE_METHOD) and not explicit.one_pass
    plain = Plain(name=str(d), providers=["CPUExecutionProvider"])
    plain.prepare(ctx_id=-1)
    img = images[1]
    faces, ref = explicit.get(img), plain.get(img)
    assert len(faces) == len(ref) >= 1
    assert all(np.array_equal(f.embedding, r.embedding) for f, r in zip(faces, ref))
    np.testing.assert_allclose([f.quality for f in faces],
                               QUALITY_METHODS.create(ACCURATE_METHOD, threads=1).score_crops(_crops(img, faces)),
                               rtol=0, atol=1e-5)


def test_default_method_policy_reads_the_accurate_tiers_config():
    from fiqa_plugin.scoring import default_method

    comp = QUALITY_METHODS.entry(ACCURATE_METHOD).tags["config"].compose
    assert default_method(None) == DEFAULT_METHOD  # no recognizer running
    assert default_method(comp["recognizer"]) == ACCURATE_METHOD  # a registered recognizer name
    assert default_method(f"/any/pack/{comp['recognizer_file']}") == ACCURATE_METHOD  # an InsightFace pack's file
    assert default_method("mobilefacenet-128d") == DEFAULT_METHOD
    assert default_method("/any/pack/glintr100.onnx") == DEFAULT_METHOD

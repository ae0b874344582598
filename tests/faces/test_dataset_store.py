"""The face dataset's per-image cache (faces/dataset.py: ImageStore, FaceStore), which the benchmark
harness, ``fiqa label`` and training all read: same arrays as direct pipeline and recognizer calls,
read back from disk on a second call, extended image by image."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from fiqa_plugin.faces import dataset as D
from fiqa_plugin.faces.pipeline import FacePipeline


@pytest.fixture(scope="module")
def golden(lfw_images):
    """Largest face of each image and its buffalo_sc embedding, straight from FacePipeline and the recognizer."""
    from fiqa_plugin.plugins import RECOGNIZERS

    pipe = FacePipeline.from_pack("buffalo_sc", mode="largest")
    faces = [pipe.process(p).faces[0] for p in lfw_images]
    emb = RECOGNIZERS.create("buffalo_sc", threads=1).embed(np.stack([f.aligned for f in faces]))
    return faces, emb.normed, emb.norms


def _check(fc, faces, normed=None, norms=None, emb=None):
    assert list(fc.status) == ["ok"] * len(faces)
    np.testing.assert_array_equal(fc.crops, np.stack([f.aligned for f in faces]))
    np.testing.assert_array_equal(fc.landmarks, np.stack([f.landmarks for f in faces]).astype(np.float32))
    np.testing.assert_array_equal(fc.bbox, np.stack([f.bbox for f in faces]).astype(np.float32))
    np.testing.assert_array_equal(fc.det_score, np.array([f.det_score for f in faces], np.float32))
    if emb is not None:
        np.testing.assert_allclose(emb[0], normed, rtol=0, atol=1e-6)
        np.testing.assert_allclose(emb[1], norms, rtol=1e-6)


def test_faces_and_embeddings_are_cached_per_image_and_extended(lfw_images, golden, tmp_path, monkeypatch):
    faces, normed, norms = golden
    root = os.path.dirname(os.path.dirname(lfw_images[0]))
    rel = [os.path.relpath(p, root) for p in lfw_images]
    store = D.FaceStore(tmp_path, root)
    fc = store.faces(rel[:3])
    _check(fc, faces[:3], normed[:3], norms[:3], store.embeddings(fc, "buffalo_sc", threads=1))

    # a fresh store on the same folder (another run): the first three come from disk, only the new two are computed
    detected, embedded = [], []
    process, embed_crops = FacePipeline.process, D.embed_crops
    monkeypatch.setattr(FacePipeline, "process", lambda self, src: detected.append(src) or process(self, src))
    monkeypatch.setattr(D, "embed_crops", lambda rec, crops, *a, **k: embedded.append(len(crops)) or embed_crops(rec, crops, *a, **k))
    again = D.FaceStore(tmp_path, root)
    fc2 = again.faces(rel[:3])
    assert detected == [] and fc2.key == fc.key
    _check(fc2, faces[:3], normed[:3], norms[:3], again.embeddings(fc2, "buffalo_sc", threads=1))
    assert embedded == []
    fc5 = again.faces(rel[::-1])  # any order: rows follow the names asked for
    assert sorted(detected) == sorted(lfw_images[3:])
    _check(fc5, faces[::-1], normed[::-1], norms[::-1], again.embeddings(fc5, "buffalo_sc", threads=1))
    assert embedded == [2]


def test_an_image_without_a_face_keeps_its_status_and_zeros(lfw_images, golden, tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    store = D.FaceStore(tmp_path / "cache")
    fc = store.faces([str(blank), lfw_images[0]])
    assert fc.status[0].startswith("no_face") and fc.status[1] == "ok" and list(fc.ok) == [False, True]
    assert not fc.crops[0].any() and np.isnan(fc.det_score[0])
    normed, norms = store.embeddings(fc, "buffalo_sc", threads=1)
    assert not normed[0].any() and norms[0] == 0
    np.testing.assert_allclose(normed[1], golden[1][0], rtol=0, atol=1e-6)


def test_image_store_keys_shards_and_damage(tmp_path, caplog):
    s = D.ImageStore(tmp_path, "k1")
    s.add(["a", "b"], {"x": np.array([1.0, 2.0]), "s": np.array(["ok", "no_face"])})
    s.add(["c"], {"x": np.array([3.0]), "s": np.array(["ok"])})
    assert s.missing(["c", "d", "a", "d"]) == ["d"]
    got = D.ImageStore(tmp_path, "k1").take(["c", "a", "b"])
    assert got["x"].tolist() == [3.0, 1.0, 2.0] and got["s"].tolist() == ["ok", "ok", "no_face"]
    (tmp_path / "zz-damaged.npz").write_bytes(b"not a zip")
    assert D.ImageStore(tmp_path, "k1").missing(["a", "b", "c"]) == []
    assert "damaged" in caplog.text
    other = D.ImageStore(tmp_path, "k2")  # other settings: the old shards are stale and go
    assert other.missing(["a"]) == ["a"] and len(list(tmp_path.glob("*.npz"))) == 1  # only the damaged file is left

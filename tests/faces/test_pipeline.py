"""Detection, alignment and per-image status on real photographs."""
import cv2
import numpy as np
import pytest

from fiqa_plugin.faces import FacePipeline, ScrfdDetector
from fiqa_plugin.paths import pack_dir


@pytest.fixture(scope="module")
def insightface_app(shared):
    from insightface.app import FaceAnalysis

    app = FaceAnalysis(name="buffalo_sc", root=str(shared / "insightface"), providers=["CPUExecutionProvider"])
    app.prepare(ctx_id=-1, det_size=(640, 640))
    return app


def test_detector_matches_insightface(insightface_app, group_photo, lfw_images):
    """Our numpy SCRFD post-processing reproduces InsightFace's boxes and landmarks."""
    # InsightFace letterboxes to 640: compare the post-processing on that same input.
    det = ScrfdDetector(next(pack_dir("buffalo_sc").glob("det_*.onnx")), fit_input=False)
    for path in [group_photo] + lfw_images[:2]:
        img = cv2.imread(path)
        ours = sorted(det.detect(img), key=lambda d: d.bbox[0])
        ref = sorted(insightface_app.get(img), key=lambda f: f.bbox[0])
        assert len(ours) == len(ref) > 0
        for a, b in zip(ours, ref):
            np.testing.assert_allclose(a.bbox, b.bbox, atol=1e-2)
            np.testing.assert_allclose(a.landmarks, b.kps, atol=1e-2)
            assert a.score == pytest.approx(float(b.det_score), abs=1e-4)


def test_all_mode_finds_six_faces(pipeline_all, group_photo):
    r = pipeline_all.process(group_photo)
    assert r.status == "ok" and len(r.faces) == 6
    for f in r.faces:
        assert f.aligned.shape == (112, 112, 3) and f.aligned.dtype == np.uint8
        assert 0.5 <= f.det_score <= 1.0
    assert [f.index for f in r.faces] == list(range(6))


def test_largest_mode_returns_biggest_face(pipeline_largest, pipeline_all, group_photo):
    faces = pipeline_all.process(group_photo).faces
    areas = [(f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]) for f in faces]
    one = pipeline_largest.process(group_photo).faces
    assert len(one) == 1
    np.testing.assert_allclose(one[0].bbox, faces[int(np.argmax(areas))].bbox)


def test_aligned_mode_skips_detection(pipeline_largest, lfw_images, tmp_path):
    crop = pipeline_largest.process(lfw_images[0]).faces[0].aligned
    p = tmp_path / "crop.png"
    cv2.imwrite(str(p), crop)
    r = FacePipeline(mode="aligned").process(str(p))
    assert r.status == "ok" and len(r.faces) == 1
    assert np.array_equal(r.faces[0].aligned, crop)
    assert np.isnan(r.faces[0].det_score)


def test_no_face_is_explicit(pipeline_largest, tmp_path):
    p = tmp_path / "wall.png"
    cv2.imwrite(str(p), np.full((300, 400, 3), 128, np.uint8))
    r = pipeline_largest.process(str(p))
    assert r.status == "no_face" and r.faces == [] and "no face" in r.error


def test_bad_file_status_passes_through(pipeline_largest, tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("hello")
    r = pipeline_largest.process(str(p))
    assert r.status == "not_an_image" and not r.ok


def test_huge_image_landmarks_in_original_coordinates(lfw_images, tmp_path):
    # Both images on the same 640 letterbox, so only the coordinate mapping is compared (an input sized
    # to each image adds the detector's scale jitter: tests/faces/test_detector_input.py).
    pipeline_largest = FacePipeline.from_pack("buffalo_sc", mode="largest", fit_input=False)
    img = cv2.imread(lfw_images[0])
    small = pipeline_largest.process(lfw_images[0]).faces[0]
    big = cv2.resize(img, (250 * 20, 250 * 20), interpolation=cv2.INTER_LINEAR)  # 5000 px: downscaled on decode
    p = tmp_path / "big.jpg"
    cv2.imwrite(str(p), big, [cv2.IMWRITE_JPEG_QUALITY, 80])
    r = pipeline_largest.process(str(p))
    assert r.status == "ok" and r.image_size == (5000, 5000)
    np.testing.assert_allclose(r.faces[0].landmarks / 20.0, small.landmarks, atol=2.0)


def test_tiny_image_reported(pipeline_largest, lfw_images, tmp_path):
    p = tmp_path / "tiny.png"
    cv2.imwrite(str(p), cv2.resize(cv2.imread(lfw_images[0]), (16, 16)))
    r = pipeline_largest.process(str(p))
    assert r.tiny
    assert r.status in ("ok", "no_face")
    if not r.ok:
        assert "tiny" in r.error


def test_list_images(tmp_path, lfw_images):
    from fiqa_plugin.faces.pipeline import list_images

    lst = tmp_path / "list.txt"
    lst.write_text("\n".join(lfw_images[:2]) + "\n# comment\n")
    assert list_images(str(lst)) == lfw_images[:2]
    folder = str(__import__("pathlib").Path(lfw_images[3]).parent)
    assert len(list_images(folder)) >= 2
    with pytest.raises(FileNotFoundError, match="no images found"):
        list_images(str(tmp_path / "nothing*.jpg"))


def test_small_photo_retried_at_smaller_detector_size(shared):
    """LFW's Chan_Gailey_0001 (250 px) has no face at 640×640 letterboxing but one at 320."""
    path = shared / "data" / "lfw" / "images" / "Chan_Gailey" / "Chan_Gailey_0001.jpg"
    img = cv2.imread(str(path))
    model = next(pack_dir("buffalo_sc").glob("det_*.onnx"))
    assert ScrfdDetector(model, retry_size=None, fit_input=False).detect(img) == []
    for det in (ScrfdDetector(model, fit_input=False), ScrfdDetector(model)):  # retried; found at its own 256 px
        dets = det.detect(img)
        assert len(dets) >= 1 and dets[0].score >= 0.5

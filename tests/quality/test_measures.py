import cv2
import numpy as np
import pytest

from fiqa_plugin import QUALITY_METHODS
from fiqa_plugin.faces.align import ARCFACE_TEMPLATE
from fiqa_plugin.quality import measures


def _laplacian_var_reference(crop_bgr):
    """Independent: 4-neighbour Laplacian with reflect-101 borders, in numpy."""
    g = cv2.cvtColor(crop_bgr[16:112, 16:96], cv2.COLOR_BGR2GRAY).astype(np.float64)
    p = np.pad(g, 1, mode="reflect")
    lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * g
    return lap.var()


def test_laplacian_variance_golden(aligned_crops):
    for c in aligned_crops:
        assert measures.laplacian_variance(c) == pytest.approx(_laplacian_var_reference(c), rel=1e-4)


def test_blur_lowers_sharpness(aligned_crops):
    m = QUALITY_METHODS.create("blur")
    sharp = m.score_crops(aligned_crops)
    blurred = m.score_crops(np.stack([cv2.GaussianBlur(c, (0, 0), 2.0) for c in aligned_crops]))
    assert (blurred < 0.5 * sharp).all()


def test_blockiness_golden():
    rng = np.random.default_rng(0)
    blocks = np.kron(rng.integers(0, 255, (8, 8)), np.ones((8, 8))).astype(np.uint8)
    assert measures.blockiness(blocks) > 50  # all variation sits on block borders
    smooth = np.tile(np.linspace(0, 255, 64), (64, 1)).astype(np.uint8)
    assert measures.blockiness(smooth) == pytest.approx(1.0, abs=0.05)


def test_jpeg_compression_detected(lfw_images):
    img = cv2.imread(lfw_images[0])[64:192, 64:192]
    def encoded(q):
        return cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_COLOR)
    assert measures.blockiness(encoded(5)) > measures.blockiness(encoded(95)) + 0.2


def test_head_pose_frontal_and_roll():
    yaw, pitch, roll = measures.head_pose(ARCFACE_TEMPLATE)
    assert abs(yaw) < 1 and abs(pitch) < 1 and abs(roll) < 1
    a = np.radians(25)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    y2, p2, r2 = measures.head_pose(ARCFACE_TEMPLATE @ rot.T * 2 + 100)
    assert r2 - roll == pytest.approx(25, abs=1e-6)  # the template's eyes are not exactly level
    assert y2 == pytest.approx(yaw, abs=1e-6) and p2 == pytest.approx(pitch, abs=1e-6)


def test_head_pose_recovers_projected_yaw():
    # A 3-D face with the module's proportions, turned by yaw, projected orthographically.
    pts3 = np.array([[-3.2, 0, 0], [3.2, 0, 0], [0, 7.0 * measures._RHO0, -2.5], [-2.5, 7.0, 0], [2.5, 7.0, 0]])
    for deg in (-40, -15, 0, 20, 45):
        t = np.radians(deg)
        r = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
        yaw, pitch, _ = measures.head_pose((pts3 @ r.T)[:, :2])
        assert yaw == pytest.approx(-deg, abs=0.5)
        assert abs(pitch) < 0.5


def test_pose_quality_prefers_frontal(pipeline_all, group_photo):
    faces = pipeline_all.process(group_photo).faces
    q = QUALITY_METHODS.create("pose").score_faces(faces)
    assert q.shape == (6,) and ((0 <= q) & (q <= 1)).all()
    mirrored = [f.landmarks.copy() for f in faces]
    for lm in mirrored:
        lm[:, 0] = -lm[:, 0]
        lm[[0, 1, 3, 4]] = lm[[1, 0, 4, 3]]  # left/right swap under mirroring
    for f, lm in zip(faces, mirrored):
        yaw, _, _ = measures.head_pose(f.landmarks)
        yaw_m, _, _ = measures.head_pose(lm)
        assert yaw_m == pytest.approx(-yaw, abs=1e-6)


def _methods_without_arguments() -> list:
    # "external" needs a config path; user models live only on one machine
    return [e.name for e in QUALITY_METHODS.entries() if e.tags.get("kind") not in ("external", "user")]


@pytest.mark.parametrize("name", _methods_without_arguments())
def test_every_registered_method_scores_real_faces(name, pipeline_all, group_photo):
    from fiqa_plugin.scoring import QualityScorer

    faces = pipeline_all.process(group_photo).faces
    scorer = QualityScorer(name, mode="all")  # fills embeddings for methods that need them
    q = scorer.score_faces(faces)
    assert q.shape == (len(faces),) == (6,) and q.dtype == np.float32 and np.isfinite(q).all()
    assert np.ptp(q) > 0  # six different faces never score all the same
    lo, hi = scorer.method.score_range or (None, None)
    if lo is not None:
        assert (q >= lo - 1e-6).all()
    if hi is not None:
        assert (q <= hi + 1e-6).all()

import numpy as np

from fiqa_plugin.faces.align import ARCFACE_TEMPLATE, align_face, similarity_transform, transform_points


def test_similarity_matches_skimage_on_random_points():
    from skimage.transform import SimilarityTransform  # independent reference implementation

    rng = np.random.default_rng(0)
    for _ in range(20):
        src = rng.uniform(0, 250, (5, 2))
        ref = SimilarityTransform()
        ref.estimate(src, ARCFACE_TEMPLATE)
        np.testing.assert_allclose(similarity_transform(src, ARCFACE_TEMPLATE), ref.params[:2], atol=1e-8)


def test_exact_similarity_is_recovered():
    angle, scale, t = np.radians(17), 1.7, np.array([5.0, -3.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = ARCFACE_TEMPLATE
    dst = src @ rot.T + t
    m = similarity_transform(src, dst)
    np.testing.assert_allclose(transform_points(src, m), dst, atol=1e-9)


def test_align_puts_landmarks_on_template():
    img = np.zeros((300, 300, 3), np.uint8)
    lm = ARCFACE_TEMPLATE * 1.5 + 40
    crop, m = align_face(img, lm)
    assert crop.shape == (112, 112, 3)
    np.testing.assert_allclose(transform_points(lm, m), ARCFACE_TEMPLATE, atol=1e-6)

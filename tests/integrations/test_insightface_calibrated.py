"""InsightFace faces carry face.quality_score: the method's 0-100 calibrated score of face.quality."""
import numpy as np

from fiqa_plugin.quality.calibration import calibration_for


def test_faces_carry_the_calibrated_score(group_photo):
    import cv2

    from fiqa_plugin.integrations.insightface import FaceAnalysis

    app = FaceAnalysis(name="buffalo_sc", providers=["CPUExecutionProvider"], quality_model="tinyfqnet")
    app.prepare(ctx_id=-1)
    faces = app.get(cv2.imread(group_photo))
    assert len(faces) >= 2
    q = np.array([f.quality for f in faces])
    s = np.array([f.quality_score for f in faces])
    np.testing.assert_allclose(s, calibration_for("tinyfqnet").to_score(q))  # the alias: the default model of the arch
    assert np.all((s >= 0) & (s <= 100))

import math

import cv2
import numpy as np
import pytest

from fiqa_plugin.scoring import QualityScorer


@pytest.fixture()
def mixed_inputs(tmp_path, lfw_images):
    good = lfw_images[:3]
    (tmp_path / "notes.jpg").write_text("not an image")
    data = open(lfw_images[0], "rb").read()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    cv2.imwrite(str(tmp_path / "blank.png"), np.zeros((200, 200), np.uint8))
    return good + [str(tmp_path / "notes.jpg"), str(tmp_path / "missing.jpg"), str(tmp_path / "cut.jpg"),
                   str(tmp_path / "blank.png")]


def test_batch_survives_every_bad_input(mixed_inputs):
    rows = list(QualityScorer("blur", batch_size=2).score(mixed_inputs))
    assert [r.source for r in rows] == mixed_inputs  # one row each, input order kept
    assert [r.status for r in rows] == ["ok"] * 3 + ["not_an_image", "missing", "truncated", "no_face"]
    assert all(r.quality > 0 for r in rows[:3])
    assert all(math.isnan(r.quality) and r.error for r in rows[3:])


def test_scores_equal_method_on_pipeline_faces(lfw_images, pipeline_largest):
    from fiqa_plugin import QUALITY_METHODS

    rows = list(QualityScorer("lightqnet", batch_size=3).score(lfw_images))
    faces = [pipeline_largest.process(p).faces[0] for p in lfw_images]
    ref = QUALITY_METHODS.create("lightqnet").score_faces(faces)
    np.testing.assert_allclose([r.quality for r in rows], ref, atol=1e-6)


def test_embedding_method_gets_embeddings(lfw_images):
    rows = list(QualityScorer("embedding-norm").score(lfw_images[:2]))
    assert all(15 < r.quality < 40 for r in rows)


def test_detection_method_refuses_aligned_mode():
    with pytest.raises(ValueError, match="needs detector landmarks"):
        QualityScorer("pose", mode="aligned")


def test_all_mode_rows_per_face(group_photo):
    rows = list(QualityScorer("blur", mode="all").score([group_photo]))
    assert len(rows) == 6 and [r.face_index for r in rows] == list(range(6))

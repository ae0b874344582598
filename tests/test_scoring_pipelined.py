"""The pipelined driver yields the rows of scoring each image on its own, in input order."""
import math

import cv2
import numpy as np

from fiqa_plugin import QUALITY_METHODS
from fiqa_plugin.scoring import QualityScorer


def test_rows_equal_one_image_at_a_time(tmp_path, lfw_images, group_photo, pipeline_all):
    (tmp_path / "notes.jpg").write_text("not an image")
    cv2.imwrite(str(tmp_path / "blank.png"), np.zeros((200, 200), np.uint8))
    sources = [lfw_images[0], str(tmp_path / "notes.jpg"), group_photo] + lfw_images[1:] + [str(tmp_path / "blank.png"),
                                                                                             lfw_images[0]]
    method = QUALITY_METHODS.create("mbv2_t1_w025_h256", threads=1)
    want = []  # the reference: every image alone through the same pipeline and method
    for src in sources:
        r = pipeline_all.process(src)
        q = method.score_faces(r.faces) if r.faces else []
        want += [(src, r.status, f.index, float(qf), tuple(np.round(f.bbox, 3))) for f, qf in zip(r.faces, q)] or \
                [(src, r.status, -1, math.nan, None)]
    seen = []
    rows = list(QualityScorer(method, mode="all", batch_size=3, workers=2, pipeline=pipeline_all)
                .score(sources, progress=lambda d, t: seen.append((d, t))))
    got = [(r.source, r.status, r.face_index, r.quality, None if r.bbox is None else tuple(np.round(r.bbox, 3))) for r in rows]
    assert [g[:3] + g[4:] for g in got] == [w[:3] + w[4:] for w in want]
    np.testing.assert_allclose([g[3] for g in got], [w[3] for w in want], atol=1e-6)
    assert seen[-1] == (len(sources), len(sources))

"""apply_model and compute_quality run the scorer's pipelined driver and give each image's own scores."""
from __future__ import annotations

import numpy as np

from fiqa_plugin.faces import FacePipeline
from fiqa_plugin.integrations.fiftyone import compute_quality, load_model
from fiqa_plugin.plugins import QUALITY_METHODS
from fiqa_plugin.scoring import DEFAULT_METHOD, QualityScorer


def test_apply_model_and_compute_quality_use_the_pipelined_driver(make_dataset, lfw20, bad_files, monkeypatch):
    paths = lfw20[:10]
    # Reference: every image alone, through the pipeline and the method directly (no driver).
    pipe, method = FacePipeline.from_pack("buffalo_sc", mode="all"), QUALITY_METHODS.create(DEFAULT_METHOD, threads=1)
    want = {}
    for p in paths:
        r = pipe.process(p)
        want[p] = sorted(float(q) for q in method.score_faces(r.faces))
    assert all(want.values()), "every one of these LFW photos has a face"

    calls = []
    real = QualityScorer.iter_scored

    def spy(self, sources, *a, **kw):
        calls.append(self)
        return real(self, sources, *a, **kw)

    monkeypatch.setattr(QualityScorer, "iter_scored", spy)
    model = load_model(batch_size=4)  # the default method, every face, Detections
    ds = make_dataset(paths)
    ds.apply_model(model, label_field="fiqa", batch_size=4)
    assert len(calls) == 3 and all(c is model.scorer for c in calls)  # one driver run per FiftyOne batch (4+4+2)
    for s in ds:
        got = sorted(d.quality for d in s.fiqa_faces.detections)
        np.testing.assert_allclose(got, want[s.filepath], atol=1e-5)
        assert s.fiqa_quality == max(got)

    calls.clear()
    ds2 = make_dataset(paths + bad_files)
    counts = compute_quality(ds2, model, quality_field="q", faces_field="faces", batch_size=4)
    assert len(calls) == 1  # one pipelined pass over the whole collection, written batch by batch
    assert counts == {"total": 12, "scored": 10, "failed": 2, "skipped": 0}
    q = dict(zip(*ds2.values(["filepath", "q"])))
    np.testing.assert_allclose([q[p] for p in paths], [max(want[p]) for p in paths], atol=1e-5)
    assert [q[p] for p in bad_files] == [None, None]

"""Calibrated scores in FiftyOne: <field>_score beside the raw field, quality_score on each face, a 0-100
selection threshold, and the recommended thresholds stored with an EDC run."""
import csv

import numpy as np
import pytest

from fiqa_plugin.quality.calibration import calibration_for


@pytest.fixture()
def scored(make_dataset, lfw_people, bad_files):
    from fiqa_plugin.integrations.fiftyone import compute_quality

    paths = [p for p, _ in lfw_people[:16]] + bad_files[:1]
    ds = make_dataset(paths)
    counts = compute_quality(ds, "blur", quality_field="q", faces_field="faces", batch_size=8)
    assert counts["scored"] == 16 and counts["failed"] == 1
    return ds


def test_calibrated_fields_beside_the_raw_ones(scored):
    cal = calibration_for("blur")
    q, s = scored.values("q"), scored.values("q_score")
    assert q[-1] is None and s[-1] is None  # the corrupt file
    np.testing.assert_allclose(s[:-1], cal.to_score(q[:-1]), atol=1e-9)
    dets = [d for fs in scored.values("faces")[:-1] for d in fs.detections]
    np.testing.assert_allclose([d.quality_score for d in dets], cal.to_score([d.quality for d in dets]), atol=1e-9)


def test_select_by_calibrated_threshold(scored):
    from fiqa_plugin.errors import UsageError
    from fiqa_plugin.integrations.fiftyone import select_by_quality

    s = scored.values("q_score")
    want = sum(v is None or v < 50 for v in s)
    assert len(select_by_quality(scored, "q", threshold=50, calibrated=True)) == want
    with pytest.raises(UsageError):
        select_by_quality(scored, "q", threshold=150, calibrated=True)


def test_edc_run_stores_recommendations(scored, tmp_path):
    from fiqa_plugin.integrations.fiftyone_eval import evaluate_edc

    paths = scored.values("filepath")
    rng = np.random.default_rng(0)
    with open(tmp_path / "pairs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "b", "genuine", "similarity"])
        for i in range(0, 16, 2):
            w.writerow([paths[i], paths[i + 1], 1, rng.uniform(0.1, 0.9)])
            w.writerow([paths[i], paths[(i + 5) % 17], 0, rng.uniform(-0.1, 0.3)])
    rep = evaluate_edc(scored, "q", pairs_file=str(tmp_path / "pairs.csv"), fmrs=[0.1], eval_key=None)
    recs = rep["recommendations"]["0.1"]
    assert [r["discard_fraction"] for r in recs] == [0.01, 0.02, 0.05, 0.1, 0.2]
    q = np.array([np.nan if v is None else v for v in scored.values("q")])
    s = dict(zip(scored.values("q"), scored.values("q_score")))
    r = recs[-1]  # 20% of 17 samples: the 3 lowest (the unscored one first) go
    assert r["faces"] == 17 and r["faces_dropped"] == 3
    assert r["threshold"] == np.sort(q[np.isfinite(q)])[2] and r["threshold_score"] == s[r["threshold"]]

"""The Face quality panel's numbers, headless, on 40 real LFW faces of 5 people (blur and detector confidence,
two stored EDC runs), each checked against an independent computation from the stored values."""
from __future__ import annotations

import numpy as np
import pytest

import fiftyone as fo

from fiqa_plugin.integrations import fiftyone_panel_data as pd
from fiqa_plugin.integrations.fiftyone import compute_quality
from fiqa_plugin.integrations.fiftyone_eval import evaluate_edc
from fiqa_plugin.quality.calibration import calibration_for


@pytest.fixture(scope="module")
def scored(lfw_people):
    """40 faces, ``blur`` (raw + its 0-100 score ``blur_score`` + faces) and ``conf`` (raw), two EDC runs."""
    ds = fo.Dataset()
    ds.add_samples([fo.Sample(filepath=p, ground_truth=fo.Classification(label=y)) for p, y in lfw_people],
                   progress=False)
    compute_quality(ds, "blur", quality_field="blur", faces_field="faces")
    compute_quality(ds, "detector-confidence", quality_field="conf")
    cal = calibration_for("blur")
    assert cal is not None, "fiqa_plugin/weights/calibration/blur.json missing: run benchmarks/calibrate.py"
    # the calibrated field, written here from the table (whatever compute_quality writes beside it)
    ids, raw = ds.values(["id", "blur"])
    ds.set_values("blur_score", {i: (None if v is None else float(cal.to_score(v))) for i, v in zip(ids, raw)},
                  key_field="id")
    for f in ("blur", "conf"):
        evaluate_edc(ds, f, identity_field="ground_truth", n_genuine=140, n_impostor=600, eval_key=f"edc_{f}")
    yield ds
    ds.delete()


def test_fields_calibrated_first(scored):
    fields = pd.quality_fields(scored)
    assert fields[0] == "blur_score" and {"blur", "conf"} <= set(fields[1:])
    assert pd.is_calibrated(scored, "blur_score") and not pd.is_calibrated(scored, "blur")
    assert pd.raw_field(scored, "blur_score") == "blur"
    assert pd.faces_fields(scored) == ["faces"]
    assert pd.identity_fields(scored) == ["ground_truth"]


def test_histogram_matches_numpy(scored):
    v = np.array([x for x in scored.values("blur_score") if x is not None])
    h = pd.histogram(scored, "blur_score", bins=20)
    want, edges = np.histogram(v, bins=20, range=(0, 100))
    assert h["trace"]["y"] == want.tolist()
    assert np.allclose(h["trace"]["x"], (edges[:-1] + edges[1:]) / 2)
    assert (h["scale"], h["min"], h["max"], h["step"]) == ("0-100", 0.0, 100.0, 1.0)
    assert h["scored"] == len(v) and h["unscored"] == 40 - len(v)
    raw = pd.histogram(scored, "conf")
    c = [x for x in scored.values("conf") if x is not None]
    assert raw["scale"] == "raw" and (raw["min"], raw["max"]) == (min(c), max(c)) and sum(raw["trace"]["y"]) == len(c)


def test_threshold_samples_and_faces(scored):
    v = scored.values("blur_score")
    t = float(np.median([x for x in v if x is not None]))
    view = pd.threshold_view(scored, "blur_score", t)
    assert len(view) == sum(x is not None and x >= t for x in v)
    # faces mode on the raw field: the faces whose own quality is at or above it, and their samples
    tr = float(np.median(scored.values("blur")))
    fview = pd.threshold_view(scored, "blur", tr, faces_field="faces")
    per_sample = [[x for x in dets or []] for dets in scored.values("faces.detections.quality")]
    assert fview.count("faces.detections") == sum(x >= tr for xs in per_sample for x in xs)
    assert len(fview) == sum(any(x >= tr for x in xs) for xs in per_sample)
    c = pd.kept_counts(scored, view)
    assert c == {"samples": 40, "kept": len(view)}
    assert 0 < c["kept"] < 40


def test_identity_counts(scored):
    t = 50.0
    got = pd.identity_counts(scored, "blur_score", "ground_truth", t, limit=5)
    labels = [g.label for g in scored.values("ground_truth")]
    v = scored.values("blur_score")
    want = {}
    for y in set(labels):
        mine = [x for x, l in zip(v, labels) if l == y and x is not None]
        want[y] = (8, sum(x >= t for x in mine), round(max(mine), 4))
    assert got["identities"] == 5 and got["without_kept"] == sum(k == 0 for _, k, _ in want.values())
    assert {r["identity"]: (r["faces"], r["kept"], r["best"]) for r in got["rows"]} == want
    kept = [r["kept"] for r in got["rows"]]
    assert kept == sorted(kept)


def test_edc_runs_one_figure_and_tables(scored):
    reports = pd.edc_runs(scored)
    assert set(reports) == {"edc_blur", "edc_conf"}
    fig = pd.edc_figure(reports)
    assert len(fig["data"]) == 4  # 2 runs x 2 target FMRs
    for tr, (key, fmr) in zip(fig["data"], [(k, f) for k in reports for f in reports[k]["edc"]]):
        curve = reports[key]["edc"][fmr]["curve"]
        x, y = np.array(curve["discard_fractions"]), np.array(curve["fnmr"])
        # the thinned step curve is the same function: the value at each original x is the last kept step's
        at = np.searchsorted(np.array(tr["x"]), x, side="right") - 1
        assert np.array_equal(np.array(tr["y"])[at], y)
        assert tr["x"][0] == x[0] and tr["x"][-1] == x[-1]
    # a colour per run, a line style per target FMR, and a legend (the App hides it unless asked)
    colours = [tr["line"]["color"] for tr in fig["data"]]
    assert colours[0] == colours[1] != colours[2] == colours[3]
    assert [tr["line"]["dash"] for tr in fig["data"]] == ["solid", "dash"] * 2
    assert fig["layout"]["showlegend"] is True
    rows = pd.pauc_rows(reports)
    assert len(rows) == 4
    r = rows[0]
    e = reports[r["run"]]["edc"][r["fmr"]]
    assert r["pauc_0_2"] == f"{e['pauc']['0.2']:.4f}" and r["fnmr0"] == f"{e['fnmr_at_0_discard']:.4f}"
    recs = pd.recommendation_rows(reports)
    n = sum(len(v) for rep in reports.values() for v in rep["recommendations"].values())
    assert len(recs) == n > 0
    blur = [x for x in recs if x["run"] == "edc_blur"]
    assert all(x["score"] != "–" for x in blur)  # thresholds on the 0-100 scale: blur_score exists

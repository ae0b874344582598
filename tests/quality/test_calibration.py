"""Calibrated quality (raw → 0–100 percentile): the mapping against scipy, monotonicity, the shipped tables."""
import json
import types

import numpy as np
import pytest
from scipy.stats import percentileofscore

from fiqa_plugin.errors import ModelError
from fiqa_plugin.plugins import QUALITY_METHODS
from fiqa_plugin.quality.calibration import (REFERENCE, Calibration, build_calibration, calibration_file,
                                             calibration_for, save_calibration)
from fiqa_plugin.quality.onnx_model import QualityModelConfig

REF = np.random.default_rng(0).normal(0.6, 0.1, 5000)


def test_score_matches_scipy_percentile_of_score():
    cal = build_calibration("m", REF)
    x = np.linspace(0.2, 1.0, 201)
    want = np.array([percentileofscore(REF, v, kind="mean") for v in x])  # independent computation
    got = cal.to_score(x)
    # 1001 knots: linear interpolation between them is off by at most a knot's share (0.1 points) plus 1/n
    assert np.max(np.abs(got - want)) < 0.15


def test_quantiles_map_back_to_their_percentile():
    cal = build_calibration("m", REF, n_quantiles=101)
    p = np.array([1.0, 10.0, 37.0, 50.0, 90.0, 99.0])
    np.testing.assert_allclose(cal.to_score(np.percentile(REF, p)), p, atol=1e-9)
    np.testing.assert_allclose(cal.to_raw(p), np.percentile(REF, p), rtol=1e-12)


def test_monotone_clipped_and_nan_preserving():
    cal = build_calibration("m", REF)
    x = np.linspace(-1, 2, 5001)
    s = cal.to_score(x)
    assert np.all(np.diff(s) >= 0)
    assert s[0] == 0 and s[-1] == 100
    assert np.isnan(cal.to_score([np.nan]))[0]


def test_discrete_scores_get_their_mid_rank():
    # a discrete measure: 30% zeros, 50% halves, 20% ones
    ref = np.r_[np.zeros(300), np.full(500, 0.5), np.ones(200)]
    cal = build_calibration("d", ref)
    for v in (0.0, 0.5, 1.0):
        assert cal.to_score(v) == pytest.approx(percentileofscore(ref, v, kind="mean"), abs=0.15)
    s = cal.to_score(np.linspace(-0.5, 1.5, 2001))
    assert np.all(np.diff(s) >= 0)


def test_round_trip_and_bad_tables(tmp_path):
    cal = build_calibration("m", REF)
    back = Calibration.from_json(json.loads(save_calibration(cal, tmp_path / "c.json").read_text()))
    x = np.linspace(0.3, 0.9, 50)
    np.testing.assert_allclose(back.to_score(x), cal.to_score(x), atol=1e-3)
    with pytest.raises(ModelError):
        Calibration.from_json({"quantiles": [3, 2, 1]})
    with pytest.raises(ModelError):
        build_calibration("m", [np.nan, 1.0])


def test_a_config_carries_its_own_table(tmp_path):
    # an exported or third-party model: the "calibration" key of its JSON config wins
    table = build_calibration("x.y", REF).to_json()
    (tmp_path / "x.y.json").write_text(json.dumps({"arch": "x", "tag": "y", "file": "x.y.onnx", "calibration": table}))
    cfg = QualityModelConfig.load(tmp_path / "x.y.json")
    cal = calibration_for(types.SimpleNamespace(name="x.y", config=cfg))
    assert cal is not None and cal.to_score(np.median(REF)) == pytest.approx(50, abs=0.5)


def test_every_registered_method_ships_a_table():
    """Each method the project ships (models, measures, baselines) has a table on the documented population;
    a model added later needs `python benchmarks/calibrate.py --methods <name>`. Models a user trains in the
    same process (kind ``user``) are not the project's to calibrate."""
    missing = []
    for e in QUALITY_METHODS.entries():
        if e.tags.get("kind") in ("external", "user"):  # models the user brings or trains: no shipped table
            continue
        cal = calibration_for(e.name)
        if cal is None:
            missing.append(f"{e.name} ({calibration_file(e.name)})")
            continue
        assert cal.reference == REFERENCE and cal.n > 700 and len(cal.quantiles) == 1001
    assert not missing, f"no calibration table for {missing}: run python benchmarks/calibrate.py --methods NAME"


def test_default_model_table_on_its_own_reference_faces(shared):
    """The shipped table of the default model, loaded for a real instance and applied to real reference faces."""
    from fiqa_plugin.faces.pipeline import list_images
    from fiqa_plugin.scoring import DEFAULT_METHOD, QualityScorer

    scorer = QualityScorer(DEFAULT_METHOD, mode="aligned")
    assert scorer.calibration is not None and scorer.calibration.method == scorer.method.name
    paths = sorted(list_images(str(shared / "data" / "celeba_aligned")))[::400]
    rows = list(scorer.score(paths))
    q = np.array([r.quality for r in rows])
    s = np.array([r.quality_score for r in rows])
    np.testing.assert_allclose(s, scorer.calibration.to_score(q))
    assert np.all((0 <= s) & (s <= 100))
    assert 25 < np.median(s) < 75  # reference faces are typical faces

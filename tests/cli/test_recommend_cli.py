"""``fiqa evaluate --recommend`` on hand-made pairs and ``fiqa score --min-quality`` on real crops."""
import csv
import json

import numpy as np
import pytest

from fiqa_plugin.cli.main import main
from fiqa_plugin.quality.calibration import calibration_for


def _write_csv(path, header, rows):
    path.write_text("\n".join(",".join(map(str, r)) for r in [header] + rows) + "\n")


def test_evaluate_recommend_json_and_markdown(tmp_path, capsys):
    # 10 images f0..f9 with quality 0..9 and calibrated score 10*quality; pairs as in tests/evaluation/test_recommend.py
    pairs = [(0, 5, 1, 0.05), (1, 6, 1, 0.9), (2, 7, 1, 0.9), (3, 8, 1, 0.05), (4, 9, 1, 0.9),
             (5, 6, 0, 0.1), (7, 8, 0, 0.1), (0, 9, 0, 0.1), (1, 2, 0, 0.1)]
    _write_csv(tmp_path / "pairs.csv", ["a", "b", "genuine", "similarity"], [[f"f{a}.jpg", f"f{b}.jpg", g, s] for a, b, g, s in pairs])
    _write_csv(tmp_path / "scores.csv", ["path", "quality", "quality_score", "status", "face", "error"],
               [[str(tmp_path / f"f{i}.jpg"), i, 10 * i, "ok", 0, ""] for i in range(10)])
    argv = ["evaluate", str(tmp_path / "pairs.csv"), "--scores", str(tmp_path / "scores.csv"), "--fmr", "0.25", "--recommend"]
    assert main(argv + ["--json"]) == 0
    recs = json.loads(capsys.readouterr().out)["recommendations"]["0.25"]
    assert [r["discard_fraction"] for r in recs] == [0.01, 0.02, 0.05, 0.1, 0.2]
    # 1%, 2%, 5% of 10 faces is under one face: nothing dropped; 10%: face 0 (pair f0-f5 goes); 20%: f0, f1
    assert [r["faces_dropped"] for r in recs] == [0, 0, 0, 1, 2]
    assert [r["threshold_score"] for r in recs] == [0, 0, 0, 10, 20]
    assert [r["fnmr_after"] for r in recs] == pytest.approx([0.4, 0.4, 0.4, 0.25, 1 / 3])
    assert main(argv) == 0
    assert "| 20% | 2 | 20.0 | 2 of 10 | 0.4000 | 0.3333 |" in capsys.readouterr().out


def test_score_min_quality(tmp_path, shared):
    crops = sorted((shared / "data" / "celeba_aligned").glob("*/*.jpg"))[:: 2000][:8]
    (tmp_path / "list.txt").write_text("\n".join(map(str, crops)) + "\n")
    out = tmp_path / "s.csv"
    assert main(["score", str(tmp_path / "list.txt"), "--method", "blur", "--mode", "aligned", "--out", str(out),
                 "--min-quality", "50"]) == 0
    rows = list(csv.DictReader(open(out)))
    q = np.array([float(r["quality"]) for r in rows])
    s = np.array([float(r["quality_score"]) for r in rows])
    np.testing.assert_allclose(s, calibration_for("blur").to_score(q), atol=0.006)  # CSV keeps 2 decimals
    assert [r["status"] for r in rows] == ["ok" if v >= 50 else "low_quality" for v in s]
    assert main(["score", str(tmp_path / "list.txt"), "--method", "blur", "--out", str(out), "--min-quality", "0.5e3"]) == 2

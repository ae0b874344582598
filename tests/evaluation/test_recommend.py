"""Threshold guidance: a hand-computed example of recommend_thresholds."""
import numpy as np
import pytest

from fiqa_plugin.evaluation.recommend import recommend_thresholds, recommendations_markdown

# Faces 0..9 with quality 0..9. Genuine pairs (0,5) and (3,8) fail (similarity 0.05); impostors all at 0.1.
PAIRS = [(0, 5), (1, 6), (2, 7), (3, 8), (4, 9), (5, 6), (7, 8), (0, 9), (1, 2)]
SIM = [0.05, 0.9, 0.9, 0.05, 0.9, 0.1, 0.1, 0.1, 0.1]
GEN = [True] * 5 + [False] * 4


def test_hand_computed_thresholds_and_fnmr():
    # FMR 0.25 over 4 impostors allows 1 false match: threshold just above 0.1, so both 0.05 genuine pairs fail.
    q = np.arange(10.0)
    recs = recommend_thresholds(SIM, GEN, PAIRS, q, fmr=0.25, fractions=(0.1, 0.2, 0.4), face_score=q * 10)
    assert [r["threshold"] for r in recs] == [1.0, 2.0, 4.0]
    assert [r["threshold_score"] for r in recs] == [10.0, 20.0, 40.0]
    assert [r["faces_dropped"] for r in recs] == [1, 2, 4]
    assert all(r["fnmr_before"] == pytest.approx(2 / 5) for r in recs)
    # dropping face 0 removes genuine pair (0,5): 1 failure in 4; faces 0,1: 1 in 3; faces 0..3: 0 in 1
    assert [r["fnmr_after"] for r in recs] == pytest.approx([1 / 4, 1 / 3, 0.0])
    assert [r["genuine_pairs_dropped"] for r in recs] == [1, 2, 4]
    md = recommendations_markdown(recs, "x")
    assert "| 10% | 1 | 10.0 | 1 of 10 | 0.4000 | 0.2500 |" in md


def test_ties_are_kept_together_and_unscored_faces_go_first():
    q = np.array([np.nan, 0, 0, 0, 5, 6, 7, 8, 9, 10], float)  # face 0 unscored
    r1, r2 = recommend_thresholds(SIM, GEN, PAIRS, q, fmr=0.25, fractions=(0.1, 0.2))
    assert r1["faces_dropped"] == 1 and r1["threshold"] == 0  # only the unscored face goes
    assert r2["faces_dropped"] == 1 and r2["threshold_score"] is None  # the three tied zeros stay together

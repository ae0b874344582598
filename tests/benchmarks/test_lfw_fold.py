"""One LFW fold, computed afresh (detection → alignment → recognizers → shipped models → EDC), against the
values pinned by ``python benchmarks/lfw_fold.py --pin``: a regression guard for the README table's methods."""
from __future__ import annotations

import json

import pytest

import lfw_fold

#: Shipped scores are pinned to 1e-5 (tests/quality/test_shipped_scores.py); a pAUC moves by ~1e-3 when one of
#: the fold's 300 genuine pairs changes sides, so this only forgives float noise.
ATOL = 2e-5


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("FIQA_CACHE", str(tmp_path_factory.mktemp("cache")))  # nothing reused from earlier runs
    mp.setenv("FIQA_THREADS", "2")
    try:
        yield lfw_fold.fold_paucs(json.loads(lfw_fold.PIN.read_text())["fold"])
    finally:
        mp.undo()


def test_fold_paucs_match_the_pinned_values(fresh):
    pinned = json.loads(lfw_fold.PIN.read_text())
    assert pinned["methods"] == list(lfw_fold.METHODS)
    moved = {(rec, m, k): (pinned["paucs"][rec][m][k], v)
             for rec, rows in fresh.items() for m, r in rows.items() for k, v in r.items()
             if abs(v - pinned["paucs"][rec][m][k]) > ATOL}
    assert not moved, (f"LFW fold pAUCs moved (pinned, now): {moved}. If the change is intended, rerun "
                       f"`python benchmarks/lfw_fold.py --pin`, regenerate the README's LFW tables and say why in the commit")


def test_fold_is_the_protocol(fresh):
    for rec, rows in fresh.items():
        assert rows["_pairs"] == {"genuine": 300, "impostor": 324290, "failed": 0}, rec
        best = rows["theoretical best"]
        for m in lfw_fold.METHODS:  # no method beats the oracle that discards false non-matches first
            assert best["pauc3_20"] <= rows[m]["pauc3_20"] and best["pauc3_30"] <= rows[m]["pauc3_30"], (rec, m)

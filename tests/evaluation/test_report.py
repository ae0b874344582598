"""edc_report: the EDC and the re-fixed-threshold ERC side by side, strict JSON, markdown view."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fiqa_plugin.evaluation import erc_refixed_threshold, pauc
from fiqa_plugin.evaluation.report import edc_report, markdown_summary


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(7)
    gen = np.r_[np.ones(300, bool), np.zeros(3000, bool)]
    sim = np.r_[rng.normal(0.5, 0.2, 300), rng.normal(0.0, 0.1, 3000)]
    return sim, gen


def test_constant_quality_discards_nothing(pairs):
    # every pair ties: neither curve can discard anything, so both pAUCs equal the FNMR at 0 discard
    sim, gen = pairs
    rep = edc_report(sim, gen, np.ones(sim.size), fmrs=(1e-2,), discard_limits=(0.2,))
    e = rep["edc"]["0.01"]
    assert e["pauc"]["0.2"] == pytest.approx(e["fnmr_at_0_discard"])
    assert e["erc_refixed"]["pauc"]["0.2"] == pytest.approx(e["fnmr_at_0_discard"])


def test_erc_matches_the_library_and_informative_quality_helps(pairs):
    sim, gen = pairs
    rng = np.random.default_rng(1)
    # tracks the genuine similarity; says nothing about impostor pairs (a quality that tracked impostor
    # similarity too would raise the re-fixed threshold as low-similarity impostors are dropped)
    q = np.where(gen, sim + rng.normal(0, 0.05, sim.size), rng.uniform(0.0, 1.0, sim.size))
    rep = edc_report(sim, gen, q, fmrs=(1e-2,), discard_limits=(0.2, 0.3))
    erc = rep["edc"]["0.01"]["erc_refixed"]
    for lim in (0.2, 0.3):
        want = pauc(erc_refixed_threshold(sim, gen, q, fmr=1e-2), lim, interpolation="linear")
        assert erc["pauc"][f"{lim:g}"] == pytest.approx(want)
    assert erc["pauc"]["0.2"] < rep["edc"]["0.01"]["fnmr_at_0_discard"]
    assert len(erc["curve"]["fnmr"]) == len(erc["curve"]["discard_fractions"]) == 20
    json.dumps(rep, allow_nan=False)  # NaN points (no impostor left) are written as null
    table = markdown_summary(rep, "q")
    assert "ERC pAUC [0,0.2] (re-fixed)" in table and f"{erc['pauc']['0.2']:.4f}" in table

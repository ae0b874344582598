"""benchmarks/lfw_bootstrap.py: paired bootstrap of pAUC on synthetic pairs with a known answer."""
from __future__ import annotations

import lfw_bootstrap as B
import numpy as np
import pytest


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    n = 2000
    genuine = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    sim = np.r_[rng.normal(0.55, 0.15, n), rng.normal(0.0, 0.1, n)]
    informative = sim + rng.normal(0, 0.05, 2 * n)  # quality that tracks the genuine similarity
    return sim, genuine, {"good": informative, "copy": informative.copy(), "random": rng.random(2 * n)}


def test_paired_resamples_and_table(pairs):
    from fiqa_plugin.evaluation import compute_edc, pauc

    sim, genuine, qs = pairs
    boot = B.bootstrap(sim, genuine, qs, resamples=50, seed=1)
    assert {k: v.shape for k, v in boot.items()} == {k: (50,) for k in qs}
    assert np.array_equal(boot["good"], boot["copy"])  # same pairs for every method: paired differences
    assert (boot["good"] < boot["random"]).mean() > 0.95
    full = {m: B.pauc_of(sim, genuine, q) for m, q in qs.items()}
    assert full["good"] == pytest.approx(pauc(compute_edc(sim, genuine, qs["good"], fmr=1e-3), 0.2))
    text = B.table(full, boot, ["random"])
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines()[2:]}
    assert set(rows) == {"good", "copy", "random"}
    assert rows["random"].rstrip(" |").endswith("–")  # no comparison of a method with itself
    assert rows["good"].rstrip(" |").endswith(f"{(boot['good'] < boot['random']).mean():.2f}")

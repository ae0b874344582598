"""benchmarks/validation.py: the committed CelebA validation protocol has the promised identities and pairs."""
from __future__ import annotations

import numpy as np
import pytest
import validation as V


@pytest.fixture(scope="module")
def index():
    root = V.data_root()
    assert (root / "index.csv").is_file(), f"{root}/index.csv missing: point FIQA_SHARED at the shared assets"
    return V.read_index(root)


def test_protocol_file_lists_200_identities_redrawn_by_the_seed(index):
    ids = V.read_protocol()
    assert len(ids) == len(set(ids)) == 200
    counts = {}
    for r in index:
        counts[r["identity"]] = counts.get(r["identity"], 0) + 1
    assert all(counts.get(y, 0) >= 10 for y in ids)
    assert ids == V.draw_identities(index)  # the file is what the documented seed draws


def test_pairs_every_genuine_and_enough_distinct_impostors(index):
    ids = set(V.read_protocol())
    ident = np.array([r["identity"] for r in index if r["identity"] in ids])
    pairs, genuine = V.make_pairs(ident)
    _, counts = np.unique(ident, return_counts=True)
    assert genuine.sum() == int((counts * (counts - 1) // 2).sum())
    imp = pairs[~genuine]
    assert len(imp) >= 100_000  # FMR=1e-3 rests on >= 100 impostor scores
    assert (ident[imp[:, 0]] != ident[imp[:, 1]]).all()
    assert len({tuple(p) for p in np.sort(imp, 1).tolist()}) == len(imp)
    assert (ident[pairs[genuine, 0]] == ident[pairs[genuine, 1]]).all()


def test_large_yaw_pairs_marks_pairs_with_one_turned_face():
    from fiqa_plugin.evaluation.harness import LFWSet

    yaw = np.array([0.0, -45.0, 29.9, 30.0])  # face 3 is exactly at the limit, face 2 just under
    vs = LFWSet(None, ["a", "b", "c", "d"], np.array([[0, 2], [0, 1], [2, 3], [1, 3]]), np.ones(4, bool), np.zeros(4))
    assert V.large_yaw_pairs(vs, yaw).tolist() == [False, True, True, True]

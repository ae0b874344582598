"""LFW pairs.txt parsing (the real shared file) and identity-based pair sampling."""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fiqa_plugin.evaluation import lfw_pairs_path, pairs_arrays, parse_lfw_pairs, sample_pairs
from fiqa_plugin.paths import MissingAssetError, shared_path


def test_real_lfw_pairs():
    path = shared_path("data", "lfw", "pairs.txt")  # a missing file raises with the fix, never skips
    assert lfw_pairs_path() == path
    pairs = parse_lfw_pairs()
    assert len(pairs) == 6000
    assert sum(p.is_genuine for p in pairs) == 3000
    per_fold = Counter(p.fold for p in pairs)
    assert sorted(per_fold) == list(range(10)) and set(per_fold.values()) == {600}
    assert Counter(p.fold for p in pairs if p.is_genuine) == Counter({f: 300 for f in range(10)})
    # First line after the header: "Abel_Pacheco 1 4".
    first = pairs[0]
    root = path.parent / "images"
    assert first == (str(root / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg"),
                     str(root / "Abel_Pacheco" / "Abel_Pacheco_0004.jpg"), True, 0)
    # Line 301 is the first different pair of fold 0: "Abdel_Madi_Shabneh 1 Dean_Barker 1".
    assert pairs[300].path_b.endswith(os.path.join("Dean_Barker", "Dean_Barker_0001.jpg"))
    assert not pairs[300].is_genuine and pairs[300].fold == 0
    paths, idx, gen, fold = pairs_arrays(pairs)
    assert idx.shape == (6000, 2) and gen.sum() == 3000 and fold.max() == 9
    assert len(paths) == len(set(paths))
    missing = [p for p in paths if not Path(p).exists()]
    assert not missing, f"{len(missing)} LFW images referenced by pairs.txt are missing, e.g. {missing[:3]}"


def write(tmp_path, text):
    p = tmp_path / "pairs.txt"
    p.write_text(text)
    return p


def test_small_pairs_file(tmp_path):
    p = write(tmp_path, "2\t1\nAl\t1\t2\nAl\t1\tBo\t3\nCy\t2\t10\nBo\t1\tCy\t1\n")
    rows = parse_lfw_pairs(p, image_root="/img")
    assert [(r.is_genuine, r.fold) for r in rows] == [(True, 0), (False, 0), (True, 1), (False, 1)]
    assert rows[2].path_b == str(Path("/img/Cy/Cy_0010.jpg"))
    assert rows[1].path_b == str(Path("/img/Bo/Bo_0003.jpg"))
    # View 1 style header: a single count, one fold.
    rows = parse_lfw_pairs(write(tmp_path, "1\nAl 1 2\nAl 1 Bo 3\n"))
    assert [r.fold for r in rows] == [0, 0] and rows[0].path_a == str(tmp_path / "images" / "Al" / "Al_0001.jpg")


@pytest.mark.parametrize("text, match", [
    ("2 1\nAl 1 2\nAl 1 Bo 3\n", "header says"),  # too few lines
    ("1 1\nAl 1 Bo 3\nAl 1 2\n", "same pair was expected"),  # order swapped
    ("1 1\nAl 1 2 3 4\nAl 1 Bo 3\n", "expected 'Name i j'"),
    ("1 1\nAl x 2\nAl 1 Bo 3\n", "expected 'Name i j'"),
    ("ten\nAl 1 2\n", "bad header"),
])
def test_malformed_pairs_file(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        parse_lfw_pairs(write(tmp_path, text))


def test_missing_pairs_file(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError):
        parse_lfw_pairs(tmp_path / "nope.txt")
    (tmp_path / "shared").mkdir()
    monkeypatch.setenv("FIQA_SHARED", str(tmp_path / "shared"))
    with pytest.raises(MissingAssetError, match="pairs.txt"):
        parse_lfw_pairs()


def check_pairs(labels, pairs, is_gen):
    labels = np.asarray(labels)
    assert pairs.dtype == np.int64 and np.all(pairs[:, 0] < pairs[:, 1])
    assert len({tuple(p) for p in pairs}) == len(pairs)
    same = labels[pairs[:, 0]] == labels[pairs[:, 1]]
    np.testing.assert_array_equal(same, is_gen)
    assert not np.any(np.diff(is_gen.astype(int)) > 0)  # genuine block first


@pytest.mark.parametrize("enumerate_limit", [2_000_000, 0])  # enumerate, or rejection-sample
def test_sample_pairs(enumerate_limit):
    rng = np.random.default_rng(0)
    labels = [f"id{i}" for i in rng.integers(0, 40, size=400)]
    pairs, is_gen = sample_pairs(labels, 300, 900, seed=5, enumerate_limit=enumerate_limit)
    assert is_gen.sum() == 300 and (~is_gen).sum() == 900
    check_pairs(labels, pairs, is_gen)
    again, _ = sample_pairs(labels, 300, 900, seed=5, enumerate_limit=enumerate_limit)
    np.testing.assert_array_equal(pairs, again)
    other, _ = sample_pairs(labels, 300, 900, seed=6, enumerate_limit=enumerate_limit)
    assert not np.array_equal(pairs, other)


def test_sample_pairs_caps_at_what_exists():
    # Labels a a b: one genuine pair (0,1), two impostor pairs (0,2), (1,2).
    pairs, is_gen = sample_pairs(["a", "a", "b"], 5, 5, seed=0)
    assert sorted(map(tuple, pairs[is_gen])) == [(0, 1)]
    assert sorted(map(tuple, pairs[~is_gen])) == [(0, 2), (1, 2)]
    pairs, is_gen = sample_pairs(["a", "b", "c"], 3, 0)
    assert pairs.shape == (0, 2)


def test_rejection_sampling_is_uniform_over_genuine_pairs():
    # Identity A has 3 items (3 pairs), B has 2 (1 pair): each of the 4 pairs should come up 1/4 of the time.
    labels = ["A", "A", "A", "B", "B"]
    counts = Counter()
    for seed in range(2000):
        pairs, _ = sample_pairs(labels, 1, 0, seed=seed, enumerate_limit=0)
        counts[tuple(pairs[0])] += 1
    assert set(counts) == {(0, 1), (0, 2), (1, 2), (3, 4)}
    assert all(400 <= c <= 600 for c in counts.values()), counts  # 500 +- ~4.5 sigma

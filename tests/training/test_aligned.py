"""Pre-aligned crops without detection (fiqa_plugin/training/aligned.py) on real celeba_aligned faces."""
from __future__ import annotations

import os
import shutil

import cv2
import numpy as np
import pytest

from fiqa_plugin.errors import InputError, MissingAssetError, UsageError
from fiqa_plugin.training.aligned import aligned_faces, index_columns, recognizer_outputs


@pytest.fixture()
def aligned_root(shared):
    root = shared / "data" / "celeba_aligned"
    assert (root / "index.csv").is_file(), f"{root} missing: the aligned CelebA faces are needed (see shared/README.md)"
    return root


@pytest.fixture()
def small_root(aligned_root, tmp_path):
    """tmp_path/faces: 3 identities × 3 real crops (copies), and the identities' folder names."""
    out = tmp_path / "faces"
    ids = ["10001", "4930", "4931"]  # present in celeba_aligned; numeric order 4930 < 4931 < 10001
    for y in ids:
        files = sorted(os.listdir(aligned_root / y))[:3]
        assert len(files) == 3, f"identity {y} has fewer than 3 crops in {aligned_root}"
        (out / y).mkdir(parents=True)
        for f in files:
            shutil.copy(aligned_root / y / f, out / y / f)
    return out


def test_aligned_faces_reads_crops_as_they_are(small_root):
    fs = aligned_faces(small_root, exclude=["4931"])
    assert list(fs.names) == ["4930", "10001"]  # numeric order, excluded identity gone
    assert fs.crops.shape == (6, 112, 112, 3) and fs.crops.dtype == np.uint8
    assert fs.embeddings.shape == (6, 0)
    for crop, path, ident in zip(fs.crops, fs.paths, fs.identities):
        assert os.path.isabs(path)
        assert os.path.basename(os.path.dirname(path)) == fs.names[ident]
        np.testing.assert_array_equal(crop, cv2.imread(path))  # no detection, no re-alignment
    assert list(fs.identities) == [1, 1, 1, 0, 0, 0]  # files in folder-name order (10001 first), ids numeric


def test_aligned_faces_rejects_unaligned_and_unreadable(small_root):
    with pytest.raises(UsageError):
        aligned_faces(small_root, exclude=["10001", "4930", "4931"])
    bad = small_root / "4930" / "zz_big.jpg"
    cv2.imwrite(str(bad), np.zeros((120, 100, 3), np.uint8))
    with pytest.raises(InputError, match="112×112"):
        aligned_faces(small_root)
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(InputError, match="readable"):
        aligned_faces(small_root)


def test_index_columns_golden_row(aligned_root):
    # the first data row of index.csv, copied by hand:
    # 7760/182638.jpg,7760,0.6842,76.7 86.1 123.4 86.2 102.2 112.4 77.1 129.2 120.5 129.2,199,200
    got = index_columns(aligned_root, [str(aligned_root / "7760" / "182638.jpg")])
    np.testing.assert_allclose(got["det_score"], [0.6842], rtol=1e-6)
    np.testing.assert_allclose(got["landmarks"][0], [[76.7, 86.1], [123.4, 86.2], [102.2, 112.4], [77.1, 129.2],
                                                     [120.5, 129.2]], rtol=1e-6)


def test_index_columns_errors(aligned_root, small_root):
    with pytest.raises(MissingAssetError):
        index_columns(small_root, [])
    with pytest.raises(InputError, match="not listed"):
        index_columns(aligned_root, [str(small_root / "4930" / "x.jpg")])


def _mean_pixel(calls):
    def run(crops):
        calls.append(len(crops))
        x = crops.reshape(len(crops), -1).astype(np.float64)
        return {"mean": x.mean(1), "first": x[:, :3].copy()}
    return run


def test_recognizer_outputs_chunks_are_cached_and_resumed(small_root, tmp_path, monkeypatch):
    monkeypatch.setenv("FIQA_CACHE", str(tmp_path / "cache"))
    crops = aligned_faces(small_root).crops  # 9 real crops → chunks of 4, 4, 1
    flat = crops.reshape(9, -1).astype(np.float64)
    calls: list = []
    run = _mean_pixel(calls)

    def failing(c):  # interrupted after the first chunk
        if calls:
            raise KeyboardInterrupt
        return run(c)

    with pytest.raises(KeyboardInterrupt):
        recognizer_outputs("t", crops, failing, ["k"], chunk=4)
    assert calls == [4]
    part = recognizer_outputs("t", crops, run, ["k"], chunk=4, cached_only=True)
    np.testing.assert_allclose(part["mean"], flat[:4].mean(1))  # only the leading finished chunk
    seen = []
    out = recognizer_outputs("t", crops, run, ["k"], chunk=4, progress=lambda d, t: seen.append((d, t)))
    assert calls == [4, 4, 1]  # resumed: the first chunk was not run again
    assert seen == [(4, 9), (8, 9), (9, 9)]
    np.testing.assert_allclose(out["mean"], flat.mean(1))
    np.testing.assert_array_equal(out["first"], flat[:, :3])
    again = recognizer_outputs("t", crops, run, ["k"], chunk=4)
    assert calls == [4, 4, 1]  # all cached
    np.testing.assert_array_equal(again["mean"], out["mean"])
    assert recognizer_outputs("t", crops, run, ["other key"], chunk=4, cached_only=True) == {}


def test_recognizer_outputs_recomputes_a_broken_chunk_and_checks_rows(small_root, tmp_path, monkeypatch):
    monkeypatch.setenv("FIQA_CACHE", str(tmp_path / "cache"))
    crops = aligned_faces(small_root).crops[:5]
    calls: list = []
    recognizer_outputs("t", crops, _mean_pixel(calls), ["k"], chunk=4)
    (chunk0,) = (tmp_path / "cache" / "training").glob("t-*/chunk-0000.npz")
    chunk0.write_bytes(b"truncated")
    out = recognizer_outputs("t", crops, _mean_pixel(calls), ["k"], chunk=4)
    assert calls == [4, 1, 4]
    np.testing.assert_allclose(out["mean"], crops.reshape(5, -1).mean(1))
    from fiqa_plugin.errors import ModelError

    with pytest.raises(ModelError):
        recognizer_outputs("u", crops, lambda c: {"e": np.zeros(1)}, ["k"], chunk=4)

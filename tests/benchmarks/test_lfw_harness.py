"""The benchmark harness (fiqa_plugin/evaluation/harness.py) on a small real subset of LFW pairs."""
from __future__ import annotations

import numpy as np
import pytest

from fiqa_plugin.evaluation import harness as C


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("FIQA_CACHE", str(tmp_path_factory.mktemp("cache")))
    mp.setenv("FIQA_THREADS", "1")
    yield
    mp.undo()


@pytest.fixture(scope="module")
def run(cache):
    return C.run_lfw(limit_per_side=20, seeds=3, show=False)


def test_subset_pairs_and_methods(run):
    lfw, fc, results, skipped = run
    assert len(lfw.pairs) == 40 and int(lfw.genuine.sum()) == 20
    assert len(fc.rel) == len(set(fc.rel)) == lfw.pairs.max() + 1
    names = C.method_names()
    assert "onnx" not in names and {"blur", "pose", "jpeg", "detector-confidence", "embedding-norm"} <= set(names)
    assert not skipped, skipped
    for rec in C.RECOGNIZERS:
        res = results[rec]
        assert set(res.rows) == set(names) | {"random (mean of 3)", "theoretical best"}
        best = res.rows["theoretical best"]
        for name, row in res.rows.items():
            assert all(np.isfinite(v) for v in row.values()), (rec, name, row)
            assert best["pauc3_20"] <= row["pauc3_20"] + 1e-12 and best["pauc2_30"] <= row["pauc2_30"] + 1e-12
        table = C.markdown_table(res)
        assert len(table.splitlines()) == 2 + len(res.rows)


def test_cached_scores_match_the_scorer(run):
    """Scores rebuilt from the cache (regions re-cut for jpeg) equal QualityScorer's on the photographs."""
    from fiqa_plugin.scoring import QualityScorer

    lfw, fc, _, _ = run
    qualities, _ = C.score_methods(fc, lfw, C.method_names(), show=False)
    paths = lfw.paths[:6]
    for name, q in qualities.items():
        direct = np.array([r.quality for r in QualityScorer(name, mode="largest").score(paths)])
        np.testing.assert_allclose(q[:6], direct, rtol=1e-5, atol=1e-6, err_msg=name)


def test_rerun_uses_cache_and_extends_it(run, monkeypatch):
    from fiqa_plugin.faces.pipeline import FacePipeline

    lfw, fc, _, _ = run
    calls = []
    orig = FacePipeline.process
    monkeypatch.setattr(FacePipeline, "process", lambda self, src: calls.append(src) or orig(self, src))
    fc2 = C.build_faces(lfw, show=False)
    assert calls == []
    np.testing.assert_array_equal(fc2.crops, fc.crops)
    bigger = C.load_lfw(limit_per_side=22)
    C.build_faces(bigger, show=False)
    new = set(bigger.rel) - set(lfw.rel)
    assert new and sorted(str(c) for c in calls) == sorted(str(bigger.root / r) for r in new)


def test_faces_are_the_face_datasets(run, monkeypatch):
    """The harness's faces are the face dataset's (faces/dataset.FaceStore on cache_root()): equal to direct
    FacePipeline calls, and read back by a FaceStore on the same folder without detecting again."""
    from fiqa_plugin.faces.dataset import FaceStore
    from fiqa_plugin.faces.pipeline import FacePipeline

    lfw, fc, _, _ = run
    pipe = FacePipeline.from_pack("buffalo_sc", mode="largest")
    for i in range(3):
        f = pipe.process(lfw.paths[i]).faces[0]
        np.testing.assert_array_equal(fc.crops[i], f.aligned)
        np.testing.assert_array_equal(fc.landmarks[i], f.landmarks.astype(np.float32))
        np.testing.assert_array_equal(fc.bbox[i], np.asarray(f.bbox, np.float32))
        assert fc.det_score[i] == np.float32(f.det_score)
    calls = []
    orig = FacePipeline.process
    monkeypatch.setattr(FacePipeline, "process", lambda self, src: calls.append(src) or orig(self, src))
    again = FaceStore(C.cache_root(), lfw.root).faces(lfw.rel)
    assert calls == [] and again.key == fc.key
    for k in ("status", "crops", "landmarks", "bbox", "det_score"):
        np.testing.assert_array_equal(getattr(again, k), getattr(fc, k))


def test_failed_image_gets_lowest_quality_and_non_match(run):
    lfw, fc, _, _ = run
    status = fc.status.copy()
    fc.status[0] = "no_face"
    try:
        fc.embeddings.clear()
        sim = C.similarities(fc, lfw, "buffalo_sc", show=False)
        q, _ = C.score_methods(fc, lfw, ["blur"], show=False)
    finally:
        fc.status[:] = status
    with_failed = (lfw.pairs == 0).any(axis=1)
    assert with_failed.any() and np.all(sim[with_failed] == -1.0) and np.all(sim[~with_failed] > -1.0)
    assert q["blur"][0] == -np.inf and np.isfinite(q["blur"][1:]).all()


def test_plots_and_doc_sections(run, tmp_path):
    _, _, results, _ = run
    paths = C.plot_curves(results["buffalo_sc"], tmp_path)
    assert len(paths) == len(C.FMRS) and all(p.stat().st_size > 1000 for p in paths)
    doc = tmp_path / "doc.md"
    C.update_doc_section(doc, "a", "first", header="# T\n")
    C.update_doc_section(doc, "b", "other")
    C.update_doc_section(doc, "a", "second")
    text = doc.read_text()
    assert text.startswith("# T") and "second" in text and "first" not in text and text.index("second") < text.index("other")

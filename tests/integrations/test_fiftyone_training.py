"""Pseudo-labels → training → EDC through the plugin operators, on 40 real LFW faces of 5 people (+1 corrupt file).

Each test states what it needs through fixtures (no test relies on another having run): the resume test
gets a fresh dataset; the others share one module-scoped dataset already labelled by the operator.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone.operators.delegated import DelegatedOperationService
from fiftyone.operators.executor import ExecutionError

URI = "@fiqa/fiqa-plugin"
TAG = "fo-test"


def _people_dataset(lfw_people, folder: Path) -> fo.Dataset:
    corrupt = folder / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    ds = fo.Dataset()
    ds.add_samples([fo.Sample(filepath=p, ground_truth=fo.Classification(label=y)) for p, y in lfw_people]
                   + [fo.Sample(filepath=str(corrupt), ground_truth=fo.Classification(label="George_W_Bush"))],
                   progress=False)
    return ds


def _drop(ds: fo.Dataset) -> None:
    DelegatedOperationService().delete_for_dataset(ds._doc.id)
    ds.delete()


@pytest.fixture
def fresh_people_ds(lfw_people, tmp_path):
    ds = _people_dataset(lfw_people, tmp_path)
    yield ds
    _drop(ds)


@pytest.fixture(scope="module")
def people_ds(lfw_people, tmp_path_factory):
    """The 41 samples with centre pseudo-labels (``pseudo_quality``) written by the operator."""
    ds = _people_dataset(lfw_people, tmp_path_factory.mktemp("bad"))
    foo.execute_operator(f"{URI}/generate_pseudo_labels", ctx={"dataset": ds.name, "params": {
        "labeler": "center", "recognizer": "buffalo_sc", "identity_field": "ground_truth",
        "label_field": "pseudo_quality", "batch_size": 8}})
    yield ds
    _drop(ds)


def _run_queued(ds, op):
    svc = DelegatedOperationService()
    results = svc.execute_queued_operations(operator=f"{URI}/{op}", dataset_name=ds.name)
    assert len(results) == 1 and results[0].error is None, results[0].error
    return results[0].result


def test_pseudo_labels_delegated_resume(fresh_people_ds, pipeline_largest, lfw_people):
    from fiqa_plugin.integrations.fiftyone_labels import embed_samples
    from fiqa_plugin.plugins import RECOGNIZERS

    ds = fresh_people_ds
    # An earlier, interrupted run embedded the first 12 samples (saved per batch).
    assert embed_samples(ds.limit(12), batch_size=4)["embedded"] == 12
    res = foo.execute_operator(f"{URI}/generate_pseudo_labels", ctx={"dataset": ds.name, "request_delegation": True,
        "params": {"labeler": "center", "recognizer": "buffalo_sc", "identity_field": "ground_truth",
                   "label_field": "pseudo_quality", "batch_size": 8}})
    assert res.delegated and not ds.has_sample_field("pseudo_quality")
    out = _run_queued(ds, "generate_pseudo_labels")
    assert out["skipped"] == 12 and out["embedded_now"] == 28  # the restarted job skipped finished samples
    assert (out["total"], out["labelled"], out["no_face"]) == (41, 40, 1)
    ds.reload()
    assert ds.values("pseudo_quality")[-1] is None and "corrupt.jpg" in ds.values("embedding_buffalo_sc_error")[-1]

    # Golden: embeddings recomputed here, labels = clip(cos(e, normalised identity mean), 0, 1).
    emb = np.array(ds.limit(40).values("embedding_buffalo_sc"))
    rec = RECOGNIZERS.create("buffalo_sc")
    crops = np.stack([pipeline_largest.process(p).faces[0].aligned for p, _ in lfw_people[:3]])
    np.testing.assert_allclose(emb[:3], rec.embed(crops).normed, atol=1e-5)
    ids = np.array([y for _, y in lfw_people])
    want = np.empty(40)
    for y in np.unique(ids):
        c = emb[ids == y].sum(0)
        want[ids == y] = np.clip(emb[ids == y] @ (c / np.linalg.norm(c)), 0, 1)
    np.testing.assert_allclose(ds.limit(40).values("pseudo_quality"), want, atol=1e-5)


def test_sdd_labels_and_optimize_needs_initial_scores(people_ds):
    ds = people_ds
    res = foo.execute_operator(f"{URI}/generate_pseudo_labels", ctx={"dataset": ds.name, "params": {
        "labeler": "sdd", "identity_field": "ground_truth", "label_field": "sdd_quality"}})
    assert res.result["labelled"] == 40 and res.result["embedded_now"] == 0  # embeddings reused
    q = np.array(ds.limit(40).values("sdd_quality"))
    assert q.min() == pytest.approx(0.0) and q.max() == pytest.approx(100.0)  # SDD Eq. 9 range
    with pytest.raises(ExecutionError, match="initial_field"):
        foo.execute_operator(f"{URI}/generate_pseudo_labels", ctx={"dataset": ds.name, "params": {
            "labeler": "optimize", "identity_field": "ground_truth", "label_field": "opt"}})


def test_train_delegated_then_apply(people_ds, lfw_people):
    from fiqa_plugin.integrations.fiftyone import method_choices
    from fiqa_plugin.paths import user_models_dir
    from fiqa_plugin.plugins import QUALITY_METHODS
    from fiqa_plugin.quality.onnx_model import OnnxQualityModel
    from fiqa_plugin.scoring import QualityScorer

    ds = people_ds
    params = {"label_field": "pseudo_quality", "tag": TAG, "arch": "tinyfqnet", "identity_field": "ground_truth",
              "sampling": "smooth", "min_images": 5, "epochs": 3, "batch_size": 16, "input_size": 64}
    res = foo.execute_operator(f"{URI}/train_quality_model", ctx={"dataset": ds.name, "request_delegation": True,
                                                                 "params": params})
    assert res.delegated
    out = _run_queued(ds, "train_quality_model")
    name = f"tinyfqnet.{TAG}"
    assert out["name"] == name and out["samples"] == 40 and out["epochs"] == 3 and out["onnx_parity"] < 1e-4
    onnx = Path(out["onnx"])
    assert onnx.parent == user_models_dir() and onnx.stat().st_size < 200_000
    assert "pseudo_quality" in Path(out["card"]).read_text()
    assert QUALITY_METHODS.entry(name).tags["kind"] == "user" and name in method_choices()

    # The new tag is usable straight away: compute quality with it (operator → apply path).
    r = foo.execute_operator(f"{URI}/compute_face_quality", ctx={"dataset": ds.name, "params": {
        "method": name, "quality_field": "trained_q", "detect_faces": True, "faces_field": "", "batch_size": 16}})
    assert r.result == {"total": 41, "scored": 40, "failed": 1, "skipped": 0}
    # Golden: the exported file scored directly (not through the registry), best face per image.
    ref = {}
    for row in QualityScorer(OnnxQualityModel.from_config(out["config"]), mode="all").score([p for p, _ in lfw_people[:6]]):
        ref[row.source] = max(ref.get(row.source, -1.0), row.quality)
    np.testing.assert_allclose(ds.limit(6).values("trained_q"), [ref[p] for p, _ in lfw_people[:6]], atol=1e-5)
    assert np.ptp(ds.limit(40).values("trained_q")) > 0  # a per-face score (3 epochs: still a narrow range)

    # Rerunning the same job resumes (nothing left to train); other settings need overwrite.
    again = foo.execute_operator(f"{URI}/train_quality_model", ctx={"dataset": ds.name, "params": params})
    assert again.result["epochs"] == 3
    with pytest.raises(ExecutionError, match="overwrite"):
        foo.execute_operator(f"{URI}/train_quality_model", ctx={"dataset": ds.name, "params": {**params, "epochs": 4}})


def test_evaluate_edc_sampled_pairs(people_ds):
    from fiqa_plugin.evaluation import compute_edc, erc_refixed_threshold, pair_quality, pauc, sample_pairs
    from fiqa_plugin.integrations.fiftyone_eval import load_edc

    ds = people_ds
    res = foo.execute_operator(f"{URI}/evaluate_edc", ctx={"dataset": ds.name, "request_delegation": True, "params": {
        "quality_field": "pseudo_quality", "source": "identity", "identity_field": "ground_truth",
        "n_genuine": 100, "n_impostor": 600, "fmrs": "0.01", "eval_key": "edc_pseudo"}})
    assert res.delegated
    out = _run_queued(ds, "evaluate_edc")
    assert out["pairs"] == 700 and out["genuine"] == 100
    assert len(out["figure"]["data"]) == 1 and out["figure"]["data"][0]["x"][0] == 0.0  # one run, one FMR
    assert len(out["recommendations"]) == 5  # 1/2/5/10/20% discarded
    ds.reload()
    assert "edc_pseudo" in ds.list_runs()
    assert ds.get_run_info("edc_pseudo").config.quality_field == "pseudo_quality"
    report = load_edc(ds, "edc_pseudo")

    # Golden: the same seeded pairs over the 41 samples (the corrupt one has no embedding → similarity −1).
    labels = [g.label for g in ds.values("ground_truth")]
    pairs, gen = sample_pairs(np.array(labels), 100, 600, seed=0)
    emb = ds.values("embedding_buffalo_sc")
    sim = np.array([float(np.dot(emb[a], emb[b])) if emb[a] is not None and emb[b] is not None else -1.0
                    for a, b in pairs])
    q = np.array([np.nan if v is None else v for v in ds.values("pseudo_quality")])
    q[np.isnan(q)] = np.nanmin(q) - 1
    curve = compute_edc(sim, gen, pair_quality(q[pairs[:, 0]], q[pairs[:, 1]]), fmr=0.01)
    assert report["edc"]["0.01"]["pauc"]["0.2"] == pytest.approx(pauc(curve, 0.2), abs=1e-9)
    assert out["pauc"][0]["pauc_0_2"] == f"{pauc(curve, 0.2):.4f}"  # the operator's table
    # CR-FIQA's re-fixed-threshold ERC beside it, in the run and in the operator's pAUC table
    erc = erc_refixed_threshold(sim, gen, pair_quality(q[pairs[:, 0]], q[pairs[:, 1]]), fmr=0.01)
    want = pauc(erc, 0.2, interpolation="linear")
    assert report["edc"]["0.01"]["erc_refixed"]["pauc"]["0.2"] == pytest.approx(want, abs=1e-9)
    assert out["pauc"][0]["erc_0_2"] == f"{want:.4f}"


def test_evaluate_edc_pairs_file(people_ds, lfw_people, tmp_path):
    from fiqa_plugin.integrations.fiftyone_eval import evaluate_edc

    paths = [p for p, _ in lfw_people]
    f = tmp_path / "pairs.csv"
    with open(f, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "b", "genuine"])
        for i in range(0, 40, 8):  # same person: photos 0-1 and 2-3 of each; different: photo 0 vs the next person's
            w.writerow([paths[i], paths[i + 1], 1])
            w.writerow([paths[i + 2], paths[i + 3], 1])
            w.writerow([paths[i], paths[(i + 8) % 40], 0])
        w.writerow([paths[0], "/nowhere/not-in-dataset.jpg", 0])
    runs_before = people_ds.list_runs()
    rep = evaluate_edc(people_ds, "pseudo_quality", pairs_file=str(f), fmrs=[0.2], discard_limits=[0.3], eval_key=None)
    assert (rep["pairs"], rep["genuine"], rep["pairs_dropped"]) == (15, 10, 1)
    assert people_ds.list_runs() == runs_before  # eval_key=None stores nothing

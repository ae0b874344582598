"""The @fiqa/fiqa-plugin operators, discovered from FIFTYONE_PLUGINS_DIR and run headless."""
from __future__ import annotations

import fiftyone.operators as foo
import fiftyone.plugins as fop
from fiftyone.operators.delegated import DelegatedOperationService

URI = "@fiqa/fiqa-plugin"


def test_plugin_is_discovered():
    names = [p.name for p in fop.list_plugins()]
    assert URI in names
    ops = {o.uri for o in foo.list_operators() if o.plugin_name == URI}
    expected = {"compute_face_quality", "generate_pseudo_labels", "train_quality_model", "evaluate_edc",
                "select_by_face_quality", "select_best_faces_per_group", "export_quality_model",
                "face_quality_panel"}  # the panel is listed with the operators
    assert {f"{URI}/{n}" for n in expected} == ops


def test_compute_then_select(make_dataset, lfw20, bad_files):
    ds = make_dataset(lfw20[:10] + bad_files, identity=[f"id{i % 2}" for i in range(12)])
    res = foo.execute_operator(f"{URI}/compute_face_quality", ctx={"dataset": ds.name, "params": {
        "method": "lightqnet", "quality_field": "quality", "detect_faces": True, "faces_field": "faces",
        "batch_size": 4, "skip_existing": True}})
    assert res.result == {"total": 12, "scored": 10, "failed": 2, "skipped": 0}
    ds.reload()
    assert ds.count("quality") == 10 and ds.count("faces.detections") >= 10

    res = foo.execute_operator(f"{URI}/select_by_face_quality", ctx={"dataset": ds.name, "params": {
        "quality_field": "quality", "criterion": "lowest_k", "value": 4, "tag": "review", "view_name": "worst"}})
    assert res.result["count"] == 4
    assert ds.count_sample_tags() == {"review": 4}
    assert ds.load_saved_view("worst").values("quality")[:2] == [None, None]  # unscored come first
    res = foo.execute_operator(f"{URI}/select_by_face_quality", ctx={"dataset": ds.name, "params": {
        "quality_field": "quality", "criterion": "best_k_per", "value": 1, "group_field": "identity",
        "view_name": "best_per_id"}})
    assert sorted(ds.load_saved_view("best_per_id").values("identity")) == ["id0", "id1"]

    # "select best faces per group": the 2 best of each identity, tagged.
    res = foo.execute_operator(f"{URI}/select_best_faces_per_group", ctx={"dataset": ds.name, "params": {
        "quality_field": "quality", "group_field": "identity", "k": 2, "tag": "best2"}})
    assert res.result == {"count": 4, "tag": "best2"}
    q, ids = ds.values("quality"), ds.values("identity")
    for g in ("id0", "id1"):  # golden: the two highest scored qualities of each identity
        want = sorted((v for v, i in zip(q, ids) if i == g and v is not None), reverse=True)[:2]
        assert sorted(ds.match_tags("best2").match({"identity": g}).values("quality"), reverse=True) == want


def test_export_operator(tmp_path, make_dataset, lfw20):
    ds = make_dataset(lfw20[:1])
    res = foo.execute_operator(f"{URI}/export_quality_model", ctx={"dataset": ds.name, "params": {
        "method": "lightqnet", "out_dir": str(tmp_path / "out")}})
    assert (tmp_path / "out" / "lightqnet.dm100.onnx").is_file()
    assert res.result["config"].endswith("lightqnet.dm100.json")


def _queue_blur_compute(ds):
    """Queue (not run) compute_face_quality with blur into field ``q``, as the App's "delegate" does."""
    res = foo.execute_operator(f"{URI}/compute_face_quality", ctx={"dataset": ds.name, "request_delegation": True,
        "params": {"method": "blur", "quality_field": "q", "detect_faces": True, "faces_field": "",
                   "batch_size": 4, "skip_existing": True}})
    assert res.delegated


def test_delegated_compute(make_dataset, lfw20, bad_files):
    ds = make_dataset(lfw20[:6] + bad_files[:1])
    _queue_blur_compute(ds)
    ds.reload()
    assert not ds.has_sample_field("q")  # only queued so far
    svc = DelegatedOperationService()
    queued = svc.get_queued_operations(operator=f"{URI}/compute_face_quality", dataset_name=ds.name)
    assert len(queued) == 1
    results = svc.execute_queued_operations(operator=f"{URI}/compute_face_quality", dataset_name=ds.name)
    assert len(results) == 1 and results[0].error is None, results[0].error
    assert results[0].result == {"total": 7, "scored": 6, "failed": 1, "skipped": 0}
    ds.reload()
    assert ds.count("q") == 6 and ds.count("q_error") == 1
    assert svc.get(queued[0].id).run_state == "completed"
    svc.delete_for_dataset(ds._doc.id)


def test_delegated_job_runs_in_a_separate_fiftyone_delegated_launch(make_dataset, lfw20, bad_files, run_delegated):
    """What a user does: queue from one process, run `fiftyone delegated launch` in another."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    ds = make_dataset(lfw20[:4] + bad_files[:1])
    _queue_blur_compute(ds)
    svc = DelegatedOperationService()
    (op,) = svc.get_queued_operations(operator=f"{URI}/compute_face_quality", dataset_name=ds.name)
    cli = Path(sys.executable).with_name("fiftyone")
    assert cli.exists(), f"{cli} missing: install fiftyone into this environment"
    worker = subprocess.Popen([str(cli), "delegated", "launch"], env=dict(os.environ), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    done = run_delegated(svc, op.id, worker, timeout=180)
    assert done.run_state == "completed", f"state {done.run_state}: {done.run_state == 'failed' and done.result}"
    assert done.result.result == {"total": 5, "scored": 4, "failed": 1, "skipped": 0}
    ds.reload()
    assert ds.count("q") == 4 and ds.count("q_error") == 1
    svc.delete_for_dataset(ds._doc.id)

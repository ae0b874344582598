"""Delegated operators survive a killed worker: ``fiftyone delegated launch`` (a real subprocess) is
sent SIGKILL in the middle of ``compute_face_quality`` / ``generate_pseudo_labels``, the job is re-run
(``DelegatedOperationService.rerun_operation``, what ``fiftyone delegated rerun ID`` calls) in a fresh
worker, and the dataset ends exactly as after a run that was never killed: finished samples are
skipped, none is done twice, and no sample is ever marked done with part of its fields missing.

The killed worker is the real ``fiftyone delegated launch`` entry point; its one change is that
``Dataset.set_values`` pauses after its K-th call and leaves a marker file, so the kill lands at a
known point: between two fields of one batch, the worst place for a half-written sample.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone.operators.delegated import DelegatedOperationService

from fiqa_plugin.paths import REPO_DIR

URI = "@fiqa/fiqa-plugin"
WORKER = """
import sys, time
from pathlib import Path
import fiftyone.core.dataset as fod

marker, after = Path(sys.argv[1]), int(sys.argv[2])
real_set_values, calls = fod.Dataset.set_values, []

def set_values_then_wait(self, field_name, *a, **kw):
    out = real_set_values(self, field_name, *a, **kw)
    calls.append(field_name)
    if len(calls) == after:
        marker.write_text(" ".join(calls))
        time.sleep(600)  # held here until the test sends SIGKILL
    return out

fod.Dataset.set_values = set_values_then_wait
from fiftyone.core.cli import main
sys.argv = ["fiftyone", "delegated", "launch"]
main()
"""


def _worker(marker: Path, after: int) -> subprocess.Popen:
    """``fiftyone delegated launch`` in its own session; ``after=0``: never pauses."""
    return subprocess.Popen([sys.executable, "-c", WORKER, str(marker), str(after)], cwd=str(REPO_DIR),
                            env=dict(os.environ, PYTHONWARNINGS="ignore"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _kill_at_marker(worker: subprocess.Popen, marker: Path, timeout: float = 240) -> None:
    t = time.monotonic()
    while not marker.exists() and time.monotonic() - t < timeout:
        assert worker.poll() is None, f"worker exited early:\n{worker.stdout.read()[-3000:]}"
        time.sleep(0.1)
    assert marker.exists(), "the worker never reached the kill point"
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and anything it started, no clean-up
    worker.wait()


def _finish(run_delegated, svc, op_id):
    """Run the queued op ``op_id`` in a fresh worker until it completes; its result."""
    done = run_delegated(svc, op_id, _worker(Path(os.devnull), 0))
    assert done.run_state == "completed", f"{done.run_state}: {done.result}"
    return done.result.result


def _rerun_killed(svc, op) -> object:
    """What a user does after the worker died: the stuck op marked failed, then re-run."""
    assert svc.get(op.id).run_state == "running"  # nothing marks it: the worker died mid-job
    svc.set_failed(doc_id=op.id)
    return svc.rerun_operation(op.id)


def _plain(v):
    """A field value comparable across datasets (label ids differ between datasets)."""
    if isinstance(v, fo.Detections):
        return [(d.bounding_box, d.confidence, d.quality, d.quality_score, d.landmarks) for d in v.detections]
    if isinstance(v, fo.Keypoints):
        return [(k.points, k.quality, k.quality_score) for k in v.keypoints]
    return v


def test_compute_quality_worker_killed_between_fields(make_dataset, lfw20, bad_files, tmp_path, run_delegated):
    paths = lfw20[:4] + bad_files[:1] + lfw20[4:10]  # 11 samples, batches of 4; the corrupt file in batch 2
    params = {"method": "blur", "quality_field": "q", "detect_faces": True, "faces_field": "faces",
              "batch_size": 4, "skip_existing": True}
    fields = ["q", "q_score", "q_error", "faces", "faces_landmarks"]
    ref = make_dataset(paths)
    foo.execute_operator(f"{URI}/compute_face_quality", ctx={"dataset": ref.name, "params": params})
    want = {f: [_plain(v) for v in ref.values(f)] for f in fields}
    assert sum(v is not None for v in want["q"]) == 10 and want["q_error"][4]

    ds = make_dataset(paths)
    svc = DelegatedOperationService()
    assert foo.execute_operator(f"{URI}/compute_face_quality", ctx={
        "dataset": ds.name, "request_delegation": True, "params": params}).delegated
    (op,) = svc.get_queued_operations(operator=f"{URI}/compute_face_quality", dataset_name=ds.name)
    marker = tmp_path / "marker"
    _kill_at_marker(_worker(marker, 5 + 2), marker)  # 5 fields per batch: killed after 2 fields of batch 2
    assert marker.read_text().split()[5:] == ["q_score", "faces"]

    ds.reload()
    got = {f: [_plain(v) for v in ds.values(f)] for f in fields}
    done = [i for i in range(len(paths)) if got["q"][i] is not None or got["q_error"][i] is not None]
    assert done == [0, 1, 2, 3]  # batch 1 only: batch 2 has fields written but no "done" mark yet
    for f in fields:  # every sample marked done is complete and right
        assert [got[f][i] for i in done] == [want[f][i] for i in done], f

    rerun = _rerun_killed(svc, op)
    res = _finish(run_delegated, svc, rerun.id)
    assert res == {"total": 11, "scored": 6, "failed": 1, "skipped": 4}  # the 4 finished samples skipped
    ds.reload()
    for f in fields:
        assert [_plain(v) for v in ds.values(f)] == want[f], f
    svc.delete_for_dataset(ds._doc.id)


def test_pseudo_labels_worker_killed_mid_embedding(lfw_people, tmp_path, run_delegated):
    def people():
        ds = fo.Dataset()
        ds.add_samples([fo.Sample(filepath=p, ground_truth=fo.Classification(label=y)) for p, y in lfw_people],
                       progress=False)
        return ds

    params = {"labeler": "center", "recognizer": "buffalo_sc", "identity_field": "ground_truth",
              "label_field": "pseudo_quality", "batch_size": 8}
    ref, ds = people(), people()
    svc = DelegatedOperationService()
    try:
        foo.execute_operator(f"{URI}/generate_pseudo_labels", ctx={"dataset": ref.name, "params": params})
        want = np.array(ref.values("pseudo_quality"), float)
        assert np.isfinite(want).all()
        assert foo.execute_operator(f"{URI}/generate_pseudo_labels", ctx={
            "dataset": ds.name, "request_delegation": True, "params": params}).delegated
        (op,) = svc.get_queued_operations(operator=f"{URI}/generate_pseudo_labels", dataset_name=ds.name)
        marker = tmp_path / "marker"
        # 2 fields per batch of 8 (embedding, then its error): killed after batch 3's embeddings
        _kill_at_marker(_worker(marker, 5), marker)
        assert marker.read_text().split()[-1] == "embedding_buffalo_sc"
        ds.reload()
        emb = ds.values("embedding_buffalo_sc")
        assert [i for i, e in enumerate(emb) if e is not None] == list(range(24))
        assert not ds.has_sample_field("pseudo_quality") or ds.count("pseudo_quality") == 0  # no label yet

        res = _finish(run_delegated, svc, _rerun_killed(svc, op).id)
        assert (res["skipped"], res["embedded_now"], res["labelled"]) == (24, 16, 40)
        ds.reload()
        np.testing.assert_array_equal(np.array(ds.values("embedding_buffalo_sc")), np.array(ref.values("embedding_buffalo_sc")))
        np.testing.assert_allclose(np.array(ds.values("pseudo_quality"), float), want, rtol=0, atol=1e-7)
    finally:
        for d in (ref, ds):
            svc.delete_for_dataset(d._doc.id)
            d.delete()

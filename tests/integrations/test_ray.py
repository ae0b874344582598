"""The Ray Data engine on a real local Ray cluster (2 CPUs, started and stopped here) and real LFW photos:
its rows are the local engine's rows, a worker killed mid-run costs nothing, a re-run skips finished shards,
and the results land in a FiftyOne dataset as compute_quality would write them."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import ray  # the ray extra (part of `all`): pip install 'fiqa-plugin[ray]'

from fiqa_plugin.errors import ResumeError
from fiqa_plugin.integrations.ray import FacesStage, list_uris, read_rows, score_with_ray, write_back
from fiqa_plugin.scoring import QualityScorer

SHARD = 8
RUN = dict(mode="all", keep_embeddings=True, shard_size=SHARD, batch_size=4, workers=2, quality_cpus=0)


@pytest.fixture(scope="module")
def cluster():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, object_store_memory=150 * 2**20, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(shared) -> list:
    """40 real LFW photos (a few of them with several faces) and one missing file."""
    root = shared / "data" / "lfw" / "images"
    paths = sorted(str(p) for d in sorted(root.glob("A*"))[:40] for p in sorted(d.glob("*.jpg"))[:1])
    assert len(paths) == 40, f"LFW images missing from {root}"
    return paths[:20] + [str(root / "nobody" / "missing.jpg")] + paths[20:]


def _key(r) -> tuple:
    """Everything a row holds, floats by their exact bits (NaN equals NaN here)."""
    bits = lambda v: None if v is None else np.asarray(v).tobytes()  # noqa: E731
    return (r.source, r.face_index, bits(r.quality), r.status, r.error, bits(r.det_score), bits(r.bbox),
            bits(r.landmarks), bits(r.embedding), bits(r.quality_score))


@pytest.fixture(scope="module")
def local_rows(photos) -> list:
    """The golden rows: the local engine (QualityScorer.score) on the same list, every face, with embeddings."""
    rows = [_key(r) for r in QualityScorer(mode="all", keep_embeddings=True).score(photos)]
    assert sum(r[3] == "ok" for r in rows) >= 40 and any(r[3] == "missing" for r in rows)
    assert all(r[8] is not None for r in rows if r[3] == "ok"), "no embeddings to compare"
    assert len({r[0] for r in rows}) < len(rows), "no photo with several faces: pick other photos"
    return rows


@pytest.fixture(scope="module")
def shards(cluster, photos, tmp_path_factory):
    """One Ray run whose worker kills itself once, on the first batch past the middle of the list."""
    tmp = tmp_path_factory.mktemp("ray")
    marker = tmp / "killed"

    class KillOnce(FacesStage):
        def __call__(self, batch):
            if int(batch["index"][0]) >= 20 and not marker.exists():
                marker.touch()
                os._exit(1)
            return super().__call__(batch)

    counts = score_with_ray(photos, tmp / "shards", faces_stage=KillOnce, resume=False, **RUN)
    assert marker.exists(), "the worker was never killed: the run did not test a retry"
    return tmp / "shards", counts


def test_rows_equal_the_local_engine_despite_a_killed_worker(shards, local_rows):
    out, counts = shards
    assert counts == {"images": 41, "shards": 6, "skipped_shards": 0, "rows": len(local_rows)}
    assert [_key(r) for r in read_rows(out)] == local_rows


def test_rerun_scores_only_the_missing_shard(shards, photos, local_rows, tmp_path):
    out = tmp_path / "shards"
    shutil.copytree(shards[0], out)
    files = sorted(out.glob("shard-*.parquet"))
    files[2].unlink()  # a job killed while shard 2 was in flight
    before = {p.name: p.stat().st_mtime_ns for p in files if p.exists()}
    counts = score_with_ray(photos, out, **RUN)
    assert counts["skipped_shards"] == 5 and 0 < counts["rows"] < len(local_rows)
    assert {p.name: p.stat().st_mtime_ns for p in files if p.name in before} == before
    assert [_key(r) for r in read_rows(out)] == local_rows
    assert score_with_ray(photos, out, **RUN)["skipped_shards"] == 6  # nothing left: Ray is not even asked


def test_write_back_matches_compute_quality(shards, photos, make_dataset):
    from fiqa_plugin.integrations.fiftyone import compute_quality, load_model

    fields = ["quality", "quality_score", "quality_error", "faces", "faces_landmarks"]
    ray_ds, local_ds = make_dataset(photos), make_dataset(photos)
    assert write_back(ray_ds, shards[0], faces_field="faces") == {"scored": 40, "failed": 1}
    compute_quality(local_ds, load_model(None, mode="all"), faces_field="faces")

    def plain(v):  # labels without their random ids
        return v.to_dict() if hasattr(v, "to_dict") else v

    def strip(d):
        if isinstance(d, dict):
            return {k: strip(v) for k, v in d.items() if k not in ("_id", "id")}
        return [strip(x) for x in d] if isinstance(d, list) else d

    got = [strip([plain(v) for v in vals]) for vals in zip(*ray_ds.values(fields))]
    want = [strip([plain(v) for v in vals]) for vals in zip(*local_ds.values(fields))]
    assert got == want and sum(g[0] is not None for g in got) == 40


def test_resume_refuses_shards_of_another_run(tmp_path):
    score_with_ray([], tmp_path, method="blur", shard_size=SHARD)  # an empty run writes only the manifest
    with pytest.raises(ResumeError, match="method"):
        score_with_ray([], tmp_path, method="pose", shard_size=SHARD)


def test_object_storage_uris_read_like_local_paths(photos, tmp_path):
    """URIs go through pyarrow's filesystems (here file://; s3:// and gs:// take the same path)."""
    for p in photos[:3]:
        os.symlink(p, tmp_path / os.path.basename(p))
    uris = list_uris(tmp_path.as_uri() + "/")
    assert uris == sorted(tmp_path.as_uri() + "/" + os.path.basename(p) for p in photos[:3])
    stage = FacesStage("largest", "buffalo_sc", None, threads=1)
    for uri, path in zip(uris, sorted(photos[:3], key=os.path.basename)):
        got, want = stage.process(uri), stage.pipeline.process(path)
        assert (got.source, got.status) == (uri, "ok")
        assert np.array_equal(got.faces[0].aligned, want.faces[0].aligned)
    missing = stage.process(tmp_path.as_uri() + "/nobody.jpg")
    assert missing.status == "missing" and "nobody.jpg" in missing.error

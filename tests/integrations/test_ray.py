"""The Ray Data engine on a real local Ray cluster (2 CPUs, started and stopped here) and real LFW photos:
its rows are the local engine's rows, a worker killed mid-run costs nothing, a re-run skips finished shards."""
from __future__ import annotations

import os

import numpy as np
import pytest
import ray  # the ray extra (part of `all`): pip install 'fiqa-plugin[ray]'

from fiqa_plugin.errors import ResumeError
from fiqa_plugin.integrations.ray import FacesStage, read_rows, score_with_ray
from fiqa_plugin.scoring import QualityScorer

SHARD = 8


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
    return [_key(r) for r in QualityScorer(mode="all", keep_embeddings=True).score(photos)]


def test_ray_rows_equal_local_survive_a_killed_worker_and_resume(cluster, photos, local_rows, tmp_path):
    marker = tmp_path / "killed"

    class KillOnce(FacesStage):
        """Kills its own worker process on the first batch past the middle of the list, once."""

        def __call__(self, batch):
            if int(batch["index"][0]) >= 20 and not marker.exists():
                marker.touch()
                os._exit(1)
            return super().__call__(batch)

    out = tmp_path / "shards"
    kw = dict(mode="all", keep_embeddings=True, shard_size=SHARD, batch_size=4, workers=2, quality_cpus=0.5)
    counts = score_with_ray(photos, out, faces_stage=KillOnce, resume=False, **kw)
    assert marker.exists(), "the worker was never killed: the test did not test a retry"
    assert counts == {"images": 41, "shards": 6, "skipped_shards": 0, "rows": len(local_rows)}
    assert [_key(r) for r in read_rows(out)] == local_rows
    assert sum(r[3] == "ok" for r in local_rows) >= 40 and any(r[3] == "missing" for r in local_rows)
    assert all(r[8] is not None for r in local_rows if r[3] == "ok"), "embeddings were not compared"
    assert len({r[0] for r in local_rows}) < len(local_rows), "no photo with several faces: pick other photos"

    # A job killed between shards: the finished ones stay, only the lost one is scored again.
    shards = sorted(out.glob("shard-*.parquet"))
    shards[2].unlink()
    before = {p.name: p.stat().st_mtime_ns for p in shards if p.exists()}
    counts = score_with_ray(photos, out, **kw)
    assert counts["skipped_shards"] == 5 and 0 < counts["rows"] < len(local_rows)
    assert {p.name: p.stat().st_mtime_ns for p in shards if p.name in before} == before
    assert [_key(r) for r in read_rows(out)] == local_rows
    assert score_with_ray(photos, out, **kw)["skipped_shards"] == 6  # nothing left: Ray is not even asked


def test_resume_refuses_shards_of_another_run(tmp_path):
    score_with_ray([], tmp_path, method="blur", shard_size=SHARD)  # an empty run writes only the manifest
    with pytest.raises(ResumeError, match="method"):
        score_with_ray([], tmp_path, method="pose", shard_size=SHARD)

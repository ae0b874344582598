"""Ray Data engine: score (and embed) images on a Ray cluster, resumable shard by shard.

Quick use::

    from fiqa_plugin.integrations.ray import score_with_ray, read_rows

    score_with_ray(paths, "scores.shards", method="tinyfqnet", workers=8)   # ray.init() if not started
    for row in read_rows("scores.shards"):                                    # ScoreRow, in input order
        ...

Two ``map_batches`` stages run on actor pools that hold the ONNX sessions: decode → detect →
align (the core's :class:`~fiqa_plugin.faces.FacePipeline`, one actor per CPU) and quality
(→ embedding) (the core's :class:`~fiqa_plugin.scoring.QualityScorer`). Nothing is
re-implemented, so the rows are the local engine's rows.

The output folder holds ``_manifest.json`` (the settings and a hash of the image list) and one
``shard-NNNNN.parquet`` per ``shard_size`` consecutive images, written atomically once every row
of the shard is in. A re-run skips finished shards, so a job killed at any point loses at most the
shards in flight; a worker killed mid-task is restarted by Ray and its task retried, so no row is
lost or written twice.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray

from ..errors import ResumeError, UsageError
from ..faces.dataset import FaceSet
from ..faces.pipeline import ALIGNED_SIZE, Face, FaceMode, FacePipeline, ImageFaces
from ..onnx_session import THREADS_ENV
from ..progress import Progress
from ..scoring import QualityScorer, ScoreRow

log = logging.getLogger(__name__)

MANIFEST = "_manifest.json"
_VERSION = 1
_SCHEMA = pa.schema([
    ("index", pa.int64()),  # position of the image in the input list
    ("path", pa.string()),
    ("face", pa.int32()),  # -1: the image gave no face (status says why)
    # Scalars as float64: the local engine's Python floats, bit for bit.
    ("quality", pa.float64()),
    ("quality_score", pa.float64()),  # 0-100 calibrated (NaN: the method has no calibration table)
    ("status", pa.string()),
    ("error", pa.string()),
    ("det_score", pa.float64()),
    ("bbox", pa.list_(pa.float32(), 4)),
    ("landmarks", pa.list_(pa.float32(), 10)),
    ("embedding", pa.list_(pa.float32())),
    ("width", pa.int32()),  # of the original image (0: unknown), for FiftyOne's relative boxes
    ("height", pa.int32()),
])


# --- stages (Ray actors) ------------------------------------------------------------------------

class FacesStage:
    """Decode → detect → align with the core's FacePipeline; one row per face (or per faceless image).

    A Ray Data actor: the detector session is built once per actor and reused for every batch.
    """

    def __init__(self, mode: str, pack: str, root: Optional[str], threads: int) -> None:
        os.environ[THREADS_ENV] = str(threads)  # sessions made in this worker use its CPU share
        self.pipeline = FacePipeline.from_pack(pack, root, mode=mode)
        self._filesystems: Dict[str, Any] = {}

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        return faces_to_columns(batch["index"], [self.process(str(p)) for p in batch["path"]])

    def process(self, path: str) -> ImageFaces:
        """Faces of a local path, or of an object-storage URI (``s3://``, ``gs://``, ``file://``...: read
        with pyarrow's filesystems, then decoded from memory). Never raises for bad input."""
        if "://" not in path:
            return self.pipeline.process(path)
        from pyarrow import fs

        try:
            bucket = "/".join(path.split("/", 3)[:3])  # scheme://bucket: one client per bucket, made once
            if bucket not in self._filesystems:
                filesystem, inner = fs.FileSystem.from_uri(path)
                # the URI is <prefix><path inside the filesystem> (s3://, file://, hdfs://host:port ...)
                prefix = path[: len(path) - len(inner)] if path.endswith(inner) else None
                self._filesystems[bucket] = (filesystem, prefix)
            filesystem, prefix = self._filesystems[bucket]
            if prefix is not None and path.startswith(prefix):
                inner = path[len(prefix):]
            else:
                inner = fs.FileSystem.from_uri(path)[1]
            with filesystem.open_input_stream(inner) as fh:
                data = fh.read()
        except FileNotFoundError:
            return ImageFaces(path, "missing", error=f"{path}: file not found")
        except (OSError, ValueError) as exc:
            return ImageFaces(path, "unreadable", error=f"{path}: cannot read ({exc})")
        result = self.pipeline.process(data)
        result.source, result.error = path, result.error.replace("<bytes>", path)
        return result


class QualityStage:
    """Quality (and, when asked, the recognizer's embedding) of the faces of a batch, with the core's QualityScorer."""

    def __init__(self, method: Optional[str], mode: str, recognizer: Optional[str], keep_embeddings: bool,
                 threads: int) -> None:
        os.environ[THREADS_ENV] = str(threads)
        # The faces come aligned from the previous stage: the scorer's own pipeline never runs.
        self.scorer = QualityScorer(method, mode=mode, recognizer=recognizer, keep_embeddings=keep_embeddings,
                                    pipeline=FacePipeline(None, FaceMode.ALIGNED))

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        # One row out per row in (a face, or a faceless image), in order: these columns pass through.
        rows = list(self.scorer._rows(columns_to_items(batch)))
        return {**{k: batch[k] for k in ("index", "n", "width", "height")}, **rows_to_columns(rows)}


# --- columns <-> core objects ---------------------------------------------------------------------

def faces_to_columns(index: Sequence[int], items: Sequence[ImageFaces]) -> Dict[str, np.ndarray]:
    """The faces of ``items`` as numpy columns (a Ray Data batch): a faceless image keeps one row
    with ``face = -1`` so its status reaches the output."""
    idx, path, face, status, error, n, size = [], [], [], [], [], [], []
    crops, lms, boxes, dets, regions, shapes = [], [], [], [], [], []
    for i, it in zip(index, items):
        for f in it.faces or [None]:
            idx.append(int(i))
            path.append(it.source)
            status.append(it.status)
            error.append(it.error)
            n.append(max(1, len(it.faces)))
            size.append(it.image_size or (0, 0))
            if f is None:
                face.append(-1)
                crops.append(np.zeros((ALIGNED_SIZE, ALIGNED_SIZE, 3), np.uint8))
                lms.append(np.full((5, 2), np.nan, np.float32))
                boxes.append(np.full(4, np.nan, np.float32))
                dets.append(np.nan)
                regions.append(b"")
                shapes.append((0, 0, 0))
                continue
            face.append(f.index)
            crops.append(f.aligned)
            lms.append(np.asarray(f.landmarks, np.float32))
            boxes.append(np.full(4, np.nan, np.float32) if f.bbox is None else np.asarray(f.bbox, np.float32))
            dets.append(f.det_score)
            # The JPEG measure reads the face box on the source pixel grid, not the warped crop.
            r = f.region
            regions.append(b"" if r is None else np.ascontiguousarray(r).tobytes())
            shapes.append((0, 0, 0) if r is None else r.shape)
    return {
        "index": np.asarray(idx, np.int64), "path": np.asarray(path, object), "face": np.asarray(face, np.int32),
        "status": np.asarray(status, object), "error": np.asarray(error, object), "n": np.asarray(n, np.int32),
        "width": np.asarray([w for w, _ in size], np.int32), "height": np.asarray([h for _, h in size], np.int32),
        "aligned": np.stack(crops) if crops else np.zeros((0, ALIGNED_SIZE, ALIGNED_SIZE, 3), np.uint8),
        "landmarks": np.stack(lms) if lms else np.zeros((0, 5, 2), np.float32),
        "bbox": np.stack(boxes) if boxes else np.zeros((0, 4), np.float32),
        "det_score": np.asarray(dets, np.float32),
        "region": np.asarray(regions, object), "region_shape": np.asarray(shapes, np.int32).reshape(-1, 3),
    }


def columns_to_items(batch: Dict[str, np.ndarray]) -> List[ImageFaces]:
    """Back from columns to one ImageFaces per image (consecutive rows of one image form one item)."""
    index: List[int] = []
    items: List[ImageFaces] = []
    for k in range(len(batch["index"])):
        i = int(batch["index"][k])
        if not index or index[-1] != i:
            index.append(i)
            items.append(ImageFaces(str(batch["path"][k]), str(batch["status"][k]), error=str(batch["error"][k])))
        if int(batch["face"][k]) < 0:
            continue
        box = np.asarray(batch["bbox"][k], np.float32)
        shape = tuple(int(s) for s in batch["region_shape"][k])
        region = np.frombuffer(batch["region"][k], np.uint8).reshape(shape) if shape[0] else None
        items[-1].faces.append(Face(
            np.ascontiguousarray(batch["aligned"][k]), np.asarray(batch["landmarks"][k], np.float32),
            None if np.isnan(box).all() else box, float(batch["det_score"][k]), int(batch["face"][k]), region=region,
        ))
    return items


def rows_to_columns(rows: Sequence[ScoreRow]) -> Dict[str, np.ndarray]:
    """ScoreRows as numpy columns (absent boxes, landmarks and embeddings as NaN)."""
    emb = [r.embedding for r in rows]
    dim = next((len(e) for e in emb if e is not None), 0)
    return {
        "path": np.asarray([r.source for r in rows], object),
        "face": np.asarray([r.face_index for r in rows], np.int32),
        "quality": np.asarray([r.quality for r in rows], np.float64),
        "quality_score": np.asarray([r.quality_score for r in rows], np.float64),
        "status": np.asarray([r.status for r in rows], object),
        "error": np.asarray([r.error for r in rows], object),
        "det_score": np.asarray([r.det_score for r in rows], np.float64),
        "bbox": np.stack([np.full(4, np.nan, np.float32) if r.bbox is None else np.asarray(r.bbox, np.float32)
                          for r in rows]) if rows else np.zeros((0, 4), np.float32),
        "landmarks": np.stack([np.full(10, np.nan, np.float32) if r.landmarks is None else
                               np.asarray(r.landmarks, np.float32).reshape(10) for r in rows])
        if rows else np.zeros((0, 10), np.float32),
        "embedding": np.stack([np.full(dim, np.nan, np.float32) if e is None else np.asarray(e, np.float32)
                               for e in emb]) if rows else np.zeros((0, dim), np.float32),
    }


def _table(rows: List[Dict[str, Any]]) -> pa.Table:
    """A shard's rows (sorted by input position, then face) as an Arrow table; absent boxes,
    landmarks and embeddings become nulls."""
    rows = sorted(rows, key=lambda r: (r["index"], r["face"]))

    def vec(r: Dict[str, Any], k: str) -> Optional[List[float]]:
        v = np.asarray(r[k], np.float32)
        return None if v.size == 0 or np.isnan(v).all() else v.reshape(-1).tolist()

    cols = {k: [r[k].item() if isinstance(r[k], np.generic) else r[k] for r in rows]
            for k in ("index", "path", "face", "quality", "quality_score", "status", "error", "det_score", "width",
                      "height")}
    cols.update({k: [vec(r, k) for r in rows] for k in ("bbox", "landmarks", "embedding")})
    return pa.table(cols, schema=_SCHEMA)


# --- the driver -----------------------------------------------------------------------------------

def ensure_ray(address: Optional[str] = None, num_cpus: Optional[int] = None) -> None:
    """Connect to ``address`` (or ``$RAY_ADDRESS``) or start a local Ray, unless Ray is already up."""
    if ray.is_initialized():
        return
    ray.init(address=address, num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING,
             configure_logging=True)


def _shard_file(out_dir: Path, shard: int) -> Path:
    return out_dir / f"shard-{shard:05d}.parquet"


def _prepare(out_dir: Path, manifest: Dict[str, Any], resume: bool) -> None:
    """Check (resume) or reset (fresh run) the output folder against ``manifest``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    mpath = out_dir / MANIFEST
    if mpath.exists():
        old = json.loads(mpath.read_text())
        if resume and old != manifest:
            diff = sorted(k for k in manifest if old.get(k) != manifest[k])
            raise ResumeError(f"{out_dir} holds shards of a different run (differs in: {', '.join(diff)})",
                              hint="use another output folder, or run without --resume to start over")
        if not resume:
            for f in out_dir.glob("shard-*.parquet"):
                f.unlink()
    tmp = mpath.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp, mpath)


def _write_shard(out_dir: Path, shard: int, rows: List[Dict[str, Any]]) -> None:
    path = _shard_file(out_dir, shard)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(_table(rows), tmp)
    os.replace(tmp, path)  # atomic: a shard file is either absent or complete


def score_with_ray(
    paths: Sequence[Union[str, os.PathLike]],
    out_dir: Union[str, os.PathLike],
    method: Optional[str] = None,
    mode: str = "largest",
    pack: str = "buffalo_sc",
    root: Optional[str] = None,
    recognizer: Optional[str] = None,
    keep_embeddings: bool = False,
    shard_size: int = 1000,
    batch_size: int = 32,
    workers: Optional[int] = None,
    quality_cpus: Optional[float] = None,
    resume: bool = True,
    progress: Optional[Progress] = None,
    faces_stage: type = FacesStage,
    quality_stage: type = QualityStage,
) -> Dict[str, int]:
    """Score ``paths`` on Ray into per-shard Parquet files in ``out_dir``; returns counts
    ``{"images", "shards", "skipped_shards", "rows"}``.

    ``workers`` face actors (1 CPU each; default: every CPU of the cluster, autoscaled from 1) feed
    the quality actors: one, reserving ``quality_cpus`` (default 0: a crop model costs a few percent
    of a detection, docs/scaling.md), or with embeddings a pool autoscaled up to ``workers`` actors of
    1 CPU each (the recognizer costs more than detection). ``batch_size`` images go to a face actor
    at a time. With
    ``resume`` finished shards of the same run are kept and skipped; without it the folder is reset.
    ``faces_stage`` / ``quality_stage`` swap in subclasses of the stages (e.g. to add logging).
    """
    from ray.data import ActorPoolStrategy, DataContext

    if mode not in {m.value for m in FaceMode}:
        raise UsageError(f"unknown mode {mode!r}: use largest, all or aligned")
    if shard_size < 1 or batch_size < 1:
        raise UsageError("shard_size and batch_size must be positive")
    paths = [os.fspath(p) for p in paths]
    out = Path(out_dir)
    method_name = QualityScorer(method, mode=mode, pipeline=FacePipeline(None, FaceMode.ALIGNED)).method.name
    manifest = {
        "version": _VERSION, "images": len(paths), "shard_size": shard_size, "method": method_name, "mode": mode,
        "pack": pack, "recognizer": recognizer, "embeddings": keep_embeddings,
        "paths_sha1": hashlib.sha1("\n".join(paths).encode()).hexdigest(),
    }
    _prepare(out, manifest, resume)
    n_shards = math.ceil(len(paths) / shard_size)
    done = {s for s in range(n_shards) if _shard_file(out, s).exists()}
    todo = [s for s in range(n_shards) if s not in done]
    counts = {"images": len(paths), "shards": n_shards, "skipped_shards": len(done), "rows": 0}
    images_done = sum(min(shard_size, len(paths) - s * shard_size) for s in done)
    if progress:
        progress(images_done, len(paths))
    if not todo:
        log.info("all %d shards of %s are done", n_shards, out)
        return counts

    ensure_ray()
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    n_workers = workers or cpus
    embeds = keep_embeddings or recognizer is not None
    q_cpus = quality_cpus if quality_cpus is not None else (1.0 if embeds else 0.0)
    q_pool = ActorPoolStrategy(min_size=1, max_size=n_workers) if embeds else ActorPoolStrategy(size=1)
    DataContext.get_current().enable_progress_bars = False  # the caller shows its own progress
    items = [{"index": i, "path": paths[i]}
             for s in todo for i in range(s * shard_size, min(len(paths), (s + 1) * shard_size))]
    # Fault tolerance is Ray Data's default for actor pools (Ray 2.60 deprecates setting it here): a
    # dead actor is restarted and its task retried, without limit. Bad input never kills a worker
    # (the pipeline turns it into a status), so only a crash in native code would repeat.
    pool = ActorPoolStrategy(size=workers) if workers else ActorPoolStrategy(min_size=1, max_size=n_workers)
    ds = (
        ray.data.from_items(items, override_num_blocks=max(1, math.ceil(len(items) / batch_size)))
        .map_batches(faces_stage, batch_size=batch_size, compute=pool, num_cpus=1,
                     fn_constructor_kwargs={"mode": mode, "pack": pack, "root": root, "threads": 1})
        .map_batches(quality_stage, batch_size=64, compute=q_pool, num_cpus=q_cpus,
                     fn_constructor_kwargs={"method": method, "mode": mode, "recognizer": recognizer,
                                            "keep_embeddings": keep_embeddings,
                                            "threads": max(1, int(round(q_cpus)))})
    )
    # Rows stream back in any order; a shard is written once all of its images are complete.
    pending: Dict[int, List[Dict[str, Any]]] = defaultdict(list)
    seen: Dict[int, int] = defaultdict(int)
    complete: Dict[int, int] = defaultdict(int)
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        keys = [k for k in _SCHEMA.names if k in batch]
        for k in range(len(batch["index"])):
            i = int(batch["index"][k])
            s = i // shard_size
            pending[s].append({key: batch[key][k] for key in keys})
            seen[i] += 1
            if seen[i] < int(batch["n"][k]):
                continue
            del seen[i]
            complete[s] += 1
            images_done += 1
            if complete[s] == min(shard_size, len(paths) - s * shard_size):
                rows = pending.pop(s)
                _write_shard(out, s, rows)
                counts["rows"] += len(rows)
        if progress:
            progress(images_done, len(paths))
    if pending:  # cannot happen unless a stage dropped rows: never write a partial shard
        raise RuntimeError(f"shards {sorted(pending)} incomplete after the run; rerun to finish them")
    return counts


def _shard_dicts(out_dir: Union[str, os.PathLike]) -> Iterator[Dict[str, Any]]:
    """The stored rows of every shard in ``out_dir`` as dicts, in input order; refuses an unfinished run."""
    out = Path(out_dir)
    mpath = out / MANIFEST
    if not mpath.exists():
        raise ResumeError(f"{out} has no {MANIFEST}: not an output folder of score_with_ray")
    manifest = json.loads(mpath.read_text())
    n_shards = math.ceil(manifest["images"] / manifest["shard_size"])
    missing = [s for s in range(n_shards) if not _shard_file(out, s).exists()]
    if missing:
        raise ResumeError(f"{out} lacks {len(missing)} of {n_shards} shards (first: {missing[0]})",
                          hint="rerun the same command to finish them")
    for s in range(n_shards):
        yield from pq.read_table(_shard_file(out, s)).to_pylist()


def list_uris(prefix: str) -> List[str]:
    """Image URIs under an object-storage prefix (``s3://bucket/faces/``, ``gs://...``, ``file:///...``),
    sorted: the input list of a run whose images never touch the driver's disk."""
    from pyarrow import fs

    from ..faces.dataset import IMAGE_EXTS

    filesystem, inner = fs.FileSystem.from_uri(prefix)
    head = prefix[: prefix.index(inner)] if inner and inner in prefix else prefix.split("://", 1)[0] + "://"
    infos = filesystem.get_file_info(fs.FileSelector(inner, recursive=True))
    return sorted(head + i.path for i in infos
                  if i.type == fs.FileType.File and os.path.splitext(i.path)[1].lower() in IMAGE_EXTS)


def read_rows(out_dir: Union[str, os.PathLike]) -> Iterator[ScoreRow]:
    """The rows of every shard in ``out_dir``, in input order (as the local engine yields them)."""
    for r in _shard_dicts(out_dir):
        yield ScoreRow(
            r["path"], r["quality"], r["status"], face_index=r["face"], error=r["error"],
            bbox=None if r["bbox"] is None else np.asarray(r["bbox"], np.float32),
            landmarks=None if r["landmarks"] is None else np.asarray(r["landmarks"], np.float32).reshape(5, 2),
            det_score=r["det_score"], quality_score=r["quality_score"],
            embedding=None if r["embedding"] is None else np.asarray(r["embedding"], np.float32),
        )


def write_back(samples: Any, out_dir: Union[str, os.PathLike], quality_field: str = "quality",
               faces_field: Optional[str] = None, error_field: Optional[str] = None) -> Dict[str, int]:
    """Write the results in ``out_dir`` into a FiftyOne collection in bulk (``set_values``, samples matched
    by filepath): the fields and values :func:`~fiqa_plugin.integrations.fiftyone.compute_quality` writes.
    Returns counts ``{"scored", "failed"}``."""
    from .fiftyone import _record, write_records

    manifest = json.loads((Path(out_dir) / MANIFEST).read_text())
    calibration = QualityScorer(manifest["method"], mode=manifest["mode"],
                                pipeline=FacePipeline(None, FaceMode.ALIGNED)).calibration
    keys, records = [], []
    for _, group in itertools.groupby(_shard_dicts(out_dir), key=lambda r: r["index"]):
        rows = list(group)
        r0 = rows[0]
        item = ImageFaces(r0["path"], r0["status"], error=r0["error"],
                          image_size=(r0["width"], r0["height"]) if r0["width"] else None)
        if r0["face"] >= 0:  # the image's faces, each as the detector gave it
            item.status = "error" if any(r["status"] == "error" for r in rows) else "ok"
            item.faces = [Face(np.empty(0, np.uint8), np.asarray(r["landmarks"], np.float32).reshape(5, 2),
                               None if r["bbox"] is None else np.asarray(r["bbox"], np.float32), r["det_score"],
                               r["face"]) for r in rows]
        q = np.asarray([r["quality"] for r in rows if r["face"] >= 0], np.float32)
        keys.append(r0["path"])
        records.append(_record(item, q, calibration))
    write_records(samples._dataset, keys, records, quality_field, faces_field, error_field, key_field="filepath")
    scored = sum(r["quality"] is not None for r in records)
    return {"scored": scored, "failed": len(records) - scored}


def score_view(samples: Any, out_dir: Union[str, os.PathLike], quality_field: str = "quality",
               faces_field: Optional[str] = None, error_field: Optional[str] = None, **kw: Any) -> Dict[str, int]:
    """Score a FiftyOne collection's images on Ray (its filepaths are the input list) and write the
    results back with :func:`write_back`; ``kw`` goes to :func:`score_with_ray`."""
    score_with_ray(samples.values("filepath"), out_dir, **kw)
    return write_back(samples, out_dir, quality_field, faces_field, error_field)


def embed_with_ray(items: Sequence[Tuple[str, str]], out_dir: Union[str, os.PathLike], pack: str = "buffalo_sc",
                   recognizer: str = "buffalo_sc", method: Optional[str] = None, resume: bool = True,
                   **kw: Any) -> Tuple[FaceSet, Optional[np.ndarray]]:
    """``(path, identity)`` items detected (largest face), aligned and embedded on Ray: the FaceSet
    ``fiqa label`` labels, plus the scores of quality ``method`` when one is given (else None).

    Only embeddings come back to the driver (the crops stay on the workers: ``crops`` is empty).
    ``kw`` goes to :func:`score_with_ray` (``workers``, ``shard_size``, ``progress``...).
    """
    score_with_ray([p for p, _ in items], out_dir, method=method, mode="largest", pack=pack, recognizer=recognizer,
                   keep_embeddings=True, resume=resume, **kw)
    identity = dict(items)
    names = sorted(set(identity.values()))
    index = {y: i for i, y in enumerate(names)}
    emb, ids, paths, quality, failed = [], [], [], [], []
    for r in read_rows(out_dir):
        if r.embedding is None:
            failed.append(r.source)
            continue
        emb.append(r.embedding)
        ids.append(index[identity[r.source]])
        paths.append(r.source)
        quality.append(r.quality)
    if not emb:
        raise UsageError(f"no face found in any of the {len(items)} images")
    faces = FaceSet(np.zeros((0, ALIGNED_SIZE, ALIGNED_SIZE, 3), np.uint8), np.stack(emb).astype(np.float32),
                    np.asarray(ids, np.int32), np.asarray(names), np.asarray(paths), np.asarray(failed, dtype=str))
    return faces, (np.asarray(quality, np.float64) if method else None)

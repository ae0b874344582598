"""The remote zoo source (zoo/) served as a tarball from 127.0.0.1 and loaded with foz.load_zoo_model."""
from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import tarfile
import threading

import pytest

import fiftyone.zoo as foz

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def zoo_url(tmp_path_factory):
    srv_dir = tmp_path_factory.mktemp("srv")
    with tarfile.open(srv_dir / "fiqa-zoo.tar.gz", "w:gz") as t:
        for f in ("manifest.json", "__init__.py"):
            t.add(REPO / "zoo" / f, f"fiqa-zoo/{f}")
    handler = functools.partial(_QuietHandler, directory=str(srv_dir))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/fiqa-zoo.tar.gz"
    foz.register_zoo_model_source(url, overwrite=True)
    yield url
    foz.delete_zoo_model_source(url)
    srv.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


def test_manifest_lists_every_shipped_model():
    # Built in a fresh process: other tests register extra methods in this one.
    r = subprocess.run([sys.executable, str(REPO / "zoo" / "__init__.py"), "--stdout"], capture_output=True,
                       text=True, timeout=120, env=dict(os.environ, FIQA_MODELS_DIR=os.devnull))
    assert r.returncode == 0, r.stderr[-2000:]
    fresh = json.loads(r.stdout)
    manifest = json.loads((REPO / "zoo" / "manifest.json").read_text())
    fix = "regenerate it from the repository root: `.venv/bin/python zoo/__init__.py`"
    names = {m["base_name"] for m in manifest["models"]}
    want = {m["base_name"] for m in fresh["models"]}
    assert want <= names, f"zoo/manifest.json misses {sorted(want - names)}: {fix}"
    assert names <= want, f"zoo/manifest.json lists unregistered methods {sorted(names - want)}: {fix}"
    assert manifest == fresh, f"zoo/manifest.json is out of date: {fix}"
    assert {"fiqa/mbv2_t1_w025_h256", "fiqa/blur"} <= names
    assert "fiqa/lightqnet" not in names  # its weights are not the project's to ship
    assert all(m["requirements"]["packages"][0] == "fiqa-plugin" for m in manifest["models"])


def test_load_zoo_model_and_apply(zoo_url, make_dataset, lfw20, bad_files):
    from fiqa_plugin.integrations.fiftyone import FIQAModel, compute_quality

    assert zoo_url in foz.list_zoo_model_sources()
    assert "fiqa/mbv2_t1_w025_h256" in foz.list_zoo_models() and "fiqa/blur" in foz.list_zoo_models()
    model = foz.load_zoo_model("fiqa/mbv2_t1_w025_h256", batch_size=8)
    assert isinstance(model, FIQAModel) and model.method_name == "mbv2_t1_w025_h256.celeba2-r1"
    # The ONNX weights were copied into the zoo folder and are what runs, with their calibration table.
    assert "fiqa-mbv2_t1_w025_h256" in str(model.scorer.method.config.model_path)
    assert model.scorer.calibration is not None and "calibration" in model.scorer.method.config.extra

    ds = make_dataset(lfw20 + bad_files)
    good = ds.limit(20)
    good.apply_model(model, label_field="fiqa", batch_size=8)
    assert good.count("fiqa_quality") == 20 and good.count("fiqa_faces.detections") >= 20
    counts = compute_quality(ds, model, quality_field="quality")
    assert counts["scored"] == 20 and counts["failed"] == 2
    assert ds.values("quality")[:20] == pytest.approx(good.values("fiqa_quality"), abs=1e-6)
    assert ds.values("quality")[20:] == [None, None] and all(ds.values("quality_error")[20:])

    blur = foz.load_zoo_model("fiqa/blur", detect_faces=True, store_faces=False)
    ds.limit(4).apply_model(blur, label_field="blur", batch_size=4)
    assert all(v > 0 for v in ds.limit(4).values("blur"))


def _shipped_zoo_names() -> list:
    manifest = json.loads((REPO / "zoo" / "manifest.json").read_text())
    return sorted(m["base_name"] for m in manifest["models"] if "shipped" in m["tags"])


@pytest.mark.parametrize("zoo_name", _shipped_zoo_names())
def test_every_shipped_model_downloads_and_scores_like_the_registry(zoo_url, zoo_name, aligned_crops):
    """What the zoo copies and runs gives the registered model's own scores on real aligned crops
    (composed models included: the SDD head is joined to the local recognizer at load time)."""
    from fiqa_plugin.plugins import QUALITY_METHODS

    model = foz.load_zoo_model(zoo_name, detect_faces=False, batch_size=8)
    zoo_method, registered = model.scorer.method, QUALITY_METHODS.create(zoo_name.split("/", 1)[1])
    assert zoo_method.config.model_path.parent != registered.config.model_path.parent  # the zoo's own copy runs
    got = zoo_method.score_crops(aligned_crops)
    want = registered.score_crops(aligned_crops)
    assert got.shape == (len(aligned_crops),) and got == pytest.approx(want, abs=1e-6)
    lo, hi = zoo_method.config.score_range
    assert ((got >= lo) & (got <= hi)).all()

"""FiftyOne fixtures: an isolated database, model zoo, plugins and user-models folder per test session
(nothing under ~/.fiftyone or the user's fiqa models folder is touched).

The environment must be set before fiftyone is first imported, hence at import time here.
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_ROOT = Path(tempfile.mkdtemp(prefix="fiqa-fiftyone-"))
(_ROOT / "plugins").mkdir()
# FiftyOne discovers plugins by walking plugins_dir; a link keeps the repo read-only.
os.symlink(REPO / "operators", _ROOT / "plugins" / "fiqa-plugin")
os.environ.update({
    "FIFTYONE_DO_NOT_TRACK": "true",
    "FIFTYONE_DATABASE_DIR": str(_ROOT / "db"),
    "FIFTYONE_DATABASE_VALIDATION": "false",
    "FIFTYONE_MODEL_ZOO_DIR": str(_ROOT / "zoo"),
    "FIFTYONE_PLUGINS_DIR": str(_ROOT / "plugins"),
    "FIFTYONE_ALLOW_LEGACY_ORCHESTRATORS": "true",
    "FIFTYONE_SHOW_PROGRESS_BARS": "false",
    # models trained by the plugin land here, never in the user's folder
    "FIQA_MODELS_DIR": str(_ROOT / "models"),
})
atexit.register(shutil.rmtree, _ROOT, True)


@pytest.fixture(scope="session")
def lfw20(shared) -> list:
    """20 real LFW photographs (the first 20 files of the first identities, sorted)."""
    root = shared / "data" / "lfw" / "images"
    assert root.is_dir(), f"LFW images missing at {root}: restore shared/data/lfw"
    paths = sorted(str(p) for p in root.glob("*/*.jpg"))[:20]
    assert len(paths) == 20, f"expected at least 20 LFW images under {root}, found {len(paths)}"
    return paths


@pytest.fixture()
def bad_files(tmp_path) -> list:
    """One corrupt file and one path that does not exist."""
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    return [str(corrupt), str(tmp_path / "missing.jpg")]


@pytest.fixture()
def make_dataset(request):
    """Factory: a fresh dataset of the given file paths, deleted after the test."""
    import fiftyone as fo

    made = []

    def make(paths, **fields):
        ds = fo.Dataset()
        samples = []
        for i, p in enumerate(paths):
            s = fo.Sample(filepath=p)
            for k, v in fields.items():
                s[k] = v[i]
            samples.append(s)
        ds.add_samples(samples, progress=False)
        made.append(ds)
        return ds

    yield make
    for ds in made:
        if not ds.deleted:
            ds.delete()


#: LFW people with many photos: 8 each make a small identity-labelled set (pseudo-labels, training, EDC).
PEOPLE = ("George_W_Bush", "Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder")


@pytest.fixture(scope="session")
def lfw_people(shared) -> list:
    """``(path, identity)`` for the first 8 LFW photographs of each of 5 people (40 real faces)."""
    root = shared / "data" / "lfw" / "images"
    out = []
    for name in PEOPLE:
        files = sorted((root / name).glob("*.jpg"))[:8]
        assert len(files) == 8, f"LFW images of {name} missing under {root}: restore shared/data/lfw"
        out += [(str(f), name) for f in files]
    return out


def _run_delegated(svc, op_id: str, worker: subprocess.Popen, timeout: float = 240):
    """Wait until the queued op ``op_id`` completes (or fails) in ``worker``, a ``fiftyone delegated
    launch`` process started in its own session; then stop the worker. The op's final document."""
    try:
        t = time.monotonic()
        while svc.get(op_id).run_state not in ("completed", "failed") and time.monotonic() - t < timeout:
            assert worker.poll() is None, f"worker exited early:\n{worker.stdout.read()[-3000:]}"
            time.sleep(0.5)
    finally:
        os.killpg(worker.pid, signal.SIGINT)  # the service's own way out (KeyboardInterrupt)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    return svc.get(op_id)


@pytest.fixture
def run_delegated():
    """:func:`_run_delegated`: run a queued delegated op to completion in a given worker process."""
    return _run_delegated

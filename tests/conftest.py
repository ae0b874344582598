"""Shared fixtures: real assets from ../shared (never skipped: a missing asset fails with the fix)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import atexit
import shutil
import tempfile

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
# Models trained by tests land in a throwaway folder, never in the user's own models dir;
# set before fiqa_plugin loads its registry, and inherited by the subprocesses tests start.
os.environ["FIQA_MODELS_DIR"] = tempfile.mkdtemp(prefix="fiqa-test-models-")
atexit.register(shutil.rmtree, os.environ["FIQA_MODELS_DIR"], True)


@pytest.fixture(scope="session")
def shared() -> Path:
    from fiqa_plugin.paths import shared_dir

    return shared_dir()  # raises MissingAssetError with the fix when absent


@pytest.fixture(scope="session")
def lfw_images(shared) -> list:
    """A fixed handful of real LFW photographs (250×250, one face near the centre)."""
    names = ["Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "AJ_Cook/AJ_Cook_0001.jpg", "AJ_Lamas/AJ_Lamas_0001.jpg",
             "Abel_Pacheco/Abel_Pacheco_0001.jpg", "Abel_Pacheco/Abel_Pacheco_0004.jpg"]
    paths = [shared / "data" / "lfw" / "images" / n for n in names]
    missing = [str(p) for p in paths if not p.exists()]
    assert not missing, f"LFW images missing from the shared folder: {missing}"
    return [str(p) for p in paths]


@pytest.fixture(scope="session")
def group_photo() -> str:
    """InsightFace's bundled t1.jpg (six faces)."""
    import insightface

    p = Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"
    assert p.exists(), f"{p} missing: reinstall insightface==2.1"
    return str(p)


@pytest.fixture(scope="session")
def pipeline_largest():
    from fiqa_plugin.faces import FacePipeline

    return FacePipeline.from_pack("buffalo_sc", mode="largest")


@pytest.fixture(scope="session")
def pipeline_all():
    from fiqa_plugin.faces import FacePipeline

    return FacePipeline.from_pack("buffalo_sc", mode="all")


@pytest.fixture(scope="session")
def aligned_crops(pipeline_largest, lfw_images) -> np.ndarray:
    return np.stack([pipeline_largest.process(p).faces[0].aligned for p in lfw_images])

"""Every shipped weight file is pinned by its scores on 8 fixed real crops (tests/quality/pin_shipped.py
made the pins, independently of the scoring path where it can): a retrained, converted or broken file,
or a change in preprocessing, fails here."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import pin_shipped  # noqa: E402

from fiqa_plugin.plugins import QUALITY_METHODS  # noqa: E402
from fiqa_plugin.quality.onnx_model import shipped_configs  # noqa: E402

PINS = json.loads(pin_shipped.PINS.read_text())
FIX = "a new training is a new tag: ship it and run `.venv/bin/python tests/quality/pin_shipped.py`"


@pytest.fixture(scope="module")
def crops(shared):
    got = [str(p.relative_to(shared)) for p in pin_shipped.crop_paths(shared)]
    assert got == PINS["crops"], "the pinned crops are missing from ../shared/data/celeba_aligned"
    return pin_shipped.load_crops(shared)


def test_every_shipped_model_has_pins():
    assert sorted(c.name for c in shipped_configs()) == sorted(PINS["models"]), FIX


@pytest.mark.parametrize("name", sorted(PINS["models"]))
def test_shipped_model_scores_are_pinned(name, crops):
    q = QUALITY_METHODS.create(name).score_crops(crops)
    np.testing.assert_allclose(q, PINS["models"][name]["scores"], atol=1e-5, err_msg=f"{name}: {FIX}")
    assert np.ptp(q) > 0, f"{name} scores eight different faces alike"

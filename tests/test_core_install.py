"""The core installs and runs alone: `pip install .` (no extras) in a fresh virtualenv scores real crops
with the default model, and none of torch, fiftyone, insightface or ray is installed there."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_core_only_install_scores_real_crops(tmp_path, shared):
    venv = tmp_path / "core"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(REPO)],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-3000:]
    py = str(venv / "bin" / "python")
    missing = subprocess.run([py, "-c", "import importlib.util as u; print([m for m in ('torch', 'fiftyone', "
                              "'insightface', 'ray') if u.find_spec(m)])"], capture_output=True, text=True)
    assert missing.stdout.strip() == "[]", missing.stdout + missing.stderr

    crops = sorted((shared / "data" / "celeba_aligned").glob("*/*.jpg"))[:: 4000][:5]
    listing = tmp_path / "crops.txt"
    listing.write_text("\n".join(map(str, crops)) + "\n")
    out = tmp_path / "scores.csv"
    res = subprocess.run([str(venv / "bin" / "fiqa"), "score", str(listing), "--mode", "aligned", "--out", str(out)],
                         capture_output=True, text=True, timeout=300, env={"FIQA_SHARED": str(shared), "PATH": "/usr/bin:/bin",
                                                                          "HOME": str(tmp_path)})
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == len(crops) and all(r["status"] == "ok" and float(r["quality"]) == float(r["quality"]) for r in rows)

"""docs/extending.md's worked example, installed as a real third-party package (module + entry point).

The two files are read from the doc's code blocks, so the page cannot drift from what works.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _blocks() -> dict:
    text = (REPO / "docs" / "extending.md").read_text()
    return {m.group(1): m.group(2) for m in re.finditer(r'```\w+ title="([^"]+)"\n(.*?)```', text, re.S)}


def _install(site: Path) -> None:
    """What pip leaves behind for a package with a module and a `fiqa` entry point."""
    blocks = _blocks()
    (site / "acme_fiqa.py").write_text(blocks["acme_fiqa.py"])
    toml = blocks["pyproject.toml"]
    name, ep = re.search(r"\[project.entry-points.fiqa\]\n(\w+) = \"(\w+)\"", toml).groups()
    dist = site / "acme_fiqa-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-fiqa\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[fiqa]\n{name} = {ep}\n")


def _run(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=300)


def test_third_party_package_adds_a_method_and_an_architecture(tmp_path, shared):
    site = tmp_path / "site"
    site.mkdir()
    _install(site)
    fiqa = ["-m", "fiqa_plugin.cli.main"]

    methods = _run(site, *fiqa, "methods")
    assert methods.returncode == 0, methods.stderr
    assert "acme-contrast" in methods.stdout

    train_help = _run(site, *fiqa, "train", "--help")
    assert train_help.returncode == 0 and "acme-tiny" in train_help.stdout

    # score real aligned crops through the CLI; golden: the contrast computed here, independently
    crops = sorted((shared / "data" / "celeba_aligned").glob("*/*.jpg"))[:6]
    listing = tmp_path / "crops.txt"
    listing.write_text("\n".join(map(str, crops)) + "\n")
    out = tmp_path / "c.csv"
    res = _run(site, *fiqa, "score", str(listing), "--mode", "aligned", "--method", "acme-contrast", "--out", str(out))
    assert res.returncode == 0, res.stderr
    import csv

    import cv2

    rows = {r["path"]: float(r["quality"]) for r in csv.DictReader(open(out))}
    for p in crops:
        img = cv2.imread(str(p))[24:88, 24:88].astype(np.float64).mean(axis=2) / 255.0
        assert abs(rows[str(p)] - img.std()) < 1e-4

    # the architecture builds through the one trainer's build_model
    code = ("import torch; from fiqa_plugin.training.train import build_model; "
            "m = build_model('acme-tiny'); print(tuple(m(torch.zeros(2, 3, 64, 64)).shape))")
    res = _run(site, "-c", code)
    assert res.returncode == 0 and res.stdout.strip() == "(2, 1)", res.stderr

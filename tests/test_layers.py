"""The layer contract (pyproject's [tool.importlinter]): core <- training <- integrations <- cli."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"]


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(LINT, cwd=cwd, capture_output=True, text=True, env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})


def test_layer_contract_is_kept():
    res = _lint(REPO)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout


def test_layer_contract_catches_an_upward_import(tmp_path):
    # The same contract on a copy of the package where a core module imports torch and the CLI.
    shutil.copytree(REPO / "fiqa_plugin", tmp_path / "fiqa_plugin", ignore=shutil.ignore_patterns("weights", "__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    imageio = tmp_path / "fiqa_plugin" / "imageio.py"
    imageio.write_text(imageio.read_text() + "\n\ndef _bad():\n    import torch  # noqa\n    from .cli import main  # noqa\n")
    res = _lint(tmp_path)
    assert res.returncode != 0
    assert "fiqa_plugin.imageio -> torch" in res.stdout or "fiqa_plugin.imageio -> fiqa_plugin.cli" in res.stdout, res.stdout

"""The reliability benchmark module (corpus builder, CLI runner) loaded once for these tests."""
from __future__ import annotations

import importlib.util
import sys

import pytest

from fiqa_plugin.paths import REPO_DIR


@pytest.fixture(scope="session")
def rel():
    name = "fiqa_benchmarks_reliability"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO_DIR / "benchmarks" / "reliability.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # dataclasses look their module up
        spec.loader.exec_module(mod)
    return sys.modules[name]

"""The reliability benchmark module (corpus builder, CLI runner) for these tests."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def rel():
    import reliability  # benchmarks/reliability.py (pytest's pythonpath)

    return reliability

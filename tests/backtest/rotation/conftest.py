"""One synthetic ``tiny`` market per test session for the rotation tests (read-only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from etfflow.data_samples import generate_market


@pytest.fixture(scope="session")
def tiny_market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rotation") / "tiny"
    generate_market(root, size="tiny", seed=0)
    return root

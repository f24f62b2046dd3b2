"""One ``etfflow demo`` on the tiny market, shared by the CLI tests that read its store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from etfflow.cli import app


@dataclass(frozen=True)
class DemoRun:
    market: Path
    store: Path
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """``etfflow demo --size tiny`` into a fresh folder (read-only for the tests; copy it to
    change it)."""
    root = tmp_path_factory.mktemp("demo")
    out, store = root / "m", root / "demo.duckdb"
    r = CliRunner().invoke(
        app, ["demo", "--size", "tiny", "--out", str(out), "--store", str(store)]
    )
    assert r.exit_code == 0, r.output
    return DemoRun(out, store, r.stdout, r.stderr)

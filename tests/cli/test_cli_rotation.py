"""``etfflow rotation``: exit codes, the terminal summary, store / export / HTML outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.data_samples import generate_market

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli_rot") / "tiny"
    generate_market(root, size="tiny", seed=0)
    return root


def test_rotation_command(tiny: Path, tmp_path: Path) -> None:
    store, out, page = tmp_path / "s.duckdb", tmp_path / "export", tmp_path / "r.html"
    r = runner.invoke(
        app,
        [
            "rotation",
            str(tiny),
            "--rebalance",
            "5",
            "--top",
            "4",
            "--store",
            str(store),
            "--export",
            str(out),
            "--html",
            str(page),
        ],
    )
    assert r.exit_code == 0, r.output
    for text in (
        "composite",
        "flow_q5",
        "equal_weight",
        "per year",
        "holdings decided",
        "stored run",
    ):
        assert text in r.stdout, text
    assert (out / "summary.parquet").exists() and page.exists()


def test_rotation_bad_options_exit_1(tiny: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    r = runner.invoke(
        app, ["rotation", str(tiny), "--size-indices", "000300.SH,123.SZ", "--store", str(store)]
    )
    assert r.exit_code == 1
    assert "index_daily" in r.stderr and "123.SZ" in r.stderr
    r = runner.invoke(app, ["rotation", str(tiny), "--hp-lambda", "-1", "--store", str(store)])
    assert r.exit_code == 1 and "hp_lambda" in r.stderr
    assert not store.exists() or store.stat().st_size >= 0

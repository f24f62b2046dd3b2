"""The typer CLI on the tiny synthetic market: exit codes, key lines, untouched store."""

from __future__ import annotations

import shutil

import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.data_samples import generate_market
from etfflow.engine.store import open_store

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return generate_market(tmp_path_factory.mktemp("cli") / "tiny", size="tiny", seed=1)


def test_help_lists_commands():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for cmd in ("generate", "validate", "penetrate", "demo"):
        assert cmd in r.stdout


def test_generate_is_deterministic(tmp_path):
    r = runner.invoke(
        app, ["generate", "--size", "tiny", "--seed", "3", "--out", str(tmp_path / "a")]
    )
    assert r.exit_code == 0, r.output
    assert "wrote the tiny market" in r.stdout
    assert (tmp_path / "a" / "manifest.json").is_file()
    r = runner.invoke(app, ["generate", "--size", "huge", "--out", str(tmp_path / "b")])
    assert r.exit_code != 0


def test_validate_clean_market(tiny):
    r = runner.invoke(app, ["validate", str(tiny)])
    assert r.exit_code == 0, r.output
    assert "0 error(s)" in r.stdout


def _broken(tiny, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny, bad)
    sd = pl.read_parquet(bad / "stock_daily.parquet")
    sd.with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(-1.0).otherwise(pl.col("close")).alias("close")
    ).write_parquet(bad / "stock_daily.parquet")
    return bad


def test_validate_reports_table_column_and_row(tiny, tmp_path):
    r = runner.invoke(app, ["validate", str(_broken(tiny, tmp_path))])
    assert r.exit_code == 1
    assert "stock_daily" in r.stderr and "close" in r.stderr


def test_penetrate_stores_and_exports(tiny, tmp_path):
    store, export = tmp_path / "s.duckdb", tmp_path / "flow.parquet"
    r = runner.invoke(
        app,
        ["penetrate", str(tiny), "--pool", "broad", "--store", str(store), "--export", str(export)],
    )
    assert r.exit_code == 0, r.output
    assert "stored run" in r.stdout
    flow = pl.read_parquet(export)
    assert flow.height == pl.read_parquet(tiny / "stock_daily.parquet").height
    with open_store(store, read_only=True) as s:
        runs = s.runs()
        assert runs["pool"].to_list() == ["broad"]
        assert s.row_counts()["stock_flow"] == flow.height
    # identical inputs replace, never duplicate
    r = runner.invoke(app, ["penetrate", str(tiny), "--pool", "broad", "--store", str(store)])
    assert r.exit_code == 0
    with open_store(store, read_only=True) as s:
        assert s.runs().height == 1 and s.row_counts()["stock_flow"] == flow.height


def test_bad_input_exits_1_and_leaves_store_untouched(tiny, tmp_path):
    store = tmp_path / "s.duckdb"
    assert runner.invoke(app, ["penetrate", str(tiny), "--store", str(store)]).exit_code == 0
    with open_store(store, read_only=True) as s:
        before = s.row_counts()
    r = runner.invoke(app, ["penetrate", str(_broken(tiny, tmp_path)), "--store", str(store)])
    assert r.exit_code == 1
    assert "error" in r.stderr and "stock_daily" in r.stderr
    with open_store(store, read_only=True) as s:
        assert s.row_counts() == before


def test_unknown_pool_is_an_error(tiny, tmp_path):
    r = runner.invoke(
        app, ["penetrate", str(tiny), "--pool", "bonds", "--store", str(tmp_path / "s.duckdb")]
    )
    assert r.exit_code == 1
    assert "unknown pool" in r.stderr


def test_demo_end_to_end(tmp_path):
    out, store = tmp_path / "m", tmp_path / "demo.duckdb"
    args = ["demo", "--size", "tiny", "--out", str(out), "--store", str(store)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "generated the tiny market" in r.stdout
    assert "CITIC level-1" in r.stdout and "stored" not in r.stderr
    assert str(store) in r.stdout
    r = runner.invoke(app, args)  # second run reuses the market
    assert r.exit_code == 0 and "using the tiny market" in r.stdout

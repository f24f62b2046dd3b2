"""The typer CLI on the tiny synthetic market: exit codes, key lines, untouched store."""

from __future__ import annotations

import shutil
from pathlib import Path

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
    for cmd in ("generate", "validate", "penetrate", "demo", "rotation", "top", "market", "study"):
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


def test_demo_cites_the_reports_and_methodology_not_the_internal_spec(demo_run):
    out = " ".join(demo_run.stdout.split())  # titles may wrap at the terminal width
    assert "CITIC level-1 industries (cf. Huaan 2024-12, table 9)" in out
    assert "(cf. Huaan 2024-12, tables 41–42)" in out
    assert "(cf. Huaan 2024-12, table 10)" in out
    assert "docs/methodology.md#5-backtests" in out
    assert "SPEC" not in out and "seed 000" not in out and "§5" not in out


def test_demo_end_to_end(demo_run, tmp_path):
    assert "generated the tiny market" in demo_run.stdout
    assert "CITIC level-1" in demo_run.stdout and "stored" not in demo_run.stderr
    assert str(demo_run.store) in demo_run.stdout
    assert "compacted" not in demo_run.stdout  # a fresh store: nothing to reclaim
    flat = " ".join(demo_run.stdout.split())
    assert "charts of the 9 headline factors" in flat and "--html FILE" in flat
    ts = flat[flat.index("Industry flows vs the next 20-day return") :]
    assert "2023 2024 whole" in ts  # per-year columns, then the whole period
    store = tmp_path / "demo.duckdb"
    shutil.copy(demo_run.store, store)
    one = store.stat().st_size
    args = ["demo", "--size", "tiny", "--out", str(demo_run.market), "--store", str(store)]
    r = runner.invoke(app, args, env={"COLUMNS": "400"})  # reuses the market, replaces runs
    assert r.exit_code == 0 and "using the tiny market" in r.stdout
    # the replaced rows are reclaimed: the store does not grow with re-runs
    assert f"compacted {store}" in r.stdout
    assert store.stat().st_size < 1.1 * one
    with open_store(store, read_only=True) as s, open_store(demo_run.store, read_only=True) as d:
        assert s.row_counts() == d.row_counts()
        assert sorted(s.runs()["run_id"]) == sorted(d.runs()["run_id"])


def test_generate_same_seed_byte_identical(tmp_path):
    """README: same seed, byte-identical files -- manifest.json included (no timing in it)."""
    for name in ("a", "b"):
        args = ["generate", "--size", "tiny", "--seed", "5", "--out", str(tmp_path / name)]
        assert runner.invoke(app, args).exit_code == 0
    files = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    assert Path("manifest.json") in files and len(files) > 10
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_compute_commands_compile_in_a_helper_process_on_a_cold_cache(
    demo_run, tmp_path, monkeypatch
):
    """penetrate / factors compute / backtest / demo wrap their work in the first-run helper."""
    import contextlib

    import etfflow.cli._ui as ui

    calls: list[str] = []

    @contextlib.contextmanager
    def fake_background_compile(**kw):
        calls.append("start")
        yield object()  # as if a helper had started
        calls.append("stop")

    monkeypatch.setattr(ui, "background_compile", fake_background_compile)
    store = tmp_path / "s.duckdb"
    r = CliRunner().invoke(app, ["penetrate", str(demo_run.market), "--store", str(store)])
    assert r.exit_code == 0, r.output
    assert calls == ["start", "stop"]
    assert "first run: compiling the numba kernels" in r.stderr


def test_a_cold_cache_without_a_helper_still_says_it_is_a_first_run(
    demo_run, tmp_path, monkeypatch
):
    """A busy machine gets no helper, but the user is told why this run is slow; a warm cache
    says nothing."""
    import contextlib

    import etfflow.cli._ui as ui

    @contextlib.contextmanager
    def no_helper(**kw):
        yield None

    monkeypatch.setattr(ui, "background_compile", no_helper)
    store = tmp_path / "s.duckdb"
    args = ["penetrate", str(demo_run.market), "--store", str(store)]
    monkeypatch.setattr(ui, "first_run", lambda needs=None: True)
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "first run: compiling the numba kernels once, in this process" in r.stderr
    monkeypatch.setattr(ui, "first_run", lambda needs=None: False)
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "first run" not in r.stderr

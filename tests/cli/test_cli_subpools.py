"""``etfflow etfs`` and ``etfflow subpools``, and the sub-pool names in every ``--pool`` help."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.data_samples import generate_market
from etfflow.engine.etf_measures import ETF_MEASURES_SCHEMA, etf_measures
from etfflow.engine.loading import open_dataset
from etfflow.engine.store import open_store
from etfflow.pipeline.subpools import COMPARISON_SCHEMA

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_market(tmp_path_factory.mktemp("cli_subpools") / "tiny", size="tiny", seed=1)


def test_etfs_command_exports_the_measures(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.parquet"
    r = runner.invoke(app, ["etfs", str(tiny), "--mode", "weights", "--export", str(out)])
    assert r.exit_code == 0, r.output
    for text in ("count and medians", "Sub-pool split at the 0.5 quantile", "turnover_20", "all"):
        assert text in r.stdout, text
    got = pl.read_parquet(out)
    assert got.schema == ETF_MEASURES_SCHEMA
    assert_frame_equal(got, etf_measures(open_dataset(tiny), mode="weights"))
    assert got["turnover_20"].drop_nulls().len() > 0  # the synthetic etf_daily has amount
    last = got.filter(pl.col("date") == got["date"].max())
    med = float(last["hhi"].median())  # type: ignore[arg-type]
    assert f"{med:.4f}" in r.stdout  # the 'all' row's median HHI


def test_etfs_command_errors_leave_no_file(tiny: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(tiny, bare)
    (bare / "holding_weights.parquet").unlink()
    out = tmp_path / "m.parquet"
    r = runner.invoke(app, ["etfs", str(bare), "--mode", "weights", "--export", str(out)])
    assert r.exit_code == 1
    assert "holding_weights" in r.stderr
    r = runner.invoke(app, ["etfs", str(tiny), "--quantile", "1.5", "--export", str(out)])
    assert r.exit_code == 1 and "quantile" in r.stderr
    assert not out.exists()


def test_subpools_command_table_export_and_html(tiny: Path, tmp_path: Path) -> None:
    store, out, page = tmp_path / "s.duckdb", tmp_path / "c.parquet", tmp_path / "c.html"
    args = ["subpools", str(tiny), "--pools", "all,nonbroad,turnover:high", "--store", str(store)]
    r = runner.invoke(app, [*args, "--export", str(out), "--html", str(page)])
    assert r.exit_code == 0, r.output
    assert "3 pools, 6 backtests" in r.stdout
    t = pl.read_parquet(out)
    assert t.schema == COMPARISON_SCHEMA
    assert t["pool"].to_list() == [p for p in ("all", "nonbroad", "turnover:high") for _ in "si"]
    assert t["groups"].to_list() == [10, 3] * 3
    assert t["rank_ic"].null_count() == 0
    # each row is a stored backtest: the same numbers reopen from the store
    with open_store(store) as st:
        for row in t.iter_rows(named=True):
            s = st.table("bt_summary", row["backtest_run"], columns=["rank_ic", "groups"])
            assert s.row(0) == (pytest.approx(row["rank_ic"]), row["groups"])
            assert st.run(row["lookthrough_run"])["pool"] == row["pool"]
    html = page.read_text(encoding="utf-8")
    assert "<svg" in html and "turnover:high" in html and "w_passive_inflow_20" in html
    # the split pool's look-through differs from all ETFs'
    assert t["rank_ic"][0] != t["rank_ic"][4]


def test_subpools_command_refuses_unknown_and_repeated_pools(tiny: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    for pools, msg in (("all,turnover:mid", "unknown pool"), ("all,all", "twice")):
        r = runner.invoke(app, ["subpools", str(tiny), "--pools", pools, "--store", str(store)])
        assert r.exit_code == 1, r.output
        assert msg in r.stderr
        assert "concentration:high" in r.stderr or msg == "twice"


@pytest.mark.parametrize("command", [["penetrate"], ["factors", "compute"], ["demo"], ["subpools"]])
def test_pool_help_lists_the_sub_pools(command: list[str]) -> None:
    r = runner.invoke(app, [*command, "--help"], terminal_width=400)
    assert r.exit_code == 0
    text = " ".join(r.stdout.split())
    for name in ("nonbroad", "concentration:high", "concentration:low", "turnover:high",
                 "turnover:low", "aum:high"):  # fmt: skip
        assert name in text, (command, name)


def test_penetrate_takes_a_split_pool(tiny: Path, tmp_path: Path) -> None:
    store = tmp_path / "p.duckdb"
    r = runner.invoke(
        app, ["penetrate", str(tiny), "--pool", "concentration:low", "--store", str(store)]
    )
    assert r.exit_code == 0, r.output
    with open_store(store) as st:
        runs = st.runs().filter(pl.col("kind") == "lookthrough")
        assert runs["pool"].to_list() == ["concentration:low"]
        params = st.run(runs["run_id"][0])["params"]
    assert params["pool"]["split"]["refresh"] == "month"
    assert "ETFs" in r.stdout

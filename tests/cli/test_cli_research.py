"""``etfflow factors``, ``backtest`` and ``report`` through the typer CLI on the tiny market."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.data_samples import generate_market
from etfflow.engine.store import open_store

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return generate_market(tmp_path_factory.mktemp("cli2") / "tiny", size="tiny", seed=2)


def test_factors_list_shows_every_family():
    r = runner.invoke(app, ["factors", "list"])
    assert r.exit_code == 0, r.output
    for name in ("w_passive_zs_{n}", "passive_beta_{n}", "passive_inflow_corr_w_{n}", "mom_12m"):
        assert name in r.stdout


def test_factors_list_cites_the_report_of_each_factor():
    r = runner.invoke(app, ["factors", "list"], env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    assert "docs/methodology.md#32-the-factor-families" in r.stdout
    rows = {line.split("│")[1].strip(): line for line in r.stdout.splitlines() if "│" in line}
    assert "Kaiyuan 2024-09 table 4" in rows["w_passive_chg_{n}"]
    assert "Huaan 2024-12 §4.3, table 56" in rows["passive_beta_{n}"]
    assert "Huaan 2024-12 tables 17, 52" in rows["revs_{n}"]
    assert "SPEC" not in r.stdout and "§3 " not in r.stdout


def test_factors_compute_backtest_report(tiny, tmp_path):
    store = tmp_path / "s.duckdb"
    r = runner.invoke(
        app,
        [
            "factors",
            "compute",
            str(tiny),
            "--factors",
            "w_passive_inflow,revs_20",
            "--windows",
            "10,20",
            "--process",
            "winsor,zscore",
            "--store",
            str(store),
            "--export",
            str(tmp_path / "f.parquet"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "w_passive_inflow_10" in r.stdout and "winsor(k=5" in r.stdout
    wide = pl.read_parquet(tmp_path / "f.parquet")
    assert wide.columns == ["date", "code", "w_passive_inflow_10", "w_passive_inflow_20", "revs_20"]

    r = runner.invoke(
        app,
        [
            "backtest",
            "--store",
            str(store),
            "--groups",
            "5",
            "--rebalance",
            "month",
            "--export",
            str(tmp_path / "bt"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "Rank IC per year" in r.stdout and "Long excess per year, compounded" in r.stdout
    assert "Long excess per year, arithmetic" in r.stdout
    assert (tmp_path / "bt" / "summary.parquet").is_file()
    with open_store(store, read_only=True) as st:
        runs = st.runs()
    bt_id = runs.filter(pl.col("kind") == "backtest")["run_id"].item()
    assert bt_id in r.stdout

    r = runner.invoke(
        app, ["report", "--store", str(store), "--run", bt_id, "--html", str(tmp_path / "r.html")]
    )
    assert r.exit_code == 0, r.output
    assert "revs_20" in r.stdout and "Rank IC per year" in r.stdout
    assert "w_passive_inflow_20" in (tmp_path / "r.html").read_text()
    png = tmp_path / "r.png"
    args = ["report", "--store", str(store), "--run", bt_id, "--png", str(png)]
    r = runner.invoke(app, [*args, "--factor", "revs_20"])
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # matplotlib, no browser
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("r.", ".r."))) == [
        "r.html",
        "r.png",
    ]  # no temporary file left
    r = runner.invoke(app, [*args, "--factor", "nope"])
    assert r.exit_code == 1 and "no factor 'nope'" in r.stderr


def test_cli_errors_exit_1(tiny, tmp_path):
    store = tmp_path / "empty.duckdb"
    r = runner.invoke(
        app, ["factors", "compute", str(tiny), "--factors", "nope_20", "--store", str(store)]
    )
    assert r.exit_code == 1 and "unknown factor 'nope_20'" in r.stderr
    r = runner.invoke(app, ["backtest", "--store", str(store)])
    assert r.exit_code == 1 and "no factor run at level 'stock'" in r.stderr
    r = runner.invoke(app, ["backtest", "--store", str(store), "--rebalance", "weekly"])
    assert r.exit_code != 0
    r = runner.invoke(app, ["report", "--store", str(store), "--run", "ba-nothing"])
    assert r.exit_code == 1 and "no run 'ba-nothing'" in r.stderr


def test_backtest_rows_of_a_factor_do_not_depend_on_the_others(tiny, tmp_path):
    # revs_20 starts 20 days in, w_passive_inflow_10 earlier, passive_inflow_corr_w_96 never
    # (96 weeks on 158 days): revs_20's rows are the same alone and in the set, in every bt_*
    # table, and the empty factor is stored with nulls and a note.
    store = tmp_path / "s.duckdb"
    names = "w_passive_inflow_10,revs_20,passive_inflow_corr_w_96"
    r = runner.invoke(
        app, ["factors", "compute", str(tiny), "--factors", names, "--store", str(store)]
    )
    assert r.exit_code == 0, r.output
    ids = {}
    for factors in (names, "revs_20"):
        r = runner.invoke(
            app, ["backtest", "--store", str(store), "--factors", factors, "--groups", "5"]
        )
        assert r.exit_code == 0, r.output
        ids[factors] = r.stdout
    note = "passive_inflow_corr_w_96: no value on any rebalance date: its first value needs 485"
    assert note + " trading days of data (warm-up 484)" in " ".join(ids[names].split())
    with open_store(store, read_only=True) as st:
        bt = st.runs().filter(pl.col("kind") == "backtest")["run_id"].to_list()
        assert len(bt) == 2
        both, alone = bt if st.table("bt_summary", bt[0]).height == 3 else (bt[1], bt[0])
        tables = ("bt_ic", "bt_groups", "bt_nav", "bt_summary", "bt_yearly", "bt_group_summary")
        for table in (*tables, "bt_periods"):
            a = st.table(table, alone)
            b = st.table(table, both)
            if table != "bt_periods":
                b = b.filter(pl.col("factor") == "revs_20")
            assert a.height > 0, table
            assert_frame_equal(a, b, check_row_order=False)
        empty = st.table("bt_summary", both).filter(pl.col("factor") == "passive_inflow_corr_w_96")
    row = empty.row(0, named=True)
    assert row["n_periods"] == 0 and row["rank_ic"] is None and row["long_excess_ann"] is None
    assert row["win_rate_vs_benchmark"] is None and row["note"].startswith("no value on any")


def test_backtest_in_a_float_cap_sub_universe(tiny, tmp_path):
    store = tmp_path / "s.duckdb"
    r = runner.invoke(
        app, ["factors", "compute", str(tiny), "--factors", "revs_20", "--store", str(store)]
    )
    assert r.exit_code == 0, r.output
    held = {}
    for universe in ("default", "industry_cap_top50", "market_cap_top25"):
        r = runner.invoke(app, ["backtest", "--store", str(store), "--universe", universe])
        assert r.exit_code == 0, r.output
        with open_store(store, read_only=True) as st:
            run = st.runs().filter(pl.col("kind") == "backtest")["run_id"].to_list()[-1]
            assert st.run(run)["params"]["universe"] == universe
            g = st.table("bt_groups", run)
        held[universe] = g["n"].sum()  # stocks held over all groups and periods
    assert held["market_cap_top25"] < held["industry_cap_top50"] < held["default"]
    r = runner.invoke(app, ["backtest", "--store", str(store), "--universe", "top10"])
    assert r.exit_code == 1
    assert "unknown universe 'top10'" in r.stderr and "industry_cap_top25" in r.stderr


def test_tscorr_command_on_a_stored_industry_run(demo_run, tmp_path):
    from etfflow.backtest.tscorr import TSCORR_SCHEMA

    out = tmp_path / "ts.parquet"
    args = ["tscorr", "--store", str(demo_run.store), "--export", str(out)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    flat = " ".join(r.stdout.split())
    assert "whole" in flat and "w_passive_inflow_20" in flat
    df = pl.read_parquet(out)
    assert df.columns == ["metric", *TSCORR_SCHEMA.names()]
    assert df["year"].null_count() == df["metric"].n_unique() == 6  # one whole row per metric
    one = runner.invoke(app, [*args[:3], "--metrics", "mv_passive_chg_20", "--horizon", "5"])
    assert one.exit_code == 0, one.output
    assert "next 5-day return" in " ".join(one.stdout.split())
    assert "share_passive_diff_20" not in one.stdout
    bad = runner.invoke(app, [*args[:3], "--metrics", "no_such_metric"])
    assert bad.exit_code == 1 and "has no no_such_metric" in bad.stderr
    # stock level: one block per board (Huaan table 43); --merge-main needs stocks
    stock = runner.invoke(app, [*args[:3], "--level", "stock", "--export", str(out)])
    assert stock.exit_code == 0, stock.output
    flat = " ".join(stock.stdout.split())
    assert "Board SH_MAIN" in flat and "Board CHINEXT" in flat
    assert pl.read_parquet(out).columns == ["board", "metric", *TSCORR_SCHEMA.names()]
    merged = runner.invoke(app, [*args[:3], "--level", "stock", "--merge-main"])
    assert merged.exit_code == 0 and "Board MAIN" in " ".join(merged.stdout.split())
    bad = runner.invoke(app, [*args[:3], "--merge-main"])
    assert bad.exit_code == 1 and "level='stock'" in bad.stderr


def test_backtest_min_passive_and_rolling_direction_options(tiny, tmp_path):
    store = tmp_path / "s.duckdb"
    r = runner.invoke(
        app, ["factors", "compute", str(tiny), "--factors", "revs_20", "--store", str(store)]
    )
    assert r.exit_code == 0, r.output
    args = ["backtest", "--store", str(store), "--min-passive", "0.3", "--direction", "rolling"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "w_passive ≥ its 0.3 quantile" in r.stdout and "direction rolling" in r.stdout
    with open_store(store, read_only=True) as st:
        run = st.runs().filter(pl.col("kind") == "backtest")["run_id"].to_list()[-1]
        params = st.run(run)["params"]
        ic = st.table("bt_ic", run)
    assert params["min_passive"] == 0.3 and params["direction"] == "rolling"
    assert set(ic["direction"].drop_nulls().to_list()) <= {1, -1}
    for bad, hint in (("1.5", "[0, 1)"), ("-0.1", "[0, 1)")):
        r = runner.invoke(app, ["backtest", "--store", str(store), "--min-passive", bad])
        assert r.exit_code == 1 and hint in r.stderr, r.output
    r = runner.invoke(app, ["backtest", "--store", str(store), "--direction", "sideways"])
    assert r.exit_code == 1 and "rolling" in r.stderr


def test_backtest_against_an_index_benchmark(tiny, tmp_path):
    store = tmp_path / "s.duckdb"
    r = runner.invoke(
        app, ["factors", "compute", str(tiny), "--factors", "revs_20", "--store", str(store)]
    )
    assert r.exit_code == 0, r.output
    html = tmp_path / "r.html"
    args = ["backtest", "--store", str(store), "--benchmark", "000905.SH", "--html", str(html)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "benchmark 000905.SH" in r.stdout
    assert "基准 = 指数 000905.SH" in html.read_text(encoding="utf-8")
    r = runner.invoke(app, ["backtest", "--store", str(store), "--benchmark", "CSI300"])
    assert r.exit_code == 1 and "no rows for index 'CSI300'" in r.stderr

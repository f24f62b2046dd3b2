"""``etfflow top`` on the tiny demo store: the lists, their export and page, raw factor values,
point in time, and exit code 1 on bad input."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow.backtest.topk import TOP_METRICS, TOP_SCHEMA
from etfflow.cli import app
from etfflow.engine.loading import open_dataset
from etfflow.engine.market import load_market
from etfflow.engine.store import open_store
from etfflow.factors.compute import compute_factors
from etfflow.factors.inputs import stock_inputs
from etfflow.pipeline.topk import run_top

runner = CliRunner()


def lookthrough_and_factor_run(store) -> tuple[str, str]:
    with open_store(store, read_only=True, create=False) as st:
        runs = st.runs()
    lt = runs.filter(pl.col("kind") == "lookthrough")["run_id"][-1]
    fr = runs.filter(pl.col("kind") == "factors")["run_id"][0]
    return lt, fr


def test_top_prints_exports_and_writes_a_page(demo_run, tmp_path) -> None:
    out, page = tmp_path / "top.parquet", tmp_path / "top.html"
    args = ["top", "--store", str(demo_run.store), "--k", "3"]
    r = runner.invoke(
        app, [*args, "--export", str(out), "--html", str(page)], env={"COLUMNS": "160"}
    )
    assert r.exit_code == 0, r.output
    for m in TOP_METRICS:
        assert f"Top 3 by {m} " in r.stdout
    assert "float cap" in r.stdout and "industry" in r.stdout
    df = pl.read_parquet(out)
    assert df.schema == TOP_SCHEMA
    assert df["metric"].unique(maintain_order=True).to_list() == list(TOP_METRICS)
    assert df.group_by("metric").len()["len"].to_list() == [3] * len(TOP_METRICS)
    assert df["date"].n_unique() == 1
    assert df["name"].null_count() == 0 and df["industry_l1"].null_count() == 0
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and all(m in html for m in TOP_METRICS)
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind


def test_raw_factor_lists_match_an_unprocessed_factor_computation(demo_run) -> None:
    """``w_passive_inflow_20`` / ``w_passive_diff_20`` are the raw factors (what a factor run
    with ``--process none`` stores), ranked descending with ties by code."""
    lt, _ = lookthrough_and_factor_run(demo_run.store)
    with open_store(demo_run.store, read_only=True, create=False) as st:
        flow = st.table("stock_flow", lt)
    market = load_market(open_dataset(demo_run.market))
    names = ["w_passive_diff_20", "w_passive_inflow_20"]
    raw = compute_factors(stock_inputs(market, flow), names).frame()
    last = flow["date"].max()
    res = run_top(demo_run.store, metrics=names, k=10)
    assert res.date == last
    for m in names:
        want = (
            raw.filter((pl.col("date") == last) & pl.col(m).is_not_null())
            .sort([m, "code"], descending=[True, False])
            .head(10)
        )
        got = res.lists.filter(pl.col("metric") == m)
        assert got["code"].to_list() == want["code"].to_list()
        assert got["value"].to_list() == pytest.approx(want[m].to_list(), rel=1e-12)


def test_rows_after_the_date_do_not_change_the_lists(demo_run, tmp_path) -> None:
    store = tmp_path / "perturbed.duckdb"
    shutil.copy(demo_run.store, store)
    lt, _ = lookthrough_and_factor_run(store)
    with open_store(store, read_only=True, create=False) as st:
        dates = st.table("stock_flow", lt, columns=["date"])["date"].unique().sort()
    day = dates[len(dates) // 2]
    base = run_top(store, date=day, k=20)
    con = duckdb.connect(str(store))
    try:
        con.execute(
            "UPDATE stock_flow SET n_etf = n_etf + 100, n_index = 0, mv_passive = -mv_passive, "
            "share_passive = 0, share_passive_fund = 1e20, w_passive = NULL, inflow = 1e15, "
            "float_mcap = 1 WHERE date > ?",
            [day],
        )
    finally:
        con.close()
    after = run_top(store, date=day, k=20)
    assert after.lists.equals(base.lists)
    assert after.counts.equals(base.counts)
    # and the perturbation does reach a later date
    assert not run_top(store, k=20).lists.equals(run_top(demo_run.store, k=20).lists)


def test_a_factor_run_id_stands_for_its_lookthrough(demo_run) -> None:
    lt, fr = lookthrough_and_factor_run(demo_run.store)
    a = run_top(demo_run.store, run=lt, metrics=["n_etf"])
    b = run_top(demo_run.store, run=fr, metrics=["n_etf"])
    assert a.run["run_id"] == b.run["run_id"] == lt
    assert a.lists.equals(b.lists)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2000-01-03"], "no stock rows on 2000-01-03"),
        (["--date", "2024-13-01"], "is not a date"),
        (["--metrics", "n_etf,w_pasive"], "choose among share_passive_fund"),
        (["--k", "0"], "at least 1"),
        (["--run", "lo-nosuchrun"], "no run 'lo-nosuchrun'"),
    ],
)
def test_bad_inputs_exit_1(demo_run, args, message) -> None:
    r = runner.invoke(app, ["top", "--store", str(demo_run.store), *args], env={"COLUMNS": "300"})
    assert r.exit_code == 1, r.output
    assert message in r.stderr
    assert "Traceback" not in r.output


def test_a_date_off_the_calendar_names_the_nearest_dates(demo_run) -> None:
    lt, _ = lookthrough_and_factor_run(demo_run.store)
    with open_store(demo_run.store, read_only=True, create=False) as st:
        dates = st.table("stock_flow", lt, columns=["date"])["date"].unique().sort().to_list()
    gap = next(i for i in range(1, len(dates)) if (dates[i] - dates[i - 1]).days > 1)
    weekend = dates[gap - 1] + dt.timedelta(days=1)
    r = runner.invoke(
        app,
        ["top", "--store", str(demo_run.store), "--date", str(weekend)],
        env={"COLUMNS": "300"},
    )
    assert r.exit_code == 1
    assert f"nearest dates: {dates[gap - 2]}, {dates[gap - 1]}, {dates[gap]}" in r.stderr


def test_missing_store_exits_1(tmp_path) -> None:
    r = runner.invoke(app, ["top", "--store", str(tmp_path / "none.duckdb")])
    assert r.exit_code == 1
    assert "no store at" in r.stderr
    assert not (tmp_path / "none.duckdb").exists()

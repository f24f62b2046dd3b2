"""Coverage over time (Huaan 2024-12 tables 30–33, 41–42): sampling, a loop twin from the stock
table, point in time, and the ``etfflow coverage`` command."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

import etfflow as ef
from etfflow.cli import app
from etfflow.engine.coverage_series import COVERAGE_SERIES, coverage_series, sample_dates
from etfflow.exceptions import EtfflowError

D = dt.date


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    folder = ef.generate_market(tmp_path_factory.mktemp("cov") / "m", size="tiny", seed=3)
    ds = ef.open_dataset(folder)
    return folder, ds, ef.look_through(ds)


def test_sample_dates_by_hand() -> None:
    days = pl.Series([D(2024, 1, 30), D(2024, 1, 31), D(2024, 2, 1), D(2024, 2, 2)])
    assert sample_dates(days, "month").to_list() == [D(2024, 1, 31), D(2024, 2, 2)]
    assert sample_dates(days, "year").to_list() == [D(2024, 2, 2)]
    assert sample_dates(days, "day").to_list() == days.to_list()
    with pytest.raises(EtfflowError, match="unknown frequency 'week'"):
        sample_dates(days, "week")


def coverage_reference(stocks: pl.DataFrame, boards: dict[str, str], day: dt.date) -> dict:
    """(grouping, group) -> (n_stock, n_held, held_share, passive_share) by a plain loop."""
    acc: dict[tuple[str, str], list[float]] = {}
    for r in stocks.filter(pl.col("date") == day).iter_rows(named=True):
        for key in (("market", "market"), ("board", boards[r["code"]])):
            a = acc.setdefault(key, [0, 0, 0.0, 0.0])
            a[0] += 1
            a[1] += r["n_etf"] > 0
            cap = r["float_mcap"]
            if cap is not None and math.isfinite(cap):
                a[2] += r["mv_passive"]
                a[3] += cap
    return {k: (a[0], a[1], a[1] / a[0], a[2] / a[3] if a[3] > 0 else None) for k, a in acc.items()}


def test_market_and_boards_match_a_loop_over_the_stock_table(market) -> None:
    _folder, ds, lt = market
    boards = dict(ds.frame("stocks").select("code", "board").collect().iter_rows())
    cov = coverage_series(lt.stocks, lt.groups, groupings=("market", "board"), freq="month")
    assert cov.schema == COVERAGE_SERIES
    days = cov["date"].unique().sort().to_list()
    assert len(days) >= 6  # every month end of the tiny market
    for day in (days[0], days[len(days) // 2], days[-1]):
        want = coverage_reference(lt.stocks, boards, day)
        got = cov.filter(pl.col("date") == day)
        assert got.height == len(want)
        for r in got.iter_rows(named=True):
            n, held, hs, ps = want[(r["grouping"], r["group"])]
            assert (r["n_stock"], r["n_held"]) == (n, held)
            assert r["held_share"] == pytest.approx(hs, rel=1e-12)
            assert r["passive_share"] == pytest.approx(ps, rel=1e-9)


def test_rows_up_to_a_date_do_not_depend_on_later_data(market) -> None:
    """Point in time: cutting the look-through after day D keeps every row dated <= D."""
    _folder, _ds, lt = market
    full = coverage_series(lt.stocks, lt.groups, freq="month")
    days = lt.stocks["date"].unique().sort()
    cut = days[len(days) // 2]
    short = coverage_series(
        lt.stocks.filter(pl.col("date") <= cut), lt.groups.filter(pl.col("date") <= cut)
    )
    early = full.filter(pl.col("date") <= cut)
    assert early.height > 0
    assert_frame_equal(short.join(early.select("date"), on="date", how="semi"), early)
    # the cut month is sampled on the cut day (its last date so far)
    assert short["date"].max() == cut


def test_coverage_command_defaults_skip_empty_categories(market, tmp_path) -> None:
    folder, _ds, _lt = market
    out, page = tmp_path / "cov.parquet", tmp_path / "cov.html"
    runner = CliRunner()
    r = runner.invoke(app, ["coverage", str(folder), "--export", str(out), "--html", str(page)])
    assert r.exit_code == 0, r.output
    t = pl.read_parquet(out)
    assert t.columns == ["pool", *COVERAGE_SERIES]
    pools = t["pool"].unique().to_list()
    assert "all" in pools and "broad" in pools
    empty = [p for p in ("broad", "sector", "style") if p not in pools]
    if empty:
        assert "left out (no ETF in the data)" in r.stdout
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text and text.count("<svg") == 3
    assert "Coverage by board" in r.stdout and "SH_MAIN" in r.stdout
    # an explicitly named pool without ETFs is an error, not a silent gap
    r = runner.invoke(app, ["coverage", str(folder), "--pools", "all,nosuch"])
    assert r.exit_code == 1 and "unknown pool 'nosuch'" in r.stderr
    r = runner.invoke(app, ["coverage", str(folder), "--freq", "week"])
    assert r.exit_code == 1


def test_a_pool_without_etfs_is_an_error_unless_skipped(market) -> None:
    from etfflow.exceptions import PoolError
    from etfflow.pipeline.coverage import coverage_by_pool

    _folder, ds, _lt = market
    none = ef.Pool.where(pl.col("etf_code") == "000000.XX", name="nothing")
    with pytest.raises(PoolError, match="pool 'nothing' selects no ETF"):
        coverage_by_pool(ds, ["all", none], freq="year")
    skipped: list[str] = []
    t = coverage_by_pool(ds, ["all", none], freq="year", skip_empty=skipped)
    assert skipped == ["nothing"] and t["pool"].unique().to_list() == ["all"]

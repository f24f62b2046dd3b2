"""Weekly look-through to industries: calendar helpers by hand, fast vs the plain-Python
reference on the synthetic market, weights mode vs PCF mode, pool selection, clear errors."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from etfflow.backtest.rotation.holdings import month_ends, week_ends, weekly_holdings
from etfflow.backtest.rotation.holdings_ref import industry_holdings_ref
from etfflow.backtest.rotation.result import SCHEMAS
from etfflow.engine.loading import open_dataset
from etfflow.engine.pools import Pool
from etfflow.exceptions import EtfflowError


def _days(ds) -> pl.Series:
    return ds.frame("stock_daily").select(pl.col("date").unique().sort()).collect()["date"]


def test_week_and_month_ends_by_hand() -> None:
    d = pl.Series(
        [
            dt.date(2024, 1, 29),  # Mon
            dt.date(2024, 1, 31),  # Wed, month end
            dt.date(2024, 2, 1),  # Thu
            dt.date(2024, 2, 2),  # Fri
            dt.date(2024, 2, 5),  # Mon
        ]
    )
    assert week_ends(d).to_list() == [dt.date(2024, 2, 2), dt.date(2024, 2, 5)]
    assert month_ends(d).to_list() == [dt.date(2024, 1, 31), dt.date(2024, 2, 5)]


def test_fast_equals_reference_every_week(tiny_market: Path) -> None:
    ds = open_dataset(tiny_market)
    wh = weekly_holdings(ds, _days(ds), pool="all", mode="weights")
    assert wh.weekly.schema == SCHEMAS["industry_weekly"]
    tables = {
        "etfs": Pool.all().select(ds.frame("etfs").collect()),
        "etf_daily": ds.frame("etf_daily")
        .collect()
        .with_columns(pl.col("etf_code").cast(pl.String)),
        "holding_weights": ds.frame("holding_weights")
        .collect()
        .with_columns(pl.col(c).cast(pl.String) for c in ("etf_code", "index_code", "code")),
        "stock_industry": ds.frame("stock_industry")
        .collect()
        .with_columns(pl.col("code").cast(pl.String), pl.col("industry_l1").cast(pl.String)),
    }
    months = wh.months.to_list()
    checked = 0
    for k, day in enumerate(wh.weeks.to_list()):
        prior = [m for m in months if m <= day]
        got = wh.weekly.filter(pl.col("date") == day)
        if not prior:  # before the first month-end: no weights, no rows
            assert got.height == 0
            continue
        ref = industry_holdings_ref(tables, day, prior[-1], "industry_l1")
        total = sum(ref.values())
        for row in got.iter_rows(named=True):
            h = ref.get(row["industry"], 0.0)
            assert row["holding"] == pytest.approx(h, rel=1e-9, abs=1e-3)
            assert row["holding_share"] == pytest.approx(h / total, rel=1e-9, abs=1e-15)
        assert np.allclose(wh.share[k][wh.present[k]], got["holding_share"].to_numpy())
        checked += 1
    assert checked >= 20
    # flow = week-over-week change of the holding share
    ind = wh.industries[0]
    one = wh.weekly.filter(pl.col("industry") == ind).sort("date")
    diff = one["holding_share"] - one["holding_share"].shift(1)
    assert np.allclose(one["flow"].to_numpy()[2:], diff.to_numpy()[2:], equal_nan=True)


def test_weights_and_pcf_modes_agree_on_the_synthetic_market(tiny_market: Path) -> None:
    # the synthetic month-end snapshots are exactly that day's basket weights
    ds = open_dataset(tiny_market)
    w = weekly_holdings(ds, _days(ds), mode="weights")
    p = weekly_holdings(ds, _days(ds), mode="pcf")
    a, b = w.weekly["holding"].to_numpy(), p.weekly["holding"].to_numpy()
    assert np.allclose(a, b, rtol=1e-9, atol=1e-3)
    assert np.allclose(w.month_share, p.month_share, rtol=1e-9, equal_nan=True)


def test_pool_restricts_the_etfs(tiny_market: Path) -> None:
    ds = open_dataset(tiny_market)
    every = weekly_holdings(ds, _days(ds), pool="all")
    broad = weekly_holdings(ds, _days(ds), pool="broad")
    assert broad.diagnostics["etfs"] < every.diagnostics["etfs"]
    last = every.weekly["date"].max()
    h_all = every.weekly.filter(pl.col("date") == last)["holding"].sum()
    h_broad = broad.weekly.filter(pl.col("date") == last)["holding"].sum()
    assert 0 < h_broad < h_all


def test_missing_holdings_table_is_a_clear_error(tiny_market: Path, tmp_path: Path) -> None:
    root = tmp_path / "m"
    shutil.copytree(tiny_market, root)
    shutil.rmtree(root / "etf_pcf")
    ds = open_dataset(root)
    with pytest.raises(EtfflowError, match="needs table 'etf_pcf'"):
        weekly_holdings(ds, _days(ds), mode="pcf")


@pytest.mark.parametrize("pool", ["concentration:high", "turnover:low"])
def test_a_time_varying_pool_counts_each_week_s_members_only(tiny_market: Path, pool) -> None:
    """A split pool's week holds exactly what the fixed pool of that week's members holds
    (the stock look-through's membership, point in time); weeks before the first decision
    hold nothing."""
    from etfflow.engine.etf_measures import etf_measures
    from etfflow.engine.pools import split_members

    ds = open_dataset(tiny_market)
    days = _days(ds)
    split = Pool.of(pool)
    assert split.split is not None
    wh = weekly_holdings(ds, days, pool=pool, mode="weights")
    base = split.select(ds.frame("etfs").collect())["etf_code"].to_list()
    measures = etf_measures(
        ds, mode="weights", etf_codes=base, concentration=split.split.measure == "concentration"
    )
    members = split_members(measures, split.split, days.to_list())
    weeks = wh.weeks.to_list()
    checked = 0
    for w in (weeks[len(weeks) // 3], weeks[-1]):
        on = members.filter(pl.col("date") == w)["etf_code"].cast(pl.String).to_list()
        assert on, f"no member on {w}"
        fixed = weekly_holdings(ds, days, pool=Pool.codes(on), mode="weights")
        a = wh.weekly.filter(pl.col("date") == w).select("industry", "holding")
        b = fixed.weekly.filter(pl.col("date") == w).select("industry", "holding")
        assert a.height == b.height > 0
        np.testing.assert_allclose(a["holding"].to_numpy(), b["holding"].to_numpy(), rtol=1e-12)
        checked += 1
    assert checked == 2
    first = members["date"].min()
    early = wh.weekly.filter(pl.col("date") < first)
    assert early.height == 0 or early["holding"].sum() == 0

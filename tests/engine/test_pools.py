"""Pools (etfflow.engine.pools): names, the time-varying splits against a loop twin, point in
time, and the look-through of a split pool in both modes."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import etfflow.engine.lookthrough.api as lt_api
from etfflow.engine.loading import open_dataset
from etfflow.engine.lookthrough import penetrate
from etfflow.engine.lookthrough_ref import lookthrough_reference
from etfflow.engine.pools import (
    POOL_NAMES,
    Pool,
    Split,
    decision_days,
    split_members,
)
from etfflow.exceptions import DataContractError, PoolError
from tests.engine.test_lookthrough import _perturb_after
from tests.helpers import examples, weekdays
from tests.market_strategies import markets, write_market


def test_names_parse_and_label():
    for name in POOL_NAMES:
        assert Pool.of(name).label == name
    assert Pool.of("nonbroad").categories == ("sector", "style")
    sp = Pool.of("concentration:high")
    assert sp.split == Split("concentration", "high") and sp.split.column == "hhi"
    assert sp.describe()["split"] == {
        "measure": "concentration",
        "column": "hhi",
        "side": "high",
        "quantile": 0.5,
        "refresh": "month",
    }
    assert "split" not in Pool.of("broad").describe()  # static pools describe as before
    p = Pool.split_by("turnover", "low", quantile=0.3, refresh="day", base=Pool.of("sector"))
    assert p.label == "sector&turnover:low(q=0.3,refresh=day)"
    assert p.static.categories == ("sector",) and p.static.split is None
    for bad in ("turnover:mid", "size:high", "nonbroad:high", "Broad"):
        with pytest.raises(PoolError, match="unknown pool"):
            Pool.of(bad)
    with pytest.raises(PoolError, match="quantile"):
        Pool.split_by("aum", "high", quantile=1.0)
    with pytest.raises(PoolError, match="refresh"):
        Pool.split_by("aum", "high", refresh="week")
    with pytest.raises(PoolError, match="already split"):
        Pool.split_by("aum", "high", base=Pool.of("aum:low"))


def test_decision_days_by_hand():
    days = [dt.date(2024, 1, 30), dt.date(2024, 1, 31), dt.date(2024, 2, 1), dt.date(2024, 2, 29)]
    assert decision_days(days, "month") == [dt.date(2024, 1, 31)]  # the last day never decides
    assert decision_days(days, "day") == days[:-1]


def test_split_by_hand():
    """Four ETFs; decided on Jan 31 (median of 1, 2, 3 and a NaN = 2), applied in February."""
    days = [dt.date(2024, 1, 30), dt.date(2024, 1, 31), dt.date(2024, 2, 1), dt.date(2024, 2, 2)]
    m = pl.DataFrame(
        {
            "date": [days[1]] * 4 + [days[2]] * 4,
            "etf_code": ["A", "B", "C", "D"] * 2,
            "aum": [1.0, 2.0, 3.0, float("nan"), 9.0, 0.0, 0.0, 0.0],
        }
    )
    hi = split_members(m, Split("aum", "high"), days)
    lo = split_members(m, Split("aum", "low"), days)
    assert hi.rows() == [(days[2], "C"), (days[3], "C")]
    assert lo.rows() == [(days[2], "A"), (days[2], "B"), (days[3], "A"), (days[3], "B")]
    # daily refresh: Feb 2 follows Feb 1's values (median 0: A is high)
    daily = split_members(m, Split("aum", "high", refresh="day"), days)
    assert daily.filter(pl.col("date") == days[3])["etf_code"].to_list() == ["A"]
    q = split_members(m, Split("aum", "high", quantile=0.25), days)
    assert q.filter(pl.col("date") == days[2])["etf_code"].to_list() == ["B", "C"]


def split_reference(measures: pl.DataFrame, split: Split, dates: list[dt.date]) -> set:
    """Members by loops: the latest decision day before each date, its values and quantile."""
    vals: dict[dt.date, dict[str, float]] = {}
    for r in measures.iter_rows(named=True):
        v = r[split.column]
        if v is not None and np.isfinite(v):
            vals.setdefault(r["date"], {})[r["etf_code"]] = v
    decide = set()
    for i, d in enumerate(dates[:-1]):
        nxt = dates[i + 1]
        if split.refresh == "day" or (d.year, d.month) != (nxt.year, nxt.month):
            decide.add(d)
    out = set()
    for i, t in enumerate(dates):
        past = [d for d in dates[:i] if d in decide]
        if not past:
            continue
        v = vals.get(past[-1], {})
        if not v:
            continue
        thr = float(np.quantile(list(v.values()), split.quantile))
        for code, x in v.items():
            if (x > thr) if split.side == "high" else (x <= thr):
                out.add((t, code))
    return out


@settings(max_examples=examples(60), deadline=None)
@given(
    st.integers(2, 60),
    st.integers(1, 6),
    st.integers(0, 2**31 - 1),
    st.sampled_from(["high", "low"]),
    st.sampled_from([0.5, 0.2, 0.8]),
    st.sampled_from(["month", "day"]),
)
def test_split_matches_reference(n_days, n_etf, seed, side, q, refresh):
    rng = np.random.default_rng(seed)
    dates = weekdays(n_days, dt.date(2024, 1, 15))
    rows = [
        (d, f"E{e}", float(rng.choice([np.nan, rng.integers(0, 4), rng.uniform()])))
        for d in dates
        for e in range(n_etf)
        if rng.random() < 0.8  # ETFs list and delist mid-sample
    ]
    m = pl.DataFrame(rows, schema=["date", "etf_code", "hhi"], orient="row")
    split = Split("concentration", side, q, refresh)
    assert set(split_members(m, split, dates).rows()) == split_reference(m, split, dates)


def _open(tables, tmp: str):
    return open_dataset(write_market(tables, Path(tmp) / "m", categorical=True))


@settings(max_examples=examples(20), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets(), st.sampled_from(["pcf", "weights"]), st.data())
def test_constant_membership_equals_static_pool(tables, mode, data):
    """A split pool whose members are the same ETFs every day is the static pool of those
    ETFs, to 1e-12, in both modes (the kernels skip every non-member ETF-day)."""
    codes = tables["etfs"]["etf_code"].to_list()
    subset = data.draw(st.lists(st.sampled_from(codes), min_size=1, unique=True))
    keep = np.array([c in subset for c in sorted(codes)])  # pool order: by index, then code
    mp = pytest.MonkeyPatch()
    try:

        def constant(measures, pool, base, calendar):
            rows = np.array([c in subset for c in base])
            assert rows.sum() == keep.sum()
            return np.repeat(rows[:, None], len(calendar), axis=1)

        mp.setattr(lt_api, "member_panel", constant)
        with tempfile.TemporaryDirectory() as tmp:
            ds = _open(tables, tmp)
            split = penetrate(ds, pool=Pool.of("aum:high"), mode=mode)
            static = penetrate(ds, pool=Pool.codes(subset), mode=mode)
    finally:
        mp.undo()
    for a, b in ((split.stocks, static.stocks), (split.groups, static.groups)):
        assert_frame_equal(a, b, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)


@settings(max_examples=examples(15), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    markets(max_days=30),
    st.integers(0, 2**31 - 1),
    st.sampled_from(["pcf", "weights"]),
    st.sampled_from(["concentration:high", "aum:low", "day"]),
)
def test_split_lookthrough_point_in_time(tables, seed, mode, name):
    """Membership and flows up to a date do not change when every later input changes."""
    rng = np.random.default_rng(seed)
    pool = Pool.split_by("concentration", "low", refresh="day") if name == "day" else name
    days = sorted(tables["stock_daily"]["date"].unique().to_list())
    cut = days[int(rng.integers(0, len(days)))]
    changed = _perturb_after(tables, cut, rng)
    early = pl.col("date") <= cut
    with tempfile.TemporaryDirectory() as tmp:
        a = penetrate(_open(tables, tmp), pool=pool, mode=mode)
    with tempfile.TemporaryDirectory() as tmp:
        b = penetrate(_open(changed, tmp), pool=pool, mode=mode)
    assert_frame_equal(a.stocks.filter(early), b.stocks.filter(early))
    assert_frame_equal(a.groups.filter(early), b.groups.filter(early))


def test_split_pool_counts_only_members(tmp_path):
    """Daily AUM split of two ETFs with separated AUM: from day 2 on the high pool is the big
    ETF, and its flows equal the static pool's (an entering ETF brings its own day's flow)."""
    from tests.engine.test_lookthrough import hand_market

    t = hand_market()
    d0, d1 = t["stock_daily"]["date"].unique().sort().to_list()
    ds = open_dataset(write_market(t, tmp_path / "m", categorical=False))
    hi = penetrate(ds, pool=Pool.split_by("aum", "high", refresh="day"), mode="pcf")
    x = penetrate(ds, pool=Pool.codes(["510300.SH"]), mode="pcf")  # AUM 2e6 > 1e6
    assert hi.diagnostics["pool_member_days"] == 1
    assert hi.stocks.filter(pl.col("date") == d0)["n_etf"].sum() == 0  # no decision yet
    day2 = pl.col("date") == d1
    assert_frame_equal(hi.stocks.filter(day2), x.stocks.filter(day2))
    assert hi.params["pool"]["split"]["refresh"] == "day"


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets(), st.sampled_from(["pcf", "weights"]), st.integers(0, 2**31 - 1))
def test_changing_membership_matches_reference(tables, mode, seed):
    """ETFs entering and leaving a pool day by day: both modes equal the loop reference that
    skips non-member ETF-days (the previous shares still from the ETF's previous row)."""
    rng = np.random.default_rng(seed)
    days = sorted(tables["stock_daily"]["date"].unique().to_list())
    codes = tables["etfs"]["etf_code"].to_list()
    members = {(d, c) for d in days for c in codes if rng.random() < 0.5}
    mp = pytest.MonkeyPatch()
    try:

        def random_mask(measures, pool, base, calendar):
            dates = calendar.dates.to_list()
            return np.array([[(d, c) in members for d in dates] for c in base], dtype=bool)

        mp.setattr(lt_api, "member_panel", random_mask)
        with tempfile.TemporaryDirectory() as tmp:
            fast = penetrate(_open(tables, tmp), pool=Pool.of("aum:low"), mode=mode)
    finally:
        mp.undo()
    ref_stocks, _ = lookthrough_reference(tables, mode=mode, members=members)
    cols = ref_stocks.columns
    assert_frame_equal(
        fast.stocks.select(cols),
        ref_stocks.select(cols),
        check_dtypes=False,
        check_exact=False,
        rel_tol=1e-9,
        abs_tol=1e-6,
    )


def test_turnover_pool_needs_amount(tmp_path):
    """A turnover split on an etf_daily without amount is refused, naming table and column."""
    from tests.engine.test_lookthrough import hand_market

    ds = open_dataset(write_market(hand_market(), tmp_path / "m", categorical=False))
    with pytest.raises(DataContractError, match=r"table 'etf_daily', column 'amount'"):
        penetrate(ds, pool="turnover:high")
    lt = penetrate(ds, pool="aum:low")  # two days: the only decision would apply after them
    assert lt.diagnostics["pool_member_days"] == 0


def test_split_on_short_calendars():
    m = pl.DataFrame(schema={"date": pl.Date, "etf_code": pl.String, "hhi": pl.Float64})
    for dates in ([], [dt.date(2024, 1, 31)]):
        assert split_members(m, Split("concentration", "high"), dates).height == 0


@settings(max_examples=examples(15), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets(max_days=30), st.sampled_from(["concentration:high", "aum:low"]), st.data())
def test_split_pool_at_basket_valuation_without_creation_units(tables, name, data):
    """Basket valuation of a split pool with some ETFs' units null equals the split pool of
    the market without those ETFs: they take no part in the split decisions either."""
    from tests.engine.test_lookthrough import _null_units, _without_etfs

    codes = tables["etfs"]["etf_code"].to_list()
    gone = data.draw(st.lists(st.sampled_from(codes), min_size=1, max_size=len(codes) - 1,
                              unique=True)) if len(codes) > 1 else []  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        got = penetrate(_open(_null_units(tables, gone), tmp), pool=name, valuation="basket")
    with tempfile.TemporaryDirectory() as tmp:
        want = penetrate(_open(_without_etfs(tables, gone), tmp), pool=name, valuation="basket")
    for a, b in ((got.stocks, want.stocks), (got.groups, want.groups)):
        assert_frame_equal(a, b, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
    assert got.diagnostics["etfs_without_creation_unit"] == sorted(gone)
    assert got.diagnostics["pool_member_days"] == want.diagnostics["pool_member_days"]


def test_a_predicate_on_a_null_creation_unit_leaves_the_etf_out():
    """``creation_unit`` null (unknown) satisfies no comparison: such a pool leaves it out."""
    etfs = pl.DataFrame(
        {
            "etf_code": ["510300.SH", "510500.SH", "159919.SZ"],
            "category": ["broad"] * 3,
            "index_code": ["000300.SH", "000905.SH", "000300.SH"],
            "is_enhanced": [False] * 3,
            "creation_unit": [900_000.0, None, 1_000_000.0],
        }
    )
    big = Pool.where(pl.col("creation_unit") >= 9e5, name="big_units").select(etfs)
    assert big["etf_code"].to_list() == ["510300.SH", "159919.SZ"]
    known = Pool.where(pl.col("creation_unit").is_not_null(), name="known").select(etfs)
    assert known.height == 2 and Pool.all().select(etfs).height == 3

"""Universe and trading rules (SPEC §5.1) on hand-built markets and the synthetic tiny market."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etfflow.backtest.engine import evaluate
from etfflow.engine.market import NO_DATE, Market
from etfflow.engine.panel import Calendar
from etfflow.engine.universe import (
    CAP_UNIVERSES,
    TradingRules,
    min_passive_mask,
    no_rules,
    stock_rules,
    top_cap_mask,
    universe_rules,
)
from etfflow.exceptions import EtfflowError
from tests.helpers import examples

START = np.datetime64("2024-01-01")


def days(n: int) -> np.ndarray:
    d = np.arange(START, START + 3 * n + 10)
    return d[np.is_busday(d)][:n]


@dataclass
class _Panel:
    """The part of a StockPanel that Market and stock_rules read (dense arrays only)."""

    calendar: Calendar
    codes: list[str]
    close: np.ndarray
    float_mcap: np.ndarray
    listed: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.listed.shape


def make_market(
    n_days: int,
    list_dates: list[np.datetime64 | None],
    *,
    listed: np.ndarray | None = None,
    is_st: np.ndarray | None = None,
    suspended: np.ndarray | None = None,
    close: np.ndarray | None = None,
    up: np.ndarray | None = None,
    down: np.ndarray | None = None,
) -> Market:
    """A Market built directly from arrays (a stand-in panel with the dense arrays)."""
    dates = days(n_days)
    n = len(list_dates)
    shape = (n_days, n)
    listed = np.ones(shape, dtype=bool) if listed is None else listed
    close = np.full(shape, 10.0) if close is None else close
    close = np.where(listed, close, np.nan)
    panel = _Panel(
        calendar=Calendar(pl.Series("date", dates)),
        codes=[f"{600000 + i}.SH" for i in range(n)],
        close=close,
        float_mcap=np.where(listed, 1e9, np.nan),
        listed=listed,
    )
    flag = np.zeros(shape, dtype=bool)
    ld = np.array(
        [
            NO_DATE if d is None else (d - np.datetime64("1970-01-01")).astype(int)
            for d in list_dates
        ],
        dtype=np.int32,
    )
    return Market(
        panel=panel,  # type: ignore[arg-type]
        ret=np.where(listed, 0.0, np.nan),
        is_st=(flag if is_st is None else is_st) & listed,
        is_suspended=(flag if suspended is None else suspended) & listed,
        up_limit=np.full(shape, np.nan) if up is None else up,
        down_limit=np.full(shape, np.nan) if down is None else down,
        list_date=ld,
        delist_date=np.full(n, NO_DATE, dtype=np.int32),
        board=np.zeros(n, dtype=np.int16),
    )


def test_new_listing_needs_90_calendar_days() -> None:
    mk = make_market(80, [START, START - 200, None])
    r = stock_rules(mk)
    dates = days(80)
    age = (dates - START).astype(int)
    np.testing.assert_array_equal(r.universe[:, 0], age >= 90)
    assert r.universe[:, 1].all()
    assert not r.universe[:, 2].any()  # no listing date: never eligible
    assert not r.benchmark[:, 2].any()
    r30 = stock_rules(mk, min_listed_days=30)
    np.testing.assert_array_equal(r30.universe[:, 0], age >= 30)


def test_st_and_30_day_cooldown() -> None:
    n = 60
    st = np.zeros((n, 1), dtype=bool)
    st[10:21, 0] = True  # ST on days 10..20, removed on day 21
    mk = make_market(n, [START - 1000], is_st=st)
    r = stock_rules(mk)
    dates = days(n)
    since = (dates - dates[21]).astype(int)
    expected = np.ones(n, dtype=bool)
    expected[10:] = since[10:] >= 30
    np.testing.assert_array_equal(r.universe[:, 0], expected)
    # the benchmark only excludes ST days themselves
    np.testing.assert_array_equal(r.benchmark[:, 0], ~st[:, 0])
    r0 = stock_rules(mk, st_cooldown_days=0)
    np.testing.assert_array_equal(r0.universe[:, 0], ~st[:, 0])
    # still ST at the end of the data: never eligible again
    st2 = np.zeros((n, 1), dtype=bool)
    st2[40:, 0] = True
    r2 = stock_rules(make_market(n, [START - 1000], is_st=st2))
    assert r2.universe[:40, 0].all() and not r2.universe[40:, 0].any()


def test_st_removal_counts_from_the_first_listed_non_st_day() -> None:
    n = 60
    listed = np.ones((n, 1), dtype=bool)
    listed[21:25, 0] = False  # no rows on days 21..24: the removal is seen on day 25
    st = np.zeros((n, 1), dtype=bool)
    st[10:21, 0] = True
    r = stock_rules(make_market(n, [START - 1000], listed=listed, is_st=st))
    dates = days(n)
    since = (dates - dates[25]).astype(int)
    assert not r.universe[21:25, 0].any()
    np.testing.assert_array_equal(r.universe[25:, 0], since[25:] >= 30)


def test_suspension_and_price_limits() -> None:
    n = 5
    susp = np.zeros((n, 3), dtype=bool)
    susp[1, 0] = True
    close = np.full((n, 3), 10.0)
    up = np.full((n, 3), 11.0)
    down = np.full((n, 3), 9.0)
    close[2, 1] = 11.0  # limit-up on day 2
    close[3, 1] = 9.0  # limit-down on day 3
    up[:, 2] = np.nan  # no limits given for stock 2
    down[:, 2] = np.nan
    close[4, 2] = 50.0
    mk = make_market(n, [START - 1000] * 3, suspended=susp, close=close, up=up, down=down)
    r = stock_rules(mk)
    assert not r.universe[1, 0] and r.universe[0, 0] and r.universe[2, 0]
    assert not r.can_buy[1, 0] and not r.can_sell[1, 0]  # suspended: neither
    assert not r.can_buy[2, 1] and r.can_sell[2, 1]  # limit-up: can sell, cannot buy
    assert r.can_buy[3, 1] and not r.can_sell[3, 1]  # limit-down: can buy, cannot sell
    assert r.universe[2, 1] and r.universe[3, 1]  # limits do not change eligibility
    assert r.can_buy[:, 2].all() and r.can_sell[:, 2].all()
    # a limit price that differs from the close only by float noise still counts
    close[2, 1] = 11.0 - 1e-9
    assert not stock_rules(make_market(n, [START - 1000] * 3, close=close, up=up)).can_buy[2, 1]


def test_benchmark_needs_more_than_10_trading_days() -> None:
    n = 30
    dates = days(n)
    pre = dates[0] - 5  # 2023-12-27 (Wed): 3 weekdays before the first calendar day
    mk = make_market(n, [dates[5], pre, dates[0]])
    r = stock_rules(mk)
    np.testing.assert_array_equal(np.flatnonzero(r.benchmark[:, 0])[:1], [16])  # 16 - 5 > 10
    np.testing.assert_array_equal(np.flatnonzero(r.benchmark[:, 1])[:1], [8])  # 8 + 3 > 10
    np.testing.assert_array_equal(np.flatnonzero(r.benchmark[:, 2])[:1], [11])
    assert r.benchmark[16:, 0].all()
    r5 = stock_rules(mk, benchmark_min_days=5)
    assert np.flatnonzero(r5.benchmark[:, 0])[0] == 11


def test_not_listed_days_are_false_everywhere() -> None:
    listed = np.ones((8, 2), dtype=bool)
    listed[3:5, 0] = False
    r = stock_rules(make_market(8, [START - 1000] * 2, listed=listed))
    for mask in (r.universe, r.can_buy, r.can_sell, r.benchmark):
        assert not mask[3:5, 0].any()
        assert mask[:, 1].all()


def test_bad_arguments_and_shapes() -> None:
    mk = make_market(5, [START])
    with pytest.raises(EtfflowError, match="min_listed_days"):
        stock_rules(mk, min_listed_days=-1)
    with pytest.raises(EtfflowError, match="one shape"):
        TradingRules(
            np.ones((2, 2), bool),
            np.ones((2, 3), bool),
            np.ones((2, 2), bool),
            np.ones((2, 2), bool),
        )
    r = no_rules((3, 4))
    assert r.shape == (3, 4) and r.can_buy.all() and r.benchmark.all()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Market:
    from etfflow.data_samples import generate_market
    from etfflow.engine.loading import open_dataset
    from etfflow.engine.market import load_market

    root: Path = generate_market(tmp_path_factory.mktemp("tiny") / "market", size="tiny", seed=0)
    return load_market(open_dataset(root))


def test_rules_on_the_synthetic_tiny_market(tiny: Market) -> None:
    r = stock_rules(tiny)
    assert r.shape == tiny.shape
    assert not (r.universe & ~tiny.listed).any()
    assert not (r.universe & (tiny.is_st | tiny.is_suspended)).any()
    assert not (r.can_buy & tiny.is_suspended).any()
    assert not (r.can_sell & tiny.is_suspended).any()
    assert not (r.benchmark & tiny.is_st).any()
    assert r.universe.any() and r.benchmark.sum() >= r.universe.sum()
    # a reversal factor evaluated with the rules: the numbers exist and the universe binds
    ret = tiny.ret
    rev = np.full(ret.shape, np.nan)
    c = np.cumprod(1 + np.nan_to_num(ret), axis=0)
    rev[20:] = -(c[20:] / c[:-20] - 1)
    rev[~tiny.listed] = np.nan
    dates = tiny.calendar.dates.to_numpy()
    with_rules = evaluate({"rev": rev}, ret, dates, rules=r, groups=5, rebalance=10)
    without = evaluate({"rev": rev}, ret, dates, groups=5, rebalance=10)
    n_rules = with_rules.ic["n"].to_numpy()
    n_none = without.ic["n"].to_numpy()
    assert (n_rules <= n_none).all() and (n_rules < n_none).any()
    s = with_rules.summary.row(0, named=True)
    assert np.isfinite(s["rank_ic"]) and np.isfinite(s["long_ann_return"])


# --------------------------------------------------------------------------- cap sub-universes


def top_cap_mask_reference(cap: np.ndarray, groups: np.ndarray, top: float) -> np.ndarray:
    """Plain loops: per day and group, sort the finite caps, keep those >= the k-th largest."""
    out = np.zeros(cap.shape, dtype=bool)
    for t in range(cap.shape[0]):
        for g in set(groups[t].tolist()) - {-1}:
            members = [
                s for s in range(cap.shape[1]) if groups[t, s] == g and math.isfinite(cap[t, s])
            ]
            if not members:
                continue
            ranked = sorted((cap[t, s] for s in members), reverse=True)
            k = math.ceil(round(top * len(members), 9))
            for s in members:
                out[t, s] = cap[t, s] >= ranked[k - 1]
    return out


def test_top_cap_mask_by_hand() -> None:
    cap = np.array([[1.0, 2, 3, 4, 5, 6, 7, 8], [8.0, 7, 7, 7, 1, 2, np.nan, 3]])
    g = np.zeros((2, 8), dtype=np.int16)
    assert top_cap_mask(cap, g, 0.25).tolist() == [
        [False] * 6 + [True, True],  # 2 of 8
        [True, True, True, True, False, False, False, False],  # 2 of 7, the 7s tie
    ]
    g[1, 0] = -1  # no industry that day: out, and the day's group has 6 stocks
    assert top_cap_mask(cap, g, 0.5)[1].tolist() == [False, True, True, True] + [False] * 4
    with pytest.raises(EtfflowError, match="top must be in"):
        top_cap_mask(cap, g, 0.0)


@settings(max_examples=examples(80), deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda t: st.integers(1, 12).flatmap(
            lambda n: st.tuples(
                st.lists(
                    st.one_of(
                        st.sampled_from([1.0, 2.0, 5.0]), st.floats(0.1, 100), st.just(np.nan)
                    ),
                    min_size=t * n,
                    max_size=t * n,
                ),
                st.lists(st.integers(-1, 3), min_size=t * n, max_size=t * n),
                st.just((t, n)),
            )
        )
    ),
    st.sampled_from([0.25, 0.5, 1.0, 0.3]),
)
def test_top_cap_mask_matches_the_reference(data, top) -> None:
    caps, groups, shape = data
    cap = np.array(caps, dtype=np.float64).reshape(shape)
    g = np.array(groups, dtype=np.int64).reshape(shape)
    np.testing.assert_array_equal(top_cap_mask(cap, g, top), top_cap_mask_reference(cap, g, top))


def test_cap_universes_are_point_in_time_subsets_of_the_default(tmp_path: Path) -> None:
    from etfflow.data_samples import generate_market
    from etfflow.engine.loading import open_dataset
    from etfflow.engine.market import load_market

    market = load_market(open_dataset(generate_market(tmp_path / "m", size="tiny", seed=2)))
    base = stock_rules(market)
    for name, (_, top) in CAP_UNIVERSES.items():
        r = universe_rules(market, name)
        assert r is not None
        assert not (r.universe & ~base.universe).any() and not (r.benchmark & ~base.benchmark).any()
        share = r.universe.sum() / max(base.universe.sum(), 1)
        assert 0.5 * top < share < 1.0, name  # roughly the top share of the default universe
        np.testing.assert_array_equal(r.can_buy, base.can_buy)
    # point in time: changing caps after day t leaves the masks up to t unchanged
    t = market.shape[0] // 2
    cap = market.float_mcap.copy()
    g = market.group_ids("industry_l1")[0]
    before = top_cap_mask(cap, g, 0.25)
    cap[t + 1 :] = cap[t + 1 :][:, ::-1] * 3.0
    g2 = g.copy()
    g2[t + 1 :] = (g2[t + 1 :] + 1) % 5
    after = top_cap_mask(cap, g2, 0.25)
    np.testing.assert_array_equal(before[: t + 1], after[: t + 1])
    assert not np.array_equal(before[t + 1 :], after[t + 1 :])
    assert universe_rules(market, "none") is None
    with pytest.raises(EtfflowError, match="unknown universe 'top10'"):
        universe_rules(market, "top10")


def min_passive_mask_reference(w: np.ndarray, eligible: np.ndarray, q: float) -> np.ndarray:
    """Day by day: sort the eligible values, interpolate the q-quantile by hand, keep >= it."""
    out = np.zeros(w.shape, dtype=bool)
    for t in range(w.shape[0]):
        vals = sorted(
            float(w[t, i]) for i in range(w.shape[1]) if eligible[t, i] and math.isfinite(w[t, i])
        )
        if not vals:
            continue
        pos = q * (len(vals) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(vals) - 1)
        cut = vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)
        for i in range(w.shape[1]):
            out[t, i] = bool(eligible[t, i] and math.isfinite(w[t, i]) and w[t, i] >= cut)
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 12),
    st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9]),
    st.integers(0, 2**31 - 1),
)
def test_min_passive_mask_matches_reference(t: int, m: int, q: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = (
        rng.choice([0.0, 0.01, 0.02, 0.05], (t, m))
        + (rng.random((t, m)) < 0.5) * rng.random((t, m)) * 0.01
    )  # ties (zeros, repeated values) and distinct values
    w[rng.random((t, m)) < 0.2] = np.nan
    eligible = rng.random((t, m)) < 0.8
    np.testing.assert_array_equal(
        min_passive_mask(w, eligible, q), min_passive_mask_reference(w, eligible, q)
    )


def test_min_passive_mask_is_point_in_time_and_checks_q() -> None:
    rng = np.random.default_rng(4)
    w = rng.random((20, 30))
    ok = np.ones_like(w, dtype=bool)
    w2 = w.copy()
    w2[11:] = rng.random((9, 30))
    a, b = min_passive_mask(w, ok, 0.3), min_passive_mask(w2, ok, 0.3)
    assert (a[:11] == b[:11]).all() and not (a[11:] == b[11:]).all()
    assert a.sum(axis=1).tolist() == [21] * 20  # 30 distinct values: the top 70% (ceil)
    with pytest.raises(EtfflowError, match=r"\[0, 1\)"):
        min_passive_mask(w, ok, 1.0)

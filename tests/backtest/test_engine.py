"""Evaluation engine: hand-checkable cases and the loop reference.

Definitions: docs/methodology.md#5-backtests.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from etfflow.backtest import engine_nb as nb
from etfflow.backtest.engine import (
    GROUPS_SCHEMA,
    IC_SCHEMA,
    NAV_SCHEMA,
    NO_VALUES,
    SUMMARY_SCHEMA,
    YEARLY_SCHEMA,
    evaluate,
    make_periods,
    month_ends,
    qcut_fractions,
)
from etfflow.backtest.engine_ref import evaluate_reference
from etfflow.engine.universe import TradingRules, no_rules
from etfflow.exceptions import EtfflowError


def weekdays(n: int, start: str = "2024-01-01") -> np.ndarray:
    d = np.arange(np.datetime64(start), np.datetime64(start) + 3 * n + 10)
    return d[np.is_busday(d)][:n]


def forward(ret: np.ndarray, t: int, h: int, lag: int = 0) -> np.ndarray:
    """Compounded return of each asset from close t+lag to close t+lag+h (NaN -> 0)."""
    r = np.nan_to_num(ret[t + lag + 1 : t + lag + h + 1])
    return np.prod(1.0 + r, axis=0) - 1.0


def series(ev, name: str, kind: str) -> np.ndarray:
    return (
        ev.nav.filter(pl.col("factor") == name, pl.col("series") == kind)
        .sort("date")["nav"]
        .to_numpy()
    )


def group_matrix(ev, name: str, col: str = "ret") -> np.ndarray:
    g = ev.groups.filter(pl.col("factor") == name).sort("group", "date")
    n_g = g["group"].n_unique()
    return g[col].cast(pl.Float64).fill_null(np.nan).to_numpy().reshape(n_g, -1)


# --- hand-checkable -------------------------------------------------------------------------


@pytest.mark.parametrize("lag", [0, 1])
def test_ic_is_plus_and_minus_one_by_construction(lag: int) -> None:
    rng = np.random.default_rng(3)
    t, m, h = 61, 40, 5
    ret = rng.normal(0, 0.02, (t, m))
    perfect = np.full((t, m), np.nan)
    for i in range(0, t - h - lag, h):
        perfect[i] = forward(ret, i, h, lag)
    dates = weekdays(t)
    ev = evaluate({"up": perfect, "down": -perfect}, ret, dates, groups=5, rebalance=h, lag=lag)
    up = ev.ic.filter(pl.col("factor") == "up")
    down = ev.ic.filter(pl.col("factor") == "down")
    assert up.height == len(range(0, t - h - lag, h))
    np.testing.assert_allclose(up["rank_ic"].to_numpy(), 1.0, atol=1e-12)
    np.testing.assert_allclose(up["ic"].to_numpy(), 1.0, atol=1e-12)
    np.testing.assert_allclose(down["rank_ic"].to_numpy(), -1.0, atol=1e-12)
    np.testing.assert_allclose(down["ic"].to_numpy(), -1.0, atol=1e-12)
    s = ev.summary.sort("factor")
    assert s["direction"].to_list() == [-1, 1]  # auto: sign of the mean Rank IC
    assert s["rank_ic_win_rate"].to_list() == [1.0, 1.0]
    assert s["win_rate_vs_benchmark"].to_list() == [1.0, 1.0]
    assert s["monotonicity"].to_list() == [-1.0, 1.0]
    # long = best returns in both: the long-short NAV only rises at period ends
    for name in ("up", "down"):
        ls = series(ev, name, "long_short")
        ends = ev.periods["end"].to_numpy()
        days = ev.nav.filter(pl.col("factor") == name, pl.col("series") == "long")["date"]
        pos = np.searchsorted(days.to_numpy(), ends)
        assert (np.diff(np.r_[1.0, ls[pos]]) > 0).all()
    assert ev.ic.schema == IC_SCHEMA
    assert ev.groups.schema == GROUPS_SCHEMA
    assert ev.nav.schema == NAV_SCHEMA
    assert ev.summary.schema == SUMMARY_SCHEMA
    assert ev.yearly.schema == YEARLY_SCHEMA


def test_max_drawdown_of_a_constructed_nav() -> None:
    nav = np.array([1.0, 1.2, 0.9, np.nan, 1.1, 0.6, 0.8, 1.3])
    assert nb.max_drawdown(nav) == pytest.approx(0.6 / 1.2 - 1)
    assert nb.max_drawdown(np.array([1.0, 1.1, 1.2])) == 0.0
    assert math.isnan(nb.max_drawdown(np.array([np.nan])))


def test_drawdown_and_per_year_split_through_the_engine() -> None:
    # Two assets, G = 2, the factor always ranks asset 1 on top: the long group is asset 1.
    dates = weekdays(13, "2023-12-19")  # 2023-12-19 .. 2024-01-04; day 9 = 2024-01-01
    ret = np.zeros((13, 2))
    ret[1:, 1] = [0.1, 0.1, -0.5, 0.2, 0.0, 0.1, -0.2, 0.3, 0.0, -0.1, 0.1, 0.05]
    ret[1:, 0] = 0.01
    f = np.tile([0.0, 1.0], (13, 1))
    ev = evaluate({"f": f}, ret, dates, groups=2, rebalance=3, lag=0, direction=1)
    per = ev.periods
    # signal days 0, 3, 6, 9 (day 12 has no next rebalance)
    assert per["date"].dt.year().to_list() == [2023, 2023, 2023, 2024]
    long = series(ev, "f", "long")
    expected = np.cumprod(np.r_[1.0, 1.0 + ret[1:, 1]])
    np.testing.assert_allclose(long, expected, rtol=1e-13)
    dd = expected / np.maximum.accumulate(expected) - 1
    assert ev.summary["long_max_drawdown"].item() == pytest.approx(dd.min())
    assert dd.min() == pytest.approx(-0.5)  # 1.21 -> 0.605 on day 3 is the worst fall
    y = ev.yearly.sort("year")
    assert y["year"].to_list() == [2023, 2024]
    assert y["n_periods"].to_list() == [3, 1]
    # 2023 = periods starting on days 0, 3, 6 -> days 1..9; 2024 = days 10..12
    assert y["return"][0] == pytest.approx(expected[9] - 1)
    assert y["return"][1] == pytest.approx(expected[12] / expected[9] - 1)
    # the benchmark buys and holds both assets equally weighted in each period
    b_per = ev.periods["benchmark"].to_numpy()
    for k, (a, b) in enumerate([(0, 3), (3, 6), (6, 9), (9, 12)]):
        g = np.prod(1 + ret[a + 1 : b + 1], axis=0)
        assert b_per[k] == pytest.approx(g.mean() - 1)
    seg = expected[9:13] / expected[9]
    assert y["max_drawdown"][1] == pytest.approx((seg / np.maximum.accumulate(seg) - 1).min())
    seg = expected[:10]
    assert y["max_drawdown"][0] == pytest.approx((seg / np.maximum.accumulate(seg) - 1).min())


def test_limit_up_is_skipped_and_limit_down_is_carried() -> None:
    t, m = 11, 4
    dates = weekdays(t)
    rng = np.random.default_rng(0)
    ret = rng.normal(0.0, 0.02, (t, m))
    f = np.full((t, m), np.nan)
    f[0] = [1, 2, 3, 4]  # period 0 (day 0 -> 5): top group {2, 3}
    f[5] = [4, 3, 2, 1]  # period 1 (day 5 -> 10): top group {0, 1}
    ones = np.ones((t, m), dtype=bool)
    can_buy = ones.copy()
    can_sell = ones.copy()
    can_buy[0, 3] = False  # asset 3 at limit-up on day 0: not bought
    rules = TradingRules(universe=ones, can_buy=can_buy, can_sell=can_sell, benchmark=ones)
    ev = evaluate({"f": f}, ret, dates, rules=rules, groups=2, rebalance=5, lag=0, direction=1)
    g = ev.groups.filter(pl.col("group") == 2).sort("date")
    assert g["n"].to_list() == [1, 2]
    g0 = np.prod(1 + ret[1:6], axis=0)
    assert g["ret"][0] == pytest.approx(g0[2] - 1)

    # now asset 3 is bought on day 0 and is at limit-down on day 5: carried into period 1
    can_buy[0, 3] = True
    can_sell[5, 3] = False
    rules = TradingRules(universe=ones, can_buy=can_buy, can_sell=can_sell, benchmark=ones)
    ev = evaluate({"f": f}, ret, dates, rules=rules, groups=2, rebalance=5, lag=0, direction=1)
    g = ev.groups.filter(pl.col("group") == 2).sort("date")
    assert g["n"].to_list() == [2, 3]
    w3 = 0.5 * g0[3] / (0.5 * g0[2] + 0.5 * g0[3])  # drifted weight kept
    g1 = np.prod(1 + ret[6:11], axis=0)
    expected = w3 * g1[3] + (1 - w3) / 2 * (g1[0] + g1[1]) - 1
    assert g["ret"][1] == pytest.approx(expected, rel=1e-12)
    assert g["turnover"].to_list() == [1.0, pytest.approx(2 / 3)]
    # without rules the same factor simply holds the new top group
    ev = evaluate({"f": f}, ret, dates, groups=2, rebalance=5, lag=0, direction=1)
    g = ev.groups.filter(pl.col("group") == 2).sort("date")
    assert g["ret"][1] == pytest.approx((g1[0] + g1[1]) / 2 - 1)


def test_everything_locked_leaves_nothing_to_buy() -> None:
    t, m = 11, 2
    ret = np.full((t, m), 0.01)
    f = np.full((t, m), np.nan)
    f[0] = [0, 1]
    f[5] = [1, 0]
    ones = np.ones((t, m), dtype=bool)
    can_sell = ones.copy()
    can_sell[5, 1] = False
    rules = TradingRules(universe=ones, can_buy=ones, can_sell=can_sell, benchmark=ones)
    ev = evaluate(
        {"f": f}, ret, weekdays(t), rules=rules, groups=2, rebalance=5, lag=0, direction=1
    )
    g = ev.groups.filter(pl.col("group") == 2).sort("date")
    assert g["n"].to_list() == [1, 1]  # asset 1 carried alone; asset 0 not bought
    assert g["ret"][1] == pytest.approx(1.01**5 - 1)


def test_turnover_and_cost_on_a_constructed_case() -> None:
    t, m = 16, 4
    ret = np.zeros((t, m))
    ret[1:] = 0.001
    f = np.full((t, m), np.nan)
    f[0] = [1, 2, 3, 4]  # top {2, 3}
    f[5] = [1, 3, 2, 4]  # top {1, 3}: one of two names replaced
    f[10] = [3, 4, 1, 2]  # top {0, 1}: one of two replaced
    ev = evaluate(
        {"f": f}, ret, weekdays(t), groups=2, rebalance=5, lag=0, direction=1, cost_bps=10
    )
    g = ev.groups.filter(pl.col("group") == 2).sort("date")
    assert g["turnover"].to_list() == [1.0, 0.5, 0.5]
    assert ev.summary["turnover"].item() == 0.5
    gross = 1.001**5 - 1
    # cost per side on (buy share + sell share): 1 + 0, then 0.5 + 0.5 twice
    np.testing.assert_allclose(
        g["ret"].to_numpy(), [gross - 10e-4 * 1, gross - 10e-4 * 1, gross - 10e-4 * 1]
    )
    # the cost lowers the NAV of the whole period; period ends compound the net returns
    long = series(ev, "f", "long")
    np.testing.assert_allclose(long[[5, 10, 15]], np.cumprod(1 + g["ret"].to_numpy()))
    np.testing.assert_allclose(long[1], 1.001 - 10e-4)


def test_daily_nav_agrees_with_period_returns() -> None:
    rng = np.random.default_rng(7)
    t, m = 130, 50
    ret = rng.normal(0.0005, 0.02, (t, m))
    ret[:20, :5] = np.nan  # late listings
    ret[90:, 5:8] = np.nan  # delistings
    f = rng.normal(size=(t, m))
    f[np.isnan(ret)] = np.nan
    ev = evaluate({"f": f}, ret, weekdays(t), groups=5, rebalance=10, lag=1, cost_bps=5)
    per = ev.periods
    nav = ev.nav.filter(pl.col("factor") == "f")
    d0 = nav["date"].min()
    pos = {
        s: nav.filter(pl.col("series") == s).sort("date")["nav"].to_numpy()
        for s in ("long", "short", "long_short", "benchmark", "excess")
    }
    days = nav.filter(pl.col("series") == "long").sort("date")["date"].to_numpy()
    ends = np.searchsorted(days, per["end"].to_numpy())
    d = ev.summary["direction"].item()
    rets = group_matrix(ev, "f")
    long, short = (rets[-1], rets[0]) if d == 1 else (rets[0], rets[-1])
    bench = per["benchmark"].to_numpy()
    np.testing.assert_allclose(pos["long"][ends], np.cumprod(1 + long), rtol=1e-12)
    np.testing.assert_allclose(pos["short"][ends], np.cumprod(1 + short), rtol=1e-12)
    np.testing.assert_allclose(pos["benchmark"][ends], np.cumprod(1 + bench), rtol=1e-12)
    np.testing.assert_allclose(pos["long_short"][ends], np.cumprod(1 + long - short), rtol=1e-12)
    np.testing.assert_allclose(pos["excess"][ends], np.cumprod(1 + long - bench), rtol=1e-12)
    assert days[0] == np.datetime64(d0) and pos["long"][0] == 1.0
    assert per["start"][0] == days[0]  # NAV starts on the first trade day (lag 1)
    s = ev.summary.row(0, named=True)
    n_days = len(days) - 1
    assert s["long_ann_return"] == pytest.approx(pos["long"][-1] ** (242 / n_days) - 1)
    assert s["mean_period_excess"] == pytest.approx(np.mean(long - bench))
    assert s["win_rate_vs_benchmark"] == pytest.approx(np.mean(long > bench))
    ex = long - bench
    assert s["gain_loss_ratio"] == pytest.approx(ex[ex > 0].mean() / -ex[ex < 0].mean())
    # the yearly table compounds the same period returns
    y = ev.yearly
    np.testing.assert_allclose(np.prod(1 + y["return"].to_numpy()), np.prod(1 + long), rtol=1e-12)
    gs = ev.group_summary.sort("group")
    np.testing.assert_allclose(gs["mean_return"].to_numpy(), np.nanmean(rets, axis=1), rtol=1e-12)


def test_rules_none_equals_no_rules() -> None:
    rng = np.random.default_rng(1)
    t, m = 60, 25
    ret = rng.normal(0, 0.02, (t, m))
    ret[:10, :4] = np.nan
    f = rng.normal(size=(t, m))
    a = evaluate({"f": f}, ret, weekdays(t), groups=4, rebalance=7)
    b = evaluate({"f": f}, ret, weekdays(t), groups=4, rebalance=7, rules=no_rules((t, m)))
    for name in ("ic", "groups", "nav", "summary", "yearly", "group_summary", "periods"):
        assert getattr(a, name).equals(getattr(b, name)), name


def test_month_rebalance_calendar() -> None:
    dates = weekdays(65, "2024-01-01")  # 2024-01-01 .. 2024-03-29 (a Friday)
    ends = month_ends(dates)
    assert [str(dates[i]) for i in ends] == ["2024-01-31", "2024-02-29", "2024-03-29"]
    assert len(month_ends(dates[:-1])) == 2  # 2024-03-28: March not complete
    per = make_periods(dates, 0, rebalance="month", lag=1)
    # the February period would end on day ends[2] + 1, past the data: one complete period
    assert per.rebal.tolist() == [ends[0]]
    assert per.start.tolist() == [ends[0] + 1]
    assert per.end.tolist() == [ends[1] + 1]
    per = make_periods(dates, 0, rebalance="month", lag=0)
    assert per.rebal.tolist() == ends[:2].tolist()
    assert per.end.tolist() == ends[1:].tolist()
    assert make_periods(dates, 23, rebalance="month", lag=0).rebal.tolist() == [ends[1]]


def test_multiple_factors_share_the_calendar_and_benchmark() -> None:
    rng = np.random.default_rng(2)
    t, m = 80, 30
    ret = rng.normal(0, 0.02, (t, m))
    f1 = rng.normal(size=(t, m))
    f2 = rng.normal(size=(t, m))
    f2[:15] = np.nan  # starts later: the calendar still starts on day 0 of the data
    f1[:5] = np.nan
    ev = evaluate({"a": f1, "b": f2}, ret, weekdays(t), groups=3, rebalance=10)
    assert ev.summary["factor"].to_list() == ["a", "b"]
    assert ev.periods["date"][0] == weekdays(t)[0]
    a_ic = ev.ic.filter(pl.col("factor") == "a").sort("date")
    b_ic = ev.ic.filter(pl.col("factor") == "b").sort("date")
    assert a_ic["n"].to_list()[:1] == [0] and b_ic["n"].to_list()[:2] == [0, 0]
    assert b_ic["rank_ic"][:2].null_count() == 2 and b_ic["rank_ic"][2:].null_count() == 0
    s = ev.summary
    assert s["n_periods"].to_list() == [ev.periods.height - 1, ev.periods.height - 2]
    # the benchmark NAV of each factor starts at its own first trade day; same daily moves
    bench = ev.nav.filter(pl.col("series") == "benchmark")
    a_b = bench.filter(pl.col("factor") == "a")
    b_b = bench.filter(pl.col("factor") == "b")
    assert b_b["date"][0] == ev.periods["start"][2] and a_b["date"][0] == ev.periods["start"][1]
    assert b_b["nav"][0] == 1.0
    common = a_b.join(b_b, on="date", suffix="_b")
    ratio = (common["nav"] / common["nav_b"]).to_numpy()
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-13)
    for name, f in (("a", f1), ("b", f2)):
        single = evaluate({name: f}, ret, weekdays(t), groups=3, rebalance=10)
        for table in ("ic", "groups", "nav", "summary", "yearly", "group_summary"):
            assert_frame_equal(
                getattr(single, table), getattr(ev, table).filter(pl.col("factor") == name)
            )
        assert_frame_equal(single.periods, ev.periods)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"groups": 1}, "groups"),
        ({"rebalance": 0}, "rebalance"),
        ({"rebalance": 5, "lag": 5}, "lag"),
        ({"lag": -1}, "lag"),
        ({"cost_bps": -1.0}, "cost_bps"),
        ({"direction": 2}, "direction"),
        ({"direction": {"zzz": 1}}, "unknown factors"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    ret = np.zeros((30, 4))
    with pytest.raises(EtfflowError, match=match):
        evaluate({"f": np.ones((30, 4))}, ret, weekdays(30), **kwargs)


def test_bad_inputs() -> None:
    ret = np.zeros((30, 4))
    with pytest.raises(EtfflowError, match="shape"):
        evaluate({"f": np.ones((30, 3))}, ret, weekdays(30))
    with pytest.raises(EtfflowError, match="dates"):
        evaluate({"f": np.ones((30, 4))}, ret, weekdays(29))
    with pytest.raises(EtfflowError, match="no complete holding period"):
        evaluate({"f": np.ones((30, 4))}, ret, weekdays(30), rebalance=40)


def test_qcut_fractions_and_fallback_labels() -> None:
    q = qcut_fractions(10)
    assert q[0] == 0.0 and q[-1] == 1.0 and (np.diff(q) > 0).all()
    assert q[3] == np.nextafter(np.linspace(0, 1, 11)[3], 1)
    # a tie block wider than 1/G: pandas would raise; labels follow the average rank
    xs = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0])
    ranks, _ = nb._average_ranks(xs)
    lab = np.empty(10, dtype=np.int64)
    assert not nb.qcut_labels(xs, ranks, qcut_fractions(5), lab)
    # avg rank of the zeros is 3.5 -> ceil(2.5 * 5 / 9) - 1 = 1
    assert lab.tolist() == [1, 1, 1, 1, 1, 1, 3, 3, 4, 4]


# --- reference twin -------------------------------------------------------------------------


@st.composite
def panels(draw, n_factors: int = 2):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    t = draw(st.integers(8, 45))
    m = draw(st.integers(1, 12))
    ret = rng.uniform(-0.1, 0.1, (t, m))
    for i in range(m):  # listings and delistings: leading / trailing NaN
        if rng.random() < 0.3:
            ret[: rng.integers(0, t), i] = np.nan
        if rng.random() < 0.3:
            ret[rng.integers(0, t) :, i] = np.nan
    n_f = draw(st.integers(1, n_factors))
    factors = {}
    for j in range(n_f):
        if draw(st.booleans()):
            f = rng.integers(0, 4, (t, m)).astype(float)  # heavy ties
        else:
            f = rng.normal(size=(t, m))
        f[rng.random((t, m)) < 0.2] = np.nan
        f[np.isnan(ret)] = np.where(rng.random() < 0.5, np.nan, 1.0)
        kind = draw(st.integers(0, 9))
        if kind == 0:  # no value at all (a window longer than the data)
            f[:] = np.nan
        elif kind <= 3:  # starts late: first valid date anywhere in the data
            f[: draw(st.integers(0, t))] = np.nan
        else:
            f[: draw(st.integers(0, 3))] = np.nan
        if draw(st.booleans()):  # a hole of missing days in the middle
            a = draw(st.integers(0, t - 1))
            f[a : a + draw(st.integers(1, 12))] = np.nan
        factors[f"f{j}"] = f
    use_rules = draw(st.booleans())
    rules = None
    if use_rules:
        masks = [rng.random((t, m)) < p for p in (0.8, 0.7, 0.7, 0.8)]
        rules = TradingRules(*masks)
    groups = draw(st.integers(2, 5))
    if draw(st.integers(0, 4)) == 0:
        rebalance: int | str = "month"
        lag = draw(st.integers(0, 2))
    else:
        rebalance = draw(st.integers(1, 6))
        lag = draw(st.integers(0, rebalance - 1))
    direction = draw(st.sampled_from(["auto", "rolling", 1, -1]))
    cost = draw(st.sampled_from([0.0, 10.0]))
    # an index benchmark (a return every day; the first day's is never read) or equal weight
    index = rng.normal(0.0, 0.01, t) if draw(st.integers(0, 3)) == 0 else None
    start = "2024-01-22" if rebalance == "month" else "2024-01-01"
    t_dates = weekdays(t, start) if rebalance != "month" else weekdays(max(t, 8), start)[:t]
    return {
        "factors": factors,
        "returns": ret,
        "dates": t_dates,
        "rules": rules,
        "groups": groups,
        "rebalance": rebalance,
        "lag": lag,
        "direction": direction,
        "cost_bps": cost,
        "benchmark": index,
    }


def _nan_close(a, b, atol=1e-11):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=atol, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(panels())
def test_engine_matches_loop_reference(p: dict) -> None:
    ref = evaluate_reference(**p)
    if not ref.rebal:
        with pytest.raises(EtfflowError):
            evaluate(**p)
        return
    try:
        ev = evaluate(**p, members=True)
    except EtfflowError as e:  # month rebalance with lag >= gap: both refuse
        assert "lag" in str(e)
        return
    d = p["dates"]
    per = ev.periods
    assert per["date"].to_numpy().tolist() == d[ref.rebal].tolist()
    assert per["end"].to_numpy().tolist() == d[ref.end].tolist()
    _nan_close(per["benchmark"].to_numpy(), ref.benchmark_ret)
    for name in p["factors"]:
        ic = ev.ic.filter(pl.col("factor") == name).sort("date")
        _nan_close(ic["ic"].to_numpy(), ref.ic[name])
        _nan_close(ic["rank_ic"].to_numpy(), ref.rank_ic[name])
        assert ic["n"].to_list() == ref.n[name].tolist()
        s = ev.summary.filter(pl.col("factor") == name).row(0, named=True)
        act = ref.active[name]
        if any(act) or p["direction"] not in ("auto", "rolling"):
            assert s["direction"] == ref.direction[name]
        else:
            assert s["direction"] is None
        # each period's direction (null without a cross-section)
        want = [int(x) if a else None for x, a in zip(ref.directions[name], act, strict=True)]
        assert ic["direction"].to_list() == want
        # the long and short groups' assets (asset names default to column numbers)
        k_of = {dd: k for k, dd in enumerate(d[ref.rebal].tolist())}
        mem = ev.members.filter(pl.col("factor") == name)
        got_members = {
            (k_of[r["date"]], r["leg"], r["group"], int(r["asset"]))
            for r in mem.iter_rows(named=True)
        }
        assert got_members == ref.members[name]
        for key, value in ref.metrics[name].items():
            _nan_close(np.nan if s[key] is None else s[key], value)
        assert (s["note"] is None) == all(act)
        _nan_close(group_matrix(ev, name), ref.group_ret[name])
        assert group_matrix(ev, name, "n").astype(int).tolist() == ref.group_n[name].tolist()
        _nan_close(group_matrix(ev, name, "turnover"), ref.turnover[name])
        ka = np.flatnonzero(act)
        for kind, nav in ref.nav[name].items():
            if len(ka) == 0:
                assert len(series(ev, name, kind)) == 0
                continue
            first, last = ref.start[ka[0]], ref.end[ka[-1]]
            _nan_close(series(ev, name, kind), nav[first : last + 1])


@st.composite
def pit_cases(draw):
    p = draw(panels())
    p["direction"] = draw(st.sampled_from([1, -1]))
    return p, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=30, deadline=None)
@given(pit_cases())
def test_point_in_time_later_factor_values_do_not_change_a_period(case) -> None:
    p, seed = case
    try:
        ev = evaluate(**p)
    except EtfflowError:
        return
    rng = np.random.default_rng(seed)
    rebal = ev.periods["date"].to_numpy()
    dates = p["dates"]
    k = int(rng.integers(0, len(rebal)))
    t_k = int(np.searchsorted(dates, rebal[k]))
    changed = {}
    for name, f in p["factors"].items():
        g = f.copy()
        later = g[t_k + 1 :]
        noise = rng.normal(size=later.shape) * 10
        later[:] = np.where(rng.random(later.shape) < 0.2, np.nan, noise)
        changed[name] = g
    ev2 = evaluate(**{**p, "factors": changed})
    upto = pl.col("date") <= rebal[k]
    for frame in ("ic", "groups"):
        a = getattr(ev, frame).filter(upto)
        b = getattr(ev2, frame).filter(upto)
        assert a.equals(b), frame
    # NAV values before the exit of period k (the exit day is also the next period's trade
    # day; null rows of a gap exist only up to a later period with values: extent, not value)
    held = pl.col("date") < ev.periods["end"][k]
    assert_frame_equal(ev.nav.filter(held).drop_nulls(), ev2.nav.filter(held).drop_nulls())
    # years whose signal days all precede it
    before = pl.col("year") < int(str(rebal[k])[:4])
    assert_frame_equal(ev.yearly.filter(before), ev2.yearly.filter(before))


# --- a factor's rows depend on nothing but the factor ------------------------------------


@st.composite
def factor_sets(draw):
    p = draw(panels(n_factors=4))
    names = list(p["factors"])
    subset = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    order = draw(st.permutations(subset))
    return p, order


@settings(max_examples=40, deadline=None)
@given(factor_sets())
def test_factor_rows_do_not_depend_on_the_other_factors(case) -> None:
    p, order = case
    try:
        full = evaluate(**{**p, "factors": {n: p["factors"][n] for n in order}})
    except EtfflowError as e:  # too short for one period, or lag >= a month gap
        assert "holding period" in str(e) or "lag" in str(e)
        return
    assert full.summary["factor"].to_list() == order
    for name in order:
        alone = evaluate(**{**p, "factors": {name: p["factors"][name]}})
        for table in ("ic", "groups", "nav", "summary", "yearly", "group_summary"):
            assert_frame_equal(
                getattr(alone, table), getattr(full, table).filter(pl.col("factor") == name)
            )
        assert_frame_equal(alone.periods, full.periods)


def test_factor_without_values_gives_nulls_and_a_note() -> None:
    rng = np.random.default_rng(4)
    t, m = 60, 20
    ret = rng.normal(0.001, 0.02, (t, m))
    good = rng.normal(size=(t, m))
    empty = np.full((t, m), np.nan)
    ev = evaluate({"good": good, "empty": empty}, ret, weekdays(t), groups=4, rebalance=10)
    s = ev.summary.filter(pl.col("factor") == "empty").row(0, named=True)
    assert s["n_periods"] == 0 and s["note"] == NO_VALUES and s["direction"] is None
    config = {"factor", "n_periods", "note", "direction", "benchmark", "groups", "rebalance"}
    config |= {"lag", "cost_bps"}
    assert all(v is None for k, v in s.items() if k not in config), s
    assert ev.summary.filter(pl.col("factor") == "good")["note"].item() is None
    ic = ev.ic.filter(pl.col("factor") == "empty")
    assert ic.height == ev.periods.height and (ic["n"] == 0).all()
    assert ic["ic"].null_count() == ic.height and ic["rank_ic"].null_count() == ic.height
    g = ev.groups.filter(pl.col("factor") == "empty")
    assert (g["n"] == 0).all() and g["ret"].null_count() == g.height
    assert ev.nav.filter(pl.col("factor") == "empty").height == 0
    y = ev.yearly.filter(pl.col("factor") == "empty")
    assert y.height >= 1 and (y["n_periods"] == 0).all()
    assert y.drop("factor", "year", "n_periods").null_count().sum_horizontal().item() == (
        y.height * (y.width - 3)
    )
    gs = ev.group_summary.filter(pl.col("factor") == "empty")
    assert (gs["n_periods"] == 0).all() and gs["ann_return"].null_count() == gs.height
    # a fixed direction is kept (it is an input, not a result)
    ev = evaluate({"empty": empty}, ret, weekdays(t), groups=4, rebalance=10, direction=-1)
    assert ev.summary["direction"].item() == -1 and ev.summary["rank_ic"].item() is None


def test_period_without_values_in_the_middle_is_left_out() -> None:
    # 4 assets, G = 2, long = assets {2, 3}; the factor is missing on signal day 10
    t, m = 41, 4
    rng = np.random.default_rng(5)
    ret = rng.normal(0.002, 0.02, (t, m))
    f = np.tile([1.0, 2.0, 3.0, 4.0], (t, 1))
    f[10] = np.nan
    f[:5] = np.nan  # and on signal day 0
    dates = weekdays(t)
    ev = evaluate({"f": f}, ret, dates, groups=2, rebalance=10, lag=0, direction=1)
    # periods: days 0-10, 10-20, 20-30, 30-40; periods 0 and 1 have no value on their signal day
    assert ev.ic["n"].to_list() == [0, 0, 4, 4]
    s = ev.summary.row(0, named=True)
    assert s["n_periods"] == 2
    assert s["note"] == f"first cross-section on {dates[20]}; 2 of 4 periods without values"
    f[10] = [1.0, 2.0, 3.0, 4.0]
    f[20] = np.nan  # now the gap is in the middle: periods 1 and 3 have values
    ev = evaluate({"f": f}, ret, dates, groups=2, rebalance=10, lag=0, direction=1)
    assert ev.ic["n"].to_list() == [0, 4, 0, 4]
    long = ev.nav.filter(pl.col("series") == "long")
    assert long["date"][0] == dates[10] and long["date"][-1] == dates[40]
    nav = long["nav"].to_numpy()  # days 10..40
    p1 = np.cumprod(1 + ret[11:21, 2:], axis=0).mean(axis=1)  # 50/50 buy and hold from day 10
    np.testing.assert_allclose(nav[1:11], p1, rtol=1e-13)
    assert np.isnan(nav[11:20]).all()  # days 21..29: the period without values
    assert nav[20] == pytest.approx(p1[-1])  # day 30 trades at the carried level
    g3 = np.cumprod(1 + ret[31:41, 2:], axis=0).mean(axis=1)
    np.testing.assert_allclose(nav[21:], p1[-1] * g3, rtol=1e-13)
    s = ev.summary.row(0, named=True)
    assert s["n_periods"] == 2
    assert s["long_ann_return"] == pytest.approx((p1[-1] * g3[-1]) ** (242 / 20) - 1)
    g = ev.groups.filter(pl.col("group") == 2).sort("date")
    assert g["n"].to_list() == [0, 2, 0, 2]
    assert g["ret"].is_null().to_list() == [True, False, True, False]
    assert g["turnover"].to_list() == [None, 1.0, None, 1.0]  # rebuilt after the gap
    ex = ev.nav.filter(pl.col("series") == "excess")["nav"].to_numpy()
    assert np.isnan(ex[11:20]).all() and np.isfinite(ex[20:]).all()
    bench = ev.nav.filter(pl.col("series") == "benchmark")["nav"].to_numpy()
    b3 = np.cumprod(1 + ret[31:41], axis=0).mean(axis=1)
    b1 = np.cumprod(1 + ret[11:21], axis=0).mean(axis=1)
    np.testing.assert_allclose(bench[21:], b1[-1] * b3, rtol=1e-13)


def test_yearly_excess_and_win_rate_conventions() -> None:
    # Huaan 2024-12 table 59: 超额收益率 = 收益率 - 等权 (arithmetic); 调仓胜率 = long > 0
    t, m = 31, 2
    dates = weekdays(t)
    ret = np.zeros((t, m))
    # long = asset 1; per period (10 days, lag 0): long +10%, -5%, +2%; bench = mean
    ret[10, 1], ret[20, 1], ret[30, 1] = 0.10, -0.05, 0.02
    ret[10, 0], ret[20, 0], ret[30, 0] = 0.00, -0.15, 0.04
    f = np.tile([0.0, 1.0], (t, 1))
    ev = evaluate({"f": f}, ret, dates, groups=2, rebalance=10, lag=0, direction=1)
    y = ev.yearly.row(0, named=True)
    long = np.array([0.10, -0.05, 0.02])
    bench = np.array([0.05, -0.10, 0.03])
    assert y["return"] == pytest.approx(np.prod(1 + long) - 1)
    assert y["benchmark_return"] == pytest.approx(np.prod(1 + bench) - 1)
    assert y["excess_arithmetic"] == pytest.approx(np.prod(1 + long) - np.prod(1 + bench))
    assert y["excess_compounded"] == pytest.approx(np.prod(1 + long - bench) - 1)
    assert y["excess_compounded"] != pytest.approx(y["excess_arithmetic"])
    assert y["win_rate_vs_benchmark"] == pytest.approx(2 / 3)  # +5%, +5%, -1%
    assert y["win_rate_absolute"] == pytest.approx(2 / 3)  # +10%, -5%, +2%
    s = ev.summary.row(0, named=True)
    assert s["win_rate_vs_benchmark"] == y["win_rate_vs_benchmark"]
    assert s["win_rate_absolute"] == y["win_rate_absolute"]
    # one definition for the whole sample and the year: here they cover the same periods
    assert s["information_ratio"] == y["information_ratio"]
    assert s["long_max_drawdown"] == y["max_drawdown"]
    assert s["long_excess_ann"] == pytest.approx((1 + y["excess_compounded"]) ** (242 / 30) - 1)


def _flip_market(t: int = 400, m: int = 40, flip: int = 100, seed: int = 3):
    """A factor that predicts the next 5 days' return before day ``flip`` and predicts it
    with the opposite sign after."""
    rng = np.random.default_rng(seed)
    ret = rng.normal(0, 0.01, (t, m))
    fwd = np.full((t, m), np.nan)
    for d in range(t - 5):
        fwd[d] = np.prod(1 + ret[d + 1 : d + 6], axis=0) - 1
    f = np.where(np.arange(t)[:, None] < flip, fwd, -fwd) + rng.normal(0, 0.002, (t, m))
    return {"f": f}, ret, weekdays(t)


def test_rolling_direction_follows_the_sign_of_past_ics_only() -> None:
    factors, ret, dates = _flip_market()
    ev = evaluate(factors, ret, dates, groups=5, rebalance=5, lag=0, direction="rolling")
    ic = ev.ic.sort("date")
    d = ic["direction"].to_numpy()
    ric = ic["rank_ic"].to_numpy()
    # period k uses the periods that ended by its signal day: k-1 and before (lag 0)
    assert d[0] == 1  # nothing known yet
    for k in range(1, len(d)):
        past = ric[:k][np.isfinite(ric[:k])]
        assert d[k] == (-1 if past.mean() < 0 else 1)
    # the sign flips after the factor does (day 100 = period 20), never before
    assert d[-1] == -1
    assert int(np.argmax(d == -1)) > 20
    # auto uses the whole sample's mean (in sample): one direction everywhere
    auto = evaluate(factors, ret, dates, groups=5, rebalance=5, lag=0, direction="auto")
    assert auto.ic["direction"].n_unique() == 1


@pytest.mark.parametrize("lag", [0, 2])
def test_rolling_direction_is_point_in_time(lag: int) -> None:
    """Perturbing every return and factor value after day D leaves the direction of every
    period signalled by D unchanged (under ``auto`` it does not: it is in sample)."""
    factors, ret, dates = _flip_market()
    cut = 120
    rng = np.random.default_rng(9)
    ret2 = ret.copy()
    ret2[cut + 1 :] = rng.normal(0, 0.03, ret2[cut + 1 :].shape)
    f2 = {"f": factors["f"].copy()}
    f2["f"][cut + 1 :] = -f2["f"][cut + 1 :]
    kw = {"groups": 5, "rebalance": 5, "lag": lag}
    for rule, same in (("rolling", True), ("auto", False)):
        a = evaluate(factors, ret, dates, direction=rule, **kw).ic.sort("date")
        b = evaluate(f2, ret2, dates, direction=rule, **kw).ic.sort("date")
        known = pl.Series(a["date"].to_numpy() <= dates[cut])
        equal = a.filter(known)["direction"].to_list() == b.filter(known)["direction"].to_list()
        assert equal == same, rule


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([0.0, -0.0, 1.0, 2.0, np.inf, -np.inf, np.nan]),
            st.floats(-1e6, 1e6),
        ),
        max_size=120,
    )
)
def test_average_ranks_sort_order_is_numpys_stable_argsort(values: list[float]) -> None:
    # the written-out merge sort (numba's own sorts cost ~1 s of a first run's compiling)
    # against its plain reference: np.argsort(kind="stable") (ties in index order, NaN last)
    # and the average rank of each tie block
    x = np.array(values, dtype=np.float64)
    ranks, order = nb._average_ranks(x)
    np.testing.assert_array_equal(order, np.argsort(x, kind="stable"))
    ref = np.empty(x.shape[0])
    xs = x[order]
    j = 0
    while j < x.shape[0]:
        k = j
        while k + 1 < x.shape[0] and xs[k + 1] == xs[j]:
            k += 1
        ref[order[j : k + 1]] = (j + k) / 2.0 + 1.0
        j = k + 1
    np.testing.assert_array_equal(ranks, ref)

"""Rebalanced industry portfolios: NAV (buy and hold between effective days), the equal-weight
benchmark and the holding-period returns, against hand-computed cases and the per-day
reference twins of :mod:`etfflow.backtest.rotation.portfolio_ref`."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etfflow.backtest.rotation.portfolio import (
    equal_weight_targets,
    period_returns,
    simulate_nav,
)
from etfflow.backtest.rotation.portfolio_ref import (
    equal_weight_targets_ref,
    period_returns_ref,
    simulate_nav_ref,
)
from etfflow.exceptions import EtfflowError
from tests.helpers import examples

nan = math.nan


# ---------------------------------------------------------------------------- by hand


def test_weights_drift_between_rebalances():
    # half and half at the close of day 0: holdings 0.5, 0.5 -> day 1: 0.6, 0.4 (NAV 1.0)
    # -> day 2: 0.6 * 1.5 = 0.9 and 0.4 (NAV 1.3); daily rebalancing would give 1.25
    ret = np.array([[0.0, 0.0], [0.2, -0.2], [0.5, 0.0]])
    nav = simulate_nav(ret, [0], np.array([[0.5, 0.5]]), trade_lag=0)
    np.testing.assert_allclose(nav, [1.0, 1.0, 1.3])


def test_rebalance_resets_the_weights_on_the_effective_day_close():
    # decisions on days 0 and 2, traded a day later (days 1 and 3). Day 3's return is earned
    # by the old holdings (0.6, 0.4 after day 2), then the NAV is split in halves again.
    ret = np.array([[9.0, 9.0], [9.0, 9.0], [0.2, -0.2], [0.5, 0.0], [0.1, 0.3]])
    w = np.array([[0.5, 0.5], [0.5, 0.5]])
    nav = simulate_nav(ret, [0, 2], w, trade_lag=1)
    day3 = 0.6 * 1.5 + 0.4  # 1.3
    day4 = day3 * (0.5 * 1.1 + 0.5 * 1.3)
    np.testing.assert_allclose(nav, [nan, 1.0, 1.0, day3, day4])


@pytest.mark.parametrize("lag", [0, 1, 2])
def test_nav_is_nan_before_and_one_on_the_first_effective_day(lag):
    ret = np.full((6, 2), 0.01)
    nav = simulate_nav(ret, [1, 3], np.array([[1.0, 0.0], [0.0, 1.0]]), trade_lag=lag)
    e = 1 + lag
    assert np.isnan(nav[:e]).all()
    assert nav[e] == 1.0
    np.testing.assert_allclose(nav[e:], 1.01 ** np.arange(6 - e))


def test_nan_return_counts_as_zero():
    ret = np.array([[0.0, 0.0], [nan, 0.1], [0.1, nan], [nan, nan]])
    nav = simulate_nav(ret, [0], np.array([[0.5, 0.5]]), trade_lag=0)
    np.testing.assert_allclose(nav, [1.0, 1.05, 1.1, 1.1])


def test_zero_row_is_cash_and_the_remainder_of_a_partial_row_too():
    ret = np.array([[0.0, 0.0], [0.1, 0.2], [0.1, 0.2], [0.1, 0.2]])
    w = np.array([[0.0, 0.0], [0.25, 0.0]])
    nav = simulate_nav(ret, [0, 1], w, trade_lag=0)
    # day 1 in cash; from day 1's close 25% in industry 0, 75% cash
    np.testing.assert_allclose(nav, [1.0, 1.0, 0.75 + 0.25 * 1.1, 0.75 + 0.25 * 1.21])


def test_dollar_neutral_long_short_weights():
    # +1 in industry 0, -1 in industry 1, the NAV itself as collateral (cash 1)
    ret = np.array([[0.0, 0.0], [0.1, 0.05], [0.0, 0.1]])
    nav = simulate_nav(ret, [0], np.array([[1.0, -1.0]]), trade_lag=0)
    np.testing.assert_allclose(nav, [1.0, 1.05, 1.05 - 1.05 * 0.1])


def test_single_industry_fully_invested_is_its_cumulative_return():
    rng = np.random.default_rng(3)
    ret = rng.normal(0, 0.02, (50, 3))
    pos = [2, 9, 10, 30]
    w = np.tile([0.0, 1.0, 0.0], (4, 1))
    nav = simulate_nav(ret, pos, w, trade_lag=1)
    np.testing.assert_allclose(nav[3:], np.cumprod(np.r_[1.0, 1.0 + ret[4:, 1]]), rtol=1e-12)


def test_decisions_trading_after_the_data_are_ignored():
    ret = np.full((4, 1), 0.1)
    w = np.array([[1.0], [0.0]])
    nav = simulate_nav(ret, [1, 3], w, trade_lag=1)  # the second would trade on day 4
    np.testing.assert_allclose(nav, [nan, nan, 1.0, 1.1])
    assert np.isnan(simulate_nav(ret, [3], np.array([[1.0]]), trade_lag=1)).all()
    assert np.isnan(simulate_nav(ret, [], np.zeros((0, 1)))).all()
    assert simulate_nav(np.zeros((0, 2)), [], np.zeros((0, 2))).shape == (0,)


@pytest.mark.parametrize(
    ("pos", "match"),
    [
        ([3, 1], r"strictly increasing: rebalance_pos\[1\] = 1 is before rebalance_pos\[0\] = 3"),
        ([1, 1], r"rebalance_pos\[1\] = 1 repeats rebalance_pos\[0\] = 1"),
        ([0, 5], r"rebalance_pos\[1\] = 5 lies outside the 5 trading days \(positions 0..4\)"),
        ([-1, 2], r"rebalance_pos\[0\] = -1 lies outside"),
    ],
)
def test_bad_schedules_are_refused(pos, match):
    ret = np.zeros((5, 2))
    w = np.full((len(pos), 2), 0.5)
    for call in (
        lambda: simulate_nav(ret, pos, w),
        lambda: equal_weight_targets(ret, pos),
        lambda: period_returns(ret, pos, w),
    ):
        with pytest.raises(EtfflowError, match=match):
            call()


def test_bad_arguments_are_refused():
    ret = np.zeros((5, 2))
    w = np.full((1, 2), 0.5)
    with pytest.raises(EtfflowError, match="integer day positions, got dtype float64"):
        simulate_nav(ret, np.array([1.0]), w)
    with pytest.raises(EtfflowError, match="trade_lag must be an integer >= 0, got -1"):
        simulate_nav(ret, [1], w, trade_lag=-1)
    with pytest.raises(EtfflowError, match=r"weights must have shape .* = \(1, 2\), got \(1, 3\)"):
        simulate_nav(ret, [1], np.full((1, 3), 0.5))
    with pytest.raises(EtfflowError, match="rebalance 0, industry column 1: nan"):
        simulate_nav(ret, [1], np.array([[0.5, nan]]))
    bad = ret.copy()
    bad[3, 1] = np.inf
    with pytest.raises(EtfflowError, match="day 3, industry column 1: inf"):
        simulate_nav(bad, [1], w)
    with pytest.raises(EtfflowError, match=r"\(days, industries\) array"):
        simulate_nav(np.zeros(5), [1], w)


def test_equal_weight_targets_by_hand():
    ret = np.array(
        [
            [0.01, nan, 0.02],
            [0.0, 0.01, nan],
            [nan, nan, nan],
            [0.0, 0.0, 0.0],
        ]
    )
    got = equal_weight_targets(ret, [0, 1, 2, 3], trade_lag=1)
    want = [[0.5, 0.5, 0.0], [0.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.0, 0.0]]
    np.testing.assert_allclose(got, want)
    # a benchmark that is all cash on a day without any industry return keeps its NAV
    nav = simulate_nav(ret, [0, 1, 2], got[:3], trade_lag=1)
    np.testing.assert_allclose(nav, [nan, 1.0, 1.0, 1.0])


def test_period_returns_by_hand_and_consistent_with_the_nav():
    ret = np.array(
        [
            [0.0, 0.0, 0.0],
            [0.1, -0.1, 0.0],
            [0.1, nan, 0.5],
            [0.0, 0.2, 0.1],
            [-0.5, 0.0, 0.0],
        ]
    )
    w = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    hp = period_returns(ret, [0, 1, 4], w, trade_lag=1)
    assert hp.decision.tolist() == [0, 1]  # the decision of day 4 would trade after the data
    assert hp.start.tolist() == [1, 2]
    assert hp.end.tolist() == [2, 4]
    np.testing.assert_allclose(hp.industry, [[0.1, 0.0, 0.5], [-0.5, 0.2, 0.1]])
    np.testing.assert_allclose(hp.portfolio, [0.05, 0.15])
    nav = simulate_nav(ret, [0, 1, 4], w, trade_lag=1)
    np.testing.assert_allclose(hp.portfolio, nav[hp.end] / nav[hp.start] - 1.0)


def test_period_returns_last_period_without_a_day_is_nan():
    ret = np.full((4, 2), 0.01)
    w = np.full((2, 2), 0.5)
    hp = period_returns(ret, [1, 2], w, trade_lag=1)  # the second trades on the last day
    assert hp.start.tolist() == [2, 3] and hp.end.tolist() == [3, 3]
    assert np.isnan(hp.industry[1]).all() and np.isnan(hp.portfolio[1])
    np.testing.assert_allclose(hp.industry[0], [0.01, 0.01])
    empty = period_returns(ret, [3], np.full((1, 2), 0.5), trade_lag=1)
    assert empty.industry.shape == (0, 2) and empty.portfolio.shape == (0,)


def test_excess_of_a_held_industry_over_the_benchmark_period():
    ret = np.array([[0.0, 0.0, 0.0], [0.03, 0.01, -0.01], [0.01, 0.01, 0.01]])
    pos = [0]
    w = np.array([[1.0, 0.0, 0.0]])
    bench = period_returns(ret, pos, equal_weight_targets(ret, pos, 0), trade_lag=0)
    held = period_returns(ret, pos, w, trade_lag=0)
    g = np.array([1.03 * 1.01, 1.01 * 1.01, 0.99 * 1.01])
    np.testing.assert_allclose(bench.portfolio, [g.mean() - 1.0])
    np.testing.assert_allclose(held.industry[0, 0] - bench.portfolio[0], g[0] - g.mean())


# ------------------------------------------------------------- fast vs reference twins

returns = st.one_of(
    st.just(nan), st.floats(-0.5, 0.5, allow_nan=False, allow_infinity=False, width=32)
)


@st.composite
def portfolios(draw):
    n_days = draw(st.integers(0, 30))
    n_ind = draw(st.integers(1, 5))
    ret = np.array(
        draw(st.lists(returns, min_size=n_days * n_ind, max_size=n_days * n_ind)),
        dtype=np.float64,
    ).reshape(n_days, n_ind)
    # mostly valid schedules (sorted, distinct, inside the data), sometimes not
    if draw(st.booleans()) and n_days:
        pos = sorted(draw(st.sets(st.integers(0, n_days - 1), max_size=8)))
    else:
        pos = draw(st.lists(st.integers(-1, n_days + 1), max_size=6))
    weights = np.array(
        draw(
            st.lists(
                st.one_of(st.just(0.0), st.floats(-1.0, 1.5, allow_nan=False, width=32)),
                min_size=len(pos) * n_ind,
                max_size=len(pos) * n_ind,
            )
        ),
        dtype=np.float64,
    ).reshape(len(pos), n_ind)
    lag = draw(st.integers(0, 2))
    return ret, pos, weights, lag


def _valid(pos, n_days):
    return all(0 <= p < n_days for p in pos) and all(b > a for a, b in itertools.pairwise(pos))


@settings(max_examples=examples(300), deadline=None)
@given(portfolios())
def test_simulate_nav_matches_reference(case):
    ret, pos, w, lag = case
    if not _valid(pos, len(ret)):
        with pytest.raises(EtfflowError, match="rebalance_pos"):
            simulate_nav(ret, pos, w, lag)
        with pytest.raises(EtfflowError):
            simulate_nav_ref(ret, pos, w, lag)
        return
    fast = simulate_nav(ret, pos, w, lag)
    ref = simulate_nav_ref(ret, pos, w, lag)
    np.testing.assert_allclose(fast, ref, rtol=1e-10, atol=1e-12)
    assert (np.isnan(fast) == np.isnan(ref)).all()


@settings(max_examples=examples(200), deadline=None)
@given(portfolios())
def test_benchmark_and_period_returns_match_reference(case):
    ret, pos, w, lag = case
    if not _valid(pos, len(ret)):
        with pytest.raises(EtfflowError, match="rebalance_pos"):
            equal_weight_targets(ret, pos, lag)
        with pytest.raises(EtfflowError, match="rebalance_pos"):
            period_returns(ret, pos, w, lag)
        return
    bw = equal_weight_targets(ret, pos, lag)
    np.testing.assert_allclose(bw, equal_weight_targets_ref(ret, pos, lag), rtol=1e-15)
    for weights in (w, bw):
        hp = period_returns(ret, pos, weights, lag)
        start, end, ind, port = period_returns_ref(ret, pos, weights, lag)
        assert hp.start.tolist() == start.tolist() and hp.end.tolist() == end.tolist()
        assert hp.decision.tolist() == pos[: len(start)]
        np.testing.assert_allclose(hp.industry, ind, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(hp.portfolio, port, rtol=1e-10, atol=1e-12)
        nav = simulate_nav(ret, pos, weights, lag)
        done = hp.end > hp.start
        np.testing.assert_allclose(
            hp.portfolio[done],
            nav[hp.end[done]] / nav[hp.start[done]] - 1.0,
            rtol=1e-9,
            atol=1e-12,
        )


# ------------------------------------------------------------------------ point in time


@settings(max_examples=examples(150), deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_days=st.integers(2, 40),
    cut=st.integers(0, 39),
    lag=st.integers(0, 2),
)
def test_nav_to_t_ignores_returns_after_t_and_decisions_after_t_minus_lag(seed, n_days, cut, lag):
    cut = min(cut, n_days - 1)
    rng = np.random.default_rng(seed)
    n_ind = 4
    ret = rng.normal(0.0, 0.02, (n_days, n_ind))
    ret[rng.random(ret.shape) < 0.1] = nan
    pos = np.flatnonzero(rng.random(n_days) < 0.3)
    w = rng.random((len(pos), n_ind))
    nav = simulate_nav(ret, pos, w, lag)
    bench = simulate_nav(ret, pos, equal_weight_targets(ret, pos, lag), lag)

    ret2 = ret.copy()
    ret2[cut + 1 :] = rng.normal(0.0, 0.2, ret2[cut + 1 :].shape)
    ret2[cut + 1 :][rng.random(ret2[cut + 1 :].shape) < 0.3] = nan
    w2 = w.copy()
    late = pos + lag >= cut  # decided on or after cut - lag: effective on or after the cut
    w2[late] = rng.random((int(late.sum()), n_ind))
    nav2 = simulate_nav(ret2, pos, w2, lag)
    bench2 = simulate_nav(ret2, pos, equal_weight_targets(ret2, pos, lag), lag)
    np.testing.assert_array_equal(nav2[: cut + 1], nav[: cut + 1])
    np.testing.assert_array_equal(bench2[: cut + 1], bench[: cut + 1])
    # and perturbing earlier weights does change the NAV after their effective day
    early = np.flatnonzero(pos + lag < cut)
    if len(early):
        w3 = w.copy()
        w3[early[0]] = w3[early[0]] + 1.0
        nav3 = simulate_nav(ret, pos, w3, lag)
        assert not np.array_equal(nav3[: cut + 1], nav[: cut + 1])


@pytest.mark.parametrize("lag", [0, 1, 2])
def test_long_irregular_schedule_matches_reference(lag):
    # many distinct period lengths (the fast path compounds periods of equal length together)
    rng = np.random.default_rng(5 + lag)
    ret = rng.normal(0.0, 0.02, (400, 7))
    ret[rng.random(ret.shape) < 0.05] = nan
    pos = np.sort(rng.choice(400, 60, replace=False))
    w = rng.random((60, 7)) / 5
    assert len(np.unique(np.diff(pos))) > 10
    np.testing.assert_allclose(
        simulate_nav(ret, pos, w, lag), simulate_nav_ref(ret, pos, w, lag), rtol=1e-12
    )
    hp = period_returns(ret, pos, w, lag)
    _, _, ind, port = period_returns_ref(ret, pos, w, lag)
    np.testing.assert_allclose(hp.industry, ind, rtol=1e-12)
    np.testing.assert_allclose(hp.portfolio, port, rtol=1e-11, atol=1e-15)


def test_a_holding_periods_returns_ignore_returns_after_its_end():
    rng = np.random.default_rng(9)
    ret = rng.normal(0.0, 0.02, (60, 5))
    pos = np.arange(2, 60, 7)
    w = rng.random((len(pos), 5)) / 5
    hp = period_returns(ret, pos, w, trade_lag=1)
    k = 3
    ret2 = ret.copy()
    ret2[hp.end[k] + 1 :] = rng.normal(0.0, 0.3, ret2[hp.end[k] + 1 :].shape)
    hp2 = period_returns(ret2, pos, w, trade_lag=1)
    np.testing.assert_array_equal(hp2.industry[: k + 1], hp.industry[: k + 1])
    np.testing.assert_array_equal(hp2.portfolio[: k + 1], hp.portfolio[: k + 1])
    assert not np.array_equal(hp2.industry[k + 1], hp.industry[k + 1])

"""Whole-period significance: the Newey–West t-statistic of the mean Rank IC."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from etfflow.backtest.metrics import newey_west_lags, newey_west_t
from tests.helpers import examples


def newey_west_t_reference(x: list[float], lags: int | None = None) -> float:
    """Plain loops, straight from the definition."""
    v = [a for a in x if math.isfinite(a)]
    n = len(v)
    if n < 3 or min(v) == max(v):
        return math.nan
    L = math.floor(4 * (n / 100) ** (2 / 9)) if lags is None else lags
    L = max(0, min(L, n - 1))
    m = sum(v) / n
    e = [a - m for a in v]
    s = sum(a * a for a in e) / n
    for j in range(1, L + 1):
        gamma = sum(e[t] * e[t - j] for t in range(j, n)) / n
        s += 2 * (1 - j / (L + 1)) * gamma
    return m / math.sqrt(s / n) if s > 0 else math.nan


def test_by_hand():
    # mean 3, gamma0 = 10/5 = 2: t = 3 / sqrt(2/5)
    assert math.isclose(newey_west_t(np.arange(1.0, 6.0), lags=0), 3 / math.sqrt(0.4))
    # one lag: gamma1 = (-2*-1 + -1*0 + 0*1 + 1*2) / 5 = 0.8, S = 2 + 2*(1/2)*0.8 = 2.8
    assert math.isclose(newey_west_t(np.arange(1.0, 6.0), lags=1), 3 / math.sqrt(2.8 / 5))
    assert [newey_west_lags(n) for n in (0, 24, 100, 250)] == [0, 2, 4, 4]


def test_short_constant_and_nan_series():
    assert math.isnan(newey_west_t(np.array([0.1, np.nan, 0.2])))  # two finite values
    assert math.isnan(newey_west_t(np.full(10, 0.03)))  # no variance
    x = np.array([0.05, np.nan, -0.01, 0.02, np.nan, 0.04, 0.0])
    assert newey_west_t(x) == newey_west_t(x[np.isfinite(x)])  # NaN periods are left out


def test_positive_autocorrelation_lowers_the_t_statistic():
    rng = np.random.default_rng(0)
    e = rng.normal(0, 1, 400)
    ar = np.empty_like(e)
    ar[0] = e[0]
    for t in range(1, len(e)):
        ar[t] = 0.7 * ar[t - 1] + e[t]
    x = 0.1 + 0.05 * ar
    plain = x.mean() / (x.std(ddof=0) / math.sqrt(len(x)))
    assert abs(newey_west_t(x)) < 0.7 * abs(plain)
    assert math.isclose(newey_west_t(x, lags=0), plain)


@settings(max_examples=examples(200), deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(-0.5, 0.5, allow_nan=False), st.just(float("nan"))),
        max_size=60,
    ),
    st.one_of(st.none(), st.integers(0, 12)),
)
def test_matches_the_reference(xs, lags):
    got = newey_west_t(np.array(xs, dtype=np.float64), lags)
    want = newey_west_t_reference(xs, lags)
    assert (math.isnan(got) and math.isnan(want)) or math.isclose(
        got, want, rel_tol=1e-9, abs_tol=1e-9
    )


def test_the_summary_reports_it_for_the_per_period_rank_ics():
    from etfflow.backtest.engine import evaluate

    rng = np.random.default_rng(3)
    ret = rng.normal(0, 0.01, (300, 60))
    signal = np.roll(ret, -5, axis=0) + rng.normal(0, 0.02, ret.shape)  # peeks: a strong IC
    dates = np.datetime64("2022-01-03") + np.arange(300)
    ev = evaluate({"s": signal, "noise": rng.normal(size=ret.shape)}, ret, dates, rebalance=5)
    for name in ("s", "noise"):
        ric = ev.ic.filter(ev.ic["factor"] == name)["rank_ic"].to_numpy().astype(float)
        got = ev.summary.filter(ev.summary["factor"] == name)["rank_ic_t_nw"].item()
        assert math.isclose(got, newey_west_reference_of(ric), rel_tol=1e-12)
    t = dict(zip(ev.summary["factor"], ev.summary["rank_ic_t_nw"], strict=True))
    assert t["s"] > 5 and abs(t["noise"]) < 3


def newey_west_reference_of(x: np.ndarray) -> float:
    return newey_west_t_reference([float(v) for v in x])

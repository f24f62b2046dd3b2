"""Strategy metrics of the rotation report: every formula on NAVs whose answer is computable by
hand, then fast vs a plain-loop reference on random NAVs."""

from __future__ import annotations

import datetime as dt
import math
import statistics

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etfflow.backtest.rotation.metrics import METRICS_SCHEMA, strategy_metrics
from etfflow.backtest.rotation.portfolio import equal_weight_targets, simulate_nav
from etfflow.backtest.rotation.result import METRICS, SCHEMAS
from etfflow.exceptions import EtfflowError
from tests.helpers import examples, weekdays

nan = math.nan
Y = 242


def rows(frame: pl.DataFrame) -> dict[str, dict]:
    return {r["period"]: r for r in frame.to_dicts()}


# ---------------------------------------------------------------------------- by hand


def test_schema_is_the_summary_table_without_its_strategy_column():
    out = strategy_metrics(weekdays(3), np.array([1.0, 1.1, 1.2]), np.ones(3))
    assert out.schema == METRICS_SCHEMA
    full = out.select(pl.lit("composite").alias("strategy"), pl.all())
    assert full.schema == SCHEMAS["summary"]


def test_constant_daily_return_against_cash():
    days = weekdays(300, dt.date(2023, 1, 2))  # 2023-01-02 .. 2024-02-23
    nav = 1.001 ** np.arange(300)
    out = rows(strategy_metrics(days, nav, np.ones(300)))
    n23 = sum(d.year == 2023 for d in days) - 1  # the first day has no return
    assert list(out) == ["2023", "2024", "all"]
    assert out["2023"]["n_days"] == n23 and out["2024"]["n_days"] == 299 - n23
    assert out["all"]["n_days"] == 299
    assert out["2023"]["annual_return"] == pytest.approx(1.001**n23 - 1, rel=1e-12)
    assert out["2024"]["annual_return"] == pytest.approx(1.001 ** (299 - n23) - 1, rel=1e-12)
    assert out["all"]["annual_return"] == pytest.approx(1.001**Y - 1, rel=1e-12)
    assert out["all"]["excess_return"] == pytest.approx(1.001**Y - 1, rel=1e-12)
    for r in out.values():
        assert r["volatility"] == pytest.approx(0.0, abs=1e-12)
        assert r["max_drawdown"] == 0.0 and r["relative_max_drawdown"] == 0.0
        assert r["monthly_win_rate"] == 1.0
        assert math.isnan(r["gain_loss_ratio"])  # no month below the benchmark


def test_volatility_sharpe_tracking_error_and_information_ratio():
    r = np.array([0.02, -0.01, 0.02, -0.01])
    nav = np.cumprod(np.r_[1.0, 1.0 + r])
    rb = np.array([0.01, 0.0, 0.0, 0.01])
    bench = np.cumprod(np.r_[1.0, 1.0 + rb])
    out = rows(strategy_metrics(weekdays(5), nav, bench, periods="all"))["all"]
    # mean 0.005, deviations +-0.015: sample variance 4 * 0.015^2 / 3 = 0.0003
    vol = math.sqrt(0.0003 * Y)
    ann = (1.02 * 0.99) ** (2 * Y / 4) - 1
    ann_b = 1.01 ** (2 * Y / 4) - 1
    # r - rb = (0.01, -0.01, 0.02, -0.02): mean 0, sample variance 0.001 / 3
    te = math.sqrt(0.001 / 3 * Y)
    assert out["volatility"] == pytest.approx(vol, rel=1e-9)
    assert out["annual_return"] == pytest.approx(ann, rel=1e-12)
    assert out["sharpe"] == pytest.approx(ann / vol, rel=1e-9)
    assert out["excess_return"] == pytest.approx(ann - ann_b, rel=1e-9)
    assert out["tracking_error"] == pytest.approx(te, rel=1e-9)
    assert out["information_ratio"] == pytest.approx((ann - ann_b) / te, rel=1e-9)


def test_single_drawdown_and_relative_drawdown():
    nav = np.array([1.0, 1.2, 0.9, 1.1, 1.3])
    bench = np.array([1.0, 1.0, 1.2, 1.2, 1.2])
    out = rows(strategy_metrics(weekdays(5), nav, bench))["all"]
    assert out["max_drawdown"] == pytest.approx(1 - 0.9 / 1.2)  # 0.25, positive
    # nav / bench = 1, 1.2, 0.75, 0.917, 1.083: from 1.2 down to 0.75
    assert out["relative_max_drawdown"] == pytest.approx(1 - 0.75 / 1.2)


def test_a_year_starts_from_the_previous_years_last_close():
    days = [dt.date(2023, 12, 28), dt.date(2023, 12, 29), dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
    nav = np.array([1.0, 1.1, 0.99, 1.089])
    out = rows(strategy_metrics(days, nav, np.ones(4)))
    assert out["2023"]["n_days"] == 1 and out["2023"]["annual_return"] == pytest.approx(0.1)
    assert math.isnan(out["2023"]["volatility"]) and math.isnan(out["2023"]["sharpe"])
    assert out["2024"]["n_days"] == 2
    assert out["2024"]["annual_return"] == pytest.approx(1.089 / 1.1 - 1)  # -1%, not annualised
    assert out["2024"]["max_drawdown"] == pytest.approx(0.1)  # from 2023's close 1.1 to 0.99
    assert out["all"]["n_days"] == 3
    assert out["all"]["annual_return"] == pytest.approx(1.089 ** (Y / 3) - 1)


def _monthly_navs(strat: list[float], bench: list[float], first: dt.date):
    """Three weekdays a month from ``first``'s month; each month's return on its 2nd day."""
    days, a, b = [], [1.0], [1.0]
    y, m = first.year, first.month
    for k in range(len(strat)):
        month_days = [d for d in weekdays(23, dt.date(y, m, 1)) if d.month == m][:3]
        for j, d in enumerate(month_days):
            days.append(d)
            if j == 1:
                a.append(a[-1] * (1 + strat[k]))
                b.append(b[-1] * (1 + bench[k]))
            elif days[0] != d:
                a.append(a[-1])
                b.append(b[-1])
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return days, np.array(a), np.array(b)


def test_monthly_win_rate_and_gain_loss_ratio():
    strat = [0.03, 0.01, -0.02, 0.02, 0.005]
    bench = [0.01, 0.015, 0.0, -0.01, 0.01]
    # excess: +2%, -0.5%, -2%, +3%, -0.5% -> 2 wins of 5; gains 2.5% on average, losses 1%
    days, a, b = _monthly_navs(strat, bench, dt.date(2024, 1, 1))
    out = rows(strategy_metrics(days, a, b))
    assert out["all"]["monthly_win_rate"] == pytest.approx(2 / 5)
    assert out["all"]["gain_loss_ratio"] == pytest.approx(0.025 / 0.01)
    # across a year end: November to March, the year rows see their own months only
    days, a, b = _monthly_navs(strat, bench, dt.date(2024, 11, 1))
    out = rows(strategy_metrics(days, a, b))
    assert out["2024"]["monthly_win_rate"] == pytest.approx(1 / 2)
    assert out["2024"]["gain_loss_ratio"] == pytest.approx(0.02 / 0.005)
    assert out["2025"]["monthly_win_rate"] == pytest.approx(1 / 3)
    assert out["2025"]["gain_loss_ratio"] == pytest.approx(0.03 / 0.0125)


def test_partial_months_count_and_a_lone_first_day_is_no_month():
    # NAV starts on Jan 31 (no return in January), ends on Mar 1 (one return in March)
    days = [dt.date(2024, 1, 31), dt.date(2024, 2, 1), dt.date(2024, 2, 29), dt.date(2024, 3, 1)]
    nav = np.array([1.0, 1.02, 1.02, 1.01])
    bench = np.array([1.0, 1.01, 1.01, 1.02])
    out = rows(strategy_metrics(days, nav, bench))["all"]
    # months: February (+2% vs +1%: win) and March (-0.98% vs +0.99%: loss)
    assert out["monthly_win_rate"] == pytest.approx(1 / 2)
    ex_mar = 1.01 / 1.02 - 1.02 / 1.01
    assert out["gain_loss_ratio"] == pytest.approx(0.01 / abs(ex_mar))


def test_benchmark_identical_to_the_strategy():
    rng = np.random.default_rng(1)
    nav = np.cumprod(1 + rng.normal(0, 0.01, 60))
    out = rows(strategy_metrics(weekdays(60), nav, nav.copy()))
    for r in out.values():
        assert r["excess_return"] == 0.0 and r["tracking_error"] == 0.0
        assert math.isnan(r["information_ratio"])
        assert r["relative_max_drawdown"] == 0.0
        assert r["monthly_win_rate"] == 0.0  # a tie is not a win
        assert math.isnan(r["gain_loss_ratio"])


def test_too_short_navs():
    one = rows(strategy_metrics(weekdays(2), np.array([1.0, 1.1]), np.ones(2)))
    assert one["all"]["n_days"] == 1 and one["all"]["annual_return"] == pytest.approx(1.1**Y - 1)
    assert math.isnan(one["all"]["volatility"]) and math.isnan(one["all"]["tracking_error"])
    for nav in (np.array([nan, 1.0, nan]), np.full(3, nan)):
        out = strategy_metrics(weekdays(3), nav, nav.copy())
        assert out["period"].to_list() == ["all"]
        assert out["n_days"][0] == 0
        assert all(math.isnan(out[m][0]) for m in METRICS)
    assert strategy_metrics([], np.array([]), np.array([]))["n_days"].to_list() == [0]


def test_nan_outside_the_nav_and_date_types_do_not_matter():
    rng = np.random.default_rng(7)
    ret = rng.normal(0, 0.01, (300, 5))
    pos = np.arange(3, 300, 10)
    nav = simulate_nav(ret, pos, rng.random((len(pos), 5)) / 5, trade_lag=1)
    bench = simulate_nav(ret, pos, equal_weight_targets(ret, pos, 1), trade_lag=1)
    days = weekdays(300, dt.date(2023, 6, 1))
    full = strategy_metrics(days, nav, bench)
    assert full["period"].to_list() == ["2023", "2024", "all"]
    trimmed = strategy_metrics(days[4:], nav[4:], bench[4:])
    assert full.equals(trimmed)
    assert full.equals(strategy_metrics(pl.Series(days), nav, bench))
    assert full.equals(strategy_metrics(np.array(days, dtype="datetime64[D]"), nav, bench))


def test_only_the_whole_period():
    out = strategy_metrics(
        weekdays(300, dt.date(2023, 6, 1)), np.ones(300), np.ones(300), periods="all"
    )
    assert out["period"].to_list() == ["all"]


@pytest.mark.parametrize(
    ("nav", "bench", "match"),
    [
        ([1.0, 1.1, 1.2], [1.0, 1.1], "1-D of one length"),
        ([nan, 1.0, 1.1], [1.0, 1.0, 1.1], "only one of them:\n    date=2024-01-01, nav=nan"),
        ([1.0, nan, 1.1], [1.0, nan, 1.1], "missing value.*\n    date=2024-01-02"),
        ([1.0, 0.0, 1.1], [1.0, 1.0, 1.0], "positive.*\n    date=2024-01-02, nav=0.0"),
    ],
)
def test_bad_navs_are_refused(nav, bench, match):
    with pytest.raises(EtfflowError, match=match):
        strategy_metrics(weekdays(3), np.array(nav), np.array(bench))


def test_bad_dates_and_options_are_refused():
    nav = np.ones(3)
    days = weekdays(3)
    with pytest.raises(EtfflowError, match=r"strictly increasing: dates\[2\] = 2024-01-02"):
        strategy_metrics([days[0], days[1], days[1]], nav, nav)
    with pytest.raises(EtfflowError, match="periods must be 'year' or 'all', got 'month'"):
        strategy_metrics(days, nav, nav, periods="month")  # type: ignore[arg-type]
    with pytest.raises(EtfflowError, match="Date series, got dtype Int64"):
        strategy_metrics(pl.Series([1, 2, 3]), nav, nav)


# ------------------------------------------------------------------------ point in time


def test_a_years_row_ignores_the_navs_after_it():
    rng = np.random.default_rng(11)
    days = weekdays(400, dt.date(2023, 3, 1))
    nav = np.cumprod(1 + rng.normal(0, 0.01, 400))
    bench = np.cumprod(1 + rng.normal(0, 0.01, 400))
    cut = max(k for k, d in enumerate(days) if d.year == 2023)
    nav2, bench2 = nav.copy(), bench.copy()
    nav2[cut + 1 :] *= np.cumprod(1 + rng.normal(0, 0.05, 400 - cut - 1))
    bench2[cut + 1 :] *= 1.3
    a = strategy_metrics(days, nav, bench)
    b = strategy_metrics(days, nav2, bench2)
    assert a.filter(period="2023").equals(b.filter(period="2023"))
    assert not a.filter(period="2024").equals(b.filter(period="2024"))
    # and the whole-period row up to the cut equals the truncated series' row
    c = strategy_metrics(days[: cut + 1], nav2[: cut + 1], bench2[: cut + 1])
    assert c.filter(period="2023").equals(a.filter(period="2023"))


# ------------------------------------------------------------- fast vs plain loops


def _drawdown_ref(x: list[float]) -> float:
    peak, worst = -math.inf, 0.0
    for v in x:
        peak = max(peak, v)
        worst = max(worst, 1 - v / peak)
    return worst


def metrics_reference(days: list[dt.date], nav: list[float], bench: list[float]) -> dict:
    """Plain loops, straight from the definitions in strategy_metrics' Notes."""
    have = [t for t in range(len(nav)) if not math.isnan(nav[t])]
    periods: dict[str, list[int]] = {}
    for t in have[1:]:
        periods.setdefault(str(days[t].year), []).append(t)
    periods["all"] = have[1:]
    out = {}
    for label, ts in periods.items():
        n = len(ts)
        if n == 0:
            out[label] = {m: nan for m in METRICS} | {"n_days": 0}
            continue
        base = ts[0] - 1
        a = [nav[base]] + [nav[t] for t in ts]
        b = [bench[base]] + [bench[t] for t in ts]
        r = [nav[t] / nav[t - 1] - 1 for t in ts]
        rb = [bench[t] / bench[t - 1] - 1 for t in ts]
        g, gb = a[-1] / a[0], b[-1] / b[0]
        if label == "all":
            ann, ann_b = g ** (Y / n) - 1, gb ** (Y / n) - 1
        else:
            ann, ann_b = g - 1, gb - 1
        vol = statistics.stdev(r) * math.sqrt(Y) if n > 1 else nan
        diff = [x - y for x, y in zip(r, rb, strict=True)]
        te = statistics.stdev(diff) * math.sqrt(Y) if n > 1 else nan
        # a month's return: its last NAV over the close before its first return day
        first: dict[tuple[int, int], int] = {}
        last: dict[tuple[int, int], int] = {}
        for t in ts:
            first.setdefault((days[t].year, days[t].month), t)
            last[(days[t].year, days[t].month)] = t
        ex = [
            (nav[last[k]] / nav[first[k] - 1] - 1) - (bench[last[k]] / bench[first[k] - 1] - 1)
            for k in first
        ]
        wins = [x for x in ex if x > 0]
        losses = [x for x in ex if x < 0]
        out[label] = {
            "annual_return": ann,
            "volatility": vol,
            "sharpe": ann / vol if vol == vol and vol != 0 else nan,
            "max_drawdown": _drawdown_ref(a),
            "excess_return": ann - ann_b,
            "tracking_error": te,
            "information_ratio": (ann - ann_b) / te if te == te and te != 0 else nan,
            "relative_max_drawdown": _drawdown_ref([x / y for x, y in zip(a, b, strict=True)]),
            "monthly_win_rate": len(wins) / len(ex),
            "gain_loss_ratio": (sum(wins) / len(wins)) / abs(sum(losses) / len(losses))
            if wins and losses
            else nan,
            "n_days": n,
        }
    return out


@st.composite
def nav_pairs(draw):
    n = draw(st.integers(0, 70))
    gaps = draw(st.lists(st.integers(1, 45), min_size=n, max_size=n))
    start = dt.date(2022, 11, 1) + dt.timedelta(days=draw(st.integers(0, 60)))
    days = [start + dt.timedelta(days=sum(gaps[: k + 1])) for k in range(n)]
    step = st.one_of(st.just(0.0), st.floats(-0.08, 0.08, allow_nan=False))
    r = np.array(draw(st.lists(step, min_size=n, max_size=n)), dtype=np.float64)
    nav = np.cumprod(1 + r)
    kind = draw(st.sampled_from(["other", "same", "cash"]))
    if kind == "other":
        rb = np.array(draw(st.lists(step, min_size=n, max_size=n)), dtype=np.float64)
        bench = np.cumprod(1 + rb)
    else:
        bench = nav.copy() if kind == "same" else np.ones(n)
    head = draw(st.integers(0, min(3, n)))
    tail = draw(st.integers(0, min(2, n - head)))
    for x in (nav, bench):
        x[:head] = nan
        x[n - tail :] = nan
    return days, nav, bench


@settings(max_examples=examples(300), deadline=None)
@given(nav_pairs())
def test_strategy_metrics_matches_reference(case):
    days, nav, bench = case
    got = rows(strategy_metrics(days, nav, bench))
    want = metrics_reference(days, nav.tolist(), bench.tolist())
    assert list(got) == list(want)
    for label, w in want.items():
        g = got[label]
        assert g["n_days"] == w["n_days"]
        for m in METRICS:
            if m in ("sharpe", "information_ratio") and w["n_days"] > 1:
                # a ratio over a near-zero dispersion amplifies rounding: compare its parts
                continue
            assert g[m] == pytest.approx(w[m], rel=1e-9, abs=1e-12, nan_ok=True), (label, m)
        for ratio, num, den in (
            ("sharpe", "annual_return", "volatility"),
            ("information_ratio", "excess_return", "tracking_error"),
        ):
            if g[den] > 1e-9:
                assert g[ratio] == pytest.approx(g[num] / g[den], rel=1e-12)
                assert g[ratio] == pytest.approx(w[ratio], rel=1e-6)

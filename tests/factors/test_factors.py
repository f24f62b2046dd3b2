"""Factor definitions (SPEC §3): hand-checkable cases, the registry, point in time."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from etfflow.engine.panel import Calendar
from etfflow.exceptions import EtfflowError
from etfflow.factors import compute_factors, factor, registry, resolve
from etfflow.factors.inputs import FLOW_COLUMNS, FactorInputs
from etfflow.factors.registry import unregister
from tests.helpers import weekdays

NAN = np.nan


#: First day of the hand-made calendars (a Monday).
DAY0 = dt.date(2023, 1, 2)


def make_inputs(series: dict[str, np.ndarray], present: np.ndarray, level="stock", days=None):
    t, m = present.shape
    cal = Calendar(pl.Series("date", days or weekdays(t, DAY0), dtype=pl.Date))
    full = {k: np.where(present, np.asarray(v, float), NAN) for k, v in series.items()}
    return FactorInputs(level, cal, [f"{600000 + i}.SH" for i in range(m)], present, full)


# ------------------------------------------------------------------ a hand-checkable case
# stock A: present every day; stock B lists on day 2
MV = np.array([[10, NAN], [12, NAN], [0, 5], [15, 5], [15, 6], [30, 7.0]])
F = np.array([[100, NAN], [100, NAN], [100, 50], [200, 50], [200, 50], [200, 50.0]])
INFLOW = np.array([[NAN, NAN], [2, NAN], [-12, 5], [15, 0], [0, 1], [10, 1.0]])
RET = np.array([[NAN, NAN], [0.1, NAN], [-0.1, 0.0], [0.2, 0.1], [0.0, -0.05], [0.05, 0.02]])
SHARE = np.array([[1, NAN], [2, NAN], [4, 1], [4, 1], [5, 2], [7, 2.0]])
FUND = np.array([[10, NAN], [10, NAN], [20, 10], [20, 10], [30, 10], [30, 20.0]])
PRESENT = np.array([[1, 0], [1, 0], [1, 1], [1, 1], [1, 1], [1, 1]], dtype=bool)


@pytest.fixture
def hand():
    series = {
        "mv_passive": MV,
        "float_mcap": F,
        "w_passive": MV / F,
        "inflow": INFLOW,
        "ret": RET,
        "share_passive": SHARE,
        "share_passive_fund": FUND,
    }
    return make_inputs(series, PRESENT)


def values(x, name):
    return compute_factors(x, name).values[name]


def test_differences_by_hand(hand):
    np.testing.assert_array_equal(
        values(hand, "mv_passive_diff_2"),
        [[NAN, NAN], [NAN, NAN], [-10, NAN], [3, NAN], [15, 1], [15, 2]],
    )
    np.testing.assert_array_equal(
        values(hand, "share_passive_diff_2")[:, 0], [NAN, NAN, 3, 2, 1, 3]
    )
    np.testing.assert_array_equal(
        values(hand, "share_passive_fund_diff_2")[:, 1], [NAN, NAN, NAN, NAN, 0, 10]
    )
    # change rate: null where mv[t-n] = 0 (day 4 of A looks back at day 2, mv 0)
    np.testing.assert_allclose(
        values(hand, "mv_passive_chg_2")[:, 0], [NAN, NAN, -1.0, 0.25, NAN, 1.0]
    )
    # w_passive_diff divides by today's float cap
    np.testing.assert_allclose(
        values(hand, "w_passive_diff_2")[:, 0], [NAN, NAN, -0.1, 3 / 200, 15 / 200, 15 / 200]
    )
    w = MV / F
    np.testing.assert_allclose(
        values(hand, "w_passive_chg_2")[:, 0],
        [NAN, NAN, w[2, 0] - w[0, 0], w[3, 0] - w[1, 0], w[4, 0] - w[2, 0], w[5, 0] - w[3, 0]],
    )
    np.testing.assert_array_equal(values(hand, "w_passive")[:, 1], w[:, 1])


def test_inflow_sums_by_hand(hand):
    # the first day's inflow is null, so the first 2-day window is incomplete
    np.testing.assert_array_equal(
        values(hand, "mv_passive_inflow_2"),
        [[NAN, NAN], [NAN, NAN], [-10, NAN], [3, 5], [15, 1], [10, 2]],
    )
    np.testing.assert_allclose(
        values(hand, "w_passive_inflow_2")[:, 0], [NAN, NAN, -0.1, 3 / 200, 15 / 200, 10 / 200]
    )


def test_rolling_factors_by_hand(hand):
    w = (MV / F)[:, 0]
    zs = values(hand, "w_passive_zs_3")[:, 0]
    for t in range(2, 6):
        win = w[t - 2 : t + 1]
        assert zs[t] == pytest.approx((w[t] - win.mean()) / win.std(ddof=1), rel=1e-9)
    assert np.isnan(zs[:2]).all()
    slope = values(hand, "passive_slope_3")
    for t in range(2, 6):
        assert slope[t, 0] == pytest.approx(np.polyfit([1, 2, 3], MV[t - 2 : t + 1, 0], 1)[0])
    assert np.isnan(slope[:4, 1]).all() and slope[4, 1] == pytest.approx(0.5)
    revs = values(hand, "revs_2")[:, 0]
    np.testing.assert_allclose(revs[2:], [(1.1 * 0.9) - 1, 0.9 * 1.2 - 1, 1.2 * 1.0 - 1, 1.05 - 1])
    assert np.isnan(revs[:2]).all()


def test_constant_window_zscore_is_null(hand):
    x = make_inputs({"w_passive": np.full((5, 1), 0.3)}, np.ones((5, 1), bool))
    assert np.isnan(values(x, "w_passive_zs_3")).all()


def test_passive_beta_by_hand():
    rng = np.random.default_rng(1)
    t, m = 30, 12
    mv = np.cumprod(1 + rng.normal(0, 0.05, (t, m)), axis=0) * 1e6
    ret = rng.normal(0, 0.02, (t, m))
    x = make_inputs({"mv_passive": mv, "ret": ret}, np.ones((t, m), bool))
    beta = values(x, "passive_beta_5")
    g = mv[1:] / mv[:-1] - 1
    # winsorise each day at median ± 5 MAD (unscaled)
    med = np.median(g, axis=1, keepdims=True)
    mad = np.median(np.abs(g - med), axis=1, keepdims=True)
    g = np.clip(g, med - 5 * mad, med + 5 * mad)
    growth = np.vstack([np.full((1, m), NAN), g])
    for day in range(5, t):
        for s in range(m):
            xx, yy = growth[day - 4 : day + 1, s], ret[day - 4 : day + 1, s]
            assert beta[day, s] == pytest.approx(np.polyfit(xx, yy, 1)[0], rel=1e-8, abs=1e-12)
    assert np.isnan(beta[:5]).all()


def test_momentum_skips_the_last_month():
    rng = np.random.default_rng(2)
    t = 300
    ret = rng.normal(0, 0.01, (t, 2))
    ret[:40, 1] = NAN  # lists late
    present = np.isfinite(ret) | (np.arange(t)[:, None] >= 40)
    x = make_inputs({"ret": ret}, present)
    mom = values(x, "mom_12m")
    for day in (249, 260, 299):
        exp = np.prod(1 + ret[day - 249 : day - 19, 0]) - 1
        assert mom[day, 0] == pytest.approx(exp, rel=1e-10)
    assert np.isnan(mom[:249]).all()
    assert np.isnan(mom[:289, 1]).all() and np.isfinite(mom[289, 1])


def test_inflow_corr_uses_completed_weeks():
    days = weekdays(60, dt.date(2024, 1, 1))  # Monday: 12 full weeks
    rng = np.random.default_rng(3)
    mv = 1e6 * (1 + rng.random((60, 1)))
    inflow = rng.normal(0, 1e4, (60, 1))
    ret = rng.normal(0, 0.02, (60, 1))
    x = make_inputs(
        {"mv_passive": mv, "inflow": inflow, "ret": ret}, np.ones((60, 1), bool), days=days
    )
    corr = values(x, "passive_inflow_corr_w_4")[:, 0]
    wk_ret = np.array([np.prod(1 + ret[5 * w : 5 * w + 5, 0]) - 1 for w in range(12)])
    wk_rate = np.array(
        [NAN] + [inflow[5 * w : 5 * w + 5, 0].sum() / mv[5 * w - 1, 0] for w in range(1, 12)]
    )
    # the 4-week window ending with week 4 (index 4) is the first with 4 valid rates
    assert np.isnan(corr[: 5 * 5 - 1]).all()
    for w in range(4, 12):
        exp = np.corrcoef(wk_ret[w - 3 : w + 1], wk_rate[w - 3 : w + 1])[0, 1]
        # valid from the week's last day until the next week's last day
        assert corr[5 * w + 4] == pytest.approx(exp, rel=1e-9)
        if w < 11:
            assert corr[5 * w + 5 + 3] == pytest.approx(exp, rel=1e-9)


# ------------------------------------------------------------------ registry
def test_every_spec_factor_is_registered():
    names = set(registry())
    for fam in (
        "share_passive_fund_diff_{n}",
        "share_passive_diff_{n}",
        "mv_passive_diff_{n}",
        "mv_passive_chg_{n}",
        "w_passive_diff_{n}",
        "w_passive_chg_{n}",
        "w_passive_zs_{n}",
        "mv_passive_inflow_{n}",
        "w_passive_inflow_{n}",
        "passive_slope_{n}",
        "passive_beta_{n}",
        "passive_inflow_corr_w_{n}",
        "passive_inflow_corr_m_{n}",
        "revs_{n}",
        "mom_12m",
        "w_passive",
    ):
        assert fam in names
    all_names = [f.name for f in resolve("all")]
    assert "w_passive_zs_60" in all_names and "passive_inflow_corr_w_96" in all_names
    assert "passive_inflow_corr_m_24" in all_names and "revs_40" in all_names
    assert len(all_names) == len(set(all_names))


def test_resolve_names_families_and_windows():
    got = [f.name for f in resolve("w_passive_zs,revs_20", windows=[10, 30])]
    assert got == ["w_passive_zs_10", "w_passive_zs_30", "revs_20"]
    assert [f.name for f in resolve(["mv_passive_chg_35"])] == ["mv_passive_chg_35"]
    assert resolve("passive_slope_20")[0].lookback == 19
    with pytest.raises(EtfflowError, match="did you mean"):
        resolve("w_pasive_zs_20")
    with pytest.raises(EtfflowError, match="at least 2"):
        resolve("all", windows=[1])


def test_user_factor_in_a_few_lines(hand):
    from etfflow.factors import kernels

    @factor(
        "w_passive_ma_{n}",
        formula="mean(w_passive[t-n+1..t])",
        inputs=("w_passive",),
        direction=1,
        lookback=lambda n: n - 1,
    )
    def w_passive_ma(x, n):
        return kernels.rolling_mean(x["w_passive"], n)

    try:
        assert "w_passive_ma_20" in [f.name for f in resolve("all")]
        v = values(hand, "w_passive_ma_2")[:, 0]
        w = (MV / F)[:, 0]
        np.testing.assert_allclose(v[1:], (w[1:] + w[:-1]) / 2)
        with pytest.raises(EtfflowError, match="already registered"):
            factor("w_passive_ma_{n}", formula="", inputs=(), direction=1, lookback=0)(w_passive_ma)
    finally:
        unregister("w_passive_ma_{n}")


def test_a_factor_without_window_takes_a_number_as_lookback(hand):
    """A window-dependent lookback on a factor without ``{n}`` was stored and later called
    with ``None``; it is refused when the factor is declared."""
    with pytest.raises(EtfflowError, match=r"no window.*lookback must be a number"):
        factor("plain_ma", formula="", inputs=("w_passive",), direction=1, lookback=lambda n: n)(
            lambda x, n: x["w_passive"]
        )
    assert "plain_ma" not in [f.name for f in resolve("all")]


def test_values_are_null_outside_presence(hand):
    fs = compute_factors(hand, "all", windows=[2])
    for name, v in fs.values.items():
        assert np.isnan(v[~PRESENT]).all(), name
        assert not np.isinf(v).any(), name
    df = fs.frame()
    assert df.columns[:2] == ["date", "code"] and df.height == int(PRESENT.sum())
    assert df.schema["mv_passive_diff_2"] == pl.Float64


# ------------------------------------------------------------------ point in time
def random_series(rng, t: int, m: int) -> dict[str, np.ndarray]:
    """Every flow input with a value on every row (inflow from the second row, as the
    look-through makes it)."""
    mv = np.cumprod(1 + rng.normal(0, 0.03, (t, m)), axis=0) * 1e7
    f = np.cumprod(1 + rng.normal(0, 0.02, (t, m)), axis=0) * 1e9
    series = {
        "mv_passive": mv,
        "float_mcap": f,
        "w_passive": mv / f,
        "inflow": rng.normal(0, 1e5, (t, m)),
        "ret": rng.normal(0, 0.02, (t, m)),
        "share_passive": rng.random((t, m)) * 1e6,
        "share_passive_fund": rng.random((t, m)) * 1e8,
        "turnover": rng.random((t, m)) * 0.05,  # the optional stock_daily.turnover
    }
    series["inflow"][0] = NAN
    return series


def random_inputs(rng, t=700, m=6, level="stock"):
    present = np.ones((t, m), bool)
    for j in range(m):
        lo = int(rng.integers(0, t // 3)) if j % 2 else 0
        hi = int(rng.integers(2 * t // 3, t)) if j % 3 == 2 else t
        present[:lo, j] = False
        present[hi:, j] = False
    series = random_series(rng, t, m)
    series["mv_passive"][:, 1][rng.random(t) < 0.05] = 0.0  # ETFs sometimes drop it entirely
    series["w_passive"] = series["mv_passive"] / series["float_mcap"]
    assert set(series) >= set(FLOW_COLUMNS)
    return make_inputs(series, present, level=level)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_factor_is_point_in_time(seed):
    """Perturbing every input after a cut leaves every factor up to the cut unchanged."""
    rng = np.random.default_rng(seed)
    a = random_inputs(rng)
    t = a.shape[0]
    cut = int(rng.integers(t - 60, t - 5))  # late enough for the 24-month window
    late = np.arange(t) > cut
    series = {}
    for k, v in a.series.items():
        v = v.copy()
        v[late] = v[late] * rng.uniform(0.5, 2.0, v[late].shape) + rng.normal(
            0, 1e-3, v[late].shape
        )
        series[k] = v
    present = a.present.copy()
    present[late] = rng.random(present[late].shape) < 0.7
    b = FactorInputs(a.level, a.calendar, a.names, present, series)
    fa, fb = compute_factors(a, "all"), compute_factors(b, "all")
    assert len(fa.names) >= 45
    for name in fa.names:
        va, vb = fa.values[name][: cut + 1], fb.values[name][: cut + 1]
        np.testing.assert_array_equal(va, vb, err_msg=name)
        assert np.isfinite(va).any(), f"{name} never has a value: the test would not see a change"


# ------------------------------------------------------------------ declared warm-up
def test_first_value_of_every_factor_sits_at_its_declared_lookback():
    """On inputs with a value from the first row (inflow from the second, as the look-through
    makes it) and a Monday-start calendar of 5-day weeks, each registered factor's first value
    is at row ``lookback`` exactly; monthly factors (months of 20-23 weekdays) at most
    ``2 (n + 1)`` rows later."""
    rng = np.random.default_rng(5)
    t, m = 700, 4
    series = random_series(rng, t, m)
    fs = compute_factors(make_inputs(series, np.ones((t, m), bool)), "all")
    assert weekdays(1, DAY0)[0].weekday() == 0
    checked = 0
    for inst in fs.instances:
        rows = np.flatnonzero(np.isfinite(fs.values[inst.name]).any(axis=1))
        first = int(rows[0])
        if inst.name.startswith("passive_inflow_corr_m_"):
            assert 0 <= first - inst.lookback <= 2 * (inst.n + 1), (inst.name, first)
        else:
            assert first == inst.lookback, (inst.name, first, inst.lookback)
        checked += 1
    assert checked == len(fs.instances) >= 48  # turnover_5 and turnover_20 included


def test_turnover_factor_is_the_mean_turnover_and_all_needs_its_input():
    """turnover_n (Huaan table 44's Turnover5/20) is the n-day mean of stock_daily.turnover;
    "all" leaves it out when the data has no turnover column, naming it is an error."""
    rng = np.random.default_rng(8)
    t, m = 40, 3
    series = random_series(rng, t, m)
    series["turnover"][10, 1] = NAN
    fs = compute_factors(make_inputs(series, np.ones((t, m), bool)), "turnover")
    v = fs.values["turnover_5"]
    for d in (4, 12, 39):
        for j in range(m):
            win = series["turnover"][d - 4 : d + 1, j]
            want = win.mean() if np.isfinite(win).all() else NAN
            np.testing.assert_allclose(v[d, j], want, rtol=1e-12, equal_nan=True)
    assert np.isnan(v[:4]).all() and np.isnan(v[10:15, 1]).all()
    without = {k: a for k, a in series.items() if k != "turnover"}
    x = make_inputs(without, np.ones((t, m), bool))
    assert not any(n.startswith("turnover") for n in compute_factors(x, "all").names)
    with pytest.raises(EtfflowError, match="factor input 'turnover' is not available"):
        compute_factors(x, "turnover_20")

"""Time-series rank correlation per group and year (Huaan 2024-12 tables 10, 19, 25, 43;
docs/methodology.md#512-time-series-rank-correlation-of-industry-flows)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from etfflow.backtest.engine import month_ends
from etfflow.backtest.tscorr import (
    TSCORR_GROUP_SCHEMA,
    TSCORR_SCHEMA,
    forward_returns,
    ts_rank_corr,
    ts_rank_corr_by_group,
)
from etfflow.exceptions import EtfflowError


def business_days(start: str, end: str) -> np.ndarray:
    d = np.arange(np.datetime64(start), np.datetime64(end))
    return d[np.is_busday(d)]


DATES = business_days("2022-01-03", "2024-12-31")  # ends 2024-12-30: Dec 2024 incomplete


def fwd(ret: np.ndarray, h: int) -> np.ndarray:
    out = np.full_like(ret, np.nan)
    for t in range(len(ret) - h):
        out[t] = np.prod(1 + ret[t + 1 : t + h + 1], axis=0) - 1
    return out


def test_perfect_and_inverse_metrics() -> None:
    rng = np.random.default_rng(0)
    ret = rng.normal(0, 0.01, (len(DATES), 6))
    up = ts_rank_corr(fwd(ret, 20), ret, DATES, horizon=20)
    assert up.schema == TSCORR_SCHEMA
    assert up["year"].to_list() == [2022, 2023, 2024, None]  # None: the whole period
    np.testing.assert_allclose(up["mean_corr"].to_numpy(), 1.0)
    assert up["share_positive"].to_list() == [1.0, 1.0, 1.0, 1.0]
    assert up["n_groups"].to_list() == [6, 6, 6, 6]
    # month ends per year: 12, 12, and 2024 without December (incomplete) -> 11; all: 35
    assert up["n_dates"].to_list() == [12, 12, 11, 35]
    down = ts_rank_corr(-fwd(ret, 20), ret, DATES, horizon=20)
    np.testing.assert_allclose(down["mean_corr"].to_numpy(), -1.0)
    assert down["share_positive"].to_list() == [0.0, 0.0, 0.0, 0.0]


def test_matches_scipy_spearman_per_group_and_year() -> None:
    stats = pytest.importorskip("scipy.stats", reason="scipy is the Spearman oracle")
    rng = np.random.default_rng(1)
    g = 5
    ret = rng.normal(0, 0.01, (len(DATES), g))
    metric = rng.normal(size=(len(DATES), g))
    metric[rng.random(metric.shape) < 0.1] = np.nan
    metric[:, 4] = np.round(metric[:, 4])  # ties
    h = 10
    by = ts_rank_corr_by_group(metric, ret, DATES, horizon=h, labels=list("abcde"))
    assert by.schema == TSCORR_GROUP_SCHEMA
    rows = month_ends(DATES)
    rows = rows[rows + h <= len(DATES) - 1]
    years = DATES[rows].astype("datetime64[Y]").astype(int) + 1970
    f = fwd(ret, h)[rows]
    expected = []
    for y in (2022, 2023, 2024, None):  # None: every month end (the whole-period row)
        for j in range(g):
            sel = np.ones(len(years), dtype=bool) if y is None else years == y
            a, b = metric[rows][sel, j], f[sel, j]
            ok = np.isfinite(a) & np.isfinite(b)
            expected.append(stats.spearmanr(a[ok], b[ok]).statistic)
    got = by.sort("year", "group", nulls_last=True)["corr"].to_numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)
    per_year = ts_rank_corr(metric, ret, DATES, horizon=h)
    e = np.array(expected).reshape(4, g)
    np.testing.assert_allclose(per_year["mean_corr"].to_numpy(), e.mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(per_year["share_positive"].to_numpy(), (e > 0).mean(axis=1))


def test_hand_case_and_missing_windows() -> None:
    dates = business_days("2024-01-01", "2024-06-01")  # month ends Jan..May
    rows = month_ends(dates)
    assert len(rows) == 5
    ret = np.zeros((len(dates), 2))
    metric = np.full((len(dates), 2), np.nan)
    # group 0: forward returns rise with the metric except one swap -> Spearman 0.8
    for k, t in enumerate(rows[:4]):
        ret[t + 1, 0] = [0.01, 0.03, 0.02, 0.04][k]
        ret[t + 1, 1] = 0.01 * (k + 1)
        metric[t, 0] = k
        metric[t, 1] = 7.0  # constant metric: no correlation
    out = ts_rank_corr_by_group(metric, ret, dates, horizon=5)
    # the May month end has no full 5-day window after it: 4 dates
    r = out.filter(pl.col("year").is_not_null()).sort("group")
    assert r["n"].to_list() == [4, 4]
    assert r["corr"][0] == pytest.approx(0.8)
    assert r["corr"][1] is None
    agg = ts_rank_corr(metric, ret, dates, horizon=5)
    assert agg.row(0) == (2024, pytest.approx(0.8), 1.0, 1, 4)
    # a missing daily return inside the window removes that date
    ret[rows[0] + 2, 0] = np.nan
    out = ts_rank_corr_by_group(metric, ret, dates, horizon=5)
    assert out.filter(pl.col("year").is_not_null()).sort("group")["n"].to_list() == [3, 4]
    # fewer pairs than min_obs: no correlation
    few = ts_rank_corr_by_group(metric, ret, dates, horizon=5, min_obs=4)
    assert few["corr"].to_list() == [None, None, None, None]


def test_forward_returns_window() -> None:
    ret = np.array([[0.0], [0.1], [0.1], [-0.5], [0.2]])
    f = forward_returns(ret, np.array([0, 1, 3]), 2)
    np.testing.assert_allclose(f[:, 0], [1.1 * 1.1 - 1, 1.1 * 0.5 - 1, np.nan])


def test_bad_inputs() -> None:
    with pytest.raises(EtfflowError, match="must be"):
        ts_rank_corr(np.zeros((5, 2)), np.zeros((5, 3)), DATES[:5])
    with pytest.raises(EtfflowError, match="horizon"):
        ts_rank_corr(np.zeros((5, 2)), np.zeros((5, 2)), DATES[:5], horizon=0)
    with pytest.raises(EtfflowError, match="labels"):
        ts_rank_corr_by_group(np.zeros((5, 2)), np.zeros((5, 2)), DATES[:5], labels=["a"])
    empty = ts_rank_corr(np.zeros((5, 2)), np.zeros((5, 2)), DATES[:5])
    assert empty.height == 0 and empty.schema == TSCORR_SCHEMA
    assert isinstance(empty, pl.DataFrame)

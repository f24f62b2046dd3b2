"""Agreement with alphalens-reloaded (the test oracle): per-date Rank IC and quantile returns.

With ``lag=0``, no rules, no cost and a rebalance every ``h`` days, our per-date Rank IC and
each group's equal-weight period return must equal alphalens'
``factor_information_coefficient`` and ``mean_return_by_quantile(demeaned=False)`` computed
from ``get_clean_factor_and_forward_returns(..., quantiles=G, periods=(h,))``. alphalens
computes forward returns from prices (``prices.ffill().pct_change(h).shift(-h)``), so it gets
``prices = cumprod(1 + returns)`` (NaN before listing and after delisting, which it
forward-fills like our engine's "missing return = 0").
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from etfflow.backtest.engine import evaluate

pd = pytest.importorskip("pandas", reason="pandas is the alphalens oracle's dependency")
al_utils = pytest.importorskip("alphalens.utils", reason="alphalens-reloaded is a dev extra")
al_perf = pytest.importorskip("alphalens.performance", reason="alphalens-reloaded is a dev extra")


def panel(seed: int, t: int, m: int, h: int):
    rng = np.random.default_rng(seed)
    ret = rng.normal(0.0003, 0.02, (t, m))
    listed = np.ones((t, m), dtype=bool)
    for i in range(m):
        if rng.random() < 0.2:
            listed[: rng.integers(1, t // 2), i] = False  # listing inside the sample
        if rng.random() < 0.2:
            listed[rng.integers(t // 2, t) :, i] = False  # delisting
    ret[~listed] = np.nan
    signal = rng.normal(size=(t, m))
    fwd = np.full((t, m), np.nan)
    for s in range(t - h):
        fwd[s] = np.prod(1 + np.nan_to_num(ret[s + 1 : s + h + 1]), axis=0) - 1
    base = 0.3 * np.nan_to_num(fwd) / 0.05 + signal  # a factor with some skill
    factors = {
        "continuous": base,
        "ties": np.round(base, 1),  # ties that do not merge quantile edges
        "heavy_ties": np.clip(np.round(base), -1, 1),  # edges merge: alphalens drops dates
    }
    on_rebalance = np.zeros(t, dtype=bool)
    on_rebalance[::h] = True
    for f in factors.values():
        f[~on_rebalance] = np.nan  # the factor exists only on signal days
        f[~listed] = np.nan
        f[rng.random((t, m)) < 0.05] = np.nan
    d = np.arange(np.datetime64("2022-01-03"), np.datetime64("2022-01-03") + 3 * t)
    dates = d[np.is_busday(d)][:t]
    return factors, ret, dates, listed


def alphalens_run(f: np.ndarray, ret: np.ndarray, listed: np.ndarray, dates, g: int, h: int):
    m = ret.shape[1]
    assets = [f"A{i:03d}" for i in range(m)]
    idx = pd.DatetimeIndex(dates.astype("datetime64[ns]"))
    price = np.cumprod(1 + np.nan_to_num(ret), axis=0)
    prices = pd.DataFrame(np.where(listed, price, np.nan), index=idx, columns=assets)
    rows, cols = np.nonzero(np.isfinite(f))
    factor = pd.Series(
        f[rows, cols],
        index=pd.MultiIndex.from_arrays(
            [idx[rows], np.array(assets)[cols]], names=["date", "asset"]
        ),
    ).sort_index()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = al_utils.get_clean_factor_and_forward_returns(
            factor, prices, quantiles=g, periods=(h,), filter_zscore=None, max_loss=1.0
        )
        ic = al_perf.factor_information_coefficient(data)
        by_date, _ = al_perf.mean_return_by_quantile(data, by_date=True, demeaned=False)
        overall, _ = al_perf.mean_return_by_quantile(data, by_date=False, demeaned=False)
    return data, ic.iloc[:, 0].dropna(), by_date.iloc[:, 0], overall.iloc[:, 0]


@pytest.mark.parametrize(("seed", "g", "h"), [(0, 5, 5), (1, 10, 20), (2, 3, 1)])
def test_rank_ic_and_quantile_returns_equal_alphalens(seed: int, g: int, h: int) -> None:
    t, m = 160, 90
    factors, ret, dates, listed = panel(seed, t, m, h)
    ev = evaluate(factors, ret, dates, groups=g, rebalance=h, lag=0, cost_bps=0.0)
    checked = 0
    for name, f in factors.items():
        data, ic, by_date, overall = alphalens_run(f, ret, listed, dates, g, h)
        ours = ev.ic.filter(pl.col("factor") == name).sort("date")
        kept = ic.index.to_numpy().astype("datetime64[D]")
        if name != "heavy_ties":
            assert len(kept) == ours.height  # alphalens kept every period
        else:
            assert len(kept) < ours.height  # merged edges: alphalens drops those dates
        # Rank IC per date
        mine = dict(zip(ours["date"].to_numpy(), ours["rank_ic"].to_numpy(), strict=True))
        np.testing.assert_allclose([mine[d] for d in kept], ic.to_numpy(), rtol=0, atol=1e-10)
        # the same assets take part: counts per date
        counts = data.groupby(level="date").size()
        n_ours = dict(zip(ours["date"].to_numpy(), ours["n"].to_numpy(), strict=True))
        assert [n_ours[d] for d in kept] == counts.loc[ic.index].tolist()
        # mean forward return of each quantile per date (group 1 = lowest)
        grp = ev.groups.filter(pl.col("factor") == name)
        mine_g = {
            (int(q), d): r
            for q, d, r in zip(grp["group"], grp["date"].to_numpy(), grp["ret"], strict=True)
        }
        for (q, d), r in by_date.items():
            key = (int(q), np.datetime64(d, "D"))
            assert mine_g[key] == pytest.approx(r, abs=1e-10), key
            checked += 1
        # every group we report on an alphalens date is in alphalens
        kept_set = set(kept.tolist())
        ours_on_kept = grp.filter(pl.col("date").is_in(list(kept_set)), pl.col("n") > 0)
        assert ours_on_kept.height == len(by_date)
        # mean over dates per quantile
        if name != "heavy_ties":
            gs = ev.group_summary.filter(pl.col("factor") == name).sort("group")
            np.testing.assert_allclose(
                gs["mean_return"].to_numpy(), overall.sort_index().to_numpy(), atol=1e-10
            )
    assert checked > 0

"""Metrics over a set of holding periods, one definition for the whole sample and for each
calendar year (docs/methodology.md#59-whole-period-metrics,
docs/methodology.md#510-per-year-table).

:func:`period_metrics` reads the per-period series of one factor (:class:`FactorPeriods`)
and returns the metrics of the periods it is given; periods without a cross-section are
left out of every metric. :func:`etfflow.backtest.engine.evaluate` calls it once with all
periods (the summary, which annualises the compounded growth) and once per calendar year
of the signal day (the yearly table, not annualised).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from etfflow.backtest import engine_nb as nb

#: Trading days per year used to annualise returns and to count periods per year.
TRADING_DAYS_PER_YEAR = 242


@dataclass(frozen=True)
class FactorPeriods:
    """Per-period series of one factor, ``(K,)`` arrays (NaN where a period is inactive).

    ``active`` marks the periods with a cross-section; ``r_long``, ``r_bench`` and ``r_ls``
    are the net long, benchmark and long-short period returns; ``navs`` the daily NAV
    series ``(T,)`` (NaN outside the factor's periods); ``start``/``end`` the trade and exit
    day of each period; ``direction`` the ``(K,)`` +1/-1 of each period (one value for a
    fixed direction, period by period for ``"rolling"``); ``ppy`` periods per year.
    """

    active: np.ndarray
    ic: np.ndarray
    rank_ic: np.ndarray
    r_long: np.ndarray
    r_bench: np.ndarray
    r_ls: np.ndarray
    navs: dict[str, np.ndarray]
    start: np.ndarray
    end: np.ndarray
    direction: np.ndarray
    ppy: float


def mean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else math.nan


def std(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.std(ddof=1)) if len(x) > 1 else math.nan


def ratio(a: float, b: float) -> float:
    return a / b if (math.isfinite(a) and math.isfinite(b) and b != 0) else math.nan


def newey_west_lags(n: int) -> int:
    """Newey and West's (1994) automatic lag count ``floor(4 · (n / 100)^(2/9))``."""
    return math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0)) if n > 0 else 0


def newey_west_t(x: np.ndarray, lags: int | None = None) -> float:
    """t-statistic of the mean of the finite values of ``x`` with a Newey–West (Bartlett
    kernel) standard error: ``mean / sqrt(S / n)``, ``S = γ0 + 2 Σ_{j=1..L} (1 − j/(L+1)) γj``,
    ``γj = (1/n) Σ_t e_t e_{t−j}`` of the demeaned series (docs/methodology.md#54-ic-and-rank-ic).

    Overlapping or autocorrelated per-period ICs make the plain ``mean / (std / sqrt(n))``
    overstate significance; this corrects for autocorrelation up to ``L`` periods (default
    :func:`newey_west_lags`). NaN with fewer than 3 values, constant values or a non-positive
    long-run variance.
    """
    v = np.asarray(x, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = len(v)
    if n < 3 or v.min() == v.max():  # constant: rounding of the mean must not give a huge t
        return math.nan
    L = newey_west_lags(n) if lags is None else int(lags)
    L = max(0, min(L, n - 1))
    e = v - v.mean()
    s = float(e @ e) / n
    for j in range(1, L + 1):
        s += 2.0 * (1.0 - j / (L + 1.0)) * float(e[j:] @ e[:-j]) / n
    if not s > 0:
        return math.nan
    return float(v.mean() / math.sqrt(s / n))


def sign_win_rate(ic: np.ndarray, d: int | np.ndarray) -> float:
    """Share of the finite values whose sign is ``d`` (one direction, or one per value)."""
    ok = np.isfinite(ic)
    x = ic[ok]
    dk = d[ok] if isinstance(d, np.ndarray) else d
    return float((np.sign(x) == dk).mean()) if len(x) else math.nan


def annualise(growth: float, n_days: int) -> float:
    if not (math.isfinite(growth) and growth > 0 and n_days > 0):
        return math.nan
    return growth ** (TRADING_DAYS_PER_YEAR / n_days) - 1.0


def gain_loss(x: np.ndarray) -> float:
    win = x[x > 0]
    loss = x[x < 0]
    if len(win) == 0 or len(loss) == 0:
        return math.nan
    return float(win.mean() / abs(loss.mean()))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2:
        return math.nan
    rx, _ = nb._average_ranks(np.ascontiguousarray(x[ok], dtype=np.float64))
    ry, _ = nb._average_ranks(np.ascontiguousarray(y[ok], dtype=np.float64))
    return float(nb._pearson(rx, ry))


def max_dd(nav: np.ndarray) -> float:
    return float(nb.max_drawdown(np.ascontiguousarray(nav)))


def _compound(x: np.ndarray) -> float:
    return float(np.prod(1.0 + x) - 1.0) if len(x) else math.nan


def period_metrics(x: FactorPeriods, ks: np.ndarray) -> dict[str, float | int]:
    """Metrics of the active periods among ``ks`` (period indices, increasing).

    Keys: ``n_periods`` (active periods), ``days`` (trading days held: the sum of their
    lengths), IC means / std (ddof=1) / ICIR (``*_annual`` times ``sqrt(ppy)``), the
    Newey–West t-statistic of the mean Rank IC (``rank_ic_t_nw``), sign win rates, the
    compounded ``return``, ``benchmark_return``, ``long_short_return`` and
    ``excess_compounded`` (per-period excess compounded), ``excess_arithmetic`` (``return -
    benchmark_return``), ``max_drawdown`` / ``excess_max_drawdown`` /
    ``long_short_max_drawdown`` of the daily NAVs from the first trade to the last exit of
    these periods, ``information_ratio`` (mean / std of per-period excess times
    ``sqrt(ppy)``), ``win_rate_vs_benchmark`` (share of periods with long > benchmark),
    ``win_rate_absolute`` (share with long > 0), ``mean_excess`` and ``gain_loss_ratio``.
    Without an active period every value but the counts is NaN.
    """
    ks = np.asarray(ks, dtype=np.int64)
    ks = ks[x.active[ks]]
    n = len(ks)
    ric, ic, dk = x.rank_ic[ks], x.ic[ks], x.direction[ks]
    r_long, r_bench, r_ls = x.r_long[ks], x.r_bench[ks], x.r_ls[ks]
    ex = r_long - r_bench
    ric_m, ic_m = mean(ric), mean(ic)
    ric_s, ic_s = std(ric), std(ic)
    root = math.sqrt(x.ppy)
    ret, bench = _compound(r_long), _compound(r_bench)
    if n:
        span = slice(int(x.start[ks[0]]), int(x.end[ks[-1]]) + 1)
        dd = {s: max_dd(x.navs[s][span]) for s in ("long", "excess", "long_short")}
    else:
        dd = dict.fromkeys(("long", "excess", "long_short"), math.nan)
    return {
        "n_periods": n,
        "days": int((x.end[ks] - x.start[ks]).sum()),
        "rank_ic": ric_m,
        "ic": ic_m,
        "rank_ic_std": ric_s,
        "ic_std": ic_s,
        "rank_icir": ratio(ric_m, ric_s),
        "icir": ratio(ic_m, ic_s),
        "rank_icir_annual": ratio(ric_m, ric_s) * root,
        "rank_ic_t_nw": newey_west_t(ric),
        "icir_annual": ratio(ic_m, ic_s) * root,
        "rank_ic_win_rate": sign_win_rate(ric, dk),
        "ic_win_rate": sign_win_rate(ic, dk),
        "return": ret,
        "benchmark_return": bench,
        "excess_compounded": _compound(ex),
        "excess_arithmetic": ret - bench,
        "long_short_return": _compound(r_ls),
        "max_drawdown": dd["long"],
        "excess_max_drawdown": dd["excess"],
        "long_short_max_drawdown": dd["long_short"],
        "information_ratio": ratio(mean(ex), std(ex)) * root,
        "win_rate_vs_benchmark": float((r_long > r_bench).mean()) if n else math.nan,
        "win_rate_absolute": float((r_long > 0).mean()) if n else math.nan,
        "mean_excess": mean(ex),
        "gain_loss_ratio": gain_loss(ex),
    }


def rolling_mean(x: np.ndarray, window: int, min_valid: int) -> np.ndarray:
    """Mean of the finite values among the last ``window`` (NaN before a full window or when
    fewer than ``min_valid`` are finite): the moving average drawn over the Rank IC in the
    HTML report and :mod:`etfflow.plots`. Twin: the loop in ``tests/backtest/test_report.py``."""
    ok = np.isfinite(x)
    s = np.concatenate(([0.0], np.cumsum(np.where(ok, x, 0.0))))
    c = np.concatenate(([0], np.cumsum(ok)))
    k = np.arange(len(x))
    lo = np.maximum(k - window + 1, 0)
    cnt = c[k + 1] - c[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        m = (s[k + 1] - s[lo]) / cnt
    return np.where((k >= window - 1) & (cnt >= min_valid), m, np.nan)

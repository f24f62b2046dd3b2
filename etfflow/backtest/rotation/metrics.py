"""Performance of a strategy's daily NAV against its benchmark's, per calendar year and overall
(docs/methodology.md#86-strategy-metrics).

:func:`strategy_metrics` gives the table the rotation report prints for the composite, the
single-signal strategies, the flow quintiles and the long-short NAV (each against the
industry equal-weight benchmark). Unlike :mod:`etfflow.backtest.metrics`, which measures the
stock backtest on its holding periods, everything here comes from the two daily NAVs.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import polars as pl

from etfflow.backtest.metrics import TRADING_DAYS_PER_YEAR, gain_loss
from etfflow.backtest.rotation.result import METRICS
from etfflow.exceptions import EtfflowError, format_examples

#: Columns of :func:`strategy_metrics` (``summary`` of :data:`etfflow.backtest.rotation.result.
#: SCHEMAS` without its leading ``strategy`` column).
METRICS_SCHEMA = pl.Schema(
    {"period": pl.String, **dict.fromkeys(METRICS, pl.Float64), "n_days": pl.Int64}
)

_ROOT = math.sqrt(TRADING_DAYS_PER_YEAR)


def _as_days(dates: pl.Series | np.ndarray | Sequence[dt.date]) -> np.ndarray:
    if isinstance(dates, pl.Series):
        if not (dates.dtype == pl.Date or isinstance(dates.dtype, pl.Datetime)):
            raise EtfflowError(f"dates must be a Date series, got dtype {dates.dtype}")
        if dates.null_count():
            raise EtfflowError(f"dates hold {dates.null_count()} null(s)")
        return dates.to_numpy().astype("datetime64[D]")
    d = np.asarray(dates)
    if d.dtype == object or d.size == 0:
        d = np.array(list(d), dtype="datetime64[D]")
    if not np.issubdtype(d.dtype, np.datetime64):
        raise EtfflowError(f"dates must be dates (datetime64 or datetime.date), got {d.dtype}")
    d = d.astype("datetime64[D]")
    if np.isnat(d).any():
        raise EtfflowError(f"dates hold {int(np.isnat(d).sum())} missing value(s)")
    return d


def _examples(d: np.ndarray, a: np.ndarray, b: np.ndarray, rows: np.ndarray) -> str:
    return format_examples(
        [
            {"date": d[t].astype(dt.date), "nav": float(a[t]), "bench_nav": float(b[t])}
            for t in rows[:5]
        ]
    )


def _check_inputs(
    dates: pl.Series | np.ndarray | Sequence[dt.date], nav: np.ndarray, bench_nav: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Dates, both NAVs and the span ``[lo, hi]`` where both are finite (``lo > hi``: none)."""
    d = _as_days(dates)
    a = np.asarray(nav, dtype=np.float64)
    b = np.asarray(bench_nav, dtype=np.float64)
    if d.ndim != 1 or a.shape != d.shape or b.shape != d.shape:
        raise EtfflowError(
            f"dates, nav and bench_nav must be 1-D of one length, got shapes {d.shape}, "
            f"{a.shape}, {b.shape}"
        )
    back = np.flatnonzero(np.diff(d) <= np.timedelta64(0, "D"))
    if len(back):
        k = int(back[0]) + 1
        raise EtfflowError(
            f"dates must be strictly increasing: dates[{k}] = {d[k]} follows "
            f"dates[{k - 1}] = {d[k - 1]}"
        )
    fa, fb = np.isfinite(a), np.isfinite(b)
    odd = np.flatnonzero(fa != fb)
    if len(odd):
        raise EtfflowError(
            f"nav and bench_nav must have values on the same days; {len(odd)} day(s) have "
            f"only one of them:\n{_examples(d, a, b, odd)}\nhint: simulate both on the same "
            "rebalance schedule"
        )
    have = np.flatnonzero(fa)
    if not len(have):
        return d, a, b, 0, -1
    lo, hi = int(have[0]), int(have[-1])
    gap = np.flatnonzero(~fa[lo : hi + 1]) + lo
    if len(gap):
        raise EtfflowError(
            f"nav has {len(gap)} missing value(s) between its first day {d[lo]} and its last "
            f"day {d[hi]}:\n{_examples(d, a, b, gap)}"
        )
    bad = np.flatnonzero((a[lo : hi + 1] <= 0) | (b[lo : hi + 1] <= 0)) + lo
    if len(bad):
        raise EtfflowError(
            f"nav and bench_nav must be positive; {len(bad)} day(s) are not:\n"
            f"{_examples(d, a, b, bad)}"
        )
    return d, a, b, lo, hi


def _drawdown(x: np.ndarray) -> float:
    """Largest fall from a running peak, ``max_t 1 - x[t] / max_{s<=t} x[s]`` (>= 0)."""
    return float(np.max(1.0 - x / np.maximum.accumulate(x)))


def _std(x: np.ndarray) -> float:
    return float(x.std(ddof=1)) if len(x) > 1 else math.nan


def _div(a: float, b: float) -> float:
    return a / b if (math.isfinite(a) and math.isfinite(b) and b != 0) else math.nan


def _row(period: str, days: np.ndarray, a: np.ndarray, b: np.ndarray, annual: bool) -> dict:
    """Metrics of one period: ``a``/``b`` are the NAVs from the base day (the close before the
    period's first return) to its last day, ``days`` the dates of the returns (``len(a) - 1``)."""
    n = len(days)
    if n == 0:
        return {"period": period, **dict.fromkeys(METRICS, math.nan), "n_days": 0}
    r = a[1:] / a[:-1] - 1.0
    rb = b[1:] / b[:-1] - 1.0
    growth, growth_b = a[-1] / a[0], b[-1] / b[0]
    if annual:
        ann = growth ** (TRADING_DAYS_PER_YEAR / n) - 1.0
        ann_b = growth_b ** (TRADING_DAYS_PER_YEAR / n) - 1.0
    else:
        ann, ann_b = growth - 1.0, growth_b - 1.0
    vol = _std(r) * _ROOT
    te = _std(r - rb) * _ROOT
    excess = ann - ann_b
    # calendar months of the return days: a month's return is the NAV at its last day over the
    # NAV at the close before its first return day
    month = days.astype("datetime64[M]")
    first = np.flatnonzero(np.r_[True, month[1:] != month[:-1]])
    last = np.r_[first[1:], n] - 1
    m = a[last + 1] / a[first] - 1.0
    mb = b[last + 1] / b[first] - 1.0
    return {
        "period": period,
        "annual_return": ann,
        "volatility": vol,
        "sharpe": _div(ann, vol),
        "max_drawdown": _drawdown(a),
        "excess_return": excess,
        "tracking_error": te,
        "information_ratio": _div(excess, te),
        "relative_max_drawdown": _drawdown(a / b),
        "monthly_win_rate": float(np.mean(m > mb)),
        "gain_loss_ratio": gain_loss(m - mb),
        "n_days": n,
    }


def strategy_metrics(
    dates: pl.Series | np.ndarray | Sequence[dt.date],
    nav: np.ndarray,
    bench_nav: np.ndarray,
    *,
    periods: Literal["year", "all"] = "year",
) -> pl.DataFrame:
    """Return, risk and benchmark-relative metrics of a daily NAV, per calendar year and overall.

    Parameters
    ----------
    dates
        ``(T,)`` strictly increasing trading days (Polars ``Date`` series, ``datetime64`` or
        ``datetime.date`` values).
    nav, bench_nav
        ``(T,)`` daily NAVs of the strategy and of its benchmark (e.g. from
        :func:`etfflow.backtest.rotation.portfolio.simulate_nav`): finite and positive on the
        same contiguous run of days, NaN outside it.
    periods
        ``"year"``: one row per calendar year with a return, then ``"all"``; ``"all"``: only
        the whole-period row.

    Returns
    -------
    polars.DataFrame
        :data:`METRICS_SCHEMA`: ``period`` (``"2023"``, …, ``"all"``), the ten metrics of
        :data:`etfflow.backtest.rotation.result.METRICS` (Float64, decimals) and ``n_days``
        (Int64, daily returns in the period). Without a single return (fewer than two NAV
        days) the ``all`` row has NaN metrics and ``n_days`` 0.

    Raises
    ------
    EtfflowError
        Lengths differ, dates not increasing, values on different days, a gap inside the NAV,
        a non-positive NAV (the message lists example dates).

    Notes
    -----
    Daily returns ``r_t = nav_t / nav_{t-1} - 1`` exist from the day after the NAV's first
    day; ``rb_t`` the benchmark's. A period's ``n`` returns are those dated in it; its base is
    the close before its first return (a year starts from the previous year's last close, the
    whole sample from the NAV's first day, which has no return of its own). With
    ``G = nav_end / nav_base`` and 242 days a year:

    - ``annual_return``: ``G^(242/n) - 1`` for ``all``; ``G - 1`` (not annualised) for a year.
    - ``volatility``: ``std(r, ddof=1) * sqrt(242)``; NaN with fewer than two returns.
    - ``sharpe``: ``annual_return / volatility``, no risk-free rate; NaN if volatility is 0.
    - ``max_drawdown``: ``max_t 1 - nav_t / max_{s<=t} nav_s`` over the base and the period's
      days, a positive number (0 without a fall).
    - ``excess_return``: ``annual_return - benchmark annual_return`` (arithmetic difference of
      the two annual figures).
    - ``tracking_error``: ``std(r - rb, ddof=1) * sqrt(242)``.
    - ``information_ratio``: ``excess_return / tracking_error``; NaN when the tracking error
      is 0 (e.g. the strategy is its benchmark).
    - ``relative_max_drawdown``: ``max_drawdown`` of ``nav / bench_nav``.
    - ``monthly_win_rate``: share of calendar months with ``m > mb`` (strictly), where a
      month's return is its last NAV over the close before its first return; the first and
      last months count even when partial.
    - ``gain_loss_ratio``: ``mean(x | x > 0) / |mean(x | x < 0)|`` over the monthly excess
      ``x = m - mb``; NaN when no month is below (or none above) the benchmark.

    Differences from the stock backtest (:func:`etfflow.backtest.metrics.period_metrics`):
    there, returns are compounded over holding periods, the information ratio is the mean
    over the standard deviation of per-period excess times ``sqrt(periods per year)``, years
    are keyed by the signal day and drawdowns are negative; here all risk figures come from
    daily NAV returns, excess is the difference of annual returns, drawdowns are positive and
    the relative drawdown and the monthly figures follow Huafu 2026-02 (the report's strategy
    table: Sharpe without a risk-free rate, monthly excess win rate and gain/loss ratio).

    Examples
    --------
    >>> import datetime as dt
    >>> import numpy as np
    >>> days = [dt.date(2024, 12, 30), dt.date(2024, 12, 31), dt.date(2025, 1, 2),
    ...         dt.date(2025, 1, 3)]
    >>> nav = np.array([1.0, 1.02, 1.0, 1.01])
    >>> bench = np.array([1.0, 1.01, 1.01, 1.01])
    >>> out = strategy_metrics(days, nav, bench)
    >>> cols = ("annual_return", "excess_return", "max_drawdown")
    >>> for row in out.select("period", pl.col(cols).round(4), "n_days").rows():
    ...     print(row)
    ('2024', 0.02, 0.01, 0.0, 1)
    ('2025', -0.0098, -0.0098, 0.0196, 2)
    ('all', 1.2315, 0.0, 0.0196, 3)

    The whole sample (three returns, 1.0 -> 1.01) annualises to ``1.01^(242/3) - 1``; the
    benchmark too, so the excess is 0.
    """
    if periods not in ("year", "all"):
        raise EtfflowError(f"periods must be 'year' or 'all', got {periods!r}")
    d, a, b, lo, hi = _check_inputs(dates, nav, bench_nav)
    rows = []
    if hi > lo and periods == "year":
        years = d[lo + 1 : hi + 1].astype("datetime64[Y]")
        starts = np.flatnonzero(np.r_[True, years[1:] != years[:-1]]) + lo + 1
        stops = np.r_[starts[1:], hi + 1]
        for s, e in zip(starts, stops, strict=True):
            label = str(d[s].astype("datetime64[Y]"))
            rows.append(_row(label, d[s:e], a[s - 1 : e], b[s - 1 : e], annual=False))
    if hi >= lo:
        rows.append(_row("all", d[lo + 1 : hi + 1], a[lo : hi + 1], b[lo : hi + 1], annual=True))
    else:
        rows.append(_row("all", d[:0], a[:0], b[:0], annual=True))
    return pl.DataFrame(rows, schema=METRICS_SCHEMA)

"""The numbers tear-sheet users expect beside the charts: annualised return, volatility, Sharpe
ratio (risk-free rate 0) and max drawdown of each NAV series and of every group
(:func:`series_stats`; the HTML report shows them in each factor's section)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from etfflow.backtest.engine import TRADING_DAYS_PER_YEAR, Evaluation
from etfflow.plots.panels import check_factor, groups_of, held_anything, nav_series
from etfflow.plots.panels import floats as as_floats

__all__ = ["STATS_SCHEMA", "series_stats"]

#: Columns of :func:`series_stats`.
STATS_SCHEMA = pl.Schema(
    {
        "factor": pl.String,
        "series": pl.String,
        "ann_return": pl.Float64,
        "ann_volatility": pl.Float64,
        "sharpe": pl.Float64,
        "max_drawdown": pl.Float64,
        "n_days": pl.Int32,
    }
)


def _daily_stats(nav_: np.ndarray) -> tuple[float, float, float, float, int]:
    x = nav_[np.isfinite(nav_)]
    n = len(x) - 1
    if n < 1:
        return math.nan, math.nan, math.nan, math.nan, max(n, 0)
    r = x[1:] / x[:-1] - 1.0
    ann = float(x[-1] / x[0]) ** (TRADING_DAYS_PER_YEAR / n) - 1.0 if x[-1] / x[0] > 0 else math.nan
    vol = float(r.std(ddof=1)) * math.sqrt(TRADING_DAYS_PER_YEAR) if n > 1 else math.nan
    mu = float(r.mean()) * TRADING_DAYS_PER_YEAR
    sharpe = mu / vol if math.isfinite(vol) and vol > 0 else math.nan
    mdd = float(np.min(x / np.maximum.accumulate(x) - 1.0))
    return ann, vol, sharpe, mdd, n


def series_stats(ev: Evaluation, factor: str | None = None) -> pl.DataFrame:
    """Annualised return, volatility, Sharpe and max drawdown of each NAV series and group.

    Parameters
    ----------
    ev
        An evaluation.
    factor
        One factor, or None for all factors of ``ev``.

    Returns
    -------
    pl.DataFrame
        :data:`STATS_SCHEMA`: one row per factor and series (``long``, ``short``,
        ``long_short``, ``benchmark``, ``excess`` from the daily NAVs, then ``group_1`` ..
        ``group_G`` from the per-period group returns); null where a statistic is undefined
        (fewer than two returns, zero volatility, a factor that never held anything).

    Notes
    -----
    Daily series: with ``r[d] = nav[d] / nav[d-1] - 1`` over the finite NAV days,
    ``ann_return = (nav_end / nav_start) ** (242 / n) - 1``, ``ann_volatility = std(r, ddof=1)
    · sqrt(242)``, ``sharpe = mean(r) · 242 / ann_volatility`` (risk-free rate 0),
    ``max_drawdown = min(nav / cummax(nav) - 1)``. Groups (period returns ``R_k`` over periods
    of ``h`` trading days each, ``ppy = 242 / h`` or 12 for monthly): ``ann_return`` is the
    group's annualised return of ``ev.group_summary``, ``ann_volatility = std(R, ddof=1) ·
    sqrt(ppy)``, ``sharpe = mean(R) · ppy / ann_volatility``, drawdown of the compounded path
    at period ends.
    """
    names = ev.summary["factor"].to_list() if factor is None else [factor]
    rows: list[dict] = []
    for f in names:
        s = check_factor(ev, f)
        _, navs = nav_series(ev, f)
        held = held_anything(ev, f)
        if not held:
            navs = {}
        for key in ("long", "short", "long_short", "benchmark", "excess"):
            v = navs.get(key, np.zeros(0))
            ann, vol, sh, mdd, n = _daily_stats(v)
            rows.append(
                {
                    "factor": f,
                    "series": key,
                    "ann_return": ann,
                    "ann_volatility": vol,
                    "sharpe": sh,
                    "max_drawdown": mdd,
                    "n_days": n,
                }
            )
        reb = str(s.get("rebalance"))
        ppy = 12.0 if reb == "month" else TRADING_DAYS_PER_YEAR / float(reb)
        gs = ev.group_summary.filter(pl.col("factor") == f)
        ann_by_group = dict(zip(gs["group"].to_list(), gs["ann_return"].to_list(), strict=True))
        for k, part in groups_of(ev, f).group_by("group", maintain_order=True):
            grp = int(k[0])
            r = as_floats(part["ret"])
            r = r[np.isfinite(r)] if held else np.zeros(0)
            vol = float(r.std(ddof=1)) * math.sqrt(ppy) if len(r) > 1 else math.nan
            sh = float(r.mean()) * ppy / vol if math.isfinite(vol) and vol > 0 else math.nan
            full = np.concatenate(([1.0], np.cumprod(1.0 + r)))
            mdd = float(np.min(full / np.maximum.accumulate(full) - 1.0)) if len(r) else math.nan
            g_ann: float | None = ann_by_group.get(grp) if held else None
            rows.append(
                {
                    "factor": f,
                    "series": f"group_{grp}",
                    "ann_return": math.nan if g_ann is None else g_ann,
                    "ann_volatility": vol,
                    "sharpe": sh,
                    "max_drawdown": mdd,
                    "n_days": None,
                }
            )
    floats = [c for c, t in STATS_SCHEMA.items() if t == pl.Float64]
    return pl.DataFrame(rows, schema=STATS_SCHEMA).with_columns(pl.col(floats).fill_nan(None))

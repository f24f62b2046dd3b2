"""Time-series rank correlation per group and year (Huaan 2024-12 tables 10, 19, 25, 43).

Definition: docs/methodology.md#512-time-series-rank-correlation-of-industry-flows.

For each group (an industry or a board) and calendar year: the Spearman correlation, over
the month-end dates of that year, between a flow metric on the date and the group's return
over the next ``horizon`` trading days; per year, the mean across groups and the share of
groups with a positive correlation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl

from etfflow.backtest import engine_nb as nb
from etfflow.backtest.engine import month_ends
from etfflow.exceptions import EtfflowError

TSCORR_SCHEMA = pl.Schema(
    {
        "year": pl.Int32,
        "mean_corr": pl.Float64,
        "share_positive": pl.Float64,
        "n_groups": pl.Int32,
        "n_dates": pl.Int32,
    }
)
TSCORR_GROUP_SCHEMA = pl.Schema(
    {"year": pl.Int32, "group": pl.String, "corr": pl.Float64, "n": pl.Int32}
)


def forward_returns(returns: np.ndarray, rows: np.ndarray, horizon: int) -> np.ndarray:
    """``prod(1 + returns[t+1 .. t+horizon]) - 1`` for each ``t`` in ``rows`` (NaN if any
    daily return in the window is missing or the window passes the end)."""
    t_n = returns.shape[0]
    out = np.full((len(rows), returns.shape[1]), np.nan)
    for j, t in enumerate(rows):
        if t + horizon <= t_n - 1:
            out[j] = np.prod(1.0 + returns[t + 1 : t + horizon + 1], axis=0) - 1.0
    return out


def _check(metric: np.ndarray, returns: np.ndarray, dates: np.ndarray, horizon: int):
    m = np.asarray(metric, dtype=np.float64)
    r = np.asarray(returns, dtype=np.float64)
    d = np.asarray(dates).astype("datetime64[D]")
    if m.ndim != 2 or m.shape != r.shape or d.shape != (m.shape[0],):
        raise EtfflowError(
            f"ts_rank_corr: metric {m.shape}, returns {r.shape} and dates {d.shape} must be "
            "(T, G), (T, G) and (T,)"
        )
    if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 1:
        raise EtfflowError(f"ts_rank_corr: horizon must be a positive integer, got {horizon!r}")
    return m, r, d


def ts_rank_corr_by_group(
    metric: np.ndarray,
    returns: np.ndarray,
    dates: np.ndarray,
    *,
    horizon: int = 20,
    labels: Sequence[str] | None = None,
    min_obs: int = 3,
) -> pl.DataFrame:
    """Per year and group, the Spearman correlation of ``metric`` vs the next-``horizon``-day
    return over the month ends of the year (:data:`TSCORR_GROUP_SCHEMA`), then per group over
    every month end of the data (the whole-period rows, ``year`` null, last).

    Parameters are those of :func:`ts_rank_corr`; ``labels`` names the groups (default
    ``"0", "1", ...``). ``corr`` is NaN (null) with fewer than ``min_obs`` pairs or a constant
    series; ``n`` counts the pairs.
    """
    m, r, d = _check(metric, returns, dates, horizon)
    g_n = m.shape[1]
    names = [str(i) for i in range(g_n)] if labels is None else [str(x) for x in labels]
    if len(names) != g_n:
        raise EtfflowError(f"ts_rank_corr: {len(names)} labels for {g_n} groups")
    rows = month_ends(d)
    rows = rows[rows + horizon <= len(d) - 1]
    fwd = forward_returns(r, rows, int(horizon))
    x = m[rows]
    years = d[rows].astype("datetime64[Y]").astype(np.int64) + 1970
    out: dict[str, list] = {"year": [], "group": [], "corr": [], "n": []}
    spans: list[tuple[int | None, np.ndarray]] = [(int(y), years == y) for y in np.unique(years)]
    if len(years):
        spans.append((None, np.ones(len(years), dtype=np.bool_)))  # the whole period
    for y, sel in spans:
        for g in range(g_n):
            a, b = x[sel, g], fwd[sel, g]
            ok = np.isfinite(a) & np.isfinite(b)
            c = math.nan
            if ok.sum() >= max(min_obs, 2):
                ra, _ = nb._average_ranks(np.ascontiguousarray(a[ok]))
                rb, _ = nb._average_ranks(np.ascontiguousarray(b[ok]))
                c = float(nb._pearson(ra, rb))
            out["year"].append(y)
            out["group"].append(names[g])
            out["corr"].append(c)
            out["n"].append(int(ok.sum()))
    return pl.DataFrame(out, schema=TSCORR_GROUP_SCHEMA).with_columns(pl.col("corr").fill_nan(None))


def ts_rank_corr(
    metric: np.ndarray,
    returns: np.ndarray,
    dates: np.ndarray,
    *,
    horizon: int = 20,
    min_obs: int = 3,
) -> pl.DataFrame:
    """Per year, the mean time-series Spearman correlation across groups
    (docs/methodology.md#512-time-series-rank-correlation-of-industry-flows).

    Parameters
    ----------
    metric
        ``(T, G)`` flow metric per day and group (e.g. an industry's ``w_passive_inflow_20``),
        NaN = missing.
    returns
        ``(T, G)`` *daily* return of each group (decimal, close ``t-1`` -> close ``t``); the
        forward return is compounded from them.
    dates
        ``(T,)`` trading days (``datetime64[D]``).
    horizon
        Trading days of the forward return (20 in the reports).
    min_obs
        Fewer month ends with both values give no correlation for that group and year.

    Returns
    -------
    pl.DataFrame
        :data:`TSCORR_SCHEMA`: ``year``, ``mean_corr`` (mean over groups with a
        correlation), ``share_positive`` (share of those with correlation > 0), ``n_groups``
        (groups with a correlation) and ``n_dates`` (month ends used that year); a last row
        with ``year`` null is the whole period (each group's correlation over every month
        end, the reports' "全部" row).

    Notes
    -----
    Dates are the month ends of :func:`etfflow.backtest.engine.month_ends` (last trading
    day of each calendar month) whose forward window ``t+1 .. t+horizon`` lies in the data;
    a year is the calendar year of the month end. The metric on ``t`` uses data up to ``t``
    only; the forward return ``prod(1 + r[t+1..t+horizon]) - 1`` is NaN if a daily return
    in the window is missing. Spearman = Pearson of average ranks.

    Examples
    --------
    >>> import numpy as np
    >>> dates = np.arange(np.datetime64("2023-01-02"), np.datetime64("2024-12-31"))
    >>> dates = dates[np.is_busday(dates)]
    >>> rng = np.random.default_rng(1)
    >>> ret = rng.normal(0, 0.01, (len(dates), 4))
    >>> fwd = np.full_like(ret, np.nan)
    >>> for t in range(len(dates) - 20):
    ...     fwd[t] = np.prod(1 + ret[t + 1 : t + 21], axis=0) - 1
    >>> ts_rank_corr(fwd, ret, dates, horizon=20)["mean_corr"].to_list()
    [1.0, 1.0, 1.0]
    """
    m, r, d = _check(metric, returns, dates, horizon)
    by_group = ts_rank_corr_by_group(m, r, d, horizon=horizon, min_obs=min_obs)
    rows = month_ends(d)
    rows = rows[rows + horizon <= len(d) - 1]
    years = pl.Series("year", d[rows].astype("datetime64[Y]").astype(np.int64) + 1970)
    whole = [len(rows)] if len(rows) else []  # the whole-period row (year null)
    n_dates = pl.concat(
        [
            pl.DataFrame({"year": years}).group_by("year").len("n_dates"),
            pl.DataFrame({"year": [None] * len(whole), "n_dates": whole}),
        ],
        how="vertical_relaxed",
    )
    return (
        by_group.group_by("year")
        .agg(
            pl.col("corr").mean().alias("mean_corr"),
            (pl.col("corr") > 0).mean().alias("share_positive"),
            pl.col("corr").count().alias("n_groups"),
        )
        .join(
            n_dates.with_columns(pl.col("year").cast(pl.Int32)),
            on="year",
            how="left",
            nulls_equal=True,
        )
        .select(TSCORR_SCHEMA.names())
        .cast(TSCORR_SCHEMA)
        .sort("year", nulls_last=True)
    )

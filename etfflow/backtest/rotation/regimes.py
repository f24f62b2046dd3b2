"""Weekly style regimes of Huafu 2026-02 (docs/methodology.md#8-industry-rotation).

Two ratios of index closes — size (CSI 300 / CSI 1000) and style (CNI Growth / CNI Value) —
are taken at each week-end, smoothed with the one-sided HP filter
(:func:`etfflow.backtest.rotation.hp.one_sided_hp`) and classified by the factor momentum of
the trend: rising means the large-cap (growth) regime, falling the small-cap (value) one.
Every value dated t uses closes dated <= t only.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from etfflow.backtest.rotation.hp import one_sided_hp
from etfflow.backtest.rotation.result import SCHEMAS
from etfflow.exceptions import DataContractError, EtfflowError, format_examples

__all__ = ["factor_momentum", "regime_table", "weekly_index_closes"]

_INDEX_DAILY = "index_daily"


def factor_momentum(tau: np.ndarray) -> np.ndarray:
    """Factor momentum of a trend: its value minus the mean of the two before.

    Parameters
    ----------
    tau
        Trend, shape ``(T,)`` (unitless; NaN where missing).

    Returns
    -------
    numpy.ndarray
        ``signal``, shape ``(T,)`` float64; NaN at ``t < 2`` and wherever one of
        ``tau[t]``, ``tau[t-1]``, ``tau[t-2]`` is NaN.

    Raises
    ------
    EtfflowError
        ``tau`` is not a 1-D array.

    Notes
    -----
    The report's "因子动量定义为当期因子值与过去两期均值之差":

    .. math:: \\mathrm{signal}_t = \\tau_t - (\\tau_{t-1} + \\tau_{t-2}) / 2

    on positions (a missing week is not skipped: it makes the next two signals NaN). > 0 is
    an up-trend ("大于0表示上行"), otherwise a down-trend.

    Examples
    --------
    >>> import numpy as np
    >>> factor_momentum(np.array([1.0, 2.0, 4.0, 3.0, np.nan, 5.0])).tolist()
    [nan, nan, 2.5, 0.0, nan, nan]
    """
    arr = np.asarray(tau, dtype=np.float64)
    if arr.ndim != 1:
        raise EtfflowError(f"factor_momentum needs a 1-D trend, got shape {arr.shape}")
    signal = np.full(arr.shape, np.nan)
    signal[2:] = arr[2:] - (arr[1:-1] + arr[:-2]) / 2.0
    return signal


def _check_dates(dates: pl.Series, what: str) -> None:
    """Week dates must be a null-free, strictly increasing ``pl.Date`` series."""
    if dates.dtype != pl.Date:
        raise EtfflowError(f"{what}: week dates must have dtype Date, got {dates.dtype}")
    if dates.null_count():
        raise EtfflowError(f"{what}: week dates contain {dates.null_count()} null(s)")
    day = dates.to_physical().to_numpy()
    bad = np.flatnonzero(np.diff(day) <= 0)
    if bad.size:
        pairs = [(dates[int(i)], dates[int(i) + 1]) for i in bad[:5]]
        raise EtfflowError(
            f"{what}: week dates must be strictly increasing; out of order (before, after): "
            + ", ".join(f"({a.isoformat()}, {b.isoformat()})" for a, b in pairs)
        )


def _ratio(dates: pl.Series, pair: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b`` after checking shapes and that every known close is positive."""
    out = []
    for side, arr in (("a", a), ("b", b)):
        x = np.asarray(arr, dtype=np.float64)
        if x.shape != (dates.len(),):
            raise EtfflowError(
                f"regime_table: closes of pair {pair!r} ({side}) have shape {x.shape}, "
                f"expected ({dates.len()},) like the week dates"
            )
        bad = np.flatnonzero(~np.isnan(x) & ~((x > 0) & (x < np.inf)))
        if bad.size:
            rows = [{"date": dates[int(i)], "close": float(x[int(i)])} for i in bad[:5]]
            raise EtfflowError(
                f"regime_table: index closes of pair {pair!r} ({side}) must be positive and "
                f"finite; {bad.size} bad week(s), e.g.\n{format_examples(rows)}"
            )
        out.append(x)
    return out[0] / out[1]


def regime_table(
    dates: pl.Series, closes: dict[str, tuple[np.ndarray, np.ndarray]], lam: float
) -> pl.DataFrame:
    """Weekly ratio, one-sided HP trend, factor momentum and regime of each index pair.

    Parameters
    ----------
    dates
        Week-end dates, shape ``(W,)``, dtype ``Date``, strictly increasing.
    closes
        ``{pair: (a, b)}``: the two indices' closes at those dates (index points, shape
        ``(W,)``; NaN where unknown), e.g. ``{"size": (csi300, csi1000), "style": (growth,
        value)}`` from :func:`weekly_index_closes`.
    lam
        Smoothing λ of the HP filter (weekly observations).

    Returns
    -------
    polars.DataFrame
        Schema ``SCHEMAS["regimes"]`` (date, pair, ratio, trend, signal, regime), one row per
        week and pair, sorted by (date, pair); missing floats are null.

    Raises
    ------
    EtfflowError
        Dates not a strictly increasing Date series; closes of the wrong shape, or a known
        close that is not positive and finite (the message shows up to five weeks).

    Notes
    -----
    Huafu 2026-02, style regimes. ``ratio = a / b`` (null where a close is unknown);
    ``trend`` = one-sided HP filter of the ratio
    (:func:`~etfflow.backtest.rotation.hp.one_sided_hp`: at week t
    "在t时点仅采用t时点以前的数据…取求解序列中最后一个数据"); ``signal`` =
    ``trend[t] - (trend[t-1] + trend[t-2]) / 2`` (:func:`factor_momentum`); ``regime`` = 1 if
    ``signal > 0`` (large-cap for size, growth for style), 0 if ``signal <= 0``, null if
    the signal is unknown. A row dated t depends on closes dated <= t only.

    Examples
    --------
    >>> import datetime as dt
    >>> import numpy as np
    >>> import polars as pl
    >>> weeks = pl.Series([dt.date(2024, 1, 5) + dt.timedelta(weeks=k) for k in range(4)])
    >>> a, b = np.array([110.0, 120.0, 150.0, 140.0]), np.full(4, 100.0)
    >>> regime_table(weeks, {"size": (a, b)}, 1.0)["regime"].to_list()
    [None, None, 1, 1]
    """
    _check_dates(dates, "regime_table")
    frames = []
    for pair in sorted(closes):
        a, b = closes[pair]
        ratio = _ratio(dates, pair, a, b)
        trend = one_sided_hp(ratio, lam)
        frames.append(
            pl.DataFrame(
                {
                    "date": dates,
                    "pair": pl.Series([pair] * dates.len(), dtype=pl.String),
                    "ratio": ratio,
                    "trend": trend,
                    "signal": factor_momentum(trend),
                }
            )
        )
    if not frames:
        return pl.DataFrame(schema=SCHEMAS["regimes"])
    signal = pl.col("signal")
    return (
        pl.concat(frames)
        .with_columns(
            regime=pl.when(signal.is_nan()).then(None).otherwise((signal > 0).cast(pl.Int8)),
        )
        .with_columns(pl.col("ratio", "trend", "signal").fill_nan(None))
        .sort("date", "pair")
        .select(pl.col(name).cast(dtype) for name, dtype in SCHEMAS["regimes"].items())
    )


def weekly_index_closes(
    index_daily: pl.DataFrame, codes: list[str], week_dates: pl.Series
) -> dict[str, np.ndarray]:
    """As-of close of each index at each week date (latest trading day <= the week date).

    Parameters
    ----------
    index_daily
        Table ``index_daily`` (date ``Date``, index_code, close in index points), one row
        per (date, index_code).
    codes
        Index codes to read, e.g. ``["000300.SH", "000852.SH"]``.
    week_dates
        Week-end dates, shape ``(W,)``, dtype ``Date``, strictly increasing.

    Returns
    -------
    dict[str, numpy.ndarray]
        ``{code: closes}``, each shape ``(W,)`` float64; NaN before the index's first row,
        and where the latest row on or before the week date has a null close.

    Raises
    ------
    DataContractError
        ``index_daily`` lacks a column, has no row for a requested code (the message names
        ``index_daily.index_code``, the missing codes and the codes present) or repeats a
        (date, index_code) key.
    EtfflowError
        Week dates not a strictly increasing Date series.

    Notes
    -----
    As-of close: ``close[w] = close(d*)`` with ``d* = max{d : d <= week_date[w]}`` among the
    code's rows — point in time, never a later close. An index that stops publishing keeps
    its last close (as-of); one that starts late is NaN until its first row.

    Examples
    --------
    >>> import datetime as dt
    >>> import polars as pl
    >>> daily = pl.DataFrame(
    ...     {
    ...         "date": [dt.date(2024, 1, 2), dt.date(2024, 1, 4), dt.date(2024, 1, 9)],
    ...         "index_code": ["000300.SH"] * 3,
    ...         "close": [3400.0, 3380.0, 3300.0],
    ...     }
    ... )
    >>> weeks = pl.Series([dt.date(2024, 1, 1), dt.date(2024, 1, 5), dt.date(2024, 1, 12)])
    >>> weekly_index_closes(daily, ["000300.SH"], weeks)["000300.SH"].tolist()
    [nan, 3380.0, 3300.0]
    """
    for column in ("date", "index_code", "close"):
        if column not in index_daily.columns:
            raise DataContractError.missing_column(
                table=_INDEX_DAILY, column=column, available=index_daily.columns
            )
    _check_dates(week_dates, "weekly_index_closes")
    table = index_daily.select(
        pl.col("date").cast(pl.Date),
        pl.col("index_code").cast(pl.String),
        pl.col("close").cast(pl.Float64),
    )
    present = sorted(c for c in table["index_code"].unique().to_list() if c is not None)
    missing = [c for c in dict.fromkeys(codes) if c not in present]
    if missing:
        raise DataContractError(
            f"index_daily.index_code has no rows for {', '.join(missing)}; "
            f"codes present: {', '.join(present) or '(none)'}",
            table=_INDEX_DAILY,
            column="index_code",
            hint="add the index closes to index_daily, or choose codes present with the "
            "rotation options size_indices / style_indices",
        )
    weeks = week_dates.to_physical().to_numpy().astype(np.int64)
    out: dict[str, np.ndarray] = {}
    for code in dict.fromkeys(codes):
        rows = table.filter(pl.col("index_code") == code).sort("date")
        day = rows["date"].to_physical().to_numpy().astype(np.int64)
        dup = np.flatnonzero(np.diff(day) == 0)
        if dup.size:
            raise DataContractError(
                "duplicate (date, index_code) key",
                table=_INDEX_DAILY,
                column="date",
                rule="duplicate_key",
                examples=rows[np.concatenate([dup, dup + 1])[:5].tolist()],
            )
        close = rows["close"].fill_null(np.nan).to_numpy()
        pos = np.searchsorted(day, weeks, side="right") - 1
        out[code] = np.where(pos >= 0, close[np.maximum(pos, 0)], np.nan)
    return out

"""Top-k lists: the stocks with the largest passive-ownership metrics on one date.

Huaan 2024-12 tables 34 (passive absolute content: ``share_passive_fund``, ``share_passive``,
``n_etf``, ``n_index``, ``mv_passive``) and 39 (passive ratio content: ``w_passive``,
``w_passive_diff_20``, ``w_passive_inflow_20``); Kaiyuan 2024-09 tables 2–3 (``w_passive``,
``n_etf``). Definitions of the metrics: docs/methodology.md#23-stock-level-metrics and
docs/methodology.md#32-the-factor-families.

:func:`top_lists` is pure: it takes the daily values, the ``stocks`` table and the
``stock_industry`` table as frames and reads no file. Only rows dated on the chosen date are
used (the industry is the CITIC level-1 industry in force on that date), so the lists are
point in time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import cast

import polars as pl

from etfflow.exceptions import EtfflowError

#: Huaan 2024-12 table 34: passive absolute content (columns of ``stock_flow``).
ABSOLUTE_METRICS: tuple[str, ...] = (
    "share_passive_fund",
    "share_passive",
    "n_etf",
    "n_index",
    "mv_passive",
)
#: Huaan 2024-12 table 39: passive ratio content (``w_passive`` from ``stock_flow``, the two
#: others raw stock factors).
RATIO_METRICS: tuple[str, ...] = ("w_passive", "w_passive_diff_20", "w_passive_inflow_20")
#: Every metric a top-k list can rank, in the order the lists are printed.
TOP_METRICS: tuple[str, ...] = ABSOLUTE_METRICS + RATIO_METRICS
#: Units of the ``value`` column per metric (docs/methodology.md#23-stock-level-metrics).
UNITS: dict[str, str] = {
    "share_passive_fund": "fund shares",
    "share_passive": "fund shares",
    "n_etf": "count",
    "n_index": "count",
    "mv_passive": "CNY",
    "w_passive": "decimal",
    "w_passive_diff_20": "decimal",
    "w_passive_inflow_20": "decimal",
}
#: 1 亿 = 1e8 (CNY or shares).
YI = 1e8

#: Columns of :func:`top_lists`' result (``float_mcap`` in 亿 CNY, ``value`` in the metric's
#: own units, :data:`UNITS`).
TOP_SCHEMA = pl.Schema(
    {
        "date": pl.Date,
        "metric": pl.String,
        "rank": pl.Int32,
        "code": pl.String,
        "name": pl.String,
        "board": pl.String,
        "industry_l1": pl.String,
        "float_mcap": pl.Float64,
        "value": pl.Float64,
    }
)
#: Columns of :func:`cross_section_counts`.
COUNTS_SCHEMA = pl.Schema(
    {"metric": pl.String, "n_stocks": pl.Int32, "n_valued": pl.Int32, "n_missing": pl.Int32}
)


def check_metrics(metrics: Sequence[str], available: Sequence[str] = TOP_METRICS) -> list[str]:
    """``metrics`` as a list, refusing an empty list, repeats and names not in ``available``."""
    names = [m.strip() for m in metrics]
    if not names or any(not m for m in names):
        raise EtfflowError(f"no metric given: choose among {', '.join(available)}")
    unknown = [m for m in names if m not in available]
    if unknown:
        raise EtfflowError(
            f"unknown top-list metric {', '.join(map(repr, unknown))}: choose among "
            f"{', '.join(available)}"
        )
    if len(set(names)) != len(names):
        raise EtfflowError(f"metric named twice in {', '.join(names)}")
    return names


def nearest_dates(dates: pl.Series, date: dt.date, n: int = 2) -> list[dt.date]:
    """Up to ``n`` dates of ``dates`` on each side of ``date``, in order."""
    u = dates.unique().sort()
    before = u.filter(u < date).tail(n).to_list()
    after = u.filter(u > date).head(n).to_list()
    return [*before, *after]


def pick_date(values: pl.DataFrame, date: dt.date | None) -> dt.date:
    """``date`` if the values have rows on it (default: their last date); otherwise an error
    naming the nearest dates that have."""
    if values.height == 0:
        raise EtfflowError("no stock rows to rank: the stock table is empty")
    if date is None:
        return cast(dt.date, values["date"].max())
    if values.filter(pl.col("date") == date).height == 0:
        near = nearest_dates(values["date"], date)
        first, last = (cast(dt.date, values["date"].min()), cast(dt.date, values["date"].max()))
        raise EtfflowError(
            f"no stock rows on {date} (the run covers {first} to {last}, trading days only); "
            f"nearest dates: {', '.join(str(d) for d in near)}"
        )
    return date


def industry_on(industry: pl.DataFrame, date: dt.date) -> pl.DataFrame:
    """``code, industry_l1``: each stock's CITIC level-1 industry in force on ``date``.

    An interval is in force from ``start_date`` to ``end_date`` inclusive (null or no
    ``end_date`` column: open); when intervals of a stock overlap the latest start wins.
    """
    in_force = pl.col("start_date") <= date
    if "end_date" in industry.columns:
        in_force &= pl.col("end_date").is_null() | (pl.col("end_date") >= date)
    return (
        industry.filter(in_force)
        .sort("code", "start_date")
        .group_by(pl.col("code").cast(pl.String), maintain_order=True)
        .agg(pl.col("industry_l1").cast(pl.String).last())
    )


def cross_section_counts(
    values: pl.DataFrame, metrics: Sequence[str], *, date: dt.date
) -> pl.DataFrame:
    """Per metric, the stocks on ``date``, those with a value, and those left out of the
    lists because their value is null or NaN (:data:`COUNTS_SCHEMA`)."""
    day = values.filter(pl.col("date") == date)
    rows = []
    for m in metrics:
        v = day[m].cast(pl.Float64)
        valued = int((v.is_not_null() & v.is_not_nan()).sum())
        rows.append((m, day.height, valued, day.height - valued))
    return pl.DataFrame(rows, schema=COUNTS_SCHEMA, orient="row")


def top_lists(
    values: pl.DataFrame,
    stocks: pl.DataFrame,
    industry: pl.DataFrame,
    metrics: Sequence[str] = TOP_METRICS,
    *,
    date: dt.date | None = None,
    k: int = 15,
) -> pl.DataFrame:
    """The ``k`` stocks with the largest value of each metric on one date.

    Parameters
    ----------
    values
        Daily stock values: ``date, code, float_mcap`` (CNY) and one column per metric (the
        look-through's ``stock_flow`` rows, plus raw factor columns).
    stocks
        The dataset's ``stocks`` table (``code, name, board``).
    industry
        The dataset's ``stock_industry`` table (``code, start_date, industry_l1`` and
        optionally ``end_date``).
    metrics
        Columns of ``values`` to rank (default :data:`TOP_METRICS`).
    date
        The date (default: the last date of ``values``); it must have rows.
    k
        List length (a cross-section with fewer valued stocks gives a shorter list).

    Returns
    -------
    pl.DataFrame
        :data:`TOP_SCHEMA`, metrics in the order given, each by ``rank`` 1..k.

    Notes
    -----
    Descending by value; equal values are ordered by stock code ascending, and ranks are
    1, 2, 3... without shared ranks. A stock whose value is null or NaN on the date is left
    out (:func:`cross_section_counts` counts them). ``float_mcap`` is in 亿 CNY (1e8 CNY);
    ``value`` keeps the metric's units (:data:`UNITS`). Only rows dated ``date`` are read.

    Raises
    ------
    EtfflowError
        An unknown metric (the error lists the valid ones), ``k < 1``, a date without rows
        (the error names the nearest dates with rows), or duplicate ``(date, code)`` rows.

    Examples
    --------
    >>> import datetime as dt
    >>> d = dt.date(2024, 1, 2)
    >>> values = pl.DataFrame({"date": [d] * 3, "code": ["000002.SZ", "000001.SZ", "600000.SH"],
    ...                        "float_mcap": [2e9, 3e9, 1e9], "n_etf": [5, 5, 9]})
    >>> stocks = pl.DataFrame({"code": ["000001.SZ", "000002.SZ", "600000.SH"],
    ...                        "name": ["A", "B", "C"], "board": ["SZ_MAIN"] * 2 + ["SH_MAIN"]})
    >>> industry = pl.DataFrame({"code": ["000001.SZ", "000002.SZ", "600000.SH"],
    ...                          "start_date": [dt.date(2020, 1, 1)] * 3,
    ...                          "industry_l1": ["银行", "房地产", "银行"]})
    >>> top_lists(values, stocks, industry, ["n_etf"], k=2)["code"].to_list()
    ['600000.SH', '000001.SZ']
    """
    names = check_metrics(metrics, [m for m in TOP_METRICS if m in values.columns])
    if k < 1:
        raise EtfflowError(f"k must be at least 1, got {k}")
    date = pick_date(values, date)
    day = values.filter(pl.col("date") == date)
    dup = day.filter(pl.col("code").is_duplicated())
    if dup.height:
        raise EtfflowError(
            f"the stock table has {dup.height} rows for {dup['code'].n_unique()} codes repeated "
            f"on {date} (e.g. {dup.select('date', 'code').head(3).rows()}): one row per stock "
            "and date expected"
        )
    meta = (
        day.select(pl.col("code").cast(pl.String), "float_mcap")
        .join(
            stocks.select(
                pl.col("code").cast(pl.String),
                pl.col("name").cast(pl.String),
                pl.col("board").cast(pl.String),
            ),
            on="code",
            how="left",
        )
        .join(industry_on(industry, date), on="code", how="left")
    )
    parts = []
    for m in names:
        ranked = (
            day.select(pl.col("code").cast(pl.String), pl.col(m).cast(pl.Float64).alias("value"))
            .filter(pl.col("value").is_not_null() & pl.col("value").is_not_nan())
            .sort(["value", "code"], descending=[True, False])
            .head(k)
            .with_row_index("rank", offset=1)
        )
        parts.append(ranked.with_columns(pl.lit(m).alias("metric")))
    return (
        pl.concat(parts, how="vertical")
        .join(meta, on="code", how="left", maintain_order="left")
        .with_columns(
            pl.lit(date, dtype=pl.Date).alias("date"),
            pl.col("rank").cast(pl.Int32),
            (pl.col("float_mcap").cast(pl.Float64) / YI).alias("float_mcap"),
        )
        .select(list(TOP_SCHEMA))
        .cast(TOP_SCHEMA)
    )

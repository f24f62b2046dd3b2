"""Market overview: ETF count and size by year and category, ETF size against the market,
cumulative net inflow by tracked index (Huaan 2024-12 tables 5, 7, 29; Kaiyuan 2024-09
figures 2, 3, 5; docs/methodology.md#6-report-tables-and-the-etfflow-output-that-produces-them).

Pure functions of the dataset's frames (``etfs``, ``etf_daily``, ``stock_daily``, as
DataFrames or LazyFrames); each builds lazy Polars pipelines and collects once
(:func:`tables` collects all three with one ``collect_all``). Sums run in a fixed order
(``etf_code`` / ``code`` / ``date``), so a result has the same bits whatever the thread count.
Every table has a ``date`` column (the year end, or the day), for the point-in-time rule: a
row dated ``t`` reads no row dated after ``t``.

Definitions (``S`` shares, ``N`` NAV, ``F`` float cap):

- *year end*: the year's last trading day (last ``stock_daily`` date of the calendar year);
  the last year of the data ends on the data's last date (a partial year).
- :func:`by_year`: ETFs with an ``etf_daily`` row on the year end, counted (``n_etf``) and
  summed (``aum = Σ S·N``, CNY) by ``category`` and over all categories (``all``);
  ``aum_share`` = the row's ``aum`` / the year's ``all`` aum; ``aum_growth`` and
  ``n_etf_growth`` = value / previous year's value − 1 (null in the first year, and when the
  previous value is 0).
- :func:`vs_market`: per year the ``all`` aum growth, the market return and
  ``aum_to_float_cap = aum / Σ F`` on the year end. The market's daily return on ``t`` is
  ``Σ F[s,t−1]·ret[s,t] / Σ F[s,t−1]`` over the stocks with a row on both ``t`` and the previous
  trading day ``t−1`` (caps of ``t−1``); the yearly return is ``Π (1 + r[t]) − 1`` over the
  year's trading days, so a year runs from the previous year end's close to its own year end.
  The data's first date has no return (no previous day); the first year starts from its close.
- :func:`inflow_by_index`: daily inflow ``Σ_e (S[e,t] − S[e,t−1])·N[e,t]`` over the ETFs of an
  ``index_code``; ``S[e,t−1]`` is the ETF's previous ``etf_daily`` row; an ETF whose first row
  comes after the data's first date (the first ``stock_daily`` date, as in the look-through)
  counts its first-day shares (previous shares 0), after its last row it contributes nothing
  (convention C6); on the data's first date ``inflow`` is null.
  One row per index and trading day from ``max(start, the index's first row)`` to the
  last date (0 on days without a row of the index); ``cumulative`` sums ``inflow`` over the
  dates ``start ≤ u ≤ t`` (null counted as 0).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from etfflow.engine.schemas import ETF_CATEGORIES
from etfflow.exceptions import EtfflowError

__all__ = [
    "BY_YEAR",
    "INFLOW_BY_INDEX",
    "VS_MARKET",
    "by_year",
    "inflow_by_index",
    "ranking",
    "tables",
    "vs_market",
]

Frame = pl.DataFrame | pl.LazyFrame

#: ``by_year``: one row per year and category (``broad``, ``sector``, ``style``, ``all``).
BY_YEAR = pl.Schema(
    {
        "year": pl.Int32,
        "date": pl.Date,
        "category": pl.String,
        "n_etf": pl.Int64,
        "aum": pl.Float64,
        "aum_share": pl.Float64,
        "aum_growth": pl.Float64,
        "n_etf_growth": pl.Float64,
    }
)
#: ``vs_market``: one row per year.
VS_MARKET = pl.Schema(
    {
        "year": pl.Int32,
        "date": pl.Date,
        "aum": pl.Float64,
        "aum_growth": pl.Float64,
        "market_return": pl.Float64,
        "float_mcap": pl.Float64,
        "aum_to_float_cap": pl.Float64,
    }
)
#: ``inflow_by_index``: one row per tracked index and date.
INFLOW_BY_INDEX = pl.Schema(
    {
        "date": pl.Date,
        "index_code": pl.String,
        "inflow": pl.Float64,
        "cumulative": pl.Float64,
    }
)

CATEGORIES: tuple[str, ...] = (*ETF_CATEGORIES, "all")


def _lazy(f: Frame) -> pl.LazyFrame:
    return f.lazy()


def _strings(lf: pl.LazyFrame, *cols: str) -> pl.LazyFrame:
    """Codes stored as Categorical/Enum read as plain strings."""
    return lf.with_columns(pl.col(c).cast(pl.String) for c in cols)


def _sum(x: pl.Expr, by: str) -> pl.Expr:
    """``x`` summed in the order of ``by``: the same bits on every run, whatever the threads
    (a plain ``sum`` adds per-thread partial sums in varying order)."""
    return x.sort_by(by).cum_sum().last()


def _year_ends(stock_daily: pl.LazyFrame) -> pl.LazyFrame:
    """(year, date): the last trading day of each calendar year."""
    return (
        stock_daily.select("date")
        .unique()
        .group_by(pl.col("date").dt.year().cast(pl.Int32).alias("year"))
        .agg(pl.col("date").max())
    )


def _growth(col: str) -> pl.Expr:
    prev = pl.col(col).shift(1).over("category", order_by="year")
    return (
        pl.when(prev > 0).then(pl.col(col).cast(pl.Float64) / prev - 1.0).otherwise(None)
    ).alias(f"{col}_growth")


def _by_year_lazy(etfs: Frame, etf_daily: Frame, stock_daily: Frame) -> pl.LazyFrame:
    ends = _year_ends(_lazy(stock_daily))
    e = _strings(_lazy(etfs).select("etf_code", "category"), "etf_code", "category")
    d = _strings(_lazy(etf_daily).select("date", "etf_code", "shares", "nav"), "etf_code")
    at_end = d.join(ends, on="date").join(e, on="etf_code", how="left")
    per_cat = at_end.group_by("year", "category").agg(
        pl.len().cast(pl.Int64).alias("n_etf"),
        _sum((pl.col("shares") * pl.col("nav")), "etf_code").alias("aum"),
    )
    total = at_end.group_by("year").agg(
        pl.len().cast(pl.Int64).alias("n_etf"),
        _sum((pl.col("shares") * pl.col("nav")), "etf_code").alias("aum"),
        pl.lit("all").alias("category"),
    )
    grid = ends.join(pl.LazyFrame({"category": list(CATEGORIES)}), how="cross")
    stats = pl.concat([per_cat, total.select(per_cat.collect_schema().names())])
    out = (
        grid.join(stats, on=["year", "category"], how="left")
        .with_columns(pl.col("n_etf").fill_null(0), pl.col("aum").fill_null(0.0))
        .with_columns(
            pl.when(pl.col("aum").filter(pl.col("category") == "all").first().over("year") > 0)
            .then(
                pl.col("aum")
                / pl.col("aum").filter(pl.col("category") == "all").first().over("year")
            )
            .alias("aum_share"),
            _growth("aum"),
            _growth("n_etf"),
        )
    )
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return (
        out.with_columns(
            pl.col("category").replace_strict(order, return_dtype=pl.Int32).alias("_o")
        )
        .sort("year", "_o")
        .select(BY_YEAR.names())
        .cast(BY_YEAR)
    )


def by_year(etfs: Frame, etf_daily: Frame, stock_daily: Frame) -> pl.DataFrame:
    """ETF count and AUM at each year end, by category and in total (schema :data:`BY_YEAR`)."""
    return _by_year_lazy(etfs, etf_daily, stock_daily).collect()


def _market_daily(stock_daily: pl.LazyFrame) -> pl.LazyFrame:
    """(date, r): the float-cap-weighted market return with the previous trading day's caps."""
    sd = _strings(stock_daily.select("date", "code", "ret", "float_mcap"), "code")
    cal = (
        sd.select("date")
        .unique()
        .sort("date")
        .with_columns(pl.col("date").shift(1).alias("prev_date"))
    )
    prev = sd.select(
        pl.col("date").alias("prev_date"), "code", pl.col("float_mcap").alias("cap_prev")
    )
    pairs = (
        sd.select("date", "code", "ret")
        .join(cal, on="date")
        .join(prev, on=["prev_date", "code"], how="inner")
    )
    daily = (
        pairs.filter(pl.col("ret").is_not_null() & pl.col("cap_prev").is_not_null())
        .group_by("date")
        .agg(
            (
                _sum((pl.col("cap_prev") * pl.col("ret")), "code")
                / _sum(pl.col("cap_prev"), "code")
            ).alias("r"),
            _sum(pl.col("cap_prev"), "code").alias("w"),
        )
    )
    # days without any pair (the first date) get no return
    return cal.join(daily, on="date", how="left").select(
        "date", pl.when(pl.col("w") > 0).then(pl.col("r")).alias("r")
    )


def _vs_market_lazy(etfs: Frame, etf_daily: Frame, stock_daily: Frame) -> pl.LazyFrame:
    sd = _lazy(stock_daily)
    totals = _by_year_lazy(etfs, etf_daily, stock_daily).filter(pl.col("category") == "all")
    market = (
        _market_daily(sd)
        .group_by(pl.col("date").dt.year().cast(pl.Int32).alias("year"))
        .agg(
            pl.when(pl.col("r").is_not_null().any())
            .then((1.0 + pl.col("r").fill_null(0.0)).sort_by("date").cum_prod().last() - 1.0)
            .alias("market_return")
        )
    )
    caps = _strings(sd, "code").group_by("date").agg(_sum(pl.col("float_mcap"), "code"))
    return (
        totals.join(market, on="year", how="left")
        .join(caps, on="date", how="left")
        .with_columns(
            pl.when(pl.col("float_mcap") > 0)
            .then(pl.col("aum") / pl.col("float_mcap"))
            .alias("aum_to_float_cap")
        )
        .sort("year")
        .select(VS_MARKET.names())
        .cast(VS_MARKET)
    )


def vs_market(etfs: Frame, etf_daily: Frame, stock_daily: Frame) -> pl.DataFrame:
    """Total ETF AUM growth, market return and AUM / float cap per year (:data:`VS_MARKET`)."""
    return _vs_market_lazy(etfs, etf_daily, stock_daily).collect()


def _calendar(stock_daily: Frame) -> pl.LazyFrame:
    """The trading calendar: the distinct ``stock_daily`` dates."""
    return _lazy(stock_daily).select("date").unique()


def _inflow_lazy(
    etfs: Frame, etf_daily: Frame, stock_daily: Frame, start: dt.date | None
) -> pl.LazyFrame:
    e = _strings(_lazy(etfs).select("etf_code", "index_code"), "etf_code", "index_code")
    d = _strings(_lazy(etf_daily).select("date", "etf_code", "shares", "nav"), "etf_code")
    cal = _calendar(stock_daily)
    d0 = cal.select(pl.col("date").min().alias("d0"))  # the first date of the data (C6)
    flows = (
        d.with_columns(pl.col("shares").shift(1).over("etf_code", order_by="date").alias("prev"))
        .join(d0, how="cross")
        .with_columns(
            pl.when(pl.col("date") == pl.col("d0"))
            .then(None)
            .otherwise((pl.col("shares") - pl.col("prev").fill_null(0.0)) * pl.col("nav"))
            .alias("inflow")
        )
        .join(e, on="etf_code", how="left")
    )
    per_index = flows.group_by("date", "index_code").agg(
        pl.when(pl.col("inflow").is_not_null().any())
        .then(_sum(pl.col("inflow"), "etf_code"))
        .alias("inflow")
    )
    begin = flows.group_by("index_code").agg(pl.col("date").min().alias("begin"))
    if start is not None:
        begin = begin.with_columns(pl.max_horizontal("begin", pl.lit(start)).alias("begin"))
    grid = (
        begin.join(cal, how="cross").filter(pl.col("date") >= pl.col("begin")).join(d0, how="cross")
    )
    return (
        grid.join(per_index, on=["date", "index_code"], how="left")
        .with_columns(
            pl.when(pl.col("date") == pl.col("d0"))
            .then(None)
            .otherwise(pl.col("inflow").fill_null(0.0))
            .alias("inflow")
        )
        .sort("index_code", "date")
        .with_columns(
            pl.col("inflow").fill_null(0.0).cum_sum().over("index_code").alias("cumulative")
        )
        .select(INFLOW_BY_INDEX.names())
        .cast(INFLOW_BY_INDEX)
        .sort("date", "index_code")
    )


def _last_date(stock_daily: Frame) -> pl.LazyFrame:
    return _calendar(stock_daily).select(pl.col("date").max().alias("last"))


def _check_start(start: dt.date | None, last: pl.DataFrame) -> None:
    day = last.item()
    if start is not None and (day is None or start > day):
        raise EtfflowError(
            f"--start {start} is after the last date of the data ({day}, stock_daily): "
            "choose a date within the data"
        )


def inflow_by_index(
    etfs: Frame, etf_daily: Frame, stock_daily: Frame, *, start: dt.date | None = None
) -> pl.DataFrame:
    """Daily and cumulative net inflow by tracked index from ``start`` (:data:`INFLOW_BY_INDEX`).

    ``stock_daily`` gives the trading calendar (its first date is the data's first date).
    Raises :class:`~etfflow.exceptions.EtfflowError` when ``start`` is after the last date.
    """
    flows, last = pl.collect_all(
        [_inflow_lazy(etfs, etf_daily, stock_daily, start), _last_date(stock_daily)]
    )
    _check_start(start, last)
    return flows


def tables(
    etfs: Frame, etf_daily: Frame, stock_daily: Frame, *, start: dt.date | None = None
) -> dict[str, pl.DataFrame]:
    """The three tables (``by_year``, ``vs_market``, ``inflow_by_index``) in one collect.

    Raises :class:`~etfflow.exceptions.EtfflowError` when ``start`` is after the last date.
    """
    frames = pl.collect_all(
        [
            _by_year_lazy(etfs, etf_daily, stock_daily),
            _vs_market_lazy(etfs, etf_daily, stock_daily),
            _inflow_lazy(etfs, etf_daily, stock_daily, start),
            _last_date(stock_daily),
        ]
    )
    _check_start(start, frames[3])
    return dict(zip(("by_year", "vs_market", "inflow_by_index"), frames[:3], strict=False))


def ranking(inflow: pl.DataFrame) -> pl.DataFrame:
    """(index_code, cumulative): each index's final cumulative inflow, largest first."""
    return (
        inflow.sort("date")
        .group_by("index_code")
        .agg(pl.col("cumulative").last(), pl.col("date").last())
        .sort(["cumulative", "index_code"], descending=[True, False])
        .select("index_code", "cumulative")
    )

"""Coverage over time: how many stocks ETFs hold and how much of their float cap, for the whole
market and by board and float-cap quintile, as time series (Huaan 2024-12 tables 30–33, 41–42;
docs/methodology.md#27-coverage-over-time).

A pure function of one look-through's daily tables (``LookThrough.stocks`` and
``LookThrough.groups``); the ETF category comparison (Huaan table 31) runs it once per pool.

Definitions, per sampled day ``t`` and group ``g`` (the market, a board, a quintile):

- ``n_stock``: listed stocks of ``g`` on ``t`` (rows of the look-through's stock table);
  ``n_held``: those held by at least one pool ETF (``n_etf > 0``);
- ``held_share = n_held / n_stock`` (数量覆盖度);
- ``passive_share = Σ mv_passive / Σ float_mcap`` over the stocks of ``g`` with a float cap
  (流通市值覆盖度, the 整体法 ``w_passive`` of the group).

Sampling (``freq``): every day, the last trading day of each month, or of each year; the last
month or year of the data is sampled on its last date. A row dated ``t`` reads only the
look-through of day ``t``.
"""

from __future__ import annotations

import polars as pl

from etfflow.exceptions import EtfflowError

#: One row per sampled day, grouping and group.
COVERAGE_SERIES = pl.Schema(
    {
        "date": pl.Date,
        "grouping": pl.String,
        "group": pl.String,
        "n_stock": pl.Int32,
        "n_held": pl.Int32,
        "held_share": pl.Float64,
        "passive_share": pl.Float64,
    }
)
#: Groupings: the whole market, then the look-through's group levels.
GROUPINGS: tuple[str, ...] = ("market", "board", "cap_quintile", "industry_l1", "industry_l2")
FREQS: tuple[str, ...] = ("day", "month", "year")


def sample_dates(dates: pl.Series, freq: str) -> pl.Series:
    """The sampled days of ``dates``: all of them, or the last one of each month / year."""
    if freq not in FREQS:
        raise EtfflowError(f"unknown frequency {freq!r}: choose one of {', '.join(FREQS)}")
    d = dates.unique().sort()
    if freq == "day":
        return d
    key = d.dt.year() * 100 + (d.dt.month() if freq == "month" else 0)
    return (
        pl.DataFrame({"date": d, "key": key})
        .group_by("key")
        .agg(pl.col("date").max())["date"]
        .sort()
    )


def coverage_series(
    stocks: pl.DataFrame,
    groups: pl.DataFrame,
    *,
    groupings: tuple[str, ...] = ("market", "board", "cap_quintile"),
    freq: str = "month",
) -> pl.DataFrame:
    """Coverage of the market and its groups on the sampled days (schema
    :data:`COVERAGE_SERIES`, sorted by grouping in the order given, date, group).

    Parameters
    ----------
    stocks, groups
        ``LookThrough.stocks`` and ``LookThrough.groups`` of one look-through.
    groupings
        Among :data:`GROUPINGS`.
    freq
        ``day``, ``month`` (default) or ``year``.
    """
    bad = [g for g in groupings if g not in GROUPINGS]
    if bad:
        raise EtfflowError(f"unknown grouping {bad[0]!r}: choose from {', '.join(GROUPINGS)}")
    days = sample_dates(stocks["date"], freq)
    parts = []
    for grouping in groupings:
        if grouping == "market":
            f = pl.col("float_mcap")
            ok = f.is_not_null() & f.is_not_nan()
            part = (
                stocks.lazy()
                .filter(pl.col("date").is_in(days.implode()))
                .group_by("date")
                .agg(
                    pl.len().alias("n_stock"),
                    (pl.col("n_etf") > 0).sum().alias("n_held"),
                    pl.col("mv_passive").filter(ok).sum().alias("mv"),
                    f.filter(ok).sum().alias("cap"),
                )
                .with_columns(pl.lit("market").alias("group"))
            )
        else:
            part = (
                groups.lazy()
                .filter((pl.col("level") == grouping) & pl.col("date").is_in(days.implode()))
                .select(
                    "date",
                    pl.col("group_name").alias("group"),
                    "n_stock",
                    "n_held",
                    pl.col("mv_passive").alias("mv"),
                    pl.col("float_mcap").alias("cap"),
                )
            )
        parts.append(
            part.select(
                "date",
                pl.lit(grouping).alias("grouping"),
                "group",
                pl.col("n_stock").cast(pl.Int32),
                pl.col("n_held").cast(pl.Int32),
                (pl.col("n_held") / pl.col("n_stock")).alias("held_share"),
                pl.when(pl.col("cap") > 0)
                .then(pl.col("mv") / pl.col("cap"))
                .alias("passive_share"),
            )
            .sort("date", "group")
            .collect()
        )
    out = pl.concat(parts) if parts else pl.DataFrame(schema=COVERAGE_SERIES)
    return out.cast(COVERAGE_SERIES)

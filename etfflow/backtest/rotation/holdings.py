"""Weekly look-through of ETF scale to industries (docs/methodology.md#81-weekly-look-through).

At each week-end ``t`` every pool ETF's scale ``S[e,t]·N[e,t]`` is spread over its stocks with
the weights of the latest month-end ``m ≤ t`` ("个股权重周频数据取最近的月末成分及权重") and summed
by the stocks' industries at ``m``:

``H[i,t] = Σ_e S[e,t]·N[e,t] · Σ_{s ∈ i at m} w[e,s,m]``, ``L[i,t] = H[i,t] / Σ_j H[j,t]``,
short-term flow ``F[i,t] = L[i,t] − L[i,t−1 week]``.

Weights of month-end ``m``: in weights mode the ETF's own ``holding_weights`` snapshot in force
on ``m`` (dated ``≤ m``), else its tracked index's; in PCF mode the ETF's latest basket dated
within :data:`PCF_STALE_DAYS` calendar days up to ``m``, priced at that day's closes
(``w = q·close / Σ q·close``). Everything is a lazy Polars plan, collected once.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl

from etfflow.backtest.rotation.result import SCHEMAS
from etfflow.engine.loading import Dataset
from etfflow.engine.pools import Pool
from etfflow.exceptions import DataContractError, EtfflowError

log = logging.getLogger(__name__)

#: A PCF basket older than this many calendar days at a month-end is not used for it.
PCF_STALE_DAYS = 10

Mode = Literal["weights", "pcf"]


@dataclass
class WeeklyHoldings:
    """Output of :func:`weekly_holdings`.

    ``weekly`` follows ``SCHEMAS["industry_weekly"]``; ``industries`` are the sorted labels;
    ``share`` is the ``(weeks, industries)`` holding level ``L`` and ``month_share`` the same
    on the month-end trading days ``months`` (NaN before any weights); ``weeks`` are the
    week-end trading days. ``present`` / ``month_present`` mark the industries that exist
    (some stock is classified in them on the weights' month-end): ``weekly`` has rows only for
    those, so an industry created later never appears earlier (point in time); weeks before
    the first month-end have no weights and no rows. ``diagnostics`` counts what could not be looked
    through (never dropped silently).
    """

    weekly: pl.DataFrame
    industries: list[str]
    weeks: pl.Series
    months: pl.Series
    share: np.ndarray
    month_share: np.ndarray
    present: np.ndarray
    month_present: np.ndarray
    diagnostics: dict[str, int | float] = field(default_factory=dict)


def week_ends(days: pl.Series) -> pl.Series:
    """The last trading day of each calendar week (weeks start on Monday).

    >>> import datetime as dt, polars as pl
    >>> d = pl.Series("date", [dt.date(2024, 1, 4), dt.date(2024, 1, 5), dt.date(2024, 1, 8)])
    >>> week_ends(d).to_list()
    [datetime.date(2024, 1, 5), datetime.date(2024, 1, 8)]
    """
    return _period_ends(days, "1w")


def month_ends(days: pl.Series) -> pl.Series:
    """The last trading day of each calendar month.

    >>> import datetime as dt, polars as pl
    >>> d = pl.Series("date", [dt.date(2024, 1, 30), dt.date(2024, 1, 31), dt.date(2024, 2, 1)])
    >>> month_ends(d).to_list()
    [datetime.date(2024, 1, 31), datetime.date(2024, 2, 1)]
    """
    return _period_ends(days, "1mo")


def _period_ends(days: pl.Series, every: str) -> pl.Series:
    df = pl.DataFrame({"date": days.cast(pl.Date)}).unique().sort("date")
    out = df.group_by(pl.col("date").dt.truncate(every).alias("p")).agg(pl.col("date").max())
    return out.sort("date")["date"]


def month_end_weights(
    ds: Dataset, etfs: pl.DataFrame, months: pl.Series, mode: Mode
) -> pl.LazyFrame:
    """``(month, etf_code, code, weight)``: each pool ETF's weights at each month-end.

    ``etfs`` holds the pool's ``etf_code`` and ``index_code`` (strings).
    """
    keys = (
        pl.DataFrame({"month": months.cast(pl.Date)})
        .join(etfs.select("etf_code", "index_code"), how="cross")
        .sort("month")
        .lazy()
    )
    if mode == "weights":
        return _snapshot_weights(ds, keys)
    return _basket_weights(ds, keys, months)


def _snapshot_weights(ds: Dataset, keys: pl.LazyFrame) -> pl.LazyFrame:
    hw = ds.frame("holding_weights")
    names = hw.collect_schema().names()
    cast = [pl.col(c).cast(pl.String) for c in ("code", "etf_code", "index_code") if c in names]
    hw = hw.with_columns(cast)
    if "etf_code" not in names:
        hw = hw.with_columns(pl.lit(None, dtype=pl.String).alias("etf_code"))
    if "index_code" not in names:
        hw = hw.with_columns(pl.lit(None, dtype=pl.String).alias("index_code"))
    own = hw.filter(pl.col("etf_code").is_not_null())
    idx = hw.filter(pl.col("etf_code").is_null())
    own_snaps = own.select("etf_code", pl.col("date").alias("snap")).unique().sort("snap")
    idx_snaps = idx.select("index_code", pl.col("date").alias("isnap")).unique().sort("isnap")
    pick = keys.join_asof(
        own_snaps,
        left_on="month",
        right_on="snap",
        by="etf_code",
        strategy="backward",
        check_sortedness=False,
    ).join_asof(
        idx_snaps,
        left_on="month",
        right_on="isnap",
        by="index_code",
        strategy="backward",
        check_sortedness=False,
    )
    from_own = pick.filter(pl.col("snap").is_not_null()).join(
        own.select("etf_code", pl.col("date").alias("snap"), "code", "weight"),
        on=["etf_code", "snap"],
    )
    from_idx = pick.filter(pl.col("snap").is_null() & pl.col("isnap").is_not_null()).join(
        idx.select("index_code", pl.col("date").alias("isnap"), "code", "weight"),
        on=["index_code", "isnap"],
    )
    cols = ["month", "etf_code", "code", "weight"]
    return pl.concat([from_own.select(cols), from_idx.select(cols)])


def _basket_weights(ds: Dataset, keys: pl.LazyFrame, months: pl.Series) -> pl.LazyFrame:
    window = [
        m - dt.timedelta(days=k)
        for m in months.cast(pl.Date).to_list()
        for k in range(PCF_STALE_DAYS + 1)
    ]
    pcf = (
        ds.frame("etf_pcf")
        .select(
            "date", pl.col("etf_code").cast(pl.String), pl.col("code").cast(pl.String), "quantity"
        )
        .filter(pl.col("date").is_in(sorted(set(window))))
    )
    dates = pcf.select("etf_code", pl.col("date").alias("bdate")).unique().sort("bdate")
    pick = keys.join_asof(
        dates,
        left_on="month",
        right_on="bdate",
        by="etf_code",
        strategy="backward",
        tolerance=f"{PCF_STALE_DAYS}d",
        check_sortedness=False,
    ).filter(pl.col("bdate").is_not_null())
    close = ds.frame("stock_daily").select(
        pl.col("date").alias("bdate"), pl.col("code").cast(pl.String), "close"
    )
    rows = pick.join(pcf.rename({"date": "bdate"}), on=["etf_code", "bdate"]).join(
        close, on=["bdate", "code"], how="left"
    )
    value = pl.col("quantity") * pl.col("close")
    return rows.filter(value.is_not_null() & (value > 0)).select(
        "month",
        "etf_code",
        "code",
        (value / value.sum().over("month", "etf_code")).alias("weight"),
    )


def industry_at(ds: Dataset, dates: pl.Series, level: str) -> pl.LazyFrame:
    """``(month, code, industry)``: each stock's industry at each of ``dates`` (point in time)."""
    ind = ds.frame("stock_industry").select(
        pl.col("code").cast(pl.String),
        "start_date",
        *(
            ["end_date"]
            if "end_date" in ds.frame("stock_industry").collect_schema().names()
            else []
        ),
        pl.col(level).cast(pl.String).alias("industry"),
    )
    if "end_date" not in ind.collect_schema().names():
        ind = ind.with_columns(pl.lit(None, dtype=pl.Date).alias("end_date"))
    d = pl.DataFrame({"month": dates.cast(pl.Date)}).lazy()
    return (
        d.join(ind, how="cross")
        .filter(
            (pl.col("start_date") <= pl.col("month"))
            & (pl.col("end_date").is_null() | (pl.col("end_date") >= pl.col("month")))
        )
        .select("month", "code", "industry")
    )


def weekly_holdings(
    ds: Dataset,
    days: pl.Series,
    *,
    pool: Pool | str = "all",
    level: str = "industry_l1",
    mode: Mode | None = None,
) -> WeeklyHoldings:
    """Weekly industry holdings ``H``, levels ``L`` and flows ``F`` of a pool's ETFs.

    Parameters
    ----------
    ds
        The dataset.
    days
        The trading calendar (``stock_daily`` dates, sorted).
    pool
        The ETF pool.
    level
        ``industry_l1`` (CITIC level 1) or ``industry_l2``.
    mode
        ``weights`` (``holding_weights``) or ``pcf`` (``etf_pcf``); default: weights when the
        dataset has ``holding_weights``, else PCF.

    Returns
    -------
    WeeklyHoldings
        ``weekly`` has one row per week-end and industry (``holding`` CNY, ``holding_share``
        decimal, ``flow`` decimal, null on the first week).
    """
    if mode is None:
        mode = "weights" if ds.has("holding_weights") else "pcf"
    need = "holding_weights" if mode == "weights" else "etf_pcf"
    if not ds.has(need):
        raise EtfflowError(f"the rotation's {mode} look-through needs table '{need}' in {ds.root}")
    etfs = Pool.of(pool).select(ds.frame("etfs").collect())
    weeks = week_ends(days)
    months = month_ends(days)
    w = month_end_weights(ds, etfs, months, mode)
    ind = industry_at(ds, months, level)
    wi = w.join(ind, on=["month", "code"], how="left")
    by_ind = (
        wi.filter(pl.col("industry").is_not_null())
        .group_by("month", "etf_code", "industry")
        .agg(pl.col("weight").sum())
    )
    unclassified = wi.filter(pl.col("industry").is_null()).select(
        pl.len().alias("rows"), pl.col("weight").sum().alias("weight")
    )
    at = pl.concat([weeks, months]).unique().sort()
    week_month = (
        pl.DataFrame({"date": at})
        .sort("date")
        .join_asof(pl.DataFrame({"month": months}).sort("month"), left_on="date", right_on="month")
        .lazy()
    )
    scale = (
        ds.frame("etf_daily")
        .select(
            "date",
            pl.col("etf_code").cast(pl.String),
            (pl.col("shares") * pl.col("nav")).alias("scale"),
        )
        .filter(
            pl.col("etf_code").is_in(etfs["etf_code"].to_list())
            & pl.col("date").is_in(weeks.to_list())
        )
        .filter(pl.col("scale").is_not_null() & pl.col("scale").is_finite())
    )
    held = (
        scale.join(week_month, on="date")
        .join(by_ind, on=["month", "etf_code"])
        .group_by("date", "industry")
        .agg((pl.col("scale") * pl.col("weight")).sum().alias("holding"))
    )
    labels_lf = ds.frame("stock_industry").select(pl.col(level).cast(pl.String).unique().sort())
    present_lf = week_month.join(ind.select("month", "industry").unique(), on="month").select(
        "date", "industry", pl.lit(True).alias("present")
    )
    held_df, uncl, labels_df, present_df = pl.collect_all(
        [held, unclassified, labels_lf, present_lf]
    )
    industries = [x for x in labels_df[level].to_list() if x is not None]
    unknown = held_df.filter(~pl.col("industry").is_in(industries))
    if unknown.height:  # pragma: no cover - labels come from the same table
        raise DataContractError(
            "has industries the classification does not list",
            table="stock_industry",
            column=level,
            examples=unknown.head(5),
            n_rows=unknown.height,
        )
    full = _grid(held_df, present_df, weeks, industries)
    shape = (len(weeks), len(industries))
    share = full["holding_share"].fill_null(np.nan).to_numpy().reshape(shape)
    present = full["present"].to_numpy().reshape(shape)
    weekly = full.filter("present").select(list(SCHEMAS["industry_weekly"]))
    mfull = _grid(held_df, present_df, months, industries)
    mshape = (len(months), len(industries))
    month_share = mfull["holding_share"].fill_null(np.nan).to_numpy().reshape(mshape)
    month_present = mfull["present"].to_numpy().reshape(mshape)
    diagnostics = {
        "etfs": etfs.height,
        "weeks": len(weeks),
        "months": len(months),
        "unclassified_rows": int(uncl["rows"][0]),
        "unclassified_weight": float(uncl["weight"][0] or 0.0),
    }
    if diagnostics["unclassified_rows"]:
        log.warning(
            "rotation look-through: %d weight rows of stocks without a %s at the month-end "
            "(total weight %.4f) left out of the industry sums",
            diagnostics["unclassified_rows"],
            level,
            diagnostics["unclassified_weight"],
        )
    return WeeklyHoldings(
        weekly, industries, weeks, months, share, month_share, present, month_present, diagnostics
    )


def _grid(
    held: pl.DataFrame, present: pl.DataFrame, dates: pl.Series, industries: list[str]
) -> pl.DataFrame:
    """The (date × industry) grid: holding 0 where no ETF holds an industry, share and flow
    null where the industry does not exist (``present`` false), rows in (date, industry) order.
    """
    grid = pl.DataFrame({"date": dates}).join(pl.DataFrame({"industry": industries}), how="cross")
    total = pl.col("holding").sum().over("date")
    share = pl.col("holding_share")
    return (
        grid.join(held, on=["date", "industry"], how="left")
        .join(present, on=["date", "industry"], how="left")
        .with_columns(pl.col("holding").fill_null(0.0), pl.col("present").fill_null(False))
        .with_columns(
            pl.when(pl.col("present") & (total > 0))
            .then(pl.col("holding") / total)
            .alias("holding_share")
        )
        .sort("industry", "date")
        .with_columns((share - share.shift(1).over("industry")).alias("flow"))
        .sort("date", "industry")
        .select("date", "industry", "holding", "holding_share", "flow", "present")
    )

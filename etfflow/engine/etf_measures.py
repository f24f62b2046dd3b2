"""Per ETF and day measures: size, basket concentration and turnover (Kaiyuan 2024-09 §3,
tables 7–9; docs/methodology.md, "ETF sub-pools").

One row per ``etf_daily`` row (an ETF-day), columns of :data:`ETF_MEASURES_SCHEMA`:

- ``aum = shares · nav`` (CNY);
- ``hhi = Σ w²`` and ``top10_weight`` (the sum of the ten largest weights) of the basket in
  force, with the look-through's own weights: in ``weights`` mode the ETF's latest
  ``holding_weights`` snapshot dated on or before the day, else its tracked index's latest
  (:mod:`etfflow.engine.lookthrough.weights`); in ``pcf`` mode the latest ``etf_pcf`` basket
  dated on or before the day valued at the day's close, ``w = q·close / Σ q·close`` over the
  components with ``q > 0`` and a finite close that day (:mod:`etfflow.engine.lookthrough.pcf`).
  Only positive finite weights count; null when no basket is in force or it has none;
- ``turnover_20`` = mean of ``amount`` over the ETF's last 20 ``etf_daily`` rows / mean of
  ``aum`` over the same rows: null before its 20th row, when ``etf_daily`` has no ``amount``,
  when an ``amount`` or ``aum`` of the window is null, or when the mean AUM is not positive.
  Days without a row (not listed, gaps) are skipped, not counted as zeros; a row with amount 0
  (a suspended day) counts as a day of zero turnover.

Every value dated ``t`` uses rows dated ``t`` or earlier only. Reference twin (plain loops):
``tests/engine/test_etf_measures.py::measures_reference``.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

from etfflow.engine.loading import Dataset
from etfflow.exceptions import DatasetNotFoundError, EtfflowError

Mode = Literal["pcf", "weights"]

#: Trading days of ``etf_pcf`` handled per collect in PCF mode (bounds memory).
PCF_CHUNK_DAYS = 63
#: Rows of the turnover window.
TURNOVER_WINDOW = 20
#: Components summed by ``top10_weight``.
TOP_K = 10

ETF_MEASURES_SCHEMA = pl.Schema(
    {
        "date": pl.Date,
        "etf_code": pl.String,
        "category": pl.String,
        "aum": pl.Float64,
        "hhi": pl.Float64,
        "top10_weight": pl.Float64,
        "turnover_20": pl.Float64,
    }
)
MEASURES: tuple[str, ...] = ("aum", "hhi", "top10_weight", "turnover_20")


def _positive(w: pl.Expr) -> pl.Expr:
    return w.is_not_null() & w.is_finite() & (w > 0)


def basket_stats(rows: pl.LazyFrame, by: list[str], weight: pl.Expr) -> pl.LazyFrame:
    """``hhi`` and ``top10_weight`` of each basket ``by`` (positive finite weights only; null
    for a basket without any)."""
    w = weight.alias("_w")
    return (
        rows.with_columns(w)
        .group_by(by)
        .agg(
            (pl.col("_w").filter(_positive(pl.col("_w"))) ** 2).sum().alias("hhi"),
            pl.col("_w").filter(_positive(pl.col("_w"))).top_k(TOP_K).sum().alias("top10_weight"),
            _positive(pl.col("_w")).any().alias("_any"),
        )
        .with_columns(
            [pl.when(pl.col("_any")).then(pl.col(c)).alias(c) for c in ("hhi", "top10_weight")]
        )
        .drop("_any")
    )


def _daily(etfs: pl.LazyFrame, daily: pl.LazyFrame, has_amount: bool) -> pl.LazyFrame:
    """``etf_daily`` rows with category, index code, ``aum`` and ``turnover_20``."""
    amount = pl.col("amount").cast(pl.Float64) if has_amount else pl.lit(None, pl.Float64)
    meta = etfs.select(
        pl.col("etf_code").cast(pl.String),
        pl.col("category").cast(pl.String),
        pl.col("index_code").cast(pl.String),
    )
    w = TURNOVER_WINDOW
    mean_aum = pl.col("aum").rolling_mean(w, min_samples=w).over("etf_code")
    mean_amount = pl.col("_amount").rolling_mean(w, min_samples=w).over("etf_code")
    return (
        daily.select(
            "date",
            pl.col("etf_code").cast(pl.String),
            (pl.col("shares").cast(pl.Float64) * pl.col("nav").cast(pl.Float64)).alias("aum"),
            amount.alias("_amount"),
        )
        .fill_nan(None)
        .sort("etf_code", "date")
        .with_columns(
            pl.when(mean_aum > 0).then(mean_amount / mean_aum).alias("turnover_20"),
        )
        .drop("_amount")
        .join(meta, on="etf_code", how="left")
    )


def _asof(
    left: pl.LazyFrame, stats: pl.LazyFrame, by: str, suffix: str, on: str = "date"
) -> pl.LazyFrame:
    """``left`` with the latest ``stats`` row of the same ``by`` dated on or before its date."""
    right = stats.rename({"hhi": f"hhi{suffix}", "top10_weight": f"top10_weight{suffix}"})
    return left.sort(on).join_asof(
        right.rename({"date": f"_d{suffix}"}).sort(f"_d{suffix}"),
        left_on=on,
        right_on=f"_d{suffix}",
        by=by,
        strategy="backward",
        check_sortedness=False,
    )


def weights_concentration(rows: pl.LazyFrame, hw: pl.LazyFrame) -> pl.LazyFrame:
    """``hhi`` and ``top10_weight`` of each ETF-day of ``rows`` (date, etf_code, index_code)
    from the snapshot in force: the ETF's own latest dated on or before the day, else its
    index's (an own snapshot wins even when the index has a later one)."""
    names = hw.collect_schema().names()
    hw = hw.select(
        "date",
        *(
            pl.col(c).cast(pl.String) if c in names else pl.lit(None, pl.String).alias(c)
            for c in ("etf_code", "index_code")
        ),
        pl.col("weight").cast(pl.Float64),
    )
    own = basket_stats(
        hw.filter(pl.col("etf_code").is_not_null()), ["etf_code", "date"], pl.col("weight")
    )
    idx = basket_stats(
        hw.filter(pl.col("etf_code").is_null() & pl.col("index_code").is_not_null()),
        ["index_code", "date"],
        pl.col("weight"),
    )
    out = _asof(rows, own, "etf_code", "_own")
    out = _asof(out, idx, "index_code", "_idx")
    has_own = pl.col("_d_own").is_not_null()
    return out.select(
        "date",
        "etf_code",
        *(
            pl.when(has_own).then(pl.col(f"{c}_own")).otherwise(pl.col(f"{c}_idx")).alias(c)
            for c in ("hhi", "top10_weight")
        ),
    )


def pcf_concentration(
    rows: pl.LazyFrame, pcf: pl.LazyFrame, close: pl.LazyFrame, basket_days: pl.LazyFrame
) -> pl.LazyFrame:
    """``hhi`` and ``top10_weight`` of each ETF-day of ``rows`` (date, etf_code) from the
    latest basket dated on or before the day (``basket_days``: its distinct
    ``(etf_code, date)``), valued at the day's ``close`` as the PCF look-through values it."""
    link = (
        rows.select("date", "etf_code")
        .sort("date")
        .join_asof(
            basket_days.select("etf_code", pl.col("date").alias("bdate")).sort("bdate"),
            left_on="date",
            right_on="bdate",
            by="etf_code",
            strategy="backward",
            check_sortedness=False,
        )
    )
    comp = (
        link.drop_nulls("bdate")
        .join(
            pcf.select(
                pl.col("date").alias("bdate"),
                pl.col("etf_code").cast(pl.String),
                pl.col("code").cast(pl.String),
                pl.col("quantity").cast(pl.Float64),
            ),
            on=["etf_code", "bdate"],
        )
        .filter(_positive(pl.col("quantity")))
        .join(close, on=["date", "code"])
        .with_columns((pl.col("quantity") * pl.col("close")).alias("x"))
        .filter(_positive(pl.col("x")))
    )
    total = pl.col("x").sum().over("date", "etf_code")
    stats = basket_stats(comp, ["date", "etf_code"], pl.col("x") / total)
    return rows.select("date", "etf_code").join(stats, on=["date", "etf_code"], how="left")


def _check(mode: str, ds: Dataset) -> str:
    if mode not in ("pcf", "weights"):
        raise EtfflowError(f"unknown mode {mode!r}: choose 'pcf' or 'weights'")
    table = "etf_pcf" if mode == "pcf" else "holding_weights"
    if not ds.has(table):
        raise DatasetNotFoundError(
            f"ETF concentration in mode {mode!r} needs table '{table}', which is not in {ds.root}"
        )
    return table


def etf_measures(
    ds: Dataset,
    *,
    mode: Mode = "pcf",
    etf_codes: list[str] | None = None,
    concentration: bool = True,
) -> pl.DataFrame:
    """The per ETF and day measures of an opened dataset (see the module docstring).

    Parameters
    ----------
    ds
        An opened, validated dataset.
    mode
        Where the basket weights come from: ``"weights"`` (``holding_weights``) or ``"pcf"``
        (``etf_pcf`` valued at ``stock_daily.close``), as in the look-through.
    etf_codes
        Only these ETFs (default: all of table ``etfs``).
    concentration
        False: skip the baskets (``hhi``/``top10_weight`` null; the cheap measures only).

    Returns
    -------
    pl.DataFrame
        :data:`ETF_MEASURES_SCHEMA`, sorted by date and ETF code; rows dated off the stock
        calendar are kept as they are (validation rejects them).
    """
    table = _check(mode, ds) if concentration else ""
    etfs = ds.frame("etfs")
    daily = ds.frame("etf_daily")
    if etf_codes is not None:
        keep = pl.col("etf_code").cast(pl.String).is_in(etf_codes)
        etfs, daily = etfs.filter(keep), daily.filter(keep)
    has_amount = "amount" in daily.collect_schema().names()
    rows = _daily(etfs, daily, has_amount).collect()
    if not concentration:
        conc = rows.select(
            "date",
            "etf_code",
            pl.lit(None, pl.Float64).alias("hhi"),
            pl.lit(None, pl.Float64).alias("top10_weight"),
        )
    elif table == "holding_weights":
        conc = weights_concentration(
            rows.lazy().select("date", "etf_code", "index_code"), ds.frame(table)
        ).collect()
    else:
        conc = _pcf_chunked(ds, rows)
    out = rows.join(conc, on=["date", "etf_code"], how="left")
    return (
        out.select(ETF_MEASURES_SCHEMA.names()).cast(ETF_MEASURES_SCHEMA).sort("date", "etf_code")
    )


def _pcf_chunked(ds: Dataset, rows: pl.DataFrame) -> pl.DataFrame:
    """:func:`pcf_concentration` a chunk of ETF-day dates at a time: each chunk reads the
    baskets dated in it plus the latest earlier basket of each ETF."""
    pcf = ds.frame("etf_pcf").with_columns(pl.col("etf_code").cast(pl.String))
    basket_days = pcf.select("etf_code", "date").unique().collect()
    close = ds.frame("stock_daily").select(
        "date", pl.col("code").cast(pl.String), pl.col("close").cast(pl.Float64)
    )
    dates = rows["date"].unique().sort()
    parts = []
    for i in range(0, len(dates), PCF_CHUNK_DAYS):
        lo, hi = dates[i], dates[min(i + PCF_CHUNK_DAYS, len(dates)) - 1]
        chunk = rows.filter(pl.col("date").is_between(lo, hi)).select("date", "etf_code")
        # the baskets in force in the chunk: dated in it, or each ETF's latest before it
        before = (
            basket_days.filter(pl.col("date") < lo).group_by("etf_code").agg(pl.col("date").max())
        )
        days = pl.concat([before, basket_days.filter(pl.col("date").is_between(lo, hi))])
        wanted = days.lazy().select("etf_code", "date")
        first = days["date"].min() if days.height else lo
        baskets = pcf.filter(pl.col("date").is_between(first, hi)).join(
            wanted, on=["etf_code", "date"], how="semi"
        )
        day_close = close.filter(pl.col("date").is_between(lo, hi))
        parts.append(pcf_concentration(chunk.lazy(), baskets, day_close, days.lazy()).collect())
    if not parts:
        return rows.select("date", "etf_code").with_columns(
            pl.lit(None, pl.Float64).alias("hhi"), pl.lit(None, pl.Float64).alias("top10_weight")
        )
    return pl.concat(parts)

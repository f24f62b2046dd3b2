"""``etfflow etfs``: the per ETF-day measures of a dataset (size, concentration, turnover;
Kaiyuan 2024-09 §3), a summary of the latest date and the sub-pool split thresholds.

Definitions: :mod:`etfflow.engine.etf_measures` and :mod:`etfflow.engine.pools`
(docs/methodology.md, "ETF sub-pools").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from etfflow._common import Progress
from etfflow.engine.etf_measures import Mode, etf_measures
from etfflow.engine.loading import open_dataset
from etfflow.engine.pools import SPLIT_MEASURES, Split, split_thresholds
from etfflow.engine.validation import ValidationReport
from etfflow.exceptions import EtfflowError
from etfflow.pipeline.runs import check_lookthrough_tables, write_parquet_atomic

#: Columns summarised per category on the latest date.
SUMMARY_COLUMNS: tuple[str, ...] = ("aum", "hhi", "top10_weight", "turnover_20")


@dataclass
class EtfsRun:
    """Result of :func:`run_etfs`.

    Attributes
    ----------
    measures
        One row per ETF-day (:data:`~etfflow.engine.etf_measures.ETF_MEASURES_SCHEMA`).
    summary
        The latest date: per category and ``all``, the ETF count and the medians of
        :data:`SUMMARY_COLUMNS`.
    thresholds
        Per split (``concentration``, ``turnover``, ``aum``): its column, the ``quantile``
        threshold on the latest date, and the ETFs above (``n_high``) and at or below
        (``n_low``) it: the split a daily refresh would decide there.
    """

    measures: pl.DataFrame
    summary: pl.DataFrame
    thresholds: pl.DataFrame
    mode: str
    export: Path | None
    validation: ValidationReport | None
    seconds: float


def summarise(measures: pl.DataFrame) -> pl.DataFrame:
    """Count and medians of the latest date, per category then ``all``."""
    if measures.height == 0:
        raise EtfflowError("table 'etf_daily' has no row: nothing to measure")
    last = measures.filter(pl.col("date") == pl.col("date").max())
    aggs = [pl.len().alias("n_etf"), *(pl.col(c).median() for c in SUMMARY_COLUMNS)]
    by_cat = last.group_by("category").agg(aggs).sort("category")
    every = last.select(pl.lit("all").alias("category"), *aggs)
    return pl.concat([by_cat, every]).select(pl.lit(last["date"][0]).alias("date"), pl.all())


def thresholds(measures: pl.DataFrame, quantile: float = 0.5) -> pl.DataFrame:
    """The split thresholds on the latest date (:func:`.pools.split_thresholds`)."""
    day = measures["date"].max()
    last = measures.filter(pl.col("date") == day)
    rows = []
    for name, column in SPLIT_MEASURES.items():
        sp = Split(name, "high", quantile)
        t = split_thresholds(last, sp, [day]).row(0, named=True)  # type: ignore[list-item]
        v = last[column].drop_nulls().drop_nans()
        thr = t["threshold"]
        rows.append(
            {
                "split": name,
                "column": column,
                "quantile": quantile,
                "threshold": thr,
                "n_high": int((v > thr).sum()) if thr is not None else 0,
                "n_low": int((v <= thr).sum()) if thr is not None else 0,
            }
        )
    return pl.DataFrame(rows, schema_overrides={"threshold": pl.Float64})


def run_etfs(
    data_dir: str | Path,
    *,
    mode: Mode = "pcf",
    export: str | Path | None = None,
    quantile: float = 0.5,
    check: bool = True,
    progress: Progress | None = None,
) -> EtfsRun:
    """Validate the tables read, compute the per ETF-day measures, summarise, optionally
    export them to Parquet (written atomically: never half a file).

    Raises :class:`~etfflow.exceptions.ValidationError` (nothing written) when the tables
    break the data contract.
    """
    t0 = time.perf_counter()
    Split("aum", "high", quantile)  # checks the quantile before any work
    ds = open_dataset(data_dir)
    report = check_lookthrough_tables(ds, mode, progress) if check else None
    if progress:
        progress("ETF measures", 0, 1)
    m = etf_measures(ds, mode=mode)
    if progress:
        progress("ETF measures", 1, 1)
    summary, thr = summarise(m), thresholds(m, quantile)
    out = write_parquet_atomic(m, export) if export else None
    return EtfsRun(m, summary, thr, mode, out, report, time.perf_counter() - t0)

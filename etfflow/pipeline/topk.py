"""Top-k lists from the store: the stocks with the largest passive-ownership metrics on one
date (Huaan 2024-12 tables 34 and 39; Kaiyuan 2024-09 tables 2–3), as ``etfflow top`` runs it.

The values come from one look-through run's ``stock_flow`` rows. ``w_passive_diff_20`` and
``w_passive_inflow_20`` are raw stock factors: a factor run stores its values after the
processing it was asked for (the demo's are z-scored and neutralised), so they are computed
here from the same ``stock_flow`` rows with :func:`etfflow.factors.compute.compute_factors` —
the values a factor run with ``--process none`` stores. Rows dated after the chosen date are
not read. Names, boards and industries (point in time) come from the run's dataset, checked by
fingerprint.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from etfflow._common import atomic_path
from etfflow.backtest.topk import (
    TOP_METRICS,
    check_metrics,
    cross_section_counts,
    pick_date,
    top_lists,
)
from etfflow.backtest.topk_report import render_top_html
from etfflow.engine.loading import open_dataset
from etfflow.engine.market import load_market
from etfflow.engine.store import DEFAULT_STORE, Store, open_store
from etfflow.exceptions import EtfflowError, StoreError
from etfflow.factors.compute import compute_factors
from etfflow.factors.inputs import FLOW_COLUMNS, stock_inputs

#: Metrics that are raw stock factors, computed from ``stock_flow`` (not stored columns).
FACTOR_METRICS: tuple[str, ...] = ("w_passive_diff_20", "w_passive_inflow_20")


@dataclass
class TopRun:
    """What :func:`run_top` produced."""

    lists: pl.DataFrame  # etfflow.backtest.topk.TOP_SCHEMA
    counts: pl.DataFrame  # etfflow.backtest.topk.COUNTS_SCHEMA
    date: dt.date
    k: int
    run: dict  # the look-through run's row of ``runs``
    export: Path | None
    html: Path | None
    seconds: dict[str, float]


def find_lookthrough_run(st: Store, run_id: str | None = None) -> dict:
    """The look-through run ``run_id`` (a factor run stands for the look-through it was
    computed on), or the latest look-through run of the store."""
    if run_id is None:
        runs = st.runs().filter(pl.col("kind") == "lookthrough")
        if runs.height == 0:
            raise StoreError(
                f"no look-through run in {st.path}: run `etfflow penetrate DIR --store "
                f"{st.path}` (or `etfflow demo`) first"
            )
        return st.run(runs["run_id"][-1])
    row = st.run(run_id)
    if row["kind"] == "factors":
        lt = row["params"].get("lookthrough_run")
        if not lt:
            raise StoreError(f"factor run {run_id!r} does not name its look-through run")
        return st.run(lt)
    if row["kind"] != "lookthrough":
        raise StoreError(
            f"run {run_id!r} is a {row['kind']} run: give a look-through run (or a factor run)"
        )
    return row


def run_top(
    store: str | Path = DEFAULT_STORE,
    *,
    run: str | None = None,
    date: dt.date | None = None,
    k: int = 15,
    metrics: Sequence[str] | None = None,
    export: str | Path | None = None,
    html: str | Path | None = None,
) -> TopRun:
    """Top-``k`` stocks per metric on ``date`` of a stored look-through run.

    Parameters
    ----------
    store
        The DuckDB store (read only; never created).
    run
        A look-through run id, or a factor run id (its look-through run is used); default the
        latest look-through run.
    date
        Default: the run's last date. A date without rows is an error naming the nearest
        dates that have.
    k
        Stocks per list.
    metrics
        Names among :data:`~etfflow.backtest.topk.TOP_METRICS` (default: all).
    export
        Also write the lists (:data:`~etfflow.backtest.topk.TOP_SCHEMA`) to this Parquet file.
    html
        Also write an HTML page of the lists here.

    Raises
    ------
    EtfflowError
        Unknown metric, ``k < 1``, a date the run does not cover, no look-through run, or a
        dataset that changed since the run.
    """
    names = check_metrics(metrics if metrics is not None else TOP_METRICS)
    if k < 1:
        raise EtfflowError(f"--k must be at least 1, got {k}")
    secs: dict[str, float] = {}
    t0 = time.perf_counter()
    with open_store(store, read_only=True, create=False) as st:
        row = find_lookthrough_run(st, run)
        flow = st.table("stock_flow", row["run_id"])
    date = pick_date(flow, date)
    flow = flow.filter(pl.col("date") <= date)  # point in time: nothing after the date
    secs["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ds = open_dataset(row["dataset_path"])
    if ds.fingerprint() != row["dataset_fingerprint"]:
        raise EtfflowError(
            f"dataset {row['dataset_path']} changed since look-through run {row['run_id']}: "
            "names and industries would not match; re-run the look-through"
        )
    stocks = ds.frame("stocks").select("code", "name", "board").collect()
    industry = ds.frame("stock_industry").collect()
    secs["dataset"] = time.perf_counter() - t0
    values = flow.select("date", "code", "float_mcap", *[m for m in names if m in flow.columns])
    factor_names = [m for m in names if m in FACTOR_METRICS]
    if factor_names:
        t0 = time.perf_counter()
        market = load_market(ds)
        inputs = stock_inputs(market, flow.select("date", "code", *FLOW_COLUMNS))
        fs = compute_factors(inputs, factor_names)
        raw = fs.frame().filter(pl.col("date") == date)
        values = values.join(raw, on=["date", "code"], how="left")
        secs["factors"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lists = top_lists(values, stocks, industry, names, date=date, k=k)
    counts = cross_section_counts(values, names, date=date)
    secs["rank"] = time.perf_counter() - t0
    out = None
    if export is not None:
        with atomic_path(export) as tmp:
            lists.write_parquet(tmp)
        out = Path(export)
    page = None
    if html is not None:
        meta = {
            "look-through run": str(row["run_id"]),
            "pool": str(row["pool"]),
            "date 日期": str(date),
            "top": str(k),
        }
        title = f"被动持股前 {k} 名 · top {k} stocks"
        text = render_top_html(lists, counts, title=title, meta=meta)
        with atomic_path(html) as tmp:
            tmp.write_text(text, encoding="utf-8")
        page = Path(html)
    return TopRun(lists, counts, date, k, row, out, page, secs)

"""``etfflow top``: the stocks with the largest passive-ownership metrics on one date
(Huaan 2024-12 tables 34 and 39; Kaiyuan 2024-09 tables 2–3)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from etfflow.backtest.topk import TOP_METRICS
from etfflow.backtest.topk_report import LABELS, value_format
from etfflow.cli._ui import console, print_table
from etfflow.engine.store import DEFAULT_STORE
from etfflow.exceptions import EtfflowError
from etfflow.pipeline.topk import run_top


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise EtfflowError(f"--date {text!r} is not a date: write it as YYYY-MM-DD") from None


def top_table(rows: pl.DataFrame, metric: str, *, title: str) -> Table:
    """One list in the reports' layout: rank, code, name, board, industry, float cap, value."""
    _, _, unit = LABELS.get(metric, (metric, metric, ""))
    table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("#", justify="right")
    for head in ("code", "name", "board", "industry"):
        table.add_column(head)
    table.add_column("float cap 亿", justify="right")
    table.add_column(f"{metric} ({unit})", justify="right")
    fmt = value_format(metric)
    for r in rows.iter_rows(named=True):
        cap = r["float_mcap"]
        table.add_row(
            str(r["rank"]),
            escape(r["code"]),
            escape(r["name"] or "–"),
            escape(r["board"] or "–"),
            escape(r["industry_l1"] or "–"),
            f"{cap:,.1f}" if cap is not None else "–",
            fmt(r["value"]),
        )
    return table


def top_cmd(
    store: Annotated[Path, typer.Option(help="DuckDB store.", dir_okay=False)] = (
        Path(DEFAULT_STORE)
    ),
    run: Annotated[
        str | None,
        typer.Option(help="Look-through (or factor) run id (default: the latest look-through)."),
    ] = None,
    date: Annotated[
        str | None, typer.Option(help="Date YYYY-MM-DD (default: the run's last date).")
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Stocks per list.")] = 15,
    metrics: Annotated[
        str | None,
        typer.Option(help=f"Comma-separated metrics (default: all of {', '.join(TOP_METRICS)})."),
    ] = None,
    export: Annotated[
        Path | None, typer.Option(help="Also write the lists to this Parquet file.", dir_okay=False)
    ] = None,
    html: Annotated[
        Path | None, typer.Option(help="Also write the lists to this HTML page.", dir_okay=False)
    ] = None,
) -> None:
    """Top-K stocks by passive ownership on one date, one table per metric: descending, equal
    values by code; float cap in 亿 CNY (docs/methodology.md#23-stock-level-metrics)."""
    names = [m.strip() for m in metrics.split(",")] if metrics is not None else None
    day = parse_date(date) if date is not None else None
    res = run_top(store, run=run, date=day, k=k, metrics=names, export=export, html=html)
    for c in res.counts.iter_rows(named=True):
        metric = c["metric"]
        zh, en, _ = LABELS.get(metric, (metric, metric, ""))
        title = (
            f"Top {res.k} by {metric} ({zh}, {en}) on {res.date}, run {res.run['run_id']} "
            f"(pool {res.run['pool']})"
        )
        print_table(top_table(res.lists.filter(pl.col("metric") == metric), metric, title=title))
        if c["n_missing"]:
            n, of = c["n_missing"], c["n_stocks"]
            console.print(f"  {n:,} of {of:,} stocks without a value left out")
    for label, path in (("exported", res.export), ("wrote", res.html)):
        if path is not None:
            console.print(f"{label} {escape(str(path))}")

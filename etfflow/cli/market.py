"""``etfflow market``: ETF count, size and inflows by year, category and tracked index."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.markup import escape

from etfflow.cli._ui import (
    CheckOption,
    HtmlOption,
    compute_session,
    console,
    fmt_num,
    fmt_pct,
    print_table,
    render,
)
from etfflow.engine.overview import ranking
from etfflow.pipeline.market import run_market


def _yi(x: float | None) -> str:
    return fmt_num(None if x is None else x / 1e8, 1)


def market_cmd(
    data_dir: Annotated[Path, typer.Argument(help="Dataset folder.", exists=True, file_okay=False)],
    start: Annotated[
        str | None,
        typer.Option(help="Cumulate index inflows from this date (YYYY-MM-DD; default: first)."),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(help="Write the three tables as Parquet into this folder.", file_okay=False),
    ] = None,
    html: HtmlOption = None,
    check: CheckOption = True,
) -> None:
    """ETF market overview: count, AUM and net inflows by year, category and index.

    Count and AUM by year and category, AUM against the market, cumulative net inflow by
    tracked index (Huaan 2024-12 tables 5, 7, 29; Kaiyuan 2024-09 figures 2, 3, 5).

    Definitions: docs/methodology.md#6-report-tables-and-the-etfflow-output-that-produces-them.
    """
    with compute_session() as progress:
        run = run_market(
            data_dir, start=start, export=export, html=html, check=check, progress=progress
        )
    r = run.result
    pct: dict[str, Callable[[Any], str]] = {
        c: fmt_pct for c in ("aum_share", "aum_growth", "n_etf_growth", "market_return")
    }
    print_table(
        render(
            r.by_year.select(
                "year", "category", "n_etf", "aum", "aum_share", "aum_growth", "n_etf_growth"
            ),
            title="ETF count and AUM (亿 CNY) at year end (cf. Huaan 2024-12, table 5)",
            formats={**pct, "aum": _yi},
        )
    )
    print_table(
        render(
            r.vs_market.select(
                "year", "date", "aum", "aum_growth", "market_return", "aum_to_float_cap"
            ),
            title="ETF AUM against the market (cf. Huaan 2024-12, table 7; Kaiyuan figure 3)",
            formats={**pct, "aum": _yi, "aum_to_float_cap": lambda x: fmt_pct(x, 2)},
        )
    )
    rank = ranking(r.inflow_by_index).with_row_index("rank", offset=1)
    since = str(r.start or (r.inflow_by_index["date"].min() if r.inflow_by_index.height else "–"))
    fmt: dict[str, Callable[[Any], str]] = {"cumulative": _yi}
    print_table(
        render(
            rank.head(10),
            title=f"Top 10 indices by cumulative net inflow (亿 CNY) since {since} "
            "(cf. Huaan 2024-12, table 29)",
            formats=fmt,
        )
    )
    print_table(
        render(
            rank.filter(pl.col("rank") > 10).tail(5),
            title="Bottom 5 indices by cumulative net inflow (亿 CNY)",
            formats=fmt,
        )
    )
    console.print(f"market overview in {run.seconds:.2f} s")
    if run.export:
        console.print(f"exported by_year, vs_market, inflow_by_index to {escape(str(run.export))}")
    if run.html:
        console.print(f"wrote {escape(str(run.html))}")

"""``etfflow compare``: NAVs of stored backtests side by side (one factor across pools or
universes, or several factors), with each line relative to the first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from etfflow.cli._ui import HtmlOption, console, fmt_pct, print_table, render
from etfflow.engine.store import DEFAULT_STORE, check_store_path
from etfflow.pipeline.compare import compare_runs, write_outputs


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()] if text else []


def compare_cmd(
    factors: Annotated[str, typer.Option(help="Comma-separated factor names.")],
    store: Annotated[Path, typer.Option(help="DuckDB store.", dir_okay=False)] = Path(
        DEFAULT_STORE
    ),
    runs: Annotated[
        str | None,
        typer.Option(help="Comma-separated backtest run ids (default: the latest backtest)."),
    ] = None,
    series: Annotated[
        str, typer.Option(help="NAV series: long_short, long, short, excess or benchmark.")
    ] = "long_short",
    export: Annotated[
        Path | None, typer.Option(help="Write the NAV lines as Parquet.", dir_okay=False)
    ] = None,
    html: HtmlOption = None,
) -> None:
    """NAVs of stored backtests side by side (Huaan 2024-12 tables 23, 35–38, 53).

    One line per run and factor; the table gives Rank IC, RankICIR, long-short return and
    drawdown, long excess, the final NAV and its ratio to the first line's.
    """
    check_store_path(store, create=False)
    cmp = compare_runs(store, runs=_split(runs), factors=_split(factors), series=series)
    pct = {c: fmt_pct for c in ("long_short_ann_return", "long_short_max_drawdown")}
    print_table(
        render(
            cmp.table.drop("run_id", "factor"),
            title=f"{series} NAVs side by side (ratio to the first line on its last common date)",
            formats={
                **pct,
                "long_excess_ann": fmt_pct,
                "rank_ic": lambda x: fmt_pct(x, 2),
                "rank_icir": lambda x: "" if x is None else f"{x:.2f}",
                "final_nav": lambda x: "" if x is None else f"{x:.3f}",
                "nav_ratio_to_first": lambda x: "" if x is None else f"{x:.3f}",
            },
        )
    )
    out, page = write_outputs(cmp, export=export, html=html)
    if out:
        console.print(f"exported {cmp.navs.height:,} NAV rows to {escape(str(out))}")
    if page:
        console.print(f"wrote {escape(str(page))}")

"""``etfflow coverage``: held share of stocks and passive share of float cap over time, by
pool, board and float-cap quintile."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import polars as pl
import typer
from rich.markup import escape

from etfflow.cli._ui import HtmlOption, compute_session, console, fmt_pct, print_table, render
from etfflow.engine.coverage_series import FREQS, GROUPINGS
from etfflow.engine.lookthrough import Mode
from etfflow.engine.pools import POOL_NAMES
from etfflow.pipeline.coverage import DEFAULT_GROUPINGS, DEFAULT_POOLS, latest, run_coverage


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def coverage_cmd(
    data_dir: Annotated[Path, typer.Argument(help="Dataset folder.", exists=True, file_okay=False)],
    pools: Annotated[
        str | None,
        typer.Option(
            help=f"Comma-separated ETF pools ({', '.join(POOL_NAMES)}; default: "
            f"{', '.join(DEFAULT_POOLS)}, leaving out a category the data has no ETF of)."
        ),
    ] = None,
    by: Annotated[
        str, typer.Option(help=f"Comma-separated groupings ({', '.join(GROUPINGS)}).")
    ] = ",".join(DEFAULT_GROUPINGS),
    freq: Annotated[str, typer.Option(help="Sampling: day, month (last trading day) or year.")] = (
        "month"
    ),
    mode: Annotated[str, typer.Option(help="pcf (daily baskets) or weights (snapshots).")] = "pcf",
    export: Annotated[
        Path | None, typer.Option(help="Write the table as one Parquet file.", dir_okay=False)
    ] = None,
    html: HtmlOption = None,
) -> None:
    """Coverage over time: the share of stocks ETFs hold and their share of float cap.

    One look-through per pool; the market for every pool, boards and float-cap quintiles
    (Huaan 2024-12 tables 30–33, 41–42). Definitions: docs/methodology.md#27-coverage-over-time.
    """
    if mode not in ("pcf", "weights"):
        raise typer.BadParameter("choose pcf or weights", param_hint="--mode")
    if freq not in FREQS:
        raise typer.BadParameter(", ".join(FREQS), param_hint="--freq")
    with compute_session() as progress:
        run = run_coverage(
            data_dir,
            pools=_split(pools) if pools else list(DEFAULT_POOLS),
            skip_empty=pools is None,
            mode=cast(Mode, mode),
            freq=freq,
            groupings=_split(by),
            export=export,
            html=html,
            progress=progress,
        )
    pct = {"held_share": fmt_pct, "passive_share": lambda x: fmt_pct(x, 2)}
    for grouping in dict.fromkeys(run.table["grouping"].to_list()):
        t = latest(run.table, grouping)
        if grouping != "market":
            t = t.filter(pl.col("pool") == run.pools[0])
        day = str(t["date"].max()) if t.height else "–"
        print_table(
            render(
                t.select("pool", "group", "n_stock", "n_held", "held_share", "passive_share"),
                title=f"Coverage by {grouping} on {day} (cf. Huaan 2024-12 tables 30–33, 41–42)",
                formats=pct,
            ),
            keys=2,
        )
    if run.empty:
        console.print(f"left out (no ETF in the data): {escape(', '.join(run.empty))}")
    console.print(f"coverage of {len(run.pools)} pool(s) in {run.seconds:.2f} s")
    if run.export:
        console.print(f"exported {run.table.height:,} rows to {escape(str(run.export))}")
    if run.html:
        console.print(f"wrote {escape(str(run.html))}")

"""``etfflow penetrate``: the daily look-through of a pool into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import polars as pl
import typer
from rich.markup import escape

from etfflow.cli._ui import CheckOption, compute_session, console, coverage_table, print_table
from etfflow.engine.lookthrough import (
    LookThrough,
    Mode,
    Valuation,
    counted_not_used,
    unit_note,
)
from etfflow.engine.pools import POOL_NAMES, Pool
from etfflow.engine.store import DEFAULT_STORE, check_store_path
from etfflow.pipeline.runs import run_lookthrough


def make_pool(name: str, etfs: str | None, enhanced: bool | None) -> Pool:
    base = Pool.of(name)
    codes = tuple(c.strip() for c in etfs.split(",") if c.strip()) if etfs else None
    if codes is None and enhanced is None:
        return base
    label = ",".join(
        p
        for p in (
            name if name != "all" else "",
            f"codes[{len(codes)}]" if codes else "",
            f"enhanced={enhanced}" if enhanced is not None else "",
        )
        if p
    )
    return Pool(
        categories=base.categories,
        etf_codes=codes,
        enhanced=enhanced,
        split=base.split,
        name=label,
    )


def print_summary(result: LookThrough) -> None:
    d = result.diagnostics
    s = result.stocks
    last = s.filter(pl.col("date") == s["date"].max())
    console.print(
        f"look-through: {d['pool_etfs']} ETFs, {d['basket_rows_read']:,} basket rows, "
        f"{s.height:,} stock-days, {d['seconds']:.2f} s"
    )
    console.print(
        f"latest date {last['date'][0]}: "
        f"{int((last['n_etf'] > 0).sum())}/{last.height} stocks held, "
        f"passive holdings {float(last['mv_passive'].sum()) / 1e8:,.1f} 亿 CNY "
        f"({float(last['mv_passive'].sum()) / float(last['float_mcap'].sum()):.2%} of float cap)"
    )
    if skipped := counted_not_used(d):
        console.print("counted, not used: " + ", ".join(f"{k}={v:,}" for k, v in skipped.items()))
    if note := unit_note(d):
        console.print(escape(note))


def penetrate_cmd(
    data_dir: Annotated[Path, typer.Argument(help="Dataset folder.", exists=True, file_okay=False)],
    pool: Annotated[str, typer.Option(help=f"ETF pool: {', '.join(POOL_NAMES)}.")] = "all",
    etfs: Annotated[
        str | None, typer.Option(help="Comma-separated ETF codes (pool subset).")
    ] = None,
    enhanced: Annotated[
        bool | None, typer.Option("--enhanced/--plain", help="Only enhanced / only plain ETFs.")
    ] = None,
    mode: Annotated[str, typer.Option(help="pcf (daily baskets) or weights (snapshots).")] = "pcf",
    valuation: Annotated[
        str,
        typer.Option(
            help="nav (S·N·w) or basket (q·S/U·close; leaves out, and names, the ETFs whose "
            "etfs.creation_unit U is null)."
        ),
    ] = "nav",
    store: Annotated[Path, typer.Option(help="DuckDB result store.", dir_okay=False)] = Path(
        DEFAULT_STORE
    ),
    export: Annotated[
        Path | None,
        typer.Option(help="Also write the daily stock table to this Parquet file.", dir_okay=False),
    ] = None,
    check: CheckOption = True,
) -> None:
    """Look through every ETF of a pool to its stocks, daily, into the store.

    Definitions: docs/methodology.md#2-look-through.
    """
    if mode not in ("pcf", "weights"):
        raise typer.BadParameter("choose pcf or weights", param_hint="--mode")
    check_store_path(store, create=True)  # before any work: a Parquet --store is refused
    with compute_session() as progress:
        run = run_lookthrough(
            data_dir,
            pool=make_pool(pool, etfs, enhanced),
            mode=cast(Mode, mode),  # checked above
            valuation=cast(Valuation, valuation),  # checked by the look-through, naming both
            store=store,
            export=export,
            check=check,
            progress=progress,
        )
    print_summary(run.result)
    print_table(
        coverage_table(
            run.result.coverage,
            "industry_l1",
            title="Passive coverage of CITIC level-1 industries (cf. Huaan 2024-12, table 9)",
        )
    )
    console.print(
        f"stored run [bold]{run.run_id}[/] in {escape(str(run.store))} "
        "(tables stock_flow, group_flow, coverage)"
    )
    if run.export:
        console.print(f"exported the daily stock table to {escape(str(run.export))}")

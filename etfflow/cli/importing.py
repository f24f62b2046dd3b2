"""``etfflow import``: bring outside data into a dataset folder (one command per source)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.markup import escape

from etfflow.cli._ui import console, err_console, print_table, progress_bar, render
from etfflow.engine.schemas import TABLES

app = typer.Typer(
    no_args_is_help=True, help="Import exchange files and exports into a dataset folder."
)


@app.command("pcf")
def pcf_cmd(
    paths: Annotated[
        list[Path],
        typer.Argument(help="PCF XML files or folders (every *.xml below).", exists=True),
    ],
    out: Annotated[Path, typer.Option(help="Dataset folder (created or merged).", file_okay=False)],
) -> None:
    """Import the exchanges' daily PCF XML files (Shanghai and Shenzhen) into OUT's etf_pcf."""
    from etfflow.engine.adapters.pcf import import_pcf

    with progress_bar() as progress:
        s = import_pcf(paths, out, progress=progress)
    counts = pl.DataFrame(
        {"component rows": list(s.counts), "count": list(s.counts.values())}
    ).with_columns(
        pl.Series(
            "written to",
            ["etf_pcf + pcf_components" if k == "a_share" else "pcf_components" for k in s.counts],
        )
    )
    print_table(render(counts, title="components by kind"))
    exchanges = ", ".join(f"{k} {v:,}" for k, v in s.by_exchange.items())
    console.print(
        f"imported {s.n_files:,} PCF files ({exchanges}): {s.n_etf_days:,} ETF-days from "
        f"{s.first_date} to {s.last_date}, {s.etf_pcf_rows:,} etf_pcf rows, "
        f"{s.replaced_etf_days:,} ETF-days replaced, into {escape(str(s.out))}"
    )
    for note in s.not_provided:
        console.print(f"not provided by PCF files: {escape(note)}", highlight=False)


@app.command("table")
def import_table_cmd(
    file: Annotated[
        Path, typer.Argument(help="CSV, Excel or Parquet export.", exists=True, dir_okay=False)
    ],
    table: Annotated[
        str, typer.Option("--as", help=f"Contract table it holds: {', '.join(TABLES)}.")
    ],
    map_file: Annotated[
        Path,
        typer.Option(
            "--map", help="TOML map file (docs/data_sources.md).", exists=True, dir_okay=False
        ),
    ],
    out: Annotated[
        Path, typer.Option(help="Dataset folder (created when missing).", file_okay=False)
    ],
) -> None:
    """Convert FILE with a map file and merge it into the dataset folder OUT (rows of the same
    dates or keys are replaced; a failed import leaves OUT as it was)."""
    from etfflow.engine.adapters.table import import_table

    if table not in TABLES:
        raise typer.BadParameter(f"choose one of {', '.join(TABLES)}", param_hint="--as")
    res = import_table(file, table=table, map_file=map_file, out=out)
    for w in res.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)
    console.print(
        f"imported {res.rows:,} rows of {table} from {escape(file.name)} into "
        f"{escape(str(res.path))} ({res.replaced:,} earlier rows replaced, {res.kept:,} kept)"
    )


@app.command("tushare")
def tushare_cmd(
    raw_dir: Annotated[
        Path,
        typer.Argument(
            help="Raw folder written by `etfflow fetch tushare`.", exists=True, file_okay=False
        ),
    ],
    out: Annotated[Path, typer.Option(help="Dataset folder (created or merged).", file_okay=False)],
    categories: Annotated[
        Path | None,
        typer.Option(
            help="TOML file overriding ETF categories: a codes table (index code -> category) "
            "and a patterns table (index-name substring -> category); docs/tushare.md.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    creation_units: Annotated[
        Path | None,
        typer.Option(
            help="CSV ts_code,creation_unit[,start_date] giving the creation unit (fund shares) "
            "of ETFs etf_bs_sh_detail/etf_bs_sz_detail lack (Shanghai's start 2025-07-25); "
            "OUT's pcf_header (etfflow import pcf) is used too.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Convert a Tushare Pro raw folder into the data contract and merge it into OUT (rows of
    the same dates or keys are replaced; a failed import leaves OUT as it was)."""
    from etfflow.engine.adapters.tushare.convert import import_tushare

    with progress_bar() as progress:
        s = import_tushare(
            raw_dir, out, categories=categories, progress=progress, creation_units=creation_units
        )
    rows = pl.DataFrame({"table": list(s.rows), "rows": list(s.rows.values())})
    print_table(render(rows, title="tables written"))
    if s.counts:
        counts = pl.DataFrame(
            {"carried or left out": list(s.counts), "rows": list(s.counts.values())}
        )
        print_table(render(counts, title="rows carried or left out (counted, never silently)"))
    for w in s.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)
    for note in s.not_provided:
        console.print(f"not provided by the raw folder: {escape(note)}", highlight=False)
    console.print(f"imported {escape(str(raw_dir))} into {escape(str(s.out))}")

"""``etfflow import``: bring real data into a dataset folder (the data contract's tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from etfflow.cli._ui import console, err_console
from etfflow.engine.schemas import TABLES

app = typer.Typer(no_args_is_help=True, help="Import exports and exchange files into a dataset.")


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

"""``etfflow import``: bring outside data into a dataset folder (one command per source)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.markup import escape

from etfflow.cli._ui import console, print_table, progress_bar, render

app = typer.Typer(no_args_is_help=True, help="Import outside data into a dataset folder.")


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

"""``etfflow generate`` and ``etfflow validate``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.markup import escape

from etfflow.cli._ui import console, err_console, print_table, progress_bar, render
from etfflow.data_samples import SIZES, generate_market
from etfflow.engine.loading import open_dataset
from etfflow.engine.validation import ValidationReport, validate


def generate(
    size: Annotated[str, typer.Option(help=f"Market size: {', '.join(SIZES)}.")] = "small",
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 0,
    out: Annotated[Path, typer.Option(help="Output folder.", file_okay=False)] = Path(
        "etfflow_data/market"
    ),
) -> None:
    """Write a seeded synthetic A-share/ETF market (the data contract's tables) to OUT."""
    if size not in SIZES:
        raise typer.BadParameter(f"choose one of {', '.join(SIZES)}", param_hint="--size")
    t0 = time.perf_counter()
    with progress_bar() as progress:
        path = generate_market(out, size=size, seed=seed, progress=progress)
    console.print(
        f"wrote the {size} market (seed {seed}) to {escape(str(path))} in "
        f"{time.perf_counter() - t0:.1f} s"
    )


def print_report(report: ValidationReport) -> None:
    summary = report.summary()
    failed = summary.filter(pl.col("count") > 0)
    if failed.height:
        print_table(render(failed, title="rules with findings"))
    for w in report.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(w.message)}", highlight=False)
    for e in report.errors:
        err_console.print(f"[bold red]error:[/] {escape(e.message)}", highlight=False)
    n_rules = summary.height
    console.print(
        f"{n_rules} checks, {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    )


def validate_cmd(
    data_dir: Annotated[Path, typer.Argument(help="Dataset folder.", exists=True, file_okay=False)],
) -> None:
    """Check DATA_DIR against every rule of the data contract; exit 1 on any error."""
    ds = open_dataset(data_dir, require_holdings=False)
    with progress_bar() as progress:
        report = validate(ds, progress=progress)
    print_report(report)
    if not report.ok:
        raise typer.Exit(1)

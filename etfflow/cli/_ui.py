"""Terminal rendering shared by the commands: consoles, progress bars, tables, errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
import polars as pl
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from typer.core import TyperGroup

from etfflow.exceptions import EtfflowError

console = Console()
err_console = Console(stderr=True)


class EtfflowGroup(TyperGroup):
    """Catches :class:`EtfflowError` once for every command: message to stderr, exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EtfflowError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(1) from None


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A ``progress(stage, done, total)`` callback drawing one rich bar per stage (stderr)."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def fmt_pct(x: float | None, digits: int = 1) -> str:
    return "" if x is None else f"{100 * x:.{digits}f}%"


def fmt_num(x: float | None, digits: int = 0) -> str:
    return "" if x is None else f"{x:,.{digits}f}"


def render(
    df: pl.DataFrame,
    *,
    title: str | None = None,
    formats: dict[str, Callable[[Any], str]] | None = None,
    headers: Sequence[str] | None = None,
) -> Table:
    """A rich table of ``df`` with per-column formatters."""
    formats = formats or {}
    table = Table(title=title, title_justify="left", show_lines=False)
    for i, col in enumerate(df.columns):
        numeric = df.schema[col].is_numeric()
        table.add_column(headers[i] if headers else col, justify="right" if numeric else "left")
    for row in df.iter_rows():
        table.add_row(
            *[
                formats.get(c, lambda v: "" if v is None else str(v))(v)
                for c, v in zip(df.columns, row, strict=True)
            ]
        )
    return table


COVERAGE_HEADERS = {
    "coverage": "coverage",
    "w_passive": "passive/float cap",
    "n_etf": "ETFs",
    "n_index": "indices",
}


def coverage_table(coverage: pl.DataFrame, level: str, *, title: str) -> Table:
    """Seed 000 table 9: per group, min / mean / max over time and latest of each statistic."""
    df = coverage.filter(pl.col("level") == level).drop("level")
    stats = ("min", "mean", "max", "latest")
    table = Table(title=title, title_justify="left")
    table.add_column("group")
    for head in COVERAGE_HEADERS.values():
        for s in stats:
            table.add_column(f"{head}\n{s}", justify="right")
    for row in df.iter_rows(named=True):
        cells = [row["group_name"]]
        for metric in COVERAGE_HEADERS:
            for s in stats:
                v = row[f"{metric}_{s}"]
                cells.append(fmt_pct(v) if metric in ("coverage", "w_passive") else fmt_num(v))
        table.add_row(*cells, style="bold" if row["group_name"].startswith("(") else None)
    return table

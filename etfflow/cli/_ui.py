"""Terminal rendering shared by the commands: consoles, progress bars, tables, errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl
import typer
from rich import box
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


def _console(*, stderr: bool = False) -> Console:
    """A console; piped output gets 120 columns instead of rich's default 80."""
    c = Console(stderr=stderr)
    if not c.is_terminal and c.width < 120:
        c = Console(stderr=stderr, width=120)
    return c


console = _console()
err_console = _console(stderr=True)


class EtfflowGroup(TyperGroup):
    """Catches :class:`EtfflowError` once for every command: message to stderr, exit 1."""

    def invoke(self, ctx: typer.Context) -> Any:
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


#: (column in the coverage table, header) shown by the terminal summary; the store keeps all
#: sixteen statistics (min / mean / max / latest of four metrics).
COVERAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("coverage_mean", "coverage\nmean"),
    ("coverage_latest", "coverage\nlatest"),
    ("w_passive_mean", "passive/float\nmean"),
    ("w_passive_max", "passive/float\nmax"),
    ("w_passive_latest", "passive/float\nlatest"),
    ("n_etf_mean", "ETFs\nmean"),
    ("n_etf_latest", "ETFs\nlatest"),
    ("n_index_latest", "indices\nlatest"),
)


def coverage_table(coverage: pl.DataFrame, level: str, *, title: str) -> Table:
    """Seed 000 table 9 in brief: per group, coverage and passive share of float cap over time
    (mean, max, latest) and the distinct ETFs and indices holding the group's stocks."""
    df = coverage.filter(pl.col("level") == level)
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("group")
    for _, head in COVERAGE_COLUMNS:
        table.add_column(head, justify="right")
    for row in df.iter_rows(named=True):
        name = row["group_name"]
        mean_row = name.startswith("(")
        cells = ["(mean)" if mean_row else name]
        for col, _ in COVERAGE_COLUMNS:
            v = row[col]
            cells.append(
                fmt_pct(v, 2 if col.startswith("w_") else 1)
                if col.startswith(("coverage", "w_"))
                else fmt_num(v)
            )
        table.add_row(*cells, style="bold" if mean_row else None)
    return table

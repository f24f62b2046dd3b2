"""Terminal rendering shared by the commands: consoles, progress bars, tables, errors.

Two rules hold for everything printed here:

- user-facing text (factor names and formulas such as ``x[t-n]``, group names, error
  messages) is escaped before rich sees it, so square brackets are printed, not eaten as
  markup;
- a number is never cut: :func:`print_table` splits a table that is wider than the terminal
  into several tables with fewer columns (the key column repeated), numeric columns never
  wrap, and ``--wide`` prints one table at its natural width instead.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from etfflow._common import Progress as ProgressFn
from etfflow.exceptions import EtfflowError
from etfflow.pipeline.warm import background_compile, first_run

try:  # typer vendors click since 0.2x; older typers use the click package
    from typer._click import Context
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover
    # click is not installed next to a typer that vendors it (nothing for mypy to find), or it
    # is (pulled in by another package, e.g. distributed) and its types differ from the vendored
    from click import Context  # type: ignore[import-not-found, no-redef, assignment, unused-ignore]
    from click.exceptions import UsageError  # type: ignore[import-not-found, no-redef, assignment, unused-ignore]

#: ``--html FILE`` of the commands that write one self-contained page.
HtmlOption = Annotated[
    Path | None, typer.Option(help="Write a self-contained HTML page.", dir_okay=False)
]
#: ``--check/--no-check`` of the commands that read a dataset.
CheckOption = Annotated[
    bool, typer.Option("--check/--no-check", help="Validate the input tables first.")
]

#: Width of piped output (rich's default for a non-terminal is 80).
PIPE_WIDTH = 120


def _width(c: Console) -> int | None:
    """``COLUMNS`` when set, the terminal's width (None: rich asks the terminal), else 120."""
    cols = os.environ.get("COLUMNS", "")
    if cols.isdigit() and int(cols) > 0:
        return int(cols)
    return None if c.is_terminal else PIPE_WIDTH


def _console(*, stderr: bool = False) -> Console:
    c = Console(stderr=stderr)
    c.width = _width(c)  # type: ignore[assignment]
    return c


console = _console()
err_console = _console(stderr=True)
#: Set by ``--wide``: print every table whole, at its natural width.
_wide = False


def set_wide(wide: bool) -> None:
    global _wide
    _wide = wide


def refresh_consoles() -> None:
    """Re-read the terminal width (``COLUMNS``) at the start of every command."""
    for c in (console, err_console):
        c.width = _width(c)  # type: ignore[assignment]
    set_wide(False)


def print_error(message: object) -> None:
    """``error: <message>`` on stderr, the message printed verbatim (no markup)."""
    err_console.print(f"[bold red]error:[/] {escape(str(message))}", markup=True, highlight=False)


class EtfflowGroup(TyperGroup):
    """Every user error exits with code 1: an :class:`EtfflowError` (message to stderr) and
    click's usage errors (missing argument, bad option value, path that does not exist),
    which click would end with code 2."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except UsageError as exc:
            exc.exit_code = 1
            raise

    def invoke(self, ctx: Context) -> Any:
        refresh_consoles()
        try:
            return super().invoke(ctx)
        except UsageError as exc:  # a sub-command's arguments
            exc.exit_code = 1
            raise
        except EtfflowError as exc:
            print_error(exc)
            raise typer.Exit(1) from None


@contextmanager
def progress_bar() -> Iterator[ProgressFn]:
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


@contextmanager
def compute_session(needs: Sequence[str] | None = None) -> Iterator[ProgressFn]:
    """:func:`progress_bar` for a command that runs numba kernels: on a first run (cold kernel
    cache) a second process compiles kernels meanwhile (:mod:`etfflow.pipeline.warm`);
    ``needs``: module prefixes of the kernels the command runs (default: the demo's)."""
    cold = first_run(needs)
    with background_compile(needs=needs) as helper:
        if helper is not None:
            err_console.print(
                "first run: compiling the numba kernels once, in two processes "
                "(later runs load them from the cache)"
            )
        elif cold:
            err_console.print(
                "first run: compiling the numba kernels once, in this process: no idle core "
                "for a helper (later runs load them from the cache)"
            )
        with progress_bar() as progress:
            yield progress


def fmt_pct(x: float | None, digits: int = 1) -> str:
    return "" if x is None else f"{100 * x:.{digits}f}%"


def fmt_num(x: float | None, digits: int = 0) -> str:
    return "" if x is None else f"{x:,.{digits}f}"


def _plain(v: Any) -> str:
    return "" if v is None else escape(str(v))


def render(
    df: pl.DataFrame,
    *,
    title: str | None = None,
    formats: dict[str, Callable[[Any], str]] | None = None,
    headers: Sequence[str] | None = None,
) -> Table:
    """A rich table of ``df`` with per-column formatters (whose output may use markup;
    values without a formatter are printed verbatim)."""
    formats = formats or {}
    table = Table(title=escape(title) if title else None, title_justify="left", show_lines=False)
    for i, col in enumerate(df.columns):
        numeric = df.schema[col].is_numeric()
        table.add_column(
            escape(headers[i] if headers else col),
            justify="right" if numeric else "left",
            no_wrap=numeric,
        )
    for row in df.iter_rows():
        table.add_row(*[formats.get(c, _plain)(v) for c, v in zip(df.columns, row, strict=True)])
    return table


def _subtable(table: Table, columns: Sequence[int], title: Any) -> Table:
    sub = copy.copy(table)
    sub.title = title
    sub.columns = [
        dataclasses.replace(table.columns[i], _cells=list(table.columns[i]._cells)) for i in columns
    ]
    sub.rows = list(table.rows)
    return sub


def _cell_len(v: Any) -> int:
    text = Text.from_markup(v) if isinstance(v, str) else v
    return max((Text(line).cell_len for line in text.plain.splitlines()), default=0)


def _wrap_header(header: Any, width: int) -> str:
    """``header`` broken at spaces into lines of at most ``width`` cells (a longer word
    keeps its own line)."""
    plain = header.plain if isinstance(header, Text) else Text.from_markup(str(header)).plain
    lines: list[str] = []
    for part in plain.split("\n"):
        line = ""
        for word in part.split():
            if line and Text(f"{line} {word}").cell_len > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return escape("\n".join(lines))


def _min_width(c: Console, table: Table) -> int:
    return Measurement.get(c, c.options.update_width(1_000_000), table).minimum


def fit_table(table: Table, width: int, *, keys: int = 1, c: Console | None = None) -> list[Table]:
    """``table`` as one or more tables no wider than ``width``, none cutting a number.

    Right-justified (numeric) columns are never wrapped or collapsed, so their cells are
    printed whole; their headers are wrapped at spaces to the widest cell. When the table's
    minimum width exceeds ``width``, its columns are dealt out, in order, to several tables
    that each repeat the first ``keys`` columns.
    """
    c = c or console
    for col in table.columns:
        if col.justify == "right" and not col.no_wrap:
            # numbers: never wrapped nor collapsed; the header wrapped to the widest cell
            widest = max((_cell_len(v) for v in col._cells), default=0)
            col.header = _wrap_header(col.header, widest)
            col.no_wrap = True
    if _min_width(c, table) <= width or len(table.columns) <= keys + 1:
        return [table]
    key_cols = list(range(keys))
    chunks: list[list[int]] = []
    current: list[int] = []
    for i in range(keys, len(table.columns)):
        trial = [*current, i]
        if current and _min_width(c, _subtable(table, key_cols + trial, None)) > width:
            chunks.append(current)
            current = [i]
        else:
            current = trial
    chunks.append(current)
    out = []
    for k, chunk in enumerate(chunks):
        title = table.title
        if k and title is not None:
            title = f"{title} (continued, {k + 1}/{len(chunks)})"
        elif title is not None and len(chunks) > 1:
            title = f"{title} (1/{len(chunks)})"
        out.append(_subtable(table, key_cols + chunk, title))
    return out


def print_table(table: Table, *, keys: int = 1, c: Console | None = None) -> None:
    """Print ``table`` fitted to the console width (see :func:`fit_table`); with ``--wide``
    at its natural width in one piece."""
    c = c or console
    if _wide:
        for col in table.columns:
            col.no_wrap = True
        natural = Measurement.get(c, c.options.update_width(1_000_000), table).maximum
        width = c._width  # None: the terminal's width
        c.width = max(natural, c.width)
        try:
            c.print(table, crop=False)
        finally:
            c._width = width
        return
    for t in fit_table(table, c.width, keys=keys, c=c):
        # the title on its own line(s) at the console's width, not wrapped to the table's
        title, t.title = t.title, None
        if title is not None:
            c.print(title, style="italic", highlight=False)
        c.print(t)


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
    """Huaan 2024-12 table 9 in brief: per group, coverage and passive share of float cap over
    time (mean, max, latest) and the distinct ETFs and indices holding the group's stocks
    (docs/methodology.md#26-coverage-statistics)."""
    df = coverage.filter(pl.col("level") == level)
    table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("group")
    for _, head in COVERAGE_COLUMNS:
        table.add_column(head, justify="right")
    for row in df.iter_rows(named=True):
        name = row["group_name"]
        mean_row = name.startswith("(")
        cells = ["(mean)" if mean_row else escape(name)]
        for col, _ in COVERAGE_COLUMNS:
            v = row[col]
            cells.append(
                fmt_pct(v, 2 if col.startswith("w_") else 1)
                if col.startswith(("coverage", "w_"))
                else fmt_num(v)
            )
        table.add_row(*cells, style="bold" if mean_row else None)
    return table


#: ``--wide``, shared by the commands that print wide tables.
WIDE_HELP = "Print tables at full width in one piece (default: split to fit the terminal)."

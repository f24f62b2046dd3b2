"""``etfflow sql`` and ``etfflow store compact``: the result store from the command line."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import duckdb
import polars as pl
import typer
from rich.markup import escape

from etfflow._common import atomic_path
from etfflow.cli._ui import WIDE_HELP, console, print_table, render, set_wide
from etfflow.engine.store import DEFAULT_STORE, compact_store, open_store
from etfflow.exceptions import EtfflowError

app = typer.Typer(no_args_is_help=True, help="Maintain the DuckDB result store.")


def _number(v: Any) -> str:
    """A cell printed whole: floats in their shortest exact form, never cut."""
    if v is None:
        return ""
    if isinstance(v, float):
        return "NaN" if math.isnan(v) else repr(v)
    return str(v)


def _write_atomic(df: pl.DataFrame, path: Path, fmt: str) -> None:
    """Write ``df`` as ``fmt`` to a temporary file beside ``path``, then rename."""
    with atomic_path(path) as tmp:
        if fmt == "csv":
            df.write_csv(tmp)
        elif fmt == "parquet":
            df.write_parquet(tmp)
        else:
            df.write_json(tmp)


def run_query(store: Path, query: str) -> pl.DataFrame:
    """Run one read-only SQL query on the store; the result as a Polars frame."""
    with open_store(store, read_only=True, create=False) as st:
        try:
            rel = st.con.sql(query)
            if rel is None:
                raise EtfflowError(
                    "the statement returned no table: `etfflow sql` runs queries (SELECT, "
                    "DESCRIBE, SHOW, PRAGMA ...) on a read-only store"
                )
            return rel.pl()
        except duckdb.Error as exc:
            raise EtfflowError(f"query failed on {store}: {exc}") from None


def sql_cmd(
    query: Annotated[str, typer.Argument(help='One SQL query, e.g. "SELECT * FROM runs".')],
    store: Annotated[Path, typer.Option(help="DuckDB result store.", dir_okay=False)] = Path(
        DEFAULT_STORE
    ),
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Write the result to this CSV file.")
    ] = None,
    parquet: Annotated[
        Path | None, typer.Option("--parquet", help="Write the result to this Parquet file.")
    ] = None,
    json: Annotated[
        Path | None, typer.Option("--json", help="Write the result to this JSON file.")
    ] = None,
    max_rows: Annotated[int, typer.Option(help="Rows shown in the terminal.")] = 50,
    wide: Annotated[bool, typer.Option("--wide", help=WIDE_HELP)] = False,
) -> None:
    """Query the store with plain SQL (read-only): a table in the terminal, or a file."""
    set_wide(wide)
    outputs = [(p, f) for p, f in ((csv, "csv"), (parquet, "parquet"), (json, "json")) if p]
    if len(outputs) > 1:
        raise typer.BadParameter("give one of --csv, --parquet, --json", param_hint="--csv")
    df = run_query(store, query)
    if outputs:
        path, fmt = outputs[0]
        _write_atomic(df, path, fmt)
        console.print(f"wrote {df.height:,} rows × {df.width} columns to {escape(str(path))}")
        return
    shown = df.head(max_rows)
    formats: dict[str, Callable[[Any], str]] = {c: _number for c in df.columns}
    print_table(render(shown, formats=formats), keys=1 if df.width > 1 else 0)
    more = df.height - shown.height
    console.print(
        f"{df.height:,} row{'s' if df.height != 1 else ''}"
        + (f" ({more:,} not shown: --max-rows, or --csv/--parquet/--json FILE)" if more else "")
    )


@app.command("compact")
def compact_cmd(
    store: Annotated[Path, typer.Option(help="DuckDB result store.", dir_okay=False)] = Path(
        DEFAULT_STORE
    ),
) -> None:
    """Rewrite the store without the space of replaced runs (DuckDB never shrinks a file)."""
    before, after = compact_store(store)
    console.print(
        f"compacted {escape(str(store))}: {before / 1e6:,.1f} MB -> {after / 1e6:,.1f} MB"
    )

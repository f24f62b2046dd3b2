"""Errors raised by etfflow.

Every error a user can trigger with bad input is an :class:`EtfflowError` (a ``ValueError``).
Messages say what failed, in which table and column, show up to five example rows and end
with a hint, so that a researcher can find the offending rows in their own data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl

MAX_EXAMPLES = 5


def format_examples(
    rows: pl.DataFrame | Sequence[dict[str, Any]], *, limit: int = MAX_EXAMPLES
) -> str:
    """Render up to ``limit`` example rows as ``key=value`` lines for an error message."""
    if isinstance(rows, pl.DataFrame):
        dicts = rows.head(limit).to_dicts()
    else:
        dicts = list(rows)[:limit]

    def show(v: Any) -> str:
        return v.isoformat() if isinstance(v, dt.date) else repr(v)

    return "\n".join("    " + ", ".join(f"{k}={show(v)}" for k, v in row.items()) for row in dicts)


class EtfflowError(ValueError):
    """Base class of every error etfflow raises on user input."""


class DataContractError(EtfflowError):
    """Input data breaks the data contract (missing table or column, wrong type, bad value)."""

    def __init__(
        self,
        message: str,
        *,
        table: str,
        column: str | None = None,
        rule: str | None = None,
        examples: pl.DataFrame | None = None,
        n_rows: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.table = table
        self.column = column
        self.rule = rule
        self.examples = examples
        self.n_rows = n_rows
        self.hint = hint
        where = f"table '{table}'" + (f", column '{column}'" if column else "")
        text = f"{where}: {message}"
        if n_rows is not None:
            text += f" ({n_rows:,} row{'s' if n_rows != 1 else ''})"
        if examples is not None and examples.height:
            text += f"\n  example rows (up to {MAX_EXAMPLES}):\n" + format_examples(examples)
        if hint:
            text += f"\n  hint: {hint}"
        self.message = text
        super().__init__(text)

    @classmethod
    def missing_column(
        cls, *, table: str, column: str, available: Sequence[str]
    ) -> DataContractError:
        return cls(
            "required column is missing",
            table=table,
            column=column,
            rule="missing_column",
            hint=f"available columns: {', '.join(available) or '(none)'}",
        )

    @classmethod
    def wrong_type(
        cls, *, table: str, column: str, expected: str, actual: pl.DataType
    ) -> DataContractError:
        return cls(
            f"has type {actual}, expected {expected}",
            table=table,
            column=column,
            rule="wrong_type",
            hint="cast the column before writing the Parquet file (dates as pl.Date, "
            "money and shares as Float64, codes as strings)",
        )


class ValidationError(EtfflowError):
    """One or more data-contract violations found by :func:`etfflow.engine.validate`.

    ``errors`` holds the individual :class:`DataContractError` objects.
    """

    def __init__(self, errors: Sequence[DataContractError]) -> None:
        self.errors = list(errors)
        head = f"{len(self.errors)} data-contract violation{'s' if len(self.errors) != 1 else ''}"
        body = "\n".join(f"- {e.message}" for e in self.errors)
        super().__init__(f"{head}:\n{body}")


class DatasetNotFoundError(EtfflowError):
    """The dataset folder or one of its required tables does not exist."""


class PoolError(EtfflowError):
    """An ETF pool selects nothing or names unknown ETFs."""


class StoreError(EtfflowError):
    """The DuckDB result store cannot be opened or written."""


class SourceFileError(DataContractError):
    """A file brought in by an adapter (an export, a map file) cannot be turned into a contract
    table; ``file`` is its path. The message names the file, the table, the column or map field
    and up to five example rows."""

    def __init__(self, message: str, *, file: object, table: str, **kw: Any) -> None:
        self.file = str(file)
        super().__init__(f"{message} (file {self.file})", table=table, **kw)


class StudyTaskError(EtfflowError):
    """A task (a study cell) failed; ``key`` names it, the message carries its error."""

    def __init__(self, key: str, error: BaseException | str) -> None:
        self.key = key
        self.error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        super().__init__(f"{key} failed: {self.error}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # picklable across processes
        return (type(self), (self.key, self.error))

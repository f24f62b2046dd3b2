"""What validation found: the public report types and the tally that builds them."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from etfflow.engine.contract import ERROR, RULES
from etfflow.exceptions import MAX_EXAMPLES, DataContractError, ValidationError


@dataclass(frozen=True)
class ValidationIssue:
    """A recoverable oddity: counted and reported, never dropped.

    ``examples`` holds up to five offending rows (key columns and the offending value).
    """

    table: str
    column: str | None
    rule: str
    count: int
    message: str
    examples: pl.DataFrame

    def __str__(self) -> str:
        return self.message


_SUMMARY_SCHEMA = pl.Schema(
    {
        "table": pl.String,
        "column": pl.String,
        "rule": pl.String,
        "severity": pl.String,
        "count": pl.Int64,
    }
)


@dataclass
class ValidationReport:
    """What :func:`~etfflow.engine.validation.validate` found.

    ``errors`` are contract violations (:class:`~etfflow.exceptions.DataContractError`),
    ``warnings`` recoverable oddities (:class:`ValidationIssue`). :meth:`summary` lists
    every rule checked, with its count (0 = passed).
    """

    errors: list[DataContractError] = field(default_factory=list)
    warnings: list[ValidationIssue] = field(default_factory=list)
    checks: list[tuple[str, str | None, str, str, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise :class:`~etfflow.exceptions.ValidationError` listing every error, if any."""
        if self.errors:
            raise ValidationError(self.errors)

    def summary(self) -> pl.DataFrame:
        """One row per rule checked: table, column, rule, severity, count (0 = passed)."""
        return pl.DataFrame(self.checks, schema=_SUMMARY_SCHEMA, orient="row")

    def __repr__(self) -> str:
        return (
            f"ValidationReport({len(self.errors)} errors, {len(self.warnings)} warnings, "
            f"{len(self.checks)} checks)"
        )


@dataclass
class Outcome:
    """Count and up to five example rows of one rule on one column."""

    table: str
    column: str | None
    rule: str
    severity: str
    message: str
    hint: str
    count: int = 0
    examples: list[pl.DataFrame] = field(default_factory=list)
    error: DataContractError | None = None  # prebuilt (structure errors)

    def need(self) -> int:
        return MAX_EXAMPLES - sum(e.height for e in self.examples)

    def add(self, count: int, examples: pl.DataFrame | None = None) -> None:
        self.count += int(count)
        if examples is not None and examples.height and self.need() > 0:
            self.examples.append(examples.head(self.need()))

    def example_frame(self) -> pl.DataFrame | None:
        if not self.examples:
            return None
        return pl.concat(self.examples, how="vertical_relaxed").head(MAX_EXAMPLES)


class Tally:
    """Outcomes of every rule checked, in the order they were registered."""

    def __init__(self) -> None:
        self.outcomes: dict[tuple[str, str | None, str], Outcome] = {}

    def rule(self, table: str, column: str | None, rule: str, **fmt: object) -> Outcome:
        """The outcome of ``rule`` on ``table.column`` (registered on first use)."""
        key = (table, column, rule)
        if key not in self.outcomes:
            r = RULES[rule]
            message, hint = r.message.format(column=column, **fmt), r.hint.format(**fmt)
            self.outcomes[key] = Outcome(table, column, rule, r.severity, message, hint)
        return self.outcomes[key]

    def structural(self, error: DataContractError, *, passed: bool = False) -> None:
        o = self.rule(error.table, error.column, error.rule or "missing_column")
        if not passed:
            o.count += 1
            o.error = error

    def report(self) -> ValidationReport:
        rep = ValidationReport()
        for o in self.outcomes.values():
            rep.checks.append((o.table, o.column, o.rule, o.severity, o.count))
            if not o.count:
                continue
            if o.error is not None:
                rep.errors.append(o.error)
                continue
            err = DataContractError(
                f"{o.message} [{o.rule}]",
                table=o.table,
                column=o.column,
                rule=o.rule,
                examples=o.example_frame(),
                n_rows=o.count,
                hint=o.hint,
            )
            if o.severity == ERROR:
                rep.errors.append(err)
            else:
                ex = err.examples if err.examples is not None else pl.DataFrame()
                rep.warnings.append(
                    ValidationIssue(o.table, o.column, o.rule, o.count, err.message, ex)
                )
        return rep

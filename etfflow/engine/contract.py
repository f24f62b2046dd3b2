"""The vocabulary of the data contract: the rule catalogue and the column declaration.

Every rule a :class:`~etfflow.exceptions.DataContractError` or a validation warning can carry
is declared once in :data:`RULES` (its name, severity, message and hint), whoever raises it:
:func:`etfflow.engine.validation.validate`, the look-through or the factor inputs. The
tables themselves are declared in :mod:`etfflow.engine.schemas`, one :class:`Column` per
column in the shape of a pandera model (dtype, nullable, value checks, reference); their
``pl.Schema`` constants and every value rule of the validation are derived from those
declarations.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Rule:
    """One rule of the catalogue; ``message``/``hint`` may hold ``{column}``, ``{allowed}``,
    ``{tol}``, ``{ref}`` placeholders filled in per column."""

    name: str
    severity: str
    message: str
    hint: str


def _catalogue(*rules: Rule) -> dict[str, Rule]:
    return {r.name: r for r in rules}


E, W = ERROR, WARNING
# fmt: off
#: Every rule, by name: the single vocabulary of rule names.
RULES: dict[str, Rule] = _catalogue(
    # structure
    Rule("unreadable_file", E, "file cannot be read as Parquet (corrupt, truncated or not Parquet)",
         "rewrite the table as Parquet"),
    Rule("file_schema", E, "files of a folder table disagree on columns or dtypes",
         "write every file of the table with one schema"),
    Rule("missing_column", E, "required column is missing", "see the data contract"),
    Rule("wrong_type", E, "column has the wrong dtype", "see the data contract"),
    # values (per column)
    Rule("null_value", E, "null value in a required column",
         "nulls are allowed only in optional columns; fill or drop these rows"),
    Rule("negative", E, "negative value",
         "prices, money, shares, quantities and weights must be >= 0"),
    Rule("non_positive", E, "value must be > 0",
         "the creation unit (fund shares per basket) is divided by: write null when unknown"),
    Rule("non_finite", E, "NaN or infinite value",
         "write null for a missing optional value, never NaN or inf"),
    Rule("invalid_value", E, "value not in ({allowed})", "use one of {allowed}"),
    Rule("unknown_stock", E, "code not in stocks.code",
         "add the stock to stocks or fix the code (suffix form such as 600519.SH)"),
    Rule("unknown_etf", E, "etf_code not in etfs.etf_code", "add the ETF to etfs or fix the code"),
    Rule("unknown_fund", E, "fund_code not in active_funds.fund_code",
         "add the fund to active_funds or fix the code"),
    Rule("date_not_in_calendar", E, "date is not a trading day (not a date of stock_daily)",
         "drop rows dated on non-trading days or add the missing stock_daily day"),
    Rule("weekend_date", E, "trading day on a Saturday or Sunday",
         "stock_daily dates are the trading calendar"),
    Rule("not_month_start", E, "month is not the first day of a month",
         "store each month as its first day"),
    Rule("delist_before_list", E, "delist_date before list_date", "correct the listing dates"),
    Rule("end_before_start", E, "end_date before start_date",
         "an industry interval runs from start_date to end_date inclusive"),
    Rule("disclose_before_report", E, "disclose_date before report_date",
         "holdings are disclosed after the report date"),
    # values (per table)
    Rule("duplicate_key", E, "duplicate key ({column})",
         "each key identifies one row; drop the duplicates or fix the key columns"),
    Rule("weight_sum", E, "weight snapshot does not sum to 1 (tolerance {tol:g})",
         "normalise the weights of each (date, etf_code) or (date, index_code) snapshot"),
    Rule("overlapping_interval", E, "industry interval overlaps the stock's previous interval",
         "end the previous interval (end_date) before the next one starts"),
    # raised after the look-through, by the factor inputs
    Rule("unknown_key", E, "date or code not in the dataset the factors are computed on",
         "compute the look-through and the factors on the same dataset"),
    # raised by the adapters (etfflow import), before a table is written
    Rule("map_file", E, "map file cannot be applied to the table",
         "see the map format in docs/data_sources.md"),
    Rule("unmapped_column", E, "column of the imported file mapped to no contract column",
         "rename it in [rename] or list it in drop = [...]"),
    Rule("unparsable_value", E, "value of the imported file does not parse (number, date, "
         "boolean, code)", "fix the value or declare its format in the map file"),
    # warnings
    Rule("zero_shares", W, "ETF-day with zero shares", "the ETF holds nothing that day"),
    Rule("zero_quantity", W, "basket component with zero quantity", "ignored by the look-through"),
    Rule("zero_weight", W, "snapshot component with zero weight", "ignored by the look-through"),
    Rule("no_industry", W, "no industry in force on that day",
         "the stock is left out of industry aggregates that day"),
    Rule("outside_listing", W, "row before list_date or after delist_date in {ref}",
         "kept as is; check the listing dates"),
    Rule("unpriced_component", W, "basket component with no stock_daily row that day",
         "it cannot be priced and is excluded from that day's weights"),
    Rule("no_basket", W, "etf_daily row (ETF-day) with no PCF basket that day",
         "the look-through carries the ETF's latest earlier basket"),
    Rule("basket_without_daily", W, "PCF basket on a day the ETF has no etf_daily row",
         "the ETF takes no part in the look-through that day"),
)
# fmt: on

#: Rule a reference ``(table, column)`` breaks when a value is not found there.
REF_RULES: dict[tuple[str, str], str] = {
    ("stocks", "code"): "unknown_stock",
    ("etfs", "etf_code"): "unknown_etf",
    ("active_funds", "fund_code"): "unknown_fund",
    ("stock_daily", "date"): "date_not_in_calendar",
}


@dataclass(frozen=True)
class Check:
    """A value check of one column: the catalogue rule it reports and its parameter."""

    rule: str
    arg: object = None

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise KeyError(f"check with unknown rule {self.rule!r}")


def ge0() -> Check:
    """``>= 0`` (and finite)."""
    return Check("negative")


def gt0() -> Check:
    """``> 0`` (and finite)."""
    return Check("non_positive")


def finite() -> Check:
    """Not NaN, not infinite."""
    return Check("non_finite")


def isin(allowed: tuple[str, ...]) -> Check:
    return Check("invalid_value", tuple(allowed))


def not_before(other: str, rule: str) -> Check:
    """Not earlier than column ``other`` of the same row."""
    return Check(rule, other)


def warn_zero(rule: str) -> Check:
    """A warning on zero values."""
    return Check(rule)


def weekday() -> Check:
    return Check("weekend_date")


def month_start() -> Check:
    return Check("not_month_start")


@dataclass(frozen=True)
class Column:
    """One column of a contract table (the shape of a pandera ``Column``).

    ``required`` columns must be present, optional ones may be absent; ``nullable`` false
    means a null is a ``null_value`` error. ``checks`` are value checks; numeric checks
    (``ge0``, ``gt0``) imply ``finite``. ``ref`` names the ``(table, column)`` each non-null
    value must be found in (:data:`REF_RULES`).
    """

    name: str
    dtype: pl.DataType | type[pl.DataType]
    required: bool = True
    nullable: bool | None = None  # default: not required
    checks: tuple[Check, ...] = ()
    ref: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if self.nullable is None:
            object.__setattr__(self, "nullable", not self.required)
        if self.ref is not None and self.ref not in REF_RULES:
            raise KeyError(f"column {self.name}: no rule for reference {self.ref}")

    @property
    def rules(self) -> tuple[str, ...]:
        """Every catalogue rule this declaration can report (besides structure rules)."""
        out = [] if self.nullable else ["null_value"]
        out += [c.rule for c in self.checks]
        if any(c.rule in ("negative", "non_positive") for c in self.checks):
            out.append("non_finite")
        if self.ref is not None:
            out.append(REF_RULES[self.ref])
        return tuple(dict.fromkeys(out))


def optional(name: str, dtype: pl.DataType | type[pl.DataType], **kw: object) -> Column:
    """A column that may be absent (and is nullable)."""
    return Column(name, dtype, required=False, **kw)  # type: ignore[arg-type]

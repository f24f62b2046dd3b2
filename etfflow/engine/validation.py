"""Validate a dataset against the data contract (``DATA_CONTRACT.md``, ``schemas.TABLES``).

:func:`validate` checks every table of a :class:`~etfflow.engine.loading.Dataset` and returns a
:class:`ValidationReport`: errors (:class:`~etfflow.exceptions.DataContractError`, the data
breaks the contract) and warnings (:class:`ValidationIssue`, recoverable oddities that later
stages handle in a documented way). Nothing is dropped or fixed here: every offending row is
counted and up to five are shown.

Large tables (``etf_pcf`` has ~190M rows at full size) are read lazily in date-range chunks
with the streaming engine, projecting only the columns a rule needs. Codes are never
materialised as strings: a code column is turned into its rank in the sorted reference list
(``stocks.code``, ``etfs.etf_code``) through a lookup table indexed by the Categorical
physical code (or an ``Enum`` cast for String columns), and "has a price that day" /
"has an industry that day" are bitmaps over (code rank, trading-day index).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from etfflow.engine import schemas as sc
from etfflow.engine.loading import Dataset, scan_table
from etfflow.exceptions import MAX_EXAMPLES, DataContractError, EtfflowError, ValidationError

__all__ = ["ValidationIssue", "ValidationReport", "validate"]

log = logging.getLogger(__name__)

ERROR = "error"
WARNING = "warning"

#: Rows per chunk when a table is read in date ranges.
CHUNK_ROWS = 25_000_000
#: Below this many rows duplicate keys are found with a plain group-by (no sorted fast path).
SMALL_ROWS = 2_000_000
#: Largest (codes x trading days) bitmap built for the per-day lookups (bytes).
MAX_BITMAP = 500_000_000

Progress = Callable[[str, int, int], None]

#: Every rule checked: severity, what failed, and a hint (``{...}`` filled in per column).
# fmt: off
RULES: dict[str, tuple[str, str, str]] = {
    # structure
    "file_schema": (ERROR, "files of a folder table disagree on columns or dtypes",
                    "write every file of the table with one schema"),
    "missing_column": (ERROR, "required column is missing", "see the data contract"),
    "wrong_type": (ERROR, "column has the wrong dtype", "see the data contract"),
    # values
    "null": (ERROR, "null value in a required column",
             "nulls are allowed only in optional columns; fill or drop these rows"),
    "duplicate_key": (ERROR, "duplicate key ({column})",
                      "each key identifies one row; drop the duplicates or fix the key columns"),
    "negative": (ERROR, "negative value",
                 "prices, money, shares, quantities and weights must be >= 0"),
    "non_positive": (ERROR, "value must be > 0",
                     "the creation unit (fund shares per basket) is divided by"),
    "non_finite": (ERROR, "NaN or infinite value",
                   "write null for a missing optional value, never NaN or inf"),
    "invalid_value": (ERROR, "value not in ({allowed})", "use one of {allowed}"),
    "weight_sum": (ERROR, "weight snapshot does not sum to 1 (tolerance {tol:g})",
                   "normalise the weights of each (date, etf_code) or (date, index_code) "
                   "snapshot"),
    "unknown_stock": (ERROR, "code not in stocks.code",
                      "add the stock to stocks or fix the code (suffix form such as 600519.SH)"),
    "unknown_etf": (ERROR, "etf_code not in etfs.etf_code", "add the ETF to etfs or fix the code"),
    "unknown_fund": (ERROR, "fund_code not in active_funds.fund_code",
                     "add the fund to active_funds or fix the code"),
    "weekend_date": (ERROR, "trading day on a Saturday or Sunday",
                     "stock_daily dates are the trading calendar"),
    "not_trading_day": (ERROR, "date is not a trading day (not a date of stock_daily)",
                        "drop rows dated on non-trading days or add the missing stock_daily day"),
    "delist_before_list": (ERROR, "delist_date before list_date", "correct the listing dates"),
    "end_before_start": (ERROR, "end_date before start_date",
                         "an industry interval runs from start_date to end_date inclusive"),
    "overlapping_interval": (ERROR, "industry interval overlaps the stock's previous interval",
                             "end the previous interval (end_date) before the next one starts"),
    "not_month_start": (ERROR, "month is not the first day of a month",
                        "store each month as its first day"),
    "disclose_before_report": (ERROR, "disclose_date before report_date",
                               "holdings are disclosed after the report date"),
    # warnings
    "no_industry": (WARNING, "no industry in force on that day",
                    "the stock is left out of industry aggregates that day"),
    "outside_listing": (WARNING, "row before list_date or after delist_date in {ref}",
                        "kept as is; check the listing dates"),
    "zero_shares": (WARNING, "ETF-day with zero shares", "the ETF holds nothing that day"),
    "zero_quantity": (WARNING, "basket component with zero quantity",
                      "ignored by the look-through"),
    "zero_weight": (WARNING, "snapshot component with zero weight", "ignored by the look-through"),
    "unpriced_component": (WARNING, "basket component with no stock_daily row that day",
                           "it cannot be priced and is excluded from that day's weights"),
    "no_basket": (WARNING, "etf_daily row (ETF-day) with no PCF basket that day",
                  "the look-through carries the ETF's latest earlier basket"),
    "basket_without_daily": (WARNING, "PCF basket on a day the ETF has no etf_daily row",
                             "the ETF takes no part in the look-through that day"),
}
# fmt: on

#: Money, prices, shares and weights: must be >= 0 and finite.
_PRICES = ("close", "up_limit", "down_limit")
NON_NEGATIVE: dict[str, tuple[str, ...]] = {
    "stock_daily": (*_PRICES, "float_mcap", "total_mcap", "amount", "turnover"),
    "etf_daily": ("shares", "nav", "close", "amount"),
    "etf_pcf": ("quantity",),
    "holding_weights": ("weight",),
    "index_daily": ("close",),
    "active_holdings": ("mv",),
    "fund_nav": ("nav",),
    "fund_issuance": ("new_shares",),
}
#: Must be > 0 and finite (divided by in SPEC §2).
POSITIVE: dict[str, tuple[str, ...]] = {"etfs": ("creation_unit",)}
#: May be negative but must be finite.
FINITE: dict[str, tuple[str, ...]] = {"stock_daily": ("ret",)}
#: Enumerated string columns.
ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("stocks", "board"): sc.BOARDS,
    ("etfs", "category"): sc.ETF_CATEGORIES,
    ("fund_issuance", "kind"): sc.ISSUANCE_KINDS,
    ("etf_pcf", "cash_substitute"): sc.CASH_SUBSTITUTE_FLAGS,
}
#: Tables whose ``date`` must be a trading day (a date of ``stock_daily``).
CALENDAR_TABLES: tuple[str, ...] = (
    "etf_daily",
    "etf_pcf",
    "holding_weights",
    "index_daily",
    "fund_nav",
)
#: Tables whose ``code`` must be in ``stocks.code``.
STOCK_REF_TABLES: tuple[str, ...] = (
    "stock_industry",
    "stock_daily",
    "etf_pcf",
    "holding_weights",
    "active_holdings",
)
#: Tables whose ``etf_code`` must be in ``etfs.etf_code``.
ETF_REF_TABLES: tuple[str, ...] = ("etf_daily", "etf_pcf", "holding_weights")
#: Tables whose ``fund_code`` must be in ``active_funds.fund_code``.
FUND_REF_TABLES: tuple[str, ...] = ("active_holdings", "fund_nav")
#: The date column a large table is chunked on.
CHUNK_COLUMN: dict[str, str] = {
    "stock_daily": "date",
    "etf_daily": "date",
    "etf_pcf": "date",
    "holding_weights": "date",
    "index_daily": "date",
    "fund_nav": "date",
    "active_holdings": "report_date",
}

# ----------------------------------------------------------------------------- public types


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
    """What :func:`validate` found.

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


# ----------------------------------------------------------------------------- tally


@dataclass
class _Outcome:
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


class _Tally:
    """Outcomes of every rule checked, in the order they were registered."""

    def __init__(self) -> None:
        self.outcomes: dict[tuple[str, str | None, str], _Outcome] = {}

    def rule(self, table: str, column: str | None, rule: str, **fmt: object) -> _Outcome:
        """The outcome of ``rule`` on ``table.column`` (registered on first use)."""
        key = (table, column, rule)
        if key not in self.outcomes:
            severity, message, hint = RULES[rule]
            message, hint = message.format(column=column, **fmt), hint.format(**fmt)
            self.outcomes[key] = _Outcome(table, column, rule, severity, message, hint)
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


# ----------------------------------------------------------------------------- lookups


def _is_global_categorical(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.Categorical) and dtype == pl.Categorical()


def _nullable_lut(lut: np.ndarray) -> pl.Series:
    s = pl.Series("lut", lut, dtype=pl.Int32)
    return pl.select(pl.when(s >= 0).then(s)).to_series()


class _Codes:
    """Sorted distinct codes and an expression giving a code column's rank among them.

    The rank is null for a code outside the list. Categorical columns are looked up by their
    physical code (no string is built): ``self._cat`` keeps the process-wide category mapping
    alive so that the physical codes stay stable while validating. Other string-like columns
    are cast to an ``Enum`` of the list.
    """

    def __init__(self, values: pl.Series) -> None:
        self.values = values.cast(pl.String)
        self.n = values.len()
        self._cat = self.values.cast(pl.Categorical)
        phys = self._cat.to_physical().to_numpy()
        lut = np.full(int(phys.max()) + 1 if self.n else 0, -1, dtype=np.int32)
        lut[phys] = np.arange(self.n, dtype=np.int32)
        self._lut = _nullable_lut(lut)
        self._enum = pl.Enum(self.values)

    @classmethod
    def from_frame(cls, lf: pl.LazyFrame, column: str) -> _Codes:
        values = (
            lf.select(pl.col(column).unique())
            .collect(engine="streaming")
            .to_series()
            .cast(pl.String)
            .drop_nulls()
            .sort()
        )
        return cls(values)

    def rank(self, column: str | pl.Expr, dtype: pl.DataType) -> pl.Expr:
        col = pl.col(column) if isinstance(column, str) else column
        if self.n == 0:
            return pl.lit(None, dtype=pl.Int32)
        if _is_global_categorical(dtype):
            return pl.lit(self._lut).gather(col.to_physical(), null_on_oob=True)
        return col.cast(self._enum, strict=False).to_physical().cast(pl.Int32)


class _Calendar:
    """The trading days (distinct ``stock_daily`` dates) and a date -> day-index expression."""

    def __init__(self, dates: pl.Series) -> None:
        self.dates = dates
        self.n = dates.len()
        self.days = dates.cast(pl.Int32).to_numpy()
        self.d0 = int(self.days[0])
        lut = np.full(int(self.days[-1]) - self.d0 + 1, -1, dtype=np.int32)
        lut[self.days - self.d0] = np.arange(self.n, dtype=np.int32)
        self._lut = _nullable_lut(lut)

    def index(self, column: str) -> pl.Expr:
        off = pl.col(column).cast(pl.Int32) - self.d0
        return pl.lit(self._lut).gather(pl.when(off >= 0).then(off), null_on_oob=True)

    def position(self, days: np.ndarray, *, side: str) -> np.ndarray:
        """Index of the first trading day ``>=`` (left) or ``>`` (right) each day number."""
        return np.searchsorted(self.days, days, side=side)  # type: ignore[call-overload]


class _Bitmap:
    """A boolean table over (code rank, trading-day index), looked up by expression."""

    def __init__(self, bits: np.ndarray) -> None:
        self.n_days = bits.shape[1]
        self._bits = pl.Series("bits", bits.ravel())

    def lookup(self, rank: pl.Expr, day: pl.Expr) -> pl.Expr:
        idx = rank.cast(pl.Int64) * self.n_days + day.cast(pl.Int64)
        return pl.lit(self._bits).gather(idx, null_on_oob=True)


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))] if a.size else a


def _isin_sorted(a: np.ndarray, sorted_b: np.ndarray) -> np.ndarray:
    """``np.isin(a, sorted_b)`` by binary search (``sorted_b`` sorted, distinct)."""
    if not sorted_b.size:
        return np.zeros(a.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_b, a), sorted_b.size - 1)
    return sorted_b[pos] == a


def _keys_to_bits(keys: np.ndarray, n_codes: int, n_days: int) -> np.ndarray:
    bits = np.zeros(n_codes * n_days, dtype=bool)
    bits[keys] = True
    return bits.reshape(n_codes, n_days)


# ----------------------------------------------------------------------------- context


@dataclass
class _Structure:
    schema: pl.Schema
    file_mismatches: pl.DataFrame  # file, column, dtype, expected

    @property
    def readable(self) -> bool:
        return self.file_mismatches.height == 0


class _Context:
    """The dataset plus reference data built once, on first use."""

    def __init__(self, dataset: Dataset) -> None:
        self.ds = dataset
        self._structures: dict[str, _Structure] = {}
        self._cache: dict[str, object] = {}

    # structure -----------------------------------------------------------------------------
    def structure(self, table: str) -> _Structure:
        if table not in self._structures:
            schema = self.ds.raw(table).collect_schema()
            rows: list[tuple[str, str, str, str]] = []
            files = self.ds.files(table)
            if len(files) > 1:
                contract = sc.TABLES[table].columns
                first = scan_table(files[0]).collect_schema()
                for f in files[1:]:
                    s = scan_table(f).collect_schema()
                    for c in contract:
                        a, b = first.get(c), s.get(c)
                        if a != b:
                            rel = f.relative_to(self.ds.root).as_posix()
                            rows.append((rel, c, str(b), str(a)))
            mism = pl.DataFrame(rows, schema=["file", "column", "dtype", "expected"], orient="row")
            self._structures[table] = _Structure(schema, mism)
        return self._structures[table]

    def usable(self, table: str, *columns: str) -> bool:
        """Table present and readable, columns present with the contract dtype."""
        if not self.ds.has(table):
            return False
        st = self.structure(table)
        if not st.readable:
            return False
        spec = sc.TABLES[table].columns
        return all(c in st.schema and sc.dtype_matches(spec[c], st.schema[c]) for c in columns)

    def _cached(self, name: str, build: Callable[[], object]) -> object:
        if name not in self._cache:
            self._cache[name] = build()
        return self._cache[name]

    # references ----------------------------------------------------------------------------
    def codes(self, table: str, column: str) -> _Codes | None:
        def build() -> _Codes | None:
            if not self.usable(table, column):
                return None
            return _Codes.from_frame(self.ds.raw(table), column)

        return self._cached(f"codes:{table}.{column}", build)  # type: ignore[return-value]

    def stocks(self) -> _Codes | None:
        return self.codes("stocks", "code")

    def etfs(self) -> _Codes | None:
        return self.codes("etfs", "etf_code")

    def funds(self) -> _Codes | None:
        return self.codes("active_funds", "fund_code")

    def calendar(self) -> _Calendar | None:
        def build() -> _Calendar | None:
            if not self.usable("stock_daily", "date"):
                return None
            dates = (
                self.ds.raw("stock_daily")
                .select(pl.col("date").unique())
                .collect(engine="streaming")
                .to_series()
                .drop_nulls()
                .sort()
            )
            return _Calendar(dates) if dates.len() else None

        return self._cached("calendar", build)  # type: ignore[return-value]

    def listing(self, table: str, column: str) -> tuple[pl.Series, pl.Series] | None:
        """list_date and delist_date (null when absent) aligned with the code ranks."""

        def build() -> tuple[pl.Series, pl.Series] | None:
            codes = self.codes(table, column)
            if codes is None or not self.usable(table, "list_date"):
                return None
            has_delist = self.usable(table, "delist_date")
            lf = self.ds.raw(table).select(
                pl.col(column).cast(pl.String),
                pl.col("list_date"),
                pl.col("delist_date") if has_delist else pl.lit(None, pl.Date).alias("delist_date"),
            )
            per_code = lf.group_by(column).agg(
                pl.col("list_date").min(), pl.col("delist_date").max()
            )
            aligned = (
                pl.DataFrame({column: codes.values})
                .lazy()
                .join(per_code, on=column, how="left", maintain_order="left")
                .collect()
            )
            return aligned["list_date"], aligned["delist_date"]

        return self._cached(f"listing:{table}", build)  # type: ignore[return-value]

    def priced(self) -> _Bitmap | None:
        """(stock, day) has a stock_daily row."""

        def build() -> _Bitmap | None:
            stocks, cal = self.stocks(), self.calendar()
            if stocks is None or cal is None or not self.usable("stock_daily", "code"):
                return None
            if stocks.n * cal.n > MAX_BITMAP:
                log.warning("too many stocks x days for the price bitmap; check skipped")
                return None
            schema = self.structure("stock_daily").schema
            key = stocks.rank("code", schema["code"]).cast(pl.Int64) * cal.n + cal.index("date")
            keys = (
                self.ds.raw("stock_daily")
                .select(key.alias("k"))
                .drop_nulls()
                .collect(engine="streaming")
                .to_series()
                .to_numpy()
            )
            return _Bitmap(_keys_to_bits(keys, stocks.n, cal.n))

        return self._cached("priced", build)  # type: ignore[return-value]

    def in_industry(self) -> _Bitmap | None:
        """(stock, day) has a stock_industry interval in force."""

        def build() -> _Bitmap | None:
            stocks, cal = self.stocks(), self.calendar()
            if stocks is None or cal is None:
                return None
            if not self.usable("stock_industry", "code", "start_date"):
                return None
            if stocks.n * cal.n > MAX_BITMAP:
                log.warning("too many stocks x days for the industry bitmap; check skipped")
                return None
            schema = self.structure("stock_industry").schema
            has_end = self.usable("stock_industry", "end_date")
            iv = (
                self.ds.raw("stock_industry")
                .select(
                    stocks.rank("code", schema["code"]).alias("r"),
                    pl.col("start_date").cast(pl.Int32).alias("s"),
                    (pl.col("end_date") if has_end else pl.lit(None, pl.Date))
                    .cast(pl.Int32)
                    .alias("e"),
                )
                .drop_nulls(["r", "s"])
                .collect()
            )
            r = iv["r"].to_numpy()
            lo = cal.position(iv["s"].to_numpy(), side="left")
            hi = cal.position(iv["e"].fill_null(np.iinfo(np.int32).max).to_numpy(), side="right")
            diff = np.zeros((stocks.n, cal.n + 1), dtype=np.int32)
            ok = hi > lo
            np.add.at(diff, (r[ok], lo[ok]), 1)
            np.add.at(diff, (r[ok], hi[ok]), -1)
            return _Bitmap(np.cumsum(diff, axis=1)[:, : cal.n] > 0)

        return self._cached("in_industry", build)  # type: ignore[return-value]

    def etf_day_keys(self) -> np.ndarray | None:
        """Sorted distinct (etf rank * n_days + day index) of etf_daily rows."""

        def build() -> np.ndarray | None:
            etfs, cal = self.etfs(), self.calendar()
            if etfs is None or cal is None or not self.usable("etf_daily", "date", "etf_code"):
                return None
            schema = self.structure("etf_daily").schema
            key = etfs.rank("etf_code", schema["etf_code"]).cast(pl.Int64) * cal.n
            return _sorted_unique(
                self.ds.raw("etf_daily")
                .select((key + cal.index("date")).alias("k"))
                .drop_nulls()
                .collect(engine="streaming")
                .to_series()
                .to_numpy()
            )

        return self._cached("etf_day_keys", build)  # type: ignore[return-value]


# ----------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class _RowRule:
    """A rule checked row by row: ``flag`` is true on an offending row."""

    column: str
    rule: str
    flag: pl.Expr
    show: tuple[pl.Expr, ...]  # example columns: the key and the offending value
    fmt: tuple[tuple[str, str], ...] = ()  # message parameters


@dataclass
class _Plan:
    """Everything checked on one table, chunk by chunk."""

    derived: dict[str, pl.Expr] = field(default_factory=dict)
    rules: list[_RowRule] = field(default_factory=list)
    key: list[pl.Expr] = field(default_factory=list)  # aliased key expressions
    key_ok: pl.Expr | None = None  # rows whose key is complete (others are null errors)
    order: list[pl.Expr] | None = None  # key as sortable integers (sorted fast path)
    bucket: pl.Expr | None = None  # the order packed into one Int64 (coarse: nulls share 0)
    duplicates: _Outcome | None = None  # set when the key can be checked
    chunk_hooks: list[Callable[[pl.LazyFrame], None]] = field(default_factory=list)
    post_hooks: list[Callable[[], None]] = field(default_factory=list)


def _in(c: str | pl.Expr, names: list[str]) -> bool:
    return isinstance(c, str) and c in names


def _fmt_list(values: Iterable[str]) -> str:
    return ", ".join(values)


def _row_rules(ctx: _Context, table: str, plan: _Plan, sch: pl.Schema) -> None:
    """Fill ``plan`` with the derived columns and the row rules of ``table``."""
    spec = sc.TABLES[table]
    key_cols = [k for k in spec.key if k in sch]
    has = plan.derived

    def ok(*cols: str) -> bool:
        return all(c in sch and sc.dtype_matches(spec.columns[c], sch[c]) for c in cols)

    def add(column: str, rule: str, flag: pl.Expr, *shown: str | pl.Expr, **fmt: str) -> None:
        show = [pl.col(k) for k in key_cols]
        show += [pl.col(c) if isinstance(c, str) else c for c in shown if not _in(c, key_cols)]
        plan.rules.append(_RowRule(column, rule, flag, tuple(show), tuple(fmt.items())))

    # nulls, numbers, enumerations
    for c in spec.required:
        if c in sch:
            add(c, "null", pl.col(c).is_null(), c)
    owners = [c for c in ("etf_code", "index_code") if c in sch]
    if table == "holding_weights" and owners:
        add("/".join(owners), "null", pl.all_horizontal(pl.col(owners).is_null()), *owners)
    for c in NON_NEGATIVE.get(table, ()):
        if ok(c):
            add(c, "negative", (pl.col(c) < 0) & pl.col(c).is_finite(), c)
    for c in POSITIVE.get(table, ()):
        if ok(c):
            add(c, "non_positive", (pl.col(c) <= 0) & pl.col(c).is_finite(), c)
    for c in (*NON_NEGATIVE.get(table, ()), *POSITIVE.get(table, ()), *FINITE.get(table, ())):
        if ok(c):
            add(c, "non_finite", ~pl.col(c).is_finite(), c)
    for (t, c), allowed in ENUMS.items():
        if t == table and ok(c):
            v = pl.col(c).cast(pl.String) if isinstance(sch[c], pl.Enum) else pl.col(c)
            flag = v.is_not_null() & ~v.is_in(list(allowed))
            add(c, "invalid_value", flag, c, allowed=_fmt_list(allowed))

    # dates
    if table in ("stocks", "etfs") and ok("list_date", "delist_date"):
        flag = pl.col("delist_date") < pl.col("list_date")
        add("delist_date", "delist_before_list", flag, "list_date", "delist_date")
    if table == "stock_industry" and ok("start_date", "end_date"):
        add("end_date", "end_before_start", pl.col("end_date") < pl.col("start_date"), "end_date")
    if table == "fund_issuance" and ok("month"):
        add("month", "not_month_start", pl.col("month").dt.day() != 1)
    if table == "active_holdings" and ok("report_date", "disclose_date"):
        flag = pl.col("disclose_date") < pl.col("report_date")
        add("disclose_date", "disclose_before_report", flag, "disclose_date")
    if table == "stock_daily" and ok("date"):
        add("date", "weekend_date", pl.col("date").dt.weekday() >= 6)
    cal = ctx.calendar()
    if cal is not None and ok("date"):
        has["__day"] = cal.index("date")
        if table in CALENDAR_TABLES:
            add("date", "not_trading_day", pl.col("date").is_not_null() & pl.col("__day").is_null())

    # references
    refs = (
        ("code", "__stock", STOCK_REF_TABLES, ctx.stocks, "unknown_stock"),
        ("etf_code", "__etf", ETF_REF_TABLES, ctx.etfs, "unknown_etf"),
        ("fund_code", "__fund", FUND_REF_TABLES, ctx.funds, "unknown_fund"),
    )
    for col, name, tables, codes_of, rule in refs:
        codes = codes_of() if table in tables and ok(col) else None
        if codes is not None:
            has[name] = codes.rank(col, sch[col])
            add(col, rule, pl.col(col).is_not_null() & pl.col(name).is_null())

    # warnings
    day = pl.col("__day")
    if table == "stock_daily" and "__stock" in has and "__day" in has:
        ind = ctx.in_industry()
        if ind is not None:
            add("code", "no_industry", ~ind.lookup(pl.col("__stock"), day))
    if table == "etf_pcf" and "__stock" in has and "__day" in has:
        priced = ctx.priced()
        if priced is not None:
            add("code", "unpriced_component", ~priced.lookup(pl.col("__stock"), day))
    listed = {
        "stock_daily": ("stocks", "code", "__stock"),
        "etf_daily": ("etfs", "etf_code", "__etf"),
    }
    if table in listed and ok("date"):
        ref, col, name = listed[table]
        listing = ctx.listing(ref, col)
        if listing is not None and name in has:
            lst = pl.lit(listing[0]).gather(pl.col(name)).alias("list_date")
            dl = pl.lit(listing[1]).gather(pl.col(name)).alias("delist_date")
            flag = (pl.col("date") < lst) | (pl.col("date") > dl)
            add("date", "outside_listing", flag, lst, dl, ref=ref)
    zeros = {
        "etf_daily": ("shares", "zero_shares"),
        "etf_pcf": ("quantity", "zero_quantity"),
        "holding_weights": ("weight", "zero_weight"),
    }
    if table in zeros and ok(zeros[table][0]):
        c, rule = zeros[table]
        add(c, rule, pl.col(c) == 0, c)


# ----------------------------------------------------------------------------- key rules


def _key_plan(ctx: _Context, table: str, plan: _Plan, sch: pl.Schema, big: bool) -> bool:
    """Key expressions (and sortable values for the fast path); False when not checkable."""
    spec = sc.TABLES[table]
    if table == "holding_weights":
        owners = [c for c in ("etf_code", "index_code") if c in sch]
        if not owners or "date" not in sch or "code" not in sch:
            return False
        plan.key = [pl.col("date"), *[pl.col(c) for c in owners], pl.col("code")]
        plan.key_ok = (
            pl.col("date").is_not_null()
            & pl.col("code").is_not_null()
            & pl.any_horizontal([pl.col(c).is_not_null() for c in owners])
        )
        if len(owners) == 2:  # the index names the snapshot only when etf_code is null
            idx = pl.when(pl.col("etf_code").is_null()).then(pl.col("index_code"))
            plan.derived["__index"] = idx
            plan.key[2] = pl.col("__index").alias("index_code")
    else:
        if not all(k in sch for k in spec.key):
            return False
        plan.key = [pl.col(k) for k in spec.key]
        plan.key_ok = pl.all_horizontal([pl.col(k).is_not_null() for k in spec.key])
    if not big:
        return True
    # each key column as an integer in [0, size): rank + 1, 0 for null or unknown
    stocks, etfs, cal = ctx.stocks(), ctx.etfs(), ctx.calendar()
    order: list[pl.Expr] = []
    sizes: list[int | None] = []
    for e in plan.key:
        name = e.meta.output_name()
        src = plan.derived.get("__index", pl.col(name)) if name == "index_code" else pl.col(name)
        dtype = sch[name]
        if name == "date" and "__day" in plan.derived and cal is not None:
            rank, n = pl.col("__day"), cal.n
        elif not sc.is_string_like(dtype):
            order.append(src)
            sizes.append(None)
            continue
        elif name == "code" and "__stock" in plan.derived and stocks is not None:
            rank, n = pl.col("__stock"), stocks.n
        elif name == "etf_code" and "__etf" in plan.derived and etfs is not None:
            rank, n = pl.col("__etf"), etfs.n
        else:
            codes = _Codes.from_frame(ctx.ds.raw(table), name)
            rank, n = codes.rank(src, dtype), codes.n
        order.append(rank.cast(pl.Int64).fill_null(-1) + 1)
        sizes.append(n + 1)
    plan.order = order
    if all(n is not None for n in sizes) and np.prod(sizes, dtype=float) < 2.0**62:
        k: pl.Expr = pl.lit(0, pl.Int64)
        for v, n in zip(order, sizes, strict=True):
            k = k * n + v
        plan.bucket = k.alias("__k")
    return True


def _unsorted_count(order: list[pl.Expr]) -> pl.Expr:
    """Rows not strictly after the previous one in key order (0 = sorted, unique keys)."""
    gt: pl.Expr = pl.lit(False)
    eq: pl.Expr = pl.lit(True)
    for v in order:
        prev = v.shift(1)
        gt = gt | (eq & (v > prev))
        eq = eq & (v == prev)
    return ((~gt).fill_null(True).sum() - 1).alias("__unsorted")


def _duplicates(prepared: pl.LazyFrame, plan: _Plan, out: _Outcome) -> None:
    """Duplicate keys by group-by; with an integer bucket, only rows of shared buckets."""
    names = [e.meta.output_name() for e in plan.key]
    rows = prepared.filter(plan.key_ok if plan.key_ok is not None else True)
    if plan.bucket is not None:
        shared = (
            rows.group_by(plan.bucket)
            .agg(pl.len().alias("n"))
            .filter(pl.col("n") > 1)
            .collect(engine="streaming")
            .get_column("__k")
        )
        if not shared.len():
            return
        rows = rows.filter(plan.bucket.is_in(shared.implode()))
    dup = (
        rows.select(plan.key)
        .group_by(names)
        .agg(pl.len().alias("n_rows"))
        .filter(pl.col("n_rows") > 1)
        .collect(engine="streaming")
    )
    if dup.height:
        out.add(dup["n_rows"].sum(), dup.sort(names).head(out.need()))


# ----------------------------------------------------------------------------- tables


def _check_structure(ctx: _Context, table: str, tally: _Tally) -> bool:
    """Columns and dtypes; True when the value rules can run."""
    spec = sc.TABLES[table]
    st = ctx.structure(table)
    files = tally.rule(table, None, "file_schema")
    if not st.readable:
        files.add(st.file_mismatches.height, st.file_mismatches)
    for c in spec.required:
        missing = c not in st.schema
        avail = st.schema.names() if missing else ()
        err = DataContractError.missing_column(table=table, column=c, available=avail)
        tally.structural(err, passed=not missing)
    for group in spec.one_of:
        err = DataContractError(
            f"none of the columns {_fmt_list(group)} is present",
            table=table,
            column="/".join(group),
            rule="missing_column",
            hint="weight snapshots are per ETF (etf_code) or per tracked index (index_code)",
        )
        tally.structural(err, passed=any(c in st.schema for c in group))
    for c, dtype in spec.columns.items():
        if c in st.schema:
            expected = "String (or Categorical/Enum)" if dtype == pl.String else str(dtype)
            err = DataContractError.wrong_type(
                table=table, column=c, expected=expected, actual=st.schema[c]
            )
            tally.structural(err, passed=sc.dtype_matches(dtype, st.schema[c]))
    return st.readable


def _chunks(lf: pl.LazyFrame, column: str | None, n_rows: int) -> list[pl.LazyFrame]:
    """The table in date ranges of about CHUNK_ROWS rows (one chunk when small)."""
    if n_rows <= CHUNK_ROWS or column is None:
        return [lf]
    counts = lf.group_by(column).agg(pl.len().alias("n")).collect(engine="streaming")
    bounds = (
        counts.drop_nulls(column)
        .sort(column)
        .with_columns(g=(pl.col("n").cum_sum() - pl.col("n")) // CHUNK_ROWS)
        .group_by("g")
        .agg(pl.col(column).min().alias("lo"), pl.col(column).max().alias("hi"))
        .sort("g")
    )
    out = [lf.filter(pl.col(column).is_between(lo, hi)) for _, lo, hi in bounds.iter_rows()]
    if counts.filter(pl.col(column).is_null()).height:
        out.append(lf.filter(pl.col(column).is_null()))
    return out


def _weight_sums(plan: _Plan, sch: pl.Schema, out: _Outcome) -> Callable[[pl.LazyFrame], None]:
    """Snapshots (date x etf_code, or date x index_code when etf_code is null) summing != 1."""
    owners = [pl.col("etf_code")] if "etf_code" in sch else []
    if "index_code" in sch:
        idx = pl.col("__index") if "__index" in plan.derived else pl.col("index_code")
        owners.append(idx.alias("index_code"))
    snap = [pl.col("date"), *owners]
    names = [e.meta.output_name() for e in snap]

    def hook(prepared: pl.LazyFrame) -> None:
        bad = (
            prepared.filter(
                pl.col("date").is_not_null() & pl.any_horizontal([o.is_not_null() for o in owners])
            )
            .group_by(snap)
            .agg(pl.col("weight").sum().alias("weight_sum"), pl.len().alias("n_components"))
            .filter((pl.col("weight_sum") - 1.0).abs() > sc.WEIGHT_SUM_TOL)
            .collect(engine="streaming")
        )
        if bad.height:
            out.add(bad.height, bad.sort(names).head(out.need()))

    return hook


def _industry_overlaps(ctx: _Context, sch: pl.Schema, out: _Outcome) -> Callable[[], None]:
    """Intervals of one stock starting before the previous one ended (null end = open)."""

    def hook() -> None:
        end = pl.col("end_date") if "end_date" in sch else pl.lit(None, pl.Date)
        prev_end = pl.col("end_date").shift(1)
        iv = (
            ctx.ds.raw("stock_industry")
            .select("code", "start_date", end.alias("end_date"))
            .drop_nulls(["code", "start_date"])
            .sort("code", "start_date")
            .with_columns(
                pl.col("start_date").shift(1).alias("prev_start"), prev_end.alias("prev_end")
            )
            .filter(
                (pl.col("code") == pl.col("code").shift(1))
                & (pl.col("prev_end").is_null() | (pl.col("start_date") <= pl.col("prev_end")))
            )
            .collect()
        )
        out.add(iv.height, iv)

    return hook


def _basket_hooks(ctx: _Context, tally: _Tally) -> tuple[Callable, Callable] | None:
    """ETF-days of etf_daily without a basket, and baskets without an etf_daily row."""
    etfs, cal, daily = ctx.etfs(), ctx.calendar(), ctx.etf_day_keys()
    if etfs is None or cal is None or daily is None:
        return None
    no_basket = tally.rule("etf_pcf", "etf_code", "no_basket")
    orphan = tally.rule("etf_pcf", "etf_code", "basket_without_daily")
    parts: list[np.ndarray] = []

    def chunk(prepared: pl.LazyFrame) -> None:
        d, e = pl.col("__day"), pl.col("__etf")
        start = ((d != d.shift(1)) | (e != e.shift(1))).fill_null(True)  # first row of a basket
        key = (e.cast(pl.Int64) * cal.n + d).alias("k")
        lf = prepared.filter(start).select(key).drop_nulls().unique()
        parts.append(lf.collect(engine="streaming").to_series().to_numpy())

    def decode(keys: np.ndarray) -> pl.DataFrame:
        return pl.DataFrame(
            {"date": cal.dates.gather(keys % cal.n), "etf_code": etfs.values.gather(keys // cal.n)}
        )

    def post() -> None:
        baskets = _sorted_unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        missing = daily[~_isin_sorted(daily, baskets)]
        extra = baskets[~_isin_sorted(baskets, daily)]
        no_basket.add(missing.size, decode(missing[:MAX_EXAMPLES]))
        orphan.add(extra.size, decode(extra[:MAX_EXAMPLES]))

    return chunk, post


def _plan(ctx: _Context, table: str, tally: _Tally, big: bool) -> tuple[_Plan, list[_Outcome]]:
    """Row rules, key and table-specific hooks of ``table``, registered in ``tally``."""
    sch = ctx.structure(table).schema
    plan = _Plan()
    _row_rules(ctx, table, plan, sch)
    outcomes = [tally.rule(table, r.column, r.rule, **dict(r.fmt)) for r in plan.rules]
    if _key_plan(ctx, table, plan, sch, big):
        names = ", ".join(e.meta.output_name() for e in plan.key)
        plan.duplicates = tally.rule(table, names, "duplicate_key")
    if (
        table == "holding_weights"
        and ctx.usable(table, "date", "weight")
        and ("etf_code" in sch or "index_code" in sch)
    ):
        out = tally.rule(table, "weight", "weight_sum", tol=sc.WEIGHT_SUM_TOL)
        plan.chunk_hooks.append(_weight_sums(plan, sch, out))
    if table == "stock_industry" and ctx.usable(table, "code", "start_date"):
        out = tally.rule(table, "start_date", "overlapping_interval")
        plan.post_hooks.append(_industry_overlaps(ctx, sch, out))
    if table == "etf_pcf" and "__day" in plan.derived and "__etf" in plan.derived:
        hooks = _basket_hooks(ctx, tally)
        if hooks is not None:
            plan.chunk_hooks.append(hooks[0])
            plan.post_hooks.append(hooks[1])
    return plan, outcomes


def _validate_table(ctx: _Context, table: str, tally: _Tally, progress: Progress | None) -> None:
    t0 = time.perf_counter()
    if not _check_structure(ctx, table, tally):
        return
    lf = ctx.ds.raw(table)
    n_rows = lf.select(pl.len()).collect().item()
    plan, outcomes = _plan(ctx, table, tally, big=n_rows > SMALL_ROWS)
    chunk_col = CHUNK_COLUMN.get(table)
    chunks = _chunks(lf, chunk_col if chunk_col and ctx.usable(table, chunk_col) else None, n_rows)
    if progress is not None:
        progress(table, 0, len(chunks))
    for i, chunk in enumerate(chunks):
        prepared = chunk.with_columns(**plan.derived) if plan.derived else chunk
        aggs = [r.flag.fill_null(False).sum().alias(f"__r{j}") for j, r in enumerate(plan.rules)]
        if plan.order is not None:
            aggs.append(_unsorted_count(plan.order))
        counts = prepared.select(aggs).collect(engine="streaming").row(0) if aggs else ()
        for r, out, n in zip(plan.rules, outcomes, counts, strict=False):
            if n and out.need() > 0:
                ex = prepared.filter(r.flag.fill_null(False)).select(r.show).head(out.need())
                out.add(n, ex.collect(engine="streaming"))
            elif n:
                out.add(n)
        if plan.duplicates is not None:
            if plan.order is None or counts[-1] > 0:  # not sorted by key: group by the key
                _duplicates(prepared, plan, plan.duplicates)
        for hook in plan.chunk_hooks:
            hook(prepared)
        if progress is not None:
            progress(table, i + 1, len(chunks))
    for post in plan.post_hooks:
        post()
    log.info("validated %s (%d rows) in %.2fs", table, n_rows, time.perf_counter() - t0)


def _check_arguments(dataset: Dataset, tables: Iterable[str] | None) -> list[str]:
    if not isinstance(dataset, Dataset):
        raise EtfflowError(
            f"validate() expects a Dataset (etfflow.engine.loading.open_dataset), got "
            f"{type(dataset).__name__}"
        )
    if tables is None:
        return [t for t in sc.TABLES if dataset.has(t)]
    wanted = [tables] if isinstance(tables, str) else list(tables)
    unknown = [t for t in wanted if t not in sc.TABLES]
    if unknown:
        raise EtfflowError(
            f"unknown table(s) {_fmt_list(unknown)}; the contract has {_fmt_list(sc.TABLES)}"
        )
    absent = [t for t in wanted if not dataset.has(t)]
    if absent:
        log.info("tables not in the dataset, not validated: %s", _fmt_list(absent))
    return [t for t in sc.TABLES if t in wanted and dataset.has(t)]


def validate(
    dataset: Dataset,
    *,
    tables: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> ValidationReport:
    """Check a dataset against the data contract.

    Parameters
    ----------
    dataset
        From :func:`etfflow.engine.loading.open_dataset`.
    tables
        Validate only these tables (default: every contract table present). Reference data
        (``stocks`` codes, the ``stock_daily`` calendar, ...) is still read to check the
        selected tables.
    progress
        Called as ``progress(table, done, total)`` before and after each chunk of each table.

    Returns
    -------
    ValidationReport
        ``errors`` (:class:`~etfflow.exceptions.DataContractError`), ``warnings``
        (:class:`ValidationIssue`) and ``summary()``; call ``raise_for_errors()`` to fail.

    Raises
    ------
    EtfflowError
        When ``tables`` names a table that is not part of the contract.

    Notes
    -----
    Errors: missing required column (for ``holding_weights`` one of etf_code/index_code),
    wrong dtype, files of a folder table with different schemas, nulls in required columns,
    duplicate keys, negative or non-finite prices/money/shares/quantities/weights
    (``creation_unit`` must be > 0, ``ret`` finite), weight snapshots not summing to 1 within
    ``WEIGHT_SUM_TOL``, codes unknown to ``stocks``/``etfs``/``active_funds``, stock_daily dates
    on weekends, dates of ``etf_daily``, ``etf_pcf``, ``holding_weights``, ``index_daily``,
    ``fund_nav`` that are not ``stock_daily`` dates, ``delist_date < list_date``,
    ``end_date < start_date`` and overlapping industry intervals, values outside the
    enumerations (board, category, kind, cash_substitute), ``fund_issuance.month`` not a
    month start, ``disclose_date < report_date``.

    Warnings: stock-day with no industry in force, stock-day or ETF-day outside the listing
    dates, ETF-day with zero shares, zero-quantity / zero-weight components, PCF component
    with no stock_daily row that day, etf_daily ETF-day without a basket and basket without
    an etf_daily row.

    Large tables are read in date ranges of about ``CHUNK_ROWS`` rows with the streaming
    engine. Duplicate keys cost one ``shift`` comparison when a chunk is sorted by its key (as
    the synthetic market writes it) and a group-by otherwise. The full synthetic market
    (5.6M stock-days, 168M PCF rows) validates in about 10-15 s with ~1.1 GB peak RSS.

    Examples
    --------
    >>> import tempfile
    >>> from etfflow.data_samples import generate_market
    >>> from etfflow.engine.loading import open_dataset
    >>> root = generate_market(tempfile.mkdtemp(), size="tiny", seed=0)
    >>> report = validate(open_dataset(root))
    >>> report.ok, len(report.warnings)
    (True, 0)
    >>> report.summary().columns
    ['table', 'column', 'rule', 'severity', 'count']
    >>> report.raise_for_errors()  # no error: returns None
    """
    names = _check_arguments(dataset, tables)
    ctx = _Context(dataset)
    tally = _Tally()
    t0 = time.perf_counter()
    for table in names:
        _validate_table(ctx, table, tally, progress)
    report = tally.report()
    log.info(
        "validation of %s: %d errors, %d warnings in %.1fs",
        dataset.root,
        len(report.errors),
        len(report.warnings),
        time.perf_counter() - t0,
    )
    return report

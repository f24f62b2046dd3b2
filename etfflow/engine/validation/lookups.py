"""Reference data built once per validation: code ranks, the calendar, per-day bitmaps.

Codes are never materialised as strings: a code column is turned into its rank in the sorted
reference list (``stocks.code``, ``etfs.etf_code``) through a lookup table indexed by the
Categorical physical code (or an ``Enum`` cast for String columns), and "has a price that
day" / "has an industry that day" are bitmaps over (code rank, trading-day index).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from etfflow.engine import schemas as sc
from etfflow.engine.loading import Dataset, scan_table
from etfflow.engine.panel import raw_codes
from etfflow.engine.validation.kernels import ids32, missing_bits, take_ranks

log = logging.getLogger(__name__)

#: Largest (codes x trading days) bitmap built for the per-day lookups (bytes).
MAX_BITMAP = 500_000_000


def _is_global_categorical(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.Categorical) and dtype == pl.Categorical()


def _nullable_lut(lut: np.ndarray) -> pl.Series:
    s = pl.Series("lut", lut, dtype=pl.Int32)
    return pl.select(pl.when(s >= 0).then(s)).to_series()


class Codes:
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
        self._list: list[str] | None = None

    def ranks(self, s: pl.Series) -> np.ndarray:
        """Rank of each value of ``s`` (int32; -1 for a null or a code outside the list).

        Through the physical ids of a Categorical/Enum column (``panel.raw_codes``, which
        spot-checks the mapping against the strings): no string is built for them.
        """
        if self.n == 0:
            return np.full(s.len(), -1, dtype=np.int32)
        if self._list is None:
            self._list = self.values.to_list()
        phys, lookup, _keep = raw_codes(s, self._list)
        return take_ranks(ids32(phys), ids32(lookup), 0)

    @classmethod
    def from_frame(cls, lf: pl.LazyFrame, column: str) -> Codes:
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


class Calendar:
    """The trading days (distinct ``stock_daily`` dates) and a date -> day-index expression."""

    def __init__(self, dates: pl.Series) -> None:
        self.dates = dates
        self.n = dates.len()
        self.days = dates.cast(pl.Int32).to_numpy()
        self.d0 = int(self.days[0])
        lut = np.full(int(self.days[-1]) - self.d0 + 1, -1, dtype=np.int32)
        lut[self.days - self.d0] = np.arange(self.n, dtype=np.int32)
        self._lut = _nullable_lut(lut)
        self._lut_np = lut

    def ranks(self, s: pl.Series) -> np.ndarray:
        """Trading-day index of each date of ``s`` (int32; -1 for null or a non-trading day)."""
        phys = s.to_physical()
        if phys.null_count():
            phys = phys.fill_null(np.iinfo(np.int32).min)
        return take_ranks(ids32(phys.to_numpy()), ids32(self._lut_np), self.d0)

    def index(self, column: str) -> pl.Expr:
        off = pl.col(column).cast(pl.Int32) - self.d0
        return pl.lit(self._lut).gather(pl.when(off >= 0).then(off), null_on_oob=True)

    def position(self, days: np.ndarray, *, side: str) -> np.ndarray:
        """Index of the first trading day ``>=`` (left) or ``>`` (right) each day number."""
        return np.searchsorted(self.days, days, side=side)  # type: ignore[call-overload]


class Bitmap:
    """A boolean table over (code rank, trading-day index)."""

    def __init__(self, bits: np.ndarray) -> None:
        self.n_days = bits.shape[1]
        self._bits = np.ascontiguousarray(bits).ravel()

    def missing(self, rank: np.ndarray, day: np.ndarray) -> np.ndarray:
        """True where a known code on a trading day (both ranks >= 0) is not in the table."""
        return missing_bits(rank, day, self._bits, self.n_days)


def sorted_unique(a: np.ndarray) -> np.ndarray:
    a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))] if a.size else a


def isin_sorted(a: np.ndarray, sorted_b: np.ndarray) -> np.ndarray:
    """``np.isin(a, sorted_b)`` by binary search (``sorted_b`` sorted, distinct)."""
    if not sorted_b.size:
        return np.zeros(a.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_b, a), sorted_b.size - 1)
    return sorted_b[pos] == a


def keys_to_bits(keys: np.ndarray, n_codes: int, n_days: int) -> np.ndarray:
    bits = np.zeros(n_codes * n_days, dtype=bool)
    bits[keys] = True
    return bits.reshape(n_codes, n_days)


@dataclass
class Structure:
    schema: pl.Schema
    file_mismatches: pl.DataFrame  # file, column, dtype, expected

    @property
    def readable(self) -> bool:
        return self.file_mismatches.height == 0


class Context:
    """The dataset plus reference data built once, on first use."""

    def __init__(self, dataset: Dataset) -> None:
        self.ds = dataset
        self._structures: dict[str, Structure] = {}
        self._cache: dict[str, object] = {}

    # structure -----------------------------------------------------------------------------
    def structure(self, table: str) -> Structure:
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
            self._structures[table] = Structure(schema, mism)
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
    def codes(self, table: str, column: str) -> Codes | None:
        def build() -> Codes | None:
            if not self.usable(table, column):
                return None
            return Codes.from_frame(self.ds.raw(table), column)

        return self._cached(f"codes:{table}.{column}", build)  # type: ignore[return-value]

    def stocks(self) -> Codes | None:
        return self.codes("stocks", "code")

    def etfs(self) -> Codes | None:
        return self.codes("etfs", "etf_code")

    def funds(self) -> Codes | None:
        return self.codes("active_funds", "fund_code")

    def calendar(self) -> Calendar | None:
        def build() -> Calendar | None:
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
            return Calendar(dates) if dates.len() else None

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

    def priced(self) -> Bitmap | None:
        """(stock, day) has a stock_daily row."""

        def build() -> Bitmap | None:
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
            return Bitmap(keys_to_bits(keys, stocks.n, cal.n))

        return self._cached("priced", build)  # type: ignore[return-value]

    def in_industry(self) -> Bitmap | None:
        """(stock, day) has a stock_industry interval in force."""

        def build() -> Bitmap | None:
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
            return Bitmap(np.cumsum(diff, axis=1, dtype=np.int32)[:, : cal.n] > 0)

        return self._cached("in_industry", build)  # type: ignore[return-value]

    def etf_day_keys(self) -> np.ndarray | None:
        """Sorted distinct (etf rank * n_days + day index) of etf_daily rows."""

        def build() -> np.ndarray | None:
            etfs, cal = self.etfs(), self.calendar()
            if etfs is None or cal is None or not self.usable("etf_daily", "date", "etf_code"):
                return None
            schema = self.structure("etf_daily").schema
            key = etfs.rank("etf_code", schema["etf_code"]).cast(pl.Int64) * cal.n
            return sorted_unique(
                self.ds.raw("etf_daily")
                .select((key + cal.index("date")).alias("k"))
                .drop_nulls()
                .collect(engine="streaming")
                .to_series()
                .to_numpy()
            )

        return self._cached("etf_day_keys", build)  # type: ignore[return-value]

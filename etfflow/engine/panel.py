"""The stock side of a dataset: output rows and dense (day × stock) panels.

The trading calendar is the sorted distinct dates of ``stock_daily``; stocks are the sorted
codes of ``stocks``. Codes become integer indices without a join: a ``Categorical`` column's
physical ids come from Polars' global category mapping, so casting the known code list to
``Categorical`` gives a lookup table from physical id to stock index (``Enum`` uses its own
category list; a ``String`` column is cast to ``Categorical`` first).

The ``stock_daily`` rows are kept in (date, code) order as flat "row" arrays (``row_day``,
``row_stock``, ``row_close``, ``row_fmc``; the rows of day ``d`` are
``row_start[d]:row_start[d+1]``): when the file is already in that order (the usual case)
this is the file itself, and the look-through writes its output rows straight from them.
The dense ``close``, ``float_mcap`` and ``listed`` panels are built on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import polars as pl

from etfflow.engine.loading import Dataset
from etfflow.engine.panel_nb import group_bits, map_codes, map_days, rows_to_dense, stock_rows
from etfflow.engine.schemas import BOARDS
from etfflow.exceptions import DataContractError, EtfflowError

N_CAP_BUCKETS = 5


def _lookup_for(dtype: pl.DataType, codes: list[str]) -> np.ndarray:
    """Physical id -> position in ``codes`` (-1 for ids of other strings)."""
    if isinstance(dtype, pl.Enum):
        pos = {c: i for i, c in enumerate(codes)}
        cats = dtype.categories.to_list()
        return np.array([pos.get(c, -1) for c in cats], dtype=np.int32)
    phys = pl.Series(codes, dtype=pl.String).cast(pl.Categorical).to_physical().to_numpy()
    lookup = np.full(int(phys.max()) + 1 if len(phys) else 0, -1, dtype=np.int32)
    lookup[phys] = np.arange(len(codes), dtype=np.int32)
    return lookup


def frozen(a: np.ndarray) -> np.ndarray:
    """``a`` as a read-only array (a view, no copy).

    Polars' ``to_numpy()`` gives a read-only zero-copy view of a one-chunk column and a
    writeable copy otherwise; numba compiles a kernel once per writeable flag of each array
    argument. Kernel inputs pass through this so each kernel compiles once per dtype.
    """
    if not a.flags.writeable:
        return a
    view = a.view()
    view.flags.writeable = False
    return view


def as_categorical(s: pl.Series) -> pl.Series:
    if isinstance(s.dtype, pl.Categorical | pl.Enum):
        return s
    return s.cast(pl.String).cast(pl.Categorical)


def fill_numpy(s: pl.Series, out: np.ndarray | None = None) -> np.ndarray:
    """The values of ``s`` (numeric, no nulls) as a NumPy array.

    Without ``out``: ``s.to_numpy()`` (a copy when ``s`` has several chunks). With ``out``:
    the values are copied chunk by chunk into ``out[:len(s)]`` (zero-copy views of each Arrow
    chunk, no temporary array) and that view is returned, so one buffer serves many calls
    without fresh memory (each fresh allocation costs page faults on first touch).
    """
    if out is None:
        return s.to_numpy()
    if len(s) > len(out):
        raise EtfflowError(f"internal error: buffer of {len(out)} rows for {len(s)} values")
    pos = 0
    for chunk in s.get_chunks():
        k = len(chunk)
        out[pos : pos + k] = chunk.to_numpy()
        pos += k
    return out[:pos]


def raw_codes(
    s: pl.Series, codes: list[str], *, out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, pl.Series]:
    """Physical ids of ``s`` and the lookup from id to position in ``codes`` (-1 if absent).

    Returns ``(phys, lookup, series)``; keep ``series`` alive while using the ids (Polars frees
    a category mapping nothing refers to). Nulls get an id past the lookup (unknown). With
    ``out`` (a uint32 buffer of at least ``len(s)``), the ids are written into it
    (:func:`fill_numpy`).
    """
    s = as_categorical(s)
    lookup = _lookup_for(s.dtype, codes)
    phys = s.to_physical()
    if phys.null_count():
        phys = phys.cast(pl.UInt32).fill_null(np.iinfo(np.uint32).max)
    arr = fill_numpy(phys, out)
    if len(arr):
        pick = np.linspace(0, len(arr) - 1, num=min(64, len(arr))).astype(np.int64)
        p = arr[pick]
        idx = np.where(p < len(lookup), lookup[np.minimum(p, max(len(lookup) - 1, 0))], -1)
        _spot_check(s.gather(pick), idx, codes)
    return arr, lookup, s


#: Inputs shorter than this map codes / days with NumPy (no numba kernel to load).
SMALL = 2_000_000


def _take(table: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``table[k]`` with -1 where ``k`` is outside the table (NumPy path of the mappers)."""
    m = len(table)
    if m == 0:
        return np.full(len(k), -1, dtype=np.int32)
    inside = (k >= 0) & (k < m)
    return np.where(inside, table[np.clip(k, 0, m - 1)], -1).astype(np.int32)


def index_of(s: pl.Series, codes: list[str]) -> np.ndarray:
    """Position of each value of ``s`` in the list ``codes`` (int32, -1 if absent or null)."""
    phys, lookup, _keep = raw_codes(s, codes)
    if len(phys) < SMALL:
        return _take(lookup, phys.astype(np.int64))
    return map_codes(frozen(phys), lookup)


def _spot_check(s: pl.Series, idx: np.ndarray, codes: list[str], n: int = 64) -> None:
    """Verify a few mapped codes against their strings (guards the physical-id shortcut)."""
    if len(s) == 0:
        return
    pick = np.linspace(0, len(s) - 1, num=min(n, len(s))).astype(np.int64)
    strings = s.gather(pick).cast(pl.String).to_list()
    known = set(codes)
    for p, st in zip(pick.tolist(), strings, strict=True):
        i = int(idx[p])
        if (i >= 0 and codes[i] != st) or (i < 0 and st is not None and st in known):
            raise RuntimeError(
                f"internal error: code mapping mismatch for {st!r}; please report this"
            )


def epoch_days(dates: pl.Series, *, out: np.ndarray | None = None) -> np.ndarray:
    """Days since 1970 of a Date column as int32 (nulls become a day before any calendar);
    written into ``out`` when given (:func:`fill_numpy`)."""
    phys = dates.to_physical()
    if phys.null_count():
        phys = phys.fill_null(np.iinfo(np.int32).min)
    return fill_numpy(phys, out)


class Calendar:
    """Trading days as ``pl.Date`` and as days since 1970 (int32)."""

    def __init__(self, dates: pl.Series) -> None:
        self.dates = dates
        self.epoch = dates.to_physical().to_numpy().astype(np.int32)
        self._init_lookup()

    @classmethod
    def from_epoch(cls, epoch: np.ndarray) -> Calendar:
        """Calendar of sorted distinct days since 1970."""
        cal = cls.__new__(cls)
        cal.epoch = np.ascontiguousarray(epoch, dtype=np.int32)
        cal.dates = pl.Series("date", cal.epoch).cast(pl.Date)
        cal._init_lookup()
        return cal

    def _init_lookup(self) -> None:
        if len(self.epoch):
            self._lookup = np.full(int(self.epoch[-1] - self.epoch[0]) + 1, -1, dtype=np.int32)
            self._lookup[self.epoch - self.epoch[0]] = np.arange(len(self.epoch), dtype=np.int32)
            self._e0 = int(self.epoch[0])
        else:
            self._lookup, self._e0 = np.zeros(0, dtype=np.int32), 0

    def __len__(self) -> int:
        return len(self.dates)

    @property
    def day_table(self) -> tuple[np.ndarray, int]:
        """``(table, offset)``: calendar index of day ``x`` (days since 1970) is
        ``table[x - offset]`` (-1 when not a trading day)."""
        return self._lookup, self._e0

    def raw_days(self, dates: pl.Series, *, out: np.ndarray | None = None) -> np.ndarray:
        """Days since 1970 as int32 (nulls become a day before any calendar), into ``out``
        when given."""
        return epoch_days(dates, out=out)

    def index_of(self, dates: pl.Series) -> np.ndarray:
        """Calendar position of each date (-1 when not a trading day or null)."""
        phys = dates.to_physical()
        if phys.null_count():
            phys = phys.fill_null(np.iinfo(np.int32).min)
        days = phys.to_numpy()
        if len(days) < SMALL:
            return _take(self._lookup, days.astype(np.int64) - self._e0)
        return map_days(frozen(days), self._lookup, self._e0)

    def asof_index(self, dates: pl.Series) -> np.ndarray:
        """First trading day on or after each date (len(self) when after the last)."""
        ep = dates.cast(pl.Date).to_physical().to_numpy().astype(np.int32)
        return np.searchsorted(self.epoch, ep, side="left").astype(np.int32)

    def asof_table(self) -> tuple[np.ndarray, int]:
        """``(table, offset)``: the first trading day on or after day ``x`` (days since 1970)
        is ``table[clip(x - offset, 0, len(table) - 1)]`` (``len(self)`` after the last day)."""
        n = len(self.epoch)
        if n == 0:
            return np.zeros(1, dtype=np.int32), 0
        span = int(self.epoch[-1] - self.epoch[0]) + 1
        table = np.searchsorted(self.epoch - self.epoch[0], np.arange(span + 1), side="left")
        return table.astype(np.int32), int(self.epoch[0])


@dataclass
class StockPanel:
    """The stock side of a dataset: ``stock_daily`` rows and (day × stock) panels.

    Rows are the ``stock_daily`` rows in (date, code) order (a repeated (date, code) keeps its
    last row): ``row_day``/``row_stock`` give each row's day and stock, ``row_close`` and
    ``row_fmc`` its close and float cap (NaN when null); the rows of day ``d`` are
    ``row_start[d]:row_start[d+1]``. ``close``, ``float_mcap`` (NaN where a stock has no row)
    and ``listed`` are the dense ``(days, stocks)`` panels, built on first use. Groups:
    ``gbit[d, s, k]`` is the group of stock ``s`` on day ``d`` in grouping
    ``GROUP_LEVELS[k]`` as a global bit ``group_offsets[k] + id`` (-1 = none), labels in
    ``group_labels[k]``.
    """

    calendar: Calendar
    codes: list[str]
    row_day: np.ndarray
    row_stock: np.ndarray
    row_close: np.ndarray | None
    row_fmc: np.ndarray
    row_start: np.ndarray
    gbit: np.ndarray
    group_offsets: list[int]
    group_labels: list[list[str]]
    n_no_industry: int
    #: the ``stock_daily`` date / float cap columns when they already are the rows (else None)
    source_date: pl.Series | None = field(default=None, repr=False)
    source_fmc: pl.Series | None = field(default=None, repr=False)

    @property
    def n_bits(self) -> int:
        return self.group_offsets[-1] + len(self.group_labels[-1])

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.calendar), len(self.codes)

    @cached_property
    def close(self) -> np.ndarray:
        if self.row_close is None:
            raise EtfflowError("this stock panel was built without the close column")
        return rows_to_dense(self.row_start, self.row_stock, self.row_close, self.shape[1], np.nan)

    @cached_property
    def float_mcap(self) -> np.ndarray:
        return rows_to_dense(self.row_start, self.row_stock, self.row_fmc, self.shape[1], np.nan)

    @cached_property
    def listed(self) -> np.ndarray:
        ones = np.ones(len(self.row_stock), dtype=np.bool_)
        return rows_to_dense(self.row_start, self.row_stock, ones, self.shape[1], False)

    def row_dates(self) -> pl.Series:
        """The ``date`` column of the rows."""
        if self.source_date is not None:
            return self.source_date
        return self.calendar.dates.gather(self.row_day)

    def row_codes(self) -> pl.Series:
        """The ``code`` column of the rows (String)."""
        return pl.Series("code", self.codes, dtype=pl.String).gather(self.row_stock)

    def row_float_mcap(self) -> pl.Series:
        """The ``float_mcap`` column of the rows (NaN where the input is null)."""
        if self.source_fmc is not None:
            return self.source_fmc
        return pl.Series("float_mcap", self.row_fmc, dtype=pl.Float64)


def _industry_intervals(
    ind: pl.DataFrame, cal: Calendar, codes: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    """Per-stock intervals ``[from, to)`` of calendar days with their l1 / l2 ids (CSR by stock,
    input order kept inside a stock) and the sorted l1 / l2 labels."""
    ind = ind.with_columns(pl.col("industry_l1", "industry_l2").cast(pl.String))
    if "end_date" not in ind.columns:
        ind = ind.with_columns(pl.lit(None, dtype=pl.Date).alias("end_date"))
    l1_labels = sorted(ind["industry_l1"].unique().to_list())
    l2_labels = sorted(ind["industry_l2"].unique().to_list())
    s_idx = index_of(ind["code"], codes)
    d_from = cal.asof_index(ind["start_date"])
    end = ind["end_date"]
    d_to = np.where(
        end.is_null().to_numpy(),
        len(cal),
        np.searchsorted(cal.epoch, end.to_physical().fill_null(0).to_numpy(), side="right"),
    ).astype(np.int32)
    pos1 = {c: i for i, c in enumerate(l1_labels)}
    pos2 = {c: i for i, c in enumerate(l2_labels)}
    v1 = np.array([pos1[c] for c in ind["industry_l1"].to_list()], dtype=np.int16)
    v2 = np.array([pos2[c] for c in ind["industry_l2"].to_list()], dtype=np.int16)
    keep = np.flatnonzero(s_idx >= 0)
    order = keep[np.argsort(s_idx[keep], kind="stable")]
    ptr = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum(np.bincount(s_idx[order], minlength=len(codes)), out=ptr[1:])
    return (
        ptr,
        d_from[order].astype(np.int32),
        d_to[order],
        v1[order],
        v2[order],
        l1_labels,
        l2_labels,
    )


def _to_float(s: pl.Series) -> np.ndarray:
    """Float64 values with NaN for nulls (zero-copy when there are no nulls)."""
    return (s.fill_null(np.nan) if s.null_count() else s).to_numpy()


def load_stock_panel(ds: Dataset) -> StockPanel:
    """Read ``stocks``, ``stock_daily`` and ``stock_industry`` into a :class:`StockPanel`."""
    frames = pl.collect_all(
        [
            ds.frame("stocks"),
            ds.frame("stock_daily").select("date", "code", "close", "float_mcap"),
            ds.frame("stock_industry"),
        ],
        engine="in-memory",
    )
    return stock_panel_from(*frames)


def stock_panel_from(
    stocks: pl.DataFrame, daily: pl.DataFrame, industry: pl.DataFrame
) -> StockPanel:
    """Build a :class:`StockPanel` from collected ``stocks``, ``stock_daily`` (at least
    ``date, code, float_mcap``; without ``close`` the panel has no prices) and
    ``stock_industry`` frames."""
    codes = sorted(stocks["code"].cast(pl.String).to_list())
    board_of = dict(
        zip(
            stocks["code"].cast(pl.String).to_list(),
            stocks["board"].cast(pl.String).to_list(),
            strict=True,
        )
    )
    date = daily["date"]
    if date.null_count():
        raise DataContractError(
            "has null dates",
            table="stock_daily",
            column="date",
            rule="null_value",
            n_rows=date.null_count(),
        )
    epoch = date.to_physical().to_numpy()
    phys, lookup, _keep = raw_codes(daily["code"], codes)
    if len(epoch):
        e_lo, e_hi = int(epoch.min()), int(epoch.max())
    else:
        e_lo, e_hi = 0, -1
    cal_epoch, day, stock, n_unknown, n_unordered = stock_rows(
        frozen(epoch), frozen(phys), lookup, e_lo, e_hi
    )
    if n_unknown:
        ex = daily.filter(pl.Series(stock < 0)).head(5)
        raise DataContractError(
            "names a code that is not in table 'stocks'",
            table="stock_daily",
            column="code",
            rule="unknown_stock",
            examples=ex.select("date", "code"),
            n_rows=int(n_unknown),
            hint="add the stock to 'stocks' or drop its rows",
        )
    cal = Calendar.from_epoch(cal_epoch)
    t, n = len(cal), len(codes)
    close = daily["close"].cast(pl.Float64) if "close" in daily.columns else None
    fmc = daily["float_mcap"].cast(pl.Float64)
    src_date = src_fmc = None
    if n_unordered == 0:
        row_day, row_stock = day, stock
        row_close = _to_float(close) if close is not None else None
        row_fmc = _to_float(fmc)
        src_date = date.alias("date")
        src_fmc = fmc.alias("float_mcap") if fmc.null_count() == 0 else None
    else:
        # (date, code) order; a repeated (date, code) keeps its last row
        key = day.astype(np.int64) * max(n, 1) + stock
        order = np.argsort(key, kind="stable")
        last = np.ones(len(order), dtype=np.bool_)
        last[:-1] = key[order[1:]] != key[order[:-1]]
        order = order[last]
        row_day, row_stock = day[order], stock[order]
        row_close = _to_float(close)[order] if close is not None else None
        row_fmc = _to_float(fmc)[order]
    row_fmc = frozen(row_fmc)  # read-only either way: one kernel specialisation
    row_close = frozen(row_close) if row_close is not None else None
    row_start = np.zeros(t + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_day, minlength=t), out=row_start[1:])

    ptr, d_from, d_to, v1, v2, l1_labels, l2_labels = _industry_intervals(industry, cal, codes)
    board_pos = {b: i for i, b in enumerate(BOARDS)}
    board_ids = np.array([board_pos.get(board_of[c], -1) for c in codes], dtype=np.int16)
    labels: list[list[str]] = [
        l1_labels,
        l2_labels,
        list(BOARDS),
        [f"Q{i + 1}" for i in range(N_CAP_BUCKETS)],
    ]
    offsets = np.cumsum([0] + [len(lbl) for lbl in labels[:-1]]).tolist()
    gbit, n_no_industry = group_bits(
        row_start, row_stock, row_fmc, n, ptr, d_from, d_to, v1, v2, board_ids,
        np.array(offsets, dtype=np.int64), N_CAP_BUCKETS,
    )  # fmt: skip
    return StockPanel(
        calendar=cal,
        codes=codes,
        row_day=row_day,
        row_stock=row_stock,
        row_close=row_close,
        row_fmc=row_fmc,
        row_start=row_start,
        gbit=gbit,
        group_offsets=offsets,
        group_labels=labels,
        n_no_industry=int(n_no_industry),
        source_date=src_date,
        source_fmc=src_fmc,
    )

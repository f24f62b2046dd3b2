"""Dense (day × stock) panels built from the long input tables.

The trading calendar is the sorted distinct dates of ``stock_daily``; stocks are the sorted
codes of ``stocks``. Codes become integer indices without a join: a ``Categorical`` column's
physical ids come from Polars' global category mapping, so casting the known code list to
``Categorical`` gives a lookup table from physical id to stock index (``Enum`` uses its own
category list; a ``String`` column is cast to ``Categorical`` first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from etfflow.engine.loading import Dataset
from etfflow.engine.lookthrough_nb import cap_buckets, fill_intervals, map_codes, map_days
from etfflow.engine.schemas import BOARDS
from etfflow.exceptions import DataContractError

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


def as_categorical(s: pl.Series) -> pl.Series:
    if isinstance(s.dtype, pl.Categorical | pl.Enum):
        return s
    return s.cast(pl.String).cast(pl.Categorical)


def raw_codes(s: pl.Series, codes: list[str]) -> tuple[np.ndarray, np.ndarray, pl.Series]:
    """Physical ids of ``s`` and the lookup from id to position in ``codes`` (-1 if absent).

    Returns ``(phys, lookup, series)``; keep ``series`` alive while using the ids (Polars frees
    a category mapping nothing refers to). Nulls get an id past the lookup (unknown).
    """
    s = as_categorical(s)
    lookup = _lookup_for(s.dtype, codes)
    phys = s.to_physical()
    if phys.null_count():
        phys = phys.cast(pl.UInt32).fill_null(np.iinfo(np.uint32).max)
    arr = phys.to_numpy()
    if len(arr):
        pick = np.linspace(0, len(arr) - 1, num=min(64, len(arr))).astype(np.int64)
        p = arr[pick]
        idx = np.where(p < len(lookup), lookup[np.minimum(p, max(len(lookup) - 1, 0))], -1)
        _spot_check(s.gather(pick), idx, codes)
    return arr, lookup, s


def index_of(s: pl.Series, codes: list[str]) -> np.ndarray:
    """Position of each value of ``s`` in the list ``codes`` (int32, -1 if absent or null)."""
    phys, lookup, _keep = raw_codes(s, codes)
    return map_codes(phys, lookup)


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


class Calendar:
    """Trading days as ``pl.Date`` and as days since 1970 (int32)."""

    def __init__(self, dates: pl.Series) -> None:
        self.dates = dates
        self.epoch = dates.to_physical().to_numpy().astype(np.int32)
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

    def raw_days(self, dates: pl.Series) -> np.ndarray:
        """Days since 1970 as int32 (nulls become a day before any calendar)."""
        phys = dates.to_physical()
        if phys.null_count():
            phys = phys.fill_null(np.iinfo(np.int32).min)
        return phys.to_numpy()

    def index_of(self, dates: pl.Series) -> np.ndarray:
        """Calendar position of each date (-1 when not a trading day or null)."""
        phys = dates.to_physical()
        if phys.null_count():
            phys = phys.fill_null(np.iinfo(np.int32).min)
        return map_days(phys.to_numpy(), self._lookup, self._e0)

    def asof_index(self, dates: pl.Series) -> np.ndarray:
        """First trading day on or after each date (len(self) when after the last)."""
        ep = dates.cast(pl.Date).to_physical().to_numpy().astype(np.int32)
        return np.searchsorted(self.epoch, ep, side="left").astype(np.int32)


@dataclass
class StockPanel:
    """The stock side of a dataset as dense arrays, shape ``(days, stocks)``.

    ``close`` and ``float_mcap`` are NaN where a stock has no ``stock_daily`` row (not listed);
    ``row_day``/``row_stock`` give the (day, stock) of every ``stock_daily`` row in date, code
    order. Groups: ``gbit[d, s, k]`` is the group of stock ``s`` on day ``d`` in grouping
    ``GROUP_LEVELS[k]`` as a global bit ``group_offsets[k] + id`` (-1 = none), labels in
    ``group_labels[k]``.
    """

    calendar: Calendar
    codes: list[str]
    close: np.ndarray
    float_mcap: np.ndarray
    listed: np.ndarray
    row_day: np.ndarray
    row_stock: np.ndarray
    gbit: np.ndarray
    group_offsets: list[int]
    group_labels: list[list[str]]
    n_no_industry: int

    @property
    def n_bits(self) -> int:
        return self.group_offsets[-1] + len(self.group_labels[-1])

    @property
    def shape(self) -> tuple[int, int]:
        return self.close.shape


def _industry_groups(
    ds: Dataset, cal: Calendar, codes: list[str], shape: tuple[int, int], listed: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    ind = (
        ds.frame("stock_industry")
        .collect()
        .with_columns(pl.col("industry_l1", "industry_l2").cast(pl.String))
    )
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
    l1 = np.full(shape, -1, dtype=np.int16)
    l2 = np.full(shape, -1, dtype=np.int16)
    pos1 = {c: i for i, c in enumerate(l1_labels)}
    pos2 = {c: i for i, c in enumerate(l2_labels)}
    v1 = np.array([pos1[c] for c in ind["industry_l1"].to_list()], dtype=np.int16)
    v2 = np.array([pos2[c] for c in ind["industry_l2"].to_list()], dtype=np.int16)
    fill_intervals(l1, s_idx, d_from, d_to, v1)
    fill_intervals(l2, s_idx, d_from, d_to, v2)
    l1[~listed] = -1
    l2[~listed] = -1
    return l1, l2, l1_labels, l2_labels


def load_stock_panel(ds: Dataset) -> StockPanel:
    """Read ``stocks``, ``stock_daily`` and ``stock_industry`` into dense panels."""
    stocks = ds.frame("stocks").collect()
    codes = sorted(stocks["code"].cast(pl.String).to_list())
    board_of = dict(
        zip(
            stocks["code"].cast(pl.String).to_list(),
            stocks["board"].cast(pl.String).to_list(),
            strict=True,
        )
    )
    daily = ds.frame("stock_daily").select("date", "code", "close", "float_mcap").collect()
    cal = Calendar(daily["date"].unique().sort())
    t, n = len(cal), len(codes)
    day = cal.index_of(daily["date"])
    stock = index_of(daily["code"], codes)
    if (day < 0).any():
        raise DataContractError(
            "has null dates",
            table="stock_daily",
            column="date",
            rule="null_value",
            n_rows=int((day < 0).sum()),
        )
    unknown = stock < 0
    if unknown.any():
        ex = daily.filter(pl.Series(unknown)).head(5)
        raise DataContractError(
            "names a code that is not in table 'stocks'",
            table="stock_daily",
            column="code",
            rule="unknown_stock",
            examples=ex.select("date", "code"),
            n_rows=int(unknown.sum()),
            hint="add the stock to 'stocks' or drop its rows",
        )
    close = np.full((t, n), np.nan)
    fmc = np.full((t, n), np.nan)
    close[day, stock] = daily["close"].to_numpy()
    fmc[day, stock] = daily["float_mcap"].to_numpy()
    listed = np.zeros((t, n), dtype=np.bool_)
    listed[day, stock] = True
    del daily
    # (date, code) order of the stock_daily rows: codes are sorted, so row-major order
    row_day, row_stock = (a.astype(np.int32) for a in np.nonzero(listed))

    l1, l2, l1_labels, l2_labels = _industry_groups(ds, cal, codes, (t, n), listed)
    board_pos = {b: i for i, b in enumerate(BOARDS)}
    board_ids = np.array([board_pos.get(board_of[c], -1) for c in codes], dtype=np.int16)
    board = np.where(listed, board_ids[None, :], -1).astype(np.int16)
    caps = cap_buckets(fmc, listed, N_CAP_BUCKETS)
    labels = [
        l1_labels,
        l2_labels,
        list(BOARDS),
        [f"Q{i + 1}" for i in range(N_CAP_BUCKETS)],
    ]
    offsets = np.cumsum([0] + [len(lbl) for lbl in labels[:-1]]).tolist()
    gbit = np.full((t, n, len(labels)), -1, dtype=np.int16)
    for k, ids in enumerate((l1, l2, board, caps)):
        gbit[:, :, k] = np.where(ids >= 0, ids + offsets[k], -1)
    n_no_industry = int((listed & (l1 < 0)).sum())
    return StockPanel(
        calendar=cal,
        codes=codes,
        close=close,
        float_mcap=fmc,
        listed=listed,
        row_day=row_day,
        row_stock=row_stock,
        gbit=gbit,
        group_offsets=offsets,
        group_labels=labels,
        n_no_industry=n_no_industry,
    )

"""Look-through (penetration) of ETF holdings to stocks, daily, for a pool.

Definition: docs/methodology.md#2-look-through.

:func:`penetrate` reads the dataset lazily (projection and date-range predicate push-down on
``etf_pcf``, one chunk of days at a time), turns codes and dates into integer indices, and
scatter-adds every basket row into dense (day × stock) panels with a numba kernel
(:mod:`etfflow.engine.lookthrough_nb`). Each chunk's columns are copied Arrow chunk by Arrow
chunk into one set of NumPy buffers reused for every chunk (:class:`_ChunkBuffers`): fresh
arrays per chunk would page-fault on every first touch, which costs more than the copy.
``diagnostics["stage_minor_faults"]`` counts the minor page faults of each stage beside
``diagnostics["stage_seconds"]``. A join-based formulation is what DuckDB and Polars
would run; the scatter-add reads each basket row once and needs no hash table (see
``benchmarks/bench_lookthrough.py`` for the measured comparison).

Weights mode uses that snapshots stay in force between snapshot dates: over a block of days
with the same snapshots, the stock panels are the sparse product ``(S·N | S | dS·N)[days ×
ETF] @ W[ETF × stock]`` (``W`` ≈ 150 stocks per ETF), summed per stock as vectors over the
block's days and written straight to the output rows (no dense panels, no scatter per ETF-day).
Outputs are built in (date, code) row order: when ``stock_daily`` is stored in that order
(checked), its ``date`` and ``float_mcap`` columns are the output's as they are.

Choices where the reports are silent, stated here once (the full list:
docs/methodology.md#7-choices-where-the-reports-are-silent):

- PCF mode: an ETF with an ``etf_daily`` row on ``t`` but no basket dated ``t`` carries its
  latest earlier basket (as-of, never back-filled); the count is in ``diagnostics``.
- Basket rows of a stock without a ``stock_daily`` row on ``t`` cannot be priced and are left
  out of the weights (counted). Weight snapshots are used as published (not renormalised).
- ``inflow`` uses the ETF's previous *row* as ``S[e,t-1]``: an ETF whose row is missing for
  a day compares with its last known shares rather than with zero.
- Weights mode: an ETF's own snapshot (``etf_code`` set) wins over its index's snapshot
  (``etf_code`` null, ``index_code`` set).
"""

from __future__ import annotations

import gc
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl
from numba import get_num_threads

try:  # POSIX only: minor page faults in the diagnostics
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

from etfflow._common import Progress
from etfflow.engine import lookthrough_nb as nb
from etfflow.engine.loading import Dataset
from etfflow.engine.panel import (
    StockPanel,
    epoch_days,
    fill_numpy,
    index_of,
    raw_codes,
    stock_panel_from,
)
from etfflow.engine.pools import Pool
from etfflow.engine.schemas import GROUP_FLOW_SCHEMA, GROUP_LEVELS, STOCK_FLOW_SCHEMA
from etfflow.exceptions import DataContractError, DatasetNotFoundError, EtfflowError

log = logging.getLogger(__name__)

Mode = Literal["pcf", "weights"]
Valuation = Literal["nav", "basket"]

#: Trading days of ``etf_pcf`` read per chunk (≈ 19M basket rows at full size).
DEFAULT_CHUNK_DAYS = 126


@dataclass
class LookThrough:
    """Result of :func:`penetrate`.

    Attributes
    ----------
    stocks
        One row per ``stock_daily`` row (listed stock-day), columns of
        :data:`~etfflow.engine.schemas.STOCK_FLOW_SCHEMA`; stocks held by no pool ETF get
        zeros; ``inflow`` is null on the first date of the data.
    groups
        Daily 整体法 aggregates per industry (level 1 and 2), board and float-cap quintile
        (:data:`~etfflow.engine.schemas.GROUP_FLOW_SCHEMA`).
    coverage
        Coverage statistics: per group, min / mean / max over time and latest of
        coverage, passive share of float cap, distinct ETFs and distinct indices
        (docs/methodology.md#26-coverage-statistics).
    params, diagnostics
        What was run, and counts of every row the look-through could not use.
    """

    stocks: pl.DataFrame
    groups: pl.DataFrame
    coverage: pl.DataFrame
    params: dict
    diagnostics: dict = field(default_factory=dict)

    @property
    def industries(self) -> pl.DataFrame:
        return self.groups.filter(pl.col("level").is_in(["industry_l1", "industry_l2"]))


@dataclass
class _EtfPanel:
    """Pool ETFs (sorted by tracked index) and their daily panels, shape ``(etfs, days)``."""

    codes: list[str]
    index_codes: list[str]
    etf_index: np.ndarray
    unit: np.ndarray
    present: np.ndarray
    shares: np.ndarray
    nav: np.ndarray
    dshares: np.ndarray


def _pool_etfs(etfs: pl.DataFrame, pool: Pool) -> tuple[pl.DataFrame, list[str], list[str]]:
    """The pool's ``etfs`` rows sorted by tracked index, their codes and sorted index codes."""
    etfs = pool.select(etfs).sort("index_code", "etf_code")
    return etfs, etfs["etf_code"].to_list(), sorted(set(etfs["index_code"].to_list()))


def _load_etf_panel(
    etfs: pl.DataFrame, daily: pl.DataFrame, pool: Pool, panel: StockPanel
) -> _EtfPanel:
    etfs, codes, index_codes = _pool_etfs(etfs, pool)
    ipos = {c: i for i, c in enumerate(index_codes)}
    etf_index = np.array([ipos[c] for c in etfs["index_code"].to_list()], dtype=np.int32)
    unit = etfs["creation_unit"].to_numpy().astype(np.float64)
    e_idx = index_of(daily["etf_code"], codes)
    d_idx = panel.calendar.index_of(daily["date"])
    bad = (d_idx < 0) & (e_idx >= 0)
    if bad.any():
        raise DataContractError(
            "has dates that are not trading days (not in stock_daily)",
            table="etf_daily",
            column="date",
            rule="date_not_in_calendar",
            examples=daily.filter(pl.Series(bad)).select("date", "etf_code").head(5),
            n_rows=int(bad.sum()),
        )
    present, shares, nav, dshares = nb.etf_panel(
        d_idx,
        e_idx,
        _floats(daily["shares"]),
        _floats(daily["nav"]),
        len(panel.calendar),
        len(codes),
    )
    return _EtfPanel(codes, index_codes, etf_index, unit, present, shares, nav, dshares)


def _null_as_nan(s: pl.Series) -> pl.Series:
    """A column as Float64, NaN for nulls."""
    s = s.cast(pl.Float64)
    return s.fill_null(np.nan) if s.null_count() else s


def _floats(s: pl.Series) -> np.ndarray:
    """Float64 values of a column, NaN for nulls."""
    return np.ascontiguousarray(_null_as_nan(s).to_numpy())


@dataclass
class _Accumulators:
    mv: np.ndarray
    share: np.ndarray
    inflow: np.ndarray
    fund: np.ndarray
    netf: np.ndarray
    nidx: np.ndarray
    g_netf: np.ndarray
    g_nidx: np.ndarray
    g_fund: np.ndarray
    counters: np.ndarray

    @classmethod
    def zeros(cls, t: int, n: int, n_bits: int) -> _Accumulators:
        return cls(
            mv=np.zeros((t, n)),
            share=np.zeros((t, n)),
            inflow=np.zeros((t, n)),
            fund=np.zeros((t, n)),
            netf=np.zeros((t, n), dtype=np.int32),
            nidx=np.zeros((t, n), dtype=np.int32),
            g_netf=np.zeros((t, n_bits), dtype=np.int32),
            g_nidx=np.zeros((t, n_bits), dtype=np.int32),
            g_fund=np.zeros((t, n_bits)),
            counters=np.zeros((t, nb.N_COUNTERS), dtype=np.int64),
        )


class _Scatter:
    """Runs the accumulation kernel chunk by chunk, keeping the as-of basket state."""

    def __init__(
        self,
        panel: StockPanel,
        etf: _EtfPanel,
        acc: _Accumulators,
        n_owner: int,
        owner_of_etf: np.ndarray,
        alt_owner_of_etf: np.ndarray,
        *,
        weights_mode: bool,
        value_basket: bool,
    ) -> None:
        self.panel, self.etf, self.acc = panel, etf, acc
        self.n_owner = n_owner
        self.owner_of_etf = owner_of_etf
        self.alt_owner_of_etf = alt_owner_of_etf
        self.weights_mode = weights_mode
        self.value_basket = value_basket
        self.state_src = np.full(n_owner, -1, dtype=np.int8)
        self.state_start = np.zeros(n_owner, dtype=np.int64)
        self.state_end = np.zeros(n_owner, dtype=np.int64)
        self.state_day = np.full(n_owner, -1, dtype=np.int32)
        self.carry_code = np.zeros(0, dtype=np.uint32)
        self.carry_val = np.zeros(0, dtype=np.float64)
        self.carry_lookup = np.arange(len(panel.codes), dtype=np.int32)
        self.non_contiguous_chunks = 0

    def _state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.state_src, self.state_start, self.state_end, self.state_day

    def run(
        self,
        d_lo: int,
        d_hi: int,
        day: np.ndarray,
        owner: np.ndarray,
        code: np.ndarray,
        val: np.ndarray,
        *,
        day_table: tuple[np.ndarray, int],
        owner_table: np.ndarray,
        code_lookup: np.ndarray,
    ) -> int:
        """Process days ``d_lo..d_hi`` with the basket rows of those days.

        ``day``, ``owner`` and ``code`` are raw ids mapped through ``day_table``,
        ``owner_table`` and ``code_lookup``. Returns the rows dated off the calendar.
        """
        seg = nb.find_segments(day, owner, day_table[0], day_table[1], owner_table)
        saved = [a.copy() for a in self._state()]
        ptr = nb.basket_pointers(d_lo, d_hi, *seg[:4], self.n_owner, *self._state())
        if ptr[4] > 0:  # a basket split over several runs: sort the chunk and redo
            self.non_contiguous_chunks += 1
            for cur, old in zip(self._state(), saved, strict=True):
                cur[:] = old  # the first pass moved the as-of state to the chunk's end
            order = np.lexsort((owner, day))
            day, owner, code, val = day[order], owner[order], code[order], val[order]
            seg = nb.find_segments(day, owner, day_table[0], day_table[1], owner_table)
            ptr = nb.basket_pointers(d_lo, d_hi, *seg[:4], self.n_owner, *self._state())
        src, start, end, bday, _ = ptr
        a, p, e = self.acc, self.panel, self.etf
        nb.accumulate(
            d_lo, d_hi, src, start, end, bday, self.owner_of_etf, self.alt_owner_of_etf,
            code, val, code_lookup, self.carry_code, self.carry_val, self.carry_lookup,
            e.present, e.shares, e.nav, e.dshares, e.unit, e.etf_index, p.close,
            self.weights_mode, self.value_basket, p.gbit, p.n_bits,
            a.mv, a.share, a.inflow, a.fund, a.netf, a.nidx, a.g_netf, a.g_nidx, a.g_fund,
            a.counters,
        )  # fmt: skip
        self.carry_code, self.carry_val = nb.copy_carry(
            self.state_src, self.state_start, self.state_end, code, val, code_lookup,
            self.carry_code, self.carry_val,
        )  # fmt: skip
        return int(seg[4])


def _chunks(n_days: int, chunk_days: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + chunk_days, n_days) - 1) for lo in range(0, n_days, chunk_days)]


class _ChunkBuffers:
    """The basket columns of one chunk (raw day, raw ETF id, raw code id, quantity), in NumPy
    buffers reused for every chunk.

    Converting each chunk's Polars columns to fresh arrays would touch new memory every chunk
    (glibc hands large blocks back to the OS on free, so each one page-faults again); the
    buffers grow geometrically to the largest chunk and are filled in place
    (:func:`~etfflow.engine.panel.fill_numpy`).
    """

    GROWTH = 1.5

    def __init__(self) -> None:
        self.capacity = 0
        self.allocations = 0
        self._alloc(0)

    def _alloc(self, n: int) -> None:
        self.day = np.empty(n, dtype=np.int32)
        self.owner = np.empty(n, dtype=np.uint32)
        self.code = np.empty(n, dtype=np.uint32)
        self.val = np.empty(n, dtype=np.float64)
        self.capacity = n

    def reserve(self, n: int) -> None:
        if n > self.capacity:
            self._alloc(max(n, int(self.capacity * self.GROWTH)))
            self.allocations += 1


def _run_pcf(ds: Dataset, sc: _Scatter, chunk_days: int, progress: Progress | None) -> dict:
    panel, etf = sc.panel, sc.etf
    lf = ds.frame("etf_pcf").select("date", "etf_code", "code", "quantity")
    dates = panel.calendar.dates
    chunks = _chunks(len(dates), chunk_days)
    buf = _ChunkBuffers()
    rows = 0
    off = 0
    for i, (lo, hi) in enumerate(chunks):
        if progress:
            progress("look-through", i, len(chunks))
        df = lf.filter(pl.col("date").is_between(dates[lo], dates[hi])).collect(engine="in-memory")
        rows += df.height
        buf.reserve(df.height)
        day = panel.calendar.raw_days(df["date"], out=buf.day)
        owner, owner_table, keep_e = raw_codes(df["etf_code"], etf.codes, out=buf.owner)
        code, code_lookup, keep_c = raw_codes(df["code"], panel.codes, out=buf.code)
        val = fill_numpy(_null_as_nan(df["quantity"]), buf.val)
        del df  # the ids are copies: the chunk's frame can go before the kernels run
        off += sc.run(
            lo, hi, day, owner, code, val,
            day_table=panel.calendar.day_table, owner_table=owner_table,
            code_lookup=code_lookup,
        )  # fmt: skip
        del keep_e, keep_c
    if progress:
        progress("look-through", len(chunks), len(chunks))
    return {"basket_rows": rows, "rows_off_calendar": off, "buffer_allocations": buf.allocations}


@dataclass
class _Flows:
    """Look-through results: one value per output row (``stock_daily`` row in (date, code)
    order) and 整体法 sums / distinct counts per (day, group bit)."""

    netf: np.ndarray
    nidx: np.ndarray
    fund: np.ndarray
    share: np.ndarray
    mv: np.ndarray
    w: np.ndarray
    inflow: np.ndarray
    g_nst: np.ndarray
    g_held: np.ndarray
    g_f: np.ndarray
    g_mv: np.ndarray
    g_sh: np.ndarray
    g_in: np.ndarray
    g_netf: np.ndarray
    g_nidx: np.ndarray
    g_fund: np.ndarray
    counters: np.ndarray

    @classmethod
    def allocate(cls, n_rows: int, t: int, n_bits: int, *, distinct: bool = True) -> _Flows:
        def rows(dtype: type) -> np.ndarray:
            return np.empty(n_rows, dtype=dtype)

        def groups(dtype: type) -> np.ndarray:
            return np.zeros((t, n_bits), dtype=dtype)

        empty = np.zeros((0, 0))
        return cls(
            netf=rows(np.int32),
            nidx=rows(np.int32),
            fund=rows(np.float64),
            share=rows(np.float64),
            mv=rows(np.float64),
            w=rows(np.float64),
            inflow=rows(np.float64),
            g_nst=groups(np.int32),
            g_held=groups(np.int32),
            g_f=groups(np.float64),
            g_mv=groups(np.float64),
            g_sh=groups(np.float64),
            g_in=groups(np.float64),
            g_netf=groups(np.int32) if distinct else empty,
            g_nidx=groups(np.int32) if distinct else empty,
            g_fund=groups(np.float64) if distinct else empty,
            counters=np.zeros((t, nb.N_COUNTERS), dtype=np.int64),
        )


def _penetrate_pcf(
    ds: Dataset,
    panel: StockPanel,
    etf: _EtfPanel,
    *,
    valuation: Valuation,
    chunk_days: int,
    progress: Progress | None,
) -> tuple[_Flows, dict]:
    t, n = panel.shape
    n_etf = len(etf.codes)
    by_day = _EtfPanel(
        etf.codes,
        etf.index_codes,
        etf.etf_index,
        etf.unit,
        *(np.ascontiguousarray(x.T) for x in (etf.present, etf.shares, etf.nav, etf.dshares)),
    )
    acc = _Accumulators.zeros(t, n, panel.n_bits)
    sc = _Scatter(
        panel,
        by_day,
        acc,
        n_etf,
        np.arange(n_etf, dtype=np.int32),
        np.full(n_etf, -1, dtype=np.int32),
        weights_mode=False,
        value_basket=valuation == "basket",
    )
    info = _run_pcf(ds, sc, chunk_days, progress)
    info["non_contiguous_chunks"] = sc.non_contiguous_chunks
    fl = _Flows.allocate(len(panel.row_stock), t, panel.n_bits, distinct=False)
    fl.g_netf, fl.g_nidx, fl.g_fund, fl.counters = acc.g_netf, acc.g_nidx, acc.g_fund, acc.counters
    nb.panels_to_rows(
        panel.row_start, panel.row_stock, panel.row_fmc, panel.gbit,
        acc.mv, acc.share, acc.inflow, acc.fund, acc.netf, acc.nidx,
        fl.netf, fl.nidx, fl.fund, fl.share, fl.mv, fl.w, fl.inflow,
        fl.g_nst, fl.g_held, fl.g_f, fl.g_mv, fl.g_sh, fl.g_in,
    )  # fmt: skip
    return fl, info


#: Longest block of days of the weights-mode product (bounds its per-stock vectors).
WEIGHTS_BLOCK_DAYS = 32


@dataclass
class _WeightColumns:
    """``holding_weights`` as arrays: days since 1970, physical code ids with their lookups
    (a zero-length id array stands for an all-null column) and weights."""

    n_rows: int
    epoch: np.ndarray
    e_phys: np.ndarray
    e_lookup: np.ndarray
    i_phys: np.ndarray
    i_lookup: np.ndarray
    code: np.ndarray
    code_lookup: np.ndarray
    val: np.ndarray
    keep: tuple  # the categorical series the physical ids belong to


def _weight_columns(
    hw: pl.DataFrame, stock_codes: list[str], etf_codes: list[str], index_codes: list[str]
) -> _WeightColumns:
    none = (np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int32), None)
    etf_col = hw["etf_code"] if "etf_code" in hw.columns else None
    has_etf = etf_col is not None and etf_col.null_count() < hw.height
    # index codes matter only for rows without an ETF code
    has_idx = "index_code" in hw.columns and (etf_col is None or etf_col.null_count() > 0)
    e_phys, e_lookup, keep_e = raw_codes(etf_col, etf_codes) if has_etf else none
    i_phys, i_lookup, keep_i = raw_codes(hw["index_code"], index_codes) if has_idx else none
    code, code_lookup, keep_c = raw_codes(hw["code"], stock_codes)
    return _WeightColumns(
        n_rows=hw.height,
        epoch=epoch_days(hw["date"]),
        e_phys=e_phys,
        e_lookup=e_lookup,
        i_phys=i_phys,
        i_lookup=i_lookup,
        code=code,
        code_lookup=code_lookup,
        val=_floats(hw["weight"]),
        keep=(keep_e, keep_i, keep_c),
    )


def _weight_segments(
    wc: _WeightColumns, panel: StockPanel, etf: _EtfPanel
) -> tuple[np.ndarray, ...]:
    """Snapshot rows as baskets: ``(seg_day, seg_owner, seg_start, seg_end, code, val)``,
    rows of one (owner, first day in force) contiguous (sorted if needed)."""
    t = len(panel.calendar)
    n_etf = len(etf.codes)
    # a snapshot is in force from its date: the first trading day on or after it
    asof, e0 = panel.calendar.asof_table()
    keys = (wc.e_phys, wc.e_lookup, wc.i_phys, wc.i_lookup, n_etf, asof, e0)
    code, val = wc.code, wc.val
    seg = nb.weight_segments(wc.epoch, *keys)
    ok = (seg[1] >= 0) & (seg[0] < t)
    key = seg[1][ok].astype(np.int64) * (t + 1) + seg[0][ok]
    if len(np.unique(key)) < len(key):  # a basket split over several runs: sort the rows
        day, owner = nb.weight_rows(wc.epoch, *keys)
        order = np.lexsort((owner, day))
        day, owner, code, val = day[order], owner[order], code[order], val[order]
        ident_day = np.arange(t + 1, dtype=np.int32)
        ident_owner = np.arange(n_etf + len(etf.index_codes), dtype=np.int32)
        seg = nb.find_segments(day, owner, ident_day, 0, ident_owner)
    return (*seg[:4], code, val)


def _weight_blocks(
    seg_day: np.ndarray, seg_owner: np.ndarray, t: int, etf: _EtfPanel
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blocks of days with constant snapshots in force: ``(blk_lo, blk_hi, blk_seg)``.

    ``blk_seg[k, e]`` is the segment in force for ETF ``e`` over block ``k``: its own latest
    snapshot dated on or before the block, else its index's (-1: none).
    """
    n_etf = len(etf.codes)
    n_owner = n_etf + len(etf.index_codes)
    ok = np.flatnonzero((seg_owner >= 0) & (seg_day < t))
    starts = np.union1d(seg_day[ok], [0]) if t else np.zeros(0, dtype=np.int64)
    ends = np.append(starts[1:], t)
    lo = np.concatenate(
        [np.arange(a, b, WEIGHTS_BLOCK_DAYS) for a, b in zip(starts, ends, strict=True)]
        or [np.zeros(0, dtype=np.int64)]
    ).astype(np.int32)
    hi = np.append(lo[1:], t).astype(np.int32)
    key = seg_owner[ok].astype(np.int64) * (t + 1) + seg_day[ok]
    order = np.argsort(key, kind="stable")
    key, seg_ids = key[order], ok[order]
    query = np.arange(n_owner, dtype=np.int64)[None, :] * (t + 1) + lo[:, None]
    pos = np.searchsorted(key, query, side="right") - 1
    if len(key):
        at = np.maximum(pos, 0)
        found = (pos >= 0) & (key[at] // (t + 1) == np.arange(n_owner)[None, :])
        in_force = np.where(found, seg_ids[at], -1)
    else:
        in_force = np.full(query.shape, -1, dtype=np.int64)
    own = in_force[:, :n_etf]
    alt = in_force[:, n_etf + etf.etf_index] if n_etf else own
    blk_seg = np.ascontiguousarray(np.where(own >= 0, own, alt), dtype=np.int64)
    return lo, hi, blk_seg


def _run_weights(
    wc: _WeightColumns, panel: StockPanel, etf: _EtfPanel, progress: Progress | None
) -> tuple[_Flows, dict]:
    if progress:
        progress("look-through", 0, 1)
    t, _n = panel.shape
    seg_day, seg_owner, seg_start, seg_end, code, val = _weight_segments(wc, panel, etf)
    lookup = wc.code_lookup
    lo, hi, blk_seg = _weight_blocks(seg_day, seg_owner, t, etf)
    seg_len = np.append(seg_end - seg_start, 0)
    max_nnz = int(seg_len[blk_seg].sum(axis=1).max()) if blk_seg.size else 0
    # parallel tasks: runs of blocks of about equal work (sparse product + output rows)
    work = np.cumsum((hi - lo) * (seg_len[blk_seg].sum(axis=1) + panel.shape[1]))
    n_tasks = min(len(lo), 2 * get_num_threads())
    cuts = np.searchsorted(work, work[-1] * np.arange(1, n_tasks) / n_tasks) if len(lo) else []
    chunk_ptr = np.unique(np.concatenate([[0], cuts, [len(lo)]])).astype(np.int64)
    fl = _Flows.allocate(len(panel.row_stock), t, panel.n_bits)
    gkey = panel.gbit.view(np.int64).reshape(panel.gbit.shape[:2])
    with nb.dynamic_schedule():
        nb.weights_flows(
            chunk_ptr, lo, hi, blk_seg, seg_day, seg_start, seg_end, code, lookup, val,
            etf.etf_index, etf.present, etf.shares, etf.nav, etf.dshares,
            panel.row_start, panel.row_stock, panel.row_fmc, panel.gbit, gkey, panel.n_bits,
            max(max_nnz, 1), WEIGHTS_BLOCK_DAYS,
            fl.netf, fl.nidx, fl.fund, fl.share, fl.mv, fl.w, fl.inflow,
            fl.g_nst, fl.g_held, fl.g_f, fl.g_mv, fl.g_sh, fl.g_in, fl.g_netf, fl.g_nidx,
            fl.g_fund, fl.counters,
        )  # fmt: skip
    if progress:
        progress("look-through", 1, 1)
    return fl, {"basket_rows": wc.n_rows, "rows_off_calendar": 0, "non_contiguous_chunks": 0}


def _read(ds: Dataset, mode: Mode) -> dict[str, pl.DataFrame]:
    """Collect the tables of a run together (one parallel read)."""
    lazy = {
        "stocks": ds.frame("stocks"),
        # weights mode needs no prices
        "stock_daily": ds.frame("stock_daily").select(
            "date", "code", *(("close",) if mode == "pcf" else ()), "float_mcap"
        ),
        "stock_industry": ds.frame("stock_industry"),
        "etfs": ds.frame("etfs"),
        "etf_daily": ds.frame("etf_daily").select("date", "etf_code", "shares", "nav"),
    }
    if mode == "weights":
        lf = ds.frame("holding_weights")
        names = lf.collect_schema().names()
        cols = ["date", "code", "weight"] + [c for c in ("etf_code", "index_code") if c in names]
        lazy["holding_weights"] = lf.select(cols)
    return dict(zip(lazy, pl.collect_all(list(lazy.values()), engine="in-memory"), strict=True))


def _minor_faults() -> int:
    """Minor page faults of the process so far (all threads; 0 where ``resource`` is missing)."""
    if resource is None:
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


class _Stages:
    """Wall seconds and minor page faults per stage of a run (``diagnostics["stage_seconds"]``,
    ``diagnostics["stage_minor_faults"]``); ``numba_setup`` overlaps ``read`` (the Parquet read
    runs in a background thread), and faults are the whole process's, so a stage's count
    includes what the background thread touched meanwhile."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.faults: dict[str, int] = {}
        self._t = time.perf_counter()
        self._f = _minor_faults()

    def lap(self, name: str) -> None:
        now, faults = time.perf_counter(), _minor_faults()
        self.seconds[name] = round(now - self._t, 3)
        self.faults[name] = faults - self._f
        if name != "numba_setup":  # the read started with the set-up
            self._t, self._f = now, faults


def _warm_up_numba() -> None:
    """First kernel call of the process: numba builds its typing and target contexts (≈0.3 s,
    mostly object creation, so the cyclic garbage collector is paused meanwhile)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        nb.warm_up()
    finally:
        if was_enabled:
            gc.enable()


def penetrate(
    ds: Dataset,
    *,
    pool: Pool | str | None = None,
    mode: Mode = "pcf",
    valuation: Valuation = "nav",
    chunk_days: int = DEFAULT_CHUNK_DAYS,
    progress: Progress | None = None,
) -> LookThrough:
    """Look through the ETFs of ``pool`` to their stocks, every trading day.

    Definition: docs/methodology.md#2-look-through.

    Parameters
    ----------
    ds
        An opened dataset (:func:`etfflow.engine.loading.open_dataset`); validate it first
        (:func:`etfflow.engine.validation.validate`): the look-through trusts the contract.
    pool
        The ETFs to count: a :class:`~etfflow.engine.pools.Pool`, a name (``"all"``,
        ``"broad"``, ``"sector"``, ``"style"``) or None (all ETFs).
    mode
        ``"pcf"``: daily baskets from ``etf_pcf``; ``"weights"``: weight snapshots from
        ``holding_weights`` in force as-of each day.
    valuation
        ``"nav"``: ``h = S·N·w``; ``"basket"``: ``h = q·S/U·close`` (PCF only;
        docs/methodology.md#24-valuation).
        Both agree when ``N·U`` equals the basket value.
    chunk_days
        Trading days of baskets read at a time (PCF; bounds memory).
    progress
        ``progress(stage, done, total)`` callback.

    Returns
    -------
    LookThrough
        The daily stock table, the daily group table and the coverage statistics.

    Notes
    -----
    ``w[e,s,t] = q·close / Σ q·close`` (PCF) or the snapshot weight; ``mv_passive = Σ_e
    S·N·w`` (CNY), ``w_passive = mv_passive / float_mcap``, ``share_passive = Σ_e S·w``,
    ``share_passive_fund = Σ_e S`` over the ETFs holding the stock, ``inflow = Σ_e
    (S[t]-S[t-1])·N[t]·w`` (creations minus redemptions, CNY). Groups use 整体法: sums over
    the group's stocks, then ratios of the sums.

    PCF mode scatter-adds every basket row into (day × stock) panels. Weights mode uses that
    snapshots are constant between snapshot dates: per block of days it is a sparse product
    ``(S·N | S | dS·N)[days × ETF] @ W[ETF × stock]`` written straight to the output rows
    (:func:`etfflow.engine.lookthrough_nb.weights_flows`).

    Raises
    ------
    DataContractError
        When a required table is missing or a row cannot be placed on the calendar.
    """
    pool = Pool.of(pool)
    if chunk_days < 1:
        raise EtfflowError("chunk_days must be at least 1")
    if mode not in ("pcf", "weights"):
        raise EtfflowError(f"unknown mode {mode!r}: choose 'pcf' or 'weights'")
    if valuation not in ("nav", "basket"):
        raise EtfflowError(f"unknown valuation {valuation!r}: choose 'nav' or 'basket'")
    if mode == "weights" and valuation == "basket":
        raise EtfflowError("valuation 'basket' needs quantities: use it with mode 'pcf'")
    table = "etf_pcf" if mode == "pcf" else "holding_weights"
    if not ds.has(table):
        raise DatasetNotFoundError(
            f"mode {mode!r} needs table '{table}', which is not in {ds.root}"
        )
    t0 = time.perf_counter()
    stages = _Stages()
    if progress:
        progress("load panels", 0, 1)
    # a background thread reads Parquet while numba sets up, then builds the output's code
    # column while the look-through runs (both are Polars work that releases the GIL)
    with ThreadPoolExecutor(max_workers=1) as background:
        reading = background.submit(_read, ds, mode)
        _warm_up_numba()
        stages.lap("numba_setup")
        frames = reading.result()
        stages.lap("read")
        if mode == "weights":  # snapshot columns to arrays meanwhile
            _, etf_codes, index_codes = _pool_etfs(frames["etfs"], pool)
            stock_codes = sorted(frames["stocks"]["code"].cast(pl.String).to_list())
            weight_columns = background.submit(
                _weight_columns,
                frames.pop("holding_weights"),  # freed once converted
                stock_codes,
                etf_codes,
                index_codes,
            )
        panel = stock_panel_from(
            frames.pop("stocks"), frames.pop("stock_daily"), frames.pop("stock_industry")
        )
        if mode == "weights":  # (PCF: later, not to add to the basket chunks' peak memory)
            code_column = background.submit(panel.row_codes)
        stages.lap("stock_panel")
        etf = _load_etf_panel(frames.pop("etfs"), frames.pop("etf_daily"), pool, panel)
        stages.lap("etf_panel")
        if progress:
            progress("load panels", 1, 1)
        if mode == "pcf":
            fl, info = _penetrate_pcf(
                ds, panel, etf, valuation=valuation, chunk_days=chunk_days, progress=progress
            )
            code_column = background.submit(panel.row_codes)
        else:
            fl, info = _run_weights(weight_columns.result(), panel, etf, progress)
            del weight_columns
        stages.lap("look_through")
        codes = code_column.result()
    t = len(panel.calendar)
    if info["rows_off_calendar"]:
        raise DataContractError(
            "has basket dates that are not trading days (not in stock_daily)",
            table=table,
            column="date",
            rule="date_not_in_calendar",
            n_rows=info["rows_off_calendar"],
            hint="run `etfflow validate` for example rows",
        )
    c = fl.counters.sum(axis=0)
    if c[nb.C_UNKNOWN]:
        raise DataContractError(
            "names stocks that are not in table 'stocks'",
            table=table,
            column="code",
            rule="unknown_stock",
            n_rows=int(c[nb.C_UNKNOWN]),
            hint="run `etfflow validate` for example rows",
        )
    stocks = _stock_table(panel, fl, codes)
    groups = _group_table(panel, fl)
    coverage = coverage_stats(groups)
    stages.lap("tables")
    diagnostics = {
        "pool_etfs": len(etf.codes),
        "basket_rows_read": info["basket_rows"],
        "etf_days": int(c[nb.C_ETF_DAYS]),
        "etf_days_without_basket": int(c[nb.C_NO_BASKET]),
        "etf_days_with_carried_basket": int(c[nb.C_CARRIED]),
        "etf_days_empty_basket": int(c[nb.C_EMPTY_BASKET]),
        "basket_rows_unpriced": int(c[nb.C_UNPRICED]),
        "stock_days_without_industry": panel.n_no_industry,
        "non_contiguous_chunks": info["non_contiguous_chunks"],
        "chunk_buffer_allocations": info.get("buffer_allocations", 0),
        "seconds": round(time.perf_counter() - t0, 3),
        "stage_seconds": stages.seconds,
        "stage_minor_faults": stages.faults,
    }
    for k, v in diagnostics.items():
        if k.startswith(("etf_days_", "basket_rows_unpriced", "stock_days_without")) and v:
            log.warning("look-through: %s = %d", k, v)
    params = {
        "pool": pool.describe(),
        "mode": mode,
        "valuation": valuation,
        "start": str(panel.calendar.dates[0]) if t else None,
        "end": str(panel.calendar.dates[-1]) if t else None,
    }
    return LookThrough(stocks, groups, coverage, params, diagnostics)


def _stock_table(panel: StockPanel, fl: _Flows, codes: pl.Series) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "date": panel.row_dates(),
            "code": codes,
            "n_etf": fl.netf,
            "n_index": fl.nidx,
            "share_passive_fund": fl.fund,
            "share_passive": fl.share,
            "mv_passive": fl.mv,
            "w_passive": pl.Series(fl.w).fill_nan(None),
            "inflow": pl.Series(fl.inflow).fill_nan(None),
            "float_mcap": panel.row_float_mcap(),
        },
        schema=STOCK_FLOW_SCHEMA,
    )


def _group_table(panel: StockPanel, fl: _Flows) -> pl.DataFrame:
    """Rows ordered by level, group name, date (built in that order: no sort)."""
    levels, labels, bits = [], [], []
    for k, (level, lbl) in enumerate(zip(GROUP_LEVELS, panel.group_labels, strict=True)):
        order = sorted(range(len(lbl)), key=lbl.__getitem__)
        levels += [level] * len(lbl)
        labels += [lbl[i] for i in order]
        bits += [panel.group_offsets[k] + i for i in order]
    bits_arr = np.array(bits, dtype=np.int64)
    bb_pos, dd = np.nonzero(fl.g_nst[:, bits_arr].T > 0)
    bb = bits_arr[bb_pos]
    n_st = fl.g_nst[dd, bb]
    f_sum = fl.g_f[dd, bb]
    mv_sum = fl.g_mv[dd, bb]
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = fl.g_held[dd, bb] / n_st
        w = np.where(f_sum > 0, mv_sum / f_sum, np.nan)
    inflow = np.where(dd == 0, np.nan, fl.g_in[dd, bb])
    return pl.DataFrame(
        {
            "date": panel.calendar.dates.gather(dd),
            "level": pl.Series(levels, dtype=pl.String).gather(bb_pos),
            "group_name": pl.Series(labels, dtype=pl.String).gather(bb_pos),
            "n_stock": n_st,
            "n_held": fl.g_held[dd, bb],
            "coverage": cov,
            "n_etf": fl.g_netf[dd, bb],
            "n_index": fl.g_nidx[dd, bb],
            "share_passive_fund": fl.g_fund[dd, bb],
            "share_passive": fl.g_sh[dd, bb],
            "mv_passive": mv_sum,
            "float_mcap": f_sum,
            "w_passive": pl.Series(w).fill_nan(None),
            "inflow": pl.Series(inflow).fill_nan(None),
        },
        schema=GROUP_FLOW_SCHEMA,
    )


COVERAGE_METRICS: tuple[str, ...] = ("coverage", "w_passive", "n_etf", "n_index")


def coverage_stats(groups: pl.DataFrame) -> pl.DataFrame:
    """Coverage statistics (Huaan 2024-12, table 9) from the daily group table.

    Definition: docs/methodology.md#26-coverage-statistics.

    One row per (level, group) plus a ``mean of groups`` row per level (行业均值): for each of
    coverage, w_passive (passive share of float cap), n_etf and n_index, the minimum, mean and
    maximum over time and the value on the latest date.
    """
    if groups.height == 0:
        return pl.DataFrame()
    latest = groups["date"].max()
    aggs = []
    for m in COVERAGE_METRICS:
        aggs += [
            pl.col(m).min().cast(pl.Float64).alias(f"{m}_min"),
            pl.col(m).mean().cast(pl.Float64).alias(f"{m}_mean"),
            pl.col(m).max().cast(pl.Float64).alias(f"{m}_max"),
            pl.col(m)
            .filter(pl.col("date") == latest)
            .first()
            .cast(pl.Float64)
            .alias(f"{m}_latest"),
        ]
    per_group = groups.group_by("level", "group_name", maintain_order=True).agg(*aggs)
    stat_cols = [c for c in per_group.columns if c not in ("level", "group_name")]
    means = (
        per_group.group_by("level", maintain_order=True)
        .agg(pl.col(stat_cols).mean())
        .with_columns(pl.lit("(mean of groups)").alias("group_name"))
    )
    out = pl.concat([means.select(per_group.columns), per_group])
    order = {lvl: i for i, lvl in enumerate(GROUP_LEVELS)}
    return (
        out.with_columns(
            pl.col("level").replace_strict(order, return_dtype=pl.Int32).alias("_lvl"),
            (pl.col("group_name") != "(mean of groups)").alias("_grp"),
        )
        .sort("_lvl", "_grp", pl.col("w_passive_latest"), descending=[False, False, True])
        .drop("_lvl", "_grp")
    )

"""PCF mode: daily baskets from ``etf_pcf``, read a chunk of days at a time and scatter-added
into dense (day × stock) panels (:mod:`etfflow.engine.lookthrough.pcf_nb`).

Each chunk's columns are copied Arrow chunk by Arrow chunk into one set of NumPy buffers
reused for every chunk (:class:`ChunkBuffers`): fresh arrays per chunk would page-fault on
every first touch, which costs more than the copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from etfflow._common import Progress
from etfflow.engine.loading import Dataset
from etfflow.engine.lookthrough import common_nb, pcf_nb
from etfflow.engine.lookthrough.common import EtfPanel, Flows, null_as_nan
from etfflow.engine.panel import StockPanel, fill_numpy, raw_codes

Valuation = Literal["nav", "basket"]


@dataclass
class _Accumulators:
    """Dense (day × stock) sums of the PCF scatter-add and its per-(day, group bit)
    distinct counts."""

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
            counters=np.zeros((t, common_nb.N_COUNTERS), dtype=np.int64),
        )


class _Scatter:
    """Runs the accumulation kernel chunk by chunk, keeping the as-of basket state."""

    def __init__(
        self,
        panel: StockPanel,
        etf: EtfPanel,
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
        seg = common_nb.find_segments(day, owner, day_table[0], day_table[1], owner_table)
        saved = [a.copy() for a in self._state()]
        ptr = pcf_nb.basket_pointers(d_lo, d_hi, *seg[:4], self.n_owner, *self._state())
        if ptr[4] > 0:  # a basket split over several runs: sort the chunk and redo
            self.non_contiguous_chunks += 1
            for cur, old in zip(self._state(), saved, strict=True):
                cur[:] = old  # the first pass moved the as-of state to the chunk's end
            order = np.lexsort((owner, day))
            day, owner, code, val = day[order], owner[order], code[order], val[order]
            seg = common_nb.find_segments(day, owner, day_table[0], day_table[1], owner_table)
            ptr = pcf_nb.basket_pointers(d_lo, d_hi, *seg[:4], self.n_owner, *self._state())
        src, start, end, bday, _ = ptr
        a, p, e = self.acc, self.panel, self.etf
        pcf_nb.accumulate(
            d_lo, d_hi, src, start, end, bday, self.owner_of_etf, self.alt_owner_of_etf,
            code, val, code_lookup, self.carry_code, self.carry_val, self.carry_lookup,
            e.present, e.shares, e.nav, e.dshares, e.unit, e.etf_index, p.close,
            self.weights_mode, self.value_basket, p.gbit, p.n_bits,
            a.mv, a.share, a.inflow, a.fund, a.netf, a.nidx, a.g_netf, a.g_nidx, a.g_fund,
            a.counters,
        )  # fmt: skip
        self.carry_code, self.carry_val = pcf_nb.copy_carry(
            self.state_src, self.state_start, self.state_end, code, val, code_lookup,
            self.carry_code, self.carry_val,
        )  # fmt: skip
        return int(seg[4])


def _chunks(n_days: int, chunk_days: int) -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` day ranges of ``chunk_days`` days."""
    return [(lo, min(lo + chunk_days, n_days) - 1) for lo in range(0, n_days, chunk_days)]


class ChunkBuffers:
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
    """Read ``etf_pcf`` a chunk of days at a time and scatter-add each chunk; returns the
    counts for the diagnostics."""
    panel, etf = sc.panel, sc.etf
    lf = ds.frame("etf_pcf").select("date", "etf_code", "code", "quantity")
    dates = panel.calendar.dates
    chunks = _chunks(len(dates), chunk_days)
    buf = ChunkBuffers()
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
        val = fill_numpy(null_as_nan(df["quantity"]), buf.val)
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


def penetrate_pcf(
    ds: Dataset,
    panel: StockPanel,
    etf: EtfPanel,
    *,
    valuation: Valuation,
    chunk_days: int,
    progress: Progress | None,
) -> tuple[Flows, dict]:
    """PCF look-through: the scatter-add into dense panels, then the panels to output rows
    and 整体法 group sums (:func:`~etfflow.engine.lookthrough.pcf_nb.panels_to_rows`)."""
    t, n = panel.shape
    n_etf = len(etf.codes)
    by_day = EtfPanel(
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
    fl = Flows.allocate(len(panel.row_stock), t, panel.n_bits, distinct=False)
    fl.g_netf, fl.g_nidx, fl.g_fund, fl.counters = acc.g_netf, acc.g_nidx, acc.g_fund, acc.counters
    pcf_nb.panels_to_rows(
        panel.row_start, panel.row_stock, panel.row_fmc, panel.gbit,
        acc.mv, acc.share, acc.inflow, acc.fund, acc.netf, acc.nidx,
        fl.netf, fl.nidx, fl.fund, fl.share, fl.mv, fl.w, fl.inflow,
        fl.g_nst, fl.g_held, fl.g_f, fl.g_mv, fl.g_sh, fl.g_in,
    )  # fmt: skip
    return fl, info

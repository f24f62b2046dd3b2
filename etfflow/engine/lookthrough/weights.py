"""Weights mode: snapshots from ``holding_weights`` in force as-of each day, as a sparse
product per block of days with constant snapshots
(:func:`etfflow.engine.lookthrough.weights_nb.weights_flows`).

Kernel inputs that come from Polars are passed read-only (:func:`~etfflow.engine.panel.frozen`)
so that each kernel compiles once whether Polars handed out a zero-copy view or a copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from etfflow._common import Progress
from etfflow.engine.lookthrough import common_nb, weights_nb
from etfflow.engine.lookthrough.common import EtfPanel, Flows, floats
from etfflow.engine.panel import StockPanel, epoch_days, frozen, raw_codes

#: Longest block of days of the weights-mode product (bounds its per-stock vectors).
WEIGHTS_BLOCK_DAYS = 32


@dataclass
class WeightColumns:
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


def weight_columns(
    hw: pl.DataFrame, stock_codes: list[str], etf_codes: list[str], index_codes: list[str]
) -> WeightColumns:
    """``holding_weights`` as arrays (read-only), codes mapped to pool / stock positions."""
    none = (np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int32), None)
    etf_col = hw["etf_code"] if "etf_code" in hw.columns else None
    has_etf = etf_col is not None and etf_col.null_count() < hw.height
    # index codes matter only for rows without an ETF code
    has_idx = "index_code" in hw.columns and (etf_col is None or etf_col.null_count() > 0)
    e_phys, e_lookup, keep_e = (
        raw_codes(etf_col, etf_codes) if has_etf and etf_col is not None else none
    )
    i_phys, i_lookup, keep_i = raw_codes(hw["index_code"], index_codes) if has_idx else none
    code, code_lookup, keep_c = raw_codes(hw["code"], stock_codes)
    return WeightColumns(
        n_rows=hw.height,
        epoch=frozen(epoch_days(hw["date"])),
        e_phys=frozen(e_phys),
        e_lookup=e_lookup,
        i_phys=frozen(i_phys),
        i_lookup=i_lookup,
        code=frozen(code),
        code_lookup=code_lookup,
        val=frozen(floats(hw["weight"])),
        keep=(keep_e, keep_i, keep_c),
    )


def _weight_segments(wc: WeightColumns, panel: StockPanel, etf: EtfPanel) -> tuple[np.ndarray, ...]:
    """Snapshot rows as baskets: ``(seg_day, seg_owner, seg_start, seg_end, code, val)``,
    rows of one (owner, first day in force) contiguous (sorted if needed)."""
    t = len(panel.calendar)
    n_etf = len(etf.codes)
    # a snapshot is in force from its date: the first trading day on or after it
    asof, e0 = panel.calendar.asof_table()
    keys = (wc.e_phys, wc.e_lookup, wc.i_phys, wc.i_lookup, n_etf, asof, e0)
    code, val = wc.code, wc.val
    seg = weights_nb.weight_segments(wc.epoch, *keys)
    ok = (seg[1] >= 0) & (seg[0] < t)
    key = seg[1][ok].astype(np.int64) * (t + 1) + seg[0][ok]
    if len(np.unique(key)) < len(key):  # a basket split over several runs: sort the rows
        day, owner = weights_nb.weight_rows(wc.epoch, *keys)
        order = np.lexsort((owner, day))
        day, code, val = day[order], code[order], val[order]
        owner = owner[order].view(np.uint32)  # as the PCF path's owner ids (-1: past the table)
        ident_day = np.arange(t + 1, dtype=np.int32)
        ident_owner = np.arange(n_etf + len(etf.index_codes), dtype=np.int32)
        seg = common_nb.find_segments(day, owner, ident_day, 0, ident_owner)
    return (*seg[:4], code, val)


def _weight_blocks(
    seg_day: np.ndarray, seg_owner: np.ndarray, t: int, etf: EtfPanel
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


def run_weights(
    wc: WeightColumns, panel: StockPanel, etf: EtfPanel, progress: Progress | None
) -> tuple[Flows, dict]:
    """Weights look-through: snapshots as baskets, blocks of days with constant snapshots,
    then :func:`~etfflow.engine.lookthrough.weights_nb.weights_flows` straight to output rows."""
    if progress:
        progress("look-through", 0, 1)
    t, _n = panel.shape
    seg_day, seg_owner, seg_start, seg_end, code, val = _weight_segments(wc, panel, etf)
    lookup = wc.code_lookup
    lo, hi, blk_seg = _weight_blocks(seg_day, seg_owner, t, etf)
    seg_len = np.append(seg_end - seg_start, 0)
    max_nnz = int(seg_len[blk_seg].sum(axis=1).max()) if blk_seg.size else 0
    fl = Flows.allocate(len(panel.row_stock), t, panel.n_bits)
    gkey = panel.gbit.view(np.int64).reshape(panel.gbit.shape[:2])
    weights_nb.weights_flows(
        lo, hi, blk_seg, seg_day, seg_start, seg_end, frozen(code), lookup, frozen(val),
        etf.etf_index, etf.present, etf.shares, etf.nav, etf.dshares,
        panel.row_start, panel.row_stock, frozen(panel.row_fmc), panel.gbit, gkey, panel.n_bits,
        max(max_nnz, 1), WEIGHTS_BLOCK_DAYS,
        fl.netf, fl.nidx, fl.fund, fl.share, fl.mv, fl.w, fl.inflow,
        fl.g_nst, fl.g_held, fl.g_f, fl.g_mv, fl.g_sh, fl.g_in, fl.g_netf, fl.g_nidx,
        fl.g_fund, fl.counters,
    )  # fmt: skip
    if progress:
        progress("look-through", 1, 1)
    return fl, {"basket_rows": wc.n_rows, "rows_off_calendar": 0, "non_contiguous_chunks": 0}

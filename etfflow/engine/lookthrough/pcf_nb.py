"""numba kernels of the PCF look-through (docs/methodology.md#2-look-through).

The daily ETF baskets become dense (day × stock) panels by a scatter-add: every basket row adds
its ETF's holding to the stock's cell of that day (:func:`accumulate`). Baskets come in chunks
of days so that memory stays bounded; an ETF whose basket is missing on a day carries its
latest earlier basket (as-of, never back-filled), also across chunks (:func:`basket_pointers`,
:func:`copy_carry`). :func:`panels_to_rows` turns the panels into output rows and group sums.

Reference twin: :func:`etfflow.engine.lookthrough_ref.lookthrough_reference`.
"""

from __future__ import annotations

import numpy as np

from etfflow._jit import kernel
from etfflow.engine.lookthrough.common_nb import (
    C_CARRIED,
    C_EMPTY_BASKET,
    C_ETF_DAYS,
    C_NO_BASKET,
    C_UNKNOWN,
    C_UNPRICED,
)


@kernel
def basket_pointers(
    d_lo: int,
    d_hi: int,
    seg_day: np.ndarray,
    seg_owner: np.ndarray,
    seg_start: np.ndarray,
    seg_end: np.ndarray,
    n_owner: int,
    state_src: np.ndarray,
    state_start: np.ndarray,
    state_end: np.ndarray,
    state_day: np.ndarray,
):
    """For each day of ``[d_lo, d_hi]`` and owner, the basket in force (as-of).

    ``state_*`` (per owner) hold the latest basket seen before ``d_lo`` (source 0 = the carry
    buffer) and are updated in place to the latest basket at ``d_hi`` (source 1 = this chunk).
    Returns ``(src, start, end, bday, dup)`` where ``src`` is -1 when no basket is in force and
    ``dup`` counts (day, owner) pairs found in more than one run (a non-contiguous chunk).
    """
    nd = d_hi - d_lo + 1
    todays = np.full((nd, n_owner), -1, dtype=np.int64)
    dup = 0
    for k in range(seg_day.shape[0]):
        o = seg_owner[k]
        d = seg_day[k]
        if o < 0 or d < d_lo or d > d_hi:
            continue
        if todays[d - d_lo, o] >= 0:
            dup += 1
        todays[d - d_lo, o] = k
    src = np.full((nd, n_owner), -1, dtype=np.int8)
    start = np.zeros((nd, n_owner), dtype=np.int64)
    end = np.zeros((nd, n_owner), dtype=np.int64)
    bday = np.full((nd, n_owner), -1, dtype=np.int32)
    for dd in range(nd):
        for o in range(n_owner):
            k = todays[dd, o]
            if k >= 0:
                state_src[o] = 1
                state_start[o] = seg_start[k]
                state_end[o] = seg_end[k]
                state_day[o] = d_lo + dd
            if state_src[o] >= 0:
                src[dd, o] = state_src[o]
                start[dd, o] = state_start[o]
                end[dd, o] = state_end[o]
                bday[dd, o] = state_day[o]
    return src, start, end, bday, dup


@kernel
def accumulate(
    d_lo: int,
    d_hi: int,
    src: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    bday: np.ndarray,
    owner_of_etf: np.ndarray,
    alt_owner_of_etf: np.ndarray,
    chunk_code: np.ndarray,
    chunk_val: np.ndarray,
    chunk_lookup: np.ndarray,
    carry_code: np.ndarray,
    carry_val: np.ndarray,
    carry_lookup: np.ndarray,
    present: np.ndarray,
    shares: np.ndarray,
    nav: np.ndarray,
    dshares: np.ndarray,
    unit: np.ndarray,
    etf_index: np.ndarray,
    close: np.ndarray,
    weights_mode: bool,
    value_basket: bool,
    gbit: np.ndarray,
    n_bits: int,
    out_mv: np.ndarray,
    out_share: np.ndarray,
    out_inflow: np.ndarray,
    out_fund: np.ndarray,
    out_netf: np.ndarray,
    out_nidx: np.ndarray,
    g_netf: np.ndarray,
    g_nidx: np.ndarray,
    g_fund: np.ndarray,
    counters: np.ndarray,
):
    """Scatter-add the holdings of every pool ETF on days ``d_lo..d_hi``.

    Definition: docs/methodology.md#2-look-through.

    ETFs are numbered in pool order, sorted by tracked index, so that the ETFs of one index are
    consecutive and "distinct indices" is a change count. For ETF ``e`` on day ``d`` with
    shares ``S``, NAV ``N``, share change ``dS`` and basket rows ``(s, v)``:

    - PCF (``weights_mode`` False): ``x = v·close[d, s]``, ``V = Σ x``, ``w = x / V``;
      weights: ``w = v`` (the snapshot weight in force).
    - ``h = S·N·w`` and ``inflow = dS·N·w``; with ``value_basket`` (PCF only)
      ``h = S/U·x`` and ``inflow = dS/U·x``.
    - ``share_passive += S·w``, ``share_passive_fund += S``, ``n_etf += 1``; distinct
      indices per stock, and distinct ETFs / indices / fund shares per group of each grouping.

    Groups: ``gbit[d, s, k]`` is the global bit of stock ``s``'s group in grouping ``k`` (-1
    for none). Each ETF-day ORs the bits of the stocks it holds into a small mask, then counts
    itself once per set bit, so the distinct counts cost one pass per ETF-day, not per row.

    ``owner_of_etf[e]`` is the basket owner (an ETF, or an index in weights mode);
    ``alt_owner_of_etf[e]`` (or -1) is tried when the first has no basket in force (an ETF
    without its own snapshot falls back to its index's). Every write goes to row ``d`` of the
    outputs.
    """
    nd = d_hi - d_lo + 1
    n_etf = owner_of_etf.shape[0]
    n_stock = close.shape[1]
    n_k = gbit.shape[2]
    n_words = (n_bits + 63) // 64
    one = np.uint64(1)
    for dd in range(nd):
        d = d_lo + dd
        last_idx = np.full(n_stock, -1, dtype=np.int32)
        g_last_idx = np.full(n_bits, -1, dtype=np.int32)
        mask = np.zeros(n_words, dtype=np.uint64)
        for e in range(n_etf):
            if not present[d, e]:
                continue
            counters[d, C_ETF_DAYS] += 1
            o = owner_of_etf[e]
            if src[dd, o] < 0 and alt_owner_of_etf[e] >= 0:
                o = alt_owner_of_etf[e]
            sr = src[dd, o]
            if sr < 0:
                counters[d, C_NO_BASKET] += 1
                continue
            if bday[dd, o] != d:
                counters[d, C_CARRIED] += 1
            if sr == 0:
                codes = carry_code
                vals = carry_val
                lk = carry_lookup
            else:
                codes = chunk_code
                vals = chunk_val
                lk = chunk_lookup
            n_lk = lk.shape[0]
            a = start[dd, o]
            b = end[dd, o]
            big_v = 1.0
            if not weights_mode:
                big_v = 0.0
                for r in range(a, b):
                    p = codes[r]
                    s = lk[p] if p < n_lk else -1
                    if s < 0 or vals[r] <= 0.0:
                        continue
                    c = close[d, s]
                    if np.isfinite(c):
                        big_v += vals[r] * c
                if not big_v > 0.0:
                    counters[d, C_EMPTY_BASKET] += 1
                    continue
            s_e = shares[d, e]
            n_e = nav[d, e]
            ds_e = dshares[d, e]
            idx_e = etf_index[e]
            if value_basket:
                k_mv = s_e / unit[e]
                k_in = ds_e / unit[e]
            else:
                k_mv = s_e * n_e / big_v
                k_in = ds_e * n_e / big_v
            k_sh = s_e / big_v
            for r in range(a, b):
                p = codes[r]
                s = lk[p] if p < n_lk else -1
                if s < 0:
                    counters[d, C_UNKNOWN] += 1
                    continue
                v = vals[r]
                if v <= 0.0:
                    continue
                if weights_mode:
                    x = v
                else:
                    c = close[d, s]
                    if not np.isfinite(c):
                        counters[d, C_UNPRICED] += 1
                        continue
                    x = v * c
                out_mv[d, s] += k_mv * x
                out_share[d, s] += k_sh * x
                out_inflow[d, s] += k_in * x
                out_fund[d, s] += s_e
                out_netf[d, s] += 1
                if last_idx[s] != idx_e:
                    out_nidx[d, s] += 1
                    last_idx[s] = idx_e
                for k in range(n_k):
                    b = gbit[d, s, k]
                    if b >= 0:
                        ub = np.uint64(b)
                        mask[ub >> np.uint64(6)] |= one << (ub & np.uint64(63))
            for w in range(n_words):
                x = mask[w]
                mask[w] = np.uint64(0)
                b = w * 64
                while x != np.uint64(0):
                    if x & one:
                        g_netf[d, b] += 1
                        g_fund[d, b] += s_e
                        if g_last_idx[b] != idx_e:
                            g_nidx[d, b] += 1
                            g_last_idx[b] = idx_e
                    x = x >> one
                    b += 1


@kernel
def copy_carry(
    state_src: np.ndarray,
    state_start: np.ndarray,
    state_end: np.ndarray,
    chunk_code: np.ndarray,
    chunk_val: np.ndarray,
    chunk_lookup: np.ndarray,
    carry_code: np.ndarray,
    carry_val: np.ndarray,
):
    """Move every owner's basket in force into a new, compact carry buffer.

    After a chunk, baskets pointing into the chunk (source 1) are copied out so the chunk can
    be freed; the state then points into the new carry buffer (source 0). Carry rows hold
    stock indices (chunk rows are mapped through ``chunk_lookup``; unknown codes become a
    value past the end of the identity lookup, so they stay unknown).
    """
    n_owner = state_src.shape[0]
    n_lk = chunk_lookup.shape[0]
    unknown = np.uint32(0xFFFFFFFF)
    total = 0
    for o in range(n_owner):
        if state_src[o] >= 0:
            total += state_end[o] - state_start[o]
    new_code = np.empty(total, dtype=np.uint32)
    new_val = np.empty(total, dtype=np.float64)
    pos = 0
    for o in range(n_owner):
        if state_src[o] < 0:
            continue
        a = state_start[o]
        b = state_end[o]
        for r in range(a, b):
            if state_src[o] == 0:
                new_code[pos + r - a] = carry_code[r]
                new_val[pos + r - a] = carry_val[r]
            else:
                p = chunk_code[r]
                s = chunk_lookup[p] if p < n_lk else -1
                new_code[pos + r - a] = np.uint32(s) if s >= 0 else unknown
                new_val[pos + r - a] = chunk_val[r]
        state_src[o] = 0
        state_start[o] = pos
        state_end[o] = pos + (b - a)
        pos += b - a
    return new_code, new_val


@kernel
def panels_to_rows(
    row_start: np.ndarray,
    row_stock: np.ndarray,
    row_fmc: np.ndarray,
    gbit: np.ndarray,
    mv: np.ndarray,
    share: np.ndarray,
    inflow: np.ndarray,
    fund: np.ndarray,
    netf: np.ndarray,
    nidx: np.ndarray,
    o_netf: np.ndarray,
    o_nidx: np.ndarray,
    o_fund: np.ndarray,
    o_share: np.ndarray,
    o_mv: np.ndarray,
    o_w: np.ndarray,
    o_inflow: np.ndarray,
    g_nst: np.ndarray,
    g_held: np.ndarray,
    g_f: np.ndarray,
    g_mv: np.ndarray,
    g_sh: np.ndarray,
    g_in: np.ndarray,
):
    """Dense (day × stock) look-through panels to output rows, with the 整体法 group sums.

    Row ``r`` of day ``d`` (``row_start[d] <= r < row_start[d+1]``) is stock ``row_stock[r]``;
    ``w = mv / float_mcap`` (NaN unless the cap is positive), ``inflow`` NaN on day 0. Group
    sums per (day, bit) run over the listed stocks in stock order, like the weights kernel.
    """
    n_day = row_start.shape[0] - 1
    for d in range(n_day):
        for r in range(row_start[d], row_start[d + 1]):
            s = row_stock[r]
            f = row_fmc[r]
            m = mv[d, s]
            n_e = netf[d, s]
            o_netf[r] = n_e
            o_nidx[r] = nidx[d, s]
            o_fund[r] = fund[d, s]
            o_share[r] = share[d, s]
            o_mv[r] = m
            o_w[r] = m / f if f > 0 else np.nan
            o_inflow[r] = inflow[d, s] if d > 0 else np.nan
            for kk in range(4):
                b = gbit[d, s, kk]
                if b < 0:
                    continue
                g_nst[d, b] += 1
                if n_e > 0:
                    g_held[d, b] += 1
                g_f[d, b] += f
                g_mv[d, b] += m
                g_sh[d, b] += share[d, s]
                g_in[d, b] += inflow[d, s]

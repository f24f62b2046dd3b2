"""numba kernels of the look-through (docs/methodology.md#2-look-through).

The fast path turns the daily ETF baskets into dense (day × stock) panels by a scatter-add:
every basket row adds its ETF's holding to the stock's cell of that day. Baskets come in
chunks (one Parquet file of ``etf_pcf`` at a time) so that memory stays bounded; an ETF whose
basket is missing on a day carries its latest earlier basket (as-of, never back-filled),
also across chunks.

Reference twin: :func:`etfflow.engine.lookthrough_ref.lookthrough_reference` (plain Python
loops over the same definitions), compared in ``tests/engine/test_lookthrough.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from numba import njit, prange, set_parallel_chunksize

# Counter columns returned by the accumulation kernel (per day).
C_ETF_DAYS = 0  # ETF-days of the pool with an etf_daily row
C_NO_BASKET = 1  # ... of which no basket at or before the day (ETF holds nothing)
C_CARRIED = 2  # ... of which used an earlier day's basket (as-of carry)
C_UNPRICED = 3  # basket rows of a stock with no stock_daily row (PCF: not priceable)
C_UNKNOWN = 4  # basket rows naming a code not in the stocks table
C_EMPTY_BASKET = 5  # ETF-days whose basket has no positive priceable value
N_COUNTERS = 6


@njit(cache=True, nogil=True)
def map_codes(phys: np.ndarray, lookup: np.ndarray) -> np.ndarray:
    """``lookup[phys[i]]`` with -1 for ids beyond the table (unknown codes)."""
    n = phys.shape[0]
    out = np.empty(n, dtype=np.int32)
    m = lookup.shape[0]
    for i in prange(n):
        p = phys[i]
        out[i] = lookup[p] if p < m else -1
    return out


@njit(cache=True, nogil=True)
def map_days(epoch_days: np.ndarray, day_lookup: np.ndarray, epoch0: int) -> np.ndarray:
    """Calendar index of each date (days since 1970), -1 when not a trading day."""
    n = epoch_days.shape[0]
    out = np.empty(n, dtype=np.int32)
    m = day_lookup.shape[0]
    for i in prange(n):
        k = epoch_days[i] - epoch0
        out[i] = day_lookup[k] if 0 <= k < m else -1
    return out


@njit(cache=True)
def _lookup(x, table: np.ndarray, offset: int) -> int:
    k = x - offset
    if k < 0 or k >= table.shape[0]:
        return -1
    return table[k]


@njit(cache=True)
def find_segments(
    day_raw: np.ndarray,
    owner_raw: np.ndarray,
    day_table: np.ndarray,
    day_offset: int,
    owner_table: np.ndarray,
):
    """Runs of equal (day, owner) in row order: the baskets of a chunk.

    Rows hold raw ids (days since 1970, physical category ids); they are mapped through
    ``day_table[x - day_offset]`` and ``owner_table[x]`` once per run, not once per row.
    Returns ``(seg_day, seg_owner, seg_start, seg_end, rows_off_calendar)``; rows
    ``seg_start[k]:seg_end[k]`` hold one basket; a run whose day is not on the calendar gets
    day -1 and its rows are counted.
    """
    n = day_raw.shape[0]
    count = 0
    for i in range(n):
        if i == 0 or day_raw[i] != day_raw[i - 1] or owner_raw[i] != owner_raw[i - 1]:
            count += 1
    seg_day = np.empty(count, dtype=np.int32)
    seg_owner = np.empty(count, dtype=np.int32)
    seg_start = np.empty(count, dtype=np.int64)
    seg_end = np.empty(count, dtype=np.int64)
    k = -1
    off = 0
    for i in range(n):
        if i == 0 or day_raw[i] != day_raw[i - 1] or owner_raw[i] != owner_raw[i - 1]:
            k += 1
            seg_day[k] = _lookup(day_raw[i], day_table, day_offset)
            seg_owner[k] = _lookup(owner_raw[i], owner_table, 0)
            seg_start[k] = i
        seg_end[k] = i + 1
        if seg_day[k] < 0:
            off += 1
    return seg_day, seg_owner, seg_start, seg_end, off


@njit(cache=True)
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


@njit(cache=True, nogil=True)
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
    without its own snapshot falls back to its index's). Days run in parallel: every write
    goes to row ``d`` of the outputs.
    """
    nd = d_hi - d_lo + 1
    n_etf = owner_of_etf.shape[0]
    n_stock = close.shape[1]
    n_k = gbit.shape[2]
    n_words = (n_bits + 63) // 64
    one = np.uint64(1)
    for dd in prange(nd):
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


@njit(cache=True)
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


# --------------------------------------------------------------------------- stock panel


@njit(cache=True, nogil=True)
def stock_rows(epoch: np.ndarray, phys: np.ndarray, lookup: np.ndarray, e_lo: int, e_hi: int):
    """Trading calendar and (day, stock) of every ``stock_daily`` row.

    ``epoch`` holds the row dates (days since 1970, all within ``[e_lo, e_hi]``), ``phys`` the
    physical code ids mapped to stock positions by ``lookup`` (-1 or beyond the table:
    unknown). Returns ``(cal_epoch, day, stock, n_unknown, n_unordered)`` where
    ``n_unordered`` counts rows whose ``(day, stock)`` does not strictly follow the previous
    row's (0: the rows are already in (date, code) order without duplicates).
    """
    n = epoch.shape[0]
    mark = np.zeros(e_hi - e_lo + 1, dtype=np.bool_)
    for r in range(n):
        mark[epoch[r] - e_lo] = True
    cal = (np.flatnonzero(mark) + e_lo).astype(np.int32)
    day_of = np.full(mark.shape[0], -1, dtype=np.int32)
    for i in range(cal.shape[0]):
        day_of[cal[i] - e_lo] = i
    day = np.empty(n, dtype=np.int32)
    stock = np.empty(n, dtype=np.int32)
    m = lookup.shape[0]
    n_unknown = 0
    for r in prange(n):
        day[r] = day_of[epoch[r] - e_lo]
        p = phys[r]
        s = lookup[p] if p < m else -1
        stock[r] = s
        if s < 0:
            n_unknown += 1
    n_unordered = 0
    for r in prange(1, n):
        if day[r] < day[r - 1] or (day[r] == day[r - 1] and stock[r] <= stock[r - 1]):
            n_unordered += 1
    return cal, day, stock, n_unknown, n_unordered


@njit(cache=True)
def _pair_less(v: np.ndarray, s: np.ndarray, i: int, j: int) -> bool:
    return v[i] < v[j] or (v[i] == v[j] and s[i] < s[j])


@njit(cache=True)
def _select_pair(v: np.ndarray, s: np.ndarray, n: int, k: int) -> int:
    """Position of the ``k``-th smallest of ``(v[:n], s[:n])`` in (value, stock) order,
    rearranging both in place (quickselect, median-of-three pivots)."""
    lo = 0
    hi = n - 1
    while hi > lo:
        mid = (lo + hi) >> 1
        if _pair_less(v, s, mid, lo):
            v[mid], v[lo] = v[lo], v[mid]
            s[mid], s[lo] = s[lo], s[mid]
        if _pair_less(v, s, hi, lo):
            v[hi], v[lo] = v[lo], v[hi]
            s[hi], s[lo] = s[lo], s[hi]
        if _pair_less(v, s, mid, hi):
            v[mid], v[hi] = v[hi], v[mid]
            s[mid], s[hi] = s[hi], s[mid]
        # pivot (the median of three) is now at hi; Lomuto partition
        store = lo
        for i in range(lo, hi):
            if _pair_less(v, s, i, hi):
                v[i], v[store] = v[store], v[i]
                s[i], s[store] = s[store], s[i]
                store += 1
        v[store], v[hi] = v[hi], v[store]
        s[store], s[hi] = s[hi], s[store]
        if store == k:
            return k
        if store < k:
            lo = store + 1
        else:
            hi = store - 1
    return k


@njit(cache=True)
def _cap_thresholds(
    r0: int,
    r1: int,
    row_fmc: np.ndarray,
    row_stock: np.ndarray,
    n_buckets: int,
    window: int,
    thr_v: np.ndarray,
    thr_s: np.ndarray,
    win_lo: np.ndarray,
    win_hi: np.ndarray,
    has_win: np.ndarray,
    cand_v: np.ndarray,
    cand_s: np.ndarray,
    sort_v: np.ndarray,
    sort_s: np.ndarray,
) -> int:
    """Float-cap bucket thresholds of one day: for ``b = 1..n_buckets-1`` the (value, stock)
    of stable rank ``ceil(b·n / n_buckets)`` among the ``n`` finite caps of rows ``r0:r1``.

    A threshold is looked for among the caps inside its window ``[win_lo, win_hi)`` kept
    from an earlier day (one counting pass, then a selection among the few candidates); when the
    rank falls outside the window (or there is none yet) the day's caps are sorted and the
    windows reset to ``window`` ranks on either side. Returns the number of thresholds.
    """
    m = 0
    for r in range(r0, r1):
        if np.isfinite(row_fmc[r]):
            m += 1
    n_thr = 0
    for b in range(1, n_buckets):
        if (b * m + n_buckets - 1) // n_buckets < m:
            n_thr += 1
    if n_thr == 0:
        return 0
    full = False
    for b in range(n_thr):
        if not has_win[b]:
            full = True
    cap = cand_v.shape[1]
    if not full:
        below = np.zeros(n_thr, dtype=np.int64)
        n_cand = np.zeros(n_thr, dtype=np.int64)
        for r in range(r0, r1):
            v = row_fmc[r]
            if not np.isfinite(v):
                continue
            for b in range(n_thr):
                lo = win_lo[b]
                below[b] += np.int64(v < lo)  # no branch: v < lo is a coin flip
                if v >= lo and v < win_hi[b]:  # rare
                    k = n_cand[b]
                    if k < cap:
                        cand_v[b, k] = v
                        cand_s[b, k] = row_stock[r]
                    n_cand[b] = k + 1
        for b in range(n_thr):
            t = ((b + 1) * m + n_buckets - 1) // n_buckets
            k = t - below[b]
            if k < 0 or k >= n_cand[b] or n_cand[b] > cap:
                full = True
                break
            _select_pair(cand_v[b], cand_s[b], n_cand[b], k)
            thr_v[b] = cand_v[b, k]
            thr_s[b] = cand_s[b, k]
    if full:
        n = 0
        for r in range(r0, r1):
            v = row_fmc[r]
            if np.isfinite(v):
                sort_v[n] = v
                sort_s[n] = row_stock[r]
                n += 1
        order = np.argsort(sort_v[:n], kind="mergesort")
        for b in range(n_thr):
            t = ((b + 1) * m + n_buckets - 1) // n_buckets
            thr_v[b] = sort_v[order[t]]
            thr_s[b] = sort_s[order[t]]
            win_lo[b] = sort_v[order[max(t - window, 0)]]
            win_hi[b] = sort_v[order[t + window]] if t + window < n else np.inf
            has_win[b] = True
    return n_thr


@njit(cache=True, nogil=True)
def group_bits(
    row_start: np.ndarray,
    row_stock: np.ndarray,
    row_fmc: np.ndarray,
    n_stock: int,
    ind_ptr: np.ndarray,
    ind_from: np.ndarray,
    ind_to: np.ndarray,
    ind_v1: np.ndarray,
    ind_v2: np.ndarray,
    board: np.ndarray,
    offsets: np.ndarray,
    n_buckets: int,
    window: int = 128,
    n_chunks: int = 16,
):
    """Dense ``gbit[d, s, k]`` of the four groupings (industry l1, l2, board, float-cap bucket).

    Rows ``row_start[d]:row_start[d+1]`` are the listed stocks of day ``d`` in stock order.
    Industry: the last interval (in input order) of the stock with ``ind_from <= d < ind_to``
    (intervals of stock ``s`` are ``ind_ptr[s]:ind_ptr[s+1]``). Cap bucket: ``(r * n_buckets)
    // n`` where ``r`` is the stable rank of the stock's float cap among the ``n`` listed
    stocks with a finite cap (ties by stock order), from ``n_buckets - 1`` thresholds per day
    (:func:`_cap_thresholds`: caps move little from one day to the next, so a threshold is
    found among the few caps near the previous day's). Ids become global bits ``offsets[k] +
    id``; -1 = none (not listed, no industry, unknown board, no finite cap). Days run in
    ``n_chunks`` parallel runs. Returns ``(gbit, n_no_industry)``.
    """
    n_day = row_start.shape[0] - 1
    gbit = np.empty((n_day, n_stock, 4), dtype=np.int16)
    no_ind = np.zeros(n_day, dtype=np.int64)
    n_chunks = max(min(n_chunks, n_day), 1)
    max_rows = 0
    for d in range(n_day):
        max_rows = max(max_rows, row_start[d + 1] - row_start[d])
    for c in prange(n_chunks):
        d_lo = c * n_day // n_chunks
        d_hi = (c + 1) * n_day // n_chunks
        nb1 = max(n_buckets - 1, 1)
        thr_v = np.empty(nb1)
        thr_s = np.empty(nb1, dtype=np.int64)
        win_lo = np.empty(nb1)
        win_hi = np.empty(nb1)
        has_win = np.zeros(nb1, dtype=np.bool_)
        cand_v = np.empty((nb1, 4 * window + 8))
        cand_s = np.empty((nb1, 4 * window + 8), dtype=np.int64)
        sort_v = np.empty(max_rows)
        sort_s = np.empty(max_rows, dtype=np.int64)
        for d in range(d_lo, d_hi):
            gbit[d] = -1
            r0 = row_start[d]
            r1 = row_start[d + 1]
            n_thr = _cap_thresholds(
                r0, r1, row_fmc, row_stock, n_buckets, window, thr_v, thr_s,
                win_lo, win_hi, has_win, cand_v, cand_s, sort_v, sort_s,
            )  # fmt: skip
            for r in range(r0, r1):
                s = row_stock[r]
                g1 = -1
                g2 = -1
                for q in range(ind_ptr[s], ind_ptr[s + 1]):
                    if ind_from[q] <= d and d < ind_to[q]:
                        g1 = ind_v1[q]
                        g2 = ind_v2[q]
                if g1 >= 0:
                    gbit[d, s, 0] = g1 + offsets[0]
                    gbit[d, s, 1] = g2 + offsets[1]
                else:
                    no_ind[d] += 1
                if board[s] >= 0:
                    gbit[d, s, 2] = board[s] + offsets[2]
                v = row_fmc[r]
                if np.isfinite(v):
                    bucket = 0
                    for b in range(n_thr):
                        t = thr_v[b]
                        bucket += np.int64(v > t) + np.int64(v == t) * np.int64(s >= thr_s[b])
                    gbit[d, s, 3] = bucket + offsets[3]
    return gbit, no_ind.sum()


@njit(cache=True, nogil=True)
def rows_to_dense(
    row_start: np.ndarray, row_stock: np.ndarray, values: np.ndarray, n_stock: int, fill: float
) -> np.ndarray:
    """``out[d, row_stock[r]] = values[r]`` for the rows of day ``d``; ``fill`` elsewhere."""
    n_day = row_start.shape[0] - 1
    out = np.empty((n_day, n_stock), dtype=values.dtype)
    for d in prange(n_day):
        out[d] = fill
        for r in range(row_start[d], row_start[d + 1]):
            out[d, row_stock[r]] = values[r]
    return out


# --------------------------------------------------------------------------- ETF panel


@njit(cache=True)
def etf_panel(
    day: np.ndarray, etf: np.ndarray, shares: np.ndarray, nav: np.ndarray, n_day: int, n_etf: int
):
    """Dense ``(etf, day)`` panels of the ``etf_daily`` rows of pool ETFs (``etf`` -1: skip).

    Returns ``(present, shares, nav, dshares)``; absent cells are False / 0. ``dshares`` is
    ``S[t]`` minus the ETF's last finite shares on an earlier row (0 before its first row),
    on present cells only. A repeated (day, etf) keeps its last row.
    """
    present = np.zeros((n_etf, n_day), dtype=np.bool_)
    sh = np.zeros((n_etf, n_day))
    nv = np.zeros((n_etf, n_day))
    for r in range(day.shape[0]):
        e = etf[r]
        if e < 0:
            continue
        d = day[r]
        present[e, d] = True
        sh[e, d] = shares[r]
        nv[e, d] = nav[r]
    ds = np.zeros((n_etf, n_day))
    for e in range(n_etf):
        prev = 0.0
        for d in range(n_day):
            if present[e, d]:
                x = sh[e, d]
                ds[e, d] = x - prev
                if np.isfinite(x):
                    prev = x
    return present, sh, nv, ds


# --------------------------------------------------------------------------- weights mode


@njit(cache=True, nogil=True)
def weight_rows(
    epoch: np.ndarray,
    etf_phys: np.ndarray,
    etf_lookup: np.ndarray,
    idx_phys: np.ndarray,
    idx_lookup: np.ndarray,
    n_etf: int,
    asof: np.ndarray,
    e0: int,
):
    """As-of day and owner of every ``holding_weights`` row.

    ``asof[x - e0]`` is the first trading day on or after day ``x`` (days before ``e0`` map to
    day 0, days after the table's end to ``asof[-1]``). The owner is the pool position of the
    row's ETF, or ``n_etf +`` the position of its index when the ETF code is null (physical id
    ``0xFFFFFFFF``); -1 when neither is in the pool. A zero-length ``etf_phys`` (or
    ``idx_phys``) means the column is absent (all null).
    """
    n = epoch.shape[0]
    day = np.empty(n, dtype=np.int32)
    owner = np.empty(n, dtype=np.int32)
    n_t = asof.shape[0]
    for r in prange(n):
        k = min(max(epoch[r] - e0, 0), n_t - 1)
        day[r] = asof[k]
        o = _owner_of(r, etf_phys, etf_lookup, idx_phys, idx_lookup, n_etf)
        owner[r] = o
    return day, owner


@njit(cache=True)
def _owner_of(r, etf_phys, etf_lookup, idx_phys, idx_lookup, n_etf):
    null = np.uint32(0xFFFFFFFF)
    p = etf_phys[r] if etf_phys.shape[0] > 0 else null
    if p != null:
        return etf_lookup[p] if p < etf_lookup.shape[0] else -1
    if idx_phys.shape[0] == 0:
        return -1
    q = idx_phys[r]
    i = idx_lookup[q] if q < idx_lookup.shape[0] else -1
    return n_etf + i if i >= 0 else -1


@njit(cache=True)
def weight_segments(
    epoch: np.ndarray,
    etf_phys: np.ndarray,
    etf_lookup: np.ndarray,
    idx_phys: np.ndarray,
    idx_lookup: np.ndarray,
    n_etf: int,
    asof: np.ndarray,
    e0: int,
):
    """Baskets of the ``holding_weights`` rows: runs of equal (as-of day, owner) in row order.

    The as-of day and owner are those of :func:`weight_rows`, computed once per run of equal
    raw keys (date, ETF id, index id). Returns ``(seg_day, seg_owner, seg_start, seg_end)``.
    """
    n = epoch.shape[0]
    n_t = asof.shape[0]
    has_e = etf_phys.shape[0] > 0
    has_i = idx_phys.shape[0] > 0
    # pass 1 counts the runs of equal raw keys (an upper bound of the baskets)
    n_runs = 0
    for r in range(n):
        if (
            r == 0
            or epoch[r] != epoch[r - 1]
            or (has_e and etf_phys[r] != etf_phys[r - 1])
            or (has_i and idx_phys[r] != idx_phys[r - 1])
        ):
            n_runs += 1
    seg_day = np.empty(n_runs, dtype=np.int32)
    seg_owner = np.empty(n_runs, dtype=np.int32)
    seg_start = np.empty(n_runs, dtype=np.int64)
    seg_end = np.empty(n_runs, dtype=np.int64)
    k = -1
    day = -1
    owner = -1
    for r in range(n):
        if (
            r == 0
            or epoch[r] != epoch[r - 1]
            or (has_e and etf_phys[r] != etf_phys[r - 1])
            or (has_i and idx_phys[r] != idx_phys[r - 1])
        ):
            x = min(max(epoch[r] - e0, 0), n_t - 1)
            d = asof[x]
            o = _owner_of(r, etf_phys, etf_lookup, idx_phys, idx_lookup, n_etf)
            if k < 0 or d != day or o != owner:
                if k >= 0:
                    seg_end[k] = r
                k += 1
                seg_day[k] = d
                seg_owner[k] = o
                seg_start[k] = r
                day = d
                owner = o
    if k >= 0:
        seg_end[k] = n
    m = k + 1
    return seg_day[:m].copy(), seg_owner[:m].copy(), seg_start[:m].copy(), seg_end[:m].copy()


@contextmanager
def dynamic_schedule(chunk: int = 1) -> Iterator[None]:
    """Hand ``prange`` iterations launched from this thread to the workers ``chunk`` at a time
    (numba's ``set_parallel_chunksize``; the default splits the range evenly up front, which
    leaves a thread idle when its share is slower)."""
    old = set_parallel_chunksize(chunk)
    try:
        yield
    finally:
        set_parallel_chunksize(old)


@njit(cache=True)
def warm_up() -> int:
    """Does nothing: the first call of any kernel sets numba up (≈0.3 s), so callers make this
    call while something else (reading Parquet) runs."""
    return 0


@njit(cache=True, nogil=True)
def weights_flows(
    chunk_ptr: np.ndarray,
    blk_lo: np.ndarray,
    blk_hi: np.ndarray,
    blk_seg: np.ndarray,
    seg_day: np.ndarray,
    seg_start: np.ndarray,
    seg_end: np.ndarray,
    row_code: np.ndarray,
    code_lookup: np.ndarray,
    row_val: np.ndarray,
    etf_index: np.ndarray,
    present: np.ndarray,
    shares: np.ndarray,
    nav: np.ndarray,
    dshares: np.ndarray,
    row_start: np.ndarray,
    row_stock: np.ndarray,
    row_fmc: np.ndarray,
    gbit: np.ndarray,
    gkey: np.ndarray,
    n_bits: int,
    max_nnz: int,
    max_len: int,
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
    g_netf: np.ndarray,
    g_nidx: np.ndarray,
    g_fund: np.ndarray,
    counters: np.ndarray,
):
    """Weights-mode look-through as a sparse product per period, straight to rows.

    Definition: docs/methodology.md#2-look-through.

    Days are cut into blocks ``blk_lo[k]:blk_hi[k]`` inside which every ETF's snapshot in force
    is constant (``blk_seg[k, e]``: basket rows ``seg_start:seg_end``, -1 none), so that for
    stock ``s`` and the block's days ``t`` (vectors over ``t``, ETFs ``e`` holding ``s`` with
    weight ``w > 0``)::

        mv_passive[t, s]    = Σ_e (S·N)[e, t] · w        share_passive = Σ_e S[e, t] · w
        inflow[t, s]        = Σ_e (dS·N)[e, t] · w       share_passive_fund = Σ_e S[e, t]
        n_etf[t, s]         = Σ_e present[e, t]          n_index = Σ_i [Σ_{e∈i} present > 0]

    (``S``, ``S·N``, ``dS·N`` are 0 on absent days; ETFs are numbered by tracked index so the
    ETFs of index ``i`` are consecutive). Each block copies its ETFs' day vectors into one
    compact buffer, builds the by-stock (CSC) lists of its baskets and sums each stock's
    holders with one SIMD loop over ``[S·N·w | S·w | dS·N·w | S]`` (an ETF present on every day
    of the block adds a constant 1 to ``n_etf``, the others a presence vector); a day-by-day
    pass then writes each listed stock (rows ``row_start[d]:row_start[d+1]``, stock order) to
    its output row and adds it to the 整体法 group sums of the day.

    Group distinct counts (ETFs / indices / fund shares per group bit): ``cnt[e, b]`` counts the
    stocks of ETF ``e`` in group bit ``b`` on the block's first day; ETF ``e`` touches ``b``
    while ``cnt > 0``. Day by day, stocks whose bits change (``gkey``: the four int16 bits read
    as one int64) update ``cnt`` of their holders; an (ETF, bit) pair whose count crosses zero
    gets a day-by-day touch state. Per index, ``Σ_e present`` over touching ETFs gives
    ``n_etf`` and (> 0) one index for ``n_index``.

    ``chunk_ptr`` splits the blocks into runs, one per parallel task (hand them out one at a
    time: :func:`dynamic_schedule`). Summation runs over ETFs in pool order as in
    :func:`accumulate`, so results agree to the last bit.
    Reference twin: :func:`etfflow.engine.lookthrough_ref.lookthrough_reference`.
    """
    n_etf = present.shape[0]
    n_stock = gbit.shape[1]
    n_lk = code_lookup.shape[0]
    max_lp = (max_len + 7) // 8 * 8
    for c in prange(chunk_ptr.shape[0] - 1):
        # scratch of this task
        be = np.empty(n_etf, dtype=np.int64)
        colptr = np.zeros(n_stock + 1, dtype=np.int64)
        cursor = np.empty(n_stock, dtype=np.int64)
        ent_x = np.empty(max_nnz, dtype=np.int32)
        ent_w = np.empty(max_nnz)
        cnt = np.zeros((n_etf, n_bits), dtype=np.int32)
        touch0 = np.empty((n_etf, n_bits), dtype=np.bool_)
        indiff = np.zeros((n_etf, n_bits), dtype=np.bool_)
        # every (ETF, bit) pair can change at most once per block: n_etf * n_bits bounds them
        # (dstate pages are only touched for the pairs that do change)
        diff_x = np.empty(n_etf * n_bits, dtype=np.int32)
        diff_b = np.empty(n_etf * n_bits, dtype=np.int32)
        dstate = np.empty((n_etf * n_bits, max_len), dtype=np.bool_)
        dptr = np.zeros(n_etf + 1, dtype=np.int64)
        dfill = np.zeros(n_etf, dtype=np.int64)
        dord = np.empty(n_etf * n_bits, dtype=np.int64)
        tmp = np.zeros((n_bits, max_len), dtype=np.int64)
        gf = np.zeros((n_bits, max_len))
        tmark = np.zeros(n_bits, dtype=np.bool_)
        tlist = np.empty(n_bits, dtype=np.int64)
        xbuf = np.empty(n_etf * 5 * max_lp)
        acc = np.empty(4 * max_lp)
        cnt_part = np.empty(max_lp)
        nidx_part = np.empty(max_lp)
        grp = np.empty(max_lp)
        full = np.empty(n_etf, dtype=np.bool_)
        stage = np.empty((n_stock, 6 * max_lp))
        for k in range(chunk_ptr[c], chunk_ptr[c + 1]):
            a = blk_lo[k]
            n_len = blk_hi[k] - a
            # ---- ETFs of the block and ETF-day counters
            nb_e = 0
            for e in range(n_etf):
                sg = blk_seg[k, e]
                anyp = False
                for j in range(n_len):
                    if present[e, a + j]:
                        counters[a + j, C_ETF_DAYS] += 1
                        if sg < 0:
                            counters[a + j, C_NO_BASKET] += 1
                        else:
                            anyp = True
                            if seg_day[sg] != a + j:
                                counters[a + j, C_CARRIED] += 1
                if anyp:
                    be[nb_e] = e
                    nb_e += 1
            # ---- by-stock lists of the block's baskets (ETF order kept inside a stock)
            colptr[:] = 0
            all_finite = True
            for x in range(nb_e):
                e = be[x]
                sg = blk_seg[k, e]
                unknown = 0
                for r in range(seg_start[sg], seg_end[sg]):
                    p = row_code[r]
                    s = code_lookup[p] if p < n_lk else -1
                    if s < 0:
                        unknown += 1
                        continue
                    v = row_val[r]
                    if v <= 0.0:
                        continue
                    if not np.isfinite(v):
                        all_finite = False
                    colptr[s + 1] += 1
                if unknown > 0:
                    for j in range(n_len):
                        if present[e, a + j]:
                            counters[a + j, C_UNKNOWN] += unknown
            for s in range(n_stock):
                colptr[s + 1] += colptr[s]
                cursor[s] = colptr[s]
            for x in range(nb_e):
                sg = blk_seg[k, be[x]]
                for r in range(seg_start[sg], seg_end[sg]):
                    p = row_code[r]
                    s = code_lookup[p] if p < n_lk else -1
                    if s < 0 or row_val[r] <= 0.0:
                        continue
                    q = cursor[s]
                    ent_x[q] = x
                    ent_w[q] = row_val[r]
                    cursor[s] = q + 1
            # ---- the block's ETF vectors, compact: row x = [S·N | S | dS·N | S | present],
            # each part padded to lp days (a multiple of 8: whole SIMD vectors)
            lp = (n_len + 7) // 8 * 8
            n2, n3, n4, n5 = 2 * lp, 3 * lp, 4 * lp, 5 * lp
            xv = xbuf[: nb_e * n5].reshape((nb_e, n5))
            for x in range(nb_e):
                e = be[x]
                row = xv[x]
                v_nv = nav[e]
                v_sh = shares[e]
                v_ds = dshares[e]
                v_p = present[e]
                n_p = 0
                for j in range(n_len):
                    n_p += v_p[a + j]
                full[x] = n_p == n_len
                for j in range(lp):
                    if j < n_len:
                        row[j] = v_sh[a + j] * v_nv[a + j]
                        row[lp + j] = v_sh[a + j]
                        row[n2 + j] = v_ds[a + j] * v_nv[a + j]
                        row[n3 + j] = v_sh[a + j]
                        row[n4 + j] = 1.0 if v_p[a + j] else 0.0
                    else:
                        row[j] = 0.0
                        row[lp + j] = 0.0
                        row[n2 + j] = 0.0
                        row[n3 + j] = 0.0
                        row[n4 + j] = 0.0
            # ---- stock by stock: sums over holders as vectors over the block's days, one
            # loop over [S·N·w | S·w | dS·N·w | S]; the ETF count is a constant for ETFs
            # present on every day of the block (nearly all), a vector for the others.
            # stage[s] = [mv | share | inflow | fund | n_etf | n_index]
            for s in range(n_stock):
                q0 = colptr[s]
                q1 = colptr[s + 1]
                if q0 == q1:
                    continue
                for j in range(n4):
                    acc[j] = 0.0
                n_full = 0
                n_idx_full = 0
                for j in range(lp):
                    cnt_part[j] = 0.0
                    nidx_part[j] = 0.0
                    grp[j] = 0.0
                pi = etf_index[be[ent_x[q0]]]
                grp_full = False
                for q in range(q0, q1):
                    x = ent_x[q]
                    w = ent_w[q]
                    i = etf_index[be[x]]
                    if i != pi:  # one index's ETFs done: count it where one of them is present
                        if grp_full:
                            n_idx_full += 1
                        for j in range(lp):
                            if grp[j] > 0.0 and not grp_full:
                                nidx_part[j] += 1.0
                            grp[j] = 0.0
                        grp_full = False
                        pi = i
                    row = xv[x]
                    if all_finite:
                        for j in range(n4):
                            acc[j] += row[j] * (w if j < n3 else 1.0)
                    else:  # NaN / inf weights: absent days must not see 0·w
                        for j in range(n_len):
                            if row[n4 + j] > 0.0:
                                acc[j] += row[j] * w
                                acc[lp + j] += row[lp + j] * w
                                acc[n2 + j] += row[n2 + j] * w
                                acc[n3 + j] += row[n3 + j]
                    if full[x]:
                        n_full += 1
                        grp_full = True
                    else:
                        for j in range(lp):
                            cnt_part[j] += row[n4 + j]
                            grp[j] += row[n4 + j]
                if grp_full:
                    n_idx_full += 1
                else:
                    for j in range(lp):
                        if grp[j] > 0.0:
                            nidx_part[j] += 1.0
                st = stage[s]
                for j in range(n4):
                    st[j] = acc[j]
                for j in range(lp):
                    st[n4 + j] = n_full + cnt_part[j]
                    st[n5 + j] = n_idx_full + nidx_part[j]
            # ---- day by day: output rows and 整体法 group sums
            for j in range(n_len):
                d = a + j
                gb = gbit[d]
                gn = g_nst[d]
                gh = g_held[d]
                gfs = g_f[d]
                gm = g_mv[d]
                gsh = g_sh[d]
                gi = g_in[d]
                for r in range(row_start[d], row_start[d + 1]):
                    s = row_stock[r]
                    f = row_fmc[r]
                    if colptr[s] == colptr[s + 1]:
                        mv = 0.0
                        sh = 0.0
                        inf = 0.0
                        fund = 0.0
                        ne = 0.0
                        ni = 0.0
                    else:
                        st = stage[s]
                        mv = st[j]
                        sh = st[lp + j]
                        inf = st[n2 + j]
                        fund = st[n3 + j]
                        ne = st[n4 + j]
                        ni = st[n5 + j]
                    o_netf[r] = np.int32(ne)
                    o_nidx[r] = np.int32(ni)
                    o_fund[r] = fund
                    o_share[r] = sh
                    o_mv[r] = mv
                    o_w[r] = mv / f if f > 0 else np.nan
                    o_inflow[r] = inf if d > 0 else np.nan
                    for kk in range(4):
                        bb = gb[s, kk]
                        if bb < 0:
                            continue
                        gn[bb] += 1
                        if ne > 0:
                            gh[bb] += 1
                        gfs[bb] += f
                        gm[bb] += mv
                        gsh[bb] += sh
                        gi[bb] += inf
            # ---- group distinct counts: touches on the first day
            for s in range(n_stock):
                for kk in range(4):
                    b = gbit[a, s, kk]
                    if b < 0:
                        continue
                    for q in range(colptr[s], colptr[s + 1]):
                        cnt[ent_x[q], b] += 1
            for x in range(nb_e):
                for b in range(n_bits):
                    touch0[x, b] = cnt[x, b] > 0
            # ---- later days: follow the stocks whose bits change; the (ETF, bit) pairs whose
            # count crosses zero get a day-by-day touch state (dstate)
            n_diff = 0
            for j in range(1, n_len):
                d = a + j
                for s in range(n_stock):
                    if gkey[d, s] == gkey[d - 1, s] or colptr[s] == colptr[s + 1]:
                        continue
                    for kk in range(4):
                        old = gbit[d - 1, s, kk]
                        new = gbit[d, s, kk]
                        if old == new:
                            continue
                        for q in range(colptr[s], colptr[s + 1]):
                            x = ent_x[q]
                            for side in range(2):
                                b = old if side == 0 else new
                                if b < 0:
                                    continue
                                c = cnt[x, b] + (-1 if side == 0 else 1)
                                cnt[x, b] = c
                                # the touch can only change when the count crosses zero
                                if c == (0 if side == 0 else 1) and not indiff[x, b]:
                                    indiff[x, b] = True
                                    diff_x[n_diff] = x
                                    diff_b[n_diff] = b
                                    for jj in range(j):
                                        dstate[n_diff, jj] = touch0[x, b]
                                    n_diff += 1
                for t in range(n_diff):
                    dstate[t, j] = cnt[diff_x[t], diff_b[t]] > 0
            # changing pairs grouped by ETF (counting sort)
            for x in range(nb_e + 1):
                dptr[x] = 0
            for t in range(n_diff):
                dptr[diff_x[t] + 1] += 1
            for x in range(nb_e):
                dptr[x + 1] += dptr[x]
                dfill[x] = dptr[x]
            for t in range(n_diff):
                x = diff_x[t]
                dord[dfill[x]] = t
                dfill[x] += 1
            # ---- per index: Σ present over touching ETFs, then n_etf / n_index / fund
            x = 0
            while x < nb_e:
                i = etf_index[be[x]]
                x_end = x
                while x_end < nb_e and etf_index[be[x_end]] == i:
                    x_end += 1
                n_touch = 0
                for y in range(x, x_end):
                    e = be[y]
                    v_p = present[e]
                    v_sh = shares[e]
                    for b in range(n_bits):
                        if not touch0[y, b] or indiff[y, b]:
                            continue
                        if not tmark[b]:
                            tmark[b] = True
                            tlist[n_touch] = b
                            n_touch += 1
                        for j in range(n_len):
                            tmp[b, j] += v_p[a + j]
                            gf[b, j] += v_sh[a + j]
                    for t in range(dptr[y], dptr[y + 1]):
                        u = dord[t]
                        b = diff_b[u]
                        hit = False
                        for j in range(n_len):
                            if dstate[u, j]:
                                hit = True
                                tmp[b, j] += v_p[a + j]
                                gf[b, j] += v_sh[a + j]
                        if hit and not tmark[b]:
                            tmark[b] = True
                            tlist[n_touch] = b
                            n_touch += 1
                for t in range(n_touch):
                    b = tlist[t]
                    tmark[b] = False
                    for j in range(n_len):
                        v = tmp[b, j]
                        g_netf[a + j, b] += v
                        if v > 0:
                            g_nidx[a + j, b] += 1
                        tmp[b, j] = 0
                x = x_end
            for b in range(n_bits):
                for j in range(n_len):
                    g_fund[a + j, b] = gf[b, j]
                    gf[b, j] = 0.0
            # ---- reset the per-block scratch
            for x in range(nb_e):
                for b in range(n_bits):
                    cnt[x, b] = 0
            for t in range(n_diff):
                indiff[diff_x[t], diff_b[t]] = False


@njit(cache=True, nogil=True)
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
    for d in prange(n_day):
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

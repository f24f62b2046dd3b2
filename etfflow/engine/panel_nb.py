"""numba kernels of the stock panel (docs/methodology.md#2-look-through): code / day mapping,
the (day, stock) rows of ``stock_daily``, the daily group bits (industry, board, float-cap
bucket) and rows-to-dense panels. Called by :mod:`etfflow.engine.panel`.

Every kernel is serial and ``nogil``; callers pass input arrays read-only
(:func:`etfflow.engine.panel.frozen`) so that each kernel compiles one specialisation per
dtype whatever Polars hands out (zero-copy read-only views, or writeable copies of
multi-chunk columns).
"""

from __future__ import annotations

import numpy as np

from etfflow._jit import inner, kernel


@kernel
def map_codes(phys: np.ndarray, lookup: np.ndarray) -> np.ndarray:
    """``lookup[phys[i]]`` with -1 for ids beyond the table (unknown codes)."""
    n = phys.shape[0]
    out = np.empty(n, dtype=np.int32)
    m = lookup.shape[0]
    for i in range(n):
        p = phys[i]
        out[i] = lookup[p] if p < m else -1
    return out


@kernel
def map_days(epoch_days: np.ndarray, day_lookup: np.ndarray, epoch0: int) -> np.ndarray:
    """Calendar index of each date (days since 1970), -1 when not a trading day."""
    n = epoch_days.shape[0]
    out = np.empty(n, dtype=np.int32)
    m = day_lookup.shape[0]
    for i in range(n):
        k = epoch_days[i] - epoch0
        out[i] = day_lookup[k] if 0 <= k < m else -1
    return out


@kernel
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
    for r in range(n):
        day[r] = day_of[epoch[r] - e_lo]
        p = phys[r]
        s = lookup[p] if p < m else -1
        stock[r] = s
        if s < 0:
            n_unknown += 1
    n_unordered = 0
    for r in range(1, n):
        if day[r] < day[r - 1] or (day[r] == day[r - 1] and stock[r] <= stock[r - 1]):
            n_unordered += 1
    return cal, day, stock, n_unknown, n_unordered


@inner
def _pair_less(v: np.ndarray, s: np.ndarray, i: int | np.integer, j: int | np.integer) -> bool:
    """``(v[i], s[i]) < (v[j], s[j])`` in (value, stock) order."""
    return v[i] < v[j] or (v[i] == v[j] and s[i] < s[j])


@inner
def _select_pair(v: np.ndarray, s: np.ndarray, n: int, k: int) -> int:
    """Position of the ``k``-th smallest of ``(v[:n], s[:n])`` in (value, stock) order,
    rearranging both in place (quickselect, median-of-three pivots)."""
    lo = np.int64(0)  # typed, not a literal 0: one specialisation of _pair_less
    hi = np.int64(n - 1)
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


@inner
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
    rank falls outside the window (or there is none yet) the ranks are selected among all the
    day's caps and the windows reset to ``window`` ranks on either side.
    Returns the number of thresholds.
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
        # selections in (value, stock) order instead of a sort: np.argsort would compile
        # numba's merge sort (~1 s of a first run) for a path taken on few days
        nn = np.int64(n)  # typed, not a literal: one specialisation of _select_pair
        for b in range(n_thr):
            t = ((b + 1) * m + n_buckets - 1) // n_buckets
            _select_pair(sort_v, sort_s, nn, max(t - window, 0))
            win_lo[b] = sort_v[max(t - window, 0)]
            if t + window < n:
                _select_pair(sort_v, sort_s, nn, t + window)
                win_hi[b] = sort_v[t + window]
            else:
                win_hi[b] = np.inf
            _select_pair(sort_v, sort_s, nn, t)
            thr_v[b] = sort_v[t]
            thr_s[b] = sort_s[t]
            has_win[b] = True
    return n_thr


@kernel
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
    ``n_chunks`` runs, each starting its threshold windows afresh (the thresholds do not
    depend on ``n_chunks``). Returns ``(gbit, n_no_industry)``.
    """
    n_day = row_start.shape[0] - 1
    gbit = np.empty((n_day, n_stock, 4), dtype=np.int16)
    no_ind = np.zeros(n_day, dtype=np.int64)
    n_chunks = max(min(n_chunks, n_day), 1)
    max_rows = 0
    for d in range(n_day):
        max_rows = max(max_rows, row_start[d + 1] - row_start[d])
    for c in range(n_chunks):
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
                    bucket = np.int64(0)
                    for b in range(n_thr):
                        t = thr_v[b]
                        bucket += np.int64(v > t) + np.int64(v == t) * np.int64(s >= thr_s[b])
                    gbit[d, s, 3] = bucket + offsets[3]
    return gbit, no_ind.sum()


@kernel
def rows_to_dense(
    row_start: np.ndarray, row_stock: np.ndarray, values: np.ndarray, n_stock: int, fill: float
) -> np.ndarray:
    """``out[d, row_stock[r]] = values[r]`` for the rows of day ``d``; ``fill`` elsewhere."""
    n_day = row_start.shape[0] - 1
    out = np.empty((n_day, n_stock), dtype=values.dtype)
    for d in range(n_day):
        out[d] = fill
        for r in range(row_start[d], row_start[d + 1]):
            out[d, row_stock[r]] = values[r]
    return out

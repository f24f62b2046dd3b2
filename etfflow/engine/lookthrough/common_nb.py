"""numba kernels shared by both look-through modes: runs of equal (day, owner) rows (the
baskets), the dense ETF panels, the counters and the numba warm-up.

Reference twin of the whole look-through:
:func:`etfflow.engine.lookthrough_ref.lookthrough_reference` (plain Python loops over the same
definitions), compared in ``tests/engine/test_lookthrough.py``.
"""

from __future__ import annotations

import numpy as np

from etfflow._jit import kernel

# Counter columns returned by the accumulation kernel (per day).
C_ETF_DAYS = 0  # ETF-days of the pool with an etf_daily row
C_NO_BASKET = 1  # ... of which no basket at or before the day (ETF holds nothing)
C_CARRIED = 2  # ... of which used an earlier day's basket (as-of carry)
C_UNPRICED = 3  # basket rows of a stock with no stock_daily row (PCF: not priceable)
C_UNKNOWN = 4  # basket rows naming a code not in the stocks table
C_EMPTY_BASKET = 5  # ETF-days whose basket has no positive priceable value
N_COUNTERS = 6


@kernel
def _lookup(x: int | np.integer, table: np.ndarray, offset: int | np.integer) -> int:
    """``table[x - offset]``, -1 outside the table (``x`` and ``offset`` are int64: one
    specialisation for int32 days and uint32 category ids)."""
    k = x - offset
    if k < 0 or k >= table.shape[0]:
        return -1
    return int(table[k])


@kernel
def find_segments(
    day_raw: np.ndarray,
    owner_raw: np.ndarray,
    day_table: np.ndarray,
    day_offset: int,
    owner_table: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
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
            seg_day[k] = _lookup(np.int64(day_raw[i]), day_table, np.int64(day_offset))
            seg_owner[k] = _lookup(np.int64(owner_raw[i]), owner_table, np.int64(0))
            seg_start[k] = i
        seg_end[k] = i + 1
        if seg_day[k] < 0:
            off += 1
    return seg_day, seg_owner, seg_start, seg_end, off


@kernel
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


@kernel
def warm_up() -> int:
    """Does nothing: the first call of any kernel sets numba up (≈0.3 s), so callers make this
    call while something else (reading Parquet) runs."""
    return 0

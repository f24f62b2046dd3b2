"""numba kernels of the validation pass (one pass over the rank arrays of a chunk).

Serial kernels on purpose: a chunk is a few million rows and each loop is a table lookup or
a comparison, while the first ``parallel=True`` kernel of a process costs seconds of
threading set-up (measured: 1.4-2.4 s on the benchmark machine).

Reference twins (plain NumPy, used only by the tests) are the ``*_reference`` functions,
compared in ``tests/engine/test_validation.py``.
"""

from __future__ import annotations

import numpy as np

from etfflow._jit import kernel


def ids32(x: np.ndarray) -> np.ndarray:
    """``x`` as a read-only int32 view (no copy), so each kernel compiles one specialisation.

    uint32 ids (Categorical physicals) are reinterpreted: real ids are far below 2**31 and
    the null fill 2**32 - 1 becomes -1, outside every table either way. Other dtypes pass
    through unchanged.
    """
    if x.dtype == np.uint32:
        x = x.view(np.int32)
    elif x.dtype != np.int32:
        return x
    v = x.view()
    v.flags.writeable = False
    return v


@kernel
def take_ranks(values: np.ndarray, table: np.ndarray, offset: int) -> np.ndarray:
    """``table[values[i] - offset]``, -1 outside the table (unknown code, non-trading day)."""
    n = values.shape[0]
    m = table.shape[0]
    out = np.empty(n, dtype=np.int32)
    for i in range(n):
        k = np.int64(values[i]) - offset
        out[i] = table[k] if 0 <= k < m else -1
    return out


def take_ranks_reference(values: np.ndarray, table: np.ndarray, offset: int) -> np.ndarray:
    out = np.full(len(values), -1, dtype=np.int32)
    for i, v in enumerate(values.tolist()):
        if 0 <= v - offset < len(table):
            out[i] = table[v - offset]
    return out


@kernel
def missing_bits(rank: np.ndarray, day: np.ndarray, bits: np.ndarray, n_days: int) -> np.ndarray:
    """``rank >= 0 and day >= 0 and not bits[rank * n_days + day]`` per row."""
    n = rank.shape[0]
    out = np.empty(n, dtype=np.bool_)
    for i in range(n):
        r, d = rank[i], day[i]
        out[i] = r >= 0 and d >= 0 and not bits[np.int64(r) * n_days + d]
    return out


def missing_bits_reference(
    rank: np.ndarray, day: np.ndarray, bits: np.ndarray, n_days: int
) -> np.ndarray:
    out = np.zeros(len(rank), dtype=bool)
    for i in range(len(rank)):
        if rank[i] >= 0 and day[i] >= 0:
            out[i] = not bits[int(rank[i]) * n_days + int(day[i])]
    return out


@kernel
def unsorted_keys(a: np.ndarray, b: np.ndarray, c: np.ndarray, size_b: int, size_c: int) -> int:
    """Rows whose key ``(a, b, c)`` is not strictly after the previous row's (0 = sorted by the
    key, no duplicate). Ranks, -1 = null or unknown (sorts first, like a packed 0); ``c`` of
    length 0 = a two-column key. The packed key ``((a+1)*size_b + b+1)*size_c + c+1`` is
    computed on the fly."""
    n = a.shape[0]
    three = c.shape[0] > 0
    bad = 0
    prev = np.int64(0)
    for i in range(n):
        k = (np.int64(a[i]) + 1) * size_b + b[i] + 1
        if three:
            k = k * size_c + c[i] + 1
        if i > 0 and k <= prev:
            bad += 1
        prev = k
    return bad


def unsorted_keys_reference(arrays: list[np.ndarray]) -> int:
    """Plain twin over any number of key columns: tuple comparison of consecutive rows."""
    rows = list(zip(*[a.tolist() for a in arrays], strict=True))
    return sum(1 for i in range(1, len(rows)) if rows[i] <= rows[i - 1])


@kernel
def pair_starts(day: np.ndarray, owner: np.ndarray, n_days: int) -> np.ndarray:
    """``owner * n_days + day`` of each row where (day, owner) differs from the previous row's,
    for rows with both ranks known (>= 0); sorted input gives each pair once."""
    n = day.shape[0]
    out = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        d, o = day[i], owner[i]
        if i > 0 and d == day[i - 1] and o == owner[i - 1]:
            continue
        if d >= 0 and o >= 0:
            out[m] = np.int64(o) * n_days + d
            m += 1
    return out[:m].copy()


def pair_starts_reference(day: np.ndarray, owner: np.ndarray, n_days: int) -> np.ndarray:
    out = []
    for i in range(len(day)):
        if i > 0 and day[i] == day[i - 1] and owner[i] == owner[i - 1]:
            continue
        if day[i] >= 0 and owner[i] >= 0:
            out.append(int(owner[i]) * n_days + int(day[i]))
    return np.array(out, dtype=np.int64)


def warm_up() -> None:
    """Load (or compile) every kernel for the argument types the pass uses.

    Run in a background thread while the first tables are read: numba's first use in a
    process costs seconds of type-registry set-up, mostly overlapped with Parquet reads.
    """
    i32 = np.zeros(2, dtype=np.int32)
    take_ranks(ids32(i32), ids32(i32), 0)
    missing_bits(i32, i32, np.zeros(4, dtype=np.bool_), 2)
    unsorted_keys(i32, i32, i32, 2, 2)
    pair_starts(ids32(i32), ids32(i32), 2)

"""numba kernels of the validation pass (one pass over the rank arrays of a chunk).

Reference twins (plain NumPy, used only by the tests) are the ``*_reference`` functions,
compared in ``tests/engine/test_validation.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def missing_bits(rank: np.ndarray, day: np.ndarray, bits: np.ndarray, n_days: int) -> np.ndarray:
    """``rank >= 0 and day >= 0 and not bits[rank * n_days + day]`` per row."""
    n = rank.shape[0]
    out = np.empty(n, dtype=np.bool_)
    for i in prange(n):
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


@njit(cache=True)
def not_increasing(k: np.ndarray) -> int:
    """Rows whose key is not strictly greater than the previous row's (0 = sorted, unique)."""
    n = 0
    for i in range(1, k.shape[0]):
        if k[i] <= k[i - 1]:
            n += 1
    return n


def not_increasing_reference(k: np.ndarray) -> int:
    return sum(1 for i in range(1, len(k)) if k[i] <= k[i - 1])

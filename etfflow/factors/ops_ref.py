"""Plain-NumPy twins of :mod:`etfflow.factors.ops` (used only by the tests)."""

from __future__ import annotations

import numpy as np


def lag(a: np.ndarray, n: int) -> np.ndarray:
    out = np.full(a.shape, np.nan)
    for t in range(n, a.shape[0]):
        out[t] = a[t - n]
    return out


def diff(a: np.ndarray, n: int) -> np.ndarray:
    return a - lag(a, n)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    for idx in np.ndindex(num.shape):
        if den[idx] != 0:
            out[idx] = num[idx] / den[idx]
    return out


def change(a: np.ndarray, n: int) -> np.ndarray:
    return _safe_div(diff(a, n), lag(a, n))


def diff_over(a: np.ndarray, n: int, den: np.ndarray) -> np.ndarray:
    return _safe_div(diff(a, n), den)


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return _safe_div(num, den)

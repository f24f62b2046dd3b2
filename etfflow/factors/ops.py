"""Fused element-wise panel operations of the factors (numba, one pass).

Definition: docs/methodology.md#32-the-factor-families.

Each takes ``(T, M)`` float64 panels, time on axis 0, and returns a new array; ``x[t-n]`` is
NaN for ``t < n``. The plain-NumPy twins are in :mod:`etfflow.factors.ops_ref` (tests only):
NumPy needs two or three full passes and temporaries for each of these.
"""

from __future__ import annotations

import numpy as np

from etfflow._jit import kernel


@kernel
def _lag_op(a, n, den, mode, out):  # pragma: no cover - numba
    t, m = a.shape
    for i in range(t):
        for j in range(m):
            if i < n:
                out[i, j] = np.nan
                continue
            d = a[i, j] - a[i - n, j]
            if mode == 0:  # difference
                out[i, j] = d
            elif mode == 1:  # change rate over the lagged value
                b = a[i - n, j]
                out[i, j] = d / b if b != 0 else np.nan
            else:  # difference over today's denominator
                b = den[i, j]
                out[i, j] = d / b if b != 0 else np.nan


def _run(a: np.ndarray, n: int, den: np.ndarray | None, mode: int) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    d = a if den is None else np.ascontiguousarray(den, dtype=np.float64)
    out = np.empty_like(a)
    _lag_op(a, int(n), d, mode, out)
    return out


def diff(a: np.ndarray, n: int) -> np.ndarray:
    """``a[t] - a[t-n]`` (twin: :func:`etfflow.factors.ops_ref.diff`)."""
    return _run(a, n, None, 0)


def change(a: np.ndarray, n: int) -> np.ndarray:
    """``(a[t] - a[t-n]) / a[t-n]``, NaN where ``a[t-n]`` is 0 (twin: ``ops_ref.change``)."""
    return _run(a, n, None, 1)


def diff_over(a: np.ndarray, n: int, den: np.ndarray) -> np.ndarray:
    """``(a[t] - a[t-n]) / den[t]``, NaN where ``den[t]`` is 0 (twin: ``ops_ref.diff_over``)."""
    return _run(a, n, den, 2)


@kernel
def _ratio(num, den, out):  # pragma: no cover - numba
    t, m = num.shape
    for i in range(t):
        for j in range(m):
            b = den[i, j]
            out[i, j] = num[i, j] / b if b != 0 else np.nan


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, NaN where ``den`` is 0 (twin: ``ops_ref.ratio``)."""
    num = np.ascontiguousarray(num, dtype=np.float64)
    out = np.empty_like(num)
    _ratio(num, np.ascontiguousarray(den, dtype=np.float64), out)
    return out

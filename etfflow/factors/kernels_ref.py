"""Reference twins of :mod:`etfflow.factors.kernels`: plain NumPy loops, for tests only.

Slow and obviously correct: for every row ``t`` and column, slice the window
``x[t-window+1 : t+1]``, keep the valid (finite) observations and apply the textbook formula
with two-pass (centred) sums and :func:`math.fsum`. Before centring, a window is shifted by its
first valid value (exact for nearby values, and every statistic here is shift invariant), so
that a 1e8 offset does not cost the reference the digits it is meant to check. Same
signatures, same NaN rules and the same definition of a constant window
(:data:`etfflow.factors.kernels.CONSTANT_RTOL`) as the fast kernels. No argument checks
beyond what the loops need.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from etfflow.factors.kernels import CONSTANT_RTOL

__all__ = [
    "rolling_beta",
    "rolling_corr",
    "rolling_mean",
    "rolling_residual",
    "rolling_slope",
    "rolling_std",
    "rolling_sum",
    "rolling_zscore",
]


def _as_2d(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(a.shape[0], 1) if a.ndim == 1 else a


def _windows(shape: tuple[int, int], window: int) -> Iterator[tuple[int, int, slice]]:
    for j in range(shape[1]):
        for t in range(shape[0]):
            yield t, j, slice(max(0, t - window + 1), t + 1)


def _is_constant(v: np.ndarray) -> bool:
    """Population std <= CONSTANT_RTOL * root mean square of the values."""
    mean = math.fsum(v) / v.size
    sd = math.sqrt(math.fsum((v - mean) ** 2) / v.size)
    return sd <= CONSTANT_RTOL * math.sqrt(mean * mean + sd * sd)


def _univariate(
    x: np.ndarray, window: int, min_periods: int | None, f: Callable[[np.ndarray, float], float]
) -> np.ndarray:
    """``f(valid values, x[t])`` on every window with at least ``min_periods`` valid values."""
    one_d = np.ndim(x) == 1
    a = _as_2d(x)
    minp = window if min_periods is None else min_periods
    out = np.full(a.shape, np.nan)
    for t, j, w in _windows(a.shape, window):
        col = a[w, j]
        valid = np.isfinite(col)
        if valid.sum() >= minp:
            out[t, j] = f(col[valid], a[t, j])
    return out.reshape(-1) if one_d else out


def rolling_sum(x: np.ndarray, window: int, *, min_periods: int | None = None) -> np.ndarray:
    """Twin of :func:`etfflow.factors.kernels.rolling_sum` (exactly rounded ``math.fsum``)."""
    return _univariate(x, window, min_periods, lambda v, cur: math.fsum(v))


def rolling_mean(x: np.ndarray, window: int, *, min_periods: int | None = None) -> np.ndarray:
    """Twin of :func:`etfflow.factors.kernels.rolling_mean`."""
    return _univariate(x, window, min_periods, lambda v, cur: math.fsum(v) / v.size)


def rolling_std(
    x: np.ndarray, window: int, *, min_periods: int | None = None, ddof: int = 1
) -> np.ndarray:
    """Twin of :func:`etfflow.factors.kernels.rolling_std` (two-pass ``np.std``)."""

    def f(v: np.ndarray, cur: float) -> float:
        return float(np.std(v - v[0], ddof=ddof)) if v.size > ddof else np.nan

    return _univariate(x, window, min_periods, f)


def rolling_zscore(
    x: np.ndarray, window: int, *, min_periods: int | None = None, ddof: int = 1
) -> np.ndarray:
    """Twin of :func:`etfflow.factors.kernels.rolling_zscore`."""

    def f(v: np.ndarray, cur: float) -> float:
        if not np.isfinite(cur) or v.size <= ddof or _is_constant(v):
            return np.nan
        d = v - v[0]
        return float(((cur - v[0]) - math.fsum(d) / d.size) / np.std(d, ddof=ddof))

    return _univariate(x, window, min_periods, f)


def rolling_slope(y: np.ndarray, window: int, *, min_periods: int | None = None) -> np.ndarray:
    """Twin of :func:`etfflow.factors.kernels.rolling_slope`: centred closed form on the rows."""
    one_d = np.ndim(y) == 1
    a = _as_2d(y)
    minp = window if min_periods is None else min_periods
    out = np.full(a.shape, np.nan)
    for t, j, w in _windows(a.shape, window):
        col = a[w, j]
        k = np.arange(w.start, w.stop, dtype=np.float64)
        valid = np.isfinite(col)
        if valid.sum() >= max(minp, 2):
            kv, yv = k[valid], col[valid]
            kc = _centred(kv)
            out[t, j] = math.fsum(kc * _centred(yv)) / math.fsum(kc * kc)
    return out.reshape(-1) if one_d else out


def _pairs(
    y: np.ndarray,
    x: np.ndarray,
    window: int,
    min_periods: int | None,
    f: Callable[[np.ndarray, np.ndarray, float, float], float],
) -> np.ndarray:
    """``f(valid y, valid x, y[t], x[t])`` on every window with enough valid pairs."""
    one_d = np.ndim(y) == 1
    ya, xa = _as_2d(y), _as_2d(x)
    minp = window if min_periods is None else min_periods
    out = np.full(ya.shape, np.nan)
    for t, j, w in _windows(ya.shape, window):
        yc, xc = ya[w, j], xa[w, j]
        valid = np.isfinite(yc) & np.isfinite(xc)
        if valid.sum() >= minp:
            out[t, j] = f(yc[valid], xc[valid], ya[t, j], xa[t, j])
    return out.reshape(-1) if one_d else out


def _centred(v: np.ndarray) -> np.ndarray:
    """Deviations from the mean, computed after shifting by the first value (see module doc)."""
    d = v - v[0]
    return d - math.fsum(d) / d.size


def rolling_beta(
    y: np.ndarray, x: np.ndarray, window: int, *, min_periods: int | None = None
) -> np.ndarray:
    """Twin of :func:`etfflow.factors.kernels.rolling_beta`."""

    def f(yv: np.ndarray, xv: np.ndarray, yt: float, xt: float) -> float:
        if _is_constant(xv):
            return np.nan
        xc = _centred(xv)
        return math.fsum(xc * _centred(yv)) / math.fsum(xc * xc)

    return _pairs(y, x, window, min_periods, f)


def rolling_corr(
    x: np.ndarray, y: np.ndarray, window: int, *, min_periods: int | None = None
) -> np.ndarray:
    """Twin of :func:`etfflow.factors.kernels.rolling_corr`."""

    def f(yv: np.ndarray, xv: np.ndarray, yt: float, xt: float) -> float:
        if _is_constant(xv) or _is_constant(yv):
            return np.nan
        xc, yc = _centred(xv), _centred(yv)
        r = math.fsum(xc * yc) / math.sqrt(math.fsum(xc * xc) * math.fsum(yc * yc))
        return min(max(r, -1.0), 1.0)

    return _pairs(y, x, window, min_periods, f)


def rolling_residual(
    y: np.ndarray, x: np.ndarray, window: int, *, min_periods: int | None = None
) -> np.ndarray:
    """Twin of :func:`etfflow.factors.kernels.rolling_residual`."""

    def f(yv: np.ndarray, xv: np.ndarray, yt: float, xt: float) -> float:
        if not (np.isfinite(yt) and np.isfinite(xt)) or _is_constant(xv):
            return np.nan
        xs, ys = xv - xv[0], yv - yv[0]
        xbar = math.fsum(xs) / xs.size
        ybar = math.fsum(ys) / ys.size
        xc = xs - xbar
        b = math.fsum(xc * (ys - ybar)) / math.fsum(xc * xc)
        return ((yt - yv[0]) - ybar) - b * ((xt - xv[0]) - xbar)

    return _pairs(y, x, window, min_periods, f)

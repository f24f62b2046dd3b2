"""numba kernels of the rolling statistics (docs/methodology.md#32-the-factor-families).

Every numba kernel of :mod:`etfflow.factors.kernels` lives here; that module holds the
public API (argument checks, dtype / layout normalisation, column blocks on threads) and
documents the semantics (missing values, ``min_periods``, constant windows). These kernels
do no checks: a 2-D kernel takes float64 ``(T, N)`` panels, time on axis 0, an output panel
of the same shape, ``window`` and ``minp`` as int64 and the block / part arguments of
:func:`etfflow.factors.kernels._run_blocks`; a 1-D kernel takes one series.

Reference twins: :mod:`etfflow.factors.kernels_ref` (plain NumPy loops, one function per kernel
with the same signature), compared in ``tests/factors/test_kernels.py``.

Algorithm
---------
Each statistic keeps O(1) running sums per column and updates them per row with the entering
observation (row ``t``) and the leaving one (row ``t - window``). The sums are

* anchored: per column, a reference value ``c`` (the latest valid value at the column's last
  rebuild) is subtracted before summing (``Σ(x - c)``, ``Σ(x - c)²``, ``Σ(x - c)(y - d)``),
  so a 1e8 offset never enters a sum of squares and ``x[t] - mean`` keeps its digits.
* compensated: each sum is a pair ``(s, e)`` updated with Knuth's error-free TwoSum (``e``
  collects the exact rounding errors, Ogita-Rump-Oishi "Sum2"). Sum / mean add the entering
  and remove the leaving value in two exact steps; the other statistics add their difference
  (``d_new - d_old``, ``d_new² - d_old²``), whose single rounding is ``<= u·d_old²``.
* rebuilt from scratch (``O(window)``, new anchor) for one column when
  ``(window mean - c)² > _DRIFT · variance`` (anchor drift: the cancellation in
  ``n·Σd² - (Σd)²`` would cost more than ~1e-12 relative), when the value that just left had
  ``d_old² > _OUTLIER · variance`` (an outlier left: the rounding of the combined update was
  relatively large), or when a sum is not finite; and for every column every
  ``max(16 · window, 256)`` rows. ``_DRIFT = _OUTLIER = 1e4``: outside these events the
  relative error of the variance is ``<~ 1e4 · 2^-53 ≈ 1e-12``; inside them the column costs
  ``O(window)`` once (a level shift, a large value leaving), never per row on ordinary data.
  The triggers depend only on rows ``<= t``: the kernels are point in time and bit-identical
  whatever the block size or thread count.
* exact on constant windows: when the last value that differs from the others leaves, the
  variance collapses and the outlier trigger rebuilds the column around the remaining value,
  so the sums are exactly zero (no ``1e-30`` residue for a z-score to divide); a window that
  settles on a new level is rebuilt by the drift trigger. Sum / mean count the non-zero values
  in the window and reset to exactly 0 when there are none.

Inputs are expected to be finite values below ~1e150 in magnitude: larger deviations overflow
the sums of squares and the statistics that need them return NaN (sum and mean do not).

Layout: time is the outer loop and the columns of a block the contiguous inner loop, so the
per-column state lives in small arrays and LLVM vectorises the update across stocks. Beta /
corr / residual update their state in two passes per row because one fused loop over 21
arrays exceeds LLVM's runtime alias-check budget and is left scalar. Specialisations: the
pair family's block kernels take their statistic as a run-time int64 argument (one compile
for beta, corr and residual; a literal constant would specialise them per statistic), the
sum and moment families as a constant (their vectorised inner loops stay branch-free),
``j0`` is always a loop value, and the public wrappers pass every input panel as a read-only
C-contiguous float64 view (see :func:`etfflow.factors.kernels._apply`), so one demo run
compiles one specialisation of each kernel it uses.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from etfflow._jit import inner, kernel

__all__ = [
    "CONSTANT_RTOL",
    "rolling_beta_1d_nb",
    "rolling_beta_nb",
    "rolling_corr_1d_nb",
    "rolling_corr_nb",
    "rolling_mean_1d_nb",
    "rolling_mean_nb",
    "rolling_pair_nb",
    "rolling_residual_1d_nb",
    "rolling_residual_nb",
    "rolling_slope_1d_nb",
    "rolling_slope_nb",
    "rolling_std_1d_nb",
    "rolling_std_nb",
    "rolling_sum_1d_nb",
    "rolling_sum_nb",
    "rolling_zscore_1d_nb",
    "rolling_zscore_nb",
]

#: A window is constant when its population std is at most this fraction of its rms value.
CONSTANT_RTOL = 1e-10
_RHO = CONSTANT_RTOL * CONSTANT_RTOL
#: Rebuild a column when (window mean - anchor)² > _DRIFT * window variance ...
_DRIFT = 1.0e4
#: ... or when the squared deviation that left the window exceeds _OUTLIER * variance.
_OUTLIER = 1.0e4
#: Rebuild every column every max(_REBUILD_WINDOWS * window, _REBUILD_MIN_ROWS) rows.
_REBUILD_WINDOWS = 16
_REBUILD_MIN_ROWS = 256
_INF = np.inf

# statistic selectors inside a family: compile-time constants for the one-series families (a
# branch-free, vectorised inner loop per statistic), np.int64 run-time values for the pair
# family (scalar code either way: one compile for beta, corr and residual)
_SUM, _MEAN = 0, 1
_STD, _ZSCORE = 0, 1
_BETA, _CORR, _RESIDUAL = 0, 1, 2
#: The pair statistics as the int64 that :func:`rolling_pair_nb` is compiled for.
_PAIR_STAT = np.array([_BETA, _CORR, _RESIDUAL], dtype=np.int64)
# the one block of a 1-D kernel, as int64 values (literal 0 / 1 would compile the block kernels
# once more)
_J0, _J1 = np.int64(0), np.int64(1)


# --------------------------------------------------------------------------- primitives
@inner
def _two_sum(s, e, v):
    """``(s, e) + v`` with TwoSum: returns the new float sum and the updated error sum."""
    t = s + v
    bp = t - s
    return t, e + ((s - (t - bp)) + (v - bp))


@inner
def _store(arrays, jj, values):
    """``arrays[i][jj] = values[i]`` for every state array ``i``."""
    for i, arr in enumerate(arrays):
        arr[jj] = values[i]


@inner
def _rebuild_period(window):
    return max(_REBUILD_WINDOWS * window, _REBUILD_MIN_ROWS)


@inner
def _nonconstant(d, s1, n, c):
    """True when ``n·D`` (``D = n·Σd² - (Σd)²``) is above the constant-window threshold."""
    m = n * c + s1  # n * window mean
    return d > _RHO * (d + m * m)


# --------------------------------------------------------------------------- sum / mean
@inner
def _sum_row(xr, xo, orow, cnt, nz, s1, e1, minp, stat):
    rebuild = False
    for jj in range(xr.shape[0]):
        xn = xr[jj]
        okn = abs(xn) < _INF
        xv = xo[jj]
        oko = abs(xv) < _INF
        dn = xn if okn else 0.0
        do = xv if oko else 0.0
        n = cnt[jj] + (1.0 if okn else 0.0) - (1.0 if oko else 0.0)
        cnt[jj] = n
        z = nz[jj] + (1.0 if dn != 0.0 else 0.0) - (1.0 if do != 0.0 else 0.0)
        nz[jj] = z
        a, b = _two_sum(s1[jj], e1[jj], dn)
        a, b = _two_sum(a, b, -do)
        a = a if z > 0.0 else 0.0
        b = b if z > 0.0 else 0.0
        s1[jj] = a
        e1[jj] = b
        s = a + b
        rebuild |= not abs(s) < _INF
        v = s if stat == _SUM else s / n
        orow[jj] = v if n >= minp else np.nan
    return rebuild


@inner
def _sum_rebuild(x, t, j, window):
    n = 0.0
    z = 0.0
    s = 0.0
    e = 0.0
    for k in range(max(t - window + 1, 0), t + 1):
        v = x[k, j]
        if abs(v) < _INF:
            n += 1.0
            if v != 0.0:
                z += 1.0
                s, e = _two_sum(s, e, v)
    return n, z, s, e


@inner
def _sum_block(x, out, j0, j1, window, minp, stat):
    nt = x.shape[0]
    nb = j1 - j0
    cnt = np.zeros(nb)
    nz = np.zeros(nb)
    s1 = np.zeros(nb)
    e1 = np.zeros(nb)
    nanrow = np.full(nb, np.nan)
    period = _rebuild_period(window)
    for t in range(nt):
        xo = x[t - window, j0:j1] if t >= window else nanrow
        orow = out[t, j0:j1]
        rebuild = _sum_row(x[t, j0:j1], xo, orow, cnt, nz, s1, e1, minp, stat)
        full = (t + 1) % period == 0
        if rebuild or full:
            for jj in range(nb):
                s = s1[jj] + e1[jj]
                if full or not abs(s) < _INF:
                    n, z, a, b = _sum_rebuild(x, t, j0 + jj, window)
                    cnt[jj] = n
                    nz[jj] = z
                    s1[jj] = a
                    e1[jj] = b
                    s = a + b
                    v = s if stat == _SUM else s / n
                    orow[jj] = v if n >= minp else np.nan


# --------------------------------------------------------------------------- std / z-score
@inner
def _rebuild_needed(s, d, r, n):
    """Drift or precision flag of one variable: anchored ``Σd = s``, ``n·Σ(x-mean)² = d``.

    True when the anchor is more than ``sqrt(_DRIFT)`` standard deviations from the window
    mean, when the value that just left (squared deviation ``r``) was large enough for the
    rounding of the combined update to matter (``n·r > _OUTLIER·d``), or when ``d`` is not
    finite.
    """
    return ((s != 0.0) & (s * s > _DRIFT * d)) | (n * r > _OUTLIER * d) | (not abs(d) < _INF)


@inner
def _moments_value(okn, dn, c, n, s1, s2, minp, ddof, stat):
    """Output of std / z-score from anchored sums ``s1 = Σd``, ``s2 = Σd²``."""
    d = n * s2 - s1 * s1  # n * Σ(x - mean)²
    ok = (n >= minp) & (n > ddof)
    if stat == _STD:
        v = d / (n * (n - ddof))
        v = 0.0 if v < 0.0 else v  # keeps NaN: overflowed sums give NaN, never inf
        return np.sqrt(v) if ok & (v < _INF) else np.nan
    good = ok & okn & _nonconstant(d, s1, n, c)
    return (n * dn - s1) * np.sqrt((n - ddof) / (n * d)) if good else np.nan


@inner
def _moments_row(xr, xo, orow, flag, state, minp, ddof, stat):
    """One row of a block: update, output, flags; True when a column needs a rebuild."""
    c, cnt, s1, e1, s2, e2 = state
    rebuild = False
    for jj in range(xr.shape[0]):
        xn = xr[jj]
        okn = abs(xn) < _INF
        xv = xo[jj]
        oko = abs(xv) < _INF
        cj = c[jj]
        dn = xn - cj if okn else 0.0
        do = xv - cj if oko else 0.0
        n = cnt[jj] + (1.0 if okn else 0.0) - (1.0 if oko else 0.0)
        cnt[jj] = n
        r = do * do
        a, b = _two_sum(s1[jj], e1[jj], dn - do)
        s1[jj] = a
        e1[jj] = b
        p, q = _two_sum(s2[jj], e2[jj], dn * dn - r)
        s2[jj] = p
        e2[jj] = q
        sa = a + b
        sq = p + q
        orow[jj] = _moments_value(okn, dn, cj, n, sa, sq, minp, ddof, stat)
        f = _rebuild_needed(sa, n * sq - sa * sa, r, n)
        flag[jj] = f
        rebuild |= f
    return rebuild


@inner
def _last_valid(x, lo, t, j):
    """The latest finite ``x[k, j]`` for ``k`` in ``t..lo`` (the new anchor), else 0."""
    for k in range(t, lo - 1, -1):
        v = x[k, j]
        if abs(v) < _INF:
            return v
    return 0.0


@inner
def _moments_rebuild(x, t, j, window, state, jj):
    """Recompute column ``jj``'s state for the window ending at row ``t`` (new anchor)."""
    lo = max(t - window + 1, 0)
    c = _last_valid(x, lo, t, j)
    n = s1 = e1 = s2 = e2 = 0.0
    for k in range(lo, t + 1):
        v = x[k, j]
        if abs(v) < _INF:
            n += 1.0
            d = v - c
            s1, e1 = _two_sum(s1, e1, d)
            s2, e2 = _two_sum(s2, e2, d * d)
    _store(state, jj, (c, n, s1, e1, s2, e2))


@inner
def _moments_block(x, out, j0, j1, window, minp, ddof, stat):
    nt = x.shape[0]
    nb = j1 - j0
    st = np.zeros((6, nb))
    state = (st[0], st[1], st[2], st[3], st[4], st[5])  # c, cnt, s1, e1, s2, e2
    flag = np.zeros(nb, dtype=np.bool_)
    nanrow = np.full(nb, np.nan)
    period = _rebuild_period(window)
    for t in range(nt):
        xr = x[t, j0:j1]
        xo = x[t - window, j0:j1] if t >= window else nanrow
        orow = out[t, j0:j1]
        rebuild = _moments_row(xr, xo, orow, flag, state, minp, ddof, stat)
        full = (t + 1) % period == 0
        if rebuild or full:
            c, cnt, s1, e1, s2, e2 = state
            for jj in range(nb):
                if full or flag[jj]:
                    _moments_rebuild(x, t, j0 + jj, window, state, jj)
                    xn = xr[jj]
                    okn = abs(xn) < _INF
                    dn = xn - c[jj] if okn else 0.0
                    orow[jj] = _moments_value(
                        okn, dn, c[jj], cnt[jj], s1[jj] + e1[jj], s2[jj] + e2[jj], minp, ddof, stat
                    )


# --------------------------------------------------------------------------- slope on time
# Time enters as u = row - anchor, with the anchor row common to a block and moved to the
# current row at every full rebuild, so that |u| <= 17 * window: Σu and Σu² are sums of small
# integers, exact in float64 (no compensation needed), and n·Σu² - (Σu)² is exact.
@inner
def _slope_value(n, su, suu, sy, suy, minp):
    ok = (n >= minp) & (n >= 2.0)
    return (n * suy - su * sy) / (n * suu - su * su) if ok else np.nan


@inner
def _slope_row(yr, yo, orow, flag, un, uo, state, minp):
    """One row; ``un``/``uo`` are the time offsets (row - anchor) entering / leaving."""
    c, cnt, su, suu, sy, ey, syy, eyy, suy, euy = state
    rebuild = False
    for jj in range(yr.shape[0]):
        yn = yr[jj]
        okn = abs(yn) < _INF
        yv = yo[jj]
        oko = abs(yv) < _INF
        cj = c[jj]
        dn = yn - cj if okn else 0.0
        do = yv - cj if oko else 0.0
        n = cnt[jj] + (1.0 if okn else 0.0) - (1.0 if oko else 0.0)
        cnt[jj] = n
        wn = un if okn else 0.0
        wo = uo if oko else 0.0
        a = su[jj] + (wn - wo)
        su[jj] = a
        b = suu[jj] + (wn * wn - wo * wo)
        suu[jj] = b
        r = do * do
        p, q = _two_sum(sy[jj], ey[jj], dn - do)
        sy[jj] = p
        ey[jj] = q
        g, h = _two_sum(syy[jj], eyy[jj], dn * dn - r)
        syy[jj] = g
        eyy[jj] = h
        k, m = _two_sum(suy[jj], euy[jj], wn * dn - wo * do)
        suy[jj] = k
        euy[jj] = m
        s = p + q
        orow[jj] = _slope_value(n, a, b, s, k + m, minp)
        f = _rebuild_needed(s, n * (g + h) - s * s, r, n)
        flag[jj] = f
        rebuild |= f
    return rebuild


@inner
def _slope_rebuild(y, t, j, window, anchor, state, jj):
    lo = max(t - window + 1, 0)
    c = _last_valid(y, lo, t, j)
    n = su = suu = sy = ey = syy = eyy = suy = euy = 0.0
    for k in range(lo, t + 1):
        v = y[k, j]
        if abs(v) < _INF:
            u = float(k - anchor)
            n += 1.0
            su += u
            suu += u * u
            d = v - c
            sy, ey = _two_sum(sy, ey, d)
            syy, eyy = _two_sum(syy, eyy, d * d)
            suy, euy = _two_sum(suy, euy, u * d)
    _store(state, jj, (c, n, su, suu, sy, ey, syy, eyy, suy, euy))


@inner
def _slope_block(y, out, j0, j1, window, minp):
    nt = y.shape[0]
    nb = j1 - j0
    st = np.zeros((10, nb))
    state = (st[0], st[1], st[2], st[3], st[4], st[5], st[6], st[7], st[8], st[9])
    # state: c, cnt, su, suu, sy, ey, syy, eyy, suy, euy
    flag = np.zeros(nb, dtype=np.bool_)
    nanrow = np.full(nb, np.nan)
    period = _rebuild_period(window)
    anchor = 0
    for t in range(nt):
        yo = y[t - window, j0:j1] if t >= window else nanrow
        orow = out[t, j0:j1]
        un = float(t - anchor)
        uo = float(t - window - anchor)
        rebuild = _slope_row(y[t, j0:j1], yo, orow, flag, un, uo, state, minp)
        full = (t + 1) % period == 0
        if full:
            anchor = t
        if rebuild or full:
            _, cnt, su, suu, sy, ey, _, _, suy, euy = state
            for jj in range(nb):
                if full or flag[jj]:
                    _slope_rebuild(y, t, j0 + jj, window, anchor, state, jj)
                    orow[jj] = _slope_value(
                        cnt[jj], su[jj], suu[jj], sy[jj] + ey[jj], suy[jj] + euy[jj], minp
                    )


# --------------------------------------------------------------------------- beta / corr / residual
# Per column, the state of each variable v in (y, x) is (anchor, Σd, its error, Σd², its
# error) with d = v - anchor, over the rows where both variables are valid; plus the pair
# count and (Σdx·dy, its error). A row is processed in two passes over
# the block (the marginal sums; then count, cross sum and output): one fused loop touches 21
# arrays, more than LLVM's runtime alias checks accept, and is not vectorised; the two
# passes are.
@inner
def _pair_value(ok_t, dy_t, dx_t, cy, cx, n, sy, sx, syy, sxx, sxy, minp, stat):
    """Output of beta / corr / residual (y on x) from anchored sums."""
    dxx = n * sxx - sx * sx
    good = (n >= minp) & _nonconstant(dxx, sx, n, cx)
    dxy = n * sxy - sx * sy
    if stat == _BETA:
        return dxy / dxx if good else np.nan
    if stat == _CORR:
        dyy = n * syy - sy * sy
        r = dxy / np.sqrt(dxx * dyy)
        r = min(max(r, -1.0), 1.0)
        return r if good & _nonconstant(dyy, sy, n, cy) else np.nan
    b = dxy / dxx
    return ((n * dy_t - sy) - b * (n * dx_t - sx)) / n if good & ok_t else np.nan


@inner
def _pair_marginals(yr, xr, yo, xo, my, mx):
    """Pass 1: update Σd and Σd² of y and of x over the rows where both are valid."""
    cy, sy, ey, syy, eyy = my
    cx, sx, ex, sxx, exx = mx
    for jj in range(yr.shape[0]):
        yn = yr[jj]
        xn = xr[jj]
        okn = (abs(yn) < _INF) & (abs(xn) < _INF)
        yv = yo[jj]
        xv = xo[jj]
        oko = (abs(yv) < _INF) & (abs(xv) < _INF)
        cyj = cy[jj]
        cxj = cx[jj]
        dyn = yn - cyj if okn else 0.0
        dxn = xn - cxj if okn else 0.0
        dyo = yv - cyj if oko else 0.0
        dxo = xv - cxj if oko else 0.0
        sy[jj], ey[jj] = _two_sum(sy[jj], ey[jj], dyn - dyo)
        syy[jj], eyy[jj] = _two_sum(syy[jj], eyy[jj], dyn * dyn - dyo * dyo)
        sx[jj], ex[jj] = _two_sum(sx[jj], ex[jj], dxn - dxo)
        sxx[jj], exx[jj] = _two_sum(sxx[jj], exx[jj], dxn * dxn - dxo * dxo)


@inner
def _pair_cross(yr, xr, yo, xo, orow, flag, my, mx, cnt, cross, minp, stat):
    """Pass 2: pair count, Σdx·dy, output and rebuild flags; True if any flag."""
    cy, sy, ey, syy, eyy = my
    cx, sx, ex, sxx, exx = mx
    sxy, exy = cross
    rebuild = False
    for jj in range(yr.shape[0]):
        yn = yr[jj]
        xn = xr[jj]
        okn = (abs(yn) < _INF) & (abs(xn) < _INF)
        yv = yo[jj]
        xv = xo[jj]
        oko = (abs(yv) < _INF) & (abs(xv) < _INF)
        cyj = cy[jj]
        cxj = cx[jj]
        dyn = yn - cyj if okn else 0.0
        dxn = xn - cxj if okn else 0.0
        dyo = yv - cyj if oko else 0.0
        dxo = xv - cxj if oko else 0.0
        n = cnt[jj] + (1.0 if okn else 0.0) - (1.0 if oko else 0.0)
        cnt[jj] = n
        a, b = _two_sum(sxy[jj], exy[jj], dxn * dyn - dxo * dyo)
        sxy[jj] = a
        exy[jj] = b
        s_y = sy[jj] + ey[jj]
        s_x = sx[jj] + ex[jj]
        s_yy = syy[jj] + eyy[jj]
        s_xx = sxx[jj] + exx[jj]
        orow[jj] = _pair_value(okn, dyn, dxn, cyj, cxj, n, s_y, s_x, s_yy, s_xx, a + b, minp, stat)
        f = _rebuild_needed(s_x, n * s_xx - s_x * s_x, dxo * dxo, n) | _rebuild_needed(
            s_y, n * s_yy - s_y * s_y, dyo * dyo, n
        )
        flag[jj] = f
        rebuild |= f
    return rebuild


@inner
def _pair_rebuild(y, x, t, j, window, my, mx, cnt, cross, jj):
    """Recompute column ``jj``'s state for the window ending at row ``t`` (new anchors)."""
    lo = max(t - window + 1, 0)
    cy = 0.0
    cx = 0.0
    for k in range(t, lo - 1, -1):
        v = y[k, j]
        w = x[k, j]
        if (abs(v) < _INF) & (abs(w) < _INF):
            cy = v
            cx = w
            break
    n = 0.0
    sy = ey = sx = ex = syy = eyy = sxx = exx = sxy = exy = 0.0
    for k in range(lo, t + 1):
        v = y[k, j]
        w = x[k, j]
        if (abs(v) < _INF) & (abs(w) < _INF):
            n += 1.0
            dy = v - cy
            dx = w - cx
            sy, ey = _two_sum(sy, ey, dy)
            syy, eyy = _two_sum(syy, eyy, dy * dy)
            sx, ex = _two_sum(sx, ex, dx)
            sxx, exx = _two_sum(sxx, exx, dx * dx)
            sxy, exy = _two_sum(sxy, exy, dx * dy)
    _store(my, jj, (cy, sy, ey, syy, eyy))
    _store(mx, jj, (cx, sx, ex, sxx, exx))
    cnt[jj] = n
    cross[0][jj] = sxy
    cross[1][jj] = exy


@inner
def _pair_block(y, x, out, j0, j1, window, minp, stat):
    nt = y.shape[0]
    nb = j1 - j0
    st = np.zeros((13, nb))
    my = (st[0], st[1], st[2], st[3], st[4])  # anchor, Σd, its error, Σd², its error
    mx = (st[5], st[6], st[7], st[8], st[9])
    cross = (st[10], st[11])  # Σdx·dy, its error
    cnt = st[12]
    flag = np.zeros(nb, dtype=np.bool_)
    nanrow = np.full(nb, np.nan)
    period = _rebuild_period(window)
    for t in range(nt):
        yr = y[t, j0:j1]
        xr = x[t, j0:j1]
        old = t >= window
        yo = y[t - window, j0:j1] if old else nanrow
        xo = x[t - window, j0:j1] if old else nanrow
        orow = out[t, j0:j1]
        _pair_marginals(yr, xr, yo, xo, my, mx)
        rebuild = _pair_cross(yr, xr, yo, xo, orow, flag, my, mx, cnt, cross, minp, stat)
        full = (t + 1) % period == 0
        if rebuild or full:
            for jj in range(nb):
                if full or flag[jj]:
                    _pair_rebuild(y, x, t, j0 + jj, window, my, mx, cnt, cross, jj)
                    yn = yr[jj]
                    xn = xr[jj]
                    ok_t = (abs(yn) < _INF) & (abs(xn) < _INF)
                    cyj = my[0][jj]
                    cxj = mx[0][jj]
                    orow[jj] = _pair_value(
                        ok_t,
                        yn - cyj if ok_t else 0.0,
                        xn - cxj if ok_t else 0.0,
                        cyj,
                        cxj,
                        cnt[jj],
                        my[1][jj] + my[2][jj],
                        mx[1][jj] + mx[2][jj],
                        my[3][jj] + my[4][jj],
                        mx[3][jj] + mx[4][jj],
                        cross[0][jj] + cross[1][jj],
                        minp,
                        stat,
                    )


# --------------------------------------------------------------------------- 2-D wrappers
# Serial and ``nogil``: part ``part`` of ``nparts`` takes the blocks ``part, part + nparts,
# ...``; the Python API runs the parts on threads
# (:func:`etfflow.factors.kernels._run_blocks`). Each entry point loops over its blocks itself
# (no shared loop kernel in between: one level less for numba to compile and LLVM to
# optimise). ``j0`` is always an int64 value (the loop's, or ``_J0`` in the 1-D kernels), so
# each block kernel is compiled once per statistic (a literal 0 would add one).
@kernel
def rolling_pair_nb(y, x, out, window, minp, block, part, nparts, stat):
    """2-D rolling beta / corr / OLS residual of ``y`` on ``x`` (``stat``: int64 0 / 1 / 2).

    The one compiled entry point of the pair family: :func:`rolling_beta_nb`,
    :func:`rolling_corr_nb` and :func:`rolling_residual_nb` are plain Python calls of it, so a
    run that uses two of them compiles the family once.
    """
    nblock = (y.shape[1] + block - 1) // block
    for b in range(part, nblock, nparts):
        j0 = b * block
        _pair_block(y, x, out, j0, min(j0 + block, y.shape[1]), window, minp, stat)
    return out


@kernel
def rolling_sum_nb(x, out, window, minp, block, part=0, nparts=1):
    """2-D rolling sum into ``out`` (T, N), column blocks of width ``block``; this call does
    blocks ``part, part + nparts, ...`` (all by default).

    Reference twin: :func:`etfflow.factors.kernels_ref.rolling_sum`.
    """
    nblock = (x.shape[1] + block - 1) // block
    for b in range(part, nblock, nparts):
        j0 = b * block
        _sum_block(x, out, j0, min(j0 + block, x.shape[1]), window, minp, _SUM)
    return out


@kernel
def rolling_mean_nb(x, out, window, minp, block, part=0, nparts=1):
    """2-D rolling mean; reference twin :func:`etfflow.factors.kernels_ref.rolling_mean`."""
    nblock = (x.shape[1] + block - 1) // block
    for b in range(part, nblock, nparts):
        j0 = b * block
        _sum_block(x, out, j0, min(j0 + block, x.shape[1]), window, minp, _MEAN)
    return out


@kernel
def rolling_std_nb(x, out, window, minp, ddof, block, part=0, nparts=1):
    """2-D rolling std; reference twin :func:`etfflow.factors.kernels_ref.rolling_std`."""
    nblock = (x.shape[1] + block - 1) // block
    for b in range(part, nblock, nparts):
        j0 = b * block
        _moments_block(x, out, j0, min(j0 + block, x.shape[1]), window, minp, ddof, _STD)
    return out


@kernel
def rolling_zscore_nb(x, out, window, minp, ddof, block, part=0, nparts=1):
    """2-D rolling z-score; reference twin :func:`etfflow.factors.kernels_ref.rolling_zscore`."""
    nblock = (x.shape[1] + block - 1) // block
    for b in range(part, nblock, nparts):
        j0 = b * block
        _moments_block(x, out, j0, min(j0 + block, x.shape[1]), window, minp, ddof, _ZSCORE)
    return out


@kernel
def rolling_slope_nb(y, out, window, minp, block, part=0, nparts=1):
    """2-D rolling slope on time; twin :func:`etfflow.factors.kernels_ref.rolling_slope`."""
    nblock = (y.shape[1] + block - 1) // block
    for b in range(part, nblock, nparts):
        j0 = b * block
        _slope_block(y, out, j0, min(j0 + block, y.shape[1]), window, minp)
    return out


def _pair_entry(stat: int, swap: bool, name: str, doc: str) -> Callable[..., np.ndarray]:
    """A plain-Python 2-D entry point of one pair statistic: ``rolling_pair_nb`` with
    ``stat`` (``swap``: the entry takes ``(x, y)`` like the correlation)."""

    def entry(
        a: np.ndarray,
        b: np.ndarray,
        out: np.ndarray,
        window: int,
        minp: int,
        block: int,
        part: int = 0,
        nparts: int = 1,
    ) -> np.ndarray:
        y, x = (b, a) if swap else (a, b)
        return rolling_pair_nb(y, x, out, window, minp, block, part, nparts, _PAIR_STAT[stat])

    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = doc
    return entry


rolling_beta_nb = _pair_entry(
    _BETA,
    False,
    "rolling_beta_nb",
    "2-D rolling beta of y on x, ``(y, x, out, ...)``; twin "
    ":func:`etfflow.factors.kernels_ref.rolling_beta`.",
)
rolling_corr_nb = _pair_entry(
    _CORR,
    True,
    "rolling_corr_nb",
    "2-D rolling correlation, ``(x, y, out, ...)``; twin "
    ":func:`etfflow.factors.kernels_ref.rolling_corr`.",
)
rolling_residual_nb = _pair_entry(
    _RESIDUAL,
    False,
    "rolling_residual_nb",
    "2-D rolling OLS residual of y on x, ``(y, x, out, ...)``; twin "
    ":func:`etfflow.factors.kernels_ref.rolling_residual`.",
)


# --------------------------------------------------------------------------- 1-D kernels
@inner
def _col(a):
    return np.ascontiguousarray(a).reshape((a.shape[0], 1))


@kernel
def rolling_sum_1d_nb(x, window, minp):
    """Rolling sum of one series (the 2-D kernel on a one-column view: the block kernels
    keep one specialisation per statistic)."""
    out = np.empty(x.shape[0])
    _sum_block(_col(x), out.reshape((x.shape[0], 1)), _J0, _J1, window, minp, _SUM)
    return out


@kernel
def rolling_mean_1d_nb(x, window, minp):
    """Rolling mean of one series."""
    out = np.empty(x.shape[0])
    _sum_block(_col(x), out.reshape((x.shape[0], 1)), _J0, _J1, window, minp, _MEAN)
    return out


@kernel
def rolling_std_1d_nb(x, window, minp, ddof):
    """Rolling standard deviation of one series."""
    out = np.empty(x.shape[0])
    _moments_block(_col(x), out.reshape((x.shape[0], 1)), _J0, _J1, window, minp, ddof, _STD)
    return out


@kernel
def rolling_zscore_1d_nb(x, window, minp, ddof):
    """Rolling z-score of one series."""
    out = np.empty(x.shape[0])
    out2 = out.reshape((x.shape[0], 1))
    _moments_block(_col(x), out2, _J0, _J1, window, minp, ddof, _ZSCORE)
    return out


@kernel
def rolling_slope_1d_nb(y, window, minp):
    """Rolling OLS slope of one series on its row index."""
    out = np.empty(y.shape[0])
    _slope_block(_col(y), out.reshape((y.shape[0], 1)), _J0, _J1, window, minp)
    return out


@kernel
def rolling_beta_1d_nb(y, x, window, minp):
    """Rolling OLS beta of one series on another."""
    out = np.empty(y.shape[0])
    rolling_pair_nb(
        _col(y), _col(x), out.reshape((y.shape[0], 1)), window, minp, _J1, _J0, _J1, np.int64(_BETA)
    )
    return out


@kernel
def rolling_corr_1d_nb(x, y, window, minp):
    """Rolling Pearson correlation of two series."""
    out = np.empty(y.shape[0])
    rolling_pair_nb(
        _col(y), _col(x), out.reshape((y.shape[0], 1)), window, minp, _J1, _J0, _J1, np.int64(_CORR)
    )
    return out


@kernel
def rolling_residual_1d_nb(y, x, window, minp):
    """Rolling OLS residual of one series on another."""
    out = np.empty(y.shape[0])
    out2 = out.reshape((y.shape[0], 1))
    rolling_pair_nb(_col(y), _col(x), out2, window, minp, _J1, _J0, _J1, np.int64(_RESIDUAL))
    return out

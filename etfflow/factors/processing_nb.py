"""numba kernels of the cross-sectional processing steps.

Definition: docs/methodology.md#4-cross-sectional-processing.

Every kernel works on one date (a row of a ``(dates, stocks)`` panel) and has a thin 2-D
wrapper that runs the rows ``lo:hi`` (serial, ``nogil``: :mod:`etfflow.factors.processing`
runs row ranges on threads). Non-finite values (NaN, ±inf) are
missing. Each 2-D wrapper writes into ``out``, which may be the input array itself (the
kernels read a row completely before they overwrite a cell of it), so that
:func:`etfflow.factors.processing_pipeline.apply_steps` can run a whole pipeline in one buffer.

No ``np.linalg`` here (numba's needs SciPy): the small normal equations of the
neutralisation are solved by a Cholesky factorisation written out below.

Reference twins: :mod:`etfflow.factors.processing_ref` (plain NumPy, one date at a time,
``np.linalg.lstsq`` on the explicit design matrix), compared in
``tests/factors/test_processing.py``.
"""

from __future__ import annotations

import numpy as np
from numba.core.types import boolean, int64

from etfflow._jit import inner, kernel

#: Consistency constant that turns the MAD into a standard-deviation estimate (normal data).
MAD_SCALE = 1.4826
#: A regressor is dropped (collinear) when its Cholesky pivot is below this share of its
#: (industry-demeaned) sum of squares ...
PIVOT_RTOL = 1e-10
#: ... or when its industry-demeaned sum of squares is below this share of its raw sum of
#: squares (numerically constant inside every industry).
CONST_RTOL = 1e-20


# --------------------------------------------------------------------------- selection

#: XOR mask turning the bits of a float64 into an int64 with the same order (and back).
_SIGNLESS = 0x7FFFFFFFFFFFFFFF
#: Bins per level of the radix selection (at most; fewer for few candidates).
_NBINS = 256
#: Below this many candidates the selection finishes with an insertion sort.
_SMALL = 24


@inner
def _insertion_sort(a: np.ndarray, m: int) -> None:
    for r in range(1, m):
        v = a[r]
        q = r - 1
        while q >= 0 and a[q] > v:
            a[q + 1] = a[q]
            q -= 1
        a[q + 1] = v


@kernel(locals={"m": int64, "c": int64})
def select_pair(a: np.ndarray, m: int, k: int, counts: np.ndarray):
    """The ``k``-th and ``(k-1)``-th smallest (0-based) of the finite floats ``a[:m]``.

    Radix-style selection: each level bins the candidates into at most :data:`_NBINS` bins
    and keeps the bin holding rank ``k``, remembering the largest value left below it (the
    second result; ``-inf`` when ``k == 0``). Bins are linear in the value while that splits
    well; after a poor split (outliers, a huge range) they are linear in the float's bit
    pattern, i.e. logarithmic in the value, which bounds the number of levels. O(m)
    expected, no comparison sort (branch mispredictions make quickselect ~4x slower here).
    ``a`` is overwritten; ``counts`` is int64 scratch of length :data:`_NBINS`.
    """
    below_max = -np.inf
    linear = True
    while True:
        if m <= _SMALL:
            _insertion_sort(a, m)
            return a[k], (a[k - 1] if k >= 1 else below_max)
        nbins = _NBINS
        while nbins > 16 and 2 * nbins > m:
            nbins >>= 1
        lo = a[0]
        hi = a[0]
        for r in range(1, m):
            v = a[r]
            lo = min(lo, v)
            hi = max(hi, v)
        if lo == hi:
            return lo, (lo if k >= 1 else below_max)
        inv = nbins / (hi - lo)
        if linear and np.isfinite(inv):
            counts[:nbins] = 0
            for r in range(m):
                counts[min(np.int64((a[r] - lo) * inv), np.int64(nbins - 1))] += 1
            below = 0
            b = 0
            while below + counts[b] <= k:
                below += counts[b]
                b += 1
            c = 0
            for r in range(m):
                v = a[r]
                bv = min(np.int64((v - lo) * inv), np.int64(nbins - 1))
                a[c] = v
                c += bv == b
                below_max = max(below_max, v if bv < b else -np.inf)
            linear = 2 * c <= m
        else:
            kb = a[:m].view(np.int64)
            klo = kb[0] ^ ((kb[0] >> 63) & _SIGNLESS)
            khi = klo
            for r in range(1, m):
                key = kb[r] ^ ((kb[r] >> 63) & _SIGNLESS)
                klo = min(klo, key)
                khi = max(khi, key)
            sh = 0
            if (klo < 0) != (khi < 0) and float(khi) - float(klo) > 1e18:
                sh = 1  # khi - klo could overflow int64
            while (khi >> sh) - (klo >> sh) >= nbins:
                sh += 1
            base = klo >> sh
            counts[:nbins] = 0
            for r in range(m):
                counts[((kb[r] ^ ((kb[r] >> 63) & _SIGNLESS)) >> sh) - base] += 1
            below = 0
            b = 0
            while below + counts[b] <= k:
                below += counts[b]
                b += 1
            c = 0
            for r in range(m):
                bits = kb[r]
                bv = ((bits ^ ((bits >> 63) & _SIGNLESS)) >> sh) - base
                kb[c] = bits
                c += bv == b
                below_max = max(below_max, a[r] if bv < b else -np.inf)
        k -= below
        m = c


@kernel
def median_inplace(buf: np.ndarray, m: int, counts: np.ndarray) -> float:
    """Median of the finite floats ``buf[:m]`` (mean of the two middle values when ``m`` is
    even, like ``np.median``); ``buf`` is overwritten, ``counts`` is scratch."""
    if m == 0:
        return np.nan
    hi, lo = select_pair(buf, m, m // 2, counts)
    if m % 2 == 1:
        return hi
    return (lo + hi) / 2.0


# --------------------------------------------------------------------------- winsorise


@inner(locals={"m": int64})
def winsorize_mad_1d(x: np.ndarray, k: float, scaled: bool, out: np.ndarray) -> None:
    """Clip one date to ``median ± k·MAD``; twin ``winsorize_mad_ref``.

    Definition: docs/methodology.md#42-winsorise.

    ``MAD = median(|x - median(x)|)`` over the finite values, times 1.4826 if ``scaled``.
    A row whose MAD is 0 is left unchanged (no band can be formed); missing stays NaN.
    """
    n = x.shape[0]
    buf = np.empty(n, dtype=np.float64)
    counts = np.empty(_NBINS, dtype=np.int64)
    m = 0
    for i in range(n):
        v = x[i]
        buf[m] = v
        m += np.isfinite(v)
    if m == 0:
        for i in range(n):
            out[i] = np.nan
        return
    med = median_inplace(buf, m, counts)
    r = 0
    for i in range(n):
        v = x[i]
        buf[r] = abs(v - med)
        r += np.isfinite(v)
    mad = median_inplace(buf, m, counts)
    if scaled:
        mad = mad * MAD_SCALE
    lo = med - k * mad
    hi = med + k * mad
    clip = mad > 0.0
    for i in range(n):
        v = x[i]
        if not np.isfinite(v):
            out[i] = np.nan
        elif clip:
            out[i] = lo if v < lo else (hi if v > hi else v)
        else:
            out[i] = v


@kernel
def winsorize_mad_2d(
    x: np.ndarray, k: float, scaled: bool, out: np.ndarray, lo: int, hi: int
) -> None:
    """:func:`winsorize_mad_1d` on the rows ``lo:hi`` of ``x``."""
    for t in range(lo, hi):
        winsorize_mad_1d(x[t], k, scaled, out[t])


# --------------------------------------------------------------------------- fill


@inner
def fill_group_median_1d(
    x: np.ndarray,
    g: np.ndarray,
    n_groups: int,
    u: np.ndarray,
    has_u: bool,
    out: np.ndarray,
) -> None:
    """Fill one date's missing cells with the median of their group (docs/methodology.md#43-fill).

    Twin ``fill_group_median_ref``. Medians use the finite cells of the group inside the
    universe ``u`` (all cells when ``has_u`` is False); a missing cell inside the universe
    with a group id ``>= 0`` gets its group's median (NaN when the group has no value);
    cells outside the universe become NaN.
    """
    n = x.shape[0]
    cnt = np.zeros(n_groups + 1, dtype=np.int64)
    need = np.zeros(n_groups, dtype=np.bool_)
    any_need = False
    for i in range(n):
        if has_u and not u[i]:
            continue
        gi = g[i]
        if gi < 0:
            continue
        if np.isfinite(x[i]):
            cnt[gi + 1] += 1
        else:
            need[gi] = True
            any_need = True
    med = np.full(n_groups, np.nan)
    if any_need:
        scratch = np.empty(_NBINS, dtype=np.int64)
        # counting sort of the values of the groups that need a median
        for gg in range(n_groups):
            if not need[gg]:
                cnt[gg + 1] = 0
        start = np.cumsum(cnt)
        pos = start[:-1].copy()
        buf = np.empty(start[-1], dtype=np.float64)
        for i in range(n):
            if has_u and not u[i]:
                continue
            gi = g[i]
            if gi >= 0 and need[gi] and np.isfinite(x[i]):
                buf[pos[gi]] = x[i]
                pos[gi] += 1
        for gg in range(n_groups):
            if need[gg] and start[gg + 1] > start[gg]:
                med[gg] = median_inplace(
                    buf[start[gg] : start[gg + 1]], start[gg + 1] - start[gg], scratch
                )
    for i in range(n):
        if has_u and not u[i]:
            out[i] = np.nan
            continue
        v = x[i]
        if np.isfinite(v):
            out[i] = v
        else:
            gi = g[i]
            out[i] = med[gi] if gi >= 0 else np.nan


@kernel
def fill_group_median_2d(
    x: np.ndarray,
    g: np.ndarray,
    n_groups: int,
    u: np.ndarray,
    has_u: bool,
    out: np.ndarray,
    lo: int,
    hi: int,
) -> None:
    """:func:`fill_group_median_1d` on the rows ``lo:hi`` (``u`` may be ``(1, N)`` when
    ``has_u`` is False)."""
    for t in range(lo, hi):
        ut = u[t] if has_u else u[0]
        fill_group_median_1d(x[t], g[t], n_groups, ut, has_u, out[t])


# --------------------------------------------------------------------------- z-score


@inner
def zscore_1d(x: np.ndarray, out: np.ndarray) -> None:
    """``(x - mean) / std`` over one date's finite values, sample std (ddof=1).

    Definition: docs/methodology.md#44-z-score.

    Twin ``zscore_ref``. Fewer than two values or all values equal (std 0) give an all-NaN
    row (never inf). The mean is taken about the first value (shifted sums) so a large common
    offset (1e8) does not cost precision.
    """
    n = x.shape[0]
    m = 0
    shift = 0.0
    s = 0.0
    for i in range(n):
        v = x[i]
        if np.isfinite(v):
            if m == 0:
                shift = v
            s += v - shift
            m += 1
    mean = shift + s / m if m > 0 else 0.0
    ss = 0.0
    for i in range(n):
        v = x[i]
        if np.isfinite(v):
            d = v - mean
            ss += d * d
    # a constant row has s == 0 exactly (sums about its first value), so ss == 0 exactly
    if m < 2 or ss == 0.0:
        for i in range(n):
            out[i] = np.nan
        return
    sd = np.sqrt(ss / (m - 1))
    for i in range(n):
        v = x[i]
        out[i] = (v - mean) / sd if np.isfinite(v) else np.nan


@kernel
def zscore_2d(x: np.ndarray, out: np.ndarray, lo: int, hi: int) -> None:
    """:func:`zscore_1d` on the rows ``lo:hi``."""
    for t in range(lo, hi):
        zscore_1d(x[t], out[t])


# --------------------------------------------------------------------------- OLS residual


@inner
def _cholesky_solve_drop(s: np.ndarray, rhs: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Solve ``s @ b = rhs`` (symmetric PSD ``s``) dropping collinear columns (their b = 0).

    Column ``j`` is dropped when its pivot is ``<= PIVOT_RTOL * s[j, j]`` or when
    ``s[j, j] <= CONST_RTOL * raw[j]``, in column order (earlier columns win).
    """
    p = s.shape[0]
    lo = np.zeros((p, p))
    keep = np.zeros(p, dtype=np.bool_)
    for j in range(p):
        sjj = s[j, j]
        if sjj <= 0.0 or sjj <= CONST_RTOL * raw[j]:
            continue
        d = sjj
        for q in range(j):
            d -= lo[j, q] * lo[j, q]
        if d <= PIVOT_RTOL * sjj:
            continue
        keep[j] = True
        ljj = np.sqrt(d)
        lo[j, j] = ljj
        for i in range(j + 1, p):
            a = s[i, j]
            for q in range(j):
                a -= lo[i, q] * lo[j, q]
            lo[i, j] = a / ljj
    w = np.zeros(p)
    for j in range(p):
        if keep[j]:
            a = rhs[j]
            for q in range(j):
                a -= lo[j, q] * w[q]
            w[j] = a / lo[j, j]
    b = np.zeros(p)
    for j in range(p - 1, -1, -1):
        if keep[j]:
            a = w[j]
            for q in range(j + 1, p):
                a -= lo[q, j] * b[q]
            b[j] = a / lo[j, j]
    return b


@inner
def ols_residual_1d(
    y: np.ndarray,
    g: np.ndarray,
    has_g: bool,
    n_groups: int,
    c: np.ndarray,
    b: np.ndarray,
    has_b: bool,
    n_boards: int,
    out: np.ndarray,
) -> None:
    """Residual of one date's OLS ``y = industry dummies + c·β + board dummies + e``.

    Twin ``ols_residual_ref``. ``g`` industry ids (one group when ``has_g`` is False: the
    intercept), ``c`` the ``(p, N)`` continuous regressors (log float cap, controls), ``b``
    board ids (no board dummies when ``has_b`` is False). A cell takes part when ``y`` and
    every ``c`` are finite and its ids are ``>= 0``; other cells get NaN.

    Notes
    -----
    Industry dummies together span the intercept, so the regression is solved through the
    Frisch-Waugh-Lovell theorem: ``y`` and ``c`` are demeaned within industries, and a
    board dummy enters only through the industry × board count table ``C`` (its demeaned
    value is ``1[b=k] - C[g,k]/n_g``), so its cross-products are sums over the cells of the
    table. One date costs three passes over its stocks plus a ``(p + boards)²`` system.
    The first board present that date is the reference (dropped); empty industries and
    boards contribute nothing; collinear regressors are dropped (see
    :func:`_cholesky_solve_drop`). With ``k = industries present + p + boards present - 1``
    regressors, a date with fewer than ``k + 1`` valid cells is all NaN.
    """
    n = y.shape[0]
    p = c.shape[0]
    ng = n_groups if has_g else 1
    nb = n_boards if has_b else 1
    ncell = ng * nb
    w = p + 1
    # (industry, board) cell of each valid stock, -1 if not valid; column by column
    cl = np.empty(n, dtype=np.int64)
    for i in range(n):
        gi = g[i] if has_g else 0
        bi = b[i] if has_b else 0
        ok = np.isfinite(y[i]) and gi >= 0 and bi >= 0
        cl[i] = gi * nb + bi if ok else -1
    for j in range(p):
        cj = c[j]
        for i in range(n):
            if not np.isfinite(cj[i]):
                cl[i] = -1
    idx = np.empty(n, dtype=np.int64)
    cell = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        k = cl[i]
        idx[m] = i
        cell[m] = k
        m += k >= 0
    for i in range(n):
        if cl[i] < 0:
            out[i] = np.nan
    if m == 0:
        return
    # counts per cell, per industry, per board
    cnt = np.zeros(ncell)
    for r in range(m):
        cnt[cell[r]] += 1.0
    cnt_g = np.zeros(ng)
    cnt_b = np.zeros(nb)
    for gg in range(ng):
        for k in range(nb):
            cnt_g[gg] += cnt[gg * nb + k]
            cnt_b[k] += cnt[gg * nb + k]
    n_ind = 0
    for gg in range(ng):
        if cnt_g[gg] > 0:
            n_ind += 1
    # board column of each board id: -1 for the reference (first present) and absent boards
    bcol = np.full(nb, -1, dtype=np.int64)
    q = 0
    seen = False
    for k in range(nb):
        if cnt_b[k] > 0:
            if seen:
                bcol[k] = q
                q += 1
            seen = True
    if m < n_ind + p + q + 1:
        for r in range(m):
            out[idx[r]] = np.nan
        return
    # values about the first valid cell (keeps precision under a large common offset) and
    # their sums per cell; column 0 is y, columns 1..p the continuous regressors
    dv = np.empty((w, m))
    acc = np.zeros((w, ncell))
    raw = np.zeros(w)
    for j in range(w):
        src = y if j == 0 else c[j - 1]
        dj = dv[j]
        aj = acc[j]
        sj = src[idx[0]]
        rw = 0.0
        for r in range(m):
            v = src[idx[r]]
            rw += v * v
            d = v - sj
            dj[r] = d
            aj[cell[r]] += d
        raw[j] = rw
    # industry means; per cell, the sum of the demeaned values
    mean = np.zeros((w, ncell))
    for gg in range(ng):
        if cnt_g[gg] == 0:
            continue
        for j in range(w):
            a = 0.0
            for k in range(nb):
                a += acc[j, gg * nb + k]
            mu = a / cnt_g[gg]
            for k in range(nb):
                cl0 = gg * nb + k
                mean[j, cl0] = mu
                acc[j, cl0] -= cnt[cl0] * mu
    for j in range(w):
        dj = dv[j]
        mj = mean[j]
        for r in range(m):
            dj[r] -= mj[cell[r]]
    # normal equations: continuous block by dot products, board block from the cell table
    # (demeaned dummy k = 1[b=k] - C[g,k]/n_g)
    kk = p + q
    s = np.zeros((kk, kk))
    rhs = np.zeros(kk)
    d0 = dv[0]
    for j in range(p):
        dj = dv[j + 1]
        a = 0.0
        for r in range(m):
            a += dj[r] * d0[r]
        rhs[j] = a
        for jj in range(j + 1):
            djj = dv[jj + 1]
            a = 0.0
            for r in range(m):
                a += dj[r] * djj[r]
            s[j, jj] = a
    for gg in range(ng):
        ngg = cnt_g[gg]
        if ngg == 0:
            continue
        for k in range(nb):
            ck = bcol[k]
            cgk = cnt[gg * nb + k]
            if ck < 0 or cgk == 0.0:
                continue
            rhs[p + ck] += acc[0, gg * nb + k]
            for j in range(p):
                s[p + ck, j] += acc[j + 1, gg * nb + k]
            s[p + ck, p + ck] += cgk
            for k2 in range(nb):
                cl2 = bcol[k2]
                if cl2 >= 0 and cl2 <= ck:
                    s[p + ck, p + cl2] -= cgk * cnt[gg * nb + k2] / ngg
    for j in range(kk):
        for jj in range(j):
            s[jj, j] = s[j, jj]
    scale = np.empty(kk)
    for j in range(p):
        scale[j] = raw[j + 1]
    for k in range(nb):
        if bcol[k] >= 0:
            scale[p + bcol[k]] = cnt_b[k]
    beta = _cholesky_solve_drop(s, rhs, scale)
    # per-cell constant of the residual: -beta_k (own board) + sum_k beta_k C[g,k]/n_g
    const = np.zeros(ncell)
    if q > 0:
        for gg in range(ng):
            if cnt_g[gg] == 0:
                continue
            a = 0.0
            for k in range(nb):
                if bcol[k] >= 0:
                    a += beta[p + bcol[k]] * cnt[gg * nb + k]
            a /= cnt_g[gg]
            for k in range(nb):
                const[gg * nb + k] = a - (beta[p + bcol[k]] if bcol[k] >= 0 else 0.0)
        for r in range(m):
            d0[r] += const[cell[r]]
    for j in range(p):
        dj = dv[j + 1]
        bj = beta[j]
        for r in range(m):
            d0[r] -= bj * dj[r]
    for r in range(m):
        out[idx[r]] = d0[r]


@kernel
def ols_residual_2d(
    y: np.ndarray,
    g: np.ndarray,
    has_g: bool,
    n_groups: int,
    c: np.ndarray,
    b: np.ndarray,
    has_b: bool,
    n_boards: int,
    out: np.ndarray,
    lo: int,
    hi: int,
) -> None:
    """:func:`ols_residual_1d` on the rows ``lo:hi``; ``c`` is ``(p, T, N)``; ``g`` / ``b``
    may be ``(1, N)`` placeholders when ``has_g`` / ``has_b`` is False."""
    for t in range(lo, hi):
        gt = g[t] if has_g else g[0]
        bt = b[t] if has_b else b[0]
        ols_residual_1d(y[t], gt, has_g, n_groups, c[:, t, :], bt, has_b, n_boards, out[t])


# --------------------------------------------------------------------------- pipeline

#: Step codes of :func:`pipeline_2d`, in the order of
#: docs/methodology.md#4-cross-sectional-processing.
UNIVERSE, WINSOR, FILL, ZSCORE, NEUTRALIZE, STRIP = 0, 1, 2, 3, 4, 5


@kernel(locals={"no_ids": boolean, "one": int64})
def pipeline_2d(
    x: np.ndarray,
    codes: np.ndarray,
    k: float,
    scaled: bool,
    u: np.ndarray,
    has_u: bool,
    g: np.ndarray,
    has_g: bool,
    n_groups: int,
    cn: np.ndarray,
    neut_g: bool,
    b: np.ndarray,
    neut_b: bool,
    n_boards: int,
    cs: np.ndarray,
    out: np.ndarray,
    lo: int,
    hi: int,
) -> None:
    """Run the steps ``codes`` (see :data:`UNIVERSE` ...) on the rows ``lo:hi``.

    One date goes through all steps while it is in cache, in ``out[t]``. ``u``: universe
    (``has_u``; the ``universe`` step and ``fill`` use it); ``g``: industry ids (``has_g``;
    ``fill``, and ``neutralize`` when ``neut_g``); ``cn``: ``(p, T, N)`` continuous
    regressors of ``neutralize`` (log cap); ``b``: board ids of ``neutralize`` when
    ``neut_b``; ``cs``: ``(p, T, N)`` controls of ``strip``. Placeholders of shape
    ``(1, N)`` stand in for arrays a pipeline does not use. Same results as the single-step
    wrappers one after the other.
    """
    # typed (not literal) flags for ``strip``: literal False / 1 compile ols_residual_1d twice
    no_ids = False
    one = 1
    for t in range(lo, hi):
        row = out[t]
        src = x[t]
        ut = u[t] if has_u else u[0]
        gt = g[t] if has_g else g[0]
        bt = b[t] if neut_b else b[0]
        first = True
        for code in codes:
            inp = src if first else row
            if code == UNIVERSE:
                for i in range(row.shape[0]):
                    row[i] = inp[i] if ut[i] else np.nan
            elif code == WINSOR:
                winsorize_mad_1d(inp, k, scaled, row)
            elif code == FILL:
                fill_group_median_1d(inp, gt, n_groups, ut, has_u, row)
            elif code == ZSCORE:
                zscore_1d(inp, row)
            elif code == NEUTRALIZE:
                ols_residual_1d(inp, gt, neut_g, n_groups, cn[:, t, :], bt, neut_b, n_boards, row)
            else:
                ols_residual_1d(inp, gt, no_ids, one, cs[:, t, :], bt, no_ids, one, row)
            first = False
        if first:
            # a loop, not ``row[:] = src``: the slice assignment compiles numba's
            # shape-mismatch error message (string formatting), ~1 s of a first run
            for i in range(row.shape[0]):
                row[i] = src[i]

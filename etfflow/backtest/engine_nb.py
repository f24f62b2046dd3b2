"""numba kernels of the evaluation engine (docs/methodology.md#5-backtests).

Three kernels do the work of :func:`etfflow.backtest.engine.evaluate`:

- :func:`period_growth` — per asset, the compounded growth ``prod(1 + r)`` from the start of
  the holding period that contains day ``d`` to ``d`` (shared by all factors);
- :func:`cross_sections` — per rebalance date: Pearson and Spearman IC
  and the quantile group of every eligible asset (:func:`cross_section_1d`);
- :func:`simulate_groups` — the buy-and-hold portfolio path of every group through all
  periods with trading rules (:func:`rebalance_1d`; one pass over the growth panel).

Reference twin: :mod:`etfflow.backtest.engine_ref` (plain loops over the same definitions),
compared in ``tests/backtest/test_engine.py``.
"""

from __future__ import annotations

import math

import numpy as np

from etfflow._jit import inner, kernel

#: Columns per chunk of :func:`period_growth`.
_CHUNK = 256
#: Locked weight above ``1 - _FULL_TOL`` leaves nothing to invest in new names.
_FULL_TOL = 1e-12


@inner
def period_growth_1d(r, starts, ends, lo, hi, out):
    """Growth of columns ``lo:hi``: ``out[d] = prod_{a<j<=d}(1 + r[j])`` for ``a < d <= b``.

    ``r`` is ``(T, M)`` daily returns, a NaN return counts as 0. Rows outside every period
    are left as they are.
    """
    for k in range(starts.shape[0]):
        a = starts[k]
        for j in range(lo, hi):
            x = r[a + 1, j]
            out[a + 1, j] = 1.0 + x if x == x else 1.0
        for d in range(a + 2, ends[k] + 1):
            for j in range(lo, hi):
                x = r[d, j]
                out[d, j] = out[d - 1, j] * (1.0 + x) if x == x else out[d - 1, j]


@kernel
def period_growth(r, starts, ends):
    """(T, M) growth since each period's start (:func:`period_growth_1d`), chunk by
    chunk of columns; NaN outside the periods. Periods ``(starts[k], ends[k]]`` must be disjoint
    and increasing."""
    t, m = r.shape
    out = np.empty((t, m))
    out[: starts[0] + 1] = np.nan
    out[ends[-1] + 1 :] = np.nan
    n_chunks = (m + _CHUNK - 1) // _CHUNK
    for c in range(n_chunks):
        lo = c * _CHUNK
        period_growth_1d(r, starts, ends, lo, min(m, lo + _CHUNK), out)
    return out


@kernel
def _pearson(x, y):
    n = x.shape[0]
    if n < 2:
        return np.nan
    mx = 0.0
    my = 0.0
    for i in range(n):
        mx += x[i]
        my += y[i]
    mx /= n
    my /= n
    sxy = 0.0
    sxx = 0.0
    syy = 0.0
    for i in range(n):
        dx = x[i] - mx
        dy = y[i] - my
        sxy += dx * dy
        sxx += dx * dx
        syy += dy * dy
    if sxx <= 0.0 or syy <= 0.0:
        return np.nan
    return sxy / math.sqrt(sxx * syy)


#: Run length of the insertion sort that starts :func:`_argsort_stable`.
_RUN = 16


@inner
def _argsort_stable(x):
    """Indices that sort ``x`` ascending, ties in index order, NaN last (insertion-sorted runs,
    then bottom-up merges of (value, index) pairs; ``np.argsort(x, kind="stable")``). Written
    out because numba's own sorts cost ~1 s of compiling on a first run."""
    n = x.shape[0]
    a = np.empty(n, dtype=np.int64)
    b = np.empty(n, dtype=np.int64)
    va = np.empty(n)
    vb = np.empty(n)
    # NaN as +inf after every +inf: keys compare as (value, nan flag, index)
    for lo in range(0, n, _RUN):
        hi = min(lo + _RUN, n)
        for i in range(lo, hi):
            v = x[i]
            q = i - 1
            while q >= lo and (va[q] > v or (v == v and va[q] != va[q])):
                va[q + 1] = va[q]
                a[q + 1] = a[q]
                q -= 1
            va[q + 1] = v
            a[q + 1] = i
    width = _RUN
    while width < n:
        lo = 0
        while lo < n:
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i = lo
            j = mid
            k = lo
            while i < mid and j < hi:
                xi = va[i]
                xj = va[j]
                # the right one first only when strictly smaller (stable); NaN is largest
                if xj < xi or (xi != xi and xj == xj):
                    vb[k] = xj
                    b[k] = a[j]
                    j += 1
                else:
                    vb[k] = xi
                    b[k] = a[i]
                    i += 1
                k += 1
            while i < mid:
                vb[k] = va[i]
                b[k] = a[i]
                i += 1
                k += 1
            while j < hi:
                vb[k] = va[j]
                b[k] = a[j]
                j += 1
                k += 1
            lo = hi
        a, b = b, a
        va, vb = vb, va
        width *= 2
    return a


@kernel
def _average_ranks(x):
    """1-based ranks of ``x`` with ties given their average rank; also the (stable) sort
    order."""
    n = x.shape[0]
    order = _argsort_stable(x)
    ranks = np.empty(n)
    j = 0
    while j < n:
        k = j
        v = x[order[j]]
        while k + 1 < n and x[order[k + 1]] == v:
            k += 1
        r = (j + k) / 2.0 + 1.0
        for m in range(j, k + 1):
            ranks[order[m]] = r
        j = k + 1
    return ranks, order


@kernel
def qcut_labels(xs, ranks_sorted, qs, out):
    """Quantile labels (0-based) of sorted values ``xs``, as ``pd.qcut(x, G, labels=False)``.

    Edges are ``np.quantile(x, qs, method="linear")`` computed with NumPy's exact arithmetic
    (virtual index ``(n-1)*q``; ``_lerp``); a value's label is ``searchsorted(edges, x,
    "left") - 1`` with the minimum in label 0 (pandas ``include_lowest``). When two edges are
    equal (pandas would raise "Bin edges must be unique"), labels come from the average
    rank instead: ``max(ceil((rank - 1) * G / (n - 1)) - 1, 0)``, which is the same rule
    on distinct values. Returns True when the pandas edges were used.
    """
    n = xs.shape[0]
    g = qs.shape[0] - 1
    edges = np.empty(g + 1)
    for q in range(g + 1):
        v = (n - 1) * qs[q]
        if v >= n - 1:
            edges[q] = xs[n - 1]
        else:
            p = math.floor(v)
            gamma = v - p
            a = xs[p]
            b = xs[p + 1]
            diff = b - a
            if gamma >= 0.5:
                edges[q] = b - diff * (1.0 - gamma)
            else:
                edges[q] = a + diff * gamma
    unique = True
    for i in range(g + 1):
        for j in range(i + 1, g + 1):
            if edges[i] == edges[j]:
                unique = False
    if unique:
        e = 0
        for j in range(n):
            x = xs[j]
            while e < g and edges[e] < x:
                e += 1
            out[j] = max(e - 1, 0)
    else:
        for j in range(n):
            if n == 1:
                out[j] = 0
            else:
                out[j] = max(math.ceil((ranks_sorted[j] - 1.0) * g / (n - 1)) - 1, 0)
    return unique


@inner
def cross_section_1d(f, y, ok, qs, grp):
    """IC, Rank IC, count and groups of one rebalance date.

    ``f`` factor values, ``y`` next-period returns, ``ok`` eligibility (universe); assets
    with ``ok`` and finite ``f`` and ``y`` take part. ``grp`` (filled, -1 elsewhere) gets the
    0-based quantile label (:func:`qcut_labels`). Returns ``(ic, rank_ic, n)``; Pearson and
    Spearman (average ranks) are NaN for fewer than 2 assets or a constant input.
    """
    m = f.shape[0]
    n = 0
    for i in range(m):
        grp[i] = -1
        if ok[i] and np.isfinite(f[i]) and np.isfinite(y[i]):
            n += 1
    if n == 0:
        return np.nan, np.nan, 0
    idx = np.empty(n, dtype=np.int64)
    fv = np.empty(n)
    yv = np.empty(n)
    c = 0
    for i in range(m):
        if ok[i] and np.isfinite(f[i]) and np.isfinite(y[i]):
            idx[c] = i
            fv[c] = f[i]
            yv[c] = y[i]
            c += 1
    ic = _pearson(fv, yv)
    rf, order = _average_ranks(fv)
    ry, _ = _average_ranks(yv)
    ric = _pearson(rf, ry)
    xs = np.empty(n)
    rs = np.empty(n)
    for j in range(n):
        xs[j] = fv[order[j]]
        rs[j] = rf[order[j]]
    lab = np.empty(n, dtype=np.int64)
    qcut_labels(xs, rs, qs, lab)
    for j in range(n):
        grp[idx[order[j]]] = lab[j]
    return ic, ric, n


@kernel
def cross_sections(factor, fwd, eligible, qs):
    """:func:`cross_section_1d` on every rebalance date.

    ``factor``, ``fwd`` and ``eligible`` are ``(K, M)``: row ``k`` holds the factor on
    signal day ``k``, the forward returns of period ``k`` and the universe of that day.
    Returns ``(ic, rank_ic, n, groups)`` with ``groups`` ``(K, M)`` int8 (-1 = not ranked).
    """
    k_n = factor.shape[0]
    m = factor.shape[1]
    ic = np.full(k_n, np.nan)
    ric = np.full(k_n, np.nan)
    cnt = np.zeros(k_n, dtype=np.int64)
    groups = np.full((k_n, m), -1, dtype=np.int8)
    for k in range(k_n):
        g = np.empty(m, dtype=np.int64)
        a, b, c = cross_section_1d(factor[k], fwd[k], eligible[k], qs, g)
        ic[k] = a
        ric[k] = b
        cnt[k] = c
        for i in range(m):
            groups[k, i] = g[i]
    return ic, ric, cnt, groups


@inner
def rebalance_1d(g, k, targets, n_targets, growth, start, buyable, sellable, st):
    """Rebalance the portfolio of group ``g`` at the start of period ``k`` (state ``st``).

    ``targets[:n_targets]`` are the group's target assets. The previous portfolio drifts to
    the close of ``start`` (``growth[start]`` ends the previous period). A previous holding
    that is not ``sellable[k]`` is *locked*: it stays with its drifted weight. Other members:
    targets that are ``buyable[k]`` or already held. The weight not locked is split equally
    among them (cash, return 0, if there are none; no other members when the locked names
    hold all the value). Returns ``(n_members, buy_share, sell_share)``: names held, share
    of held names that are new, share of the previous names that left.
    """
    w, held, now, members, n_mem, cash = st
    n_prev = n_mem[g]
    prev = members[g]
    if n_prev > 0:
        tot = cash[g]
        for j in range(n_prev):
            i = prev[j]
            w[g, i] = w[g, i] * growth[start, i]
            tot += w[g, i]
        if tot > 0.0:
            for j in range(n_prev):
                w[g, prev[j]] /= tot
    new = np.empty(n_prev + n_targets, dtype=np.int64)
    locked_w = 0.0
    nm = 0
    for j in range(n_prev):
        i = prev[j]
        if not sellable[k, i]:
            now[g, i] = True
            locked_w += w[g, i]
            new[nm] = i
            nm += 1
    n_locked = nm
    rest = 1.0 - locked_w
    if rest > _FULL_TOL:  # no value left to invest when every holding is locked
        for j in range(n_targets):
            i = targets[j]
            if not now[g, i] and (buyable[k, i] or held[g, i]):
                now[g, i] = True
                new[nm] = i
                nm += 1
    if nm > n_locked:
        cash[g] = 0.0
        ew = rest / (nm - n_locked)
        for j in range(n_locked, nm):
            w[g, new[j]] = ew
    else:
        cash[g] = rest
    n_new = 0
    for j in range(nm):
        if not held[g, new[j]]:
            n_new += 1
    n_gone = 0
    for j in range(n_prev):
        i = prev[j]
        if not now[g, i]:
            n_gone += 1
            w[g, i] = 0.0
        held[g, i] = False
    for j in range(nm):
        i = new[j]
        held[g, i] = True
        now[g, i] = False
        prev[j] = i
    n_mem[g] = nm
    buy = n_new / nm if nm > 0 else 0.0
    sell = n_gone / n_prev if n_prev > 0 else 0.0
    return nm, buy, sell


@kernel
def simulate_groups(groups, n_groups, starts, ends, growth, buyable, sellable, active):
    """Buy-and-hold paths of the portfolios of groups ``0..n_groups-1`` through all periods.

    Period ``k`` trades at the close of ``starts[k]`` and is held to the close of
    ``ends[k]`` (``ends[k] == starts[k+1]``); its targets are the assets with
    ``groups[k] == g``; each group rebalances by :func:`rebalance_1d`. ``val[g, d]`` (filled
    for ``starts[k] < d <= ends[k]``) is the value on ``d`` of 1 invested at ``starts[k]``:
    ``cash + sum_i w_i * growth[d, i]``. Each day visits all groups, so a row of ``growth``
    is read from memory once for all groups. Single-threaded on purpose: the work is one
    pass over ``growth``, and a parallel region per period stalls on a busy machine.

    A period with ``active[k]`` false (the factor has no cross-section on its signal day)
    is not held: every portfolio is sold at its start (nothing carried, not even names that
    cannot be sold: the period is outside the backtest), its gross return, buy and sell
    shares and daily values are NaN and it has no members; the next active period starts
    from cash like the first one.

    Returns ``(gross, n_members, buy_share, sell_share)`` as ``(n_groups, K)`` arrays (gross
    period return ``val[g, ends[k]] - 1``; ``buy_share`` is 1 in the first period when
    anything is held) and the daily values ``val`` ``(n_groups, T)`` (NaN outside periods).
    """
    k_n = starts.shape[0]
    t, m = growth.shape
    gross = np.full((n_groups, k_n), np.nan)
    n_members = np.zeros((n_groups, k_n), dtype=np.int64)
    buy = np.zeros((n_groups, k_n))
    sell = np.zeros((n_groups, k_n))
    val = np.full((n_groups, t), np.nan)
    w = np.zeros((n_groups, m))
    held = np.zeros((n_groups, m), dtype=np.bool_)
    now = np.zeros((n_groups, m), dtype=np.bool_)
    members = np.empty((n_groups, m), dtype=np.int64)
    n_mem = np.zeros(n_groups, dtype=np.int64)
    cash = np.ones(n_groups)
    st = (w, held, now, members, n_mem, cash)
    targets = np.empty((n_groups, m), dtype=np.int64)
    n_targets = np.zeros(n_groups, dtype=np.int64)
    for k in range(k_n):
        a = starts[k]
        if not active[k]:
            for g in range(n_groups):
                for j in range(n_mem[g]):
                    i = members[g, j]
                    held[g, i] = False
                    w[g, i] = 0.0
                n_mem[g] = 0
                cash[g] = 1.0
                buy[g, k] = np.nan
                sell[g, k] = np.nan
            continue
        n_targets[:] = 0
        for i in range(m):
            g = groups[k, i]
            if 0 <= g < n_groups:
                targets[g, n_targets[g]] = i
                n_targets[g] += 1
        for g in range(n_groups):
            nm, b, s = rebalance_1d(
                g, k, targets[g], n_targets[g], growth, a, buyable, sellable, st
            )
            n_members[g, k] = nm
            buy[g, k] = b
            sell[g, k] = s
        for d in range(a + 1, ends[k] + 1):
            for g in range(n_groups):
                v = cash[g]
                for j in range(n_mem[g]):
                    i = members[g, j]
                    v += w[g, i] * growth[d, i]
                val[g, d] = v
        for g in range(n_groups):
            gross[g, k] = val[g, ends[k]] - 1.0
    return gross, n_members, buy, sell, val


@kernel
def max_drawdown(nav):
    """Largest peak-to-trough fall ``min_t nav[t] / max_{s<=t} nav[s] - 1`` (<= 0).

    NaNs are skipped; an empty or all-NaN input gives NaN. The first value is the first
    peak, so the caller prepends the starting NAV (1) when the series starts after it.
    """
    peak = -np.inf
    worst = np.nan
    for x in nav:
        if not np.isfinite(x):
            continue
        if x > peak:
            peak = x
        dd = x / peak - 1.0
        if not (worst <= dd):
            worst = dd
    return worst


@inner
def first_valid_row(x):
    """Index of the first row of ``x`` holding a finite value (``x.shape[0]`` if none)."""
    for t in range(x.shape[0]):
        for j in range(x.shape[1]):
            if np.isfinite(x[t, j]):
                return t
    return x.shape[0]

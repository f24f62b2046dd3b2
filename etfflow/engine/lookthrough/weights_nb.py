"""numba kernels of the weights-mode look-through (docs/methodology.md#2-look-through).

Weight snapshots stay in force between snapshot dates: :func:`weight_segments` finds the
snapshots (baskets) of the ``holding_weights`` rows, and :func:`weights_flows` computes the
stock rows and group sums block by block of days as a sparse product, in named stages.

Reference twin: :func:`etfflow.engine.lookthrough_ref.lookthrough_reference`.
"""

from __future__ import annotations

import numpy as np

from etfflow._jit import inner, kernel
from etfflow.engine.lookthrough.common_nb import (
    C_CARRIED,
    C_ETF_DAYS,
    C_NO_BASKET,
    C_UNKNOWN,
)


@kernel
def weight_rows(
    epoch: np.ndarray,
    etf_phys: np.ndarray,
    etf_lookup: np.ndarray,
    idx_phys: np.ndarray,
    idx_lookup: np.ndarray,
    n_etf: int,
    asof: np.ndarray,
    e0: int,
):
    """As-of day and owner of every ``holding_weights`` row.

    ``asof[x - e0]`` is the first trading day on or after day ``x`` (days before ``e0`` map to
    day 0, days after the table's end to ``asof[-1]``). The owner is the pool position of the
    row's ETF, or ``n_etf +`` the position of its index when the ETF code is null (physical id
    ``0xFFFFFFFF``); -1 when neither is in the pool. A zero-length ``etf_phys`` (or
    ``idx_phys``) means the column is absent (all null).
    """
    n = epoch.shape[0]
    day = np.empty(n, dtype=np.int32)
    owner = np.empty(n, dtype=np.int32)
    n_t = asof.shape[0]
    for r in range(n):
        k = min(max(epoch[r] - e0, 0), n_t - 1)
        day[r] = asof[k]
        o = _owner_of(r, etf_phys, etf_lookup, idx_phys, idx_lookup, n_etf)
        owner[r] = o
    return day, owner


@inner
def _owner_of(r, etf_phys, etf_lookup, idx_phys, idx_lookup, n_etf):
    """Pool owner of row ``r``: its ETF's position, else ``n_etf +`` its index's, -1 none."""
    null = np.uint32(0xFFFFFFFF)
    p = etf_phys[r] if etf_phys.shape[0] > 0 else null
    if p != null:
        return etf_lookup[p] if p < etf_lookup.shape[0] else -1
    if idx_phys.shape[0] == 0:
        return -1
    q = idx_phys[r]
    i = idx_lookup[q] if q < idx_lookup.shape[0] else -1
    return n_etf + i if i >= 0 else -1


@kernel
def weight_segments(
    epoch: np.ndarray,
    etf_phys: np.ndarray,
    etf_lookup: np.ndarray,
    idx_phys: np.ndarray,
    idx_lookup: np.ndarray,
    n_etf: int,
    asof: np.ndarray,
    e0: int,
):
    """Baskets of the ``holding_weights`` rows: runs of equal (as-of day, owner) in row order.

    The as-of day and owner are those of :func:`weight_rows`, computed once per run of equal
    raw keys (date, ETF id, index id). Returns ``(seg_day, seg_owner, seg_start, seg_end)``.
    """
    n = epoch.shape[0]
    n_t = asof.shape[0]
    has_e = etf_phys.shape[0] > 0
    has_i = idx_phys.shape[0] > 0
    # pass 1 counts the runs of equal raw keys (an upper bound of the baskets)
    n_runs = 0
    for r in range(n):
        if (
            r == 0
            or epoch[r] != epoch[r - 1]
            or (has_e and etf_phys[r] != etf_phys[r - 1])
            or (has_i and idx_phys[r] != idx_phys[r - 1])
        ):
            n_runs += 1
    seg_day = np.empty(n_runs, dtype=np.int32)
    seg_owner = np.empty(n_runs, dtype=np.int32)
    seg_start = np.empty(n_runs, dtype=np.int64)
    seg_end = np.empty(n_runs, dtype=np.int64)
    k = -1
    day = -1
    owner = -1
    for r in range(n):
        if (
            r == 0
            or epoch[r] != epoch[r - 1]
            or (has_e and etf_phys[r] != etf_phys[r - 1])
            or (has_i and idx_phys[r] != idx_phys[r - 1])
        ):
            x = min(max(epoch[r] - e0, 0), n_t - 1)
            d = asof[x]
            o = _owner_of(r, etf_phys, etf_lookup, idx_phys, idx_lookup, n_etf)
            if k < 0 or d != day or o != owner:
                if k >= 0:
                    seg_end[k] = r
                k += 1
                seg_day[k] = d
                seg_owner[k] = o
                seg_start[k] = r
                day = d
                owner = o
    if k >= 0:
        seg_end[k] = n
    m = k + 1
    return seg_day[:m].copy(), seg_owner[:m].copy(), seg_start[:m].copy(), seg_end[:m].copy()


@inner
def _block_etfs(
    k,
    a,
    n_len,
    blk_seg,
    seg_day,
    present,
    be,
    counters,
):
    """Stage 1: the ETFs with a snapshot in force on a day of block ``k`` (days
    ``a:a+n_len``) where they are present, into ``be[:nb_e]`` (pool order), and the ETF-day
    counters of the block's days (present, without a snapshot, carried). Returns ``nb_e``."""
    n_etf = present.shape[0]
    nb_e = 0
    for e in range(n_etf):
        sg = blk_seg[k, e]
        anyp = False
        for j in range(n_len):
            if present[e, a + j]:
                counters[a + j, C_ETF_DAYS] += 1
                if sg < 0:
                    counters[a + j, C_NO_BASKET] += 1
                else:
                    anyp = True
                    if seg_day[sg] != a + j:
                        counters[a + j, C_CARRIED] += 1
        if anyp:
            be[nb_e] = e
            nb_e += 1
    return nb_e


@inner
def _block_columns(
    k,
    a,
    n_len,
    nb_e,
    be,
    blk_seg,
    seg_start,
    seg_end,
    row_code,
    code_lookup,
    row_val,
    present,
    colptr,
    cursor,
    ent_x,
    ent_w,
    counters,
):
    """Stage 2: the block's baskets by stock (CSC): holders of stock ``s`` are entries
    ``colptr[s]:colptr[s+1]`` of ``ent_x`` (position in ``be``, pool order kept) and ``ent_w``
    (weight > 0). Rows naming an unknown code are counted once per present ETF-day. Returns
    whether every weight is finite."""
    n_stock = colptr.shape[0] - 1
    n_lk = code_lookup.shape[0]
    colptr[:] = 0
    all_finite = True
    for x in range(nb_e):
        e = be[x]
        sg = blk_seg[k, e]
        unknown = 0
        for r in range(seg_start[sg], seg_end[sg]):
            p = row_code[r]
            s = code_lookup[p] if p < n_lk else -1
            if s < 0:
                unknown += 1
                continue
            v = row_val[r]
            if v <= 0.0:
                continue
            if not np.isfinite(v):
                all_finite = False
            colptr[s + 1] += 1
        if unknown > 0:
            for j in range(n_len):
                if present[e, a + j]:
                    counters[a + j, C_UNKNOWN] += unknown
    for s in range(n_stock):
        colptr[s + 1] += colptr[s]
        cursor[s] = colptr[s]
    for x in range(nb_e):
        sg = blk_seg[k, be[x]]
        for r in range(seg_start[sg], seg_end[sg]):
            p = row_code[r]
            s = code_lookup[p] if p < n_lk else -1
            if s < 0 or row_val[r] <= 0.0:
                continue
            q = cursor[s]
            ent_x[q] = x
            ent_w[q] = row_val[r]
            cursor[s] = q + 1
    return all_finite


@inner
def _block_etf_vectors(
    a,
    n_len,
    nb_e,
    be,
    nav,
    shares,
    dshares,
    present,
    xbuf,
    full,
):
    """Stage 3: the block's ETF day vectors, compact: row ``x`` = ``[S·N | S | dS·N | S |
    present]``, each part padded to ``lp`` days (a multiple of 8: whole SIMD vectors), 0 on
    absent days; ``full[x]``: present on every day of the block. Returns the rows (a view of
    ``xbuf``)."""
    lp = (n_len + 7) // 8 * 8
    n2, n3, n4, n5 = 2 * lp, 3 * lp, 4 * lp, 5 * lp
    xv = xbuf[: nb_e * n5].reshape((nb_e, n5))
    for x in range(nb_e):
        e = be[x]
        row = xv[x]
        v_nv = nav[e]
        v_sh = shares[e]
        v_ds = dshares[e]
        v_p = present[e]
        n_p = 0
        for j in range(n_len):
            n_p += v_p[a + j]
        full[x] = n_p == n_len
        for j in range(lp):
            if j < n_len:
                row[j] = v_sh[a + j] * v_nv[a + j]
                row[lp + j] = v_sh[a + j]
                row[n2 + j] = v_ds[a + j] * v_nv[a + j]
                row[n3 + j] = v_sh[a + j]
                row[n4 + j] = 1.0 if v_p[a + j] else 0.0
            else:
                row[j] = 0.0
                row[lp + j] = 0.0
                row[n2 + j] = 0.0
                row[n3 + j] = 0.0
                row[n4 + j] = 0.0
    return xv


@inner
def _stock_sums(
    n_len,
    nb_e,
    be,
    etf_index,
    colptr,
    ent_x,
    ent_w,
    xv,
    full,
    all_finite,
    acc,
    cnt_part,
    nidx_part,
    grp,
    stage,
):
    """Stage 4: stock by stock, sums over holders as vectors over the block's days, one loop
    over ``[S·N·w | S·w | dS·N·w | S]``; the ETF count is a constant for ETFs present on every
    day of the block (nearly all), a vector for the others, and an index counts on the days
    where one of its ETFs is present. Writes ``stage[s] = [mv | share | inflow | fund | n_etf |
    n_index]`` (parts of ``lp`` days) for every held stock."""
    n_stock = colptr.shape[0] - 1
    lp = (n_len + 7) // 8 * 8
    n2, n3, n4, n5 = 2 * lp, 3 * lp, 4 * lp, 5 * lp
    for s in range(n_stock):
        q0 = colptr[s]
        q1 = colptr[s + 1]
        if q0 == q1:
            continue
        for j in range(n4):
            acc[j] = 0.0
        n_full = 0
        n_idx_full = 0
        for j in range(lp):
            cnt_part[j] = 0.0
            nidx_part[j] = 0.0
            grp[j] = 0.0
        pi = etf_index[be[ent_x[q0]]]
        grp_full = False
        for q in range(q0, q1):
            x = ent_x[q]
            w = ent_w[q]
            i = etf_index[be[x]]
            if i != pi:  # one index's ETFs done: count it where one of them is present
                if grp_full:
                    n_idx_full += 1
                for j in range(lp):
                    if grp[j] > 0.0 and not grp_full:
                        nidx_part[j] += 1.0
                    grp[j] = 0.0
                grp_full = False
                pi = i
            row = xv[x]
            if all_finite:
                for j in range(n4):
                    acc[j] += row[j] * (w if j < n3 else 1.0)
            else:  # NaN / inf weights: absent days must not see 0·w
                for j in range(n_len):
                    if row[n4 + j] > 0.0:
                        acc[j] += row[j] * w
                        acc[lp + j] += row[lp + j] * w
                        acc[n2 + j] += row[n2 + j] * w
                        acc[n3 + j] += row[n3 + j]
            if full[x]:
                n_full += 1
                grp_full = True
            else:
                for j in range(lp):
                    cnt_part[j] += row[n4 + j]
                    grp[j] += row[n4 + j]
        if grp_full:
            n_idx_full += 1
        else:
            for j in range(lp):
                if grp[j] > 0.0:
                    nidx_part[j] += 1.0
        st = stage[s]
        for j in range(n4):
            st[j] = acc[j]
        for j in range(lp):
            st[n4 + j] = n_full + cnt_part[j]
            st[n5 + j] = n_idx_full + nidx_part[j]


@inner
def _write_rows(
    a,
    n_len,
    colptr,
    stage,
    row_start,
    row_stock,
    row_fmc,
    gbit,
    o_netf,
    o_nidx,
    o_fund,
    o_share,
    o_mv,
    o_w,
    o_inflow,
    g_nst,
    g_held,
    g_f,
    g_mv,
    g_sh,
    g_in,
):
    """Stage 5: day by day, each listed stock (rows ``row_start[d]:row_start[d+1]``, stock
    order) to its output row (``w = mv / float_mcap``, NaN unless the cap is positive; inflow
    NaN on day 0), added to the 整体法 group sums of the day."""
    lp = (n_len + 7) // 8 * 8
    n2, n3, n4, n5 = 2 * lp, 3 * lp, 4 * lp, 5 * lp
    for j in range(n_len):
        d = a + j
        gb = gbit[d]
        gn = g_nst[d]
        gh = g_held[d]
        gfs = g_f[d]
        gm = g_mv[d]
        gsh = g_sh[d]
        gi = g_in[d]
        for r in range(row_start[d], row_start[d + 1]):
            s = row_stock[r]
            f = row_fmc[r]
            if colptr[s] == colptr[s + 1]:
                mv = 0.0
                sh = 0.0
                inf = 0.0
                fund = 0.0
                ne = 0.0
                ni = 0.0
            else:
                st = stage[s]
                mv = st[j]
                sh = st[lp + j]
                inf = st[n2 + j]
                fund = st[n3 + j]
                ne = st[n4 + j]
                ni = st[n5 + j]
            o_netf[r] = np.int32(ne)
            o_nidx[r] = np.int32(ni)
            o_fund[r] = fund
            o_share[r] = sh
            o_mv[r] = mv
            o_w[r] = mv / f if f > 0 else np.nan
            o_inflow[r] = inf if d > 0 else np.nan
            for kk in range(4):
                bb = gb[s, kk]
                if bb < 0:
                    continue
                gn[bb] += 1
                if ne > 0:
                    gh[bb] += 1
                gfs[bb] += f
                gm[bb] += mv
                gsh[bb] += sh
                gi[bb] += inf


@inner
def _first_day_touches(
    a,
    nb_e,
    colptr,
    ent_x,
    gbit,
    cnt,
    touch0,
):
    """Stage 6: ``cnt[x, b]``, the stocks of ETF ``x`` in group bit ``b`` on the block's first
    day ``a``; ETF ``x`` touches ``b`` while ``cnt > 0`` (``touch0``)."""
    n_stock = colptr.shape[0] - 1
    n_bits = cnt.shape[1]
    for s in range(n_stock):
        for kk in range(4):
            b = gbit[a, s, kk]
            if b < 0:
                continue
            for q in range(colptr[s], colptr[s + 1]):
                cnt[ent_x[q], b] += 1
    for x in range(nb_e):
        for b in range(n_bits):
            touch0[x, b] = cnt[x, b] > 0


@inner
def _touch_changes(
    a,
    n_len,
    colptr,
    ent_x,
    gbit,
    gkey,
    cnt,
    touch0,
    indiff,
    diff_x,
    diff_b,
    dstate,
):
    """Stage 7: later days of the block follow the stocks whose bits change (``gkey``: the four
    int16 bits read as one int64) and update ``cnt`` of their holders; an (ETF, bit) pair whose
    count crosses zero is listed (``diff_x``, ``diff_b``, ``indiff``) with a day-by-day touch
    state (``dstate``). Returns the number of listed pairs."""
    n_stock = colptr.shape[0] - 1
    n_diff = 0
    for j in range(1, n_len):
        d = a + j
        for s in range(n_stock):
            if gkey[d, s] == gkey[d - 1, s] or colptr[s] == colptr[s + 1]:
                continue
            for kk in range(4):
                old = gbit[d - 1, s, kk]
                new = gbit[d, s, kk]
                if old == new:
                    continue
                for q in range(colptr[s], colptr[s + 1]):
                    x = ent_x[q]
                    for side in range(2):
                        b = old if side == 0 else new
                        if b < 0:
                            continue
                        c = cnt[x, b] + (-1 if side == 0 else 1)
                        cnt[x, b] = c
                        # the touch can only change when the count crosses zero
                        if c == (0 if side == 0 else 1) and not indiff[x, b]:
                            indiff[x, b] = True
                            diff_x[n_diff] = x
                            diff_b[n_diff] = b
                            for jj in range(j):
                                dstate[n_diff, jj] = touch0[x, b]
                            n_diff += 1
        for t in range(n_diff):
            dstate[t, j] = cnt[diff_x[t], diff_b[t]] > 0
    return n_diff


@inner
def _group_distinct(
    a,
    n_len,
    nb_e,
    be,
    etf_index,
    present,
    shares,
    touch0,
    indiff,
    n_diff,
    diff_x,
    diff_b,
    dstate,
    dptr,
    dfill,
    dord,
    tmp,
    gf,
    tmark,
    tlist,
    g_netf,
    g_nidx,
    g_fund,
):
    """Stage 8: group distinct counts of the block. Listed pairs grouped by ETF (counting
    sort); then per index, ``Σ present`` over its touching ETFs gives ``n_etf`` and (> 0) one
    index for ``n_index`` per (day, bit); ``Σ S`` over touching ETFs gives the group's fund
    shares."""
    n_bits = tmark.shape[0]
    for x in range(nb_e + 1):
        dptr[x] = 0
    for t in range(n_diff):
        dptr[diff_x[t] + 1] += 1
    for x in range(nb_e):
        dptr[x + 1] += dptr[x]
        dfill[x] = dptr[x]
    for t in range(n_diff):
        x = diff_x[t]
        dord[dfill[x]] = t
        dfill[x] += 1
    x = 0
    while x < nb_e:
        i = etf_index[be[x]]
        x_end = x
        while x_end < nb_e and etf_index[be[x_end]] == i:
            x_end += 1
        n_touch = 0
        for y in range(x, x_end):
            e = be[y]
            v_p = present[e]
            v_sh = shares[e]
            for b in range(n_bits):
                if not touch0[y, b] or indiff[y, b]:
                    continue
                if not tmark[b]:
                    tmark[b] = True
                    tlist[n_touch] = b
                    n_touch += 1
                for j in range(n_len):
                    tmp[b, j] += v_p[a + j]
                    gf[b, j] += v_sh[a + j]
            for t in range(dptr[y], dptr[y + 1]):
                u = dord[t]
                b = diff_b[u]
                hit = False
                for j in range(n_len):
                    if dstate[u, j]:
                        hit = True
                        tmp[b, j] += v_p[a + j]
                        gf[b, j] += v_sh[a + j]
                if hit and not tmark[b]:
                    tmark[b] = True
                    tlist[n_touch] = b
                    n_touch += 1
        for t in range(n_touch):
            b = tlist[t]
            tmark[b] = False
            for j in range(n_len):
                v = tmp[b, j]
                g_netf[a + j, b] += v
                if v > 0:
                    g_nidx[a + j, b] += 1
                tmp[b, j] = 0
        x = x_end
    for b in range(n_bits):
        for j in range(n_len):
            g_fund[a + j, b] = gf[b, j]
            gf[b, j] = 0.0


@inner
def _reset_block(
    nb_e,
    n_diff,
    diff_x,
    diff_b,
    cnt,
    indiff,
):
    """Stage 9: clear the per-block scratch the next block expects at zero."""
    n_bits = cnt.shape[1]
    for x in range(nb_e):
        for b in range(n_bits):
            cnt[x, b] = 0
    for t in range(n_diff):
        indiff[diff_x[t], diff_b[t]] = False


@kernel
def weights_flows(
    blk_lo: np.ndarray,
    blk_hi: np.ndarray,
    blk_seg: np.ndarray,
    seg_day: np.ndarray,
    seg_start: np.ndarray,
    seg_end: np.ndarray,
    row_code: np.ndarray,
    code_lookup: np.ndarray,
    row_val: np.ndarray,
    etf_index: np.ndarray,
    present: np.ndarray,
    shares: np.ndarray,
    nav: np.ndarray,
    dshares: np.ndarray,
    row_start: np.ndarray,
    row_stock: np.ndarray,
    row_fmc: np.ndarray,
    gbit: np.ndarray,
    gkey: np.ndarray,
    n_bits: int,
    max_nnz: int,
    max_len: int,
    o_netf: np.ndarray,
    o_nidx: np.ndarray,
    o_fund: np.ndarray,
    o_share: np.ndarray,
    o_mv: np.ndarray,
    o_w: np.ndarray,
    o_inflow: np.ndarray,
    g_nst: np.ndarray,
    g_held: np.ndarray,
    g_f: np.ndarray,
    g_mv: np.ndarray,
    g_sh: np.ndarray,
    g_in: np.ndarray,
    g_netf: np.ndarray,
    g_nidx: np.ndarray,
    g_fund: np.ndarray,
    counters: np.ndarray,
):
    """Weights-mode look-through as a sparse product per period, straight to rows.

    Definition: docs/methodology.md#2-look-through.

    Days are cut into blocks ``blk_lo[k]:blk_hi[k]`` inside which every ETF's snapshot in force
    is constant (``blk_seg[k, e]``: basket rows ``seg_start:seg_end``, -1 none), so that for
    stock ``s`` and the block's days ``t`` (vectors over ``t``, ETFs ``e`` holding ``s`` with
    weight ``w > 0``)::

        mv_passive[t, s]    = Σ_e (S·N)[e, t] · w        share_passive = Σ_e S[e, t] · w
        inflow[t, s]        = Σ_e (dS·N)[e, t] · w       share_passive_fund = Σ_e S[e, t]
        n_etf[t, s]         = Σ_e present[e, t]          n_index = Σ_i [Σ_{e∈i} present > 0]

    (``S``, ``S·N``, ``dS·N`` are 0 on absent days; ETFs are numbered by tracked index so the
    ETFs of index ``i`` are consecutive). Each block runs the stages in order:

    1. :func:`_block_etfs`: the block's ETFs and the ETF-day counters;
    2. :func:`_block_columns`: the by-stock (CSC) lists of its baskets;
    3. :func:`_block_etf_vectors`: its ETFs' day vectors in one compact buffer;
    4. :func:`_stock_sums`: each stock's holders summed with one SIMD loop over
       ``[S·N·w | S·w | dS·N·w | S]`` (an ETF present on every day of the block adds a
       constant 1 to ``n_etf``, the others a presence vector);
    5. :func:`_write_rows`: a day-by-day pass writes each listed stock (rows
       ``row_start[d]:row_start[d+1]``, stock order) to its output row and adds it to the
       整体法 group sums of the day;
    6. :func:`_first_day_touches`, 7. :func:`_touch_changes`, 8. :func:`_group_distinct`:
       group distinct counts (ETFs / indices / fund shares per group bit): ``cnt[e, b]``
       counts the stocks of ETF ``e`` in group bit ``b`` on the block's first day; ETF ``e``
       touches ``b`` while ``cnt > 0``. Day by day, stocks whose bits change update ``cnt`` of
       their holders; an (ETF, bit) pair whose count crosses zero gets a day-by-day touch
       state. Per index, ``Σ_e present`` over touching ETFs gives ``n_etf`` and (> 0) one
       index for ``n_index``;
    9. :func:`_reset_block`: the scratch back to zero for the next block.

    ``max_nnz`` bounds the basket entries of a block, ``max_len`` its days. Summation runs over
    ETFs in pool order as in :func:`etfflow.engine.lookthrough.pcf_nb.accumulate`, so results
    agree to the last bit.
    Reference twin: :func:`etfflow.engine.lookthrough_ref.lookthrough_reference`.
    """
    n_etf = present.shape[0]
    n_stock = gbit.shape[1]
    max_lp = (max_len + 7) // 8 * 8
    # scratch, reused by every block
    be = np.empty(n_etf, dtype=np.int64)
    colptr = np.zeros(n_stock + 1, dtype=np.int64)
    cursor = np.empty(n_stock, dtype=np.int64)
    ent_x = np.empty(max_nnz, dtype=np.int32)
    ent_w = np.empty(max_nnz)
    cnt = np.zeros((n_etf, n_bits), dtype=np.int32)
    touch0 = np.empty((n_etf, n_bits), dtype=np.bool_)
    indiff = np.zeros((n_etf, n_bits), dtype=np.bool_)
    # every (ETF, bit) pair can change at most once per block: n_etf * n_bits bounds them
    # (dstate pages are only touched for the pairs that do change)
    diff_x = np.empty(n_etf * n_bits, dtype=np.int32)
    diff_b = np.empty(n_etf * n_bits, dtype=np.int32)
    dstate = np.empty((n_etf * n_bits, max_len), dtype=np.bool_)
    dptr = np.zeros(n_etf + 1, dtype=np.int64)
    dfill = np.zeros(n_etf, dtype=np.int64)
    dord = np.empty(n_etf * n_bits, dtype=np.int64)
    tmp = np.zeros((n_bits, max_len), dtype=np.int64)
    gf = np.zeros((n_bits, max_len))
    tmark = np.zeros(n_bits, dtype=np.bool_)
    tlist = np.empty(n_bits, dtype=np.int64)
    xbuf = np.empty(n_etf * 5 * max_lp)
    acc = np.empty(4 * max_lp)
    cnt_part = np.empty(max_lp)
    nidx_part = np.empty(max_lp)
    grp = np.empty(max_lp)
    full = np.empty(n_etf, dtype=np.bool_)
    stage = np.empty((n_stock, 6 * max_lp))
    for k in range(blk_lo.shape[0]):
        a = blk_lo[k]
        n_len = blk_hi[k] - a
        nb_e = _block_etfs(k, a, n_len, blk_seg, seg_day, present, be, counters)
        all_finite = _block_columns(
            k, a, n_len, nb_e, be, blk_seg, seg_start, seg_end, row_code, code_lookup, row_val,
            present, colptr, cursor, ent_x, ent_w, counters,
        )  # fmt: skip
        xv = _block_etf_vectors(a, n_len, nb_e, be, nav, shares, dshares, present, xbuf, full)
        _stock_sums(
            n_len, nb_e, be, etf_index, colptr, ent_x, ent_w, xv, full, all_finite,
            acc, cnt_part, nidx_part, grp, stage,
        )  # fmt: skip
        _write_rows(
            a, n_len, colptr, stage, row_start, row_stock, row_fmc, gbit,
            o_netf, o_nidx, o_fund, o_share, o_mv, o_w, o_inflow,
            g_nst, g_held, g_f, g_mv, g_sh, g_in,
        )  # fmt: skip
        _first_day_touches(a, nb_e, colptr, ent_x, gbit, cnt, touch0)
        n_diff = _touch_changes(
            a, n_len, colptr, ent_x, gbit, gkey, cnt, touch0, indiff, diff_x, diff_b, dstate
        )
        _group_distinct(
            a, n_len, nb_e, be, etf_index, present, shares, touch0, indiff,
            n_diff, diff_x, diff_b, dstate, dptr, dfill, dord, tmp, gf, tmark, tlist,
            g_netf, g_nidx, g_fund,
        )  # fmt: skip
        _reset_block(nb_e, n_diff, diff_x, diff_b, cnt, indiff)

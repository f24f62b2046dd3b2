"""numba kernels of the synthetic market: the day loop and the basket/weight table fillers.

The day loop (:func:`simulate_segment`) runs the days between two "events" (index rebalance,
ETF listing, constituent delisting), during which index compositions and ETF baskets are
fixed; the Python driver in :mod:`etfflow.data_samples.simulate` applies the events.
"""

from __future__ import annotations

import numpy as np

from etfflow._jit import inner, kernel


@inner
def round2(x: float) -> float:
    """Round a positive price to 0.01 CNY (half up)."""
    return np.floor(x * 100.0 + 0.5) / 100.0


@kernel
def simulate_segment(
    t0,
    t1,
    # stocks
    r_raw,
    listed,
    susp,
    st,
    limit,
    limit_st,
    list_day,
    is_ipo,
    ipo_ret,
    float_shares,
    close_prev,
    close_out,
    ret_out,
    x_out,
    # planted impact
    gx_ring,
    gx_sum,
    gamma_day,
    horizon,
    # indices
    idx_ptr,
    idx_stock,
    idx_iq,
    divisor,
    lev,
    # ETFs
    etf_index,
    etf_cat,
    unit,
    e_list_day,
    e_delist_day,
    e_pre,
    s0,
    cur_start,
    cur_len,
    pool_stock,
    pool_q,
    eta,
    u_round,
    beta_day,
    logf,
    kappa,
    lookback,
    flow_lo,
    flow_hi,
    drift_cap,
    shares_out,
    nav_out,
    fcap_out,
):  # pragma: no cover - compiled
    """Advance the market over days ``[t0, t1)`` (see the module docstring of ``simulate``).

    ``lev`` and ``fcap_out`` have one leading row for day -1. Outputs are written in place.
    """
    n = close_prev.shape[0]
    n_e = unit.shape[0]
    n_k = divisor.shape[0]
    aum = np.zeros(3)
    for t in range(t0, t1):
        # 1. stock prices: raw factor return + planted drift, clipped to the price limit
        fcap = 0.0
        for s in range(n):
            if not listed[t, s]:
                continue
            prev = close_prev[s]
            if is_ipo[s] and t == list_day[s]:
                c = round2(prev * (1.0 + ipo_ret[s]))
            elif susp[t, s]:
                c = prev
            else:
                lim = limit_st if st[t, s] else limit[s]
                drift = gx_sum[s] / horizon
                if drift > drift_cap:
                    drift = drift_cap
                elif drift < -drift_cap:
                    drift = -drift_cap
                r = r_raw[t, s] + drift
                if r > lim:
                    r = lim
                elif r < -lim:
                    r = -lim
                c = round2(prev * (1.0 + r))
                if c < 0.01:
                    c = 0.01
            close_out[t, s] = c
            ret_out[t, s] = c / prev - 1.0
            close_prev[s] = c
            fcap += c * float_shares[s]
        fcap_out[t + 1] = fcap
        # 2. index levels
        for k in range(n_k):
            v = 0.0
            for j in range(idx_ptr[k], idx_ptr[k + 1]):
                v += idx_iq[j] * close_prev[idx_stock[j]]
            lev[t + 1, k] = v / divisor[k]
        # 3. ETF flows, shares, NAV and the stock-level inflow rate x
        if t > 0:
            aum[:] = 0.0
            for e in range(n_e):
                sh = shares_out[t - 1, e]
                if sh == sh:
                    aum[etf_cat[e]] += sh * nav_out[t - 1, e]
        for s in range(n):
            x_out[t, s] = 0.0
        for e in range(n_e):
            if t < e_list_day[e] or t >= e_delist_day[e]:
                continue
            u = unit[e]
            if t == e_list_day[e]:
                sh = s0[e]
                ds = 0.0 if e_pre[e] else sh
            else:
                c = etf_cat[e]
                g = logf[t + 1, c] - logf[t, c]
                if aum[c] > 0.0:
                    g += kappa * (logf[t, c] + np.log(fcap_out[t]) - np.log(aum[c]))
                k = etf_index[e]
                back = t - lookback
                if back < 0:
                    back = 0
                r20 = lev[t, k] / lev[back, k] - 1.0
                flow = g + beta_day[t] * r20 + eta[t, e]
                if flow > flow_hi:
                    flow = flow_hi
                elif flow < flow_lo:
                    flow = flow_lo
                prev_sh = shares_out[t - 1, e]
                m = np.floor(prev_sh * (1.0 + flow) / u + u_round[t, e])
                if m < 1.0:
                    m = 1.0
                sh = m * u
                ds = sh - prev_sh
            shares_out[t, e] = sh
            a, b = cur_start[e], cur_start[e] + cur_len[e]
            v = 0.0
            for j in range(a, b):
                v += pool_q[j] * close_prev[pool_stock[j]]
            nav_out[t, e] = v / u
            if ds != 0.0:
                f = ds / u
                for j in range(a, b):
                    s = pool_stock[j]
                    x_out[t, s] += f * pool_q[j] / float_shares[s]
        # 4. planted impact: ring buffer of gamma(year of the inflow) * x
        slot = t % horizon
        g = gamma_day[t]
        for s in range(n):
            gx = g * x_out[t, s]
            gx_sum[s] += gx - gx_ring[slot, s]
            gx_ring[slot, s] = gx


@kernel
def count_basket_rows(d0, d1, active, ver_ptr, ver_from, ver_len):  # pragma: no cover
    """Number of basket rows over days ``[d0, d1)``."""
    n_e = active.shape[1]
    total = 0
    for e in range(n_e):
        v = ver_ptr[e]
        for t in range(d0, d1):
            if not active[t, e]:
                continue
            while v + 1 < ver_ptr[e + 1] and ver_from[v + 1] <= t:
                v += 1
            total += ver_len[v]
    return total


@kernel
def fill_basket_rows(
    d0,
    d1,
    active,
    ver_ptr,
    ver_from,
    ver_start,
    ver_len,
    pool_stock,
    pool_q,
    susp,
    stock_sh,
    etf_sh,
    out_day,
    out_etf,
    out_stock,
    out_q,
    out_cash,
):  # pragma: no cover
    """Fill the ``etf_pcf`` rows of days ``[d0, d1)`` sorted by (day, etf, stock).

    ``out_cash``: 2 required (suspended component), 1 allowed (cross-market), 0 forbidden.
    """
    n_e = active.shape[1]
    cur = np.empty(n_e, dtype=np.int64)
    for e in range(n_e):
        cur[e] = ver_ptr[e]
    i = 0
    for t in range(d0, d1):
        for e in range(n_e):
            if not active[t, e]:
                continue
            v = cur[e]
            while v + 1 < ver_ptr[e + 1] and ver_from[v + 1] <= t:
                v += 1
            cur[e] = v
            for j in range(ver_start[v], ver_start[v] + ver_len[v]):
                s = pool_stock[j]
                out_day[i] = t
                out_etf[i] = e
                out_stock[i] = s
                out_q[i] = pool_q[j]
                if susp[t, s]:
                    out_cash[i] = 2
                elif stock_sh[s] != etf_sh[e]:
                    out_cash[i] = 1
                else:
                    out_cash[i] = 0
                i += 1
    return i


@kernel
def fill_weight_rows(
    days,
    active,
    ver_ptr,
    ver_from,
    ver_start,
    ver_len,
    pool_stock,
    pool_q,
    close,
    out_day,
    out_etf,
    out_stock,
    out_w,
):  # pragma: no cover
    """Weight snapshots on ``days`` (sorted): ``w = q*close / sum(q*close)`` of each basket."""
    n_e = active.shape[1]
    i = 0
    for t in days:
        for e in range(n_e):
            if not active[t, e]:
                continue
            v = ver_ptr[e]
            while v + 1 < ver_ptr[e + 1] and ver_from[v + 1] <= t:
                v += 1
            a, b = ver_start[v], ver_start[v] + ver_len[v]
            tot = 0.0
            for j in range(a, b):
                tot += pool_q[j] * close[t, pool_stock[j]]
            for j in range(a, b):
                s = pool_stock[j]
                out_day[i] = t
                out_etf[i] = e
                out_stock[i] = s
                out_w[i] = pool_q[j] * close[t, s] / tot
                i += 1
    return i

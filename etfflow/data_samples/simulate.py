"""The market simulation: index compositions, ETF baskets, flows, prices, day by day.

Python applies the events (index rebalances, ETF listings, delistings of constituents) and
hands the days in between to the numba kernel
:func:`~etfflow.data_samples.kernels.simulate_segment`, which moves prices, index levels, ETF
shares, NAVs and the planted price impact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from etfflow._common import Progress
from etfflow.data_samples.calendar import month_end_positions, years_of
from etfflow.data_samples.config import MarketConfig, by_year
from etfflow.data_samples.etfs import EtfUniverse, build_basket, make_etfs, target_log_frac
from etfflow.data_samples.indices import (
    IndexDef,
    eligible_mask,
    index_defs,
    index_shares,
    select_members,
)
from etfflow.data_samples.kernels import simulate_segment
from etfflow.data_samples.stocks import Universe


@dataclass
class Baskets:
    """Every basket version: CSR by ETF over versions, each version a slice of the pool."""

    ver_ptr: np.ndarray
    ver_from: np.ndarray
    ver_start: np.ndarray
    ver_len: np.ndarray
    pool_stock: np.ndarray
    pool_q: np.ndarray


@dataclass
class SimResult:
    days: np.ndarray
    uni: Universe
    defs: list[IndexDef]
    etfs: EtfUniverse
    close: np.ndarray  # (T, N), NaN when not listed
    ret: np.ndarray
    x: np.ndarray  # inflow / float cap (docs/methodology.md#23-stock-level-metrics), (T, N)
    lev: np.ndarray  # (T, K) index closes
    shares: np.ndarray  # (T, E), NaN when not listed
    nav: np.ndarray
    active: np.ndarray  # (T, E)
    baskets: Baskets
    prev_close: np.ndarray  # (T, N) close of the previous trading day (IPO day: issue price)


class _Pool:
    def __init__(self, cap: int) -> None:
        self.stock = np.empty(cap, dtype=np.int64)
        self.q = np.empty(cap, dtype=np.float64)
        self.n = 0
        self.versions: list[tuple[int, int, int, int]] = []  # (etf, from_day, start, len)

    def add(self, e: int, day: int, stocks: np.ndarray, q: np.ndarray) -> tuple[int, int]:
        k = len(stocks)
        if self.n + k > len(self.stock):
            cap = max(2 * len(self.stock), self.n + k)
            self.stock = np.resize(self.stock, cap)
            self.q = np.resize(self.q, cap)
        self.stock[self.n : self.n + k] = stocks
        self.q[self.n : self.n + k] = q
        start = self.n
        self.n += k
        self.versions.append((e, day, start, k))
        return start, k

    def finish(self, n_etf: int) -> Baskets:
        v = np.array(self.versions, dtype=np.int64).reshape(-1, 4)
        order = np.lexsort((np.arange(len(v)), v[:, 1], v[:, 0]))
        v = v[order]
        ptr = np.zeros(n_etf + 1, dtype=np.int64)
        np.cumsum(np.bincount(v[:, 0], minlength=n_etf), out=ptr[1:])
        return Baskets(
            ptr,
            v[:, 1].copy(),
            v[:, 2].copy(),
            v[:, 3].copy(),
            self.stock[: self.n].copy(),
            self.q[: self.n].copy(),
        )


def _csr(comps: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ptr = np.zeros(len(comps) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(m) for m, _ in comps])
    return ptr, np.concatenate([m for m, _ in comps]), np.concatenate([q for _, q in comps])


def simulate(
    cfg: MarketConfig,
    days: np.ndarray,
    uni: Universe,
    r_raw: np.ndarray,
    rng: np.random.Generator,
    progress: Progress | None = None,
) -> SimResult:
    """Run the market (see the module docstring). ``rng`` feeds the ETF draws and flow noise."""
    T, N = len(days), uni.n
    years = years_of(days)

    # --- initial index compositions (day -1 prices), dropping indices without members ---
    fs = uni.float_shares
    close_prev = uni.p0.copy()
    fcap0 = np.where(uni.listed[0], fs * close_prev, 0.0)
    elig = eligible_mask(cfg, uni, 0)
    defs: list[IndexDef] = []
    comps: list[tuple[np.ndarray, np.ndarray]] = []
    for d in index_defs(cfg, uni):
        m = select_members(d, cfg, uni, 0, fcap0, elig)
        if len(m) >= min(3, cfg.index_min_members):
            defs.append(d)
            comps.append((m, index_shares(m, fcap0, fs, cfg.index_weight_cap)))
    K = len(defs)
    divisor = np.array([(iq * close_prev[m]).sum() / cfg.index_base for m, iq in comps])

    etfs = make_etfs(cfg, days, defs, float(fcap0.sum()), rng)
    E = etfs.n
    tilt = np.exp(
        cfg.enhanced_tilt_sd * rng.standard_normal((max(int(etfs.is_enhanced.sum()), 1), N))
    )
    phi = cfg.flow_persist_phi
    eta = np.empty((T, E))
    p = cfg.flow_persist_sd * rng.standard_normal(E)
    z = rng.standard_normal((T, E))
    for t in range(T):  # AR(1) persistent flow + white noise
        p = phi * p + cfg.flow_persist_sd * np.sqrt(1 - phi * phi) * z[t]
        eta[t] = p
    eta += cfg.flow_noise * rng.standard_normal((T, E))
    u_round = rng.random((T, E))
    logf = target_log_frac(cfg, days)
    beta_day = np.array([by_year(cfg.flow_beta, int(y)) for y in years])
    gamma_day = np.array([by_year(cfg.impact_gamma, int(y)) for y in years])

    pool = _Pool(max(1 << 16, E * 400))
    cur_start = np.zeros(E, dtype=np.int64)
    cur_len = np.zeros(E, dtype=np.int64)

    def enhanced_args(e: int, k: int, fcap: np.ndarray, el: np.ndarray):
        if not etfs.is_enhanced[e]:
            return None, None
        m = comps[k][0]
        n_add = max(1, round(cfg.enhanced_swap_frac * len(m))) if cfg.enhanced_swap_frac > 0 else 0
        outside = np.flatnonzero(el & ~np.isin(np.arange(N), m))
        outside = outside[np.argsort(-fcap[outside], kind="stable")][: 3 * n_add]
        tl = tilt[etfs.enh_row[e]]
        add = outside[np.argsort(-tl[outside], kind="stable")][:n_add]
        return tl, add

    def new_basket(e: int, day: int, value: float, fcap: np.ndarray, el: np.ndarray) -> None:
        k = int(etfs.index_id[e])
        tl, add = enhanced_args(e, k, fcap, el)
        st, q = build_basket(
            comps[k][0],
            comps[k][1],
            close_prev,
            value,
            tl,
            add,
            cfg.enhanced_swap_frac if tl is not None else 0.0,
        )
        cur_start[e], cur_len[e] = pool.add(e, day, st, q)

    # pre-listed ETFs: basket at day -1 prices, shares to hit the category AUM target
    s0 = etfs.s0.copy()
    pre = np.flatnonzero(etfs.pre)
    for e in pre:
        new_basket(int(e), 0, etfs.nav0[e] * etfs.unit[e], fcap0, elig)
    nav_m1 = np.array(
        [
            (
                pool.q[cur_start[e] : cur_start[e] + cur_len[e]]
                * close_prev[pool.stock[cur_start[e] : cur_start[e] + cur_len[e]]]
            ).sum()
            / etfs.unit[e]
            for e in range(E)
        ]
    )
    # category target split over indices ~ popularity x index float cap, then over the
    # index's ETFs ~ weight0 (log-normal, the first ETF on an index 4x)
    idx_cap = np.array([(fcap0[m]).sum() for m, _ in comps])
    for c in range(3):
        sel = pre[etfs.category[pre] == c]
        if not len(sel):
            continue
        target = np.exp(logf[0, c]) * fcap0.sum()
        ks = np.unique(etfs.index_id[sel])
        pk = np.array([defs[k].popularity * idx_cap[k] for k in ks])
        for k, share in zip(ks, pk / pk.sum(), strict=True):
            on = sel[etfs.index_id[sel] == k]
            a = target * share * etfs.weight0[on] / etfs.weight0[on].sum()
            s0[on] = np.maximum(np.round(a / nav_m1[on] / etfs.unit[on]), 1.0) * etfs.unit[on]

    # --- events ---
    me = month_end_positions(days)
    months = days[me].astype("datetime64[M]").astype(np.int64) % 12 + 1
    rebal = {
        int(d) + 1
        for d, mo in zip(me, months, strict=True)
        if mo in cfg.rebalance_months and d + 1 < T
    }
    list_days = {int(d) for d in etfs.list_day[~etfs.pre]}
    delist_days = {int(d) for d in uni.delist_day if d < T}
    pauses = sorted({0} | rebal | list_days | delist_days)
    bounds = [*pauses, T]

    close = np.full((T, N), np.nan)
    ret = np.full((T, N), np.nan)
    x = np.zeros((T, N))
    lev = np.zeros((T + 1, K))
    lev[0] = cfg.index_base
    shares = np.full((T, E), np.nan)
    nav = np.full((T, E), np.nan)
    fcap_out = np.zeros(T + 1)
    fcap_out[0] = fcap0.sum()
    gx_ring = np.zeros((cfg.impact_horizon, N))
    gx_sum = np.zeros(N)
    is_ipo = uni.is_ipo
    active = etfs.active(T)

    for i, pday in enumerate(pauses):
        if pday > 0:
            el = eligible_mask(cfg, uni, pday - 1)
            fcap = np.where(uni.listed[pday - 1], fs * close_prev, 0.0)
            if pday in rebal:
                for k, d in enumerate(defs):
                    m = select_members(d, cfg, uni, pday - 1, fcap, el)
                    if len(m) == 0:
                        m = comps[k][0][el[comps[k][0]]]
                        if len(m) == 0:
                            continue
                    iq = index_shares(m, fcap, fs, cfg.index_weight_cap)
                    old = (comps[k][1] * close_prev[comps[k][0]]).sum()
                    divisor[k] *= (iq * close_prev[m]).sum() / old
                    comps[k] = (m, iq)
                for e in np.flatnonzero(active[pday - 1] & active[pday]):
                    new_basket(int(e), pday, nav[pday - 1, e] * etfs.unit[e], fcap, el)
            gone = np.flatnonzero(uni.delist_day == pday)
            if len(gone):
                for k in range(K):
                    m, iq = comps[k]
                    keep = ~np.isin(m, gone)
                    if not keep.all() and keep.any():
                        old = (iq * close_prev[m]).sum()
                        divisor[k] *= (iq[keep] * close_prev[m[keep]]).sum() / old
                        comps[k] = (m[keep], iq[keep])
                for e in np.flatnonzero(active[pday]):
                    a, b = cur_start[e], cur_start[e] + cur_len[e]
                    keep = ~np.isin(pool.stock[a:b], gone)
                    if not keep.all() and keep.any():
                        st, q = pool.stock[a:b][keep].copy(), pool.q[a:b][keep].copy()
                        cur_start[e], cur_len[e] = pool.add(int(e), pday, st, q)
            for e in np.flatnonzero((etfs.list_day == pday) & ~etfs.pre):
                new_basket(int(e), pday, etfs.nav0[e] * etfs.unit[e], fcap, el)
        idx_ptr, idx_stock, idx_iq = _csr(comps)
        simulate_segment(
            pday,
            bounds[i + 1],
            r_raw,
            uni.listed,
            uni.susp,
            uni.st,
            uni.limit,
            cfg.limit_st,
            uni.list_day,
            is_ipo,
            uni.ipo_ret,
            fs,
            close_prev,
            close,
            ret,
            x,
            gx_ring,
            gx_sum,
            gamma_day,
            cfg.impact_horizon,
            idx_ptr,
            idx_stock,
            idx_iq,
            divisor,
            lev,
            etfs.index_id,
            etfs.category.astype(np.int64),
            etfs.unit,
            etfs.list_day,
            etfs.delist_day,
            etfs.pre,
            s0,
            cur_start,
            cur_len,
            pool.stock,
            pool.q,
            eta,
            u_round,
            beta_day,
            logf,
            cfg.flow_kappa,
            cfg.flow_lookback,
            cfg.flow_clip[0],
            cfg.flow_clip[1],
            cfg.impact_drift_cap,
            shares,
            nav,
            fcap_out,
        )
        if progress is not None:
            progress("simulate", bounds[i + 1], T)
    etfs.s0 = s0
    prev_close = np.vstack([np.where(uni.listed[0], uni.p0, np.nan)[None, :], close[:-1]])
    prev_close[uni.list_day[is_ipo], np.flatnonzero(is_ipo)] = uni.p0[is_ipo]
    return SimResult(
        days=days,
        uni=uni,
        defs=defs,
        etfs=etfs,
        close=close,
        ret=ret,
        x=x,
        lev=lev[1:],
        shares=shares,
        nav=nav,
        active=active,
        baskets=pool.finish(E),
        prev_close=prev_close,
    )

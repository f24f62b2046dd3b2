"""The tables of the Huafu 2026-02 industry rotation (docs/methodology.md#11-input-tables):
index closes (with the CNI Growth / Value pair), active equity funds, their disclosed
holdings, daily NAVs and monthly new issuance.

Active funds hold a concentrated stock portfolio chosen at each quarter end from an industry
preference, a size tilt and a value tilt; between quarter ends they buy and hold (no trading),
so the daily NAV is exactly the holdings' value path (plus 8% cash, minus a 1.5%/yr fee).
Disclosures: every quarter the top 10 holdings by value (``is_full`` false) ~15 trading days
after the quarter end; after June and December the remaining holdings (``is_full`` true)
~42 trading days (about two months) after. Reports not yet published on the last day are
left out (point in time).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from etfflow.data_samples.calendar import month_end_positions
from etfflow.data_samples.config import MarketConfig, by_year
from etfflow.data_samples.etfs import MANAGERS
from etfflow.data_samples.industries import INDUSTRIES
from etfflow.data_samples.simulate import SimResult
from etfflow.data_samples.tables import categorical, dates

FUND_TYPES = ("普通股票型", "偏股混合型", "灵活配置型")
_THEMES = (
    "成长",
    "价值",
    "精选",
    "优势",
    "先锋",
    "回报",
    "动力",
    "核心",
    "蓝筹",
    "新兴产业",
    "消费",
    "科技",
)
#: Active equity fund new issuance per year (shares), full-size market; scaled by float cap.
ACTIVE_ISSUANCE = {
    2019: 0.6e12,
    2020: 2.1e12,
    2021: 2.2e12,
    2022: 0.6e12,
    2023: 0.4e12,
    2024: 0.25e12,
    2025: 0.25e12,
}
_FULL_FCAP = 6.0e13


#: CNI Growth / CNI Value (国证成长 / 国证价值), the style pair of Huafu 2026-02: the third of
#: the top-1000 stocks by float cap with the lowest (growth) or highest (value) value loading,
#: float-cap weighted, reselected at each month end. No ETF tracks them.
CNI_STYLE: tuple[tuple[str, int], ...] = (("399370.SZ", -1), ("399371.SZ", 1))


def cni_style_levels(cfg: MarketConfig, res: SimResult) -> np.ndarray:
    """``(T, 2)`` closes of :data:`CNI_STYLE` (base ``cfg.index_base`` the day before day 0).

    Members are chosen with the float caps of the last day of the previous month (day 0: the
    initial prices); the daily return is the float-cap-weighted return of the members with a
    close the day before (a missing return counts as 0).
    """
    u, T = res.uni, res.close.shape[0]
    n = max(cfg.index_min_members, round(1000 * cfg.index_scale)) // 3
    starts = [0, *[int(d) + 1 for d in month_end_positions(res.days) if d + 1 < T]]
    fcap_prev = np.vstack(
        [np.where(u.listed[0], u.float_shares * u.p0, np.nan), res.close[:-1] * u.float_shares]
    )
    ret = np.where(np.isfinite(res.ret), res.ret, 0.0)
    out = np.empty((T, len(CNI_STYLE)))
    for k, (_code, side) in enumerate(CNI_STYLE):
        level = cfg.index_base
        for j, a in enumerate(starts):
            b = starts[j + 1] if j + 1 < len(starts) else T
            f = np.where(np.isfinite(fcap_prev[a]) & ~u.st[max(a - 1, 0)], fcap_prev[a], 0.0)
            pool = np.argsort(-f, kind="stable")[: max(3 * n, 3)]
            pool = pool[f[pool] > 0]
            order = np.argsort(side * -u.value_load[pool], kind="stable")
            m = np.sort(pool[order[:n]])
            w = np.where(np.isfinite(fcap_prev[a:b, m]), fcap_prev[a:b, m], 0.0)
            w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
            growth = np.cumprod(1.0 + (w * ret[a:b, m]).sum(axis=1))
            out[a:b, k] = level * growth
            level = out[b - 1, k]
    return out


def index_daily(cfg: MarketConfig, res: SimResult) -> pl.DataFrame:
    """Closes of every index of the market and of :data:`CNI_STYLE`, sorted by (date, code)."""
    T, K = res.lev.shape
    codes = [d.code for d in res.defs] + [c for c, _ in CNI_STYLE]
    lev = np.hstack([res.lev, cni_style_levels(cfg, res)])
    K = lev.shape[1]
    order = np.argsort(np.array(codes), kind="stable")
    t = np.repeat(np.arange(T), K)
    k = np.tile(order, T)
    return pl.DataFrame(
        [
            dates("date", res.days[t]),
            categorical("index_code", k, codes),
            pl.Series("close", lev[t, k]),
        ]
    )


def active_funds(
    cfg: MarketConfig, res: SimResult, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(active_funds, active_holdings, fund_nav)."""
    u, days = res.uni, res.days
    T = res.close.shape[0]
    F = cfg.n_active_funds
    nums = np.sort(rng.choice(np.arange(1, 20000), size=F, replace=False))
    codes = [f"{x:06d}.OF" for x in nums]
    ftype = rng.choice(len(FUND_TYPES), size=F, p=[0.25, 0.6, 0.15])
    names = [
        f"{MANAGERS[rng.integers(len(MANAGERS))]}{_THEMES[rng.integers(len(_THEMES))]}"
        f"{'股票' if ft == 0 else '混合'}"
        for ft in ftype
    ]
    funds = pl.DataFrame(
        [
            categorical("fund_code", np.arange(F), codes),
            pl.Series("name", names, dtype=pl.String),
            pl.Series("fund_type", [FUND_TYPES[i] for i in ftype], dtype=pl.String),
        ]
    )

    n_ind = len(INDUSTRIES)
    pref = rng.dirichlet(np.full(n_ind, 0.4), size=F)
    b_size = rng.normal(0.4, 0.5, F)
    b_val = rng.normal(0.0, 0.5, F)
    n_hold = rng.integers(cfg.active_holdings_range[0], cfg.active_holdings_range[1] + 1, F)
    nav0 = rng.uniform(1.0, 3.0, F)
    fcap0 = np.nansum(u.float_shares * u.p0 * u.listed[0])
    aum0 = fcap0 * 4e-5 * np.exp(1.0 * rng.standard_normal(F))
    units = aum0 / nav0
    zcap = np.log(u.float_shares * u.p0)
    zcap = (zcap - zcap.mean()) / zcap.std()
    fee = (1.0 - cfg.active_fee / 242.0) ** np.arange(1, T + 1)

    me = month_end_positions(days)
    qe = [int(d) for d in me if days[d].astype("datetime64[M]").astype(np.int64) % 3 == 2]
    starts = [0, *[q + 1 for q in qe if q + 1 < T]]
    value = aum0.copy()  # gross fund value before fees
    nav = np.empty((T, F))
    rows: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]] = []
    close = np.where(np.isnan(res.close), 0.0, res.close)
    for j, a in enumerate(starts):
        b = starts[j + 1] if j + 1 < len(starts) else T
        dref = max(a - 1, 0)
        px = close[a - 1] if a > 0 else np.where(u.listed[0], u.p0, 0.0)
        age_ok = (u.list_day <= dref - 60) | ~u.is_ipo
        elig = np.flatnonzero(u.listed[dref] & ~u.st[dref] & age_ok & (px > 0))
        l1 = u.l1_at(dref)[elig]
        noise = rng.standard_normal((F, len(elig)))
        for f in range(F):
            score = (
                np.log(pref[f, l1] + 1e-3)
                + b_size[f] * zcap[elig]
                + b_val[f] * u.value_load[elig]
                + 0.7 * noise[f]
            )
            top = np.argsort(-score, kind="stable")[: n_hold[f]]
            w = (1.0 + np.argsort(top, kind="stable")) ** -0.8  # by score rank, in stock order
            m = elig[np.sort(top)]
            w = (1.0 - cfg.active_cash) * w / w.sum()
            qty = w * value[f] / px[m]
            cash = cfg.active_cash * value[f]
            path = cash + close[a:b][:, m] @ qty
            nav[a:b, f] = path / units[f] * fee[a:b]
            if a > 0:  # a report of the quarter end a-1: holdings valued at its close
                rows.append((a - 1, f, m, qty * px[m] * fee[a - 1], w))
            value[f] = path[-1]

    # disclosures (rows come sorted by report date, fund code, stock code)
    rd, fc, sc, dd, mv, full = [], [], [], [], [], []
    for q, f, m, val, _w in rows:
        rank = np.empty(len(m), dtype=np.int64)
        rank[np.argsort(-val, kind="stable")] = np.arange(len(m))
        is_semi = days[q].astype("datetime64[M]").astype(np.int64) % 12 + 1 in (6, 12)
        is_top = rank < 10
        lag = np.where(is_top, cfg.top10_lag_days, cfg.full_lag_days)
        keep = (is_top | is_semi) & (q + lag < T)
        if not keep.any():
            continue
        qd = (days[q].astype("datetime64[M]") + 1).astype("datetime64[D]") - 1
        o = np.flatnonzero(keep)  # m is sorted by stock position
        rd.append(np.full(len(o), qd))
        fc.append(np.full(len(o), f))
        sc.append(m[o])
        dd.append(days[q + lag[o]])
        mv.append(val[o])
        full.append(~is_top[o])

    def cat(parts: list[np.ndarray], dtype: str) -> np.ndarray:
        return np.concatenate(parts) if parts else np.array([], dtype=dtype)

    hold = pl.DataFrame(
        [
            dates("report_date", cat(rd, "datetime64[D]")),
            categorical("fund_code", cat(fc, "int64"), codes),
            categorical("code", cat(sc, "int64"), u.codes),
            dates("disclose_date", cat(dd, "datetime64[D]")),
            pl.Series("mv", cat(mv, "float64"), dtype=pl.Float64),
            pl.Series("is_full", cat(full, "bool"), dtype=pl.Boolean),
        ]
    )
    row_t = np.repeat(np.arange(T), F)
    row_f = np.tile(np.arange(F), T)
    fund_nav = pl.DataFrame(
        [
            dates("date", days[row_t]),
            categorical("fund_code", row_f, codes),
            pl.Series("nav", nav[row_t, row_f]),
        ]
    )
    return funds, hold, fund_nav


def fund_issuance(cfg: MarketConfig, res: SimResult, rng: np.random.Generator) -> pl.DataFrame:
    """Monthly new shares: ETFs = initial shares of that month's listings; active = a path."""
    days, e = res.days, res.etfs
    months = np.unique(days.astype("datetime64[M]"))
    lm = days[np.minimum(e.list_day, len(days) - 1)].astype("datetime64[M]")
    etf_new = np.array([e.s0[(~e.pre) & (lm == m)].sum() for m in months])
    fcap0 = np.nansum(res.uni.float_shares * res.uni.p0 * res.uni.listed[0])
    years = months.astype("datetime64[Y]").astype(np.int64) + 1970
    act = np.array([by_year(ACTIVE_ISSUANCE, int(y)) for y in years]) / 12.0 * fcap0 / _FULL_FCAP
    act = np.round(act * np.exp(0.4 * rng.standard_normal(len(months))), -4)
    n = len(months)
    return pl.DataFrame(
        [
            dates("month", np.repeat(months.astype("datetime64[D]"), 2)),
            pl.Series("kind", ["active", "etf"] * n, dtype=pl.String),
            pl.Series("new_shares", np.column_stack([act, etf_new]).ravel()),
        ]
    )

"""Stock universe (codes, boards, industries, float caps, listing events) and factor returns.

Stocks are indexed ``0..N-1`` in ascending code order and days ``0..T-1`` in calendar order,
so ``np.nonzero`` over a day-major ``(T, N)`` mask yields rows sorted by ``(date, code)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from etfflow.data_samples.calendar import years_of
from etfflow.data_samples.config import MarketConfig, by_year
from etfflow.data_samples.industries import INDUSTRIES, NAME_CHARS, NAME_SUFFIX

BOARD_NAMES = ("SH_MAIN", "SZ_MAIN", "CHINEXT", "STAR")
SH_MAIN, SZ_MAIN, CHINEXT, STAR = 0, 1, 2, 3
#: Code prefixes per board: (prefix, weight for listed-before-start, weight for IPOs).
BOARD_PREFIXES: dict[int, tuple[tuple[str, float, float], ...]] = {
    SH_MAIN: (("600", 0.45, 0.0), ("601", 0.20, 0.1), ("603", 0.33, 0.6), ("605", 0.02, 0.3)),
    SZ_MAIN: (("000", 0.45, 0.0), ("001", 0.02, 0.5), ("002", 0.52, 0.2), ("003", 0.01, 0.3)),
    CHINEXT: (("300", 1.0, 0.3), ("301", 0.0, 0.7)),
    STAR: (("688", 1.0, 1.0),),
}


@dataclass
class Universe:
    """The stocks and their static attributes plus the day-by-stock status masks."""

    codes: list[str]
    names: list[str]
    board: np.ndarray  # int8, index into BOARD_NAMES
    is_sh: np.ndarray  # bool
    list_day: np.ndarray  # int64, 0 for stocks listed before the first day
    list_date: np.ndarray  # datetime64[D]
    delist_day: np.ndarray  # int64, T when not delisted inside the period
    float_shares: np.ndarray
    total_shares: np.ndarray
    p0: np.ndarray  # close of day -1 (pre-listed) or issue price (IPO)
    ipo_ret: np.ndarray  # listing-day return over the issue price (IPO stocks)
    is_ipo: np.ndarray
    l1: np.ndarray  # int64 initial level-1 industry
    l2: np.ndarray  # int64 initial level-2 position within l1
    change_day: np.ndarray  # int64, T when no industry change
    l1_new: np.ndarray
    l2_new: np.ndarray
    beta: np.ndarray
    size_load: np.ndarray
    value_load: np.ndarray
    div_attr: np.ndarray
    idio_vol: np.ndarray
    limit: np.ndarray  # board price limit (decimal)
    listed: np.ndarray  # (T, N) bool
    st: np.ndarray  # (T, N) bool
    susp: np.ndarray  # (T, N) bool

    @property
    def n(self) -> int:
        return len(self.codes)

    def l1_at(self, t: int) -> np.ndarray:
        """Level-1 industry of every stock on day ``t`` (point in time)."""
        return np.where(t >= self.change_day, self.l1_new, self.l1)

    def l2_at(self, t: int) -> np.ndarray:
        return np.where(t >= self.change_day, self.l2_new, self.l2)


def _draw_codes(rng: np.random.Generator, board: int, n_old: int, n_new: int) -> list[str]:
    """Unique 6-digit codes with the board's real prefixes; IPOs favour the newer prefixes."""
    pref = BOARD_PREFIXES[board]
    pool = np.array([f"{p}{i:03d}" for p, _, _ in pref for i in range(1, 1000)])
    w_old = np.repeat([w for _, w, _ in pref], 999)
    w_new = np.repeat([w for _, _, w in pref], 999)
    new = rng.choice(len(pool), size=n_new, replace=False, p=w_new / w_new.sum())
    w_old = w_old.copy()
    w_old[new] = 0.0
    if w_old.sum() <= 0:  # only new prefixes left
        w_old = np.ones(len(pool))
        w_old[new] = 0.0
    old = rng.choice(len(pool), size=n_old, replace=False, p=w_old / w_old.sum())
    suffix = ".SH" if board in (SH_MAIN, STAR) else ".SZ"
    return [pool[i] + suffix for i in old] + [pool[i] + suffix for i in new]


def _episodes(
    rng: np.random.Generator,
    mask: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    rate: np.ndarray,
    mean_len: float,
    max_len: int,
) -> None:
    """Set random day episodes in ``mask[:, s]`` inside ``[lo[s], hi[s])`` (in place)."""
    n_ep = rng.poisson(rate)
    for s in np.flatnonzero(n_ep):
        span = hi[s] - lo[s]
        if span <= 1:
            continue
        for _ in range(n_ep[s]):
            a = lo[s] + rng.integers(0, span)
            length = min(int(rng.geometric(1.0 / mean_len)), max_len)
            mask[a : min(a + length, hi[s]), s] = True


def make_universe(cfg: MarketConfig, days: np.ndarray, rng: np.random.Generator) -> Universe:
    """Draw the stocks: boards, codes, industries, caps, IPOs, delistings, ST, suspensions."""
    T = len(days)
    n = cfg.n_stocks
    n_ipo = round(cfg.ipo_frac * n)
    if cfg.ipo_frac > 0:
        n_ipo = max(n_ipo, 1)
    n_old = n - n_ipo
    b_old = rng.choice(
        4, size=n_old, p=np.array(cfg.board_mix_existing) / sum(cfg.board_mix_existing)
    )
    b_new = rng.choice(4, size=n_ipo, p=np.array(cfg.board_mix_ipo) / sum(cfg.board_mix_ipo))
    codes: list[str] = []
    board: list[int] = []
    is_ipo: list[bool] = []
    for b in range(4):
        no, nn = int((b_old == b).sum()), int((b_new == b).sum())
        cs = _draw_codes(rng, b, no, nn)
        codes += cs
        board += [b] * (no + nn)
        is_ipo += [False] * no + [True] * nn
    order = np.argsort(np.array(codes), kind="stable")
    codes = [codes[i] for i in order]
    board_a = np.array(board, dtype=np.int8)[order]
    ipo = np.array(is_ipo)[order]

    # industries
    w = np.array([x[1] for x in INDUSTRIES])
    l1 = rng.choice(len(INDUSTRIES), size=n, p=w / w.sum())
    n_l2 = np.array([len(x[3]) for x in INDUSTRIES])
    l2 = np.floor(rng.random(n) * n_l2[l1]).astype(np.int64)
    cap_mult = np.array([x[2] for x in INDUSTRIES])[l1]

    # float caps, prices, shares
    med = np.where(ipo, cfg.ipo_float_mcap_median, cfg.float_mcap_median)
    board_mult = np.array([1.3, 1.0, 0.6, 0.8])[board_a]
    fcap = med * board_mult * cap_mult * np.exp(cfg.float_mcap_log_sd * rng.standard_normal(n))
    fcap = np.clip(fcap, *cfg.float_mcap_bounds)
    zcap = (np.log(fcap) - np.log(fcap).mean()) / np.log(fcap).std()
    price = cfg.price_median * np.exp(cfg.price_log_sd * rng.standard_normal(n) + 0.15 * zcap)
    price = np.round(np.clip(price, 2.0, 1500.0), 2)
    float_shares = np.maximum(np.round(fcap / price / 100.0) * 100.0, 1e5)
    total_shares = (
        np.round(float_shares * np.where(ipo, rng.uniform(3, 5, n), rng.uniform(1, 2.5, n)) / 100)
        * 100
    )

    # listing and delisting
    list_day = np.zeros(n, dtype=np.int64)
    ipo_idx = np.flatnonzero(ipo)
    lo_ipo, hi_ipo = min(5, T - 1), max(min(5, T - 1) + 1, T - 10)
    list_day[ipo_idx] = rng.integers(lo_ipo, hi_ipo, size=len(ipo_idx))
    start = days[0]
    # pre-listed: list date before start, weekdays, mostly after 2005
    age = (rng.exponential(2500, n) + 90).astype(np.int64)
    pre_dates = np.busday_offset(start - age.astype("timedelta64[D]"), 0, roll="backward")
    pre_dates = np.maximum(pre_dates, np.datetime64("1990-12-19"))
    list_date = np.where(ipo, days[np.minimum(list_day, T - 1)], pre_dates)
    ipo_ret = np.zeros(n)
    ipo_growth = ipo & (board_a >= CHINEXT)
    ipo_ret[ipo] = cfg.ipo_pop_main_max * rng.uniform(0.3, 1.0, ipo.sum())
    ipo_ret[ipo_growth] = rng.uniform(0.1, 2.0, ipo_growth.sum())

    delist_day = np.full(n, T, dtype=np.int64)
    n_del = round(cfg.delist_frac * n)
    if cfg.delist_frac > 0:
        n_del = max(n_del, 1)
    old_idx = np.flatnonzero(~ipo)
    small = old_idx[np.argsort(fcap[old_idx], kind="stable")][: max(n_del, len(old_idx) // 3)]
    dl = rng.choice(small, size=min(n_del, len(small)), replace=False)
    lo_d = min(max(20, T // 4), T - 2)
    delist_day[dl] = rng.integers(lo_d, T - 1, size=len(dl))

    listed = np.zeros((T, n), dtype=bool)
    tt = np.arange(T)[:, None]
    listed[:] = (tt >= list_day[None, :]) & (tt < delist_day[None, :])

    # ST: delisting stocks are ST from >= 140 trading days before; a few other ST episodes
    st = np.zeros((T, n), dtype=bool)
    for s in dl:
        a = delist_day[s] - int(rng.integers(140, 260))
        st[max(a, 0) : delist_day[s], s] = True
    cand = np.setdiff1d(old_idx, dl)
    n_st = round(cfg.st_frac * n)
    if cfg.st_frac > 0:
        n_st = max(n_st, 1)
    for s in rng.choice(cand, size=min(n_st, len(cand)), replace=False):
        a = int(rng.integers(-100, T))
        b = a + int(rng.integers(120, 500))
        st[max(a, 0) : max(min(b, T), 0), s] = True
    st &= listed

    # suspensions: episodes inside the listed span, never on the listing day
    susp = np.zeros((T, n), dtype=bool)
    lo = np.where(ipo, list_day + 1, 0)
    hi = np.minimum(delist_day, T)
    rate = cfg.suspension_rate * np.maximum(hi - lo, 0) / 242.0
    _episodes(rng, susp, lo, hi, rate, cfg.suspension_mean_days, 20)
    susp &= listed
    susp[list_day[ipo_idx], ipo_idx] = False

    # industry changes (point in time)
    change_day = np.full(n, T, dtype=np.int64)
    l1_new, l2_new = l1.copy(), l2.copy()
    n_ch = round(cfg.industry_change_frac * n)
    if cfg.industry_change_frac > 0:
        n_ch = max(n_ch, 1)
    cand = np.setdiff1d(old_idx, dl)
    for s in rng.choice(cand, size=min(n_ch, len(cand)), replace=False):
        change_day[s] = int(rng.integers(min(10, T - 2), max(min(10, T - 2) + 1, T - 10)))
        new = int(rng.integers(0, len(INDUSTRIES) - 1))
        l1_new[s] = new + (new >= l1[s])
        l2_new[s] = int(rng.integers(0, n_l2[l1_new[s]]))

    # factor loadings
    beta = rng.uniform(*cfg.beta_range, n)
    size_load = -zcap
    value_load = rng.standard_normal(n) + 0.4 * np.isin(
        l1, _l1_ids(("银行", "煤炭", "钢铁", "房地产", "建筑"))
    ).astype(float)
    div_attr = (
        0.6 * value_load
        + 0.3 * zcap
        + 0.8 * np.isin(l1, _l1_ids(_high_div()))
        + 0.5 * rng.standard_normal(n)
    )
    idio_vol = cfg.idio_vol_median * np.exp(
        -0.15 * zcap + cfg.idio_vol_log_sd * rng.standard_normal(n)
    )
    limit = np.where(board_a >= CHINEXT, cfg.limit_growth, cfg.limit_main)
    names = _names(rng, l1)
    return Universe(
        codes=codes,
        names=names,
        board=board_a,
        is_sh=np.isin(board_a, (SH_MAIN, STAR)),
        list_day=list_day,
        list_date=list_date.astype("datetime64[D]"),
        delist_day=delist_day,
        float_shares=float_shares,
        total_shares=np.maximum(total_shares, float_shares),
        p0=price,
        ipo_ret=ipo_ret,
        is_ipo=ipo,
        l1=l1,
        l2=l2,
        change_day=change_day,
        l1_new=l1_new,
        l2_new=l2_new,
        beta=beta,
        size_load=size_load,
        value_load=value_load,
        div_attr=div_attr,
        idio_vol=idio_vol,
        limit=limit,
        listed=listed,
        st=st,
        susp=susp,
    )


def _high_div() -> tuple[str, ...]:
    from etfflow.data_samples.industries import HIGH_DIVIDEND_L1

    return HIGH_DIVIDEND_L1


def _l1_ids(names: tuple[str, ...]) -> list[int]:
    return [i for i, x in enumerate(INDUSTRIES) if x[0] in names]


def _names(rng: np.random.Generator, l1: np.ndarray) -> list[str]:
    chars = np.array(list(NAME_CHARS))
    a = rng.integers(0, len(chars), size=(len(l1), 2))
    pick = rng.random(len(l1))
    out = []
    for i, ind in enumerate(l1):
        suf = NAME_SUFFIX.get(INDUSTRIES[ind][0], ("股份", "集团", "科技"))
        out.append(chars[a[i, 0]] + chars[a[i, 1]] + suf[int(pick[i] * len(suf))])
    return out


def factor_returns(
    cfg: MarketConfig, days: np.ndarray, uni: Universe, rng: np.random.Generator
) -> np.ndarray:
    """Raw daily returns ``(T, N)`` before the planted flow impact and the price limits.

    ``r = beta*m + f_ind + size_load*z_size + value_load*z_value + idio_vol*eps`` with
    ``m = drift[year] + market_vol * z`` (``z`` standard normal demeaned within each year, so
    the market's yearly drift is exactly ``market_drift``), ``f_ind ~ N(0, industry_vol)`` per
    level-1 industry (point in time), ``z_size ~ N(0, size_vol)``,
    ``z_value ~ N(0, value_vol)`` and ``eps`` a unit-variance Student t.
    """
    T, n = len(days), uni.n
    years = years_of(days)
    drift = np.array([by_year(cfg.market_drift, int(y)) for y in years])
    z = rng.standard_normal(T)
    for y in np.unique(years):  # demean per year: each year's market drift is exact
        z[years == y] -= z[years == y].mean()
    m = drift + cfg.market_vol * z
    f_ind = cfg.industry_vol * rng.standard_normal((T, len(INDUSTRIES)))
    z_size = cfg.size_vol * rng.standard_normal(T)
    z_val = cfg.value_vol * rng.standard_normal(T)
    nu = cfg.idio_t_dof
    eps = rng.standard_t(nu, size=(T, n)) * np.sqrt((nu - 2) / nu)
    r = eps
    r *= uni.idio_vol[None, :]
    r += uni.beta[None, :] * m[:, None]
    r += uni.size_load[None, :] * z_size[:, None]
    r += uni.value_load[None, :] * z_val[:, None]
    r += f_ind[:, uni.l1]
    for s in np.flatnonzero(uni.change_day < T):
        c = uni.change_day[s]
        r[c:, s] += f_ind[c:, uni.l1_new[s]] - f_ind[c:, uni.l1[s]]
    return r

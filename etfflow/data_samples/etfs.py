"""ETF universe (listing schedule, categories, tracked index, creation unit) and baskets.

The count of ETFs follows Huaan 2024-12 table 7 scaled so that ``n_etfs_end`` are listed on the last
day; new listings take the category mix of that year's increase in table 7, and the target AUM
of each category is ``aum_frac(t) * share_c(t) * total float cap`` (table 7's AUM mix).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from etfflow.data_samples.config import ETF_HISTORY, MarketConfig, by_year
from etfflow.data_samples.indices import BROAD, IndexDef

MANAGERS = (
    "华夏",
    "易方达",
    "华泰柏瑞",
    "南方",
    "嘉实",
    "广发",
    "富国",
    "国泰",
    "天弘",
    "汇添富",
    "博时",
    "招商",
    "鹏华",
    "银华",
    "工银",
    "建信",
    "华宝",
    "平安",
    "景顺长城",
    "摩根",
)
SH_PREFIXES = ("510", "512", "515", "516", "517", "560", "561", "562", "563")


@dataclass
class EtfUniverse:
    codes: list[str]  # sorted
    names: list[str]
    category: np.ndarray  # int8: 0 broad, 1 sector, 2 style
    index_id: np.ndarray  # position in the index definitions
    is_enhanced: np.ndarray
    unit: np.ndarray  # creation unit (shares)
    list_day: np.ndarray  # 0 for ETFs listed before the first day
    list_date: np.ndarray  # datetime64[D]
    delist_day: np.ndarray  # T when not delisted
    pre: np.ndarray  # listed before the first day
    nav0: np.ndarray  # NAV targeted by the first basket
    weight0: np.ndarray  # relative AUM of pre-listed ETFs inside their category
    s0: np.ndarray  # initial shares (new ETFs: fixed here; pre-listed: set by the simulator)
    is_sh: np.ndarray
    enh_row: np.ndarray  # row in the tilt matrix, -1 when not enhanced

    @property
    def n(self) -> int:
        return len(self.codes)

    def active(self, T: int) -> np.ndarray:
        t = np.arange(T)[:, None]
        return (t >= self.list_day[None, :]) & (t < self.delist_day[None, :])


def _anchor_days(days: np.ndarray) -> np.ndarray:
    """Fractional year position of each day (year end of ``y`` = ``y + 1.0`` on the axis)."""
    y = days.astype("datetime64[Y]")
    doy = (days - y.astype("datetime64[D]")).astype(np.float64)
    ylen = ((y + 1).astype("datetime64[D]") - y.astype("datetime64[D]")).astype(np.float64)
    return y.astype(np.int64) + 1970 + (doy + 1) / ylen


def _interp_years(x: np.ndarray, table: dict[int, float]) -> np.ndarray:
    """Interpolate year-end anchors (year ``y`` sits at ``y + 1.0``) at positions ``x``."""
    ys = np.array(sorted(table), dtype=np.float64)
    vs = np.array([table[int(y)] for y in ys])
    return np.interp(x, ys + 1.0, vs)


def count_paths(days: np.ndarray) -> np.ndarray:
    """ETF counts per category ``(len(days), 3)`` from Huaan 2024-12 table 7 (unscaled)."""
    x = _anchor_days(days)
    return np.stack(
        [_interp_years(x, {y: float(v[c]) for y, v in ETF_HISTORY.items()}) for c in range(3)],
        axis=1,
    )


def target_log_frac(cfg: MarketConfig, days: np.ndarray) -> np.ndarray:
    """``log(aum_frac * share_c)`` per day ``(T + 1, 3)``; row 0 is day -1 (= day 0)."""
    x = _anchor_days(days)
    years = sorted(set(ETF_HISTORY) | set(cfg.aum_frac))
    frac = _interp_years(x, {y: by_year(cfg.aum_frac, y) for y in years})
    aum = np.stack(
        [_interp_years(x, {y: v[3 + c] for y, v in ETF_HISTORY.items()}) for c in range(3)], axis=1
    )
    share = aum / aum.sum(axis=1, keepdims=True)
    lf = np.log(frac[:, None] * share)
    return np.vstack([lf[:1], lf])


def make_etfs(
    cfg: MarketConfig,
    days: np.ndarray,
    defs: list[IndexDef],
    fcap0: float,
    rng: np.random.Generator,
) -> EtfUniverse:
    """Draw the ETF universe (see the module docstring)."""
    T = len(days)
    counts = count_paths(days)
    # count at the last day scaled to n_etfs_end
    tot = counts.sum(axis=1)
    scale = cfg.n_etfs_end / tot[-1]
    n0 = max(1, round(scale * tot[0]))
    n_del = max(1, round(cfg.etf_delist_frac * cfg.n_etfs_end)) if cfg.etf_delist_frac > 0 else 0
    n_new = max(0, cfg.n_etfs_end + n_del - n0)
    # listing days ~ daily increase of the count path; category ~ per-category increase
    inc = np.clip(np.diff(counts, axis=0, prepend=counts[:1]), 0, None)[1:]  # days 1..T-1
    inc_tot = inc.sum(axis=1)
    p_day = inc_tot / inc_tot.sum() if inc_tot.sum() > 0 else np.full(T - 1, 1.0 / (T - 1))
    new_days = np.sort(rng.choice(np.arange(1, T), size=n_new, p=p_day))
    cat_new = np.empty(n_new, dtype=np.int8)
    for i, d in enumerate(new_days):
        w = inc[d - 1] if inc[d - 1].sum() > 0 else counts[d]
        cat_new[i] = rng.choice(3, p=w / w.sum())
    w0 = counts[0] / counts[0].sum()
    cat_pre = rng.choice(3, size=n0, p=w0).astype(np.int8)
    category = np.concatenate([cat_pre, cat_new])
    list_day = np.concatenate([np.zeros(n0, dtype=np.int64), new_days.astype(np.int64)])
    pre = np.arange(n0 + n_new) < n0
    n = n0 + n_new

    # tracked index: by popularity within the category
    index_id = np.empty(n, dtype=np.int64)
    by_cat = {c: [i for i, d in enumerate(defs) if d.category == c] for c in range(3)}
    for c in range(3):
        if not by_cat[c]:  # no index of this category: fall back to broad
            by_cat[c] = by_cat[BROAD]
    for i in range(n):
        ids = by_cat[int(category[i])]
        pop = np.array([defs[j].popularity for j in ids])
        index_id[i] = ids[int(rng.choice(len(ids), p=pop / pop.sum()))]
    csi300 = [i for i, d in enumerate(defs) if d.code == "000300.SH"]
    if csi300 and not (index_id == csi300[0]).any() and (category == BROAD).any():
        index_id[np.flatnonzero(category == BROAD)[0]] = csi300[0]  # always one CSI 300 ETF
    category = np.array([defs[j].category for j in index_id], dtype=np.int8)
    first = np.zeros(n, dtype=bool)
    seen: set[int] = set()
    for i in range(n):
        if int(index_id[i]) not in seen:
            seen.add(int(index_id[i]))
            first[i] = True

    band = np.array([defs[j].category == BROAD for j in index_id])
    is_enh = band & (rng.random(n) < cfg.enhanced_frac) & ~first
    if cfg.enhanced_frac > 0 and not is_enh.any() and band.any():  # at least one
        cand = np.flatnonzero(band & ~first) if (band & ~first).any() else np.flatnonzero(band)
        is_enh[cand[-1]] = True
    unit = rng.choice(np.array(cfg.creation_units), size=n)
    nav0 = np.round(rng.uniform(*cfg.etf_nav0_range, n), 3)
    pop = np.array([defs[j].popularity for j in index_id])
    weight0 = np.exp(1.2 * rng.standard_normal(n)) * pop * np.where(first, 4.0, 1.0)
    new_aum = (
        cfg.new_etf_aum_frac
        * fcap0
        * np.exp(0.7 * rng.standard_normal(n))
        * np.where(first, 2.0, 1.0)
    )
    s0 = np.maximum(np.round(new_aum / nav0 / unit), 1.0) * unit

    delist_day = np.full(n, T, dtype=np.int64)
    cand = np.flatnonzero(~first & (list_day < T // 2))
    if n_del and len(cand):
        small = cand[np.argsort(weight0[cand], kind="stable")][: max(n_del, len(cand) // 3)]
        for i in rng.choice(small, size=min(n_del, len(small)), replace=False):
            lo = min(max(int(list_day[i]) + 40, T // 3), T - 6)
            delist_day[i] = int(rng.integers(lo, T - 5))

    # exchange and codes
    is_star = np.array([defs[j].code == "000688.SH" for j in index_id])
    is_sh = rng.random(n) < 0.65
    codes = _etf_codes(rng, is_sh, is_star)
    names = []
    used: dict[str, int] = {}
    for i in range(n):
        base = (
            defs[int(index_id[i])].short
            + ("增强" if is_enh[i] else "")
            + "ETF"
            + MANAGERS[int(rng.integers(0, len(MANAGERS)))]
        )
        used[base] = used.get(base, 0) + 1
        names.append(base if used[base] == 1 else f"{base}{used[base]}")
    start = days[0]
    pre_age = rng.integers(30, 3000, n).astype("timedelta64[D]")
    pre_dates = np.busday_offset(start - pre_age, 0, roll="backward")
    list_date = np.where(pre, pre_dates, days[np.minimum(list_day, T - 1)]).astype("datetime64[D]")

    order = np.argsort(np.array(codes), kind="stable")
    enh_row = np.full(n, -1, dtype=np.int64)
    enh_row[is_enh] = np.arange(is_enh.sum())

    def o(a: np.ndarray) -> np.ndarray:
        return a[order]

    return EtfUniverse(
        codes=[codes[i] for i in order],
        names=[names[i] for i in order],
        category=o(category),
        index_id=o(index_id),
        is_enhanced=o(is_enh),
        unit=o(unit.astype(np.float64)),
        list_day=o(list_day),
        list_date=o(list_date),
        delist_day=o(delist_day),
        pre=o(pre),
        nav0=o(nav0),
        weight0=o(weight0),
        s0=o(s0),
        is_sh=o(is_sh),
        enh_row=o(enh_row),
    )


def _etf_codes(rng: np.random.Generator, is_sh: np.ndarray, is_star: np.ndarray) -> list[str]:
    sh_pool = [f"{p}{i:03d}" for p in SH_PREFIXES for i in range(1000)]
    star_pool = [f"588{i:03d}" for i in range(1000)]
    sz_pool = [f"159{i:03d}" for i in range(1000)]
    n_sh = int((is_sh & ~is_star).sum())
    n_star = int((is_sh & is_star).sum())
    n_sz = int((~is_sh).sum())
    sh = iter(rng.choice(sh_pool, size=n_sh, replace=False))
    st = iter(rng.choice(star_pool, size=n_star, replace=False))
    sz = iter(rng.choice(sz_pool, size=n_sz, replace=False))
    out = []
    for a, b in zip(is_sh, is_star, strict=True):
        out.append(f"{next(st if b else sh)}.SH" if a else f"{next(sz)}.SZ")
    return out


def build_basket(
    members: np.ndarray,
    iq: np.ndarray,
    close: np.ndarray,
    value: float,
    tilt: np.ndarray | None = None,
    add: np.ndarray | None = None,
    drop_frac: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Basket of one creation unit: ``q = round(w * value / close, lots of 100)``.

    ``w`` is the index weight (``iq * close`` normalised). Enhanced ETFs pass ``tilt``
    (multiplier per stock, all stocks), drop the ``drop_frac`` lowest-tilt members and add the
    stocks ``add`` at the median member weight. Every component holds at least one lot (100).
    Returns (sorted stock positions, quantities).
    """
    w = iq * close[members]
    w = w / w.sum()
    m = members
    if tilt is not None:
        w = w * tilt[m]
        k = round(drop_frac * len(m))
        if k and len(m) > k + 1:
            keep = np.sort(np.argsort(tilt[m], kind="stable")[k:])
            m, w = m[keep], w[keep]
        if add is not None and len(add):
            add = np.setdiff1d(add, m)
            m = np.concatenate([m, add])
            w = np.concatenate([w, np.full(len(add), np.median(w))])
        o = np.argsort(m, kind="stable")
        m, w = m[o], w[o] / w.sum()
    q = np.maximum(np.round(w * value / close[m] / 100.0), 1.0) * 100.0
    return m.astype(np.int64), q

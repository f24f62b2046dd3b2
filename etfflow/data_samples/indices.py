"""Indices built from the synthetic stocks: definitions, constituent selection and capping.

Every index is float-cap weighted with a per-stock weight cap, its constituents chosen on data
known at the rebalance date (the last trading day of June and December; effective the next
trading day). An index is held as "index shares" ``iq[s] = float_shares[s] * capping_factor[s]``
that stay fixed between rebalances, so its level is ``sum(iq * close) / divisor``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from etfflow.data_samples.config import MarketConfig
from etfflow.data_samples.industries import INDUSTRIES, L1_NAMES, SECTOR_INDICES
from etfflow.data_samples.stocks import CHINEXT, SH_MAIN, STAR, Universe

BROAD, SECTOR, STYLE = 0, 1, 2
CATEGORY_NAMES = ("broad", "sector", "style")


@dataclass(frozen=True)
class IndexDef:
    """One index: ``rule`` selects members (see :func:`select_members`)."""

    code: str
    short: str  # used in ETF names
    category: int
    rule: str  # band | board | industry | style_top | style_bottom | div | div_lowvol
    lo: int = 0
    hi: int = 0
    boards: tuple[int, ...] = ()
    l1: tuple[int, ...] = ()
    l2: tuple[tuple[int, int], ...] = ()
    popularity: float = 1.0


def _n(x: float, cfg: MarketConfig) -> int:
    return max(cfg.index_min_members, round(x * cfg.index_scale))


def index_defs(cfg: MarketConfig, uni: Universe) -> list[IndexDef]:
    """The indices of this market: 7 broad, up to ``n_sector_indices`` sector/theme, 4 style."""
    b300 = _n(300, cfg)
    b500 = b300 + _n(500, cfg)
    b1000 = b500 + _n(1000, cfg)
    b2000 = b1000 + _n(2000, cfg)
    defs = [
        IndexDef("000300.SH", "沪深300", BROAD, "band", 0, b300, popularity=3.0),
        IndexDef("000905.SH", "中证500", BROAD, "band", b300, b500, popularity=1.8),
        IndexDef("000852.SH", "中证1000", BROAD, "band", b500, b1000, popularity=1.5),
        IndexDef("932000.CSI", "中证2000", BROAD, "band", b1000, b2000, popularity=0.7),
        IndexDef(
            "000016.SH",
            "上证50",
            BROAD,
            "board",
            0,
            _n(50, cfg),
            boards=(SH_MAIN, STAR),
            popularity=0.8,
        ),
        IndexDef(
            "399006.SZ",
            "创业板",
            BROAD,
            "board",
            0,
            _n(100, cfg),
            boards=(CHINEXT,),
            popularity=1.2,
        ),
        IndexDef(
            "000688.SH", "科创50", BROAD, "board", 0, _n(50, cfg), boards=(STAR,), popularity=1.6
        ),
    ]
    # sector/theme indices with enough stocks in the universe
    l1_count = np.bincount(uni.l1, minlength=len(INDUSTRIES))
    n_sec = 0
    for rank, (code, short, l1s, l2s, is_theme) in enumerate(SECTOR_INDICES):
        if n_sec >= cfg.n_sector_indices:
            break
        ids = tuple(L1_NAMES.index(x) for x in l1s)
        pairs: tuple[tuple[int, int], ...] = ()
        if l2s:
            pairs = tuple(
                (i, INDUSTRIES[i][3].index(n2)) for i in ids for n2 in l2s if n2 in INDUSTRIES[i][3]
            )
            avail = sum(((uni.l1 == a) & (uni.l2 == b)).sum() for a, b in pairs)
        else:
            avail = int(l1_count[list(ids)].sum())
        if avail < 2 * cfg.index_min_members:
            continue
        top = cfg.theme_top_n if is_theme else cfg.sector_top_n
        defs.append(
            IndexDef(
                code,
                short,
                SECTOR,
                "industry",
                0,
                _n(top, cfg),
                l1=ids,
                l2=pairs,
                popularity=1.0 / (1.0 + rank / 8.0),
            )
        )
        n_sec += 1
    ns = _n(cfg.style_top_n, cfg)
    defs += [
        IndexDef("000922.CSI", "红利", STYLE, "div", 0, ns, popularity=2.0),
        IndexDef("930955.CSI", "红利低波", STYLE, "div_lowvol", 0, ns, popularity=1.0),
        IndexDef("000919.CSI", "价值", STYLE, "style_top", 0, ns, popularity=0.8),
        IndexDef("000918.CSI", "成长", STYLE, "style_bottom", 0, ns, popularity=0.6),
    ]
    return defs


def cap_weights(w: np.ndarray, cap: float) -> np.ndarray:
    """Cap weights at ``cap`` (raised to ``1.5/n`` when infeasible), redistributing the excess."""
    w = w / w.sum()
    cap = max(cap, 1.5 / len(w))
    for _ in range(50):
        over = w > cap + 1e-15
        if not over.any():
            break
        excess = (w[over] - cap).sum()
        w[over] = cap
        free = ~over & (w < cap)
        w[free] += excess * w[free] / w[free].sum()
    return w


def select_members(
    d: IndexDef, cfg: MarketConfig, uni: Universe, t: int, fcap: np.ndarray, eligible: np.ndarray
) -> np.ndarray:
    """Constituents (sorted stock positions) of ``d`` from float caps ``fcap`` on day ``t``."""
    elig = np.flatnonzero(eligible)
    by_cap = elig[np.argsort(-fcap[elig], kind="stable")]
    if d.rule == "band":
        m = by_cap[d.lo : d.hi]
    elif d.rule == "board":
        m = by_cap[np.isin(uni.board[by_cap], d.boards)][: d.hi]
    elif d.rule == "industry":
        l1 = uni.l1_at(t)[by_cap]
        if d.l2:
            l2 = uni.l2_at(t)[by_cap]
            ok = np.zeros(len(by_cap), dtype=bool)
            for a, b in d.l2:
                ok |= (l1 == a) & (l2 == b)
        else:
            ok = np.isin(l1, d.l1)
        m = by_cap[ok][: d.hi]
    else:
        pool = by_cap[: _n(800, cfg)]
        if d.rule == "style_top":
            m = pool[np.argsort(-uni.value_load[pool], kind="stable")][: min(d.hi, len(pool) // 3)]
        elif d.rule == "style_bottom":
            m = pool[np.argsort(uni.value_load[pool], kind="stable")][: min(d.hi, len(pool) // 3)]
        elif d.rule == "div":
            m = by_cap[np.argsort(-uni.div_attr[by_cap], kind="stable")][: d.hi]
        elif d.rule == "div_lowvol":
            top = by_cap[np.argsort(-uni.div_attr[by_cap], kind="stable")][: 2 * d.hi]
            m = top[np.argsort(uni.idio_vol[top], kind="stable")][: d.hi]
        else:  # pragma: no cover - definitions are internal
            raise ValueError(f"unknown index rule {d.rule}")
    return np.sort(m)


def index_shares(
    members: np.ndarray, fcap: np.ndarray, float_shares: np.ndarray, cap: float
) -> np.ndarray:
    """Index shares of ``members``: float shares times the capping factor."""
    w0 = fcap[members] / fcap[members].sum()
    w = cap_weights(w0.copy(), cap)
    return float_shares[members] * (w / w0)


def eligible_mask(cfg: MarketConfig, uni: Universe, t: int) -> np.ndarray:
    """Stocks an index may hold from day ``t``: listed on ``t``, not ST, listed long enough."""
    age_ok = (uni.list_day <= t - cfg.index_min_listed_days) | ~uni.is_ipo
    return uni.listed[t] & ~uni.st[t] & age_ok

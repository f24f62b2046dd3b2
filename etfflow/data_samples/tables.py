"""Turn a :class:`~etfflow.data_samples.simulate.SimResult` into contract tables (Polars).

Code columns are built as ``pl.Categorical`` straight from integer positions (an Arrow
dictionary array), so no per-row Python string is ever made; rows come out sorted by key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import numpy as np
import polars as pl
import pyarrow as pa

from etfflow.data_samples.industries import INDUSTRIES
from etfflow.data_samples.kernels import count_basket_rows, fill_basket_rows, fill_weight_rows
from etfflow.data_samples.simulate import SimResult
from etfflow.data_samples.stocks import BOARD_NAMES
from etfflow.engine.schemas import CASH_SUBSTITUTE_FLAGS, ETF_CATEGORIES

__all__ = [
    "categorical",
    "dates",
    "etf_daily",
    "etf_pcf_years",
    "etfs",
    "holding_weights",
    "stock_daily",
    "stock_industry",
    "stocks",
]


def categorical(name: str, idx: np.ndarray, categories: list[str]) -> pl.Series:
    """A ``pl.Categorical`` Series from integer positions into ``categories``."""
    arr = pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(idx, dtype=np.int32)), pa.array(categories)
    )
    s = cast(pl.Series, pl.from_arrow(arr))
    return s.rename(name)


def dates(name: str, d: np.ndarray) -> pl.Series:
    """A ``pl.Date`` Series from ``datetime64[D]`` values (NaT -> null)."""
    return pl.Series(name, d.astype("datetime64[D]"), dtype=pl.Date)


def _round2(x: np.ndarray) -> np.ndarray:
    return np.floor(x * 100.0 + 0.5) / 100.0


def stocks(res: SimResult) -> pl.DataFrame:
    u, T = res.uni, len(res.days)
    delist = np.where(
        u.delist_day < T, res.days[np.minimum(u.delist_day, T - 1)], np.datetime64("NaT")
    )
    return pl.DataFrame(
        [
            categorical("code", np.arange(u.n), u.codes),
            pl.Series("name", u.names, dtype=pl.String),
            pl.Series("board", [BOARD_NAMES[b] for b in u.board], dtype=pl.String),
            dates("list_date", u.list_date),
            dates("delist_date", delist),
        ]
    )


def stock_industry(res: SimResult) -> pl.DataFrame:
    """One row per stock, two for the stocks that change industry (end = day before change)."""
    u, T = res.uni, len(res.days)
    code, start, end, l1, l2 = [], [], [], [], []
    for s in range(u.n):
        c = int(u.change_day[s])
        code.append(s)
        start.append(u.list_date[s])
        l1.append(INDUSTRIES[u.l1[s]][0])
        l2.append(INDUSTRIES[u.l1[s]][3][u.l2[s]])
        if c < T:
            cd = res.days[c]
            end.append(cd - np.timedelta64(1, "D"))
            code.append(s)
            start.append(cd)
            end.append(np.datetime64("NaT"))
            l1.append(INDUSTRIES[u.l1_new[s]][0])
            l2.append(INDUSTRIES[u.l1_new[s]][3][u.l2_new[s]])
        else:
            end.append(np.datetime64("NaT"))
    return pl.DataFrame(
        [
            categorical("code", np.array(code), u.codes),
            dates("start_date", np.array(start, dtype="datetime64[D]")),
            pl.Series("industry_l1", l1, dtype=pl.String),
            pl.Series("industry_l2", l2, dtype=pl.String),
            dates("end_date", np.array(end, dtype="datetime64[D]")),
        ]
    )


def stock_daily(
    res: SimResult, rng: np.random.Generator, turnover_median: float, limit_st: float
) -> pl.DataFrame:
    u = res.uni
    t, s = np.nonzero(u.listed)
    close = res.close[t, s]
    prev = res.prev_close[t, s]
    st = u.st[t, s]
    susp = u.susp[t, s]
    fs = u.float_shares[s]
    fmcap = close * fs
    zcap = np.log(u.float_shares * u.p0) - np.log(u.float_shares * u.p0).mean()
    base = turnover_median * np.exp(-0.25 * zcap + 0.4 * rng.standard_normal(u.n))
    ret = res.ret[t, s]
    tau = base[s] * np.exp(0.35 * rng.standard_normal(len(t))) * (1.0 + 4.0 * np.abs(ret))
    tau[susp] = 0.0
    lim = np.where(st, limit_st, u.limit[s])
    first = u.is_ipo[s] & (t == u.list_day[s])
    up = np.where(first, np.nan, _round2(prev * (1.0 + lim)))
    down = np.where(first, np.nan, _round2(prev * (1.0 - lim)))
    return pl.DataFrame(
        [
            dates("date", res.days[t]),
            categorical("code", s, u.codes),
            pl.Series("close", close),
            pl.Series("ret", ret),
            pl.Series("float_mcap", fmcap),
            pl.Series("is_st", st),
            pl.Series("is_suspended", susp),
            pl.Series("total_mcap", close * u.total_shares[s]),
            pl.Series("amount", np.round(tau * fmcap, 2)),
            pl.Series("turnover", tau),
            pl.Series("up_limit", up, nan_to_null=True),
            pl.Series("down_limit", down, nan_to_null=True),
        ]
    )


def etfs(res: SimResult) -> pl.DataFrame:
    e, T = res.etfs, len(res.days)
    delist = np.where(
        e.delist_day < T, res.days[np.minimum(e.delist_day, T - 1)], np.datetime64("NaT")
    )
    codes = [d.code for d in res.defs]
    return pl.DataFrame(
        [
            categorical("etf_code", np.arange(e.n), e.codes),
            pl.Series("name", e.names, dtype=pl.String),
            pl.Series("category", [ETF_CATEGORIES[c] for c in e.category], dtype=pl.String),
            categorical("index_code", e.index_id, codes),
            pl.Series("is_enhanced", e.is_enhanced),
            pl.Series("creation_unit", e.unit.astype(np.float64)),
            dates("list_date", e.list_date),
            dates("delist_date", delist),
        ]
    )


def etf_daily(res: SimResult, rng: np.random.Generator) -> pl.DataFrame:
    e = res.etfs
    t, i = np.nonzero(res.active)
    nav = res.nav[t, i]
    shares = res.shares[t, i]
    close = np.round(nav * (1.0 + 0.001 * rng.standard_normal(len(t))), 3)
    base = np.where(e.category == 0, 0.03, 0.05) * np.exp(0.5 * rng.standard_normal(e.n))
    tau = base[i] * np.exp(0.4 * rng.standard_normal(len(t)))
    return pl.DataFrame(
        [
            dates("date", res.days[t]),
            categorical("etf_code", i, e.codes),
            pl.Series("shares", shares),
            pl.Series("nav", nav),
            pl.Series("close", close),
            pl.Series("amount", np.round(close * shares * tau, 2)),
        ]
    )


def etf_pcf_years(res: SimResult) -> Iterator[tuple[int, pl.DataFrame]]:
    """``(year, etf_pcf rows of that year)``, sorted by (date, etf_code, code)."""
    b, u, e = res.baskets, res.uni, res.etfs
    years = res.days.astype("datetime64[Y]").astype(np.int64) + 1970
    for y in np.unique(years):
        pos = np.flatnonzero(years == y)
        d0, d1 = int(pos[0]), int(pos[-1]) + 1
        n = count_basket_rows(d0, d1, res.active, b.ver_ptr, b.ver_from, b.ver_len)
        day = np.empty(n, dtype=np.int32)
        etf = np.empty(n, dtype=np.int32)
        stock = np.empty(n, dtype=np.int32)
        q = np.empty(n, dtype=np.float64)
        cash = np.empty(n, dtype=np.int8)
        fill_basket_rows(
            d0,
            d1,
            res.active,
            b.ver_ptr,
            b.ver_from,
            b.ver_start,
            b.ver_len,
            b.pool_stock,
            b.pool_q,
            u.susp,
            u.is_sh,
            e.is_sh,
            day,
            etf,
            stock,
            q,
            cash,
        )
        day_dates = res.days.astype(np.int64).astype(np.int32)[day]
        df = pl.DataFrame(
            [
                pl.Series("date", day_dates).cast(pl.Date),
                categorical("etf_code", etf, e.codes),
                categorical("code", stock, u.codes),
                pl.Series("quantity", q),
                categorical("cash_substitute", cash, list(CASH_SUBSTITUTE_FLAGS)),
            ]
        )
        del day, etf, stock, q, cash, day_dates
        yield int(y), df


def holding_weights(res: SimResult, snap_days: np.ndarray) -> pl.DataFrame:
    b, u, e = res.baskets, res.uni, res.etfs
    n = sum(
        count_basket_rows(int(t), int(t) + 1, res.active, b.ver_ptr, b.ver_from, b.ver_len)
        for t in snap_days
    )
    day = np.empty(n, dtype=np.int64)
    etf = np.empty(n, dtype=np.int64)
    stock = np.empty(n, dtype=np.int64)
    w = np.empty(n)
    fill_weight_rows(
        snap_days.astype(np.int64),
        res.active,
        b.ver_ptr,
        b.ver_from,
        b.ver_start,
        b.ver_len,
        b.pool_stock,
        b.pool_q,
        res.close,
        day,
        etf,
        stock,
        w,
    )
    codes = [d.code for d in res.defs]
    return pl.DataFrame(
        [
            dates("date", res.days[day]),
            categorical("etf_code", etf, e.codes),
            categorical("index_code", e.index_id[etf], codes),
            categorical("code", stock, u.codes),
            pl.Series("weight", w),
        ]
    )

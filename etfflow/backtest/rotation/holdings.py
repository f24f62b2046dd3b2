"""Weekly look-through of ETF scale to industries (docs/methodology.md#81-weekly-look-through).

At each week-end ``t`` every pool ETF's scale ``S[e,t]·N[e,t]`` is spread over its stocks with
the weights of the latest month-end ``m ≤ t`` ("个股权重周频数据取最近的月末成分及权重") and summed
by the stocks' industries at ``m``:

``H[i,t] = Σ_e S[e,t]·N[e,t] · Σ_{s ∈ i at m} w[e,s,m]``, ``L[i,t] = H[i,t] / Σ_j H[j,t]``,
short-term flow ``F[i,t] = L[i,t] − L[i,t−1 week]``.

Weights of month-end ``m``: in weights mode the ETF's own ``holding_weights`` snapshot in force
on ``m`` (dated ``≤ m``), else its tracked index's; in PCF mode the ETF's latest basket dated
within :data:`PCF_STALE_DAYS` calendar days up to ``m``, priced at that day's closes
(``w = q·close / Σ q·close``). The weights are summed once per month-end into
``W[m, e, i]`` (a month-end × ETF × industry array); a week's holdings are then the product of
its scale vector with ``W`` of its month-end.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from etfflow.backtest.rotation import holdings_nb
from etfflow.backtest.rotation.result import SCHEMAS
from etfflow.engine.etf_measures import etf_measures
from etfflow.engine.loading import Dataset
from etfflow.engine.panel import epoch_days, index_of
from etfflow.engine.pools import Pool, split_members
from etfflow.exceptions import EtfflowError, PoolError

log = logging.getLogger(__name__)

#: A PCF basket older than this many calendar days at a month-end is not used for it.
PCF_STALE_DAYS = 10


@dataclass
class WeeklyHoldings:
    """Output of :func:`weekly_holdings`.

    ``weekly`` follows ``SCHEMAS["industry_weekly"]``; ``industries`` are the sorted labels;
    ``share`` is the ``(weeks, industries)`` holding level ``L`` and ``month_share`` the same
    on the month-end trading days ``months`` (NaN before any weights); ``weeks`` are the
    week-end trading days. ``present`` / ``month_present`` mark the industries that exist
    (some stock is classified in them on the weights' month-end): ``weekly`` has rows only for
    those, so an industry created later never appears earlier (point in time); weeks before
    the first month-end have no weights and no rows. ``diagnostics`` counts what could not be looked
    through (never dropped silently).
    """

    weekly: pl.DataFrame
    industries: list[str]
    weeks: pl.Series
    months: pl.Series
    share: np.ndarray
    month_share: np.ndarray
    present: np.ndarray
    month_present: np.ndarray
    diagnostics: dict[str, int | float] = field(default_factory=dict)


def week_ends(days: pl.Series) -> pl.Series:
    """The last trading day of each calendar week (weeks start on Monday).

    >>> import datetime as dt, polars as pl
    >>> d = pl.Series("date", [dt.date(2024, 1, 4), dt.date(2024, 1, 5), dt.date(2024, 1, 8)])
    >>> week_ends(d).to_list()
    [datetime.date(2024, 1, 5), datetime.date(2024, 1, 8)]
    """
    return _period_ends(days, "1w")


def month_ends(days: pl.Series) -> pl.Series:
    """The last trading day of each calendar month.

    >>> import datetime as dt, polars as pl
    >>> d = pl.Series("date", [dt.date(2024, 1, 30), dt.date(2024, 1, 31), dt.date(2024, 2, 1)])
    >>> month_ends(d).to_list()
    [datetime.date(2024, 1, 31), datetime.date(2024, 2, 1)]
    """
    return _period_ends(days, "1mo")


def _period_ends(days: pl.Series, every: str) -> pl.Series:
    df = pl.DataFrame({"date": days.cast(pl.Date)}).unique().sort("date")
    out = df.group_by(pl.col("date").dt.truncate(every).alias("p")).agg(pl.col("date").max())
    return out.sort("date")["date"]


def industry_table(
    ds: Dataset, months: pl.Series, level: str
) -> tuple[list[str], list[str], np.ndarray]:
    """``(codes, industries, table)``: each stock's industry id on each month-end.

    ``codes`` and ``industries`` are sorted; ``table[m, s]`` is the position in ``industries``
    of stock ``codes[s]``'s industry on ``months[m]`` (-1: not classified that day).
    """
    si = ds.frame("stock_industry").collect()
    if "end_date" not in si.columns:
        si = si.with_columns(pl.lit(None, dtype=pl.Date).alias("end_date"))
    label = si[level].cast(pl.String)
    codes = sorted(si["code"].cast(pl.String).unique().drop_nulls().to_list())
    industries = sorted(label.unique().drop_nulls().to_list())
    pos = {x: i for i, x in enumerate(industries)}
    lab = np.array([pos.get(x, -1) if x is not None else -1 for x in label.to_list()])
    stock = index_of(si["code"], codes)
    start = epoch_days(si["start_date"]).astype(np.int64)
    end = si["end_date"].to_physical().fill_null(np.iinfo(np.int32).max).to_numpy()
    m_ep = epoch_days(months.cast(pl.Date)).astype(np.int64)
    table = np.full((len(months), len(codes)), -1, dtype=np.int16)
    ok = (stock >= 0) & (lab >= 0)
    inside = (start[ok, None] <= m_ep[None, :]) & (m_ep[None, :] <= end[ok, None])
    r, m = np.nonzero(inside)
    table[m, stock[ok][r]] = lab[ok][r]
    return codes, industries, table


@dataclass
class IndustryWeights:
    """``weights[m, e, i]``: the share of ETF ``e``'s weights in industry ``i`` at month-end
    ``m`` (0 where the ETF has no weights yet); counts of what could not be classified."""

    weights: np.ndarray
    unclassified_rows: int
    unclassified_weight: float
    missing: int  # (month-end, ETF) pairs without any weights in force


def snapshot_industry_weights(
    ds: Dataset,
    etfs: pl.DataFrame,
    months: pl.Series,
    codes: list[str],
    table: np.ndarray,
    n_ind: int,
) -> IndustryWeights:
    """Weights mode: the ``holding_weights`` snapshot in force on each month-end (the ETF's
    own, else its tracked index's), summed by the stocks' industries on that month-end.

    Arrays throughout: each snapshot's rows are summed once per month-end that uses it.
    """
    hw = ds.frame("holding_weights").collect()
    n = hw.height
    pool = etfs["etf_code"].to_list()
    n_m, n_e = len(months), len(pool)
    index_codes = sorted(set(etfs["index_code"].to_list()))
    etf_index = index_of(etfs["index_code"], index_codes).astype(np.int64)
    none = np.full(n, -1, dtype=np.int32)
    e_idx = index_of(hw["etf_code"], pool) if "etf_code" in hw.columns else none
    x_idx = index_of(hw["index_code"], index_codes) if "index_code" in hw.columns else none
    own = hw["etf_code"].is_not_null().to_numpy() if "etf_code" in hw.columns else none >= 0
    # one owner id per row: pool ETF e (own snapshot) or n_e + tracked index x; -1: not used
    owner = np.where(own, e_idx, np.where(x_idx >= 0, n_e + x_idx, -1)).astype(np.int64)
    valid = np.flatnonzero(owner >= 0)
    span = np.int64(1 << 21)  # > owners
    key = epoch_days(hw["date"]).astype(np.int64)[valid] * span + owner[valid]
    if len(key) and bool((key[1:] >= key[:-1]).all()):  # rows sorted by date, owner: O(n)
        new = np.r_[True, key[1:] != key[:-1]]
        snaps, sid = key[new], np.cumsum(new) - 1
    else:
        snaps, sid = np.unique(key, return_inverse=True)
    snap_day, snap_owner = snaps // span, snaps % span
    # the snapshot of each (month-end, ETF): own in force, else the tracked index's
    by_owner = np.lexsort((snap_day, snap_owner))
    okey = snap_owner[by_owner] * span + snap_day[by_owner]
    m_ep = epoch_days(months.cast(pl.Date)).astype(np.int64)

    def latest(own_id: np.ndarray) -> np.ndarray:
        """Snapshot id of each owner in force on each month-end, ``(M, E)`` (-1: none)."""
        if not len(okey):
            return np.full((n_m, len(own_id)), -1, dtype=np.int64)
        k = np.searchsorted(okey, own_id[None, :] * span + m_ep[:, None], side="right") - 1
        hit = (k >= 0) & (snap_owner[by_owner][np.maximum(k, 0)] == own_id[None, :])
        return np.where(hit & (own_id[None, :] >= 0), by_owner[np.maximum(k, 0)], -1)

    snap = latest(np.arange(n_e, dtype=np.int64))
    via_index = latest(np.where(etf_index >= 0, n_e + etf_index, -1))
    snap = np.where(snap >= 0, snap, via_index)
    # distinct (snapshot, month-end) pairs: a stale snapshot serves several month-ends
    have = snap >= 0
    mm = np.broadcast_to(np.arange(n_m)[:, None], snap.shape)[have]
    pair_key, pair_of_have = np.unique(snap[have] * n_m + mm, return_inverse=True)
    pair_snap, pair_month = pair_key // n_m, pair_key % n_m
    uses = np.bincount(pair_snap, minlength=len(snaps))
    ptr = np.zeros(len(snaps) + 1, dtype=np.int64)
    np.cumsum(uses, out=ptr[1:])
    weight = hw["weight"].cast(pl.Float64).fill_null(0.0).to_numpy()[valid]
    c_idx = index_of(hw["code"], codes)[valid].astype(np.int64)
    flat = np.zeros((len(pair_key), n_ind))
    n_out, w_out = holdings_nb.snapshot_sums(
        sid.astype(np.int64),
        c_idx,
        weight,
        ptr,
        pair_month.astype(np.int64),
        table,
        flat,
    )
    w = np.zeros((n_m, n_e, n_ind))
    w[have] = flat[pair_of_have]
    return IndustryWeights(w, int(n_out), float(w_out), int((~have).sum()))


def basket_industry_weights(
    ds: Dataset,
    etfs: pl.DataFrame,
    months: pl.Series,
    codes: list[str],
    table: np.ndarray,
    n_ind: int,
) -> IndustryWeights:
    """PCF mode: the basket of the latest day up to each month-end (at most
    :data:`PCF_STALE_DAYS` old), priced at that day's closes, summed by industry."""
    keys = (
        pl.DataFrame({"month": months.cast(pl.Date)})
        .join(etfs.select("etf_code"), how="cross")
        .sort("month")
        .lazy()
    )
    rows = _basket_weights(ds, keys, months).collect()
    pool = etfs["etf_code"].to_list()
    m = pl.Series(rows["month"]).cast(pl.Date)
    m_idx = np.searchsorted(epoch_days(months.cast(pl.Date)), epoch_days(m))
    e_idx = index_of(rows["etf_code"], pool).astype(np.int64)
    c_idx = index_of(rows["code"], codes).astype(np.int64)
    weight = rows["weight"].to_numpy()
    ind = np.where(c_idx >= 0, table[m_idx, np.maximum(c_idx, 0)], -1).astype(np.int64)
    ok = ind >= 0
    n_m, n_e = len(months), len(pool)
    key = (m_idx[ok] * n_e + e_idx[ok]) * n_ind + ind[ok]
    w = np.bincount(key, weights=weight[ok], minlength=n_m * n_e * n_ind).reshape(n_m, n_e, n_ind)
    have = np.zeros((n_m, n_e), dtype=bool)
    have[m_idx, e_idx] = True
    return IndustryWeights(w, int((~ok).sum()), float(weight[~ok].sum()), int((~have).sum()))


def _basket_weights(ds: Dataset, keys: pl.LazyFrame, months: pl.Series) -> pl.LazyFrame:
    window = [
        m - dt.timedelta(days=k)
        for m in months.cast(pl.Date).to_list()
        for k in range(PCF_STALE_DAYS + 1)
    ]
    pcf = (
        ds.frame("etf_pcf")
        .select(
            "date", pl.col("etf_code").cast(pl.String), pl.col("code").cast(pl.String), "quantity"
        )
        .filter(pl.col("date").is_in(sorted(set(window))))
    )
    dates = pcf.select("etf_code", pl.col("date").alias("bdate")).unique().sort("bdate")
    pick = keys.join_asof(
        dates,
        left_on="month",
        right_on="bdate",
        by="etf_code",
        strategy="backward",
        tolerance=f"{PCF_STALE_DAYS}d",
        check_sortedness=False,
    ).filter(pl.col("bdate").is_not_null())
    close = ds.frame("stock_daily").select(
        pl.col("date").alias("bdate"), pl.col("code").cast(pl.String), "close"
    )
    rows = pick.join(pcf.rename({"date": "bdate"}), on=["etf_code", "bdate"]).join(
        close, on=["bdate", "code"], how="left"
    )
    value = pl.col("quantity") * pl.col("close")
    return rows.filter(value.is_not_null() & (value > 0)).select(
        "month",
        "etf_code",
        "code",
        (value / value.sum().over("month", "etf_code")).alias("weight"),
    )


def etf_scale(ds: Dataset, pool: list[str], dates: pl.Series) -> np.ndarray:
    """``(dates, ETFs)`` scale ``S·N`` (CNY) on each date; 0 where the ETF has no row."""
    d = (
        ds.frame("etf_daily")
        .select("date", "etf_code", (pl.col("shares") * pl.col("nav")).alias("scale"))
        .filter(pl.col("date").is_in(dates.to_list()))
        .collect()
    )
    e = index_of(d["etf_code"], pool)
    t = np.searchsorted(epoch_days(dates.cast(pl.Date)), epoch_days(d["date"]))
    v = d["scale"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    ok = (e >= 0) & np.isfinite(v)
    out = np.zeros((len(dates), len(pool)))
    out[t[ok], e[ok]] = v[ok]
    return out


def weekly_holdings(
    ds: Dataset,
    days: pl.Series,
    *,
    pool: Pool | str = "all",
    level: str = "industry_l1",
    mode: str | None = None,
) -> WeeklyHoldings:
    """Weekly industry holdings ``H``, levels ``L`` and flows ``F`` of a pool's ETFs.

    Parameters
    ----------
    ds
        The dataset.
    days
        The trading calendar (``stock_daily`` dates, sorted).
    pool
        The ETF pool.
    level
        ``industry_l1`` (CITIC level 1) or ``industry_l2``.
    mode
        ``weights`` (``holding_weights``) or ``pcf`` (``etf_pcf``); default: weights when the
        dataset has ``holding_weights``, else PCF.

    Returns
    -------
    WeeklyHoldings
        ``weekly`` has one row per week-end and existing industry (``holding`` CNY,
        ``holding_share`` decimal, ``flow`` decimal, null on the first week).
    """
    if mode is None:
        mode = "weights" if ds.has("holding_weights") else "pcf"
    if mode not in ("weights", "pcf"):
        raise EtfflowError(f"unknown look-through mode {mode!r}: choose weights or pcf")
    need = "holding_weights" if mode == "weights" else "etf_pcf"
    if not ds.has(need):
        raise EtfflowError(f"the rotation's {mode} look-through needs table '{need}' in {ds.root}")
    chosen = Pool.of(pool)
    etfs = chosen.select(ds.frame("etfs").collect())
    pool_codes = etfs["etf_code"].to_list()
    members = _split_members(ds, chosen, pool_codes, days, mode)
    weeks = week_ends(days)
    months = month_ends(days)
    codes, industries, table = industry_table(ds, months, level)
    n_ind = len(industries)
    make = snapshot_industry_weights if mode == "weights" else basket_industry_weights
    iw = make(ds, etfs, months, codes, table, n_ind)
    month_present = np.zeros((len(months), n_ind), dtype=bool)
    r, c = np.nonzero(table >= 0)
    month_present[r, table[r, c]] = True

    def at(dates: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """Holdings ``(dates, industries)`` and the existing industries on ``dates``."""
        scale = etf_scale(ds, pool_codes, dates)
        if members is not None:  # a time-varying pool: only its members on each date count
            scale = np.where(_member_rows(members, pool_codes, dates), scale, 0.0)
        mi = (
            np.searchsorted(
                epoch_days(months.cast(pl.Date)), epoch_days(dates.cast(pl.Date)), side="right"
            )
            - 1
        )
        held = np.zeros((len(dates), n_ind))
        present = np.zeros((len(dates), n_ind), dtype=bool)
        for m in np.unique(mi[mi >= 0]):
            rows = np.flatnonzero(mi == m)
            held[rows] = scale[rows] @ iw.weights[m]
            present[rows] = month_present[m]
        return held, present

    w_held, w_present = at(weeks)
    m_held, m_present = at(months)
    full = _grid(w_held, w_present, weeks, industries)
    shape = (len(weeks), n_ind)
    share = full["holding_share"].fill_null(np.nan).to_numpy().reshape(shape)
    weekly = full.filter("present").select(list(SCHEMAS["industry_weekly"]))
    mfull = _grid(m_held, m_present, months, industries)
    month_share = mfull["holding_share"].fill_null(np.nan).to_numpy().reshape(len(months), n_ind)
    diagnostics: dict[str, int | float] = {
        "etfs": etfs.height,
        "weeks": len(weeks),
        "months": len(months),
        "etf_months_without_weights": iw.missing,
        "unclassified_rows": iw.unclassified_rows,
        "unclassified_weight": iw.unclassified_weight,
    }
    if iw.unclassified_rows:
        log.warning(
            "rotation look-through: %d weight rows of stocks without a %s at the month-end "
            "(total weight %.4f) left out of the industry sums",
            iw.unclassified_rows,
            level,
            iw.unclassified_weight,
        )
    return WeeklyHoldings(
        weekly, industries, weeks, months, share, month_share, w_present, m_present, diagnostics
    )


def _split_members(
    ds: Dataset, pool: Pool, codes: list[str], days: pl.Series, mode: str
) -> pl.DataFrame | None:
    """The ``(date, etf_code)`` members of a time-varying pool on every trading day (None
    for a fixed pool): the same membership the stock look-through uses
    (:func:`etfflow.engine.pools.split_members`, measures of ``mode``)."""
    if pool.split is None:
        return None
    if pool.split.measure == "turnover" and "amount" not in ds.frame("etf_daily").collect_schema():
        raise PoolError(
            f"pool {pool.label!r} splits ETFs by turnover, which needs etf_daily column 'amount'"
        )
    measures = etf_measures(
        ds,
        mode=mode,  # type: ignore[arg-type]
        etf_codes=codes,
        concentration=pool.split.measure == "concentration",
    )
    return split_members(measures, pool.split, days.cast(pl.Date).to_list())


def _member_rows(members: pl.DataFrame, codes: list[str], dates: pl.Series) -> np.ndarray:
    """``(dates, ETFs)`` booleans: which of ``codes`` are members on each of ``dates``."""
    out = np.zeros((len(dates), len(codes)), dtype=bool)
    on = members.filter(pl.col("date").is_in(dates.cast(pl.Date).implode()))
    pos = {d: i for i, d in enumerate(dates.cast(pl.Date).to_list())}
    col = {c: j for j, c in enumerate(codes)}
    for d, c in on.select("date", pl.col("etf_code").cast(pl.String)).iter_rows():
        j = col.get(c)
        if j is not None:
            out[pos[d], j] = True
    return out


def _grid(
    held: np.ndarray, present: np.ndarray, dates: pl.Series, industries: list[str]
) -> pl.DataFrame:
    """The (date × industry) table: share and flow null where the industry does not exist
    (``present`` false) or nothing is held yet, rows in (date, industry) order."""
    d, n = held.shape
    total = held.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(present & (total > 0), held / np.where(total > 0, total, 1.0), np.nan)
    flow = np.full_like(share, np.nan)
    flow[1:] = share[1:] - share[:-1]
    return pl.DataFrame(
        {
            "date": dates.cast(pl.Date).gather(np.repeat(np.arange(d), n)),
            "industry": pl.Series(industries * d, dtype=pl.String),
            "holding": held.ravel(),
            "holding_share": pl.Series(share.ravel()).fill_nan(None),
            "flow": pl.Series(flow.ravel()).fill_nan(None),
            "present": present.ravel(),
        }
    )

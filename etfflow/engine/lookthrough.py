"""Look-through (penetration) of ETF holdings to stocks, daily, for a pool (SPEC §2).

:func:`penetrate` reads the dataset lazily (projection and date-range predicate push-down on
``etf_pcf``, one chunk of days at a time), turns codes and dates into integer indices, and
scatter-adds every basket row into dense (day × stock) panels with a numba kernel
(:mod:`etfflow.engine.lookthrough_nb`). A join-based formulation is what DuckDB and Polars
would run; the scatter-add reads each basket row once and needs no hash table (see
``benchmarks/bench_lookthrough.py`` for the measured comparison).

Choices where the SPEC is silent, stated here once:

- PCF mode: an ETF with an ``etf_daily`` row on ``t`` but no basket dated ``t`` carries its
  latest earlier basket (as-of, never back-filled); the count is in ``diagnostics``.
- Basket rows of a stock without a ``stock_daily`` row on ``t`` cannot be priced and are left
  out of the weights (counted). Weight snapshots are used as published (not renormalised).
- ``inflow`` uses the ETF's previous *row* as ``S[e,t-1]``: an ETF whose row is missing for
  a day compares with its last known shares rather than with zero.
- Weights mode: an ETF's own snapshot (``etf_code`` set) wins over its index's snapshot
  (``etf_code`` null, ``index_code`` set).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl

from etfflow.engine import lookthrough_nb as nb
from etfflow.engine.loading import Dataset
from etfflow.engine.panel import StockPanel, index_of, load_stock_panel, raw_codes
from etfflow.engine.pools import Pool
from etfflow.engine.schemas import GROUP_FLOW_SCHEMA, GROUP_LEVELS, STOCK_FLOW_SCHEMA
from etfflow.exceptions import DataContractError, DatasetNotFoundError, EtfflowError

log = logging.getLogger(__name__)

Mode = Literal["pcf", "weights"]
Valuation = Literal["nav", "basket"]
Progress = Callable[[str, int, int], None]

#: Trading days of ``etf_pcf`` read per chunk (≈ 19M basket rows at full size).
DEFAULT_CHUNK_DAYS = 126


@dataclass
class LookThrough:
    """Result of :func:`penetrate`.

    Attributes
    ----------
    stocks
        One row per ``stock_daily`` row (listed stock-day), columns of
        :data:`~etfflow.engine.schemas.STOCK_FLOW_SCHEMA`; stocks held by no pool ETF get
        zeros; ``inflow`` is null on the first date of the data.
    groups
        Daily 整体法 aggregates per industry (level 1 and 2), board and float-cap quintile
        (:data:`~etfflow.engine.schemas.GROUP_FLOW_SCHEMA`).
    coverage
        SPEC §5.5 coverage statistics: per group, min / mean / max over time and latest of
        coverage, passive share of float cap, distinct ETFs and distinct indices.
    params, diagnostics
        What was run, and counts of every row the look-through could not use.
    """

    stocks: pl.DataFrame
    groups: pl.DataFrame
    coverage: pl.DataFrame
    params: dict
    diagnostics: dict = field(default_factory=dict)

    @property
    def industries(self) -> pl.DataFrame:
        return self.groups.filter(pl.col("level").is_in(["industry_l1", "industry_l2"]))


@dataclass
class _EtfPanel:
    codes: list[str]
    index_codes: list[str]
    etf_index: np.ndarray
    unit: np.ndarray
    present: np.ndarray
    shares: np.ndarray
    nav: np.ndarray
    dshares: np.ndarray


def _load_etf_panel(ds: Dataset, pool: Pool, panel: StockPanel) -> _EtfPanel:
    etfs = pool.select(ds.frame("etfs").collect()).sort("index_code", "etf_code")
    codes = etfs["etf_code"].to_list()
    index_codes = sorted(set(etfs["index_code"].to_list()))
    ipos = {c: i for i, c in enumerate(index_codes)}
    etf_index = np.array([ipos[c] for c in etfs["index_code"].to_list()], dtype=np.int32)
    unit = etfs["creation_unit"].to_numpy().astype(np.float64)
    daily = ds.frame("etf_daily").select("date", "etf_code", "shares", "nav").collect()
    e_all = index_of(daily["etf_code"], codes)
    keep = e_all >= 0
    daily = daily.filter(pl.Series(keep))
    e_idx = e_all[keep]
    d_idx = panel.calendar.index_of(daily["date"])
    bad = d_idx < 0
    if bad.any():
        raise DataContractError(
            "has dates that are not trading days (not in stock_daily)",
            table="etf_daily",
            column="date",
            rule="date_not_in_calendar",
            examples=daily.filter(pl.Series(bad)).select("date", "etf_code").head(5),
            n_rows=int(bad.sum()),
        )
    t, e = len(panel.calendar), len(codes)
    present = np.zeros((t, e), dtype=np.bool_)
    shares = np.zeros((t, e))
    nav = np.zeros((t, e))
    present[d_idx, e_idx] = True
    shares[d_idx, e_idx] = daily["shares"].to_numpy()
    nav[d_idx, e_idx] = daily["nav"].to_numpy()
    # previous shares = the ETF's last known row (0 before its first row)
    last = np.where(present, shares, np.nan)
    filled = _ffill(last)
    prev = np.vstack([np.zeros((1, e)), np.nan_to_num(filled[:-1], nan=0.0)])
    dshares = np.where(present, shares - prev, 0.0)
    return _EtfPanel(codes, index_codes, etf_index, unit, present, shares, nav, dshares)


def _ffill(a: np.ndarray) -> np.ndarray:
    """Forward-fill NaN down the rows of a 2-D array."""
    idx = np.where(np.isfinite(a), np.arange(a.shape[0])[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = a[idx, np.arange(a.shape[1])[None, :]]
    return out


@dataclass
class _Accumulators:
    mv: np.ndarray
    share: np.ndarray
    inflow: np.ndarray
    fund: np.ndarray
    netf: np.ndarray
    nidx: np.ndarray
    g_netf: np.ndarray
    g_nidx: np.ndarray
    g_fund: np.ndarray
    counters: np.ndarray

    @classmethod
    def zeros(cls, t: int, n: int, n_bits: int) -> _Accumulators:
        return cls(
            mv=np.zeros((t, n)),
            share=np.zeros((t, n)),
            inflow=np.zeros((t, n)),
            fund=np.zeros((t, n)),
            netf=np.zeros((t, n), dtype=np.int32),
            nidx=np.zeros((t, n), dtype=np.int32),
            g_netf=np.zeros((t, n_bits), dtype=np.int32),
            g_nidx=np.zeros((t, n_bits), dtype=np.int32),
            g_fund=np.zeros((t, n_bits)),
            counters=np.zeros((t, nb.N_COUNTERS), dtype=np.int64),
        )


class _Scatter:
    """Runs the accumulation kernel chunk by chunk, keeping the as-of basket state."""

    def __init__(
        self,
        panel: StockPanel,
        etf: _EtfPanel,
        acc: _Accumulators,
        n_owner: int,
        owner_of_etf: np.ndarray,
        alt_owner_of_etf: np.ndarray,
        *,
        weights_mode: bool,
        value_basket: bool,
    ) -> None:
        self.panel, self.etf, self.acc = panel, etf, acc
        self.n_owner = n_owner
        self.owner_of_etf = owner_of_etf
        self.alt_owner_of_etf = alt_owner_of_etf
        self.weights_mode = weights_mode
        self.value_basket = value_basket
        self.state_src = np.full(n_owner, -1, dtype=np.int8)
        self.state_start = np.zeros(n_owner, dtype=np.int64)
        self.state_end = np.zeros(n_owner, dtype=np.int64)
        self.state_day = np.full(n_owner, -1, dtype=np.int32)
        self.carry_code = np.zeros(0, dtype=np.uint32)
        self.carry_val = np.zeros(0, dtype=np.float64)
        self.carry_lookup = np.arange(len(panel.codes), dtype=np.int32)
        self.non_contiguous_chunks = 0

    def _state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.state_src, self.state_start, self.state_end, self.state_day

    def run(
        self,
        d_lo: int,
        d_hi: int,
        day: np.ndarray,
        owner: np.ndarray,
        code: np.ndarray,
        val: np.ndarray,
        *,
        day_table: tuple[np.ndarray, int],
        owner_table: np.ndarray,
        code_lookup: np.ndarray,
    ) -> int:
        """Process days ``d_lo..d_hi`` with the basket rows of those days.

        ``day``, ``owner`` and ``code`` are raw ids mapped through ``day_table``,
        ``owner_table`` and ``code_lookup``. Returns the rows dated off the calendar.
        """
        seg = nb.find_segments(day, owner, day_table[0], day_table[1], owner_table)
        saved = [a.copy() for a in self._state()]
        ptr = nb.basket_pointers(d_lo, d_hi, *seg[:4], self.n_owner, *self._state())
        if ptr[4] > 0:  # a basket split over several runs: sort the chunk and redo
            self.non_contiguous_chunks += 1
            for cur, old in zip(self._state(), saved, strict=True):
                cur[:] = old  # the first pass moved the as-of state to the chunk's end
            order = np.lexsort((owner, day))
            day, owner, code, val = day[order], owner[order], code[order], val[order]
            seg = nb.find_segments(day, owner, day_table[0], day_table[1], owner_table)
            ptr = nb.basket_pointers(d_lo, d_hi, *seg[:4], self.n_owner, *self._state())
        src, start, end, bday, _ = ptr
        a, p, e = self.acc, self.panel, self.etf
        nb.accumulate(
            d_lo, d_hi, src, start, end, bday, self.owner_of_etf, self.alt_owner_of_etf,
            code, val, code_lookup, self.carry_code, self.carry_val, self.carry_lookup,
            e.present, e.shares, e.nav, e.dshares, e.unit, e.etf_index, p.close,
            self.weights_mode, self.value_basket, p.gbit, p.n_bits,
            a.mv, a.share, a.inflow, a.fund, a.netf, a.nidx, a.g_netf, a.g_nidx, a.g_fund,
            a.counters,
        )  # fmt: skip
        self.carry_code, self.carry_val = nb.copy_carry(
            self.state_src, self.state_start, self.state_end, code, val, code_lookup,
            self.carry_code, self.carry_val,
        )  # fmt: skip
        return int(seg[4])


def _chunks(n_days: int, chunk_days: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + chunk_days, n_days) - 1) for lo in range(0, n_days, chunk_days)]


def _run_pcf(ds: Dataset, sc: _Scatter, chunk_days: int, progress: Progress | None) -> dict:
    panel, etf = sc.panel, sc.etf
    lf = ds.frame("etf_pcf").select("date", "etf_code", "code", "quantity")
    dates = panel.calendar.dates
    chunks = _chunks(len(dates), chunk_days)
    rows = 0
    off = 0
    for i, (lo, hi) in enumerate(chunks):
        if progress:
            progress("look-through", i, len(chunks))
        df = lf.filter(pl.col("date").is_between(dates[lo], dates[hi])).collect(
            engine="in-memory"
        )
        rows += df.height
        day = panel.calendar.raw_days(df["date"])
        owner, owner_table, keep_e = raw_codes(df["etf_code"], etf.codes)
        code, code_lookup, keep_c = raw_codes(df["code"], panel.codes)
        val = df["quantity"].to_numpy()
        off += sc.run(
            lo, hi, day, owner, code, val,
            day_table=panel.calendar.day_table, owner_table=owner_table,
            code_lookup=code_lookup,
        )  # fmt: skip
        del df, keep_e, keep_c
    if progress:
        progress("look-through", len(chunks), len(chunks))
    return {"basket_rows": rows, "rows_off_calendar": off}


def _run_weights(ds: Dataset, sc: _Scatter, progress: Progress | None) -> dict:
    panel, etf = sc.panel, sc.etf
    if progress:
        progress("look-through", 0, 1)
    lf = ds.frame("holding_weights")
    names = lf.collect_schema().names()
    cols = ["date", "code", "weight"] + [c for c in ("etf_code", "index_code") if c in names]
    df = lf.select(cols).collect()
    n_etf = len(etf.codes)
    if "etf_code" in df.columns:
        by_etf = index_of(df["etf_code"], etf.codes)
        etf_null = df["etf_code"].is_null().to_numpy()
    else:
        by_etf = np.full(df.height, -1)
        etf_null = np.ones(df.height, dtype=np.bool_)
    if "index_code" in df.columns:
        i_idx = index_of(df["index_code"], etf.index_codes)
        by_index = np.where(i_idx >= 0, n_etf + i_idx, -1)
    else:
        by_index = np.full(df.height, -1)
    owner = np.where(etf_null, by_index, by_etf).astype(np.int32)
    # a snapshot is in force from its date: the first trading day on or after it
    day = panel.calendar.asof_index(df["date"])
    code, code_lookup, _keep = raw_codes(df["code"], panel.codes)
    val = df["weight"].to_numpy().astype(np.float64)
    # snapshots are usually stored by (date, owner): contiguous, no sort needed (run() sorts
    # a chunk whose baskets are split); days and owners are already mapped: identity tables
    t = len(panel.calendar)
    sc.run(
        0, t - 1, day, owner.astype(np.int32), code, val,
        day_table=(np.arange(t + 1, dtype=np.int32), 0),
        owner_table=np.arange(sc.n_owner, dtype=np.int32),
        code_lookup=code_lookup,
    )  # fmt: skip
    if progress:
        progress("look-through", 1, 1)
    return {"basket_rows": df.height, "rows_off_calendar": 0}


def penetrate(
    ds: Dataset,
    *,
    pool: Pool | None = None,
    mode: Mode = "pcf",
    valuation: Valuation = "nav",
    chunk_days: int = DEFAULT_CHUNK_DAYS,
    progress: Progress | None = None,
) -> LookThrough:
    """Look through the ETFs of ``pool`` to their stocks, every trading day (SPEC §2).

    Parameters
    ----------
    ds
        An opened dataset (:func:`etfflow.engine.loading.open_dataset`); validate it first
        (:func:`etfflow.engine.validation.validate`): the look-through trusts the contract.
    pool
        The ETFs to count (default: all).
    mode
        ``"pcf"``: daily baskets from ``etf_pcf``; ``"weights"``: weight snapshots from
        ``holding_weights`` in force as-of each day.
    valuation
        ``"nav"``: ``h = S·N·w`` (SPEC §2); ``"basket"``: ``h = q·S/U·close`` (PCF only).
        Both agree when ``N·U`` equals the basket value.
    chunk_days
        Trading days of baskets read at a time (bounds memory).
    progress
        ``progress(stage, done, total)`` callback.

    Returns
    -------
    LookThrough
        The daily stock table, the daily group table and the coverage statistics.

    Notes
    -----
    ``w[e,s,t] = q·close / Σ q·close`` (PCF) or the snapshot weight; ``mv_passive = Σ_e
    S·N·w`` (CNY), ``w_passive = mv_passive / float_mcap``, ``share_passive = Σ_e S·w``,
    ``share_passive_fund = Σ_e S`` over the ETFs holding the stock, ``inflow = Σ_e
    (S[t]-S[t-1])·N[t]·w`` (creations minus redemptions, CNY). Groups use 整体法: sums over
    the group's stocks, then ratios of the sums.

    Raises
    ------
    DataContractError
        When a required table is missing or a row cannot be placed on the calendar.
    """
    pool = pool or Pool.all()
    if chunk_days < 1:
        raise EtfflowError("chunk_days must be at least 1")
    if mode not in ("pcf", "weights"):
        raise EtfflowError(f"unknown mode {mode!r}: choose 'pcf' or 'weights'")
    if valuation not in ("nav", "basket"):
        raise EtfflowError(f"unknown valuation {valuation!r}: choose 'nav' or 'basket'")
    if mode == "weights" and valuation == "basket":
        raise EtfflowError("valuation 'basket' needs quantities: use it with mode 'pcf'")
    table = "etf_pcf" if mode == "pcf" else "holding_weights"
    if not ds.has(table):
        raise DatasetNotFoundError(
            f"mode {mode!r} needs table '{table}', which is not in {ds.root}"
        )
    t0 = time.perf_counter()
    if progress:
        progress("load panels", 0, 1)
    panel = load_stock_panel(ds)
    etf = _load_etf_panel(ds, pool, panel)
    if progress:
        progress("load panels", 1, 1)
    t, n = panel.shape
    n_etf = len(etf.codes)
    acc = _Accumulators.zeros(t, n, panel.n_bits)
    if mode == "pcf":
        n_owner = n_etf
        owner_of_etf = np.arange(n_etf, dtype=np.int32)
        alt = np.full(n_etf, -1, dtype=np.int32)
    else:
        n_owner = n_etf + len(etf.index_codes)
        owner_of_etf = np.arange(n_etf, dtype=np.int32)
        alt = (n_etf + etf.etf_index).astype(np.int32)
    sc = _Scatter(
        panel,
        etf,
        acc,
        n_owner,
        owner_of_etf,
        alt,
        weights_mode=mode == "weights",
        value_basket=valuation == "basket",
    )
    if mode == "pcf":
        info = _run_pcf(ds, sc, chunk_days, progress)
    else:
        info = _run_weights(ds, sc, progress)
    if info["rows_off_calendar"]:
        raise DataContractError(
            "has basket dates that are not trading days (not in stock_daily)",
            table=table,
            column="date",
            rule="date_not_in_calendar",
            n_rows=info["rows_off_calendar"],
            hint="run `etfflow validate` for example rows",
        )
    c = acc.counters.sum(axis=0)
    if c[nb.C_UNKNOWN]:
        raise DataContractError(
            "names stocks that are not in table 'stocks'",
            table=table,
            column="code",
            rule="unknown_stock",
            n_rows=int(c[nb.C_UNKNOWN]),
            hint="run `etfflow validate` for example rows",
        )
    stocks = _stock_table(panel, acc)
    groups = _group_table(panel, acc)
    coverage = coverage_stats(groups)
    diagnostics = {
        "pool_etfs": n_etf,
        "basket_rows_read": info["basket_rows"],
        "etf_days": int(c[nb.C_ETF_DAYS]),
        "etf_days_without_basket": int(c[nb.C_NO_BASKET]),
        "etf_days_with_carried_basket": int(c[nb.C_CARRIED]),
        "etf_days_empty_basket": int(c[nb.C_EMPTY_BASKET]),
        "basket_rows_unpriced": int(c[nb.C_UNPRICED]),
        "stock_days_without_industry": panel.n_no_industry,
        "non_contiguous_chunks": sc.non_contiguous_chunks,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    for k, v in diagnostics.items():
        if k.startswith(("etf_days_", "basket_rows_unpriced", "stock_days_without")) and v:
            log.warning("look-through: %s = %d", k, v)
    params = {
        "pool": pool.describe(),
        "mode": mode,
        "valuation": valuation,
        "start": str(panel.calendar.dates[0]) if t else None,
        "end": str(panel.calendar.dates[-1]) if t else None,
    }
    return LookThrough(stocks, groups, coverage, params, diagnostics)


def _stock_table(panel: StockPanel, acc: _Accumulators) -> pl.DataFrame:
    m = panel.listed  # row-major order of a boolean mask = (date, code) order
    d = panel.row_day
    mv = acc.mv[m]
    fmc = panel.float_mcap[m]
    inflow = acc.inflow[m]
    inflow[d == 0] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(fmc > 0, mv / fmc, np.nan)
    codes = pl.Series("code", panel.codes, dtype=pl.String)
    return pl.DataFrame(
        {
            "date": panel.calendar.dates.gather(d),
            "code": codes.gather(panel.row_stock),
            "n_etf": acc.netf[m],
            "n_index": acc.nidx[m],
            "share_passive_fund": acc.fund[m],
            "share_passive": acc.share[m],
            "mv_passive": mv,
            "w_passive": pl.Series(w).fill_nan(None),
            "inflow": pl.Series(inflow).fill_nan(None),
            "float_mcap": fmc,
        },
        schema=STOCK_FLOW_SCHEMA,
    )


def _group_table(panel: StockPanel, acc: _Accumulators) -> pl.DataFrame:
    n_st, n_held, f_sum, mv_sum, sh_sum, in_sum = nb.group_sums(
        panel.gbit,
        panel.n_bits,
        panel.listed,
        panel.float_mcap,
        acc.mv,
        acc.share,
        acc.inflow,
        acc.netf,
    )
    levels, labels = [], []
    for level, lbl in zip(GROUP_LEVELS, panel.group_labels, strict=True):
        levels += [level] * len(lbl)
        labels += lbl
    dd, bb = np.nonzero(n_st > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = n_held[dd, bb] / n_st[dd, bb]
        w = np.where(f_sum[dd, bb] > 0, mv_sum[dd, bb] / f_sum[dd, bb], np.nan)
    inflow = np.where(dd == 0, np.nan, in_sum[dd, bb])
    df = pl.DataFrame(
        {
            "date": panel.calendar.dates.gather(dd),
            "level": pl.Series(levels, dtype=pl.String).gather(bb),
            "group_name": pl.Series(labels, dtype=pl.String).gather(bb),
            "n_stock": n_st[dd, bb],
            "n_held": n_held[dd, bb],
            "coverage": cov,
            "n_etf": acc.g_netf[dd, bb],
            "n_index": acc.g_nidx[dd, bb],
            "share_passive_fund": acc.g_fund[dd, bb],
            "share_passive": sh_sum[dd, bb],
            "mv_passive": mv_sum[dd, bb],
            "float_mcap": f_sum[dd, bb],
            "w_passive": pl.Series(w).fill_nan(None),
            "inflow": pl.Series(inflow).fill_nan(None),
        },
        schema=GROUP_FLOW_SCHEMA,
    )
    order = {lvl: i for i, lvl in enumerate(GROUP_LEVELS)}
    return (
        df.with_columns(pl.col("level").replace_strict(order, return_dtype=pl.Int32).alias("_l"))
        .sort("_l", "group_name", "date")
        .drop("_l")
    )


COVERAGE_METRICS: tuple[str, ...] = ("coverage", "w_passive", "n_etf", "n_index")


def coverage_stats(groups: pl.DataFrame) -> pl.DataFrame:
    """SPEC §5.5 coverage statistics (seed 000 table 9) from the daily group table.

    One row per (level, group) plus a ``mean of groups`` row per level (行业均值): for each of
    coverage, w_passive (passive share of float cap), n_etf and n_index, the minimum, mean and
    maximum over time and the value on the latest date.
    """
    if groups.height == 0:
        return pl.DataFrame()
    latest = groups["date"].max()
    aggs = []
    for m in COVERAGE_METRICS:
        aggs += [
            pl.col(m).min().cast(pl.Float64).alias(f"{m}_min"),
            pl.col(m).mean().cast(pl.Float64).alias(f"{m}_mean"),
            pl.col(m).max().cast(pl.Float64).alias(f"{m}_max"),
            pl.col(m)
            .filter(pl.col("date") == latest)
            .first()
            .cast(pl.Float64)
            .alias(f"{m}_latest"),
        ]
    per_group = groups.group_by("level", "group_name").agg(*aggs)
    stat_cols = [c for c in per_group.columns if c not in ("level", "group_name")]
    means = (
        per_group.group_by("level")
        .agg(pl.col(stat_cols).mean())
        .with_columns(pl.lit("(mean of groups)").alias("group_name"))
    )
    out = pl.concat([means.select(per_group.columns), per_group])
    order = {lvl: i for i, lvl in enumerate(GROUP_LEVELS)}
    return (
        out.with_columns(
            pl.col("level").replace_strict(order, return_dtype=pl.Int32).alias("_lvl"),
            (pl.col("group_name") != "(mean of groups)").alias("_grp"),
        )
        .sort("_lvl", "_grp", pl.col("w_passive_latest"), descending=[False, False, True])
        .drop("_lvl", "_grp")
    )

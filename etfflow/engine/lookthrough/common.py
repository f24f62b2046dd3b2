"""Shared parts of both look-through modes: the pool's ETF panels, float columns and the
output buffers (:class:`Flows`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from etfflow.engine.lookthrough import common_nb as nb
from etfflow.engine.panel import Calendar, StockPanel, frozen, index_of
from etfflow.engine.pools import Pool, split_members
from etfflow.exceptions import DataContractError


@dataclass
class EtfPanel:
    """Pool ETFs (sorted by tracked index) and their daily panels, shape ``(etfs, days)``."""

    codes: list[str]
    index_codes: list[str]
    etf_index: np.ndarray
    unit: np.ndarray
    present: np.ndarray
    shares: np.ndarray
    nav: np.ndarray
    dshares: np.ndarray


def pool_etfs(etfs: pl.DataFrame, pool: Pool) -> tuple[pl.DataFrame, list[str], list[str]]:
    """The pool's ``etfs`` rows sorted by tracked index, their codes and sorted index codes."""
    etfs = pool.select(etfs).sort("index_code", "etf_code")
    return etfs, etfs["etf_code"].to_list(), sorted(set(etfs["index_code"].to_list()))


def member_panel(measures: pl.DataFrame, pool: Pool, codes: list[str], calendar: Calendar):
    """``(etf, day)`` booleans: the members of a split pool (:func:`.pools.split_members`)
    among ``codes`` on each trading day, from the base pool's per ETF-day ``measures``."""
    if pool.split is None:
        raise ValueError("member_panel needs a split pool")
    members = split_members(measures, pool.split, calendar.dates.to_list())
    out = np.zeros((len(codes), len(calendar)), dtype=np.bool_)
    e = index_of(members["etf_code"], codes)
    d = calendar.index_of(members["date"])
    ok = (e >= 0) & (d >= 0)
    out[e[ok], d[ok]] = True
    return out


def load_etf_panel(
    etfs: pl.DataFrame,
    daily: pl.DataFrame,
    pool: Pool,
    panel: StockPanel,
    member: np.ndarray | None = None,
) -> EtfPanel:
    """The pool's ETFs and their dense daily panels from ``etfs`` and ``etf_daily``
    (:func:`~etfflow.engine.lookthrough.common_nb.etf_panel`).

    ``member`` (``(etf, day)`` booleans, pool order: :func:`member_panel`) restricts a
    time-varying pool: an ETF-day outside it is absent (not present, shares, NAV and change
    0, as a day without a row: the weights kernels add ``S`` unmasked), so both modes skip
    it. ``dshares``
    is computed before the mask, from the ETF's own previous row, so an ETF entering the pool
    brings that day's creations and redemptions only, never its history."""
    etfs, codes, index_codes = pool_etfs(etfs, pool)
    ipos = {c: i for i, c in enumerate(index_codes)}
    etf_index = np.array([ipos[c] for c in etfs["index_code"].to_list()], dtype=np.int32)
    unit = etfs["creation_unit"].to_numpy().astype(np.float64)
    e_idx = index_of(daily["etf_code"], codes)
    d_idx = panel.calendar.index_of(daily["date"])
    bad = (d_idx < 0) & (e_idx >= 0)
    if bad.any():
        raise DataContractError(
            "has dates that are not trading days (not in stock_daily)",
            table="etf_daily",
            column="date",
            rule="date_not_in_calendar",
            examples=daily.filter(pl.Series(bad)).select("date", "etf_code").head(5),
            n_rows=int(bad.sum()),
        )
    present, shares, nav, dshares = nb.etf_panel(
        d_idx,
        e_idx,
        floats(daily["shares"]),
        floats(daily["nav"]),
        len(panel.calendar),
        len(codes),
    )
    if member is not None:  # absent cells are False / 0, as etf_panel leaves them
        present &= member
        shares, nav, dshares = (np.where(present, x, 0.0) for x in (shares, nav, dshares))
    return EtfPanel(codes, index_codes, etf_index, unit, present, shares, nav, dshares)


def null_as_nan(s: pl.Series) -> pl.Series:
    """A column as Float64, NaN for nulls."""
    s = s.cast(pl.Float64)
    return s.fill_null(np.nan) if s.null_count() else s


def floats(s: pl.Series) -> np.ndarray:
    """Float64 values of a column, NaN for nulls, read-only (:func:`.panel.frozen`)."""
    return frozen(np.ascontiguousarray(null_as_nan(s).to_numpy()))


@dataclass
class Flows:
    """Look-through results: one value per output row (``stock_daily`` row in (date, code)
    order) and 整体法 sums / distinct counts per (day, group bit)."""

    netf: np.ndarray
    nidx: np.ndarray
    fund: np.ndarray
    share: np.ndarray
    mv: np.ndarray
    w: np.ndarray
    inflow: np.ndarray
    g_nst: np.ndarray
    g_held: np.ndarray
    g_f: np.ndarray
    g_mv: np.ndarray
    g_sh: np.ndarray
    g_in: np.ndarray
    g_netf: np.ndarray
    g_nidx: np.ndarray
    g_fund: np.ndarray
    counters: np.ndarray

    @classmethod
    def allocate(cls, n_rows: int, t: int, n_bits: int, *, distinct: bool = True) -> Flows:
        def rows(dtype: type) -> np.ndarray:
            return np.empty(n_rows, dtype=dtype)

        def groups(dtype: type) -> np.ndarray:
            return np.zeros((t, n_bits), dtype=dtype)

        empty = np.zeros((0, 0))
        return cls(
            netf=rows(np.int32),
            nidx=rows(np.int32),
            fund=rows(np.float64),
            share=rows(np.float64),
            mv=rows(np.float64),
            w=rows(np.float64),
            inflow=rows(np.float64),
            g_nst=groups(np.int32),
            g_held=groups(np.int32),
            g_f=groups(np.float64),
            g_mv=groups(np.float64),
            g_sh=groups(np.float64),
            g_in=groups(np.float64),
            g_netf=groups(np.int32) if distinct else empty,
            g_nidx=groups(np.int32) if distinct else empty,
            g_fund=groups(np.float64) if distinct else empty,
            counters=np.zeros((t, nb.N_COUNTERS), dtype=np.int64),
        )

"""Dense (day × asset) input panels of the factors, at stock or industry level.

A factor is computed from a :class:`FactorInputs`: the look-through series (``mv_passive``,
``share_passive``, ``share_passive_fund``, ``w_passive``, ``inflow``;
docs/methodology.md#23-stock-level-metrics), the float cap and the daily total return, each as a
float64 array of shape ``(days, assets)`` with days in calendar order. Assets are stocks
(``level="stock"``) or CITIC industries (``industry_l1`` / ``industry_l2``); industry series are
the 整体法 sums of docs/methodology.md#25-group-level-industries-boards-cap-quintiles and the
industry return is the float-cap-weighted return of its stocks (weights: previous-day float
cap), like a CITIC industry index (docs/methodology.md#31-conventions). NaN marks a missing
value; ``present`` marks the cells that exist (a listed stock, an industry with at least one
stock that day).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
import polars as pl

from etfflow.engine.market import Market, group_ids
from etfflow.engine.panel import Calendar, StockPanel, index_of
from etfflow.exceptions import DataContractError, EtfflowError

Level = Literal["stock", "industry_l1", "industry_l2"]
T = TypeVar("T")
LEVELS: tuple[str, ...] = ("stock", "industry_l1", "industry_l2")

#: Look-through columns a factor input panel carries (the names of Huaan 2024-12 table 8).
FLOW_COLUMNS: tuple[str, ...] = (
    "mv_passive",
    "share_passive",
    "share_passive_fund",
    "w_passive",
    "inflow",
    "float_mcap",
)


@dataclass
class FactorInputs:
    """Dense inputs of every factor at one level.

    Attributes
    ----------
    level
        ``"stock"``, ``"industry_l1"`` or ``"industry_l2"``.
    calendar
        Trading days (rows).
    names
        Asset names (columns): stock codes or industry names.
    present
        ``(T, M)`` bool: the asset exists that day (a ``stock_daily`` row; an industry with
        stocks). Factor tables have one row per present cell.
    series
        ``name -> (T, M) float64`` for :data:`FLOW_COLUMNS` and ``ret`` (decimal daily total
        return); NaN where missing.
    """

    level: str
    calendar: Calendar
    names: list[str]
    present: np.ndarray
    series: dict[str, np.ndarray]
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.present.shape

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.series[name]
        except KeyError:
            raise EtfflowError(
                f"factor input {name!r} is not available; inputs are {sorted(self.series)}"
            ) from None

    def cached(self, key: str, make: Callable[[], T]) -> T:
        """A derived panel computed once per inputs object (shared by factors)."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]


def _dense(
    df: pl.DataFrame, day: np.ndarray, col: np.ndarray, shape: tuple[int, int], name: str
) -> np.ndarray:
    out = np.full(shape, np.nan)
    out[day, col] = df[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
    return out


def stock_inputs(market: Market, stocks: pl.DataFrame) -> FactorInputs:
    """Stock-level inputs from the look-through's daily stock table and the market.

    Parameters
    ----------
    market
        :func:`etfflow.engine.market.load_market` of the same dataset.
    stocks
        The daily stock table (``LookThrough.stocks`` or the store's ``stock_flow`` rows of one
        run), columns ``date, code`` and :data:`FLOW_COLUMNS`.
    """
    _require(stocks, "stock_flow", ("date", "code", *FLOW_COLUMNS))
    cal = market.calendar
    day = cal.index_of(stocks["date"])
    col = index_of(stocks["code"], market.codes)
    _check_keys(stocks, day, col, "stock_flow", "code")
    shape = market.shape
    series = {c: _dense(stocks, day, col, shape, c) for c in FLOW_COLUMNS}
    series["ret"] = market.ret
    if market.turnover is not None:  # the optional stock_daily.turnover (turnover_n factors)
        series["turnover"] = market.turnover
    present = market.listed.copy()
    return FactorInputs("stock", cal, list(market.codes), present, series)


def industry_returns(market: Market, level: str) -> tuple[np.ndarray, list[str]]:
    """Daily float-cap-weighted industry returns ``(T, I)`` and the industry names.

    ``r[i,t] = Σ_s F[s,t-1]·r[s,t] / Σ_s F[s,t-1]`` over the stocks of industry ``i`` on ``t``
    that have a return on ``t`` and a float cap on ``t-1`` (a stock's first day is left out);
    NaN when no stock qualifies.
    """
    return panel_group_returns(market.panel, market.ret, level)


def panel_group_returns(
    panel: StockPanel, ret: np.ndarray, level: str
) -> tuple[np.ndarray, list[str]]:
    """:func:`industry_returns` from a stock panel and the dense daily returns alone."""
    ids, labels = group_ids(panel, level)
    t, _n = panel.shape
    g = len(labels)
    prev_f = np.vstack([np.full((1, panel.shape[1]), np.nan), panel.float_mcap[:-1]])
    ok = (ids >= 0) & np.isfinite(ret) & np.isfinite(prev_f) & (prev_f > 0)
    d, s = np.nonzero(ok)
    key = d.astype(np.int64) * g + ids[d, s]
    wsum = np.bincount(key, weights=prev_f[d, s], minlength=t * g).reshape(t, g)
    rsum = np.bincount(key, weights=prev_f[d, s] * ret[d, s], minlength=t * g)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(wsum > 0, rsum.reshape(t, g) / wsum, np.nan)
    return r, list(labels)


def industry_inputs(market: Market, groups: pl.DataFrame, level: str) -> FactorInputs:
    """Industry-level inputs from the look-through's group table (整体法 sums).

    Parameters
    ----------
    market
        The market of the same dataset (for industry returns and the calendar).
    groups
        ``LookThrough.groups`` or the store's ``group_flow`` rows of one run.
    level
        ``"industry_l1"`` or ``"industry_l2"``.
    """
    if level not in ("industry_l1", "industry_l2"):
        raise EtfflowError(f"unknown industry level {level!r}: choose industry_l1 or industry_l2")
    _require(groups, "group_flow", ("date", "level", "group_name", *FLOW_COLUMNS))
    ret, labels = industry_returns(market, level)
    rows = groups.filter(pl.col("level") == level)
    cal = market.calendar
    day = cal.index_of(rows["date"])
    col = index_of(rows["group_name"], labels)
    _check_keys(rows, day, col, "group_flow", "group_name")
    shape = (len(cal), len(labels))
    series = {c: _dense(rows, day, col, shape, c) for c in FLOW_COLUMNS}
    present = np.zeros(shape, dtype=np.bool_)
    present[day, col] = True
    series["ret"] = np.where(present, ret, np.nan)
    return FactorInputs(level, cal, labels, present, series)


def _check_keys(df: pl.DataFrame, day: np.ndarray, col: np.ndarray, table: str, key: str) -> None:
    """Every row must land on the dataset's calendar and assets: never dropped silently."""
    bad = (day < 0) | (col < 0)
    if bad.any():
        raise DataContractError(
            f"has rows whose date or {key} is not in the dataset the factors are computed on",
            table=table,
            column=f"date/{key}",
            rule="unknown_key",
            examples=df.filter(pl.Series(bad)).select("date", key).head(5),
            n_rows=int(bad.sum()),
            hint="compute the look-through and the factors on the same dataset",
        )


def _require(df: pl.DataFrame, table: str, cols: tuple[str, ...]) -> None:
    have = set(df.columns)
    for c in cols:
        if c not in have:
            raise DataContractError.missing_column(table=table, column=c, available=sorted(have))


#: The industry inputs that are sums over stocks (``w_passive`` is their ratio): what
#: :func:`industry_inputs_from_stocks` can rebuild from a subset of the stocks.
ADDITIVE_COLUMNS: tuple[str, ...] = ("mv_passive", "share_passive", "inflow", "float_mcap")


def industry_inputs_from_stocks(
    market: Market, stocks: pl.DataFrame, level: str, keep: np.ndarray | None = None
) -> FactorInputs:
    """Industry inputs summed (整体法) from the look-through's stock table over the stocks
    with ``keep[t, s]`` (default: every listed stock), e.g. only the stocks with enough ETF
    ownership (Kaiyuan 2024-09 figure 16; ``etfflow factors compute --min-passive``).

    ``mv_passive``, ``share_passive``, ``inflow`` and ``float_mcap`` are the sums over the
    kept stocks of the industry on ``t`` (``inflow`` null where no kept stock has one),
    ``w_passive`` their ratio ``Σ mv_passive / Σ F``; an industry with no kept stock on ``t``
    has no cell. ``share_passive_fund`` (the shares of the distinct ETFs holding the
    industry) is not a sum over stocks, so these inputs lack it (and the factors built on
    it). ``ret`` stays the whole industry's float-cap-weighted return. With every stock kept
    the sums equal :func:`industry_inputs`' (tested).
    """
    if level not in ("industry_l1", "industry_l2"):
        raise EtfflowError(f"unknown industry level {level!r}: choose industry_l1 or industry_l2")
    x = stock_inputs(market, stocks)
    ids, labels = market.group_ids(level)
    ret, _ = industry_returns(market, level)
    t_n, g_n = len(market.calendar), len(labels)
    ok = (ids >= 0) & x.present
    if keep is not None:
        if keep.shape != ok.shape:
            raise EtfflowError(f"keep has shape {keep.shape}, the stock panel {ok.shape}")
        ok &= keep
    key = (np.arange(t_n, dtype=np.int64)[:, None] * g_n + ids)[ok]
    size = t_n * g_n
    present = (np.bincount(key, minlength=size) > 0).reshape(t_n, g_n)

    def total(name: str) -> np.ndarray:
        v = x[name][ok]
        fin = np.isfinite(v)
        s = np.bincount(key[fin], weights=v[fin], minlength=size).reshape(t_n, g_n)
        n = np.bincount(key[fin], minlength=size).reshape(t_n, g_n)
        return np.where(present & (n > 0), s, np.nan)

    series = {c: total(c) for c in ADDITIVE_COLUMNS}
    with np.errstate(invalid="ignore", divide="ignore"):
        f = series["float_mcap"]
        series["w_passive"] = np.where(f > 0, series["mv_passive"] / f, np.nan)
    series["ret"] = np.where(present, ret, np.nan)
    return FactorInputs(level, market.calendar, list(labels), present, series)

"""The market side of a dataset as dense (day × stock) arrays: returns, flags and prices.

:func:`load_market` adds what factors and backtests need to the :class:`StockPanel` of the
look-through: daily total return, ST and suspension flags, limit prices, listing dates and
integer industry / board ids. Every array has shape ``(days, stocks)`` with days in calendar
order and stocks in ``panel.codes`` order; cells of stocks that are not listed on a day are NaN
(float) or False (bool).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from etfflow.engine.loading import Dataset
from etfflow.engine.panel import Calendar, StockPanel, index_of, load_stock_panel
from etfflow.engine.schemas import BOARDS

#: Day number (days since 1970) used for "no delisting date".
NO_DATE = np.iinfo(np.int32).max


@dataclass
class Market:
    """Dense market arrays aligned with a :class:`StockPanel`.

    Attributes
    ----------
    panel
        Calendar, codes, close, float cap, listed mask and group ids.
    ret
        Daily total return (decimal), NaN when not listed. A suspended day has ``ret`` 0.
    is_st, is_suspended
        Flags of the ``stock_daily`` row (False when not listed).
    up_limit, down_limit
        Limit prices of the day (NaN when not given or not listed).
    list_date, delist_date
        Per stock, days since 1970 (``delist_date`` is :data:`NO_DATE` when absent).
    board
        Per stock, index into :data:`~etfflow.engine.schemas.BOARDS` (-1 unknown).
    turnover
        Daily turnover rate (decimal) from the optional ``stock_daily.turnover`` column, NaN
        when not listed; None when the dataset has no such column.
    """

    panel: StockPanel
    ret: np.ndarray
    is_st: np.ndarray
    is_suspended: np.ndarray
    up_limit: np.ndarray
    down_limit: np.ndarray
    list_date: np.ndarray
    delist_date: np.ndarray
    board: np.ndarray
    turnover: np.ndarray | None = None

    @property
    def calendar(self) -> Calendar:
        return self.panel.calendar

    @property
    def codes(self) -> list[str]:
        return self.panel.codes

    @property
    def shape(self) -> tuple[int, int]:
        return self.panel.shape

    @property
    def close(self) -> np.ndarray:
        return self.panel.close

    @property
    def float_mcap(self) -> np.ndarray:
        return self.panel.float_mcap

    @property
    def listed(self) -> np.ndarray:
        return self.panel.listed

    def group_ids(self, level: str) -> tuple[np.ndarray, list[str]]:
        """``(ids, labels)``: the (days, stocks) int16 id of each stock's group at ``level``
        (``industry_l1``, ``industry_l2``, ``board`` or ``cap_quintile``; -1 = none)."""
        return group_ids(self.panel, level)


def group_ids(panel: StockPanel, level: str) -> tuple[np.ndarray, list[str]]:
    """``(ids, labels)`` of :meth:`Market.group_ids` from the stock panel alone."""
    from etfflow.engine.schemas import GROUP_LEVELS

    k = GROUP_LEVELS.index(level)
    g = panel.gbit[:, :, k]
    ids = np.where(g >= 0, g - panel.group_offsets[k], -1).astype(np.int16)
    return ids, panel.group_labels[k]


def load_returns(ds: Dataset, panel: StockPanel) -> np.ndarray:
    """The dense ``(days, stocks)`` daily return of ``stock_daily`` (NaN when not listed),
    aligned with ``panel``: what :func:`load_market` reads for ``Market.ret``, alone."""
    daily = ds.frame("stock_daily").select("date", "code", "ret").collect()
    out = np.full(panel.shape, np.nan)
    out[panel.calendar.index_of(daily["date"]), index_of(daily["code"], panel.codes)] = (
        daily["ret"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    )
    return out


def load_market(ds: Dataset, panel: StockPanel | None = None) -> Market:
    """Read ``stock_daily`` and ``stocks`` into a :class:`Market` (reusing ``panel`` if given)."""
    panel = panel if panel is not None else load_stock_panel(ds)
    t, n = panel.shape
    have = set(ds.frame("stock_daily").collect_schema().names())
    cols = ["date", "code", "ret", "is_st", "is_suspended"]
    cols += [c for c in ("up_limit", "down_limit", "turnover") if c in have]
    daily = ds.frame("stock_daily").select(cols).collect()
    day = panel.calendar.index_of(daily["date"])
    stock = index_of(daily["code"], panel.codes)

    def dense(col: str, fill: float | bool, dtype: type) -> np.ndarray:
        out: np.ndarray = np.full((t, n), fill, dtype=dtype)
        if col in daily.columns:
            s = daily[col]
            if dtype is np.bool_:
                out[day, stock] = s.fill_null(False).to_numpy()
            else:
                out[day, stock] = s.cast(pl.Float64).fill_null(np.nan).to_numpy()
        return out

    stocks = ds.frame("stocks").collect()
    pos = index_of(stocks["code"], panel.codes)
    list_date = np.full(n, NO_DATE, dtype=np.int32)
    delist_date = np.full(n, NO_DATE, dtype=np.int32)
    board = np.full(n, -1, dtype=np.int16)
    list_date[pos] = stocks["list_date"].to_physical().fill_null(NO_DATE).to_numpy()
    if "delist_date" in stocks.columns:
        delist_date[pos] = stocks["delist_date"].to_physical().fill_null(NO_DATE).to_numpy()
    bpos = {b: i for i, b in enumerate(BOARDS)}
    board[pos] = [bpos.get(b, -1) for b in stocks["board"].cast(pl.String).to_list()]
    return Market(
        panel=panel,
        ret=dense("ret", np.nan, np.float64),
        is_st=dense("is_st", False, np.bool_),
        is_suspended=dense("is_suspended", False, np.bool_),
        up_limit=dense("up_limit", np.nan, np.float64),
        down_limit=dense("down_limit", np.nan, np.float64),
        list_date=list_date,
        delist_date=delist_date,
        board=board,
        turnover=dense("turnover", np.nan, np.float64) if "turnover" in have else None,
    )


def index_returns(ds: Dataset, calendar: Calendar, code: str) -> np.ndarray:
    """The ``(days,)`` daily return of index ``code`` from ``index_daily`` on ``calendar``:
    ``close[t] / close[t-1] - 1`` when the index has a close on both days, NaN otherwise (and
    on the first day). Raises :class:`EtfflowError` naming the table and the codes it has
    when the dataset has no ``index_daily`` or no row for ``code``."""
    from etfflow.exceptions import DataContractError

    if not ds.has("index_daily"):
        raise DataContractError(
            f"index benchmark {code!r} needs the table index_daily, which the dataset lacks",
            table="index_daily",
            hint="add index closes (date, index_code, close) or use the equal-weight benchmark",
        )
    rows = (
        ds.frame("index_daily")
        .select("date", pl.col("index_code").cast(pl.String), "close")
        .filter(pl.col("index_code") == code)
        .collect()
    )
    if rows.height == 0:
        have = (
            ds.frame("index_daily")
            .select(pl.col("index_code").cast(pl.String).unique().sort())
            .collect()["index_code"]
            .to_list()
        )
        raise DataContractError(
            f"no rows for index {code!r}; the table has {', '.join(have[:20])}",
            table="index_daily",
            column="index_code",
        )
    close = np.full(len(calendar), np.nan)
    day = calendar.index_of(rows["date"])
    ok = day >= 0
    close[day[ok]] = rows["close"].cast(pl.Float64).fill_null(np.nan).to_numpy()[ok]
    out = np.full(len(calendar), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[1:] = close[1:] / close[:-1] - 1.0
    return out

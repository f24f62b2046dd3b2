"""Universe and trading rules of stock backtests as dense (day × stock) masks.

Definition: docs/methodology.md#51-universe-and-trading-rules.

:func:`stock_rules` turns a :class:`~etfflow.engine.market.Market` into a
:class:`TradingRules`: four boolean arrays of shape ``(days, stocks)`` that
:func:`etfflow.backtest.engine.evaluate` reads on rebalance and trade days.
:func:`no_rules` allows everything (``--universe none``; industry backtests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from etfflow._jit import inner, kernel
from etfflow.exceptions import EtfflowError

if TYPE_CHECKING:  # the engine imports this module; keep it free of the data stack
    from etfflow.engine.market import Market

#: Absolute price tolerance (CNY) of "close is at the limit price" (prices are in cents).
LIMIT_TOL = 1e-6


@dataclass(frozen=True)
class TradingRules:
    """Eligibility and tradability masks, each ``(days, assets)`` bool.

    Attributes
    ----------
    universe
        May be ranked and held as a new position on a rebalance (signal) day.
    can_buy
        May be bought at the close of the day (not suspended, not at limit-up).
    can_sell
        May be sold at the close of the day (not suspended, not at limit-down).
    benchmark
        Member of the equal-weight benchmark when a period starts on that day.
    """

    universe: np.ndarray
    can_buy: np.ndarray
    can_sell: np.ndarray
    benchmark: np.ndarray

    def __post_init__(self) -> None:
        shapes = {
            name: np.shape(getattr(self, name))
            for name in ("universe", "can_buy", "can_sell", "benchmark")
        }
        if len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 2:
            raise EtfflowError(
                f"TradingRules: the four masks must be 2-D arrays of one shape, got {shapes}"
            )
        for name in shapes:
            a = getattr(self, name)
            if not (isinstance(a, np.ndarray) and a.dtype == np.bool_):
                object.__setattr__(self, name, np.asarray(a, dtype=np.bool_))

    @property
    def shape(self) -> tuple[int, int]:
        return self.universe.shape


def no_rules(shape: tuple[int, int]) -> TradingRules:
    """Rules that allow everything (``--universe none``, industry backtests).

    Every mask is all True; :func:`~etfflow.backtest.engine.evaluate` still requires an
    asset to have a return on the signal day (universe, benchmark) and on the trade day
    (buying), so ``evaluate(..., rules=no_rules(shape))`` equals ``evaluate(..., rules=None)``.

    Examples
    --------
    >>> r = no_rules((2, 3))
    >>> bool(r.universe.all() and r.can_sell.all()), r.shape
    (True, (2, 3))
    """
    ones = np.ones(shape, dtype=np.bool_)
    return TradingRules(universe=ones, can_buy=ones, can_sell=ones, benchmark=ones)


def stock_rules(
    market: Market,
    *,
    min_listed_days: int = 90,
    st_cooldown_days: int = 30,
    benchmark_min_days: int = 10,
) -> TradingRules:
    """The universe, tradability and benchmark masks of a stock market.

    Definition: docs/methodology.md#51-universe-and-trading-rules.

    Parameters
    ----------
    market
        Dense market arrays (:func:`etfflow.engine.market.load_market`).
    min_listed_days
        Calendar days since ``list_date`` before a stock may enter the universe.
    st_cooldown_days
        Calendar days after an ST episode ends before the stock may enter the universe.
    benchmark_min_days
        A benchmark member has been listed for more than this many trading days.

    Returns
    -------
    TradingRules
        ``(days, stocks)`` masks aligned with ``market.panel``.

    Raises
    ------
    EtfflowError
        On negative day counts.

    Notes
    -----
    On day ``t`` (calendar date ``D[t]``, a stock ``s`` with a ``stock_daily`` row):

    - ``universe``: ``D[t] - list_date >= min_listed_days`` (calendar days), not ST, not
      suspended, and ``D[t] - D[removal] >= st_cooldown_days`` where ``removal`` is the first
      trading day without the ST flag after the stock's latest ST day (ST "removal").
      An ST episode before the data starts is unknown and not counted. A missing
      ``list_date`` keeps the stock out of the universe.
    - ``can_buy``: not suspended and ``close < up_limit`` (true when no limit is given).
    - ``can_sell``: not suspended and ``close > down_limit`` (true when no limit is given).
      Limit comparisons use a tolerance of :data:`LIMIT_TOL` CNY.
    - ``benchmark``: listed for more than ``benchmark_min_days`` trading days and not ST.
      Trading days since listing count calendar positions from the first trading day on or
      after ``list_date`` (that day is day 0); for a listing before the calendar starts the
      weekdays between ``list_date`` and the first calendar day are added (an upper bound).

    Days without a ``stock_daily`` row are False in every mask.

    Examples
    --------
    See ``tests/backtest/test_universe.py`` for hand-built cases.
    """
    from etfflow.engine.market import NO_DATE

    for name, v in (
        ("min_listed_days", min_listed_days),
        ("st_cooldown_days", st_cooldown_days),
        ("benchmark_min_days", benchmark_min_days),
    ):
        if int(v) != v or v < 0:
            raise EtfflowError(f"stock_rules: {name} must be a non-negative integer, got {v!r}")
    epoch = market.calendar.epoch.astype(np.int64)
    listed = market.listed
    list_date = market.list_date.astype(np.int64)
    first = np.searchsorted(epoch, list_date, side="left").astype(np.int64)
    if len(epoch):
        before = (list_date < epoch[0]) & (market.list_date != NO_DATE)
        if before.any():
            d0 = np.datetime64(int(epoch[0]), "D")
            ld = list_date[before].astype("datetime64[D]")
            first[before] = -np.busday_count(ld, d0)
    universe, benchmark = _universe_masks(
        epoch,
        listed,
        market.is_st,
        market.is_suspended,
        list_date,
        (market.list_date == NO_DATE),
        first,
        int(min_listed_days),
        int(st_cooldown_days),
        int(benchmark_min_days),
    )
    close = market.close
    with np.errstate(invalid="ignore"):
        at_up = close >= market.up_limit - LIMIT_TOL
        at_down = close <= market.down_limit + LIMIT_TOL
    tradable = listed & ~market.is_suspended
    return TradingRules(
        universe=universe,
        can_buy=tradable & ~at_up,
        can_sell=tradable & ~at_down,
        benchmark=benchmark,
    )


@inner
def _universe_1d(
    epoch,
    listed,
    is_st,
    suspended,
    list_date,
    no_list,
    first,
    min_days,
    cooldown,
    bench_days,
    uni,
    bench,
):
    """One stock's universe and benchmark flags over the calendar (see :func:`stock_rules`)."""
    removal = -(2**62)  # day number of the latest ST removal (none yet)
    was_st = False
    for t in range(epoch.shape[0]):
        if not listed[t]:
            continue
        st = is_st[t]
        if st:
            was_st = True
        elif was_st:
            removal = epoch[t]
            was_st = False
        if no_list:
            continue
        ok = (
            (not st)
            and (not suspended[t])
            and epoch[t] - list_date >= min_days
            and epoch[t] - removal >= cooldown
        )
        uni[t] = ok
        bench[t] = (not st) and (t - first > bench_days)


@kernel
def _universe_masks(
    epoch, listed, is_st, suspended, list_date, no_list, first, min_days, cooldown, bench_days
):
    """Thin wrapper of :func:`_universe_1d` over stocks (columns)."""
    t, n = listed.shape
    uni = np.zeros((t, n), dtype=np.bool_)
    bench = np.zeros((t, n), dtype=np.bool_)
    # writes into the column views (a copy back with ``uni[:, s] = u`` would compile numba's
    # shape-mismatch error message, ~1 s of a first run)
    for s in range(n):
        _universe_1d(
            epoch,
            listed[:, s],
            is_st[:, s],
            suspended[:, s],
            list_date[s],
            no_list[s],
            first[s],
            min_days,
            cooldown,
            bench_days,
            uni[:, s],
            bench[:, s],
        )
    return uni, bench


#: Sub-universes by float cap (Huaan 2024-12 tables 35–38): name -> (grouping, top share).
#: ``industry_l1``: the largest stocks within each CITIC level-1 industry of the day;
#: ``None``: the largest of the whole market.
CAP_UNIVERSES: dict[str, tuple[str | None, float]] = {
    "industry_cap_top25": ("industry_l1", 0.25),
    "industry_cap_top50": ("industry_l1", 0.50),
    "market_cap_top25": (None, 0.25),
}
#: Every ``universe=`` name of the stock backtests.
UNIVERSES: tuple[str, ...] = ("default", "none", *CAP_UNIVERSES)


def top_cap_mask(float_mcap: np.ndarray, groups: np.ndarray, top: float) -> np.ndarray:
    """``(days, stocks)`` bool: on each day, the stocks whose float cap is among the largest
    ``ceil(top · n)`` of their group that day (``n`` stocks of the group with a finite cap;
    stocks tied with the last one kept are kept too). A NaN cap or a group id < 0 is False.

    Point in time: day ``t``'s mask reads only day ``t``'s caps and groups.

    Examples
    --------
    >>> cap = np.array([[1.0, 5.0, 3.0, 4.0, np.nan]])
    >>> top_cap_mask(cap, np.array([[0, 0, 0, 1, 1]]), 0.5).tolist()
    [[False, True, True, True, False]]
    """
    cap = np.asarray(float_mcap, dtype=np.float64)
    g = np.asarray(groups, dtype=np.int64)
    if cap.shape != g.shape or cap.ndim != 2:
        raise EtfflowError(f"top_cap_mask: caps {cap.shape} and groups {g.shape} differ")
    if not 0 < top <= 1:
        raise EtfflowError(f"top_cap_mask: top must be in (0, 1], got {top!r}")
    out = np.zeros(cap.shape, dtype=np.bool_)
    ok = np.isfinite(cap) & (g >= 0)
    day, stock = np.nonzero(ok)
    if len(day) == 0:
        return out
    key = day * (int(g.max()) + 1) + g[day, stock]
    v = cap[day, stock]
    order = np.lexsort((-v, key))  # by (day, group), largest cap first
    key, v, day, stock = key[order], v[order], day[order], stock[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    sizes = np.diff(np.r_[starts, len(key)])
    keep_n = np.ceil(top * sizes - 1e-12).astype(np.int64)  # 0.25 * 8 is 2, not 3
    cutoff = v[starts + np.maximum(keep_n, 1) - 1]
    seg = np.repeat(np.arange(len(starts)), sizes)
    out[day, stock] = v >= cutoff[seg]
    return out


def universe_rules(market: Market, universe: str) -> TradingRules | None:
    """The trading rules of a named stock universe (``None`` for ``"none"``).

    ``default``: :func:`stock_rules`. A :data:`CAP_UNIVERSES` name: the default rules with
    the universe and the equal-weight benchmark both restricted to the cap sub-universe of
    the signal day (docs/methodology.md#51-universe-and-trading-rules), so excess returns are
    measured against the sub-universe itself.
    """
    if universe not in UNIVERSES:
        raise EtfflowError(f"unknown universe {universe!r}: choose one of {', '.join(UNIVERSES)}")
    if universe == "none":
        return None
    rules = stock_rules(market)
    if universe == "default":
        return rules
    level, top = CAP_UNIVERSES[universe]
    if level is None:
        groups = np.where(np.isfinite(market.float_mcap), 0, -1)
    else:
        groups = market.group_ids(level)[0]
    return restrict(rules, top_cap_mask(market.float_mcap, groups, top))


def min_passive_mask(w_passive: np.ndarray, eligible: np.ndarray, q: float) -> np.ndarray:
    """``(days, stocks)`` bool: on each day, the eligible stocks whose passive holding share
    ``w_passive`` is at least that day's ``q``-quantile among the eligible stocks with a
    value (linear interpolation between order statistics, NumPy's default). A stock without
    a value, or not eligible, is False; ``q = 0`` keeps every eligible stock with a value.

    Point in time: day ``t``'s mask reads only day ``t``'s values
    (docs/methodology.md#51-universe-and-trading-rules, ``--min-passive``).

    Examples
    --------
    >>> w = np.array([[0.0, 0.01, 0.02, 0.03, np.nan]])
    >>> min_passive_mask(w, np.ones((1, 5), dtype=bool), 0.5).tolist()
    [[False, False, True, True, False]]
    """
    w = np.asarray(w_passive, dtype=np.float64)
    ok = np.asarray(eligible, dtype=np.bool_) & np.isfinite(w)
    if w.shape != ok.shape or w.ndim != 2:
        raise EtfflowError(f"min_passive_mask: values {w.shape} and mask {ok.shape} differ")
    if not 0 <= q < 1:
        raise EtfflowError(f"min-passive quantile must be in [0, 1), got {q!r}")
    out = np.zeros(w.shape, dtype=np.bool_)
    rows = np.flatnonzero(ok.any(axis=1))
    if len(rows) == 0:
        return out
    masked = np.where(ok[rows], w[rows], np.nan)
    cut = np.nanquantile(masked, q, axis=1)
    out[rows] = ok[rows] & (masked >= cut[:, None])
    return out


def restrict(rules: TradingRules, keep: np.ndarray) -> TradingRules:
    """``rules`` with the universe and the equal-weight benchmark both limited to ``keep``
    (trading rules unchanged): excess returns are measured against the restricted set."""
    return TradingRules(
        universe=rules.universe & keep,
        can_buy=rules.can_buy,
        can_sell=rules.can_sell,
        benchmark=rules.benchmark & keep,
    )

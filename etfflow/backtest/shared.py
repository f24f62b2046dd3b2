"""What every factor of one :func:`~etfflow.backtest.engine.evaluate` call shares.

The checked arguments and everything that does not depend on the factor: the rebalance
calendar (anchored on the data, :mod:`etfflow.backtest.periods`), each asset's growth over
each period, forward returns, eligibility and tradability under the trading rules, and the
equal-weight benchmark (docs/methodology.md#5-backtests). Computed once per call, so a
factor's rows cannot depend on the other factors evaluated with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from etfflow.backtest import engine_nb as nb
from etfflow.backtest.metrics import TRADING_DAYS_PER_YEAR
from etfflow.backtest.periods import Periods, make_periods
from etfflow.engine.universe import TradingRules
from etfflow.exceptions import EtfflowError

#: A factor's direction: +1 / -1, ``"auto"`` (the sign of its whole-sample mean Rank IC) or
#: ``"rolling"`` (per period, the sign of the mean Rank IC of the periods already completed).
Direction = int | Literal["auto", "rolling"]
#: The direction rules that are not a fixed sign.
DIRECTION_RULES: tuple[str, ...] = ("auto", "rolling")


def check_arguments(
    factors: Mapping[str, np.ndarray],
    returns: np.ndarray,
    dates: np.ndarray,
    rules: TradingRules | None,
    groups: int,
    direction: Direction | Mapping[str, Direction],
    rebalance: int | str,
    lag: int,
    cost_bps: float,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, dict[str, Direction]]:
    """Validate and normalise the arguments of :func:`~etfflow.backtest.engine.evaluate`
    (raises EtfflowError)."""
    ret = np.asarray(returns, dtype=np.float64)
    if ret.ndim != 2:
        raise EtfflowError(f"evaluate: returns must be 2-D (days, assets), got shape {ret.shape}")
    d = np.asarray(dates).astype("datetime64[D]")
    if d.shape != (ret.shape[0],):
        raise EtfflowError(
            f"evaluate: dates has shape {d.shape}, expected ({ret.shape[0]},) like returns"
        )
    if len(d) > 1 and not (np.diff(d.astype(np.int64)) > 0).all():
        raise EtfflowError("evaluate: dates must be strictly increasing trading days")
    if not factors:
        raise EtfflowError("evaluate: no factors given")
    out: dict[str, np.ndarray] = {}
    for name, f in factors.items():
        a = np.asarray(f, dtype=np.float64)
        if a.shape != ret.shape:
            raise EtfflowError(
                f"evaluate: factor {name!r} has shape {a.shape}, returns have {ret.shape}",
            )
        out[str(name)] = a
    if rules is not None and rules.shape != ret.shape:
        raise EtfflowError(f"evaluate: rules have shape {rules.shape}, returns have {ret.shape}")
    if int(groups) != groups or not 2 <= groups <= 100:
        raise EtfflowError(f"evaluate: groups must be an integer in 2..100, got {groups!r}")
    if rebalance != "month" and (
        isinstance(rebalance, bool) or not isinstance(rebalance, int | np.integer) or rebalance < 1
    ):
        raise EtfflowError(
            f"evaluate: rebalance must be a positive number of trading days or 'month', "
            f"got {rebalance!r}"
        )
    if isinstance(lag, bool) or not isinstance(lag, int | np.integer) or lag < 0:
        raise EtfflowError(f"evaluate: lag must be a non-negative integer, got {lag!r}")
    if not (math.isfinite(cost_bps) and cost_bps >= 0):
        raise EtfflowError(f"evaluate: cost_bps must be >= 0, got {cost_bps!r}")

    def one(name: str, v: object) -> Direction:
        if v in DIRECTION_RULES:
            return v  # type: ignore[return-value]
        if v in (1, -1) and not isinstance(v, bool):
            return int(v)
        raise EtfflowError(
            f"evaluate: direction of {name!r} must be +1, -1, 'auto' or 'rolling', got {v!r}"
        )

    if isinstance(direction, Mapping):
        unknown = sorted(set(map(str, direction)) - set(out))
        if unknown:
            raise EtfflowError(
                f"evaluate: direction names unknown factors {unknown[:5]}; "
                f"factors are {list(out)[:5]}"
            )
        dirs = {n: one(n, direction.get(n, "auto")) for n in out}
    else:
        dirs = {n: one(n, direction) for n in out}
    return out, ret, d, dirs


def index_paths(r: np.ndarray, dates: np.ndarray, per: Periods) -> tuple[np.ndarray, np.ndarray]:
    """An index benchmark's ``(K,)`` period returns and ``(T,)`` within-period value paths:
    ``prod_{a<j<=d}(1 + r[j])`` on the days ``d`` of each period (``a`` its trade day).
    Raises :class:`EtfflowError` naming the first day of a period without an index return."""
    r = np.asarray(r, dtype=np.float64)
    if r.shape != dates.shape:
        raise EtfflowError(
            f"evaluate: benchmark has shape {r.shape}, expected {dates.shape} (one return per day)"
        )
    val = np.full(len(dates), np.nan)
    gross = np.full(len(per), np.nan)
    for k in range(len(per)):
        a, b = int(per.start[k]), int(per.end[k])
        seg = r[a + 1 : b + 1]
        bad = np.flatnonzero(~np.isfinite(seg))
        if len(bad):
            raise EtfflowError(
                f"evaluate: the benchmark index has no return on {dates[a + 1 + bad[0]]} "
                f"(holding period {dates[a]} → {dates[b]}): index_daily needs a close on "
                "every trading day of the backtest and the day before it"
            )
        path = np.cumprod(1.0 + seg)
        val[a + 1 : b + 1] = path
        gross[k] = path[-1] - 1.0 if len(path) else 0.0
    return gross, val


@dataclass
class Shared:
    """Everything :func:`~etfflow.backtest.engine.evaluate` computes once for all factors."""

    dates: np.ndarray
    date_series: pl.Series
    periods: Periods
    growth: np.ndarray
    fwd: np.ndarray
    eligible: np.ndarray
    buyable: np.ndarray
    sellable: np.ndarray
    day_period: np.ndarray
    bench_gross: np.ndarray
    bench_val: np.ndarray
    bench_n: np.ndarray
    ppy: float
    years: np.ndarray


def shared_inputs(
    returns: np.ndarray,
    dates: np.ndarray,
    rules: TradingRules | None,
    rebalance: int | Literal["month"],
    lag: int,
    benchmark: np.ndarray | None = None,
) -> Shared:
    t, m = returns.shape
    per = make_periods(dates, 0, rebalance=rebalance, lag=lag)
    if len(per) == 0:
        raise EtfflowError(
            f"evaluate: no complete holding period: {t} trading days, rebalance={rebalance!r}, "
            f"lag={lag}",
        )
    growth = nb.period_growth(np.ascontiguousarray(returns), per.start, per.end)
    has_start = np.isfinite(returns[per.start])
    has_rebal = np.isfinite(returns[per.rebal])
    with np.errstate(invalid="ignore"):
        fwd = np.where(has_start, growth[per.end] - 1.0, np.nan)
    eligible = has_rebal
    if rules is None:
        buyable = has_start
        sellable = np.ones((len(per), m), dtype=np.bool_)
        bench = eligible & has_start
    else:
        eligible = eligible & rules.universe[per.rebal]
        buyable = has_start & rules.can_buy[per.start]
        sellable = rules.can_sell[per.start] | ~has_start
        bench = has_rebal & has_start & rules.benchmark[per.rebal]
    if benchmark is None:
        bench_grp = np.where(bench, 0, -1).astype(np.int8)
        all_true = np.ones_like(bench)
        bg, bn, _, _, bv = nb.simulate_groups(
            bench_grp, 1, per.start, per.end, growth, all_true, all_true, all_true[:, 0].copy()
        )
        bench_gross, bench_val, bench_n = bg[0], bv[0], bn[0]
    else:
        bench_gross, bench_val = index_paths(benchmark, dates, per)
        bench_n = np.full(len(per), -1, dtype=np.int64)  # an index: no member count
    day_period = np.full(t, -1, dtype=np.int64)
    day_period[per.start[0] + 1 : per.end[-1] + 1] = np.repeat(
        np.arange(len(per)), per.end - per.start
    )
    ppy = 12.0 if rebalance == "month" else TRADING_DAYS_PER_YEAR / int(rebalance)
    years = dates[per.rebal].astype("datetime64[Y]").astype(np.int64) + 1970
    return Shared(
        dates=dates,
        date_series=pl.Series("date", dates),
        periods=per,
        growth=growth,
        fwd=fwd,
        eligible=eligible,
        buyable=buyable,
        sellable=sellable,
        day_period=day_period,
        bench_gross=bench_gross,
        bench_val=bench_val,
        bench_n=bench_n,
        ppy=ppy,
        years=years,
    )

"""Factor evaluation on dense arrays (SPEC §5.2-§5.3): IC, quantile groups, NAVs and metrics.

:func:`evaluate` takes ``name -> (T, M)`` factor panels (stocks or industries), the daily
returns of the same assets and optional :class:`~etfflow.backtest.universe.TradingRules`,
and returns an :class:`Evaluation` of Polars tables. Everything that does not depend on the
factor — the rebalance calendar, the per-period growth of every asset, forward returns,
eligibility, tradability and the benchmark — is computed once per call and shared by all
factors; per factor, two numba kernels (:mod:`etfflow.backtest.engine_nb`) do the per-date
sorts (parallel over dates) and the portfolio paths (parallel over groups).

Conventions (all stated again in :func:`evaluate`): returns are decimals; a period's return
is compounded from the close of the trade day to the close of the next trade day; NAVs start
at 1; annualisation uses :data:`TRADING_DAYS_PER_YEAR` trading days.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from etfflow.backtest import engine_nb as nb
from etfflow.backtest.universe import TradingRules
from etfflow.exceptions import EtfflowError

#: Trading days per year used to annualise returns and to count periods per year.
TRADING_DAYS_PER_YEAR = 242
#: NAV series of every factor, in this order.
SERIES: tuple[str, ...] = ("long", "short", "long_short", "benchmark", "excess")

Progress = Callable[[str, int, int], None]
Direction = int | Literal["auto"]

IC_SCHEMA = pl.Schema(
    {
        "date": pl.Date,
        "factor": pl.String,
        "ic": pl.Float64,
        "rank_ic": pl.Float64,
        "n": pl.Int32,
    }
)
GROUPS_SCHEMA = pl.Schema(
    {
        "date": pl.Date,
        "factor": pl.String,
        "group": pl.Int16,
        "ret": pl.Float64,
        "n": pl.Int32,
        "turnover": pl.Float64,
    }
)
NAV_SCHEMA = pl.Schema(
    {"date": pl.Date, "factor": pl.String, "series": pl.Enum(SERIES), "nav": pl.Float64}
)
PERIODS_SCHEMA = pl.Schema(
    {
        "period": pl.Int32,
        "date": pl.Date,
        "start": pl.Date,
        "end": pl.Date,
        "benchmark": pl.Float64,
        "n_benchmark": pl.Int32,
    }
)
SUMMARY_SCHEMA = pl.Schema(
    {
        "factor": pl.String,
        "direction": pl.Int8,
        "n_periods": pl.Int32,
        "rank_ic": pl.Float64,
        "ic": pl.Float64,
        "rank_ic_std": pl.Float64,
        "ic_std": pl.Float64,
        "rank_icir": pl.Float64,
        "icir": pl.Float64,
        "rank_icir_annual": pl.Float64,
        "icir_annual": pl.Float64,
        "rank_ic_win_rate": pl.Float64,
        "ic_win_rate": pl.Float64,
        "long_ann_return": pl.Float64,
        "benchmark_ann_return": pl.Float64,
        "long_excess_ann": pl.Float64,
        "long_max_drawdown": pl.Float64,
        "excess_max_drawdown": pl.Float64,
        "information_ratio": pl.Float64,
        "long_win_rate": pl.Float64,
        "mean_period_excess": pl.Float64,
        "gain_loss_ratio": pl.Float64,
        "long_short_ann_return": pl.Float64,
        "long_short_max_drawdown": pl.Float64,
        "monotonicity": pl.Float64,
        "turnover": pl.Float64,
        "groups": pl.Int16,
        "rebalance": pl.String,
        "lag": pl.Int16,
        "cost_bps": pl.Float64,
    }
)
YEARLY_SCHEMA = pl.Schema(
    {
        "factor": pl.String,
        "year": pl.Int32,
        "n_periods": pl.Int32,
        "rank_ic": pl.Float64,
        "ic": pl.Float64,
        "return": pl.Float64,
        "benchmark_return": pl.Float64,
        "excess": pl.Float64,
        "max_drawdown": pl.Float64,
        "excess_max_drawdown": pl.Float64,
        "information_ratio": pl.Float64,
        "win_rate": pl.Float64,
        "mean_excess": pl.Float64,
        "gain_loss_ratio": pl.Float64,
        "long_short_return": pl.Float64,
    }
)
GROUP_SUMMARY_SCHEMA = pl.Schema(
    {
        "factor": pl.String,
        "group": pl.Int16,
        "ann_return": pl.Float64,
        "mean_return": pl.Float64,
        "n_periods": pl.Int32,
    }
)


@dataclass(frozen=True)
class Evaluation:
    """Result of :func:`evaluate`: Polars tables with rows in factor input order, then by
    date (``groups``: date, group; ``nav``: series, date; ``yearly``: year).

    Attributes
    ----------
    ic
        :data:`IC_SCHEMA`: per rebalance date, Pearson ``ic`` and Spearman ``rank_ic`` of the
        factor vs the next-period return over the universe, ``n`` assets used.
    groups
        :data:`GROUPS_SCHEMA`: per rebalance date and group (1 = lowest factor values), the
        net period return ``ret`` of the group portfolio (null when it held nothing), names
        held ``n`` and the share of names that are new (``turnover``).
    nav
        :data:`NAV_SCHEMA`: daily NAV (1 at the first trade day) of the ``long``, ``short``,
        ``long_short``, ``benchmark`` and ``excess`` series.
    summary
        :data:`SUMMARY_SCHEMA`: one row per factor, whole-period metrics (SPEC §5.3).
    yearly
        :data:`YEARLY_SCHEMA`: one row per factor and calendar year of the rebalance date.
    group_summary
        :data:`GROUP_SUMMARY_SCHEMA`: annualised and mean per-period return of each group.
    periods
        :data:`PERIODS_SCHEMA`: the shared calendar — signal ``date``, trade day ``start``,
        exit ``end`` and the benchmark's period return.
    """

    ic: pl.DataFrame
    groups: pl.DataFrame
    nav: pl.DataFrame
    summary: pl.DataFrame
    yearly: pl.DataFrame
    group_summary: pl.DataFrame
    periods: pl.DataFrame


@dataclass(frozen=True)
class Periods:
    """Holding periods as day indices: signal ``rebal[k]``, held over ``(start[k], end[k]]``."""

    rebal: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.rebal)


def qcut_fractions(groups: int) -> np.ndarray:
    """The quantile fractions ``pd.qcut(x, groups)`` uses (pandas 3): ``linspace(0, 1, G+1)``
    with each value that is not exactly ``k/G`` rounded up to the next float."""
    q = np.linspace(0, 1, groups + 1)
    np.putmask(q, groups * q != np.arange(groups + 1), np.nextafter(q, 1))
    return q


def month_ends(dates: np.ndarray) -> np.ndarray:
    """Positions of the last trading day of each calendar month in ``dates``.

    The final date counts only when no weekday of its month follows it (otherwise the month
    may not be complete in the data).
    """
    d = np.asarray(dates, dtype="datetime64[D]")
    if len(d) == 0:
        return np.zeros(0, dtype=np.int64)
    m = d.astype("datetime64[M]")
    ends = np.flatnonzero(m[1:] != m[:-1])
    nxt = (m[-1] + 1).astype("datetime64[D]")
    if np.busday_count(d[-1] + 1, nxt) == 0:
        ends = np.append(ends, len(d) - 1)
    return ends.astype(np.int64)


def make_periods(
    dates: np.ndarray, first: int, *, rebalance: int | Literal["month"], lag: int
) -> Periods:
    """The rebalance calendar (SPEC §5.2).

    Signal days are ``first, first+h, first+2h, ...`` (``rebalance=h``) or the month ends
    (:func:`month_ends`) on or after ``first``. Period ``k`` trades at ``rebal[k] + lag`` and
    ends at ``rebal[k+1] + lag``; a period whose end is past the data is dropped, and so is
    the last signal day (no next rebalance).
    """
    t = len(dates)
    if rebalance == "month":
        cand = month_ends(dates)
        cand = cand[cand >= first]
    else:
        cand = np.arange(first, t, int(rebalance), dtype=np.int64)
    if len(cand) >= 2 and np.diff(cand).min() <= lag:
        raise EtfflowError(
            f"evaluate: lag={lag} is not shorter than the shortest rebalance interval "
            f"({int(np.diff(cand).min())} trading days); periods would overlap"
        )
    ok = cand[1:] + lag <= t - 1
    k = int(ok.sum())
    rebal = cand[:k]
    return Periods(rebal=rebal, start=rebal + lag, end=cand[1 : k + 1] + lag)


def _check_arguments(
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
    """Validate and normalise the arguments of :func:`evaluate` (raises EtfflowError)."""
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
        if v == "auto":
            return "auto"
        if v in (1, -1) and not isinstance(v, bool):
            return int(v)  # type: ignore[call-overload]
        raise EtfflowError(f"evaluate: direction of {name!r} must be +1, -1 or 'auto', got {v!r}")

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


@dataclass
class _Shared:
    """Everything :func:`evaluate` computes once for all factors."""

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


def _shared(
    returns: np.ndarray,
    dates: np.ndarray,
    first: int,
    rules: TradingRules | None,
    rebalance: int | Literal["month"],
    lag: int,
) -> _Shared:
    t, m = returns.shape
    per = make_periods(dates, first, rebalance=rebalance, lag=lag)
    if len(per) == 0:
        raise EtfflowError(
            f"evaluate: no complete holding period: {t} trading days, first factor value on day "
            f"{first}, rebalance={rebalance!r}, lag={lag}",
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
    bench_grp = np.where(bench, 0, -1).astype(np.int8)
    all_true = np.ones_like(bench)
    bg, bn, _, _, bv = nb.simulate_groups(
        bench_grp, 1, per.start, per.end, growth, all_true, all_true
    )
    day_period = np.full(t, -1, dtype=np.int64)
    day_period[per.start[0] + 1 : per.end[-1] + 1] = np.repeat(
        np.arange(len(per)), per.end - per.start
    )
    ppy = 12.0 if rebalance == "month" else TRADING_DAYS_PER_YEAR / int(rebalance)
    years = dates[per.rebal].astype("datetime64[Y]").astype(np.int64) + 1970
    return _Shared(
        dates=dates,
        date_series=pl.Series("date", dates),
        periods=per,
        growth=growth,
        fwd=fwd,
        eligible=eligible,
        buyable=buyable,
        sellable=sellable,
        day_period=day_period,
        bench_gross=bg[0],
        bench_val=bv[0],
        bench_n=bn[0],
        ppy=ppy,
        years=years,
    )


def _nav(path: np.ndarray, sh: _Shared) -> np.ndarray:
    """Daily NAV from a period-to-date value path ``path[d] = 1 + R(start_k -> d)``.

    ``nav[start_0] = 1`` and ``nav[d] = prod_{j<k} path[end_j] * path[d]`` for ``d`` in
    period ``k``: the compounded period returns at period ends, the buy-and-hold path inside.
    """
    per = sh.periods
    nav = np.full(len(path), np.nan)
    growth = path[per.end]
    start_nav = np.concatenate(([1.0], np.cumprod(growth)[:-1]))
    nav[per.start[0]] = 1.0
    days = slice(per.start[0] + 1, per.end[-1] + 1)
    nav[days] = start_nav[sh.day_period[days]] * path[days]
    return nav


def _mean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else math.nan


def _std(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.std(ddof=1)) if len(x) > 1 else math.nan


def _ratio(a: float, b: float) -> float:
    return a / b if (math.isfinite(a) and math.isfinite(b) and b != 0) else math.nan


def _win_rate(ic: np.ndarray, d: int) -> float:
    x = ic[np.isfinite(ic)]
    return float((np.sign(x) == d).mean()) if len(x) else math.nan


def _annualise(growth: float, n_days: int) -> float:
    if not (math.isfinite(growth) and growth > 0 and n_days > 0):
        return math.nan
    return growth ** (TRADING_DAYS_PER_YEAR / n_days) - 1.0


def _gain_loss(x: np.ndarray) -> float:
    win = x[x > 0]
    loss = x[x < 0]
    if len(win) == 0 or len(loss) == 0:
        return math.nan
    return float(win.mean() / abs(loss.mean()))


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2:
        return math.nan
    rx, _ = nb._average_ranks(np.ascontiguousarray(x[ok], dtype=np.float64))
    ry, _ = nb._average_ranks(np.ascontiguousarray(y[ok], dtype=np.float64))
    return float(nb._pearson(rx, ry))


def _max_dd(nav: np.ndarray) -> float:
    return float(nb.max_drawdown(np.ascontiguousarray(nav)))


def _evaluate_one(
    name: str,
    factor: np.ndarray,
    sh: _Shared,
    *,
    groups: int,
    direction: Direction,
    cost_rate: float,
    qs: np.ndarray,
    config: dict,
) -> dict[str, pl.DataFrame]:
    per = sh.periods
    k_n = len(per)
    fk = np.ascontiguousarray(factor[per.rebal])  # the factor on signal days only
    ic, ric, cnt, grp = nb.cross_sections(fk, sh.fwd, sh.eligible, qs)
    d = direction
    if d == "auto":
        mean_ric = _mean(ric)
        d = -1 if (math.isfinite(mean_ric) and mean_ric < 0) else 1
    gross, n_mem, buy, sell, val = nb.simulate_groups(
        grp, groups, per.start, per.end, sh.growth, sh.buyable, sh.sellable
    )
    cost = cost_rate * (buy + sell)  # (G, K)
    net = gross - cost
    lo, hi = (groups - 1, 0) if d == 1 else (0, groups - 1)
    dp = sh.day_period
    days = slice(per.start[0] + 1, per.end[-1] + 1)

    def path(g: int) -> np.ndarray:
        p = np.full(len(dp), np.nan)
        p[days] = val[g, days] - cost[g, dp[days]]
        return p

    p_long, p_short = path(lo), path(hi)
    p_bench = sh.bench_val
    p_ls = p_long - p_short + 1.0
    p_ex = p_long - p_bench + 1.0
    navs = {
        "long": _nav(p_long, sh),
        "short": _nav(p_short, sh),
        "long_short": _nav(p_ls, sh),
        "benchmark": _nav(p_bench, sh),
        "excess": _nav(p_ex, sh),
    }
    r_long = net[lo]
    r_bench = sh.bench_gross
    r_ls = net[lo] - net[hi]
    excess = r_long - r_bench
    n_days = int(per.end[-1] - per.start[0])
    ppy = sh.ppy
    end = per.end[-1]

    # group summary
    g_growth = np.prod(1.0 + net, axis=1)
    g_ann = np.array([_annualise(float(x), n_days) for x in g_growth])
    held = n_mem > 0
    g_mean = np.array(
        [float(net[g, held[g]].mean()) if held[g].any() else math.nan for g in range(groups)]
    )
    rank_ic_mean, ic_mean = _mean(ric), _mean(ic)
    rank_ic_std, ic_std = _std(ric), _std(ic)
    summary = {
        "factor": name,
        "direction": d,
        "n_periods": k_n,
        "rank_ic": rank_ic_mean,
        "ic": ic_mean,
        "rank_ic_std": rank_ic_std,
        "ic_std": ic_std,
        "rank_icir": _ratio(rank_ic_mean, rank_ic_std),
        "icir": _ratio(ic_mean, ic_std),
        "rank_icir_annual": _ratio(rank_ic_mean, rank_ic_std) * math.sqrt(ppy),
        "icir_annual": _ratio(ic_mean, ic_std) * math.sqrt(ppy),
        "rank_ic_win_rate": _win_rate(ric, d),
        "ic_win_rate": _win_rate(ic, d),
        "long_ann_return": _annualise(navs["long"][end], n_days),
        "benchmark_ann_return": _annualise(navs["benchmark"][end], n_days),
        "long_excess_ann": _annualise(navs["excess"][end], n_days),
        "long_max_drawdown": _max_dd(navs["long"]),
        "excess_max_drawdown": _max_dd(navs["excess"]),
        "information_ratio": _ratio(_mean(excess), _std(excess)) * math.sqrt(ppy),
        "long_win_rate": float((r_long > r_bench).mean()),
        "mean_period_excess": _mean(excess),
        "gain_loss_ratio": _gain_loss(excess),
        "long_short_ann_return": _annualise(navs["long_short"][end], n_days),
        "long_short_max_drawdown": _max_dd(navs["long_short"]),
        "monotonicity": _spearman(np.arange(1.0, groups + 1), g_ann),
        "turnover": float(buy[lo, 1:].mean()) if k_n > 1 else math.nan,
        **config,
    }

    # per calendar year of the rebalance date
    yearly = []
    for y in np.unique(sh.years):
        ks = np.flatnonzero(sh.years == y)
        k0, k1 = ks[0], ks[-1]
        span = slice(per.start[k0], per.end[k1] + 1)
        ex = excess[ks]
        yearly.append(
            {
                "factor": name,
                "year": int(y),
                "n_periods": len(ks),
                "rank_ic": _mean(ric[ks]),
                "ic": _mean(ic[ks]),
                "return": float(np.prod(1.0 + r_long[ks]) - 1.0),
                "benchmark_return": float(np.prod(1.0 + r_bench[ks]) - 1.0),
                "excess": float(np.prod(1.0 + ex) - 1.0),
                "max_drawdown": _max_dd(navs["long"][span]),
                "excess_max_drawdown": _max_dd(navs["excess"][span]),
                "information_ratio": _ratio(_mean(ex), _std(ex)) * math.sqrt(ppy),
                "win_rate": float((ex > 0).mean()),
                "mean_excess": _mean(ex),
                "gain_loss_ratio": _gain_loss(ex),
                "long_short_return": float(np.prod(1.0 + r_ls[ks]) - 1.0),
            }
        )

    sig_dates = sh.date_series.gather(per.rebal)
    ic_df = pl.DataFrame(
        {
            "date": sig_dates,
            "factor": pl.repeat(name, k_n, dtype=pl.String, eager=True),
            "ic": ic,
            "rank_ic": ric,
            "n": cnt.astype(np.int32),
        },
        schema=IC_SCHEMA,
    )
    ret_frame = np.where(held, net, np.nan).ravel()
    groups_df = pl.DataFrame(
        {
            "date": pl.concat([sig_dates] * groups),
            "factor": pl.repeat(name, k_n * groups, dtype=pl.String, eager=True),
            "group": np.repeat(np.arange(1, groups + 1, dtype=np.int16), k_n),
            "ret": ret_frame,
            "n": n_mem.ravel().astype(np.int32),
            "turnover": buy.ravel(),
        },
        schema=GROUPS_SCHEMA,
    ).with_columns(pl.col("ret").fill_nan(None))
    nav_days = sh.date_series.slice(per.start[0], end - per.start[0] + 1)
    nd = len(nav_days)
    nav_df = pl.DataFrame(
        {
            "date": pl.concat([nav_days] * len(SERIES)),
            "factor": pl.repeat(name, nd * len(SERIES), dtype=pl.String, eager=True),
            "series": pl.Series(np.repeat(np.array(SERIES), nd), dtype=pl.Enum(SERIES)),
            "nav": np.concatenate([navs[s][per.start[0] : end + 1] for s in SERIES]),
        },
        schema=NAV_SCHEMA,
    )
    gs_df = pl.DataFrame(
        {
            "factor": [name] * groups,
            "group": np.arange(1, groups + 1, dtype=np.int16),
            "ann_return": g_ann,
            "mean_return": g_mean,
            "n_periods": held.sum(axis=1).astype(np.int32),
        },
        schema=GROUP_SUMMARY_SCHEMA,
    )
    return {
        "ic": ic_df,
        "groups": groups_df.sort("date", "group", maintain_order=True),
        "nav": nav_df,
        "summary": pl.DataFrame([summary], schema=SUMMARY_SCHEMA),
        "yearly": pl.DataFrame(yearly, schema=YEARLY_SCHEMA),
        "group_summary": gs_df,
    }


def evaluate(
    factors: Mapping[str, np.ndarray],
    returns: np.ndarray,
    dates: np.ndarray,
    *,
    rules: TradingRules | None = None,
    groups: int = 10,
    direction: Direction | Mapping[str, Direction] = "auto",
    rebalance: int | Literal["month"] = 20,
    lag: int = 1,
    cost_bps: float = 0.0,
    progress: Progress | None = None,
) -> Evaluation:
    """Evaluate factors: IC, quantile portfolios, long-short, benchmark and metrics (SPEC §5).

    Parameters
    ----------
    factors
        ``name -> (T, M)`` float64 factor panels (NaN = missing); M = stocks or industries.
    returns
        ``(T, M)`` daily total return (decimal, close ``t-1`` -> close ``t``); NaN = not listed.
    dates
        ``(T,)`` trading days (``datetime64[D]``), strictly increasing.
    rules
        Universe and trading rules (:func:`~etfflow.backtest.universe.stock_rules`);
        None = no universe filter and no trading rules.
    groups
        Number of quantile groups ``G`` (10 for stocks, 5 or 3 for industries).
    direction
        ``+1`` (long the top group), ``-1`` (long the bottom group) or ``"auto"``; or a
        mapping ``name -> direction`` (missing names are ``"auto"``).
    rebalance
        Trading days between rebalances (20, 10, 5, ...) or ``"month"`` (last trading day of
        each calendar month).
    lag
        Trading days from the signal (close of ``t``) to the trade (close of ``t + lag``).
    cost_bps
        Transaction cost in basis points per side, charged on name turnover.
    progress
        ``progress(stage, done, total)`` callback, called per factor.

    Returns
    -------
    Evaluation

    Raises
    ------
    EtfflowError
        On inconsistent shapes, bad options, factors without any value or too few dates for
        one complete holding period.

    Notes
    -----
    Calendar (shared by all factors): signal days start at the first day on which any factor
    has a value and follow every ``h`` trading days, or are the month ends
    (:func:`month_ends`) from that day on. The signal is the factor at the close of
    ``t``; the trade is at the close of ``a = t + lag``; the position is held to the close of
    ``b = t' + lag`` (``t'`` the next signal day). The last, incomplete period is dropped.
    Only the rows of ``factors`` at signal days are read, so a factor value dated after
    ``t`` never affects period ``t``; forward returns use returns of days ``a+1..b`` only.

    Forward return of an asset: ``prod_{a<j<=b}(1 + r[j]) - 1`` with a missing daily return
    counted as 0 (a stock that delists inside the period keeps its last value, as cash); it
    requires a return on ``a`` (listed on the trade day). NaN returns otherwise.

    Universe on signal day ``t``: a return on ``t`` and, with ``rules``, ``rules.universe``.
    IC per signal day: Pearson (``ic``) and Spearman (``rank_ic``, average ranks for ties)
    of the factor vs the forward return over universe assets with both values.

    Groups: among the same assets, ``pd.qcut(factor, G, labels=False) + 1`` on that day's
    values — edges at the linear-interpolated quantiles ``k/G``, values on an edge in the
    lower group, the minimum in group 1 — exactly as alphalens-reloaded assigns quantiles.
    When two edges coincide (a tie block wider than 1/G; pandas raises and alphalens drops
    the date) the group is ``ceil((avg_rank - 1) * G / (n - 1))`` (at least 1): the same
    rule on distinct values, with ties sharing their average rank.

    Portfolios (every group; the long group is ``G`` when ``d = +1``, group 1 when
    ``d = -1``; the short group the other end): bought at the close of ``a`` and held to
    ``b`` (buy and hold, so the daily NAV inside a period is the drifting equal-weight
    portfolio and the period return is its value at ``b``). With ``rules``: a target name
    that cannot be bought on ``a`` (``rules.can_buy`` false: limit-up, suspended) is skipped
    unless already held; a held name that cannot be sold (``rules.can_sell`` false: limit-down,
    suspended) is carried with its drifted weight, whether or not it is still a target; the
    rest of the value is split equally among the other names (cash, return 0, if none; when
    carried names hold all the value nothing new is bought). A name without a return on
    ``a`` (delisted) is sold at its last value.
    Turnover of a group in a period: share of its names that were not held before (1 in the
    first period); ``summary.turnover`` is the long group's mean from the second period on.
    Cost: ``cost_bps * 1e-4 * (buy_share + sell_share)``, with ``sell_share`` the share of
    the previous names that left, subtracted from the period return (so it lowers the NAV
    path of the whole period by that amount).

    Benchmark: equal weight of the assets with a return on ``t`` and ``a`` (and
    ``rules.benchmark`` on ``t``), bought at ``a``, same periods, no rules, no cost.
    Long-short per period: ``R_long - R_short``; excess: ``R_long - R_benchmark``; both NAVs
    compound these per-period differences (inside a period: the difference of the two
    buy-and-hold paths).

    Direction ``"auto"`` is the sign of the mean Rank IC over the whole sample (ties and NaN
    give +1): an in-sample choice, as in the reports. Periods per year ``ppy`` are
    ``TRADING_DAYS_PER_YEAR / h`` (12 for ``"month"``). ICIR = mean / std (ddof=1) of the IC;
    ``*_annual`` multiplies by ``sqrt(ppy)``. IC win rate = share of periods with
    ``sign(IC) == d``. Annualised return ``nav_end ** (242 / days) - 1`` with ``days`` the
    trading days from the first trade to the last exit. Max drawdown ``min(nav / cummax(nav)
    - 1)`` on the daily NAV. Information ratio = mean / std (ddof=1) of per-period excess
    ``* sqrt(ppy)``. Gain/loss ratio = mean positive excess / |mean negative excess|.
    Monotonicity = Spearman of group number vs annualised group return.

    Per year (``yearly``): periods grouped by the calendar year of their signal day;
    ``return``, ``benchmark_return``, ``excess`` and ``long_short_return`` compound the
    period returns of that year (not annualised), drawdowns use the daily NAV from the first
    trade of the year to its last exit.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ret = rng.normal(0, 0.01, (60, 30))
    >>> fwd5 = np.full_like(ret, np.nan)
    >>> for t in range(55):
    ...     fwd5[t] = np.prod(1 + ret[t + 1 : t + 6], axis=0) - 1
    >>> dates = np.datetime64("2024-01-01") + np.arange(60)
    >>> ev = evaluate({"perfect": fwd5}, ret, dates, groups=5, rebalance=5, lag=0)
    >>> ev.ic["rank_ic"].round(12).unique().to_list()
    [1.0]
    >>> ev.summary["direction"].item(), ev.summary["long_win_rate"].item()
    (1, 1.0)
    """
    fs, ret, d, dirs = _check_arguments(
        factors, returns, dates, rules, groups, direction, rebalance, lag, cost_bps
    )
    firsts = {n: int(nb.first_valid_row(np.ascontiguousarray(f))) for n, f in fs.items()}
    first = min(firsts.values())
    if first >= len(d):
        raise EtfflowError(f"evaluate: no factor has any finite value ({', '.join(list(fs)[:5])})")
    sh = _shared(ret, d, first, rules, rebalance, int(lag))
    qs = qcut_fractions(int(groups))
    config = {
        "groups": int(groups),
        "rebalance": str(rebalance),
        "lag": int(lag),
        "cost_bps": float(cost_bps),
    }
    parts: dict[str, list[pl.DataFrame]] = {}
    names = list(fs)
    for i, name in enumerate(names):
        if progress:
            progress("evaluate", i, len(names))
        out = _evaluate_one(
            name,
            fs[name],
            sh,
            groups=int(groups),
            direction=dirs[name],
            cost_rate=float(cost_bps) * 1e-4,
            qs=qs,
            config=config,
        )
        for k, v in out.items():
            parts.setdefault(k, []).append(v)
    if progress:
        progress("evaluate", len(names), len(names))
    per = sh.periods
    periods_df = pl.DataFrame(
        {
            "period": np.arange(len(per), dtype=np.int32),
            "date": sh.date_series.gather(per.rebal),
            "start": sh.date_series.gather(per.start),
            "end": sh.date_series.gather(per.end),
            "benchmark": sh.bench_gross,
            "n_benchmark": sh.bench_n.astype(np.int32),
        },
        schema=PERIODS_SCHEMA,
    )
    return Evaluation(
        ic=pl.concat(parts["ic"]),
        groups=pl.concat(parts["groups"]),
        nav=pl.concat(parts["nav"]),
        summary=pl.concat(parts["summary"]),
        yearly=pl.concat(parts["yearly"]),
        group_summary=pl.concat(parts["group_summary"]),
        periods=periods_df,
    )

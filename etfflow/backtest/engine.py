"""Factor evaluation on dense arrays: IC, quantile groups, NAVs and metrics.

Definitions: docs/methodology.md#5-backtests (calendar, groups and portfolios in 5.2-5.6,
metrics in 5.9-5.10).

:func:`evaluate` takes ``name -> (T, M)`` factor panels (stocks or industries), the daily
returns of the same assets and optional :class:`~etfflow.engine.universe.TradingRules`,
and returns an :class:`Evaluation` of Polars tables. Everything that does not depend on the
factor — the rebalance calendar (:mod:`etfflow.backtest.periods`, anchored on the data), the
per-period growth of every asset, forward returns, eligibility, tradability and the
benchmark — is computed once per call and shared by all factors; per factor, two numba
kernels (:mod:`etfflow.backtest.engine_nb`) do the per-date sorts (parallel over dates) and
the portfolio paths (parallel over groups), and :func:`etfflow.backtest.metrics.period_metrics`
the metrics. A factor's rows never depend on the other factors of the call.

Conventions (all stated again in :func:`evaluate`): returns are decimals; a period's return
is compounded from the close of the trade day to the close of the next trade day; NAVs start
at 1; annualisation uses :data:`TRADING_DAYS_PER_YEAR` trading days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import polars as pl

from etfflow._common import Progress
from etfflow.backtest import engine_nb as nb
from etfflow.backtest.evaluation import Evaluation
from etfflow.backtest.metrics import (
    TRADING_DAYS_PER_YEAR,
    FactorPeriods,
    annualise,
    mean,
    period_metrics,
    spearman,
)
from etfflow.backtest.periods import Periods, make_periods, month_ends
from etfflow.backtest.schemas import (
    GROUP_SUMMARY_SCHEMA,
    GROUPS_SCHEMA,
    IC_SCHEMA,
    MEMBERS_SCHEMA,
    NAV_SCHEMA,
    PERIODS_SCHEMA,
    SERIES,
    SUMMARY_SCHEMA,
    YEARLY_SCHEMA,
)
from etfflow.backtest.shared import (
    DIRECTION_RULES,
    Direction,
    Shared,
    check_arguments,
    shared_inputs,
)
from etfflow.engine.universe import TradingRules
from etfflow.exceptions import EtfflowError

__all__ = [
    "GROUPS_SCHEMA",
    "GROUP_SUMMARY_SCHEMA",
    "IC_SCHEMA",
    "NAV_SCHEMA",
    "NO_VALUES",
    "PERIODS_SCHEMA",
    "SERIES",
    "SUMMARY_SCHEMA",
    "TRADING_DAYS_PER_YEAR",
    "YEARLY_SCHEMA",
    "Evaluation",
    "Periods",
    "evaluate",
    "make_periods",
    "month_ends",
    "qcut_fractions",
]


#: ``summary.note`` of a factor without a cross-section on any rebalance date.
NO_VALUES = "no value on any rebalance date"
#: ``summary.benchmark`` of the default benchmark (an index benchmark gives its code).
EQUAL_WEIGHT = "equal_weight"
#: Minimum number of assets with a factor value and a forward return for a period to count.
MIN_CROSS_SECTION = 1


def qcut_fractions(groups: int) -> np.ndarray:
    """The quantile fractions ``pd.qcut(x, groups)`` uses (pandas 3): ``linspace(0, 1, G+1)``
    with each value that is not exactly ``k/G`` rounded up to the next float."""
    q = np.linspace(0, 1, groups + 1)
    np.putmask(q, groups * q != np.arange(groups + 1), np.nextafter(q, 1))
    return q


def qcut_groups(x: np.ndarray, groups: int) -> np.ndarray:
    """1-based groups of the finite values of ``x`` by the stock backtests' rule
    (docs/methodology.md#55-groups): ``pd.qcut(x, groups, labels=False) + 1`` with pandas'
    exact edges, average-rank groups when edges coincide; 0 where ``x`` is NaN.

    >>> qcut_groups(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, np.nan]), 5).tolist()
    [1, 1, 2, 3, 4, 5, 5, 0]
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros(len(x), dtype=np.int64)
    ok = np.flatnonzero(np.isfinite(x))
    if not len(ok):
        return out
    order = np.argsort(x[ok], kind="stable")
    xs = np.ascontiguousarray(x[ok][order])
    ranks, _ = nb._average_ranks(xs)
    lab = np.empty(len(xs), dtype=np.int64)
    nb.qcut_labels(xs, ranks, qcut_fractions(groups), lab)
    out[ok[order]] = lab + 1
    return out


def _nav(path: np.ndarray, sh: Shared, active: np.ndarray) -> np.ndarray:
    """Daily NAV from a period-to-date value path ``path[d] = 1 + R(start_k -> d)``.

    ``nav[d] = prod_{j<k, active} path[end_j] * path[d]`` for ``d`` in an active period
    ``k`` and the same level on its trade day: the compounded period returns at period ends,
    the buy-and-hold path inside; inactive periods are NaN and do not move the level.
    """
    per = sh.periods
    nav = np.full(len(path), np.nan)
    growth = np.where(active, path[per.end], 1.0)
    start_nav = np.concatenate(([1.0], np.cumprod(growth)[:-1]))
    days = slice(per.start[0] + 1, per.end[-1] + 1)
    nav[days] = start_nav[sh.day_period[days]] * path[days]
    nav[per.start[active]] = start_nav[active]
    return nav


def _frame(data: list[dict] | dict, schema: pl.Schema) -> pl.DataFrame:
    """A frame of ``schema`` (from rows or columns) with NaN floats turned into nulls."""
    df = pl.DataFrame(data, schema=schema)
    return df.with_columns(pl.col(pl.Float64).fill_nan(None))


def _note(active: np.ndarray, sh: Shared) -> str | None:
    k_n = len(active)
    n_act = int(active.sum())
    if n_act == 0:
        return NO_VALUES
    if n_act == k_n:
        return None
    first = str(sh.dates[sh.periods.rebal[int(np.argmax(active))]])
    return f"first cross-section on {first}; {k_n - n_act} of {k_n} periods without values"


def period_directions(direction: Direction, rank_ic: np.ndarray, per: Periods) -> np.ndarray:
    """The ``(K,)`` direction (+1/-1, int8) of each period.

    A fixed direction is the same in every period; ``"auto"`` is the sign of the mean of the
    finite Rank ICs of the whole sample (in sample); ``"rolling"`` is, for period ``k``, the
    sign of the mean of the finite Rank ICs of the periods whose holding ended by its signal
    day (``end[j] <= rebal[k]``: known at the close of ``t``, no look-ahead). A mean that is
    zero, or missing (no such period yet), gives +1. Twin: ``engine_ref.rolling_directions``.
    """
    k_n = len(per)
    if direction == "rolling":
        ok = np.isfinite(rank_ic)
        s = np.concatenate(([0.0], np.cumsum(np.where(ok, rank_ic, 0.0))))
        c = np.concatenate(([0], np.cumsum(ok)))
        done = np.searchsorted(per.end, per.rebal, side="right")  # periods ended by t_k
        with np.errstate(invalid="ignore", divide="ignore"):
            m = s[done] / c[done]
        return np.where(m < 0, -1, 1).astype(np.int8)
    if direction == "auto":
        mean_ric = mean(rank_ic)
        d = -1 if (math.isfinite(mean_ric) and mean_ric < 0) else 1
    else:
        d = int(direction)
    return np.full(k_n, d, dtype=np.int8)


def _members(
    name: str,
    grp: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    sig_dates: pl.Series,
    assets: list[str],
) -> pl.DataFrame:
    """The long and short groups' assets per signal day (:data:`MEMBERS_SCHEMA`)."""
    parts = []
    names = pl.Series(assets, dtype=pl.String)
    for leg, g in (("long", lo), ("short", hi)):
        k, a = np.nonzero(grp == g[:, None])  # grp is -1 where an asset is not ranked
        parts.append(
            pl.DataFrame(
                {
                    "date": sig_dates.gather(k),
                    "factor": pl.repeat(name, len(k), dtype=pl.String, eager=True),
                    "leg": pl.repeat(leg, len(k), dtype=pl.String, eager=True),
                    "group": (g[k] + 1).astype(np.int16),
                    "asset": names.gather(a),
                },
                schema=MEMBERS_SCHEMA,
            )
        )
    return pl.concat(parts).sort("date", "leg", "asset", maintain_order=True)


def _evaluate_one(
    name: str,
    factor: np.ndarray,
    sh: Shared,
    *,
    groups: int,
    direction: Direction,
    cost_rate: float,
    qs: np.ndarray,
    config: dict,
    assets: list[str] | None = None,
) -> dict[str, pl.DataFrame]:
    per = sh.periods
    k_n = len(per)
    fk = np.ascontiguousarray(factor[per.rebal])  # the factor on signal days only
    ic, ric, cnt, grp = nb.cross_sections(fk, sh.fwd, sh.eligible, qs)
    active = cnt >= MIN_CROSS_SECTION
    dk = period_directions(direction, ric, per)  # (K,) +1/-1 of each period
    gross, n_mem, buy, sell, val = nb.simulate_groups(
        grp, groups, per.start, per.end, sh.growth, sh.buyable, sh.sellable, active
    )
    cost = cost_rate * (buy + sell)  # (G, K), NaN in inactive periods
    net = gross - cost
    lo = np.where(dk == 1, groups - 1, 0)  # long group of each period (0-based)
    hi = groups - 1 - lo
    kk = np.arange(k_n)
    dp = sh.day_period
    days = slice(per.start[0] + 1, per.end[-1] + 1)
    dd = np.arange(len(dp))[days]

    def path(g: np.ndarray) -> np.ndarray:
        gd = g[dp[days]]  # the group held on each day
        p = np.full(len(dp), np.nan)
        p[days] = val[gd, dd] - cost[gd, dp[days]]
        return p

    p_long, p_short = path(lo), path(hi)
    p_bench = np.full(len(dp), np.nan)
    p_bench[days] = np.where(active[dp[days]], sh.bench_val[days], np.nan)
    p_ls = p_long - p_short + 1.0
    p_ex = p_long - p_bench + 1.0
    navs = {
        "long": _nav(p_long, sh, active),
        "short": _nav(p_short, sh, active),
        "long_short": _nav(p_ls, sh, active),
        "benchmark": _nav(p_bench, sh, active),
        "excess": _nav(p_ex, sh, active),
    }
    r_bench = np.where(active, sh.bench_gross, np.nan)
    r_long = net[lo, kk]
    fp = FactorPeriods(
        active=active,
        ic=ic,
        rank_ic=ric,
        r_long=r_long,
        r_bench=r_bench,
        r_ls=r_long - net[hi, kk],
        navs=navs,
        start=per.start,
        end=per.end,
        direction=dk,
        ppy=sh.ppy,
    )
    whole = period_metrics(fp, np.arange(k_n))
    n_days = int(whole["days"])

    # group summary: active periods only (an empty group in an active period holds cash)
    g_growth = np.prod(1.0 + net[:, active], axis=1)
    g_ann = np.array([annualise(float(x), n_days) for x in g_growth])
    held = n_mem > 0
    g_mean = np.array(
        [float(net[g, held[g]].mean()) if held[g].any() else math.nan for g in range(groups)]
    )
    # turnover: long group, periods that follow an active period (holdings carried over)
    cont = active.copy()
    cont[0] = False
    cont[1:] &= active[:-1]
    no_values = not active.any()
    summary = {
        "factor": name,
        # fixed: the direction; auto: the in-sample sign; rolling: the latest period's sign
        "direction": None if (no_values and direction in DIRECTION_RULES) else int(dk[-1]),
        "n_periods": whole["n_periods"],
        **{
            k: whole[k]
            for k in (
                "rank_ic",
                "ic",
                "rank_ic_std",
                "ic_std",
                "rank_icir",
                "icir",
                "rank_icir_annual",
                "icir_annual",
                "rank_ic_t_nw",
                "rank_ic_win_rate",
                "ic_win_rate",
            )
        },
        "long_ann_return": annualise(1.0 + whole["return"], n_days),
        "benchmark_ann_return": annualise(1.0 + whole["benchmark_return"], n_days),
        "long_excess_ann": annualise(1.0 + whole["excess_compounded"], n_days),
        "long_max_drawdown": whole["max_drawdown"],
        "excess_max_drawdown": whole["excess_max_drawdown"],
        "information_ratio": whole["information_ratio"],
        "win_rate_vs_benchmark": whole["win_rate_vs_benchmark"],
        "win_rate_absolute": whole["win_rate_absolute"],
        "mean_period_excess": whole["mean_excess"],
        "gain_loss_ratio": whole["gain_loss_ratio"],
        "long_short_ann_return": annualise(1.0 + whole["long_short_return"], n_days),
        "long_short_max_drawdown": whole["long_short_max_drawdown"],
        "monotonicity": spearman(np.arange(1.0, groups + 1), g_ann),
        "turnover": float(buy[lo, kk][cont].mean()) if cont.any() else math.nan,
        **config,
        "note": _note(active, sh),
    }

    # per calendar year of the rebalance date: the same metrics on that year's periods
    yearly = []
    for y in np.unique(sh.years):
        m = period_metrics(fp, np.flatnonzero(sh.years == y))
        yearly.append(
            {"factor": name, "year": int(y), **{c: m[c] for c in YEARLY_SCHEMA if c in m}}
        )

    sig_dates = sh.date_series.gather(per.rebal)
    ic_df = _frame(
        {
            "date": sig_dates,
            "factor": pl.repeat(name, k_n, dtype=pl.String, eager=True),
            "ic": ic,
            "rank_ic": ric,
            "n": cnt.astype(np.int32),
            "direction": [int(x) if a else None for x, a in zip(dk, active, strict=True)],
        },
        IC_SCHEMA,
    )
    groups_df = _frame(
        {
            "date": pl.concat([sig_dates] * groups),
            "factor": pl.repeat(name, k_n * groups, dtype=pl.String, eager=True),
            "group": np.repeat(np.arange(1, groups + 1, dtype=np.int16), k_n),
            "ret": np.where(held, net, np.nan).ravel(),
            "n": n_mem.ravel().astype(np.int32),
            "turnover": buy.ravel(),
        },
        GROUPS_SCHEMA,
    )
    if no_values:
        nav_df = pl.DataFrame(schema=NAV_SCHEMA)
    else:
        ka = np.flatnonzero(active)
        first, end = int(per.start[ka[0]]), int(per.end[ka[-1]])
        nav_days = sh.date_series.slice(first, end - first + 1)
        nd = len(nav_days)
        nav_df = _frame(
            {
                "date": pl.concat([nav_days] * len(SERIES)),
                "factor": pl.repeat(name, nd * len(SERIES), dtype=pl.String, eager=True),
                "series": pl.Series(np.repeat(np.array(SERIES), nd), dtype=pl.Enum(SERIES)),
                "nav": np.concatenate([navs[s][first : end + 1] for s in SERIES]),
            },
            NAV_SCHEMA,
        )
    gs_df = _frame(
        {
            "factor": [name] * groups,
            "group": np.arange(1, groups + 1, dtype=np.int16),
            "ann_return": g_ann,
            "mean_return": g_mean,
            "n_periods": held.sum(axis=1).astype(np.int32),
        },
        GROUP_SUMMARY_SCHEMA,
    )
    out = {"members": _members(name, grp, lo, hi, sig_dates, assets)} if assets is not None else {}
    return {
        **out,
        "ic": ic_df,
        "groups": groups_df.sort("date", "group", maintain_order=True),
        "nav": nav_df,
        "summary": _frame([summary], SUMMARY_SCHEMA),
        "yearly": _frame(yearly, YEARLY_SCHEMA),
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
    benchmark: np.ndarray | None = None,
    benchmark_name: str | None = None,
    members: bool = False,
    assets: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Evaluate factors: IC, quantile portfolios, long-short, benchmark and metrics.

    Definitions: docs/methodology.md#5-backtests.

    Parameters
    ----------
    factors
        ``name -> (T, M)`` float64 factor panels (NaN = missing); M = stocks or industries.
    returns
        ``(T, M)`` daily total return (decimal, close ``t-1`` -> close ``t``); NaN = not listed.
    dates
        ``(T,)`` trading days (``datetime64[D]``), strictly increasing.
    rules
        Universe and trading rules (:func:`~etfflow.engine.universe.stock_rules`);
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
    benchmark
        ``(T,)`` daily returns of an index to use as the benchmark instead of the equal
        weight (:func:`etfflow.engine.market.index_returns`); it needs a return on every day
        of every holding period. ``benchmark_name`` labels it in ``summary.benchmark``.
    members
        Also list the long and short groups' assets on every signal day
        (``Evaluation.members``), named by ``assets`` (``M`` names; default ``"0"``,
        ``"1"``, ...).
    progress
        ``progress(stage, done, total)`` callback, called per factor.

    Returns
    -------
    Evaluation

    Raises
    ------
    EtfflowError
        On inconsistent shapes, bad options or too few dates for one complete holding period.
        A factor without any value is not an error: its rows are null (see Notes).

    Notes
    -----
    Calendar (shared by all factors, anchored on the data, never on the factors): signal days
    are day 0 of ``dates`` and every ``h`` trading days after it, or the month ends
    (:func:`month_ends`). Every factor is evaluated on this one calendar, so the rows of a
    factor are the same whichever other factors are evaluated with it, and factors are
    comparable period by period. The signal is the factor at the close of
    ``t``; the trade is at the close of ``a = t + lag``; the position is held to the close of
    ``b = t' + lag`` (``t'`` the next signal day). The last, incomplete period is dropped.
    Only the rows of ``factors`` at signal days are read, so a factor value dated after
    ``t`` never affects period ``t``; forward returns use returns of days ``a+1..b`` only.

    Cross-section: a period counts for a factor when at least one universe asset
    (:data:`MIN_CROSS_SECTION`) has both a finite factor value on the signal day and a
    forward return — one name is enough to hold a portfolio (its IC is undefined, so null).
    A period without a cross-section has null ``ic``/``rank_ic`` (``n = 0``), groups with
    ``n = 0`` and null ``ret``/``turnover``, and is left out of every metric and of
    ``n_periods``. Nothing is held in it: the portfolios are sold at its trade day (locked
    names too) and the next period with a cross-section starts from cash, like the first
    one. All five NAV series of the factor (benchmark and excess included, so excess stays
    comparable) start at 1 on the trade day of its first period with a cross-section, end at
    the exit of its last one, are null on the days of a period without a cross-section in
    between, and compounding continues unchanged over such a gap (the level before it
    carries to the next trade day). Annualisation uses the trading days actually held (the
    sum of the lengths of the periods with a cross-section). ``summary.note`` says when
    periods lacked values (``"first cross-section on <date>; <n> of <K> periods without
    values"``) or when none had any (:data:`NO_VALUES`: every metric null,
    ``n_periods = 0``, no NAV rows, ``direction`` null under ``"auto"``); it is null
    otherwise. Any metric that is undefined (too few periods, an IC of a constant input) is
    null, never NaN.

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
    first period); ``summary.turnover`` is the long group's mean over the periods that
    follow a period with a cross-section.
    Cost: ``cost_bps * 1e-4 * (buy_share + sell_share)``, with ``sell_share`` the share of
    the previous names that left, subtracted from the period return (so it lowers the NAV
    path of the whole period by that amount).

    Benchmark: equal weight of the assets with a return on ``t`` and ``a`` (and
    ``rules.benchmark`` on ``t``), bought at ``a``, same periods, no rules, no cost; or, with
    ``benchmark``, the index compounded from the close of ``a`` to each day of the period
    (``periods.n_benchmark`` null).
    Long-short per period: ``R_long - R_short``; excess: ``R_long - R_benchmark``; both NAVs
    compound these per-period differences (inside a period: the difference of the two
    buy-and-hold paths).

    Direction ``"auto"`` is the sign of the mean Rank IC over the whole sample (ties and NaN
    give +1): an in-sample choice, as in the reports. Periods per year ``ppy`` are
    ``TRADING_DAYS_PER_YEAR / h`` (12 for ``"month"``). ICIR = mean / std (ddof=1) of the IC;
    ``*_annual`` multiplies by ``sqrt(ppy)``. IC win rate = share of periods with
    ``sign(IC) == d``. Annualised return ``nav_end ** (242 / days) - 1`` with ``days`` the
    trading days held; ``long_excess_ann`` annualises the compounded per-period excess (the
    ``excess`` NAV). Max drawdown ``min(nav / cummax(nav) - 1)`` on the daily NAV.
    Information ratio = mean / std (ddof=1) of per-period excess ``* sqrt(ppy)``. Win rate
    against the benchmark (``win_rate_vs_benchmark``, Huaan 2024-12's 多头胜率 / 调仓胜率-等权) =
    share of periods with ``R_long > R_benchmark``; absolute win rate
    (``win_rate_absolute``, Huaan 2024-12 table 59's 调仓胜率) = share with ``R_long > 0``.
    Gain/loss ratio = mean positive excess / |mean negative excess|. Monotonicity =
    Spearman of group number vs annualised group return. The whole sample and each year use
    the one :func:`~etfflow.backtest.metrics.period_metrics`.

    Per year (``yearly``, one row per calendar year of the calendar, ``n_periods = 0`` and
    nulls when the factor has no period with a cross-section in it): periods grouped by the
    calendar year of their signal day; ``return``, ``benchmark_return``,
    ``excess_compounded`` (per-period excess compounded) and ``long_short_return`` compound
    the period returns of that year (not annualised); ``excess_arithmetic`` = ``return -
    benchmark_return`` (Huaan 2024-12 table 59's 超额收益率); drawdowns use the daily NAV from the
    first trade of the year to its last exit.

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
    >>> ev.summary["direction"].item(), ev.summary["win_rate_vs_benchmark"].item()
    (1, 1.0)
    """
    fs, ret, d, dirs = check_arguments(
        factors, returns, dates, rules, groups, direction, rebalance, lag, cost_bps
    )
    sh = shared_inputs(ret, d, rules, rebalance, int(lag), benchmark)
    qs = qcut_fractions(int(groups))
    config = {
        "benchmark": EQUAL_WEIGHT if benchmark is None else (benchmark_name or "index"),
        "groups": int(groups),
        "rebalance": str(rebalance),
        "lag": int(lag),
        "cost_bps": float(cost_bps),
    }
    parts: dict[str, list[pl.DataFrame]] = {}
    names_m = None
    if members:
        names_m = [str(i) for i in range(ret.shape[1])] if assets is None else list(assets)
        if len(names_m) != ret.shape[1]:
            raise EtfflowError(
                f"evaluate: {len(names_m)} asset names for {ret.shape[1]} assets (columns)"
            )
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
            assets=names_m,
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
            "n_benchmark": [None if n < 0 else int(n) for n in sh.bench_n],
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
        **({"members": pl.concat(parts["members"])} if members else {}),
    )

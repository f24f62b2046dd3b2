"""The whole industry rotation of Huafu 2026-02 on one dataset: :func:`rotate`
(docs/methodology.md#8-industry-rotation).

Stages: weekly look-through to industries (:mod:`.holdings`), style regimes (:mod:`.regimes`),
active-fund industry shares and the divergence (:mod:`.active`), signals and target weights
(:mod:`.signals`), NAVs and metrics (:mod:`.portfolio`, :mod:`.metrics`). Every frame of the
result follows :data:`etfflow.backtest.rotation.result.SCHEMAS`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import numpy as np
import polars as pl

from etfflow._common import Progress
from etfflow.backtest.rotation import active, metrics, portfolio, regimes
from etfflow.backtest.rotation import signals as sg
from etfflow.backtest.rotation.holdings import WeeklyHoldings, weekly_holdings
from etfflow.backtest.rotation.params import RotationParams
from etfflow.backtest.rotation.result import SCHEMAS, SIGNALS, RotationResult, canonical
from etfflow.backtest.rotation.sectors import sector_of
from etfflow.engine.loading import Dataset
from etfflow.engine.market import Market, load_returns
from etfflow.engine.panel import StockPanel, load_stock_panel
from etfflow.exceptions import EtfflowError
from etfflow.factors.inputs import panel_group_returns

log = logging.getLogger(__name__)

#: Tables the rotation reads besides the core ones.
INPUT_TABLES: tuple[str, ...] = (
    "index_daily",
    "active_funds",
    "active_holdings",
    "fund_nav",
    "fund_issuance",
)

#: Strategy names, in report order.
COMPOSITE, STYLE, DIVERGENCE, EQUAL = "composite", "style", "divergence", "equal_weight"


def flow_group_name(g: int) -> str:
    """``flow_q1`` … (``g`` 1-based); ``flow_ls`` for the long-short."""
    return f"flow_q{g}"


#: The holdings table's 0/1 flags (``<name>_flag``).
FLAGS = ("flow", "style", "divergence")

STAGES = ("lookthrough", "regimes", "active", "signals", "nav")


def rotate(
    ds: Dataset,
    params: RotationParams | None = None,
    *,
    market: Market | None = None,
    progress: Progress | None = None,
    **options: object,
) -> RotationResult:
    """Run the industry rotation on a dataset.

    Parameters
    ----------
    ds
        The dataset (core tables, ``holding_weights`` or ``etf_pcf``, and
        :data:`INPUT_TABLES`).
    params
        Options (:class:`RotationParams`); the defaults follow the report.
    market
        The dataset's :func:`~etfflow.engine.market.load_market` when the caller has it.
    progress
        Called as ``progress(stage, done, total)`` over :data:`STAGES`.
    **options
        Fields of :class:`RotationParams` overriding ``params`` (``top=5``, ``hp_lambda=100``).

    Returns
    -------
    RotationResult
        Every table of :data:`~etfflow.backtest.rotation.result.SCHEMAS`.
    """
    p = _with_options(params or RotationParams(), options).check()
    missing = [t for t in INPUT_TABLES if not ds.has(t)]
    if missing:
        raise EtfflowError(
            f"the industry rotation needs table(s) {', '.join(missing)} in {ds.root} "
            "(docs/methodology.md#11-input-tables)"
        )

    def step(i: int) -> None:
        if progress:
            progress("rotation", i, len(STAGES))

    step(0)
    if market is not None:
        panel, stock_ret = market.panel, market.ret
    else:  # the rotation needs only the panel and the returns, not the whole market
        panel = load_stock_panel(ds)
        stock_ret = load_returns(ds, panel)
    calendar = panel.calendar
    days = calendar.dates
    wh = weekly_holdings(
        ds, days, pool=p.pool, level=p.level, mode=None if p.mode == "auto" else p.mode
    )
    industries = wh.industries
    ret = _industry_returns(panel, stock_ret, p.level, industries)
    step(1)

    # --- style regimes (weekly) ---
    index_daily = ds.frame("index_daily").collect()
    codes = [*p.size_indices, *p.style_indices]
    closes = regimes.weekly_index_closes(index_daily, codes, wh.weeks)
    reg = regimes.regime_table(
        wh.weeks,
        {
            "size": (closes[p.size_indices[0]], closes[p.size_indices[1]]),
            "style": (closes[p.style_indices[0]], closes[p.style_indices[1]]),
        },
        p.hp_lambda,
    )
    size_reg = _regime_series(reg, "size", wh.weeks)
    style_reg = _regime_series(reg, "style", wh.weeks)
    step(2)

    # --- monthly: L, dL at month-end weeks; active shares and divergence at month-ends ---
    me_week = _month_end_weeks(wh.weeks)
    level_m = wh.share[me_week]
    change_m = np.vstack([np.full((1, len(industries)), np.nan), np.diff(level_m, axis=0)])
    me_dates = wh.weeks.gather(me_week)
    monthly = _keep(
        _monthly_table(me_dates, industries, level_m, change_m, p.quantiles),
        me_dates,
        industries,
        wh.present[me_week],
    )

    month_pos = calendar.index_of(wh.months)
    act = _active_side(ds, p, days, wh, ret, month_pos)
    divergence = act["divergence"]
    issuance = active.issuance_heat(ds.frame("fund_issuance").collect(), wh.months)
    hot = _hot_by_month(issuance, wh.months)
    fwd = _forward_returns(ret, month_pos, p.trade_lag)
    div_groups = active.divergence_terciles(divergence, fwd, terciles=p.terciles)
    step(3)

    # --- signals on the rebalance days ---
    T = len(days)
    epoch = calendar.epoch.astype(np.int64)
    week_ep = _epoch(wh.weeks)
    month_ep = _epoch(wh.months)
    me_week_ep = week_ep[me_week]
    flow_w = np.vstack([np.full((1, len(industries)), np.nan), np.diff(wh.share, axis=0)])
    ready = _first_ready(epoch, week_ep, me_week_ep, month_ep, flow_w, change_m, divergence)
    start_pos = ready
    if p.start is not None:
        start_pos = max(start_pos, int(np.searchsorted(epoch, _day(p.start), side="left")))
    if start_pos >= T - p.trade_lag:
        raise EtfflowError(
            f"the rotation has no rebalance day: its signals are ready from "
            f"{days[min(ready, T - 1)]} and the data end on {days[T - 1]} "
            f"(start={p.start}); use a longer history"
        )
    rb = np.arange(start_pos, T - p.trade_lag, p.rebalance)
    iw = sg.latest_index(week_ep, epoch[rb])
    imw = sg.latest_index(me_week_ep, epoch[rb])
    im = sg.latest_index(month_ep, epoch[rb])
    flow_s = sg.pct_rank(sg.take_rows(flow_w, iw))
    level_s = sg.directed(sg.take_rows(level_m, imw), sg.take_values(size_reg, iw))
    change_s = sg.directed(sg.take_rows(change_m, imw), sg.take_values(style_reg, iw))
    div_x = sg.take_rows(divergence, im)
    hot_rb = sg.take_values(hot, im)
    div_s = sg.directed(div_x, hot_rb)
    scores = {"flow": flow_s, "level": level_s, "change": change_s, "divergence": div_s}
    composite = sg.mean_scores(flow_s, level_s, change_s, div_s)
    selected = sg.top_k(composite, p.top)
    cut = 1.0 - 1.0 / p.quantiles
    flags = {
        "flow": (flow_s > cut).astype(np.int8),
        "style": ((level_s > cut) | (change_s > cut)).astype(np.int8),
        "divergence": (
            ((hot_rb[:, None] == 1) & (div_x > 0)) | ((hot_rb[:, None] == 0) & (div_x < 0))
        ).astype(np.int8),
    }
    rb_dates = days.gather(rb)
    signals_tbl = _keep(
        sg.flags_frame(rb_dates, industries, scores, composite, selected, flags),
        rb_dates,
        industries,
        _rows_or_false(wh.month_present, im),
    )
    step(4)

    # --- strategies ---
    targets: dict[str, tuple[np.ndarray, np.ndarray]] = {
        COMPOSITE: (rb, _equal(selected)),
        STYLE: (rb, _equal(sg.top_k(sg.mean_scores(level_s, change_s), p.top))),
        DIVERGENCE: (rb, _equal(sg.top_k(div_s, p.top))),
    }
    wk_pos = calendar.index_of(wh.weeks)
    wk_rb = wk_pos[(wk_pos >= start_pos) & (wk_pos < T - p.trade_lag)]
    groups = sg.quantile_groups(flow_w[sg.latest_index(week_ep, epoch[wk_rb])], p.quantiles)
    for g in range(1, p.quantiles + 1):
        targets[flow_group_name(g)] = (wk_rb, sg.group_weights(groups, g))
    navs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    bench_cache: dict[bytes, np.ndarray] = {}
    for name, (pos, w) in targets.items():
        key = pos.tobytes()
        if key not in bench_cache:
            bw = portfolio.equal_weight_targets(ret, pos, p.trade_lag)
            bench_cache[key] = portfolio.simulate_nav(ret, pos, bw, p.trade_lag)
        navs[name] = (portfolio.simulate_nav(ret, pos, w, p.trade_lag), bench_cache[key])
    navs[EQUAL] = (bench_cache[rb.tobytes()], bench_cache[rb.tobytes()])
    hi, lo = navs[flow_group_name(p.quantiles)][0], navs[flow_group_name(1)][0]
    navs["flow_ls"] = (_long_short(hi, lo), navs[flow_group_name(1)][1])
    nav_tbl, summary = _nav_and_summary(days, navs)

    holdings, hits, mix = _holdings_tables(days, rb, p.trade_lag, ret, industries, selected, flags)
    correlation = _correlation(scores)
    step(5)

    tables = {
        "industry_weekly": wh.weekly,
        "industry_monthly": monthly,
        "regimes": reg,
        "active_shares": act["table"],
        "issuance": issuance,
        "signals": signals_tbl,
        "holdings": holdings,
        "nav": nav_tbl,
        "summary": summary,
        "correlation": correlation,
        "divergence_groups": div_groups,
        "sector_mix": mix,
        "industry_hits": hits,
    }
    tables = {k: canonical(k, v) for k, v in tables.items()}
    meta = {
        "industries": industries,
        "first_signal_day": str(days[min(ready, T - 1)]),
        "rebalance_days": len(rb),
        "strategies": list(navs),
        **{f"lookthrough_{k}": v for k, v in wh.diagnostics.items()},
        **{f"active_{k}": v for k, v in act["diagnostics"].items()},
    }
    return RotationResult(p, tables, meta).check()


# --- helpers -------------------------------------------------------------------------------


def _with_options(params: RotationParams, options: dict[str, object]) -> RotationParams:
    names = {f.name for f in dataclasses.fields(RotationParams)}
    bad = sorted(set(options) - names)
    if bad:
        raise EtfflowError(
            f"unknown rotation option(s) {', '.join(bad)}: choose from {', '.join(sorted(names))}"
        )
    return dataclasses.replace(params, **options)  # type: ignore[arg-type]


def _day(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


def _epoch(s: pl.Series) -> np.ndarray:
    return s.cast(pl.Date).to_physical().to_numpy().astype(np.int64)


def _industry_returns(
    panel: StockPanel, stock_ret: np.ndarray, level: str, industries: list[str]
) -> np.ndarray:
    r, labels = panel_group_returns(panel, stock_ret, level)
    pos = {x: i for i, x in enumerate(labels)}
    out = np.full((r.shape[0], len(industries)), np.nan)
    for j, name in enumerate(industries):
        if name in pos:
            out[:, j] = r[:, pos[name]]
    return out


def _keep(
    df: pl.DataFrame, dates: pl.Series, industries: list[str], mask: np.ndarray
) -> pl.DataFrame:
    """The rows of ``df`` whose (date, industry) is marked in ``mask`` (dates × industries):
    industries that do not exist yet on a date get no row there (point in time)."""
    r, c = np.nonzero(mask)
    keep = pl.DataFrame(
        {"date": dates.cast(pl.Date).gather(r), "industry": [industries[j] for j in c]},
        schema={"date": pl.Date, "industry": pl.String},
    )
    return df.join(keep, on=["date", "industry"], how="semi")


def _rows_or_false(mask: np.ndarray, idx: np.ndarray) -> np.ndarray:
    out = np.zeros((len(idx), mask.shape[1]), dtype=bool)
    ok = idx >= 0
    out[ok] = mask[idx[ok]]
    return out


def _regime_series(reg: pl.DataFrame, pair: str, weeks: pl.Series) -> np.ndarray:
    """The pair's regime per week as float (1, 0, NaN)."""
    r = (
        pl.DataFrame({"date": weeks})
        .join(reg.filter(pl.col("pair") == pair), on="date", how="left")
        .sort("date")
    )
    return r["regime"].cast(pl.Float64).fill_null(np.nan).to_numpy()


def _month_end_weeks(weeks: pl.Series) -> np.ndarray:
    """Index of the last week-end of each calendar month (weeks sorted)."""
    m = weeks.dt.truncate("1mo")
    last = np.r_[(m[1:] != m[:-1]).to_numpy(), True]
    return np.flatnonzero(last)


def _monthly_table(
    dates: pl.Series, industries: list[str], level: np.ndarray, change: np.ndarray, q: int
) -> pl.DataFrame:
    m, n = level.shape
    lg = sg.quantile_groups(level, q)
    cg = sg.quantile_groups(change, q)
    return pl.DataFrame(
        {
            "date": dates.gather(np.repeat(np.arange(m), n)),
            "industry": industries * m,
            "holding_share": pl.Series(level.ravel()).fill_nan(None),
            "change": pl.Series(change.ravel()).fill_nan(None),
            "level_group": pl.Series(lg.ravel(), dtype=pl.Int8),
            "change_group": pl.Series(cg.ravel(), dtype=pl.Int8),
        }
    ).with_columns(
        pl.when(pl.col(c) > 0).then(pl.col(c)).alias(c) for c in ("level_group", "change_group")
    )


def _active_side(
    ds: Dataset,
    p: RotationParams,
    days: pl.Series,
    wh: WeeklyHoldings,
    ret: np.ndarray,
    month_pos: np.ndarray,
) -> dict:
    """Active funds' industry shares (disclosed or simulated) and the divergence, monthly."""
    fund_ret = active.active_fund_returns(ds.frame("fund_nav").collect(), days)
    disc = active.disclosed_shares(
        ds.frame("active_holdings").collect(),
        ds.frame("stock_industry").collect(),
        wh.months,
        wh.industries,
        level=p.level,
        disclosure_months=p.disclosure_months,
    )
    disclosed = disc.shares
    diag = {
        "disclosed_months": int(np.isfinite(disclosed).any(axis=1).sum()),
        "unclassified_rows": disc.n_unclassified,
        "unclassified_mv": disc.unclassified_mv,
    }
    simulated = active.simulated_shares(
        ret, fund_ret, month_pos, window=p.regression_window, min_days=p.min_regression_days
    )
    table = active.active_share_table(
        wh.months, wh.industries, wh.month_share, disclosed, simulated
    )
    div = (
        table.sort("date", "industry")["divergence"]
        .fill_null(np.nan)
        .to_numpy()
        .reshape(len(wh.months), len(wh.industries))
    )
    table = _keep(table, wh.months, wh.industries, wh.month_present)
    return {"table": table, "divergence": div, "diagnostics": diag}


def _hot_by_month(issuance: pl.DataFrame, months: pl.Series) -> np.ndarray:
    """1.0 / 0.0 / NaN per month-end: was that month's ETF issuance hotter than active's."""
    key = months.dt.truncate("1mo")
    df = pl.DataFrame({"month": key}).join(issuance.select("month", "hot"), on="month", how="left")
    return df["hot"].cast(pl.Float64).fill_null(np.nan).to_numpy()


def _forward_returns(ret: np.ndarray, month_pos: np.ndarray, lag: int) -> np.ndarray:
    """``(M, I)`` compounded industry return from the close of month-end ``m`` + ``lag`` to the
    close of the next month-end + ``lag`` (NaN for the last month)."""
    T, n = ret.shape
    growth = np.vstack([np.ones((1, n)), np.cumprod(1.0 + np.nan_to_num(ret), axis=0)])
    out = np.full((len(month_pos), n), np.nan)
    for k in range(len(month_pos) - 1):
        a, b = month_pos[k] + lag, month_pos[k + 1] + lag
        if b < T:
            seen = np.isfinite(ret[a + 1 : b + 1]).any(axis=0)
            out[k] = np.where(seen, growth[b + 1] / growth[a + 1] - 1.0, np.nan)
    return out


def _first_ready(
    epoch: np.ndarray,
    week_ep: np.ndarray,
    me_week_ep: np.ndarray,
    month_ep: np.ndarray,
    flow: np.ndarray,
    change: np.ndarray,
    divergence: np.ndarray,
) -> int:
    """The first trading day on which every signal has a value for some industry."""
    firsts = []
    for ep, x in ((week_ep, flow), (me_week_ep, change), (month_ep, divergence)):
        ok = np.flatnonzero(np.isfinite(x).any(axis=1))
        if not len(ok):
            raise EtfflowError(
                "the rotation's signals are never all available: the data are too short for "
                "two month-ends of ETF weights and one month of active-fund shares"
            )
        firsts.append(ep[ok[0]])
    return int(np.searchsorted(epoch, max(firsts), side="left"))


def _equal(selected: np.ndarray) -> np.ndarray:
    m = selected.astype(np.float64)
    n = m.sum(axis=1, keepdims=True)
    return np.divide(m, n, out=np.zeros_like(m), where=n > 0)


def _long_short(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """NAV of the daily return difference ``hi − lo`` (1.0 on their first common day)."""
    rh = hi[1:] / hi[:-1] - 1.0
    rl = lo[1:] / lo[:-1] - 1.0
    d = np.r_[np.nan, rh - rl]
    out = np.full(len(hi), np.nan)
    ok = np.flatnonzero(np.isfinite(hi) & np.isfinite(lo))
    if len(ok):
        f = ok[0]
        out[f] = 1.0
        out[f + 1 :] = np.cumprod(1.0 + np.nan_to_num(d[f + 1 :]))
        out[~(np.isfinite(hi) & np.isfinite(lo))] = np.nan
    return out


def _nav_and_summary(
    days: pl.Series, navs: dict[str, tuple[np.ndarray, np.ndarray]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    frames, sums = [], []
    dnp = days.cast(pl.Date).to_numpy()
    for name, (nav, bench) in navs.items():
        ok = np.isfinite(nav) & np.isfinite(bench)
        frames.append(
            pl.DataFrame(
                {
                    "date": days.filter(pl.Series(ok)),
                    "strategy": [name] * int(ok.sum()),
                    "nav": nav[ok],
                    "benchmark_nav": bench[ok],
                }
            )
        )
        m = metrics.strategy_metrics(dnp, nav, bench)
        sums.append(m.select(pl.lit(name).alias("strategy"), pl.all()))
    return pl.concat(frames), pl.concat(sums)


def _holdings_tables(
    days: pl.Series,
    rb: np.ndarray,
    lag: int,
    ret: np.ndarray,
    industries: list[str],
    selected: np.ndarray,
    flags: dict[str, np.ndarray],
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Each rebalance's holdings with flags and holding-period returns (the industry's, and
    its excess over the equal-weight benchmark's); hit rates; sector mix."""
    held = portfolio.period_returns(ret, rb, _equal(selected), lag)
    bench = portfolio.period_returns(ret, rb, portfolio.equal_weight_targets(ret, rb, lag), lag)
    r, j = np.nonzero(selected[: len(held.decision)])
    period = held.industry[r, j]
    h = pl.DataFrame(
        {
            "date": days.gather(held.decision[r]),
            "start": days.gather(held.start[r]),
            "end": days.gather(held.end[r]),
            "industry": pl.Series([industries[k] for k in j], dtype=pl.String),
            **{f"{f}_flag": pl.Series(flags[f][r, j], dtype=pl.Int8) for f in FLAGS},
            "period_return": pl.Series(period, dtype=pl.Float64).fill_nan(None),
            "excess_return": pl.Series(period - bench.portfolio[r], dtype=pl.Float64).fill_nan(
                None
            ),
        },
        schema=SCHEMAS["holdings"],
    )
    names = sorted(set(h["industry"].to_list()))
    h = h.with_columns(
        pl.col("industry")
        .replace_strict({x: sector_of(x) for x in names}, return_dtype=pl.String)
        .alias("sector")
    )
    hits = (
        h.group_by("industry", "sector")
        .agg(
            pl.len().cast(pl.Int64).alias("n_held"),
            (pl.col("excess_return") > 0).mean().alias("hit_rate"),
            pl.col("excess_return").mean().alias("mean_excess"),
        )
        .sort("hit_rate", "industry", descending=[True, False])
    )
    mix = (
        h.group_by("sector")
        .agg((pl.len() / max(h.height, 1)).alias("share"))
        .sort("share", "sector", descending=[True, False])
    )
    return h.drop("sector"), hits, mix


def _correlation(scores: dict[str, np.ndarray]) -> pl.DataFrame:
    """Mean over rebalance days of the cross-sectional rank correlation of the four scores
    (Pearson of the percentile ranks on the industries both have; days with fewer than 3
    such industries or a constant score are left out)."""
    ranks = {s: sg.pct_rank(scores[s]) for s in SIGNALS}
    c = np.full((len(SIGNALS), len(SIGNALS)), np.nan)
    for a, sa in enumerate(SIGNALS):
        for b, sb in enumerate(SIGNALS):
            c[a, b] = _mean_row_corr(ranks[sa], ranks[sb])
    return pl.DataFrame(
        {
            "signal": list(SIGNALS),
            **{s: pl.Series(c[:, j]).fill_nan(None) for j, s in enumerate(SIGNALS)},
        }
    )


def _mean_row_corr(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    n = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.where(ok, x, 0.0).sum(axis=1) / n
        my = np.where(ok, y, 0.0).sum(axis=1) / n
        dx = np.where(ok, x - mx[:, None], 0.0)
        dy = np.where(ok, y - my[:, None], 0.0)
        vx, vy = (dx * dx).sum(axis=1), (dy * dy).sum(axis=1)
        r = (dx * dy).sum(axis=1) / np.sqrt(vx * vy)
    use = (n > 2) & (vx > 1e-15) & (vy > 1e-15)
    return float(r[use].mean()) if use.any() else float("nan")

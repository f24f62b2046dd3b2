"""Data access and the panels every figure is made of: each ``*_panel`` draws one chart of one
factor into axes it is given, so the public figures (:mod:`etfflow.plots.figures`) and the
HTML report's figures share one drawing code."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from matplotlib import colormaps
from matplotlib import ticker as mticker
from matplotlib.axes import Axes

from etfflow.backtest.engine import Evaluation
from etfflow.backtest.metrics import rolling_mean
from etfflow.exceptions import EtfflowError
from etfflow.plots.style import (
    COLORS,
    Style,
    date_axis,
    empty,
    finish_time_panel,
    fmt_num,
    fmt_pct,
    grid,
    pct_axis,
)

# --------------------------------------------------------------------------- data access


def check_factor(ev: Evaluation, factor: str) -> dict:
    rows = ev.summary.filter(pl.col("factor") == factor)
    if rows.height == 0:
        names = ev.summary["factor"].to_list()
        raise EtfflowError(
            f"plots: no factor {factor!r} in this evaluation; factors are {names[:8]}"
            + (" …" if len(names) > 8 else "")
        )
    return rows.row(0, named=True)


def floats(s: pl.Series) -> np.ndarray:
    return s.cast(pl.Float64).fill_null(math.nan).to_numpy().astype(np.float64)


def nav_series(ev: Evaluation, factor: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Dates (datetime64[D]) and the daily NAV of each series of ``factor``."""
    df = ev.nav.filter(pl.col("factor") == factor)
    wide = df.pivot(on="series", index="date", values="nav").sort("date")
    dates = wide["date"].to_numpy().astype("datetime64[D]")
    out = {c: floats(wide[c]) for c in wide.columns if c != "date"}
    return dates, out


def groups_of(ev: Evaluation, factor: str) -> pl.DataFrame:
    return ev.groups.filter(pl.col("factor") == factor).sort("group", "date")


def held_anything(ev: Evaluation, factor: str) -> bool:
    """Whether any group of ``factor`` held a name in any period (else there is nothing to draw)."""
    n = ev.groups.filter(pl.col("factor") == factor)["n"]
    return bool(n.len()) and int(n.fill_null(0).max() or 0) > 0  # type: ignore[arg-type]


def long_short_groups(summary: dict) -> tuple[int | None, int | None]:
    g, d = summary.get("groups"), summary.get("direction")
    if g is None or d not in (1, -1):
        return None, None
    return (int(g), 1) if d == 1 else (1, int(g))


def drawdown(x: np.ndarray) -> np.ndarray:
    ok = np.isfinite(x)
    peak = np.fmax.accumulate(np.where(ok, x, -np.inf))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, x / peak - 1.0, np.nan)


def drawdown_axis(ax: Axes, dates: np.ndarray, d: np.ndarray, label: str) -> None:
    """A drawdown series ``d`` (decimal, ≤ 0) shaded down from 0 on a date axis."""
    ax.fill_between(dates, d, 0.0, color=COLORS["drawdown"], alpha=0.25, lw=0)
    ax.plot(dates, d, color=COLORS["drawdown"], lw=0.8)
    ax.set_ylabel(label, fontsize=8)
    pct_axis(ax)
    grid(ax)
    date_axis(ax)


# --------------------------------------------------------------------------- panels


def nav_panel(ev: Evaluation, factor: str, s: dict, style: Style, ax: Axes, dd: Axes) -> None:
    dates, navs = nav_series(ev, factor)
    ls = navs.get("long_short")
    if ls is None or not np.isfinite(ls).any() or not held_anything(ev, factor):
        empty(ax, style)
        empty(dd, style)
        return
    lines = (
        ("benchmark", style.label("基准", "benchmark"), 1.1, "--"),
        ("long", style.label("多头", "long"), 1.1, "-"),
        ("excess", style.label("超额", "excess"), 1.1, "-"),
        ("long_short", style.label("多空", "long-short"), 2.0, "-"),
    )
    for key, label, lw, ls_style in lines:
        if key in navs:
            ax.plot(dates, navs[key], color=COLORS[key], lw=lw, ls=ls_style, label=label)
    ax.axhline(1.0, color=COLORS["zero"], lw=0.8)
    ax.set_title(
        style.label("多空净值", "Long-short NAV")
        + f"  ·  {style.label('多空年化', 'ann.')} {fmt_pct(s.get('long_short_ann_return'))}"
        + f"  ·  {style.label('最大回撤', 'max DD')} {fmt_pct(s.get('long_short_max_drawdown'))}",
        loc="left",
        fontsize=10,
    )
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncols=4)
    grid(ax)
    drawdown_axis(dd, dates, drawdown(ls), style.label("回撤", "drawdown"))


def group_panel(ev: Evaluation, factor: str, s: dict, style: Style, ax: Axes) -> None:
    gs = ev.group_summary.filter(pl.col("factor") == factor).sort("group")
    ann = floats(gs["ann_return"])
    if not np.isfinite(ann).any() or not held_anything(ev, factor):
        empty(ax, style)
        return
    long_g, short_g = long_short_groups(s)
    groups = gs["group"].to_numpy()
    colors = [
        COLORS["bar_long"]
        if g == long_g
        else COLORS["bar_short"]
        if g == short_g
        else COLORS["bar"]
        for g in groups
    ]
    ax.bar(groups, np.nan_to_num(ann), color=colors, width=0.66)
    if len(groups) <= 20:
        for g, v in zip(groups, ann, strict=True):
            if math.isfinite(v):
                ax.annotate(
                    fmt_pct(float(v)),
                    (g, v),
                    xytext=(0, 3 if v >= 0 else -10),
                    textcoords="offset points",
                    ha="center",
                    fontsize=7,
                )
    bench = s.get("benchmark_ann_return")
    if isinstance(bench, float) and math.isfinite(bench):
        ax.axhline(
            bench,
            color=COLORS["benchmark"],
            ls="--",
            lw=1.2,
            label=f"{style.label('基准', 'benchmark')} {fmt_pct(bench)}",
        )
        ax.legend(loc="best", fontsize=8, frameon=False)
    ax.axhline(0.0, color=COLORS["zero"], lw=0.8)
    ax.set_xticks(groups)
    ax.margins(y=0.12)  # room for the value labels above and below the bars
    ax.set_xlabel(style.label("分组 (1 = 因子值最小)", "group (1 = lowest factor)"), fontsize=8)
    ax.set_title(
        style.label("分组年化收益", "Annualised return by group")
        + f"  ·  {style.label('单调性', 'monotonicity')} {fmt_num(s.get('monotonicity'))}",
        loc="left",
        fontsize=10,
    )
    pct_axis(ax)
    grid(ax)


def group_nav_panel(ev: Evaluation, factor: str, s: dict, style: Style, ax: Axes) -> None:
    """Every group's compounded net return at the end of each holding period (a period in
    which the group held nothing leaves it flat); 0 at the first trade day."""
    g = groups_of(ev, factor)
    if not held_anything(ev, factor):
        empty(ax, style)
        return
    long_g, short_g = long_short_groups(s)
    n_groups = int(g["group"].max())  # type: ignore[arg-type]
    per = ev.periods.sort("date")
    ends = per["end"].to_numpy().astype("datetime64[D]")
    x = np.concatenate((per["start"].to_numpy().astype("datetime64[D]")[:1], ends))
    cmap = colormaps["RdYlGn"]
    for k, part in g.group_by("group", maintain_order=True):
        grp = int(k[0])
        r = floats(part.sort("date")["ret"])
        cum = np.concatenate(([0.0], np.cumprod(1.0 + np.nan_to_num(r)) - 1.0))
        color = cmap((grp - 1) / max(n_groups - 1, 1))
        lw = 2.2 if grp in (long_g, short_g) else 1.0
        ax.plot(x[: len(cum)], cum, color=color, lw=lw, label=str(grp))
    ax.axhline(0.0, color=COLORS["zero"], lw=0.8)
    ax.set_title(
        style.label("各组累计收益", "Cumulative return of every group")
        + f"  ·  {style.label('组 1 = 因子值最小', 'group 1 = lowest factor')}",
        loc="left",
        fontsize=10,
    )
    ax.legend(fontsize=7, frameon=False, ncols=min(n_groups, 10), loc="upper left")
    pct_axis(ax)
    grid(ax)
    date_axis(ax)


def ic_panel(ev: Evaluation, factor: str, s: dict, style: Style, ax: Axes, window: int) -> None:
    ic = ev.ic.filter(pl.col("factor") == factor).sort("date")
    ric = floats(ic["rank_ic"])
    if not np.isfinite(ric).any():
        empty(ax, style)
        return
    dates = ic["date"].to_numpy().astype("datetime64[D]")
    gap = np.median(np.diff(dates).astype(np.float64)) if len(dates) > 1 else 20.0
    colors = [COLORS["ic_pos"] if v >= 0 else COLORS["ic_neg"] for v in np.nan_to_num(ric)]
    ax.bar(dates, np.nan_to_num(ric), width=0.72 * gap, color=colors)
    ma = rolling_mean(ric, window, window // 2)
    ax.plot(dates, ma, color=COLORS["ma"], lw=2.0, label=style.label(f"{window}期均值", "MA"))
    ax.axhline(0.0, color=COLORS["zero"], lw=0.8)
    finish_time_panel(
        ax,
        style.label("Rank IC 序列", "Rank IC per period")
        + f"  ·  {style.label('均值', 'mean')} {fmt_pct(s.get('rank_ic'), 2)}"
        + f"  ·  IR {fmt_num(s.get('rank_icir'))}"
        + f"  ·  {style.label('胜率', 'win rate')} {fmt_pct(s.get('rank_ic_win_rate'))}",
    )


def ic_hist_panel(ev: Evaluation, factor: str, style: Style, ax: Axes) -> None:
    ric = floats(ev.ic.filter(pl.col("factor") == factor)["rank_ic"])
    x = ric[np.isfinite(ric)]
    if len(x) == 0:
        empty(ax, style)
        return
    bins = int(min(max(len(x) // 3, 5), 30))
    ax.hist(x, bins=bins, color=COLORS["bar"], edgecolor="white")
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if len(x) > 1 else math.nan
    t = mean / std * math.sqrt(len(x)) if std and math.isfinite(std) and std > 0 else math.nan
    ax.axvline(mean, color=COLORS["ma"], lw=1.5)
    ax.axvline(0.0, color=COLORS["zero"], lw=0.8)
    ax.set_title(
        style.label("Rank IC 分布", "Rank IC distribution")
        + f"  ·  {style.label('均值', 'mean')} {fmt_pct(mean, 2)}"
        + f"  ·  std {fmt_pct(std, 2)}  ·  t {fmt_num(t)}  ·  n {len(x)}",
        loc="left",
        fontsize=10,
    )
    pct_axis(ax, "x")
    ax.yaxis.set_major_locator(mticker.MaxNLocator(integer=True))
    ax.set_ylabel(style.label("期数", "periods"), fontsize=8)
    grid(ax)


def turnover_panel(ev: Evaluation, factor: str, s: dict, style: Style, ax: Axes) -> None:
    g = groups_of(ev, factor)
    long_g, short_g = long_short_groups(s)
    if long_g is None or not held_anything(ev, factor):
        empty(ax, style)
        return
    drawn = False
    for grp, key, zh, en in (
        (long_g, "long", "多头组", "long group"),
        (short_g, "short", "空头组", "short group"),
    ):
        part = g.filter((pl.col("group") == grp) & (pl.col("n") > 0))
        if part.height <= 1:
            continue
        # the first period buys everything: turnover from the second period on
        part = part.slice(1)
        ax.plot(
            part["date"].to_numpy().astype("datetime64[D]"),
            floats(part["turnover"]),
            color=COLORS[key],
            lw=1.3,
            marker="o",
            ms=2.5,
            label=style.label(zh, en),
        )
        drawn = True
    if not drawn:
        empty(ax, style)
        return
    ax.set_ylim(0, 1.02)
    finish_time_panel(
        ax,
        style.label("换手率 (新进名称占比)", "Turnover (share of new names)")
        + f"  ·  {style.label('多头均值', 'long mean')} {fmt_pct(s.get('turnover'))}",
    )

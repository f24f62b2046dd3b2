"""Tear-sheet figures of a factor evaluation, as matplotlib ``Figure`` objects.

Every function takes an :class:`~etfflow.backtest.engine.Evaluation` (what
:func:`etfflow.backtest.engine.evaluate` returns, or what a stored backtest reloads to) and a
factor name, and returns a new :class:`matplotlib.figure.Figure` built without ``pyplot``: no
global state is touched, figures can be shown in a notebook, saved with ``savefig`` (SVG, PNG,
PDF) or embedded in the HTML report.

- :func:`nav` — long-short NAV with its drawdown from the running maximum shaded, and the
  long, benchmark and excess NAVs;
- :func:`group_returns` — annualised return of each group, long and short groups highlighted,
  benchmark line;
- :func:`group_navs` — cumulative return of every group over time;
- :func:`rank_ic` — Rank IC per period with its moving average;
- :func:`ic_histogram` — distribution of the per-period Rank IC with mean, std and t-stat;
- :func:`turnover` — share of new names in the long and short groups per period;
- :func:`tear_sheet` — all of the above on one page.

:func:`series_stats` gives the numbers tear-sheet users expect beside the charts: annualised
return, annualised volatility, Sharpe ratio (risk-free rate 0) and max drawdown of the long,
short, long-short, benchmark and excess series and of every group.

Labels are bilingual (Chinese first, as in the reports) when a CJK font is installed and
English only otherwise (:func:`cjk_font`); set ``ETFFLOW_PLOT_LANG=en`` to force English.
Colours follow the HTML report: the long-short line dark blue, drawdowns and negative values
red, positive values green.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import polars as pl
from matplotlib import dates as mdates
from matplotlib import font_manager
from matplotlib import ticker as mticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from etfflow.backtest.engine import TRADING_DAYS_PER_YEAR, Evaluation
from etfflow.backtest.metrics import rolling_mean
from etfflow.exceptions import EtfflowError

__all__ = [
    "CJK_FONTS",
    "cjk_font",
    "group_navs",
    "group_returns",
    "ic_histogram",
    "nav",
    "rank_ic",
    "series_stats",
    "tear_sheet",
    "turnover",
]

#: Periods of the moving average drawn over the Rank IC bars (as in the HTML report).
IC_MA_WINDOW = 12
#: Fonts with Chinese glyphs tried in order (Linux, macOS, Windows names).
CJK_FONTS: tuple[str, ...] = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "AR PL UMing CN",
    "Droid Sans Fallback",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "Microsoft YaHei",
    "SimHei",
)

COLORS = {
    "long_short": "#1f3b63",
    "long": "#d9822b",
    "benchmark": "#8a8f98",
    "excess": "#2f8f5b",
    "short": "#c98b84",
    "drawdown": "#c0392b",
    "bar": "#a9bfdc",
    "bar_long": "#1f3b63",
    "bar_short": "#c98b84",
    "ic_pos": "#7fa2cf",
    "ic_neg": "#e0a49c",
    "ma": "#d9822b",
    "grid": "#e6e9ef",
    "pos": "#1e7b4a",
    "neg": "#c0392b",
}


@lru_cache(maxsize=1)
def _installed_fonts() -> frozenset[str]:
    return frozenset(f.name for f in font_manager.fontManager.ttflist)


def cjk_font() -> str | None:
    """The first installed font of :data:`CJK_FONTS`, or None (labels are then English only).

    ``ETFFLOW_PLOT_LANG=en`` in the environment forces English labels (returns None).
    """
    if os.environ.get("ETFFLOW_PLOT_LANG", "").lower() == "en":
        return None
    have = _installed_fonts()
    return next((f for f in CJK_FONTS if f in have), None)


class _Style:
    """Labels and font settings for one figure (decided once, when the figure is made)."""

    def __init__(self, cjk: bool | None) -> None:
        font = cjk_font() if cjk is None else (cjk_font() if cjk else None)
        if cjk and font is None:
            raise EtfflowError(
                "plots: cjk=True but no CJK font is installed; install one of "
                f"{', '.join(CJK_FONTS[:4])} (e.g. apt-get install fonts-noto-cjk) "
                "or pass cjk=False"
            )
        self.font = font
        self.rc = {"font.family": ["sans-serif"], "axes.unicode_minus": False}
        if font is not None:
            self.rc["font.sans-serif"] = [font, "DejaVu Sans"]

    def label(self, zh: str, en: str) -> str:
        return f"{zh} {en}" if self.font else en


def _figure(style: _Style, size: tuple[float, float], **kw: object) -> Figure:
    import matplotlib as mpl

    with mpl.rc_context(style.rc):
        fig = Figure(figsize=size, layout="constrained", **kw)  # type: ignore[arg-type]
    return fig


def _apply_font(fig: Figure, style: _Style) -> None:
    """Set the figure's text to the chosen font (rc_context only covers creation)."""
    if style.font is None:
        return
    for text in fig.findobj(match=lambda a: hasattr(a, "set_fontfamily")):
        text.set_fontfamily([style.font, "DejaVu Sans"])  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- data access


def _check_factor(ev: Evaluation, factor: str) -> dict:
    rows = ev.summary.filter(pl.col("factor") == factor)
    if rows.height == 0:
        names = ev.summary["factor"].to_list()
        raise EtfflowError(
            f"plots: no factor {factor!r} in this evaluation; factors are {names[:8]}"
            + (" …" if len(names) > 8 else "")
        )
    return rows.row(0, named=True)


def _floats(s: pl.Series) -> np.ndarray:
    return s.cast(pl.Float64).fill_null(math.nan).to_numpy().astype(np.float64)


def _nav_series(ev: Evaluation, factor: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Dates (datetime64[D]) and the daily NAV of each series of ``factor``."""
    df = ev.nav.filter(pl.col("factor") == factor)
    wide = df.pivot(on="series", index="date", values="nav").sort("date")
    dates = wide["date"].to_numpy().astype("datetime64[D]")
    out = {c: _floats(wide[c]) for c in wide.columns if c != "date"}
    return dates, out


def _groups(ev: Evaluation, factor: str) -> pl.DataFrame:
    return ev.groups.filter(pl.col("factor") == factor).sort("group", "date")


def _held_anything(ev: Evaluation, factor: str) -> bool:
    """Whether any group of ``factor`` held a name in any period (else there is nothing to draw)."""
    n = ev.groups.filter(pl.col("factor") == factor)["n"]
    return bool(n.len()) and int(n.fill_null(0).max() or 0) > 0  # type: ignore[arg-type]


def _long_short_groups(summary: dict) -> tuple[int | None, int | None]:
    g, d = summary.get("groups"), summary.get("direction")
    if g is None or d not in (1, -1):
        return None, None
    return (int(g), 1) if d == 1 else (1, int(g))


def _drawdown(x: np.ndarray) -> np.ndarray:
    ok = np.isfinite(x)
    peak = np.fmax.accumulate(np.where(ok, x, -np.inf))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, x / peak - 1.0, np.nan)


def _empty(ax: Axes, style: _Style) -> None:
    ax.text(
        0.5,
        0.5,
        style.label("无数据", "no values"),
        ha="center",
        va="center",
        transform=ax.transAxes,
        color=COLORS["benchmark"],
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _pct_axis(ax: Axes, digits: int = 0) -> None:
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=digits))


def _date_axis(ax: Axes) -> None:
    loc = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def _grid(ax: Axes) -> None:
    ax.grid(True, color=COLORS["grid"], linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _finish_time_panel(ax: Axes, title: str) -> None:
    """Title on the left, legend top left, percent y axis, grid and date x axis."""
    ax.set_title(title, loc="left", fontsize=10)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    _pct_axis(ax)
    _grid(ax)
    _date_axis(ax)


def _fmt_pct(x: object, digits: int = 1) -> str:
    return f"{x * 100:.{digits}f}%" if isinstance(x, float) and math.isfinite(x) else "–"


def _fmt_num(x: object, digits: int = 2) -> str:
    return f"{x:.{digits}f}" if isinstance(x, float) and math.isfinite(x) else "–"


# --------------------------------------------------------------------------- panels


def _nav_panel(ev: Evaluation, factor: str, s: dict, style: _Style, ax: Axes, dd: Axes) -> None:
    dates, navs = _nav_series(ev, factor)
    ls = navs.get("long_short")
    if ls is None or not np.isfinite(ls).any() or not _held_anything(ev, factor):
        _empty(ax, style)
        _empty(dd, style)
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
    ax.axhline(1.0, color="#3b4252", lw=0.8)
    ax.set_title(
        style.label("多空净值", "Long-short NAV")
        + f"  ·  {style.label('多空年化', 'ann.')} {_fmt_pct(s.get('long_short_ann_return'))}"
        + f"  ·  {style.label('最大回撤', 'max DD')} {_fmt_pct(s.get('long_short_max_drawdown'))}",
        loc="left",
        fontsize=10,
    )
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncols=4)
    _grid(ax)
    d = _drawdown(ls)
    dd.fill_between(dates, d, 0.0, color=COLORS["drawdown"], alpha=0.25, lw=0)
    dd.plot(dates, d, color=COLORS["drawdown"], lw=0.8)
    dd.set_ylabel(style.label("回撤", "drawdown"), fontsize=8)
    _pct_axis(dd)
    _grid(dd)
    _date_axis(dd)


def _group_panel(ev: Evaluation, factor: str, s: dict, style: _Style, ax: Axes) -> None:
    gs = ev.group_summary.filter(pl.col("factor") == factor).sort("group")
    ann = _floats(gs["ann_return"])
    if not np.isfinite(ann).any() or not _held_anything(ev, factor):
        _empty(ax, style)
        return
    long_g, short_g = _long_short_groups(s)
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
                    _fmt_pct(float(v)),
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
            label=f"{style.label('基准', 'benchmark')} {_fmt_pct(bench)}",
        )
        ax.legend(loc="best", fontsize=8, frameon=False)
    ax.axhline(0.0, color="#3b4252", lw=0.8)
    ax.set_xticks(groups)
    ax.set_xlabel(style.label("分组 (1 = 因子值最小)", "group (1 = lowest factor)"), fontsize=8)
    ax.set_title(
        style.label("分组年化收益", "Annualised return by group")
        + f"  ·  {style.label('单调性', 'monotonicity')} {_fmt_num(s.get('monotonicity'))}",
        loc="left",
        fontsize=10,
    )
    _pct_axis(ax)
    _grid(ax)


def _group_nav_panel(ev: Evaluation, factor: str, s: dict, style: _Style, ax: Axes) -> None:
    """Every group's compounded net return at the end of each holding period (a period in
    which the group held nothing leaves it flat); 0 at the first trade day."""
    g = _groups(ev, factor)
    if not _held_anything(ev, factor):
        _empty(ax, style)
        return
    long_g, short_g = _long_short_groups(s)
    n_groups = int(g["group"].max())  # type: ignore[arg-type]
    per = ev.periods.sort("date")
    ends = per["end"].to_numpy().astype("datetime64[D]")
    x = np.concatenate((per["start"].to_numpy().astype("datetime64[D]")[:1], ends))
    cmap = __import__("matplotlib").colormaps["RdYlGn"]
    for k, part in g.group_by("group", maintain_order=True):
        grp = int(k[0])  # type: ignore[arg-type]
        r = _floats(part.sort("date")["ret"])
        cum = np.concatenate(([0.0], np.cumprod(1.0 + np.nan_to_num(r)) - 1.0))
        color = cmap((grp - 1) / max(n_groups - 1, 1))
        lw = 2.2 if grp in (long_g, short_g) else 1.0
        ax.plot(x[: len(cum)], cum, color=color, lw=lw, label=str(grp))
    ax.axhline(0.0, color="#3b4252", lw=0.8)
    ax.set_title(
        style.label("各组累计收益", "Cumulative return of every group")
        + f"  ·  {style.label('组 1 = 因子值最小', 'group 1 = lowest factor')}",
        loc="left",
        fontsize=10,
    )
    ax.legend(fontsize=7, frameon=False, ncols=min(n_groups, 10), loc="upper left")
    _pct_axis(ax)
    _grid(ax)
    _date_axis(ax)


def _ic_panel(ev: Evaluation, factor: str, s: dict, style: _Style, ax: Axes, window: int) -> None:
    ic = ev.ic.filter(pl.col("factor") == factor).sort("date")
    ric = _floats(ic["rank_ic"])
    if not np.isfinite(ric).any():
        _empty(ax, style)
        return
    dates = ic["date"].to_numpy().astype("datetime64[D]")
    gap = np.median(np.diff(dates).astype(np.float64)) if len(dates) > 1 else 20.0
    colors = [COLORS["ic_pos"] if v >= 0 else COLORS["ic_neg"] for v in np.nan_to_num(ric)]
    ax.bar(dates, np.nan_to_num(ric), width=0.72 * gap, color=colors)
    ma = rolling_mean(ric, window, window // 2)
    ax.plot(dates, ma, color=COLORS["ma"], lw=2.0, label=style.label(f"{window}期均值", "MA"))
    ax.axhline(0.0, color="#3b4252", lw=0.8)
    _finish_time_panel(
        ax,
        style.label("Rank IC 序列", "Rank IC per period")
        + f"  ·  {style.label('均值', 'mean')} {_fmt_pct(s.get('rank_ic'), 2)}"
        + f"  ·  IR {_fmt_num(s.get('rank_icir'))}"
        + f"  ·  {style.label('胜率', 'win rate')} {_fmt_pct(s.get('rank_ic_win_rate'))}",
    )


def _ic_hist_panel(ev: Evaluation, factor: str, style: _Style, ax: Axes) -> None:
    ric = _floats(ev.ic.filter(pl.col("factor") == factor)["rank_ic"])
    x = ric[np.isfinite(ric)]
    if len(x) == 0:
        _empty(ax, style)
        return
    bins = int(min(max(len(x) // 3, 5), 30))
    ax.hist(x, bins=bins, color=COLORS["bar"], edgecolor="white")
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if len(x) > 1 else math.nan
    t = mean / std * math.sqrt(len(x)) if std and math.isfinite(std) and std > 0 else math.nan
    ax.axvline(mean, color=COLORS["ma"], lw=1.5)
    ax.axvline(0.0, color="#3b4252", lw=0.8)
    ax.set_title(
        style.label("Rank IC 分布", "Rank IC distribution")
        + f"  ·  {style.label('均值', 'mean')} {_fmt_pct(mean, 2)}"
        + f"  ·  std {_fmt_pct(std, 2)}  ·  t {_fmt_num(t)}  ·  n {len(x)}",
        loc="left",
        fontsize=10,
    )
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
    ax.yaxis.set_major_locator(mticker.MaxNLocator(integer=True))
    ax.set_ylabel(style.label("期数", "periods"), fontsize=8)
    _grid(ax)


def _turnover_panel(ev: Evaluation, factor: str, s: dict, style: _Style, ax: Axes) -> None:
    g = _groups(ev, factor)
    long_g, short_g = _long_short_groups(s)
    if long_g is None or not _held_anything(ev, factor):
        _empty(ax, style)
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
            _floats(part["turnover"]),
            color=COLORS[key],
            lw=1.3,
            marker="o",
            ms=2.5,
            label=style.label(zh, en),
        )
        drawn = True
    if not drawn:
        _empty(ax, style)
        return
    ax.set_ylim(0, 1.02)
    _finish_time_panel(
        ax,
        style.label("换手率 (新进名称占比)", "Turnover (share of new names)")
        + f"  ·  {style.label('多头均值', 'long mean')} {_fmt_pct(s.get('turnover'))}",
    )


# --------------------------------------------------------------------------- public figures


def _single(
    draw: Callable[[Evaluation, str, dict, _Style, Axes], None],
    ev: Evaluation,
    factor: str,
    *,
    size: tuple[float, float],
    cjk: bool | None,
) -> Figure:
    s = _check_factor(ev, factor)
    style = _Style(cjk)
    fig = _figure(style, size)
    ax = fig.add_subplot()
    draw(ev, factor, s, style, ax)
    fig.suptitle(factor, x=0.01, ha="left", fontsize=11, fontweight="bold")
    _apply_font(fig, style)
    return fig


def nav(
    ev: Evaluation,
    factor: str,
    *,
    size: tuple[float, float] = (10.0, 5.0),
    cjk: bool | None = None,
) -> Figure:
    """Long-short NAV (with long, benchmark and excess) and the long-short drawdown below.

    Parameters
    ----------
    ev
        An evaluation (``etfflow.backtest.engine.evaluate`` or a reloaded backtest run).
    factor
        One of ``ev.summary["factor"]``.
    size
        Figure size in inches.
    cjk
        Bilingual labels: None = when a CJK font is installed, True = require one, False =
        English only.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: the NAVs (1 at the first trade day) and the drawdown of the long-short NAV
        from its running maximum (decimal, ≤ 0).

    Raises
    ------
    EtfflowError
        If ``factor`` is not in ``ev``, or ``cjk=True`` without a CJK font.
    """
    s = _check_factor(ev, factor)
    style = _Style(cjk)
    fig = _figure(style, size)
    ax, dd = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    _nav_panel(ev, factor, s, style, ax, dd)
    fig.suptitle(factor, x=0.01, ha="left", fontsize=11, fontweight="bold")
    _apply_font(fig, style)
    return fig


def group_returns(
    ev: Evaluation, factor: str, *, size: tuple[float, float] = (8.0, 4.0), cjk: bool | None = None
) -> Figure:
    """Annualised return of each group (1 = lowest factor values); long group dark, short
    group red, the benchmark's annualised return dashed. Parameters as :func:`nav`."""
    return _single(_group_panel, ev, factor, size=size, cjk=cjk)


def group_navs(
    ev: Evaluation, factor: str, *, size: tuple[float, float] = (10.0, 4.5), cjk: bool | None = None
) -> Figure:
    """Cumulative net return of every group, compounded per holding period and plotted at
    each period's exit day (0 at the first trade day; ``ev.groups`` and ``ev.periods``).
    Parameters as :func:`nav`."""
    return _single(_group_nav_panel, ev, factor, size=size, cjk=cjk)


def rank_ic(
    ev: Evaluation,
    factor: str,
    *,
    window: int = IC_MA_WINDOW,
    size: tuple[float, float] = (10.0, 4.0),
    cjk: bool | None = None,
) -> Figure:
    """Rank IC per rebalance date as bars and its ``window``-period moving average (needs at
    least ``window // 2`` values in the window). Other parameters as :func:`nav`."""

    def draw(ev: Evaluation, f: str, s: dict, st: _Style, ax: Axes) -> None:
        _ic_panel(ev, f, s, st, ax, window)

    return _single(draw, ev, factor, size=size, cjk=cjk)


def ic_histogram(
    ev: Evaluation, factor: str, *, size: tuple[float, float] = (6.0, 4.0), cjk: bool | None = None
) -> Figure:
    """Histogram of the per-period Rank IC with its mean, standard deviation (ddof 1) and
    t-statistic ``mean / std · sqrt(n)`` (no autocorrelation correction). Parameters as
    :func:`nav`."""

    def draw(ev: Evaluation, f: str, s: dict, st: _Style, ax: Axes) -> None:
        _ic_hist_panel(ev, f, st, ax)

    return _single(draw, ev, factor, size=size, cjk=cjk)


def turnover(
    ev: Evaluation, factor: str, *, size: tuple[float, float] = (10.0, 3.5), cjk: bool | None = None
) -> Figure:
    """Share of new names in the long and short groups at each rebalance, from the second
    period on (the first buys everything). Parameters as :func:`nav`."""
    return _single(_turnover_panel, ev, factor, size=size, cjk=cjk)


def tear_sheet(
    ev: Evaluation, factor: str, *, width: float = 12.0, cjk: bool | None = None
) -> Figure:
    """One page with every chart of this module for ``factor`` (NAV and drawdown, group
    returns, IC histogram, Rank IC, cumulative group returns, turnover)."""
    s = _check_factor(ev, factor)
    style = _Style(cjk)
    fig = _figure(style, (width, width * 1.45))
    grid = fig.add_gridspec(6, 2, height_ratios=[3, 1, 2.4, 2.4, 2.4, 2.0])
    ax_nav = fig.add_subplot(grid[0, :])
    ax_dd = fig.add_subplot(grid[1, :], sharex=ax_nav)
    _nav_panel(ev, factor, s, style, ax_nav, ax_dd)
    _group_panel(ev, factor, s, style, fig.add_subplot(grid[2, 0]))
    _ic_hist_panel(ev, factor, style, fig.add_subplot(grid[2, 1]))
    _ic_panel(ev, factor, s, style, fig.add_subplot(grid[3, :]), IC_MA_WINDOW)
    _group_nav_panel(ev, factor, s, style, fig.add_subplot(grid[4, :]))
    _turnover_panel(ev, factor, s, style, fig.add_subplot(grid[5, :]))
    fig.suptitle(factor, x=0.01, ha="left", fontsize=13, fontweight="bold")
    _apply_font(fig, style)
    return fig


# --------------------------------------------------------------------------- statistics

STATS_SCHEMA = pl.Schema(
    {
        "factor": pl.String,
        "series": pl.String,
        "ann_return": pl.Float64,
        "ann_volatility": pl.Float64,
        "sharpe": pl.Float64,
        "max_drawdown": pl.Float64,
        "n_days": pl.Int32,
    }
)


def _daily_stats(nav_: np.ndarray) -> tuple[float, float, float, float, int]:
    x = nav_[np.isfinite(nav_)]
    n = len(x) - 1
    if n < 1:
        return math.nan, math.nan, math.nan, math.nan, max(n, 0)
    r = x[1:] / x[:-1] - 1.0
    ann = float(x[-1] / x[0]) ** (TRADING_DAYS_PER_YEAR / n) - 1.0 if x[-1] / x[0] > 0 else math.nan
    vol = float(r.std(ddof=1)) * math.sqrt(TRADING_DAYS_PER_YEAR) if n > 1 else math.nan
    mu = float(r.mean()) * TRADING_DAYS_PER_YEAR
    sharpe = mu / vol if math.isfinite(vol) and vol > 0 else math.nan
    mdd = float(np.min(x / np.maximum.accumulate(x) - 1.0))
    return ann, vol, sharpe, mdd, n


def series_stats(ev: Evaluation, factor: str | None = None) -> pl.DataFrame:
    """Annualised return, volatility, Sharpe and max drawdown of each NAV series and group.

    Parameters
    ----------
    ev
        An evaluation.
    factor
        One factor, or None for all factors of ``ev``.

    Returns
    -------
    pl.DataFrame
        :data:`STATS_SCHEMA`: one row per factor and series (``long``, ``short``,
        ``long_short``, ``benchmark``, ``excess`` from the daily NAVs, then ``group_1`` ..
        ``group_G`` from the per-period group returns); null where a statistic is undefined
        (fewer than two returns, zero volatility, a factor that never held anything).

    Notes
    -----
    Daily series: with ``r[d] = nav[d] / nav[d-1] - 1`` over the finite NAV days,
    ``ann_return = (nav_end / nav_start) ** (242 / n) - 1``, ``ann_volatility = std(r, ddof=1)
    · sqrt(242)``, ``sharpe = mean(r) · 242 / ann_volatility`` (risk-free rate 0),
    ``max_drawdown = min(nav / cummax(nav) - 1)``. Groups (period returns ``R_k`` over periods
    of ``h`` trading days each, ``ppy = 242 / h`` or 12 for monthly): ``ann_return`` is the
    group's annualised return of ``ev.group_summary``, ``ann_volatility = std(R, ddof=1) ·
    sqrt(ppy)``, ``sharpe = mean(R) · ppy / ann_volatility``, drawdown of the compounded path
    at period ends.
    """
    names = ev.summary["factor"].to_list() if factor is None else [factor]
    rows: list[dict] = []
    for f in names:
        s = _check_factor(ev, f)
        _, navs = _nav_series(ev, f)
        held = _held_anything(ev, f)
        if not held:
            navs = {}
        for key in ("long", "short", "long_short", "benchmark", "excess"):
            v = navs.get(key, np.zeros(0))
            ann, vol, sh, mdd, n = _daily_stats(v)
            rows.append(
                {
                    "factor": f,
                    "series": key,
                    "ann_return": ann,
                    "ann_volatility": vol,
                    "sharpe": sh,
                    "max_drawdown": mdd,
                    "n_days": n,
                }
            )
        reb = str(s.get("rebalance"))
        ppy = 12.0 if reb == "month" else TRADING_DAYS_PER_YEAR / float(reb)
        gs = ev.group_summary.filter(pl.col("factor") == f)
        ann_by_group = dict(zip(gs["group"].to_list(), gs["ann_return"].to_list(), strict=True))
        for k, part in _groups(ev, f).group_by("group", maintain_order=True):
            grp = int(k[0])  # type: ignore[arg-type]
            r = _floats(part["ret"])
            r = r[np.isfinite(r)] if held else np.zeros(0)
            vol = float(r.std(ddof=1)) * math.sqrt(ppy) if len(r) > 1 else math.nan
            sh = float(r.mean()) * ppy / vol if math.isfinite(vol) and vol > 0 else math.nan
            full = np.concatenate(([1.0], np.cumprod(1.0 + r)))
            mdd = float(np.min(full / np.maximum.accumulate(full) - 1.0)) if len(r) else math.nan
            ann = ann_by_group.get(grp) if held else None
            rows.append(
                {
                    "factor": f,
                    "series": f"group_{grp}",
                    "ann_return": math.nan if ann is None else ann,
                    "ann_volatility": vol,
                    "sharpe": sh,
                    "max_drawdown": mdd,
                    "n_days": None,
                }
            )
    floats = [c for c, t in STATS_SCHEMA.items() if t == pl.Float64]
    return pl.DataFrame(rows, schema=STATS_SCHEMA).with_columns(pl.col(floats).fill_nan(None))

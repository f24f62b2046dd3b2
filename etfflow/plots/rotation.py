"""Figures of an industry rotation run (:class:`~etfflow.backtest.rotation.result.RotationResult`),
as matplotlib ``Figure`` objects built without ``pyplot`` (docs/reports.md).

- :func:`nav` — a strategy's NAV, its equal-weight benchmark and the relative NAV
  (``nav / benchmark_nav``), with the relative drawdown shaded below;
- :func:`flow_groups` — NAVs of the weekly flow quantile groups and of their long-short;
- :func:`regimes` — the size and style ratios with their one-sided HP trends, regime-1 weeks
  (large-cap, growth) shaded;
- :func:`divergence` — the latest month's ETF-minus-active share divergence by industry, and
  the monthly issuance heat (hot months coloured);
- :func:`holdings_mix` — the composite's holdings by sector and its per-industry hit rate;
- :func:`report_figures` — the set the HTML report (:mod:`etfflow.backtest.rotation.report`)
  embeds, keyed as :data:`REPORT_FIGURES`.

Every panel reads only the frames of the result (their columns are declared in
:data:`~etfflow.backtest.rotation.result.SCHEMAS`) and draws "no values" when its table is
empty or all-null. Labels are bilingual when a CJK font is installed (:class:`Style`), English
otherwise; industry and sector names are then drawn in English too (:func:`names`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import matplotlib as mpl
import numpy as np
import polars as pl
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from etfflow.backtest.rotation.result import RotationResult
from etfflow.backtest.rotation.sectors import english
from etfflow.plots.panels import drawdown, drawdown_axis
from etfflow.plots.style import (
    COLORS,
    Style,
    apply_font,
    date_axis,
    empty,
    fmt_pct,
    grid,
    new_figure,
    pct_axis,
)

__all__ = [
    "REPORT_FIGURES",
    "divergence",
    "flow_groups",
    "holdings_mix",
    "nav",
    "quiet_glyphs",
    "regimes",
    "report_figures",
]

#: Figures of the HTML report and their sizes (inches).
REPORT_FIGURES: dict[str, tuple[float, float]] = {
    "nav": (11.0, 4.6),
    "flow": (11.0, 3.6),
    "regimes": (11.0, 4.4),
    "divergence": (11.0, 8.4),
    "mix": (11.0, 3.8),
}

#: Labels of the regime pairs: (title, regime-1 label, regime-0 label), each (zh, en).
PAIR_LABELS: dict[str, tuple[tuple[str, str], tuple[str, str], tuple[str, str]]] = {
    "size": (("大小盘 (沪深300 / 中证1000)", "size (large / small)"), ("大盘", "large"),
             ("小盘", "small")),
    "style": (("成长价值 (国证成长 / 国证价值)", "style (growth / value)"), ("成长", "growth"),
              ("价值", "value")),
}  # fmt: skip

_REGIME_SHADE = "#f3c98b"


# --------------------------------------------------------------------------- data access


def _floats(s: pl.Series) -> np.ndarray:
    return s.cast(pl.Float64).fill_null(math.nan).to_numpy().astype(np.float64)


def _dates(s: pl.Series) -> np.ndarray:
    return s.cast(pl.Date).to_numpy().astype("datetime64[D]")


def strategy_nav(result: RotationResult, strategy: str) -> pl.DataFrame:
    """Rows of ``nav`` for ``strategy`` with finite values, by date."""
    return (
        result["nav"]
        .filter(pl.col("strategy") == strategy)
        .drop_nulls(["nav", "benchmark_nav"])
        .filter(pl.col("nav").is_finite() & pl.col("benchmark_nav").is_finite())
        .sort("date")
    )


def summary_row(result: RotationResult, strategy: str, period: str = "all") -> dict:
    """The ``summary`` row of ``strategy`` for ``period`` (empty dict when absent)."""
    rows = result["summary"].filter((pl.col("strategy") == strategy) & (pl.col("period") == period))
    return rows.row(0, named=True) if rows.height else {}


def flow_group_names(result: RotationResult) -> list[str]:
    """``flow_q1`` … ``flow_qK`` present in ``nav``, by group number."""
    names = {s for s in result["nav"]["strategy"].unique().to_list() if s and s[:6] == "flow_q"}
    return sorted((s for s in names if s[6:].isdigit()), key=lambda s: int(s[6:]))


def latest_divergence(result: RotationResult) -> tuple[object, pl.DataFrame]:
    """The latest month with a divergence value and its rows (industry, divergence, source),
    by divergence descending; ``(None, empty)`` when there is none."""
    a = result["active_shares"].filter(
        pl.col("divergence").is_not_null() & pl.col("divergence").is_finite()
    )
    if a.height == 0:
        return None, a
    last = a["date"].max()
    return last, a.filter(pl.col("date") == last).sort(
        "divergence", "industry", descending=[True, False]
    )


def names(style: Style, values: list[str]) -> list[str]:
    """Industry / sector names as drawn: as given with a CJK font, English without one
    (:func:`~etfflow.backtest.rotation.sectors.english`; an unknown name stays as given)."""
    return values if style.font else [english(v) for v in values]


#: ``rel / cummax(rel) - 1`` over the finite values (NaN elsewhere): the drawdown of a relative
#: NAV, the same function as the factor report's.
relative_drawdown = drawdown


# --------------------------------------------------------------------------- panels


def nav_panel(result: RotationResult, strategy: str, style: Style, ax: Axes, dd: Axes) -> None:
    df = strategy_nav(result, strategy)
    if df.height == 0:
        empty(ax, style)
        empty(dd, style)
        return
    d = _dates(df["date"])
    v, b = _floats(df["nav"]), _floats(df["benchmark_nav"])
    rel = v / b
    ax.plot(
        d,
        b,
        color=COLORS["benchmark"],
        lw=1.1,
        ls="--",
        label=style.label("行业等权", "equal weight"),
    )
    ax.plot(d, rel, color=COLORS["excess"], lw=1.1, label=style.label("相对净值", "relative"))
    ax.plot(d, v, color=COLORS["long_short"], lw=2.0, label=style.label("策略", "strategy"))
    ax.axhline(1.0, color=COLORS["zero"], lw=0.8)
    s = summary_row(result, strategy)
    ax.set_title(
        style.label("净值", "NAV")
        + f"  ·  {style.label('年化', 'ann.')} {fmt_pct(s.get('annual_return'))}"
        + f"  ·  {style.label('超额', 'excess')} {fmt_pct(s.get('excess_return'))}"
        + f"  ·  {style.label('相对回撤', 'relative max DD')} "
        + fmt_pct(s.get("relative_max_drawdown")),
        loc="left",
        fontsize=10,
    )
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncols=3)
    grid(ax)
    drawdown_axis(dd, d, relative_drawdown(rel), style.label("相对回撤", "rel. DD"))


def flow_panel(result: RotationResult, style: Style, ax: Axes) -> None:
    names = flow_group_names(result)
    frames = {n: strategy_nav(result, n) for n in [*names, "flow_ls"]}
    if not any(f.height for f in frames.values()):
        empty(ax, style)
        return
    cmap = colormaps["RdYlGn"]
    k = len(names)
    for i, n in enumerate(names):
        f = frames[n]
        if f.height:
            ax.plot(_dates(f["date"]), _floats(f["nav"]), color=cmap(i / max(k - 1, 1)),
                    lw=1.1, label=style.label(f"第{n[6:]}组", f"Q{n[6:]}"))  # fmt: skip
    if names and frames[names[0]].height:
        f = frames[names[0]]
        ax.plot(_dates(f["date"]), _floats(f["benchmark_nav"]), color=COLORS["benchmark"],
                lw=1.0, ls="--", label=style.label("行业等权", "equal weight"))  # fmt: skip
    f = frames["flow_ls"]
    if f.height:
        ax.plot(_dates(f["date"]), _floats(f["nav"]), color=COLORS["long_short"], lw=2.0,
                label=style.label("多空", "long-short"))  # fmt: skip
    ax.axhline(1.0, color=COLORS["zero"], lw=0.8)
    ax.set_title(
        style.label("短期资金流入流出分组净值", "Weekly flow quantile NAVs")
        + f"  ·  {style.label('第1组 = 流出最多', 'Q1 = largest outflow')}",
        loc="left",
        fontsize=10,
    )
    ax.legend(loc="upper left", fontsize=7, frameon=False, ncols=min(k + 2, 8))
    grid(ax)
    date_axis(ax)


def regime_panel(result: RotationResult, pair: str, style: Style, ax: Axes) -> None:
    df = result["regimes"].filter(pl.col("pair") == pair).sort("date")
    ratio = _floats(df["ratio"]) if df.height else np.empty(0)
    title, one, zero = PAIR_LABELS.get(pair, ((pair, pair), ("1", "1"), ("0", "0")))
    if not np.isfinite(ratio).any():
        empty(ax, style)
        ax.set_title(style.label(*title), loc="left", fontsize=10)
        return
    d = _dates(df["date"])
    reg = df["regime"].cast(pl.Float64).fill_null(math.nan).to_numpy()
    ax.plot(d, ratio, color=COLORS["benchmark"], lw=0.9, label=style.label("比值", "ratio"))
    ax.plot(d, _floats(df["trend"]), color=COLORS["long_short"], lw=1.6,
            label=style.label("单边HP趋势", "one-sided HP trend"))  # fmt: skip
    ax.fill_between(d, 0, 1, where=reg == 1, step="post", transform=ax.get_xaxis_transform(),
                    color=_REGIME_SHADE, alpha=0.45, lw=0,
                    label=style.label(f"{one[0]}占优", f"{one[1]} regime"))  # fmt: skip
    last = reg[np.isfinite(reg)]
    now = (one if last[-1] == 1 else zero) if len(last) else ("–", "–")
    ax.set_title(
        style.label(*title) + f"  ·  {style.label('最新', 'latest')}: {style.label(*now)}",
        loc="left",
        fontsize=10,
    )
    ax.legend(loc="upper left", fontsize=7, frameon=False, ncols=3)
    grid(ax)
    date_axis(ax)


def divergence_panel(result: RotationResult, style: Style, ax: Axes) -> None:
    when, df = latest_divergence(result)
    if df.height == 0:
        empty(ax, style)
        ax.set_title(style.label("持仓分歧度", "Divergence"), loc="left", fontsize=10)
        return
    x = _floats(df["divergence"])
    labels = names(style, df["industry"].to_list())
    y = np.arange(len(x))[::-1]
    ax.barh(y, x, color=[COLORS["pos"] if v > 0 else COLORS["neg"] for v in x], height=0.7)
    ax.set_yticks(y, labels, fontsize=max(5.0, min(8.0, 240.0 / max(len(x), 1))))
    ax.axvline(0.0, color=COLORS["zero"], lw=0.8)
    src = sorted({str(s) for s in df["source"].drop_nulls().to_list()})
    ax.set_title(
        style.label("ETF − 主动权益 持仓占比分歧度", "ETF minus active share")
        + f"  ·  {when}"
        + (f" ({', '.join(src)})" if src else ""),
        loc="left",
        fontsize=10,
    )
    pct_axis(ax, "x")
    grid(ax)


def divergence_history_panel(result: RotationResult, style: Style, ax: Axes) -> None:
    """Industries × month-ends: ETF share − active share, coloured around 0."""
    df = result["active_shares"].filter(pl.col("divergence").is_not_null())
    title = style.label("持仓分歧度 · 按月", "Divergence by month")
    if df.height == 0:
        empty(ax, style)
        ax.set_title(title, loc="left", fontsize=10)
        return
    wide = df.pivot(on="date", index="industry", values="divergence", sort_columns=True).sort(
        "industry"
    )
    months = wide.columns[1:]
    z = wide.drop("industry").to_numpy().astype(np.float64)
    lim = float(np.nanmax(np.abs(z))) or 1.0
    img = ax.imshow(z, aspect="auto", cmap="RdYlGn", vmin=-lim, vmax=lim, interpolation="none")
    labels = names(style, wide["industry"].to_list())
    ax.set_yticks(np.arange(len(labels)), labels, fontsize=max(4.5, min(7.0, 200.0 / len(labels))))
    step = max(1, math.ceil(len(months) / 10))
    ticks = np.arange(0, len(months), step)
    ax.set_xticks(ticks, [str(months[i])[:7] for i in ticks], fontsize=7)
    bar = ax.figure.colorbar(img, ax=ax, fraction=0.03, pad=0.01, shrink=0.9)
    bar.ax.yaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0, decimals=0))
    bar.ax.tick_params(labelsize=7)
    ax.set_title(title, loc="left", fontsize=10)


def heat_panel(result: RotationResult, style: Style, ax: Axes) -> None:
    df = result["issuance"].filter(pl.col("heat").is_not_null() & pl.col("heat").is_finite())
    df = df.sort("month")
    if df.height == 0:
        empty(ax, style)
        ax.set_title(style.label("新发热度", "Issuance heat"), loc="left", fontsize=10)
        return
    d = _dates(df["month"])
    h = _floats(df["heat"])
    hot = df["hot"].fill_null(False).to_numpy().astype(bool)
    ax.bar(d, h, width=20, color=np.where(hot, COLORS["long"], COLORS["bar"]).tolist())
    ax.axhline(0.0, color=COLORS["zero"], lw=0.8)
    ax.set_title(
        style.label("新发热度 (ETF − 主动, 环比)", "Issuance heat (ETF − active MoM)")
        + f"  ·  {style.label('橙色 = 热', 'orange = hot')}",
        loc="left",
        fontsize=10,
    )
    pct_axis(ax)
    grid(ax)
    date_axis(ax)


def mix_panel(result: RotationResult, style: Style, ax: Axes) -> None:
    df = result["sector_mix"].filter(pl.col("share").is_not_null()).sort("share", descending=True)
    if df.height == 0:
        empty(ax, style)
        ax.set_title(style.label("历史持仓板块分布", "Sector mix"), loc="left", fontsize=10)
        return
    x = np.arange(df.height)
    v = _floats(df["share"])
    ax.bar(x, v, color=COLORS["bar_long"], width=0.62)
    ax.set_xticks(x, names(style, df["sector"].to_list()), fontsize=7, rotation=30, ha="right")
    for i, s in zip(x, v, strict=True):
        ax.annotate(fmt_pct(float(s)), (i, s), xytext=(0, 3), textcoords="offset points",
                    ha="center", fontsize=7)  # fmt: skip
    ax.margins(y=0.15)
    ax.set_title(
        style.label("历史持仓板块分布", "Sector mix of the holdings"), loc="left", fontsize=10
    )
    pct_axis(ax)
    grid(ax)


def hits_panel(result: RotationResult, style: Style, ax: Axes) -> None:
    df = result["industry_hits"].filter(pl.col("hit_rate").is_not_null())
    df = df.sort("hit_rate", "industry", descending=[True, False])
    if df.height == 0:
        empty(ax, style)
        ax.set_title(style.label("行业持仓胜率", "Hit rate by industry"), loc="left", fontsize=10)
        return
    x = np.arange(df.height)
    v = _floats(df["hit_rate"])
    ax.bar(x, v, color=[COLORS["pos"] if h > 0.5 else COLORS["bar"] for h in v], width=0.7)
    size = max(5.0, min(8.0, 240.0 / max(df.height, 1)))
    ax.set_xticks(x, names(style, df["industry"].to_list()), rotation=90, fontsize=size)
    ax.axhline(0.5, color=COLORS["zero"], lw=0.8, ls="--")
    ax.set_ylim(0, 1)
    ax.set_title(
        style.label("行业持仓超额胜率", "Hit rate vs equal weight, by industry"),
        loc="left",
        fontsize=10,
    )
    pct_axis(ax)
    grid(ax)


# --------------------------------------------------------------------------- figures


#: Figure margins in inches (left, right, top, bottom); fixed margins instead of a
#: constrained layout, which costs more than the drawing on these small figures.
_MARGINS = (0.7, 0.25, 0.35, 0.45)


def _figure(
    size: tuple[float, float],
    cjk: bool | None,
    draw: Callable[[Figure, Style], None],
    *,
    margins: tuple[float, float, float, float] = _MARGINS,
    wspace: float = 0.2,
    hspace: float = 0.2,
) -> Figure:
    style = Style(cjk)
    fig = new_figure(style, size, layout=None)
    w, h = size
    left, right, top, bottom = margins
    fig.subplots_adjust(
        left=left / w,
        right=1 - right / w,
        top=1 - top / h,
        bottom=bottom / h,
        wspace=wspace,
        hspace=hspace,
    )
    with mpl.rc_context(style.rc):  # type: ignore[arg-type]
        draw(fig, style)
    for ax in fig.axes:  # ticks are made at draw time: fix their size now
        ax.tick_params(labelsize=8)
    apply_font(fig, style)
    return fig


def nav(
    result: RotationResult,
    *,
    strategy: str = "composite",
    size: tuple[float, float] = REPORT_FIGURES["nav"],
    cjk: bool | None = None,
) -> Figure:
    """A strategy's NAV against its equal-weight benchmark, the relative NAV and its drawdown.

    Parameters
    ----------
    result
        A rotation result.
    strategy
        One of ``result["nav"]["strategy"]`` (``composite``, ``style``, ``divergence``,
        ``flow_q1`` …).
    size
        Figure size in inches.
    cjk
        Bilingual labels: None = when a CJK font is installed, True = require one, False =
        English only.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: NAV, benchmark NAV and relative NAV ``nav / benchmark_nav`` (1 on the first
        day); below, the relative drawdown ``rel / cummax(rel) - 1`` (decimal, ≤ 0). A strategy
        without NAV rows draws "no values".
    """

    def draw(fig: Figure, style: Style) -> None:
        ax, dd = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.2])
        nav_panel(result, strategy, style, ax, dd)

    return _figure(size, cjk, draw, hspace=0.08)


def flow_groups(
    result: RotationResult,
    *,
    size: tuple[float, float] = REPORT_FIGURES["flow"],
    cjk: bool | None = None,
) -> Figure:
    """NAVs of the flow quantile groups ``flow_q1`` … ``flow_qK``, their weekly equal-weight
    benchmark and the long-short ``flow_ls`` (parameters as for :func:`nav`)."""
    return _figure(size, cjk, lambda fig, style: flow_panel(result, style, fig.add_subplot()))


def regimes(
    result: RotationResult,
    *,
    size: tuple[float, float] = REPORT_FIGURES["regimes"],
    cjk: bool | None = None,
) -> Figure:
    """The size and style ratios with their one-sided HP trends; weeks in regime 1 (large-cap,
    growth) shaded (parameters as for :func:`nav`)."""

    def draw(fig: Figure, style: Style) -> None:
        a, b = fig.subplots(2, 1, sharex=False)
        regime_panel(result, "size", style, a)
        regime_panel(result, "style", style, b)

    return _figure(size, cjk, draw, hspace=0.5)


def divergence(
    result: RotationResult,
    *,
    size: tuple[float, float] = REPORT_FIGURES["divergence"],
    cjk: bool | None = None,
) -> Figure:
    """Top left: the latest month's divergence (ETF share − active share) by industry; top
    right: the monthly issuance heat, hot months coloured; below: the divergence of every
    industry by month (green: ETFs heavier). Parameters as for :func:`nav`."""

    def draw(fig: Figure, style: Style) -> None:
        grid_spec = fig.add_gridspec(2, 2, width_ratios=[1, 1.3], hspace=0.35)
        divergence_panel(result, style, fig.add_subplot(grid_spec[0, 0]))
        heat_panel(result, style, fig.add_subplot(grid_spec[0, 1]))
        divergence_history_panel(result, style, fig.add_subplot(grid_spec[1, :]))

    return _figure(size, cjk, draw, margins=(1.5, 0.55, 0.35, 0.45), wspace=0.22)


def holdings_mix(
    result: RotationResult,
    *,
    size: tuple[float, float] = REPORT_FIGURES["mix"],
    cjk: bool | None = None,
) -> Figure:
    """Left: the composite's holdings by sector (share of holding slots); right: each held
    industry's hit rate (share of its holding periods beating equal weight), 50 % line
    (parameters as for :func:`nav`)."""

    def draw(fig: Figure, style: Style) -> None:
        a, b = fig.subplots(1, 2, width_ratios=[1, 2])
        mix_panel(result, style, a)
        hits_panel(result, style, b)

    return _figure(size, cjk, draw, margins=(0.7, 0.25, 0.35, 1.35), wspace=0.15)


def report_figures(result: RotationResult, *, cjk: bool | None = None) -> dict[str, Figure]:
    """The figures of the HTML report, keyed and sized as :data:`REPORT_FIGURES`.

    Parameters
    ----------
    result
        A rotation result.
    cjk
        As for :func:`nav`.

    Returns
    -------
    dict[str, matplotlib.figure.Figure]
        ``nav`` (the composite), ``flow``, ``regimes``, ``divergence``, ``mix``.

    Examples
    --------
    >>> from etfflow.backtest.rotation.params import RotationParams
    >>> from etfflow.backtest.rotation.result import SCHEMAS, RotationResult, empty
    >>> r = RotationResult(RotationParams(), {k: empty(k) for k in SCHEMAS})
    >>> figs = report_figures(r, cjk=False)
    >>> list(figs) == list(REPORT_FIGURES), figs["nav"].axes[0].texts[0].get_text()
    (True, 'no values')
    """
    return {
        "nav": nav(result, cjk=cjk),
        "flow": flow_groups(result, cjk=cjk),
        "regimes": regimes(result, cjk=cjk),
        "divergence": divergence(result, cjk=cjk),
        "mix": holdings_mix(result, cjk=cjk),
    }


@contextmanager
def quiet_glyphs() -> Iterator[None]:
    """Silence matplotlib's "Glyph … missing from font" warnings inside the block.

    An industry name without an English name (another classification) is drawn as given;
    without a CJK font matplotlib warns once per glyph when it lays the text out, although the
    SVG keeps the text as text and the browser draws it with the page's fonts.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from")
        yield

"""The public figures: each takes an :class:`~etfflow.backtest.engine.Evaluation` and a factor
name and returns a new matplotlib :class:`~matplotlib.figure.Figure` (no ``pyplot``, no global
state). :func:`page_figures` gives the set the HTML report embeds, drawn by the same panels."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from etfflow.backtest.engine import Evaluation
from etfflow.plots import panels as P
from etfflow.plots.style import IC_MA_WINDOW, Style, apply_font, new_figure

__all__ = [
    "PAGE_FIGURES",
    "group_navs",
    "group_returns",
    "ic_histogram",
    "nav",
    "page_figures",
    "rank_ic",
    "tear_sheet",
    "turnover",
]


def _single(
    draw: Callable[[Evaluation, str, dict, Style, Axes], None],
    ev: Evaluation,
    factor: str,
    *,
    size: tuple[float, float],
    cjk: bool | None,
) -> Figure:
    s = P.check_factor(ev, factor)
    style = Style(cjk)
    fig = new_figure(style, size, layout="constrained")
    ax = fig.add_subplot()
    draw(ev, factor, s, style, ax)
    fig.suptitle(factor, x=0.01, ha="left", fontsize=11, fontweight="bold")
    apply_font(fig, style)
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
    s = P.check_factor(ev, factor)
    style = Style(cjk)
    fig = new_figure(style, size, layout="constrained")
    ax, dd = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    P.nav_panel(ev, factor, s, style, ax, dd)
    fig.suptitle(factor, x=0.01, ha="left", fontsize=11, fontweight="bold")
    apply_font(fig, style)
    return fig


def group_returns(
    ev: Evaluation, factor: str, *, size: tuple[float, float] = (8.0, 4.0), cjk: bool | None = None
) -> Figure:
    """Annualised return of each group (1 = lowest factor values); long group dark, short
    group red, the benchmark's annualised return dashed. Parameters as :func:`nav`."""
    return _single(P.group_panel, ev, factor, size=size, cjk=cjk)


def group_navs(
    ev: Evaluation, factor: str, *, size: tuple[float, float] = (10.0, 4.5), cjk: bool | None = None
) -> Figure:
    """Cumulative net return of every group, compounded per holding period and plotted at
    each period's exit day (0 at the first trade day; ``ev.groups`` and ``ev.periods``).
    Parameters as :func:`nav`."""
    return _single(P.group_nav_panel, ev, factor, size=size, cjk=cjk)


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

    def draw(ev: Evaluation, f: str, s: dict, st: Style, ax: Axes) -> None:
        P.ic_panel(ev, f, s, st, ax, window)

    return _single(draw, ev, factor, size=size, cjk=cjk)


def ic_histogram(
    ev: Evaluation, factor: str, *, size: tuple[float, float] = (6.0, 4.0), cjk: bool | None = None
) -> Figure:
    """Histogram of the per-period Rank IC with its mean, standard deviation (ddof 1) and
    t-statistic ``mean / std · sqrt(n)`` (no autocorrelation correction). Parameters as
    :func:`nav`."""

    def draw(ev: Evaluation, f: str, s: dict, st: Style, ax: Axes) -> None:
        P.ic_hist_panel(ev, f, st, ax)

    return _single(draw, ev, factor, size=size, cjk=cjk)


def turnover(
    ev: Evaluation, factor: str, *, size: tuple[float, float] = (10.0, 3.5), cjk: bool | None = None
) -> Figure:
    """Share of new names in the long and short groups at each rebalance, from the second
    period on (the first buys everything). Parameters as :func:`nav`."""
    return _single(P.turnover_panel, ev, factor, size=size, cjk=cjk)


def tear_sheet(
    ev: Evaluation, factor: str, *, width: float = 12.0, cjk: bool | None = None
) -> Figure:
    """One page with every chart of this module for ``factor`` (NAV and drawdown, group
    returns, IC histogram, Rank IC, cumulative group returns, turnover)."""
    s = P.check_factor(ev, factor)
    style = Style(cjk)
    fig = new_figure(style, (width, width * 1.45), layout="constrained")
    grid = fig.add_gridspec(6, 2, height_ratios=[3, 1, 2.4, 2.4, 2.4, 2.0])
    ax_nav = fig.add_subplot(grid[0, :])
    ax_dd = fig.add_subplot(grid[1, :], sharex=ax_nav)
    P.nav_panel(ev, factor, s, style, ax_nav, ax_dd)
    P.group_panel(ev, factor, s, style, fig.add_subplot(grid[2, 0]))
    P.ic_hist_panel(ev, factor, style, fig.add_subplot(grid[2, 1]))
    P.ic_panel(ev, factor, s, style, fig.add_subplot(grid[3, :]), IC_MA_WINDOW)
    P.group_nav_panel(ev, factor, s, style, fig.add_subplot(grid[4, :]))
    P.turnover_panel(ev, factor, s, style, fig.add_subplot(grid[5, :]))
    fig.suptitle(factor, x=0.01, ha="left", fontsize=13, fontweight="bold")
    apply_font(fig, style)
    return fig


# --------------------------------------------------------------------------- the report's set

#: The figures of one factor in the HTML report: key -> (width, height) in inches. Widths
#: match the page (13 in ≈ the 1,300 px content column at 100 %), so the text is drawn at
#: about the size of the page's own text.
PAGE_FIGURES: dict[str, tuple[float, float]] = {
    "nav": (13.0, 4.6),
    "group_returns": (6.4, 3.3),
    "rank_ic": (6.4, 3.3),
    "ic_histogram": (6.4, 3.0),
    "turnover": (6.4, 3.0),
    "group_navs": (13.0, 3.4),
}

#: Margins (inches: left, right, top, bottom) of the report's figures. Fixed margins instead of
#: the constrained layout of the public figures: the same picture at a third of the time,
#: which counts for a page with dozens of factors.
_MARGINS = (0.75, 0.25, 0.42, 0.5)


def page_figures(ev: Evaluation, factor: str, *, cjk: bool | None = None) -> dict[str, Figure]:
    """The figures the HTML report shows for ``factor``, keyed as :data:`PAGE_FIGURES`.

    The same panels as :func:`nav`, :func:`group_returns`, :func:`rank_ic`,
    :func:`ic_histogram`, :func:`turnover` and :func:`group_navs`, without the factor name
    as a title (the page's section header carries it), sized for the page, 8 pt tick labels.
    """
    s = P.check_factor(ev, factor)
    style = Style(cjk)
    draw: dict[str, Callable[[Axes], None]] = {
        "group_returns": lambda ax: P.group_panel(ev, factor, s, style, ax),
        "rank_ic": lambda ax: P.ic_panel(ev, factor, s, style, ax, IC_MA_WINDOW),
        "ic_histogram": lambda ax: P.ic_hist_panel(ev, factor, style, ax),
        "turnover": lambda ax: P.turnover_panel(ev, factor, s, style, ax),
        "group_navs": lambda ax: P.group_nav_panel(ev, factor, s, style, ax),
    }
    out: dict[str, Figure] = {}
    for key, (w, h) in PAGE_FIGURES.items():
        fig = new_figure(style, (w, h), layout=None)
        left, right, top, bottom = _MARGINS
        fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h)
        with mpl.rc_context(style.rc):  # type: ignore[arg-type]
            if key == "nav":
                ax, dd = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
                fig.subplots_adjust(hspace=0.08)
                P.nav_panel(ev, factor, s, style, ax, dd)
            else:
                draw[key](fig.add_subplot())
        for ax in fig.axes:  # ticks are made at draw time: fix their size now
            ax.tick_params(labelsize=8)
        apply_font(fig, style)
        out[key] = fig
    return out

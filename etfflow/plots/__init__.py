"""Tear-sheet figures of a factor evaluation, as matplotlib ``Figure`` objects.

Every function takes an :class:`~etfflow.backtest.engine.Evaluation` (what
:func:`etfflow.backtest.engine.evaluate` or ``ef.evaluate`` returns, or what a stored backtest
reloads to) and a factor name, and returns a new :class:`matplotlib.figure.Figure` built
without ``pyplot``: no global state is touched, figures can be shown in a notebook, saved with
``savefig`` (SVG, PNG, PDF) or embedded in the HTML report (:mod:`etfflow.backtest.report`).

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
Colours (:data:`COLORS`, shared with the HTML report): the long-short line dark blue,
drawdowns and negative values red, positive values green.

Modules: ``style`` (colours, fonts, axis helpers, SVG export), ``panels`` (data access and
one drawing function per chart), ``figures`` (the public figures and the report's set),
``stats`` (:func:`series_stats`).
"""

from __future__ import annotations

from etfflow.plots.figures import (
    PAGE_FIGURES,
    group_navs,
    group_returns,
    ic_histogram,
    nav,
    page_figures,
    rank_ic,
    tear_sheet,
    turnover,
)
from etfflow.plots.stats import STATS_SCHEMA, series_stats
from etfflow.plots.style import CJK_FONTS, COLORS, IC_MA_WINDOW, cjk_font, to_svg

__all__ = [
    "CJK_FONTS",
    "COLORS",
    "IC_MA_WINDOW",
    "PAGE_FIGURES",
    "STATS_SCHEMA",
    "cjk_font",
    "group_navs",
    "group_returns",
    "ic_histogram",
    "nav",
    "page_figures",
    "rank_ic",
    "series_stats",
    "tear_sheet",
    "to_svg",
    "turnover",
]

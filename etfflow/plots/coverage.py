"""Figures of coverage over time (:mod:`etfflow.engine.coverage_series`; Huaan 2024-12 tables
30–33, 41–42), matplotlib ``Figure`` objects built without ``pyplot``:

- :func:`coverage_lines` — for one grouping, two panels side by side: the held share of
  stocks (数量覆盖) and the passive share of float cap (流通市值覆盖), one line per group
  (per pool for the market grouping).

Each panel draws "no values" when its table is empty. Labels are bilingual when a CJK font is
installed (:class:`~etfflow.plots.style.Style`), English otherwise.
"""

from __future__ import annotations

import polars as pl
from matplotlib.figure import Figure

from etfflow.plots.style import Style, apply_font, empty, finish_time_panel, new_figure

__all__ = ["coverage_lines"]

_TITLES = {
    "held_share": ("数量覆盖 (被ETF持有的股票占比)", "held share of stocks"),
    "passive_share": ("流通市值覆盖 (被动持股市值 / 流通市值)", "passive share of float cap"),
}


def coverage_lines(series: pl.DataFrame, style: Style, *, by: str = "group") -> Figure:
    """Two panels (held share, passive share) with one line per value of ``by`` (``group``,
    or ``pool`` for the market rows of several pools)."""
    fig = new_figure(style, (11.0, 3.6), layout="constrained")
    axes = fig.subplots(1, 2)
    keys = sorted(set(series[by].to_list())) if series.height else []
    for ax, col in zip(axes, ("held_share", "passive_share"), strict=True):
        if not keys:
            empty(ax, style)
            ax.set_title(style.label(*_TITLES[col]), loc="left", fontsize=10)
            continue
        for k in keys:
            s = series.filter(pl.col(by) == k).sort("date")
            ax.plot(s["date"].to_list(), s[col].to_numpy(), linewidth=1.2, label=str(k))
        finish_time_panel(ax, style.label(*_TITLES[col]))
    apply_font(fig, style)
    return fig

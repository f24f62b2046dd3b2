"""Figure of several NAV series in one chart (:mod:`etfflow.pipeline.compare`): one factor
across pools or universes (Huaan 2024-12 table 23), two factors side by side (table 53), and
each line's NAV relative to the first (the sub-universe ratio of tables 35–38).

:func:`compare_navs` draws two panels: the NAVs, and each NAV divided by the first line's on
the days both exist. Labels are bilingual when a CJK font is installed, English otherwise.
"""

from __future__ import annotations

import polars as pl
from matplotlib.figure import Figure

from etfflow.plots.style import Style, apply_font, date_axis, empty, grid, new_figure

__all__ = ["compare_navs"]


def compare_navs(navs: pl.DataFrame, style: Style, *, series: str = "long_short") -> Figure:
    """``navs``: ``line, date, nav`` rows (lines in their first-appearance order)."""
    fig = new_figure(style, (11.0, 6.0), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    lines = navs["line"].unique(maintain_order=True).to_list() if navs.height else []
    if not lines:
        empty(top, style)
        empty(bottom, style)
    else:
        base = navs.filter(pl.col("line") == lines[0]).select("date", pl.col("nav").alias("b"))
        for line in lines:
            s = navs.filter(pl.col("line") == line).sort("date")
            top.plot(s["date"].to_list(), s["nav"].to_numpy(), linewidth=1.2, label=line)
            r = s.join(base, on="date", how="inner").with_columns(ratio=pl.col("nav") / pl.col("b"))
            bottom.plot(r["date"].to_list(), r["ratio"].to_numpy(), linewidth=1.0, label=line)
        top.legend(loc="upper left", fontsize=8, frameon=False)
        for ax in (top, bottom):
            grid(ax)
            date_axis(ax)
    top.set_title(style.label(f"净值对比 ({series})", f"NAV, {series}"), loc="left", fontsize=10)
    bottom.set_title(
        style.label("相对第一条曲线的净值比", "NAV relative to the first line"),
        loc="left",
        fontsize=10,
    )
    apply_font(fig, style)
    return fig

"""Figure of the ETF sub-pool comparison (:mod:`etfflow.pipeline.subpools`; Kaiyuan 2024-09
tables 7–9, figures 18–23): bars per pool of the annualised RankICIR and of the long-short
annual return, for the stock factor and the level-1 industry factor side by side."""

from __future__ import annotations

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from etfflow.plots.style import COLORS, Style, apply_font, empty, grid, new_figure, pct_axis

__all__ = ["comparison_bars"]

#: (column, Chinese label, English label, percent axis) of each row of panels.
_ROWS = (
    ("rank_icir_annual", "RankICIR (年化)", "RankICIR (annualised)", False),
    ("long_short_ann_return", "多空年化收益", "long-short annual return", True),
)
_LEVELS = (("stock", "个股", "stock"), ("industry_l1", "一级行业", "level-1 industry"))


def comparison_bars(table: pl.DataFrame, style: Style) -> Figure:
    """A 2 × 2 grid: rows RankICIR and long-short return, columns stock and industry; one bar
    per pool in ``table``'s pool order (``table``: :data:`.pipeline.subpools.COMPARISON_SCHEMA`)."""
    fig = new_figure(style, (11.0, 6.0), layout="constrained")
    axes = fig.subplots(2, 2, squeeze=False)
    pools = list(dict.fromkeys(table["pool"].to_list()))
    for i, (col, zh, en, pct) in enumerate(_ROWS):
        for j, (level, lzh, len_) in enumerate(_LEVELS):
            ax = axes[i][j]
            t = table.filter(pl.col("level") == level)
            v = dict(zip(t["pool"].to_list(), t[col].to_list(), strict=True))
            h = np.array([np.nan if v.get(p) is None else float(v[p]) for p in pools])
            if not np.isfinite(h).any():
                empty(ax, style)
            else:
                x = np.arange(len(pools))
                colors = [COLORS["pos"] if y >= 0 else COLORS["neg"] for y in np.nan_to_num(h)]
                ax.bar(x, np.nan_to_num(h), color=colors)
                ax.axhline(0, color="#888", linewidth=0.6)
                ax.set_xticks(x, pools, rotation=30, ha="right", fontsize=8)
                if pct:
                    pct_axis(ax)
                grid(ax)
            ax.set_title(style.label(f"{lzh} {zh}", f"{len_}: {en}"), loc="left", fontsize=10)
    apply_font(fig, style)
    return fig

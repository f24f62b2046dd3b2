"""Figures of the market overview (:mod:`etfflow.engine.overview`), matplotlib ``Figure``
objects built without ``pyplot``:

- :func:`aum_by_category` — ETF AUM at each year end, stacked by category (Huaan table 5,
  Kaiyuan figure 2);
- :func:`aum_to_float_cap` — total ETF AUM / total float cap at each year end (Kaiyuan
  figure 3);
- :func:`top_inflows` — cumulative net inflow of the indices with the largest final
  cumulative inflow (Huaan table 29, Kaiyuan figure 5).

Each panel draws "no values" when its table is empty. Labels are bilingual when a CJK font is
installed (:class:`~etfflow.plots.style.Style`), English otherwise.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from etfflow.engine.overview import ranking
from etfflow.engine.schemas import ETF_CATEGORIES
from etfflow.plots.style import (
    COLORS,
    Style,
    apply_font,
    date_axis,
    empty,
    grid,
    new_figure,
    pct_axis,
)

__all__ = ["aum_by_category", "aum_to_float_cap", "top_inflows"]

#: 1 亿 CNY.
YI = 1e8

_CATEGORY_COLORS = {"broad": COLORS["long_short"], "sector": COLORS["long"], "style": "#2f8f5b"}
_CATEGORY_LABELS = {"broad": ("宽基", "broad"), "sector": ("行业主题", "sector"),
                    "style": ("风格策略", "style")}  # fmt: skip


def aum_by_category(by_year: pl.DataFrame, style: Style) -> Figure:
    """Stacked bars: AUM (亿 CNY) by category at each year end."""
    fig = new_figure(style, (11.0, 3.8), layout="constrained")
    ax = fig.add_subplot()
    t = by_year.filter(pl.col("category") != "all")
    years = sorted(set(t["year"].to_list()))
    if not years:
        empty(ax, style)
    else:
        x = np.arange(len(years))
        bottom = np.zeros(len(years))
        for c in ETF_CATEGORIES:
            s = t.filter(pl.col("category") == c).sort("year")
            v = dict(zip(s["year"].to_list(), s["aum"].to_list(), strict=True))
            h = np.array([(v.get(y) or 0.0) / YI for y in years])
            ax.bar(
                x,
                h,
                bottom=bottom,
                color=_CATEGORY_COLORS[c],
                label=style.label(*_CATEGORY_LABELS[c]),
            )
            bottom += h
        ax.set_xticks(x, [str(y) for y in years])
        ax.set_ylabel(style.label("亿元", "100m CNY"))
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        grid(ax)
    ax.set_title(style.label("ETF规模 (年末)", "ETF AUM at year end"), loc="left", fontsize=10)
    apply_font(fig, style)
    return fig


def aum_to_float_cap(vs_market: pl.DataFrame, style: Style) -> Figure:
    """Line: ETF AUM / total float cap at each year end."""
    fig = new_figure(style, (11.0, 3.2), layout="constrained")
    ax = fig.add_subplot()
    t = vs_market.drop_nulls("aum_to_float_cap").sort("date")
    if t.height == 0:
        empty(ax, style)
    else:
        ax.plot(
            t["date"].to_list(),
            t["aum_to_float_cap"].to_numpy(),
            marker="o",
            color=COLORS["long_short"],
            label=style.label("ETF规模 / 流通市值", "ETF AUM / float cap"),
        )
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        pct_axis(ax)
        grid(ax)
        date_axis(ax)
    ax.set_title(
        style.label("ETF规模占流通市值比例", "ETF AUM share of float cap"), loc="left", fontsize=10
    )
    apply_font(fig, style)
    return fig


def top_inflows(inflow: pl.DataFrame, style: Style, *, top: int = 10) -> Figure:
    """Lines: cumulative net inflow (亿 CNY) of the ``top`` indices by final cumulative inflow."""
    fig = new_figure(style, (11.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    if inflow.height == 0:
        empty(ax, style)
    else:
        codes = ranking(inflow)["index_code"].head(top).to_list()
        for code in codes:
            s = inflow.filter(pl.col("index_code") == code).sort("date")
            ax.plot(s["date"].to_list(), s["cumulative"].to_numpy() / YI, linewidth=1.2, label=code)
        ax.set_ylabel(style.label("亿元", "100m CNY"))
        ax.legend(loc="upper left", fontsize=7, frameon=False, ncol=2)
        grid(ax)
        date_axis(ax)
    ax.set_title(
        style.label(f"累计净流入前{top}指数", f"cumulative net inflow, top {top} indices"),
        loc="left",
        fontsize=10,
    )
    apply_font(fig, style)
    return fig

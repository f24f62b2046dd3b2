"""Figures of a study report (:mod:`etfflow.pipeline.study.report_html`), matplotlib
``Figure`` objects built without ``pyplot``:

- :func:`heatmap` — a table of numbers as a heat map: a diverging colour scale centred on 0
  (negative red, positive green: :data:`~etfflow.plots.style.COLORS`; ``reverse`` for
  metrics where less is better), the formatted value written in every cell, "–" on a grey
  cell without a value.

The study report draws two: a metric by grid value (rows × columns of
:func:`etfflow.pipeline.study.report.metric_pivot`) and the yearly Rank IC of each cell
(:func:`etfflow.pipeline.study.report.year_stability`). Labels are bilingual when a CJK font
is installed (:class:`~etfflow.plots.style.Style`), English otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.colors import LinearSegmentedColormap, TwoSlopeNorm
from matplotlib.figure import Figure

from etfflow.exceptions import EtfflowError
from etfflow.plots.style import COLORS, Style, apply_font, empty, new_figure

__all__ = ["diverging_cmap", "heatmap"]

#: Colour of a cell without a value.
MISSING = "#eef1f5"


def diverging_cmap(*, reverse: bool = False) -> LinearSegmentedColormap:
    """Negative red, 0 white, positive green (``reverse``: the other way round)."""
    ends = [COLORS["neg"], "#ffffff", COLORS["pos"]]
    return LinearSegmentedColormap.from_list("etfflow_div", ends[::-1] if reverse else ends)


def heatmap(
    values: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    style: Style,
    *,
    title: str,
    fmt: Callable[[float | None], str],
    reverse: bool = False,
) -> Figure:
    """A ``(rows, columns)`` array as a heat map with each value written in its cell.

    Parameters
    ----------
    values
        Float array, NaN where there is no value (drawn grey with "–").
    row_labels, col_labels
        One label per row / column.
    style
        Fonts and labels (:class:`~etfflow.plots.style.Style`).
    title
        Title drawn above the map, on the left.
    fmt
        Text of a value (e.g. ``0.0123 -> "1.23%"``).
    reverse
        Colour high values red and low values green (turnover).

    Raises
    ------
    EtfflowError
        When the labels do not match the shape of ``values``.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape != (len(row_labels), len(col_labels)):
        raise EtfflowError(
            f"heatmap: values of shape {v.shape} do not match {len(row_labels)} row and "
            f"{len(col_labels)} column labels"
        )
    n_r, n_c = v.shape
    width = min(2.6 + 1.05 * n_c + 0.07 * max((len(s) for s in row_labels), default=0), 16.0)
    fig = new_figure(style, (max(width, 5.0), 1.3 + 0.34 * max(n_r, 1)), layout="constrained")
    ax = fig.add_subplot()
    finite = np.isfinite(v)
    if not finite.any():
        empty(ax, style)
    else:
        scale = float(np.max(np.abs(v[finite]))) or 1.0
        norm = TwoSlopeNorm(vcenter=0.0, vmin=-scale, vmax=scale)
        cmap = diverging_cmap(reverse=reverse).with_extremes(bad=MISSING)
        ax.imshow(np.ma.masked_invalid(v), cmap=cmap, norm=norm, aspect="auto")
        size = 8 if n_c <= 10 else 6.5
        for i in range(n_r):
            for j in range(n_c):
                x = v[i, j] if finite[i, j] else None
                ink = "#ffffff" if x is not None and abs(x) > 0.6 * scale else COLORS["zero"]
                ax.text(j, i, fmt(x), ha="center", va="center", fontsize=size, color=ink)
        ax.set_xticks(np.arange(n_c), [str(s) for s in col_labels], fontsize=8)
        ax.set_yticks(np.arange(n_r), [str(s) for s in row_labels], fontsize=8)
        ax.tick_params(length=0)
        ax.xaxis.tick_top()
        if n_c > 6:
            for t in ax.get_xticklabels():
                t.set_rotation(30)
                t.set_horizontalalignment("left")
        for side in ax.spines.values():
            side.set_visible(False)
    ax.set_title(title, loc="left", fontsize=10, pad=22 if n_c <= 6 else 52)
    apply_font(fig, style)
    return fig

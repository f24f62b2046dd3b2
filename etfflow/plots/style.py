"""Colours, fonts and axis helpers shared by every figure of :mod:`etfflow.plots` and by the
HTML report (:mod:`etfflow.backtest.report` takes its colours from :data:`COLORS`).

Fonts: labels are bilingual (Chinese first, as in the research reports) when one of
:data:`CJK_FONTS` is installed, English only otherwise, so a machine without a CJK font never
draws empty boxes ("tofu") or warns once per missing glyph. ``ETFFLOW_PLOT_LANG=en`` forces
English. The lookup reads matplotlib's font list once per process (:func:`cjk_font`).
"""

from __future__ import annotations

import io
import math
import os
import re
from functools import lru_cache
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib import dates as mdates
from matplotlib import font_manager
from matplotlib import ticker as mticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from etfflow.exceptions import EtfflowError

#: Periods of the moving average drawn over the Rank IC bars.
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

#: The one colour table of the figures and the HTML report (its CSS and table tints).
#: The brief of the report, not the A-share convention: positive green, negative red.
COLORS: dict[str, str] = {
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
    "zero": "#3b4252",
    "pos": "#1e7b4a",
    "neg": "#c0392b",
}


@lru_cache(maxsize=1)
def _installed_fonts() -> frozenset[str]:
    """Family names matplotlib can use (read once; tests replace this function)."""
    return frozenset(f.name for f in font_manager.fontManager.ttflist)


def cjk_font() -> str | None:
    """The first installed font of :data:`CJK_FONTS`, or None (labels are then English only).

    ``ETFFLOW_PLOT_LANG=en`` in the environment forces English labels (returns None).
    """
    if os.environ.get("ETFFLOW_PLOT_LANG", "").lower() == "en":
        return None
    have = _installed_fonts()
    return next((f for f in CJK_FONTS if f in have), None)


class Style:
    """Labels and font settings for one figure (decided once, when the figure is made).

    ``cjk``: None = bilingual when a CJK font is installed, True = require one (EtfflowError
    otherwise), False = English only.
    """

    def __init__(self, cjk: bool | None) -> None:
        font = None if cjk is False else cjk_font()
        if cjk and font is None:
            raise EtfflowError(
                "plots: cjk=True but no CJK font is installed; install one of "
                f"{', '.join(CJK_FONTS[:4])} (e.g. apt-get install fonts-noto-cjk) "
                "or pass cjk=False"
            )
        self.font = font
        self.rc: dict[str, object] = {
            "font.family": ["sans-serif"],
            "axes.unicode_minus": False,
            "axes.titley": 1.0,
        }
        if font is not None:
            self.rc["font.sans-serif"] = [font, "DejaVu Sans"]

    def label(self, zh: str, en: str) -> str:
        """``"zh en"`` with a CJK font, ``en`` without."""
        return f"{zh} {en}" if self.font else en


def new_figure(style: Style, size: tuple[float, float], *, layout: str | None) -> Figure:
    """A pyplot-free figure made under the style's rc settings."""
    with mpl.rc_context(style.rc):  # type: ignore[arg-type]
        return Figure(figsize=size, layout=layout)  # type: ignore[arg-type]


def apply_font(fig: Figure, style: Style) -> None:
    """Set the figure's text to the chosen font (rc_context only covers creation)."""
    if style.font is None:
        return
    for text in fig.findobj(match=lambda a: hasattr(a, "set_fontfamily")):
        text.set_fontfamily([style.font, "DejaVu Sans"])  # type: ignore[attr-defined]


_XML_NOISE = re.compile(
    r'<\?xml[^>]*>|<!DOCTYPE[^>]*>|<metadata>.*?</metadata>|\s+xmlns(?::xlink)?="[^"]*"', re.S
)
_FONT_FAMILY = re.compile(r"font-family: [^;\"]*;?\s*")
_PATH_DATA = re.compile(r' d="([^"]*)"')
_GROUP_ID = re.compile(r'<g id="[^"]*">')
_DECIMALS = re.compile(r"(\d+\.\d\d)\d+")


def to_svg(fig: Figure, *, uid: str) -> str:
    """The figure as an ``<svg>`` element to inline in an HTML page; deterministic.

    Text stays text (``svg.fonttype = none``) without a font family, so the page's CSS font
    draws it (with the page's CJK fallbacks); ``uid`` salts the clip-path and marker ids and
    names the root element, so several figures share one page without colliding ids. The XML
    prolog, the RDF metadata and the namespace declarations (an HTML parser needs none) are
    left out, ``xlink:href`` becomes SVG 2's ``href``, the groups' ids (the same in every
    figure) go, the style sheet is scoped to ``#uid`` and path coordinates keep 2 decimals
    (1/100 pt).
    """
    buf = io.StringIO()
    rc: dict[str, Any] = {"svg.fonttype": "none", "svg.hashsalt": uid, "svg.id": uid}
    with mpl.rc_context(rc):  # type: ignore[arg-type]  # rc keys are checked at run time
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = _XML_NOISE.sub("", buf.getvalue())
    text = _FONT_FAMILY.sub("", text).replace("xlink:href=", "href=")
    text = _GROUP_ID.sub("<g>", text).replace('<style type="text/css">*{', f"<style>#{uid} *{{")
    return _PATH_DATA.sub(_round_path, text).strip()


def _round_path(m: re.Match[str]) -> str:
    return ' d="' + " ".join(_DECIMALS.sub(r"\1", m.group(1)).split()) + '"'


# --------------------------------------------------------------------------- axes


def empty(ax: Axes, style: Style) -> None:
    """Mark a panel that has nothing to draw."""
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


class PercentTicks(mticker.Formatter):
    """Decimal values as percent labels with the fewest decimals that show every tick exactly
    (``-5%, 0%, 5%``; ``-2.5%, 0.0%, 2.5%``): never two equal labels, no needless zeros."""

    def format_ticks(self, values: list[float]) -> list[str]:
        v = np.asarray(values, dtype=np.float64) * 100.0
        d = next((k for k in range(6) if np.allclose(np.round(v, k), v, rtol=0, atol=1e-9)), 6)
        return [f"{round(x, d) + 0.0:.{d}f}%" for x in v]

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self.format_ticks([x])[0]


def pct_axis(ax: Axes, axis: str = "y") -> None:
    """Percent tick labels (:class:`PercentTicks`) on the ``axis`` of ``ax``."""
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentTicks())


def date_axis(ax: Axes) -> None:
    loc = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def grid(ax: Axes) -> None:
    ax.grid(True, color=COLORS["grid"], linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def finish_time_panel(ax: Axes, title: str) -> None:
    """Title on the left, legend top left, percent y axis, grid and date x axis."""
    ax.set_title(title, loc="left", fontsize=10)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    pct_axis(ax)
    grid(ax)
    date_axis(ax)


def fmt_pct(x: object, digits: int = 1) -> str:
    """``0.1234 -> "12.3%"``; ``"–"`` for None or NaN; never ``"-0.0%"``."""
    if not (isinstance(x, float) and math.isfinite(x)):
        return "–"
    return f"{round(x * 100, digits) + 0.0:.{digits}f}%"


def fmt_num(x: object, digits: int = 2) -> str:
    return f"{x:.{digits}f}" if isinstance(x, float) and math.isfinite(x) else "–"

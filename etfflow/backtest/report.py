"""Self-contained HTML report of an :class:`~etfflow.backtest.engine.Evaluation`.

What the numbers mean: docs/methodology.md#59-whole-period-metrics and
docs/methodology.md#510-per-year-table.

:func:`render_html` turns the tables of one evaluation into a single HTML page: inline CSS,
inline SVG charts drawn here (no JavaScript library, no network, no matplotlib), a tiny inline
script for the "expand all" buttons. :func:`write_html` writes it atomically and
:func:`render_png` screenshots it with headless Chromium (for docs and quick looks).

Layout, after the header (title, run metadata, coverage, generation time):

- the summary table, one row per factor, in the columns of Huaan 2024-12 table 47;
- Rank IC and long-excess per calendar year across factors (Huaan 2024-12 tables 48–49);
- one collapsible section per factor (the first one open): long-short NAV with its drawdown
  shaded and the long / benchmark / excess NAVs, annualised return per group with the
  benchmark, Rank IC per period with its 12-period moving average, and the per-year table of
  Huaan 2024-12 table 59.

Colours follow the brief of the report, not the A-share convention: negative numbers red,
positive green (CSS classes ``neg`` / ``pos``).
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from etfflow._common import atomic_path
from etfflow.backtest.engine import Evaluation
from etfflow.backtest.metrics import rolling_mean
from etfflow.exceptions import EtfflowError

__all__ = ["find_chromium", "render_html", "render_png", "write_html"]

#: Periods of the moving average drawn over the Rank IC bars.
IC_MA_WINDOW = 12
#: Width (px) the page is laid out for; charts scale down below it.
PAGE_WIDTH = 1340
#: Browsers tried, in order, when ``render_png`` is not told which one to use.
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_CHROMIUM_HINT = "install Chromium: apt-get install chromium (or pass chromium='/path/to/chrome')"

Fmt = Callable[[float | None], str]

# --------------------------------------------------------------------------- formatting


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _pct(digits: int) -> Fmt:
    def f(x: float | None) -> str:
        return f"{x * 100:.{digits}f}%" if _finite(x) else "–"

    return f


def _num(digits: int) -> Fmt:
    def f(x: float | None) -> str:
        return f"{x:.{digits}f}" if _finite(x) else "–"

    return f


def _int(x: float | None) -> str:
    return f"{int(x)}" if _finite(x) else "–"


def _direction(x: float | None) -> str:
    return {1: "+1", -1: "-1"}.get(int(x), "–") if _finite(x) else "–"


PCT1, PCT2, NUM2 = _pct(1), _pct(2), _num(2)


def _sign(x: object) -> str:
    if not _finite(x) or x == 0:
        return ""
    return "pos" if x > 0 else "neg"  # type: ignore[operator]


def _td(x: float | None, fmt: Fmt, *, signed: bool = True, tint: float | None = None) -> str:
    """A numeric cell; ``signed`` colours the text, ``tint`` (the scale) shades the background."""
    cls = ["num"]
    if signed and _sign(x):
        cls.append(_sign(x))
    style = ""
    if tint and _finite(x) and x != 0:
        a = min(abs(x) / tint, 1.0) * 0.22  # type: ignore[arg-type]
        rgb = "30,123,74" if x > 0 else "192,57,43"  # type: ignore[operator]
        style = f' style="background:rgba({rgb},{a:.3f})"'
    return f'<td class="{" ".join(cls)}"{style}>{html.escape(fmt(x))}</td>'


def _th(label: str, sub: str = "", cls: str = "", *, keep: bool = False) -> str:
    """Header cell with an optional second line ``sub`` (``keep``: an empty line when blank,
    so that headers of one row line up)."""
    s = f"<small>{html.escape(sub) or '&nbsp;'}</small>" if sub or keep else ""
    c = f' class="{cls}"' if cls else ""
    return f"<th{c}>{html.escape(label)}{s}</th>"


def _day(d: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(d))


def _days(s: pl.Series) -> np.ndarray:
    """A Date column as int64 days since 1970."""
    return s.cast(pl.Int32).cast(pl.Int64).to_numpy()


def _floats(s: pl.Series) -> np.ndarray:
    """A numeric column as float64 with null -> NaN."""
    return s.cast(pl.Float64).fill_null(math.nan).to_numpy().astype(np.float64)


# --------------------------------------------------------------------------- SVG charts

_C = {
    "ls": "#1f3b63",
    "long": "#d9822b",
    "bench": "#8a8f98",
    "excess": "#2f8f5b",
    "dd": "rgba(192,57,43,0.16)",
    "bar": "#a9bfdc",
    "bar_long": "#1f3b63",
    "bar_short": "#c98b84",
    "ic_pos": "#7fa2cf",
    "ic_neg": "#e0a49c",
    "ma": "#d9822b",
    "grid": "#e6e9ef",
    "axis": "#9aa1ad",
    "zero": "#3b4252",
}


def _text_width(s: str, size: float) -> float:
    """Rough rendered width of ``s`` (CJK glyphs are square, Latin about 0.58 em)."""
    return sum(size * (1.0 if ord(c) >= 0x2E80 else 0.58) for c in s)


def _nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """Round tick values covering ``[lo, hi]`` with about ``n`` intervals (steps 1, 2, 2.5, 5)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo < 1e-12:
        pad = abs(hi) * 0.05 or 0.01
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw * (1 - 1e-9))
    t0 = math.floor(lo / step + 1e-9) * step
    t1 = math.ceil(hi / step - 1e-9) * step
    k = round((t1 - t0) / step)
    return t0 + step * np.arange(k + 1)


def _tick_labels(ticks: np.ndarray, *, percent: bool) -> list[str]:
    """Shortest fixed-decimal labels that tell the ticks apart exactly."""
    v = ticks * (100.0 if percent else 1.0)
    for d in range(10):
        if np.allclose(np.round(v, d), v, atol=1e-9, rtol=0):
            break
    out = [f"{0.0 if abs(x) < 1e-12 else x:.{d}f}" for x in v]
    return [s + "%" for s in out] if percent else out


def _date_ticks(
    d0: int, d1: int, max_ticks: int, *, ends: tuple[int, int] | None = None
) -> list[tuple[int, str]]:
    """Month starts inside ``[d0, d1]`` every 1, 2, 3, 6, 12, ... months (YYYY-MM labels).

    Fewer than two month starts (a span of weeks): the end dates ``ends`` (default ``d0``,
    ``d1``) as YYYY-MM-DD.
    """
    m0 = np.datetime64(int(d0), "D").astype("datetime64[M]")
    m1 = np.datetime64(int(d1), "D").astype("datetime64[M]")
    months = np.arange(m0, m1 + np.timedelta64(1, "M"))
    starts = months.astype("datetime64[D]").astype(np.int64)
    inside = months[(starts >= d0) & (starts <= d1)]
    sel = inside
    for step in (1, 2, 3, 6, 12, 24, 60, 120):
        sel = inside[inside.astype(np.int64) % step == 0]
        if len(sel) <= max(max_ticks, 2):
            break
    if len(sel) < 2:
        a, b = ends if ends is not None else (d0, d1)
        return [(int(d), _day(d).isoformat()) for d in ([a] if a == b else [a, b])]
    return [(int(m.astype("datetime64[D]").astype(np.int64)), str(m)[:7]) for m in sel]


def _path(xs: np.ndarray, ys: np.ndarray) -> str:
    """SVG path data through the finite points; a NaN breaks the line."""
    ok = np.isfinite(ys)
    parts: list[str] = []
    pen = False
    for x, y, good in zip(xs.tolist(), ys.tolist(), ok.tolist(), strict=True):
        if good:
            parts.append(f"{'L' if pen else 'M'}{x:.1f} {y:.1f}")
        pen = good
    return "".join(parts)


def _segments(ok: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of True in ``ok``."""
    edges = np.diff(np.concatenate(([0], ok.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()
    return list(zip(starts, stops, strict=True))


def _thin(n: int, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` evenly spaced points, first and last kept."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


@dataclass
class _Chart:
    """An SVG canvas with a plot area, y axis and legend; the caller draws the marks."""

    width: int
    height: int
    title: str
    subtitle: str = ""
    left: int = 58
    right: int = 18
    top: int = 46
    bottom: int = 30

    def __post_init__(self) -> None:
        self.x0, self.x1 = float(self.left), float(self.width - self.right)
        self.y0, self.y1 = float(self.top), float(self.height - self.bottom)  # y1 = bottom
        self.back: list[str] = []
        self.marks: list[str] = []
        self.front: list[str] = []
        self.ylo, self.yhi = 0.0, 1.0

    def y(self, v: np.ndarray | float) -> np.ndarray:
        return self.y1 - (np.asarray(v, dtype=np.float64) - self.ylo) / (self.yhi - self.ylo) * (
            self.y1 - self.y0
        )

    def y_axis(
        self, values: Sequence[float], *, percent: bool, zero: float | None, pad: float = 0.0
    ) -> None:
        """Scale the y axis to ``values`` (NaN ignored; ``pad`` = share of the range added on
        each side), draw the grid, tick labels and the zero line."""
        v = np.asarray([x for x in values if _finite(x)], dtype=np.float64)
        lo, hi = (float(v.min()), float(v.max())) if len(v) else (0.0, 1.0)
        lo, hi = lo - pad * (hi - lo), hi + pad * (hi - lo)
        n = max(3, min(6, int((self.y1 - self.y0) // 45)))
        ticks = _nice_ticks(lo, hi, n)
        self.ylo, self.yhi = float(ticks[0]), float(ticks[-1])
        for t, lab in zip(ticks, _tick_labels(ticks, percent=percent), strict=True):
            py = float(self.y(t))
            self.back.append(
                f'<line x1="{self.x0:.1f}" x2="{self.x1:.1f}" y1="{py:.1f}" y2="{py:.1f}" '
                f'stroke="{_C["grid"]}" stroke-width="1"/>'
                f'<text x="{self.x0 - 6:.1f}" y="{py + 3.5:.1f}" text-anchor="end">{lab}</text>'
            )
        if zero is not None and self.ylo <= zero <= self.yhi:
            pz = float(self.y(zero))
            self.front.append(
                f'<line x1="{self.x0:.1f}" x2="{self.x1:.1f}" y1="{pz:.1f}" y2="{pz:.1f}" '
                f'stroke="{_C["zero"]}" stroke-width="1"/>'
            )

    def x_labels(self, ticks: Sequence[tuple[float, str]], *, grid: bool = True) -> None:
        """Tick marks and labels under the plot at pixel positions ``ticks``."""
        last_right = -1e9
        for px, lab in ticks:
            w = _text_width(lab, 11)
            anchor, left = "middle", px - w / 2
            if px - w / 2 < self.x0 - 30:
                anchor, left = "start", px
            elif px + w / 2 > self.width - 2:
                anchor, left = "end", px - w
            if left < last_right + 6:  # would overlap the previous label
                continue
            last_right = left + w
            if grid:
                self.back.append(
                    f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{self.y0:.1f}" y2="{self.y1:.1f}" '
                    f'stroke="{_C["grid"]}" stroke-width="1"/>'
                )
            self.front.append(
                f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{self.y1:.1f}" y2="{self.y1 + 4:.1f}" '
                f'stroke="{_C["axis"]}"/>'
                f'<text x="{px:.1f}" y="{self.y1 + 16:.1f}" text-anchor="{anchor}">'
                f"{html.escape(lab)}</text>"
            )

    def legend(self, items: Sequence[tuple[str, str, str]]) -> None:
        """Legend at the top right: ``(label, colour, kind)`` with kind line/dash/area/bar."""
        x = self.x1
        out = []
        for label, color, kind in reversed(items):
            w = _text_width(label, 11)
            x -= w
            out.append(f'<text x="{x:.1f}" y="{self.y0 - 12:.1f}">{html.escape(label)}</text>')
            x -= 22
            yy = self.y0 - 16
            if kind in ("line", "dash", "thin"):
                sw = 2.2 if kind == "line" else 1.4
                dash = ' stroke-dasharray="5 3"' if kind == "dash" else ""
                out.append(
                    f'<line x1="{x:.1f}" x2="{x + 17:.1f}" y1="{yy:.1f}" y2="{yy:.1f}" '
                    f'stroke="{color}" stroke-width="{sw}"{dash}/>'
                )
            else:
                out.append(
                    f'<rect x="{x + 2:.1f}" y="{yy - 5:.1f}" width="13" height="10" '
                    f'fill="{color}"/>'
                )
            x -= 14
        self.front.extend(out)

    def empty(self, message: str = "无有效数据 · no valid values") -> None:
        self.front.append(
            f'<rect x="{self.x0:.1f}" y="{self.y0:.1f}" width="{self.x1 - self.x0:.1f}" '
            f'height="{self.y1 - self.y0:.1f}" fill="#f7f8fa"/>'
        )
        self.front.append(
            f'<text x="{(self.x0 + self.x1) / 2:.1f}" y="{(self.y0 + self.y1) / 2:.1f}" '
            f'text-anchor="middle" class="empty">{html.escape(message)}</text>'
        )

    def svg(self) -> str:
        head = (
            f'<svg viewBox="0 0 {self.width} {self.height}" '
            f'width="{self.width}" height="{self.height}" role="img" class="chart">'
            f"<title>{html.escape(self.title)}</title>"
            f'<text x="{self.x0 - 50:.1f}" y="16" class="ctitle">{html.escape(self.title)}</text>'
        )
        if self.subtitle:
            head += (
                f'<text x="{self.x0 - 50:.1f}" y="32" class="csub">'
                f"{html.escape(self.subtitle)}</text>"
            )
        frame = (
            f'<line x1="{self.x0:.1f}" x2="{self.x1:.1f}" y1="{self.y1:.1f}" y2="{self.y1:.1f}" '
            f'stroke="{_C["axis"]}"/>'
        )
        return (
            head
            + "".join(self.back)
            + "".join(self.marks)
            + frame
            + "".join(self.front)
            + ("</svg>")
        )


def _time_scale(ch: _Chart, d0: float, d1: float) -> Callable[[np.ndarray | float], np.ndarray]:
    span = max(d1 - d0, 1e-9)
    return lambda d: ch.x0 + (np.asarray(d, dtype=np.float64) - d0) / span * (ch.x1 - ch.x0)


def _nav_chart(days: np.ndarray, navs: Mapping[str, np.ndarray], s: Mapping, *, width: int) -> str:
    """Long-short NAV with its drawdown from the running max shaded, plus long/bench/excess."""
    ch = _Chart(
        width,
        360,
        "多空净值与回撤 · long-short NAV",
        f"多空年化 {PCT1(s.get('long_short_ann_return'))} · 多空最大回撤 "
        f"{PCT1(s.get('long_short_max_drawdown'))} · 多头年化超额 "
        f"{PCT1(s.get('long_excess_ann'))}",
    )
    ls = navs["long_short"]
    all_vals = np.concatenate([v for v in navs.values()] + [np.array([1.0])])
    if len(days) == 0 or not np.isfinite(all_vals[:-1]).any():
        ch.empty()
        return ch.svg()
    ch.y_axis(all_vals.tolist(), percent=False, zero=1.0)
    d0, d1 = float(days[0]), float(days[-1])
    xs = _time_scale(ch, d0, d1)
    ch.x_labels([(float(xs(d)), lab) for d, lab in _date_ticks(int(d0), int(d1), int(width // 95))])
    idx = _thin(len(days), int(2 * (ch.x1 - ch.x0)))
    px = xs(days[idx])
    ok = np.isfinite(ls)
    runmax = np.fmax.accumulate(np.where(ok, ls, -np.inf))
    for a, b in _segments(ok[idx]):
        seg = idx[a:b]
        top = ch.y(runmax[seg])
        bot = ch.y(ls[seg])
        pts = [f"{x:.1f},{y:.1f}" for x, y in zip(px[a:b], top, strict=True)]
        pts += [f"{x:.1f},{y:.1f}" for x, y in zip(px[a:b][::-1], bot[::-1], strict=True)]
        ch.marks.append(f'<polygon points="{" ".join(pts)}" fill="{_C["dd"]}" stroke="none"/>')
    style = {
        "benchmark": (_C["bench"], 1.3, ' stroke-dasharray="5 3"'),
        "long": (_C["long"], 1.3, ""),
        "excess": (_C["excess"], 1.3, ""),
        "long_short": (_C["ls"], 2.2, ""),
    }
    for name, (color, sw, dash) in style.items():
        v = navs.get(name)
        if v is None:
            continue
        d = _path(px, ch.y(v[idx]))
        if d:
            ch.marks.append(
                f'<path d="{d}" fill="none" stroke="{color}" stroke-width="{sw}"{dash} '
                f'stroke-linejoin="round"/>'
            )
    ch.legend(
        [
            ("多空 long-short", _C["ls"], "line"),
            ("回撤 drawdown", _C["dd"], "area"),
            ("多头 long", _C["long"], "thin"),
            ("基准 benchmark", _C["bench"], "dash"),
            ("超额 excess", _C["excess"], "thin"),
        ]
    )
    return ch.svg()


def _group_chart(ann: np.ndarray, bench: float | None, s: Mapping, *, width: int) -> str:
    """Annualised return per group 1..G, long and short groups highlighted, benchmark line."""
    g = len(ann)
    d = s.get("direction")
    lo_g = (g if d == 1 else 1) if d in (1, -1) else None
    hi_g = (1 if d == 1 else g) if d in (1, -1) else None
    ch = _Chart(
        width,
        320,
        "分组年化收益 · annualised return by group",
        f"1 = 因子值最小 · 单调性 {NUM2(s.get('monotonicity'))}",
        bottom=40,
    )
    vals = [*ann.tolist(), 0.0, bench if _finite(bench) else 0.0]
    if g == 0 or not np.isfinite(ann).any():
        ch.empty()
        return ch.svg()
    ch.y_axis(vals, percent=True, zero=0.0, pad=0.08 if g <= 20 else 0.0)
    band = (ch.x1 - ch.x0) / g
    bw = min(band * 0.66, 60.0)
    labels = []
    for i, v in enumerate(ann.tolist(), start=1):
        cx = ch.x0 + band * (i - 0.5)
        labels.append((cx, str(i)))
        if not _finite(v):
            continue
        color = _C["bar_long"] if i == lo_g else _C["bar_short"] if i == hi_g else _C["bar"]
        y0, yv = float(ch.y(0.0)), float(ch.y(v))
        ch.marks.append(
            f'<rect x="{cx - bw / 2:.1f}" y="{min(y0, yv):.1f}" width="{bw:.1f}" '
            f'height="{max(abs(y0 - yv), 0.5):.1f}" fill="{color}"/>'
        )
        if g <= 20:
            ty = yv - 4 if v >= 0 else yv + 12
            ch.front.append(
                f'<text x="{cx:.1f}" y="{ty:.1f}" text-anchor="middle" class="vlab">'
                f"{PCT1(v)}</text>"
            )
    ch.x_labels(labels, grid=False)
    ch.front.append(
        f'<text x="{(ch.x0 + ch.x1) / 2:.1f}" y="{ch.height - 6:.1f}" text-anchor="middle" '
        f'class="axt">分组 group</text>'
    )
    if _finite(bench):
        pb = float(ch.y(bench))
        ch.front.append(
            f'<line x1="{ch.x0:.1f}" x2="{ch.x1:.1f}" y1="{pb:.1f}" y2="{pb:.1f}" '
            f'stroke="{_C["bench"]}" stroke-width="1.5" stroke-dasharray="5 3"/>'
        )
    ch.legend(
        [
            ("多头组 long", _C["bar_long"], "bar"),
            ("空头组 short", _C["bar_short"], "bar"),
            (f"基准 {PCT1(bench)}", _C["bench"], "dash"),
        ]
    )
    return ch.svg()


def _ic_chart(days: np.ndarray, ric: np.ndarray, s: Mapping, *, width: int) -> str:
    """Rank IC per period as bars and its 12-period moving average as a line."""
    ch = _Chart(
        width,
        320,
        "Rank IC 序列 · per period",
        f"均值 {PCT2(s.get('rank_ic'))} · IR {NUM2(s.get('rank_icir'))} · 胜率 "
        f"{PCT1(s.get('rank_ic_win_rate'))}",
        bottom=40,
    )
    ma = rolling_mean(ric, IC_MA_WINDOW, IC_MA_WINDOW // 2)
    if len(days) == 0 or not np.isfinite(ric).any():
        ch.empty()
        return ch.svg()
    ch.y_axis([*ric.tolist(), *ma.tolist(), 0.0], percent=True, zero=0.0)
    gap = float(np.median(np.diff(days))) if len(days) > 1 else 30.0
    d0, d1 = float(days[0]) - gap / 2, float(days[-1]) + gap / 2
    xs = _time_scale(ch, d0, d1)
    bw = max(min(gap / (d1 - d0) * (ch.x1 - ch.x0) * 0.72, 40.0), 1.0)
    y0 = float(ch.y(0.0))
    for px, v in zip(xs(days).tolist(), ric.tolist(), strict=True):
        if not _finite(v):
            continue
        yv = float(ch.y(v))
        color = _C["ic_pos"] if v >= 0 else _C["ic_neg"]
        ch.marks.append(
            f'<rect x="{px - bw / 2:.1f}" y="{min(y0, yv):.1f}" width="{bw:.1f}" '
            f'height="{max(abs(y0 - yv), 0.5):.1f}" fill="{color}"/>'
        )
    d = _path(xs(days), ch.y(ma))
    if d:
        ch.front.append(f'<path d="{d}" fill="none" stroke="{_C["ma"]}" stroke-width="2"/>')
    ticks = _date_ticks(
        math.ceil(d0), int(d1), int(width // 70), ends=(int(days[0]), int(days[-1]))
    )
    ch.x_labels([(float(xs(t)), lab) for t, lab in ticks])
    ch.legend(
        [
            ("Rank IC > 0", _C["ic_pos"], "bar"),
            ("< 0", _C["ic_neg"], "bar"),
            (f"{IC_MA_WINDOW}期均值 MA", _C["ma"], "line"),
        ]
    )
    return ch.svg()


# --------------------------------------------------------------------------- tables

_SUMMARY_COLS: tuple[tuple[str, str, str, Fmt, bool], ...] = (
    ("direction", "因子方向", "direction", _direction, False),
    ("n_periods", "期数", "periods", _int, False),
    ("rank_ic", "Rank IC", "mean", PCT2, True),
    ("rank_icir", "RankIC IR", "per period", NUM2, True),
    ("rank_icir_annual", "年化 IR", "annualised", NUM2, True),
    ("rank_ic_win_rate", "IC胜率", "IC win rate", PCT1, False),
    ("long_ann_return", "多头年化收益率", "long ann.", PCT1, True),
    ("long_excess_ann", "多头年化超额(复利)", "long excess ann., compounded", PCT1, True),
    ("win_rate_vs_benchmark", "多头胜率-等权", "win rate vs benchmark", PCT1, False),
    ("win_rate_absolute", "多头胜率(绝对)", "win rate, absolute (long > 0)", PCT1, False),
    ("mean_period_excess", "多头调仓超额均值", "mean excess/period", PCT2, True),
    ("long_short_ann_return", "多空年化收益", "long-short ann.", PCT1, True),
    ("long_short_max_drawdown", "多空最大回撤", "long-short max DD", PCT1, True),
    ("turnover", "换手率", "long turnover", PCT1, False),
)

_YEARLY_COLS: tuple[tuple[str, str, str, Fmt, bool], ...] = (
    ("n_periods", "期数", "periods", _int, False),
    ("return", "收益率", "long", PCT1, True),
    ("benchmark_return", "等权基准", "benchmark", PCT1, True),
    ("excess_arithmetic", "超额收益率(算术)", "excess, arithmetic", PCT1, True),
    ("excess_compounded", "超额(复利)", "excess, compounded", PCT1, True),
    ("max_drawdown", "最大回撤", "max DD", PCT1, True),
    ("excess_max_drawdown", "超额最大回撤", "excess max DD", PCT1, True),
    ("information_ratio", "信息比率", "IR", NUM2, True),
    ("win_rate_absolute", "调仓胜率", "win rate, absolute (long > 0)", PCT1, False),
    ("win_rate_vs_benchmark", "调仓胜率-等权", "win rate vs benchmark", PCT1, False),
    ("mean_excess", "调仓超额均值", "mean excess", PCT2, True),
    ("gain_loss_ratio", "调仓盈亏比", "gain/loss", NUM2, False),
    ("rank_ic", "Rank IC", "mean", PCT2, True),
    ("long_short_return", "多空收益", "long-short", PCT1, True),
)

#: Whole-period row of the per-year table: yearly column -> summary column.
_WHOLE = {
    "n_periods": "n_periods",
    "return": "long_ann_return",
    "benchmark_return": "benchmark_ann_return",
    "excess_compounded": "long_excess_ann",
    "max_drawdown": "long_max_drawdown",
    "excess_max_drawdown": "excess_max_drawdown",
    "information_ratio": "information_ratio",
    "win_rate_vs_benchmark": "win_rate_vs_benchmark",
    "win_rate_absolute": "win_rate_absolute",
    "mean_excess": "mean_period_excess",
    "rank_ic": "rank_ic",
    "long_short_return": "long_short_ann_return",
}


def _summary_table(rows: Sequence[Mapping]) -> str:
    head = _th("因子", "factor", "name") + "".join(
        _th(lab, sub) for _, lab, sub, _, _ in _SUMMARY_COLS
    )
    body = []
    for i, r in enumerate(rows):
        cells = "".join(_td(r.get(c), f, signed=sg) for c, _, _, f, sg in _SUMMARY_COLS)
        name = html.escape(str(r["factor"]))
        body.append(f'<tr><td class="name"><a href="#f{i}">{name}</a></td>{cells}</tr>')
    return f'<table class="t"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _notes(rows: Sequence[Mapping]) -> str:
    """The factors' notes (periods or the whole sample without values), one line each."""
    lines = [
        f"<li><b>{html.escape(str(r['factor']))}</b>: {html.escape(str(r['note']))}</li>"
        for r in rows
        if r.get("note")
    ]
    return f'<ul class="note">{"".join(lines)}</ul>' if lines else ""


def _year_label(
    year: int, span: tuple[int, int] | None, *, first: bool, last: bool
) -> tuple[str, str]:
    """Column header of a year: a first year starting after January or a last year ending
    before December shows its covered dates (first trade day, last exit day)."""
    if span is None:
        return f"{year}", ""
    a, b = _day(span[0]), _day(span[1])
    late = first and (a - dt.date(year, 1, 1)).days > 31
    early = last and b < dt.date(year, 12, 1)
    if late and early:
        return f"{year}", f"{a:%m-%d}→{b:%m-%d}"
    if late:
        return f"{year}", f"from {a:%m-%d}"
    if early:
        return f"{year}", f"to {b:%m-%d}"
    return f"{year}", ""


def _scale(values: Sequence[float]) -> float | None:
    v = np.abs(np.asarray([x for x in values if _finite(x)], dtype=np.float64))
    q = float(np.quantile(v, 0.9)) if len(v) else 0.0
    return q if q > 0 else None


def _pivot_table(
    names: Sequence[str],
    years: Sequence[int],
    cell: Mapping[tuple[str, int], float | None],
    whole: Mapping[str, float | None],
    spans: Mapping[int, tuple[int, int]],
    *,
    fmt: Fmt,
    whole_label: tuple[str, str],
) -> str:
    head = _th("因子", "factor", "name")
    for y in years:
        lab = _year_label(y, spans.get(y), first=y == years[0], last=y == years[-1])
        head += _th(*lab, keep=True)
    head += _th(*whole_label, cls="whole")
    tint = _scale(list(cell.values()))
    body = []
    for i, n in enumerate(names):
        tds = "".join(_td(cell.get((n, y)), fmt, tint=tint) for y in years)
        tds += _td(whole.get(n), fmt).replace('<td class="num', '<td class="whole num', 1)
        body.append(f'<tr><td class="name"><a href="#f{i}">{html.escape(n)}</a></td>{tds}</tr>')
    return f'<table class="t"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _factor_yearly_table(
    yrows: Sequence[Mapping],
    s: Mapping,
    gain_loss: float | None,
    spans: Mapping[int, tuple[int, int]],
) -> str:
    head = _th("年份", "year", "name") + "".join(
        _th(lab, sub) for _, lab, sub, _, _ in _YEARLY_COLS
    )
    body = []
    lo, hi = min(spans, default=0), max(spans, default=0)
    for r in yrows:
        y = int(r["year"])
        lab, sub = _year_label(y, spans.get(y), first=y == lo, last=y == hi)
        sub = f"<small>{html.escape(sub)}</small>" if sub else ""
        cells = "".join(_td(r.get(c), f, signed=sg) for c, _, _, f, sg in _YEARLY_COLS)
        body.append(f'<tr><td class="name">{html.escape(lab)}{sub}</td>{cells}</tr>')
    whole = {k: s.get(v) for k, v in _WHOLE.items()}
    whole["gain_loss_ratio"] = gain_loss
    la, ba = s.get("long_ann_return"), s.get("benchmark_ann_return")
    whole["excess_arithmetic"] = la - ba if _finite(la) and _finite(ba) else None
    cells = "".join(_td(whole.get(c), f, signed=sg) for c, _, _, f, sg in _YEARLY_COLS)
    body.append(
        f'<tr class="whole"><td class="name">整体<small>年化 annualised</small></td>{cells}</tr>'
    )
    return (
        f'<table class="t yearly"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


# --------------------------------------------------------------------------- page


_CSS = """
:root{--ink:#1d2433;--muted:#6b7280;--line:#dde2ea;--brand:#1f3b63;--pos:#1e7b4a;--neg:#c0392b}
*{box-sizing:border-box}
body{margin:0;background:#eef1f5;color:var(--ink);font:13px/1.45 "Helvetica Neue",Arial,
"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","Source Han Sans SC",
"WenQuanYi Micro Hei",sans-serif;-webkit-font-smoothing:antialiased}
.page{max-width:1340px;margin:0 auto;padding:18px 16px 28px}
header{background:var(--brand);color:#fff;border-radius:6px;padding:18px 22px 14px}
header h1{margin:0 0 10px;font-size:22px;font-weight:600;letter-spacing:.2px}
.meta{display:flex;flex-wrap:wrap;gap:6px 8px;margin:0;padding:0}
.meta div{background:rgba(255,255,255,.1);border-radius:3px;padding:2px 8px;font-size:12px}
.meta dt{display:inline;color:#b9c6dc;margin-right:5px}.meta dd{display:inline;margin:0}
.gen{color:#b9c6dc;font-size:11.5px;margin-top:10px}
section.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:14px 18px;
margin-top:14px}
h2{font-size:15px;margin:0 0 10px;padding-left:9px;border-left:4px solid var(--brand);
color:var(--brand)}
h2 small,h3 small{font-weight:400;color:var(--muted);font-size:12px;margin-left:6px}
.note{color:var(--muted);font-size:11.5px;margin:8px 0 0}
.wrap{overflow-x:auto}
table.t{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
table.t th{background:#f2f5f9;color:var(--brand);font-weight:600;padding:6px 8px;
text-align:right;vertical-align:bottom;border-bottom:2px solid var(--brand);white-space:nowrap}
table.t th small{display:block;font-weight:400;color:var(--muted);font-size:10.5px}
table.t td{padding:4px 8px;text-align:right;border-bottom:1px solid #edf0f4;white-space:nowrap}
table.t .name{text-align:left}
table.t td.name small{color:var(--muted);font-size:10.5px;margin-left:6px}
table.t tbody tr:hover td{background:#f7f9fc}
table.t td.whole,table.t th.whole{border-left:1px solid var(--line);font-weight:600}
table.t tr.whole td{border-top:1.5px solid var(--brand);font-weight:600;background:#f8fafc}
a{color:var(--brand);text-decoration:none}a:hover{text-decoration:underline}
.pos{color:var(--pos)}.neg{color:var(--neg)}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:14px 22px}
.grid2 h3{font-size:13px;margin:0 0 6px;color:var(--ink)}
.bar{display:flex;justify-content:space-between;align-items:center;margin:18px 0 4px}
.bar h2{margin:0}
button{font:inherit;font-size:12px;border:1px solid var(--line);background:#fff;color:var(--brand);
border-radius:4px;padding:3px 10px;margin-left:6px;cursor:pointer}
details.factor{background:#fff;border:1px solid var(--line);border-radius:6px;margin-top:8px}
details.factor>summary{cursor:pointer;padding:9px 16px;display:flex;gap:18px;align-items:baseline;
list-style:none}
details.factor>summary::-webkit-details-marker{display:none}
details.factor>summary:before{content:"▸";color:var(--brand);width:10px}
details.factor[open]>summary:before{content:"▾"}
details.factor[open]>summary{border-bottom:1px solid var(--line)}
.fname{font-weight:600;font-size:14px;color:var(--brand);width:330px;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap}
.kpi{color:var(--muted);font-size:12px;display:grid;grid-template-columns:130px 160px 140px 70px;
gap:14px}.kpi b{font-weight:600}
.body{padding:12px 16px 16px}
.charts2{display:grid;grid-template-columns:1fr 1fr;gap:16px;margin-top:8px}
svg.chart{display:block;width:100%;height:auto;font-size:11px}
svg.chart text{fill:#5b6270}
svg.chart .ctitle{font-size:13px;font-weight:600;fill:var(--ink)}
svg.chart .csub{font-size:11.5px;fill:var(--muted)}
svg.chart .vlab{font-size:10px;fill:#4b5563}
svg.chart .axt{font-size:11px;fill:var(--muted)}
svg.chart .empty{font-size:14px;fill:#9aa1ad}
.yearly{margin-top:12px}
footer{color:var(--muted);font-size:11.5px;margin-top:16px;line-height:1.6}
"""

_JS = """
function openHash(){var h=location.hash.slice(1),e=h&&document.getElementById(h);
if(e&&e.tagName==='DETAILS'){e.open=true;e.scrollIntoView();}}
function setAll(v){document.querySelectorAll('details.factor').forEach(function(d){d.open=v;});}
window.addEventListener('hashchange',openHash);
window.addEventListener('load',function(){openHash();document.documentElement.setAttribute(
'data-height',String(document.documentElement.scrollHeight));});
"""


def _rows(df: pl.DataFrame) -> list[dict]:
    return df.to_dicts()


def _coverage(ev: Evaluation) -> tuple[str, dict[int, tuple[int, int]]]:
    """Dates covered (first trade -> last exit) and, per signal year, its first/last days."""
    p = ev.periods
    if p.height == 0:
        return "–", {}
    start, end, date = _days(p["start"]), _days(p["end"]), _days(p["date"])
    years = date.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    spans = {
        int(y): (int(start[years == y].min()), int(end[years == y].max())) for y in np.unique(years)
    }
    return f"{_day(start.min())} → {_day(end.max())}", spans


def _gain_loss(ev: Evaluation, name: str, direction: object, groups: object) -> float | None:
    """Whole-period gain/loss ratio of the long group's per-period excess
    (docs/methodology.md#59-whole-period-metrics)."""
    if direction not in (1, -1) or not _finite(groups):
        return None
    g = int(groups) if direction == 1 else 1  # type: ignore[arg-type]
    lg = ev.groups.filter((pl.col("factor") == name) & (pl.col("group") == g)).select("date", "ret")
    j = lg.join(ev.periods.select("date", "benchmark"), on="date", how="inner")
    ex = _floats(j["ret"]) - _floats(j["benchmark"])
    ex = ex[np.isfinite(ex)]
    win, loss = ex[ex > 0], ex[ex < 0]
    if len(win) == 0 or len(loss) == 0:
        return None
    return float(win.mean() / abs(loss.mean()))


def _factor_section(
    i: int, name: str, s: Mapping, ev: Evaluation, spans: Mapping[int, tuple[int, int]]
) -> str:
    nav = ev.nav.filter(pl.col("factor") == name)
    navs: dict[str, np.ndarray] = {}
    days = np.zeros(0, dtype=np.int64)
    for series in ("long_short", "long", "benchmark", "excess"):
        part = nav.filter(pl.col("series") == series).sort("date")
        if part.height:
            days = _days(part["date"])
            navs[series] = _floats(part["nav"])
    if not navs:
        navs = {"long_short": np.zeros(0)}
    navs = {k: v for k, v in navs.items() if len(v) == len(days)}
    navs.setdefault("long_short", np.full(len(days), np.nan))
    ic = ev.ic.filter(pl.col("factor") == name).sort("date")
    gs = ev.group_summary.filter(pl.col("factor") == name).sort("group")
    yrows = _rows(ev.yearly.filter(pl.col("factor") == name).sort("year"))
    note = s.get("note")
    note_html = f'<p class="note">{html.escape(str(note))}</p>' if note else ""
    if not s.get("n_periods"):  # no value on any rebalance date: a note, no charts
        return (
            f'<details class="factor" id="f{i}"{" open" if i == 0 else ""}>'
            f'<summary><span class="fname">{html.escape(name)}</span>'
            f'<span class="kpi"><span>{html.escape(str(note or "no values"))}</span></span>'
            f'</summary><div class="body">{note_html}</div></details>'
        )
    gl = _gain_loss(ev, name, s.get("direction"), s.get("groups"))
    kpi = (
        f"<span>Rank IC <b class='{_sign(s.get('rank_ic'))}'>{PCT2(s.get('rank_ic'))}</b></span>"
        f"<span>多头年化超额(复利) <b class='{_sign(s.get('long_excess_ann'))}'>"
        f"{PCT1(s.get('long_excess_ann'))}</b></span>"
        f"<span>多空年化 <b class='{_sign(s.get('long_short_ann_return'))}'>"
        f"{PCT1(s.get('long_short_ann_return'))}</b></span>"
        f"<span>方向 {_direction(s.get('direction'))}</span>"
    )
    nav_svg = _nav_chart(days, navs, s, width=1300)
    held = gs["n_periods"].fill_null(0).to_numpy() > 0  # a group that never held is no data
    ann = np.where(held, _floats(gs["ann_return"]), np.nan)
    grp_svg = _group_chart(ann, s.get("benchmark_ann_return"), s, width=640)
    ic_svg = _ic_chart(_days(ic["date"]), _floats(ic["rank_ic"]), s, width=640)
    table = _factor_yearly_table(yrows, s, gl, spans)
    return (
        f'<details class="factor" id="f{i}"{" open" if i == 0 else ""}>'
        f'<summary><span class="fname">{html.escape(name)}</span>'
        f'<span class="kpi">{kpi}</span></summary>'
        f'<div class="body">{note_html}{nav_svg}<div class="charts2"><div>{grp_svg}</div>'
        f'<div>{ic_svg}</div></div><div class="wrap">{table}</div></div></details>'
    )


def _estimate_height(n_factors: int, n_years: int, n_open: int) -> int:
    """Page height (px at 1400 wide) for screenshots when the browser cannot measure it."""
    head = 150
    summary = 110 + 40 + 27 * n_factors
    yearly = 90 + 45 + 27 * n_factors
    sections = 70 + 44 * n_factors + n_open * (380 + 340 + 60 + 27 * (n_years + 1))
    return int(head + summary + yearly + sections + 200)


def render_html(
    ev: Evaluation,
    *,
    title: str,
    meta: Mapping[str, str] | None = None,
    generated_at: dt.datetime | None = None,
) -> str:
    """Render an evaluation as one self-contained HTML page (inline CSS and SVG).

    Parameters
    ----------
    ev
        The result of :func:`etfflow.backtest.engine.evaluate` (or a stored one).
    title
        Page title (escaped).
    meta
        Extra header entries shown before the ones read from ``ev`` (groups, rebalance, lag,
        cost, dates covered): run id, pool, level, processing, universe, ... Keys and values
        are escaped; a key given here replaces the derived entry of the same name.
    generated_at
        Time stamp printed in the header (default: now, local time).

    Returns
    -------
    str
        The HTML document (UTF-8 text). It references nothing outside itself.

    Raises
    ------
    EtfflowError
        When ``ev`` is not an :class:`~etfflow.backtest.engine.Evaluation`.

    Notes
    -----
    Summary columns follow Huaan 2024-12 table 47
    (docs/methodology.md#59-whole-period-metrics): Rank IC mean, Rank ICIR per period
    and annualised, IC win rate (share of periods with ``sign(rank IC) = direction``), long
    annualised return and excess (compounded per-period excess), win rate against the
    benchmark and absolute win rate (long > 0), mean per-period excess, long-short
    annualised return and max drawdown. Factor notes (periods without values) are listed
    under the summary; a factor without any value shows its note instead of charts.
    Per-year values compound the periods whose signal falls in the year (not annualised);
    the "整体" (whole) column/row repeats the whole-period, annualised numbers of
    ``ev.summary`` (its arithmetic excess is annualised long minus annualised benchmark);
    the whole-period gain/loss ratio is recomputed from
    ``ev.groups`` and ``ev.periods`` (periods where the long group held nothing are left out).
    The moving average over the Rank IC bars uses the finite values among the last
    :data:`IC_MA_WINDOW` periods and needs at least half of them.

    Examples
    --------
    >>> import numpy as np
    >>> from etfflow.backtest.engine import evaluate
    >>> rng = np.random.default_rng(0)
    >>> ret = rng.normal(0, 0.01, (80, 40))
    >>> dates = np.datetime64("2024-01-01") + np.arange(80)
    >>> ev = evaluate({"noise": rng.normal(size=(80, 40))}, ret, dates, groups=5, rebalance=5)
    >>> page = render_html(ev, title="demo", meta={"run": "r1"})
    >>> page.count("<svg") >= 3, "noise" in page, "https://" in page
    (True, True, False)
    """
    if not isinstance(ev, Evaluation):
        raise EtfflowError(f"render_html: expected an Evaluation, got {type(ev).__name__}")
    srows = _rows(ev.summary)
    names = [str(r["factor"]) for r in srows]
    covered, spans = _coverage(ev)
    years = sorted({int(y) for y in ev.yearly["year"].to_list() if y is not None})
    first = srows[0] if srows else {}
    rebalance = str(first.get("rebalance", "–"))
    info: dict[str, str] = {}
    info.update({str(k): str(v) for k, v in (meta or {}).items()})
    derived = {
        "factors": str(len(names)),
        "groups": _int(first.get("groups")),
        "rebalance": "month end" if rebalance == "month" else f"every {rebalance} trading days",
        "lag": f"{_int(first.get('lag'))} day(s)",
        "cost": f"{NUM2(first.get('cost_bps'))} bps/side",
        "periods": str(ev.periods.height),
        "dates covered": covered,
    }
    for k, v in derived.items():
        info.setdefault(k, v)
    when = (generated_at or dt.datetime.now()).strftime("%Y-%m-%d %H:%M")
    meta_html = "".join(
        f"<div><dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd></div>" for k, v in info.items()
    )
    ric = {(str(r["factor"]), int(r["year"])): r.get("rank_ic") for r in _rows(ev.yearly)}
    exc = {(str(r["factor"]), int(r["year"])): r.get("excess_compounded") for r in _rows(ev.yearly)}
    whole_ric = {str(r["factor"]): r.get("rank_ic") for r in srows}
    whole_exc = {str(r["factor"]): r.get("long_excess_ann") for r in srows}
    sections = "".join(
        _factor_section(i, n, r, ev, spans)
        for i, (n, r) in enumerate(zip(names, srows, strict=True))
    )
    height = _estimate_height(len(names), len(years), min(1, len(names)))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="etfflow">',
        f'<meta name="etfflow-page-height" content="{height}">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        '<div class="page"><header>',
        f"<h1>{html.escape(title)}</h1><dl class='meta'>{meta_html}</dl>",
        f'<div class="gen">生成时间 generated {html.escape(when)} · etfflow</div></header>',
        '<section class="card"><h2>因子绩效汇总<small>factor performance, whole period</small>'
        "</h2>",
        f'<div class="wrap">{_summary_table(srows)}</div>',
        _notes(srows),
        '<p class="note">方向 +1: 多头 = 第 G 组 (因子值最大); -1: 多头 = 第 1 组. '
        "IC胜率 = Rank IC 符号与方向一致的期数占比; 超额相对等权基准; "
        "年化按 242 个交易日.</p></section>",
        '<section class="card"><h2>分年度表现<small>by calendar year of the signal</small></h2>'
        '<div class="grid2"><div><h3>Rank IC</h3><div class="wrap">',
        _pivot_table(names, years, ric, whole_ric, spans, fmt=PCT2, whole_label=("整体", "whole")),
        "</div></div><div><h3>多头超额(复利) <small>long excess vs benchmark, compounded</small>"
        "</h3>"
        '<div class="wrap">',
        _pivot_table(
            names, years, exc, whole_exc, spans, fmt=PCT1, whole_label=("整体", "annualised")
        ),
        "</div></div></div>",
        '<p class="note">分年度数值为该年信号期收益的复利 (不年化); 整体列为全区间年化. '
        "部分年份在表头注明覆盖日期.</p></section>",
        '<div class="bar"><h2>单因子详情<small>per factor</small></h2><span>'
        '<button type="button" onclick="setAll(true)">全部展开 expand all</button>'
        '<button type="button" onclick="setAll(false)">全部折叠 collapse all</button>'
        "</span></div>",
        sections or '<p class="note">没有因子 · no factors</p>',
        "<footer>多空 = 多头组减空头组 (每期差值复利); 阴影 = 多空净值相对历史最高点的回撤; "
        "基准 = 等权全市场 (Huaan 2024-12 §3.3; docs/methodology.md#57-benchmark). "
        "Max drawdown = min(nav / cummax(nav) - 1) on daily NAVs; "
        "IR = mean / std of per-period excess × sqrt(periods per year). "
        "Definitions: docs/methodology.md#5-backtests.</footer>",
        f"</div><script>{_JS}</script></body></html>",
    ]
    return "\n".join(parts)


def _temp_name(out: Path, suffix: str) -> Path:
    """A fresh hidden file name next to ``out`` (same file system, so ``os.replace`` is atomic)."""
    return out.with_name(f".{out.stem}.{os.getpid()}.{uuid.uuid4().hex[:12]}{suffix}")


def write_html(
    ev: Evaluation,
    path: str | os.PathLike[str],
    *,
    title: str,
    meta: Mapping[str, str] | None = None,
    generated_at: dt.datetime | None = None,
) -> Path:
    """Write :func:`render_html` to ``path`` atomically (temporary file, then ``os.replace``).

    Parameters
    ----------
    ev, title, meta, generated_at
        As for :func:`render_html`.
    path
        Output file; missing parent folders are created.

    Returns
    -------
    Path
        ``path``.
    """
    out = Path(path)
    page = render_html(ev, title=title, meta=meta, generated_at=generated_at)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out


# --------------------------------------------------------------------------- screenshots


def find_chromium(chromium: str | None = None) -> str:
    """Path of a headless-capable Chromium: ``chromium`` if given, else ``/usr/bin/chromium``
    or the first of :data:`CHROMIUM_CANDIDATES` on ``PATH``.

    Raises
    ------
    EtfflowError
        When none is found.
    """
    if chromium is not None:
        found = shutil.which(chromium)
        if found is None:
            raise EtfflowError(
                f"render_png: browser {chromium!r} not found; hint: {_CHROMIUM_HINT}"
            )
        return found
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise EtfflowError(
        f"render_png: no Chromium browser found (tried /usr/bin/chromium, "
        f"{', '.join(CHROMIUM_CANDIDATES)} on PATH); hint: {_CHROMIUM_HINT}"
    )


def _chromium_args(browser: str, profile: str, width: int, height: int) -> list[str]:
    return [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
    ]


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        raise EtfflowError(
            f"render_png: {args[0]} did not finish within {timeout:g} s; hint: {_CHROMIUM_HINT}"
        ) from e
    except OSError as e:
        raise EtfflowError(
            f"render_png: cannot start {args[0]}: {e}; hint: {_CHROMIUM_HINT}"
        ) from e


def _measure(browser: str, url: str, width: int, timeout: float) -> int | None:
    """Page height measured by the browser (the page's load handler stores it in the DOM)."""
    with tempfile.TemporaryDirectory(prefix="etfflow-chromium-", ignore_cleanup_errors=True) as p:
        res = _run([*_chromium_args(browser, p, width, 1000), "--dump-dom", url], timeout)
    m = re.search(r'data-height="(\d+)"', res.stdout or "")
    return int(m.group(1)) if m else None


def render_png(
    html_path: str | os.PathLike[str],
    png_path: str | os.PathLike[str],
    *,
    width: int = 1400,
    height: int | None = None,
    chromium: str | None = None,
    timeout: float = 120.0,
) -> Path:
    """Screenshot an HTML report with headless Chromium.

    Parameters
    ----------
    html_path
        The page (from :func:`write_html`).
    png_path
        Output PNG; missing parent folders are created.
    width
        Viewport width in CSS pixels (= PNG width; device scale factor 1).
    height
        Page height in pixels; default: measured by the browser (the page's full height),
        else the estimate :func:`render_html` stores in the page, else 4000.
    chromium
        Browser executable (name on ``PATH`` or path); default :func:`find_chromium`.
    timeout
        Seconds allowed per browser run.

    Returns
    -------
    Path
        ``png_path``.

    Raises
    ------
    EtfflowError
        When no browser is found, it fails or writes no image (hint: install Chromium).

    Notes
    -----
    Runs the browser with a fresh temporary profile and no network services (flags in
    ``_chromium_args``); a first ``--dump-dom`` run reads the page height, a second one takes
    the screenshot. Only the sections that are open in the page (the first factor) show
    their charts.
    """
    src = Path(html_path).resolve()
    if not src.is_file():
        raise EtfflowError(f"render_png: no such HTML file: {src}")
    if int(width) < 200:
        raise EtfflowError(f"render_png: width must be at least 200 px, got {width!r}")
    browser = find_chromium(chromium)
    url = src.as_uri()
    if height is None:
        height = _measure(browser, url, int(width), timeout)
    if height is None:
        m = re.search(r'name="etfflow-page-height" content="(\d+)"', src.read_text("utf-8"))
        height = int(m.group(1)) if m else 4000
    height = max(200, min(int(height), 32000))
    out = Path(png_path).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(out, ".png")
    try:
        with tempfile.TemporaryDirectory(
            prefix="etfflow-chromium-", ignore_cleanup_errors=True
        ) as profile:
            res = _run(
                [*_chromium_args(browser, profile, int(width), height), f"--screenshot={tmp}", url],
                timeout,
            )
        if not Path(tmp).is_file() or Path(tmp).stat().st_size == 0:
            tail = "\n".join((res.stderr or "").strip().splitlines()[-5:])
            raise EtfflowError(
                f"render_png: {browser} exited with code {res.returncode} and wrote no "
                f"screenshot of {src}\n  browser output (last lines):\n{tail}\n"
                f"  hint: {_CHROMIUM_HINT}"
            )
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out

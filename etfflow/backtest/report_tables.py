"""Numbers and tables of the HTML report (:mod:`etfflow.backtest.report`): cell formats and
colour coding, the summary table (Huaan 2024-12 table 47), the per-year pivots (tables 48-49),
each factor's per-year table (table 59) and its series statistics (volatility, Sharpe).

Colours come from :data:`etfflow.plots.COLORS` (negative red, positive green: CSS classes
``neg`` / ``pos``; per-year pivots tint the cell background by size).
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TypeGuard

import numpy as np
import polars as pl

from etfflow.backtest.engine import Evaluation
from etfflow.plots.style import COLORS

Fmt = Callable[[float | None], str]


def _rgb(hex_colour: str) -> str:
    """``#1e7b4a`` -> ``30,123,74``."""
    return ",".join(str(int(hex_colour[k : k + 2], 16)) for k in (1, 3, 5))


_RGB = {"pos": _rgb(COLORS["pos"]), "neg": _rgb(COLORS["neg"])}

# --------------------------------------------------------------------------- formatting


def finite(x: object) -> TypeGuard[float]:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _pct(digits: int) -> Fmt:
    def f(x: float | None) -> str:
        return f"{x * 100:.{digits}f}%" if finite(x) else "–"

    return f


def _num(digits: int) -> Fmt:
    def f(x: float | None) -> str:
        return f"{x:.{digits}f}" if finite(x) else "–"

    return f


def fmt_int(x: float | None) -> str:
    return f"{int(x)}" if finite(x) else "–"


def fmt_direction(x: float | None) -> str:
    return {1: "+1", -1: "-1"}.get(int(x), "–") if finite(x) else "–"


PCT1, PCT2, NUM2 = _pct(1), _pct(2), _num(2)


def sign(x: object) -> str:
    if not finite(x) or x == 0:
        return ""
    return "pos" if x > 0 else "neg"


def _td(x: float | None, fmt: Fmt, *, signed: bool = True, tint: float | None = None) -> str:
    """A numeric cell; ``signed`` colours the text, ``tint`` (the scale) shades the background."""
    cls = ["num"]
    if signed and sign(x):
        cls.append(sign(x))
    style = ""
    if tint and finite(x) and x != 0:
        a = min(abs(x) / tint, 1.0) * 0.22
        rgb = _RGB["pos"] if x > 0 else _RGB["neg"]
        style = f' style="background:rgba({rgb},{a:.3f})"'
    return f'<td class="{" ".join(cls)}"{style}>{html.escape(fmt(x))}</td>'


def _th(label: str, sub: str = "", cls: str = "", *, keep: bool = False) -> str:
    """Header cell with an optional second line ``sub`` (``keep``: an empty line when blank,
    so that headers of one row line up)."""
    s = f"<small>{html.escape(sub) or '&nbsp;'}</small>" if sub or keep else ""
    c = f' class="{cls}"' if cls else ""
    return f"<th{c}>{html.escape(label)}{s}</th>"


def day(d: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(d))


def days(s: pl.Series) -> np.ndarray:
    """A Date column as int64 days since 1970."""
    return s.cast(pl.Int32).cast(pl.Int64).to_numpy()


def floats(s: pl.Series) -> np.ndarray:
    """A numeric column as float64 with null -> NaN."""
    return s.cast(pl.Float64).fill_null(math.nan).to_numpy().astype(np.float64)


# --------------------------------------------------------------------------- tables

_SUMMARY_COLS: tuple[tuple[str, str, str, Fmt, bool], ...] = (
    ("direction", "因子方向", "direction", fmt_direction, False),
    ("n_periods", "期数", "periods", fmt_int, False),
    ("rank_ic", "Rank IC", "mean", PCT2, True),
    ("rank_icir", "RankIC IR", "per period", NUM2, True),
    ("rank_icir_annual", "年化 IR", "annualised", NUM2, True),
    ("rank_ic_t_nw", "t 值 (NW)", "Newey–West t of mean Rank IC", NUM2, True),
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
    ("n_periods", "期数", "periods", fmt_int, False),
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


def summary_table(rows: Sequence[Mapping]) -> str:
    head = _th("因子", "factor", "name") + "".join(
        _th(lab, sub) for _, lab, sub, _, _ in _SUMMARY_COLS
    )
    body = []
    for i, r in enumerate(rows):
        cells = "".join(_td(r.get(c), f, signed=sg) for c, _, _, f, sg in _SUMMARY_COLS)
        name = html.escape(str(r["factor"]))
        body.append(f'<tr><td class="name"><a href="#f{i}">{name}</a></td>{cells}</tr>')
    return f'<table class="t"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def notes(rows: Sequence[Mapping]) -> str:
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
    a, b = day(span[0]), day(span[1])
    late = first and (a - dt.date(year, 1, 1)).days > 31
    early = last and b < dt.date(year, 12, 1)
    if late and early:
        return f"{year}", f"{a:%m-%d}→{b:%m-%d}"
    if late:
        return f"{year}", f"from {a:%m-%d}"
    if early:
        return f"{year}", f"to {b:%m-%d}"
    return f"{year}", ""


def _scale(values: Sequence[float | None]) -> float | None:
    v = np.abs(np.asarray([x for x in values if finite(x)], dtype=np.float64))
    q = float(np.quantile(v, 0.9)) if len(v) else 0.0
    return q if q > 0 else None


def pivot_table(
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


#: Largest long group whose names the report lists (industries; stock deciles are too long).
MAX_LISTED_MEMBERS = 20


def long_group_table(ev: Evaluation, name: str, *, last: int = 12) -> str:
    """The long group's assets at each of the last ``last`` rebalances (Huaan 2024-12 table
    16: 多头持仓 by month), or "" without members or with groups too large to list."""
    m = ev.members.filter((pl.col("factor") == name) & (pl.col("leg") == "long"))
    if m.height == 0:
        return ""
    per = m.group_by("date", maintain_order=True).agg(pl.col("asset").sort()).sort("date")
    if per["asset"].list.len().max() > MAX_LISTED_MEMBERS:  # type: ignore[operator]
        return ""
    rows = "".join(
        f'<tr><td class="name">{d}</td><td class="name">{html.escape("、".join(a))}</td></tr>'
        for d, a in per.tail(last).iter_rows()
    )
    return (
        '<table class="t"><thead><tr>'
        + _th("调仓日", "rebalance")
        + _th("多头持仓", "long group")
        + f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def factor_yearly_table(
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
    whole["excess_arithmetic"] = la - ba if finite(la) and finite(ba) else None
    cells = "".join(_td(whole.get(c), f, signed=sg) for c, _, _, f, sg in _YEARLY_COLS)
    body.append(
        f'<tr class="whole"><td class="name">整体<small>年化 annualised</small></td>{cells}</tr>'
    )
    return (
        f'<table class="t yearly"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


#: Rows of the series statistics table: ``series_stats`` series -> (Chinese, English).
_SERIES_LABELS = {
    "long": ("多头", "long"),
    "short": ("空头", "short"),
    "long_short": ("多空", "long-short"),
    "benchmark": ("基准", "benchmark"),
    "excess": ("超额", "excess"),
}

_STATS_COLS: tuple[tuple[str, str, str, Fmt, bool], ...] = (
    ("ann_return", "年化收益", "ann. return", PCT1, True),
    ("ann_volatility", "年化波动", "ann. volatility", PCT1, False),
    ("sharpe", "夏普比率", "Sharpe (rf 0)", NUM2, True),
    ("max_drawdown", "最大回撤", "max DD", PCT1, True),
)


def series_stats_table(stats: pl.DataFrame) -> str:
    """One factor's rows of :func:`etfflow.plots.series_stats`: the daily series (long,
    short, long-short, benchmark, excess), then each group per period."""
    head = _th("序列", "series", "name") + "".join(
        _th(lab, sub) for _, lab, sub, _, _ in _STATS_COLS
    )
    body = []
    for r in stats.iter_rows(named=True):
        key = str(r["series"])
        zh, en = _SERIES_LABELS.get(key, (f"第 {key[6:]} 组", f"group {key[6:]}"))
        cells = "".join(_td(r.get(c), f, signed=sg) for c, _, _, f, sg in _STATS_COLS)
        body.append(f'<tr><td class="name">{zh}<small>{en}</small></td>{cells}</tr>')
    return (
        f'<table class="t stats"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


# --------------------------------------------------------------------------- data


def rows(df: pl.DataFrame) -> list[dict]:
    return df.to_dicts()


def coverage(ev: Evaluation) -> tuple[str, dict[int, tuple[int, int]]]:
    """Dates covered (first trade -> last exit) and, per signal year, its first/last days."""
    p = ev.periods
    if p.height == 0:
        return "–", {}
    start, end, date = days(p["start"]), days(p["end"]), days(p["date"])
    years = date.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    spans = {
        int(y): (int(start[years == y].min()), int(end[years == y].max())) for y in np.unique(years)
    }
    return f"{day(start.min())} → {day(end.max())}", spans


def gain_loss(ev: Evaluation, name: str, direction: object, groups: object) -> float | None:
    """Whole-period gain/loss ratio of the long group's per-period excess
    (docs/methodology.md#59-whole-period-metrics)."""
    if direction not in (1, -1) or not finite(groups):
        return None
    # the long group of each period (it changes with the period's direction under "rolling")
    dirs = ev.ic.filter(pl.col("factor") == name).select("date", "direction")
    lg = (
        ev.groups.filter(pl.col("factor") == name)
        .join(dirs, on="date", how="inner")
        .filter(pl.col("group") == pl.when(pl.col("direction") == 1).then(int(groups)).otherwise(1))
        .select("date", "ret")
    )
    j = lg.join(ev.periods.select("date", "benchmark"), on="date", how="inner")
    ex = floats(j["ret"]) - floats(j["benchmark"])
    ex = ex[np.isfinite(ex)]
    win, loss = ex[ex > 0], ex[ex < 0]
    if len(win) == 0 or len(loss) == 0:
        return None
    return float(win.mean() / abs(loss.mean()))

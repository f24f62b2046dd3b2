"""The top-k lists (:mod:`etfflow.backtest.topk`) as a small self-contained HTML page: one
table per metric in the reports' layout (Huaan 2024-12 tables 34 and 39; Kaiyuan 2024-09
tables 2–3), with the style sheet of the backtest report."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Mapping

import polars as pl

from etfflow.backtest.report_style import page_start
from etfflow.backtest.report_tables import _td, _th, finite
from etfflow.backtest.topk import ABSOLUTE_METRICS, YI

#: metric -> (Chinese label of the reports, English label, value header).
LABELS: dict[str, tuple[str, str, str]] = {
    "share_passive_fund": ("ETF 份额", "passive fund shares", "亿份"),
    "share_passive": ("个股份额", "look-through shares", "亿份"),
    "n_etf": ("涉及ETF数量", "ETFs holding the stock", "只"),
    "n_index": ("涉及跟踪指数数量", "indices tracked", "个"),
    "mv_passive": ("被动持股市值", "passive holding value", "亿元"),
    "w_passive": ("被动持股占比", "passive holding / float cap", "%"),
    "w_passive_diff_20": (
        "被动持股占比 20 日变化",
        "20-day change of passive value / float cap",
        "%",
    ),
    "w_passive_inflow_20": ("被动净流入占比 20 日", "20-day passive inflow / float cap", "%"),
}
BOARD_LABELS = {"SH_MAIN": "沪主板", "SZ_MAIN": "深主板", "CHINEXT": "创业板", "STAR": "科创板"}


def value_format(metric: str) -> Callable[[float | None], str]:
    """How a metric's value is shown: shares and CNY in 亿, counts whole, ratios in percent."""
    if metric in ("n_etf", "n_index"):
        return lambda x: f"{int(x)}" if finite(x) else "–"
    if metric in ("share_passive_fund", "share_passive", "mv_passive"):
        return lambda x: f"{x / YI:,.2f}" if finite(x) else "–"
    return lambda x: f"{x * 100:.3f}%" if finite(x) else "–"


def _cap(x: float | None) -> str:
    return f"{x:,.1f}" if finite(x) else "–"


def _list_table(rows: pl.DataFrame, metric: str) -> str:
    _, _, unit = LABELS.get(metric, (metric, metric, ""))
    head = (
        _th("排名", "rank")
        + _th("代码", "code", "name")
        + _th("名称", "name", "name")
        + _th("板块", "board", "name")
        + _th("中信一级行业", "CITIC level 1", "name")
        + _th("流通市值", "float cap, 亿元")
        + _th(metric, unit)
    )
    fmt = value_format(metric)
    body = []
    for r in rows.iter_rows(named=True):
        board = str(r["board"] or "–")
        cells = [
            f'<td class="num">{int(r["rank"])}</td>',
            f'<td class="name">{html.escape(str(r["code"]))}</td>',
            f'<td class="name">{html.escape(str(r["name"] or "–"))}</td>',
            f'<td class="name">{html.escape(BOARD_LABELS.get(board, board))}</td>',
            f'<td class="name">{html.escape(str(r["industry_l1"] or "–"))}</td>',
            _td(r["float_mcap"], _cap, signed=False),
            _td(r["value"], fmt, signed=metric not in ABSOLUTE_METRICS),
        ]
        body.append(f"<tr>{''.join(cells)}</tr>")
    if not body:
        body.append('<tr><td class="name" colspan="7">没有数值 · no stock has a value</td></tr>')
    return f'<table class="t"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def render_top_html(
    lists: pl.DataFrame,
    counts: pl.DataFrame,
    *,
    title: str,
    meta: Mapping[str, str] | None = None,
    generated_at: dt.datetime | None = None,
) -> str:
    """The page: a header with ``meta`` (run, date, pool...), then one card per metric.

    ``lists`` is :func:`~etfflow.backtest.topk.top_lists`' result, ``counts``
    :func:`~etfflow.backtest.topk.cross_section_counts`' (the stocks left out without a value
    are noted under each table).
    """
    when = (generated_at or dt.datetime.now()).strftime("%Y-%m-%d %H:%M")
    meta_html = "".join(
        f"<div><dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd></div>"
        for k, v in (meta or {}).items()
    )
    missing = {r["metric"]: r for r in counts.iter_rows(named=True)}
    cards = []
    for metric in counts["metric"].to_list():
        zh, en, _ = LABELS.get(metric, (metric, metric, ""))
        rows = lists.filter(pl.col("metric") == metric)
        c = missing[metric]
        note = (
            f"{c['n_valued']} / {c['n_stocks']} 只股票有数值; {c['n_missing']} 只无数值未列入 · "
            f"{c['n_missing']} stocks without a value left out"
        )
        cards.append(
            f'<section class="card"><h2>{html.escape(zh)}<small>{html.escape(metric)} · '
            f"{html.escape(en)}</small></h2>"
            f'<div class="wrap">{_list_table(rows, metric)}</div>'
            f'<p class="note">{html.escape(note)}</p></section>'
        )
    parts = [
        page_start(title, meta_html, when),
        "".join(cards) or '<p class="note">没有指标 · no metrics</p>',
        "<footer>按数值降序; 数值相同按代码升序 (descending by value, ties by code ascending). "
        "行业为当日中信一级行业; 流通市值单位亿元 (1e8 CNY). "
        "Huaan 2024-12 tables 34, 39; Kaiyuan 2024-09 tables 2–3. Definitions: "
        "docs/methodology.md#23-stock-level-metrics, docs/methodology.md#32-the-factor-families."
        "</footer>",
        "</div></body></html>",
    ]
    return "\n".join(parts)

"""Self-contained HTML report of an industry rotation run (Huafu 2026-02; docs/reports.md).

:func:`render_html` turns the tables of one
:class:`~etfflow.backtest.rotation.result.RotationResult` into a single HTML page: the CSS of
the factor report (:mod:`etfflow.backtest.report_style`), its cell formats and colours
(:mod:`etfflow.backtest.report_tables`: negative numbers red, positive green) and the
matplotlib figures of :mod:`etfflow.plots.rotation` inlined as SVG. No script, no network.
:func:`write_html` writes it atomically.

Layout, after the header (title, parameters, dates covered, generation time), one section per
anchor of :data:`SECTIONS`:

- ``summary``: every strategy's whole-period metrics (``summary`` rows with period ``all``);
- ``yearly``: the composite by calendar year, then the whole period (全区间);
- ``nav``: the composite's NAV against equal weight, the relative NAV and its drawdown;
- ``flow``: the weekly flow quantile NAVs and long-short, their metrics, and by year the top
  group's excess and tracking error and the long-short's return and volatility;
- ``regimes``: size and style ratios with their HP trends and regimes, the last weeks' regimes;
- ``levels``: the holding level L and its monthly change dL as quantile groups (1 = lowest),
  industries by month, for the last :data:`RECENT_MONTHS` months;
- ``divergence``: the latest month's divergence by industry, the issuance heat, the
  divergence-tercile table;
- ``correlation``: the mean rank correlation between the four signals;
- ``holdings``: the composite's holdings over the last :data:`RECENT_REBALANCES` rebalances
  with their flags and returns, the sector mix and the per-industry hit rates.

Every table and chart shows "无数据 · no data" when its frame is empty or all-null.
"""

from __future__ import annotations

import datetime as dt
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from etfflow._common import atomic_path
from etfflow.backtest import report_tables as T
from etfflow.backtest.report_style import page_start
from etfflow.backtest.rotation.result import SIGNALS, RotationResult
from etfflow.exceptions import EtfflowError
from etfflow.plots import rotation as RP
from etfflow.plots.style import COLORS, to_svg

__all__ = ["DEFAULT_TITLE", "SECTIONS", "render_html", "write_html"]

PCT1, PCT2, NUM2 = T.PCT1, T.PCT2, T.NUM2
Fmt = T.Fmt

DEFAULT_TITLE = "ETF资金流向行业轮动 / Industry rotation from ETF flows"

#: Months of the L / dL quantile tables.
RECENT_MONTHS = 6
#: Rebalances of the holdings table.
RECENT_REBALANCES = 6
#: Weeks of the latest-regimes table.
RECENT_WEEKS = 8

#: Section anchors and headings (Chinese, English), in page order.
SECTIONS: dict[str, tuple[str, str]] = {
    "summary": ("策略绩效汇总", "strategies, whole period"),
    "yearly": ("综合策略分年度表现", "composite by year"),
    "nav": ("综合策略净值", "composite NAV vs equal weight"),
    "flow": ("短期资金流入流出分组", "weekly flow quantiles"),
    "regimes": ("风格阶段", "size and style regimes"),
    "levels": ("持仓程度及边际变化分组", "holding level L and change dL groups"),
    "divergence": ("与主动权益的持仓分歧度", "divergence from active funds"),
    "correlation": ("信号相关性", "signal correlation"),
    "holdings": ("策略持仓", "composite holdings"),
}

_STRATEGY_LABELS: dict[str, tuple[str, str]] = {
    "composite": ("综合策略", "composite"),
    "style": ("风格调整持仓", "style-adjusted holding"),
    "divergence": ("持仓分歧度", "divergence"),
    "equal_weight": ("行业等权", "equal weight"),
    "flow_ls": ("资金流多空", "flow long-short"),
}

_SIGNAL_LABELS: dict[str, tuple[str, str]] = {
    "flow": ("短期资金流", "flow"),
    "level": ("持仓程度", "level L"),
    "change": ("持仓边际变化", "change dL"),
    "divergence": ("持仓分歧度", "divergence"),
}

#: Columns of the metric tables: (summary column, Chinese, English, format, coloured by sign).
_METRIC_COLS: tuple[tuple[str, str, str, Fmt, bool], ...] = (
    ("annual_return", "年化收益", "ann. return", PCT2, True),
    ("volatility", "年化波动", "volatility", PCT2, False),
    ("sharpe", "夏普比率", "Sharpe", NUM2, True),
    ("max_drawdown", "最大回撤", "max DD", PCT2, False),
    ("excess_return", "超额收益", "excess", PCT2, True),
    ("tracking_error", "跟踪误差", "TE", PCT2, False),
    ("information_ratio", "信息比", "IR", NUM2, True),
    ("relative_max_drawdown", "相对最大回撤", "relative max DD", PCT2, False),
    ("monthly_win_rate", "月度胜率", "monthly win rate", PCT1, False),
    ("gain_loss_ratio", "赔率", "gain/loss", NUM2, False),
    ("n_days", "交易日", "days", T.fmt_int, False),
)

_EXTRA_CSS = """
nav.toc{margin:10px 0 0;font-size:12px}nav.toc a{color:#fff;opacity:.85;margin-right:12px}
table.t tr.span td{text-align:left;background:#f2f5f9;font-weight:600;color:var(--brand)}
table.t td.grp{text-align:center;min-width:34px}
table.t td.flag1{color:var(--pos);font-weight:600;text-align:center}
table.t td.flag0{color:var(--muted);text-align:center}
table.t th.blk{border-left:1px solid var(--line)}
.nodata{font-style:italic}
.grid2 .wrap{max-height:640px;overflow-y:auto}
"""


# --------------------------------------------------------------------------- cells


def _esc(x: object) -> str:
    return html.escape(str(x))


def _head(cols: Sequence[tuple[str, str]], first: tuple[str, str]) -> str:
    return "<tr>" + T._th(*first, "name") + "".join(T._th(a, b) for a, b in cols) + "</tr>"


def _table(head: str, body: Sequence[str], cls: str = "") -> str:
    return (
        f'<div class="wrap"><table class="t {cls}"><thead>{head}</thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _no_data(what: str = "") -> str:
    extra = f" ({_esc(what)})" if what else ""
    return f'<p class="note nodata">无数据 · no data{extra}</p>'


def _name_td(zh: str, en: str = "") -> str:
    small = f"<small>{_esc(en)}</small>" if en else ""
    return f'<td class="name">{_esc(zh)}{small}</td>'


def _strategy_label(name: str) -> tuple[str, str]:
    if name in _STRATEGY_LABELS:
        return _STRATEGY_LABELS[name]
    if name.startswith("flow_q") and name[6:].isdigit():
        return f"资金流第{name[6:]}组", f"flow Q{name[6:]}"
    return name, ""


def _rgb(hex_colour: str) -> str:
    return ",".join(str(int(hex_colour[k : k + 2], 16)) for k in (1, 3, 5))


_BRAND = _rgb(COLORS["long_short"])


def _group_td(g: object, q: int) -> str:
    """A quantile group number on a background as dark as the group is high."""
    if not T.finite(g):
        return '<td class="grp">–</td>'
    a = 0.06 + 0.5 * (int(g) - 1) / max(q - 1, 1)
    ink = "color:#fff;" if a > 0.4 else ""
    return f'<td class="grp" style="{ink}background:rgba({_BRAND},{a:.2f})">{int(g)}</td>'


def _flag_td(x: object) -> str:
    if not T.finite(x):
        return '<td class="flag0">–</td>'
    return f'<td class="flag{1 if int(x) else 0}">{int(x)}</td>'


# --------------------------------------------------------------------------- sections


def _strategy_order(names: Sequence[str]) -> list[str]:
    flows = sorted((n for n in names if n.startswith("flow_q") and n[6:].isdigit()),
                   key=lambda n: int(n[6:]))  # fmt: skip
    known = ["composite", "style", "divergence", "equal_weight", *flows, "flow_ls"]
    return [n for n in known if n in names] + [n for n in names if n not in known]


def _summary_table(result: RotationResult) -> str:
    s = result["summary"].filter(pl.col("period") == "all")
    if s.height == 0:
        return _no_data()
    by = {str(r["strategy"]): r for r in s.iter_rows(named=True)}
    body = []
    for name in _strategy_order(list(by)):
        zh, en = _strategy_label(name)
        r = by[name]
        cells = "".join(T._td(r.get(c), f, signed=sg) for c, _, _, f, sg in _METRIC_COLS)
        body.append(f'<tr data-strategy="{_esc(name)}">{_name_td(zh, en)}{cells}</tr>')
    head = _head([(a, b) for _, a, b, _, _ in _METRIC_COLS], ("策略", "strategy"))
    return _table(head, body, "summary")


def _year_rows(result: RotationResult, strategy: str) -> tuple[list[dict], dict | None]:
    s = result["summary"].filter(pl.col("strategy") == strategy)
    years = sorted(
        (r for r in s.iter_rows(named=True) if r["period"] != "all"), key=lambda r: r["period"]
    )
    whole = next((r for r in s.iter_rows(named=True) if r["period"] == "all"), None)
    return years, whole


def _yearly_table(result: RotationResult, strategy: str = "composite") -> str:
    years, whole = _year_rows(result, strategy)
    if not years and whole is None:
        return _no_data()
    cols = list(_METRIC_COLS)
    cols[0] = ("annual_return", "收益", "return (year: not annualised)", PCT2, True)
    body = []
    for r in years:
        cells = "".join(T._td(r.get(c), f, signed=sg) for c, _, _, f, sg in cols)
        body.append(f"<tr>{_name_td(str(r['period']))}{cells}</tr>")
    if whole is not None:
        cells = "".join(T._td(whole.get(c), f, signed=sg) for c, _, _, f, sg in cols)
        body.append(f'<tr class="whole">{_name_td("全区间", "whole, annualised")}{cells}</tr>')
    head = _head([(a, b) for _, a, b, _, _ in cols], ("年份", "year"))
    return _table(head, body, "yearly")


def _flow_tables(result: RotationResult) -> str:
    names = RP.flow_group_names(result)
    s = result["summary"]
    cols = _METRIC_COLS[:5]
    rows = []
    for name in [*names, "flow_ls", "equal_weight"]:
        r = RP.summary_row(result, name)
        if r:
            zh, en = _strategy_label(name)
            cells = "".join(T._td(r.get(c), f, signed=sg) for c, _, _, f, sg in cols)
            rows.append(f"<tr>{_name_td(zh, en)}{cells}</tr>")
    left = (
        _table(_head([(a, b) for _, a, b, _, _ in cols], ("分组", "group")), rows)
        if rows
        else _no_data()
    )
    top = names[-1] if names else None
    years = sorted(
        {str(p) for p in s.filter(pl.col("strategy").is_in([top or "", "flow_ls"]))["period"]}
        - {"all"}
    )
    right = _no_data()
    if top and years:
        k = top[6:]
        body = []
        for y in [*years, "all"]:
            t, ls = RP.summary_row(result, top, y), RP.summary_row(result, "flow_ls", y)
            cells = (
                T._td(t.get("excess_return"), PCT2)
                + T._td(t.get("tracking_error"), PCT2, signed=False)
                + T._td(ls.get("annual_return"), PCT2)
                + T._td(ls.get("volatility"), PCT2, signed=False)
            )
            label = _name_td("全区间", "annualised") if y == "all" else _name_td(y)
            cls = ' class="whole"' if y == "all" else ""
            body.append(f"<tr{cls}>{label}{cells}</tr>")
        head = _head(
            [
                (f"第{k}组超额", f"Q{k} excess"),
                ("跟踪误差", f"Q{k} TE"),
                ("多空收益", "long-short return"),
                ("多空波动", "long-short vol."),
            ],
            ("年份", "year"),
        )
        right = _table(head, body)
    return (
        '<div class="grid2"><div><h3>分组绩效 <small>per group, whole period</small></h3>'
        f"{left}</div><div><h3>分年度 <small>top group excess and long-short by year</small>"
        f"</h3>{right}</div></div>"
    )


def _regime_table(result: RotationResult) -> str:
    reg = result["regimes"]
    if reg.height == 0:
        return _no_data()
    dates = sorted(reg["date"].unique().drop_nulls().to_list())[-RECENT_WEEKS:]
    by = {
        (r["date"], r["pair"]): r
        for r in reg.filter(pl.col("date").is_in(dates)).iter_rows(named=True)
    }
    body = []
    for d in dates:
        cells = ""
        for pair in ("size", "style"):
            r = by.get((d, pair), {})
            g = r.get("regime")
            _, one, zero = RP.PAIR_LABELS[pair]
            lab = "–" if g is None else (f"1 {one[0]}" if g == 1 else f"0 {zero[0]}")
            cells += (
                T._td(r.get("ratio"), T._num(4), signed=False)
                + T._td(r.get("signal"), T._num(5))
                + f'<td class="num">{_esc(lab)}</td>'
            )
        body.append(f"<tr>{_name_td(str(d))}{cells}</tr>")
    head = _head(
        [
            ("大小盘比值", "size ratio"),
            ("信号", "signal"),
            ("大小盘", "1 = large"),
            ("成长价值比值", "style ratio"),
            ("信号", "signal"),
            ("成长价值", "1 = growth"),
        ],
        ("周", "week"),
    )
    return _table(head, body)


def _level_tables(result: RotationResult) -> str:
    m = result["industry_monthly"]
    q = result.params.quantiles
    months = sorted(
        m.filter(pl.col("level_group").is_not_null() | pl.col("change_group").is_not_null())["date"]
        .unique()
        .to_list()
    )[-RECENT_MONTHS:]
    if not months:
        return _no_data()
    sub = m.filter(pl.col("date").is_in(months))
    cell = {(r["industry"], r["date"]): r for r in sub.iter_rows(named=True)}
    industries = sorted(sub["industry"].unique().drop_nulls().to_list())
    body = []
    for ind in industries:
        tds = "".join(_group_td(cell.get((ind, d), {}).get("level_group"), q) for d in months)
        tds += "".join(_group_td(cell.get((ind, d), {}).get("change_group"), q) for d in months)
        body.append(f"<tr>{_name_td(ind)}{tds}</tr>")
    labels = "".join(f"<th>{d:%Y-%m}</th>" for d in months)
    n = len(months)
    head = (
        f'<tr><th class="name" rowspan="2">行业<small>industry</small></th>'
        f'<th colspan="{n}" class="blk">持仓程度分组 <small>level L group</small></th>'
        f'<th colspan="{n}" class="blk">持仓边际变化分组 <small>change dL group</small></th></tr>'
        f"<tr>{labels}{labels}</tr>"
    )
    return _table(head, body, "groups")


def _tercile_table(result: RotationResult) -> str:
    g = result["divergence_groups"].sort("side", "tercile", descending=[True, False])
    if g.height == 0 or g["mean_return"].null_count() == g.height:
        return _no_data("no month with both divergence and next-month returns")
    side = {"positive": ("正向", "ETF higher"), "negative": ("负向", "active higher")}
    body = []
    for r in g.iter_rows(named=True):
        zh, en = side.get(str(r["side"]), (str(r["side"]), ""))
        cells = (
            f'<td class="num">{T.fmt_int(r.get("tercile"))}</td>'
            + T._td(r.get("mean_return"), PCT2)
            + T._td(r.get("annual_return"), PCT2)
            + T._td(r.get("excess_return"), PCT2)
            + T._td(r.get("win_rate"), PCT1, signed=False)
            + f'<td class="num">{T.fmt_int(r.get("n_months"))}</td>'
        )
        body.append(f"<tr>{_name_td(zh, en)}{cells}</tr>")
    head = _head(
        [
            ("三分位", "tercile, 1 = lowest"),
            ("月均收益", "mean monthly"),
            ("年化收益", "ann. return"),
            ("超额收益", "excess"),
            ("胜率", "win rate"),
            ("月数", "months"),
        ],
        ("分歧方向", "side"),
    )
    return _table(head, body)


def _correlation_table(result: RotationResult) -> str:
    c = result["correlation"]
    if c.height == 0 or all(c[s].null_count() == c.height for s in SIGNALS):
        return _no_data()
    body = []
    for r in c.iter_rows(named=True):
        zh, en = _SIGNAL_LABELS.get(str(r["signal"]), (str(r["signal"]), ""))
        cells = "".join(T._td(r.get(s), NUM2, tint=1.0) for s in SIGNALS)
        body.append(f"<tr>{_name_td(zh, en)}{cells}</tr>")
    head = _head([_SIGNAL_LABELS[s] for s in SIGNALS], ("信号", "signal"))
    return _table(head, body, "stats")


def _holdings_table(result: RotationResult) -> str:
    h = result["holdings"]
    if h.height == 0:
        return _no_data()
    dates = sorted(h["date"].unique().drop_nulls().to_list())[-RECENT_REBALANCES:]
    body = []
    for d in dates:
        part = h.filter(pl.col("date") == d).sort("industry")
        a, b = part["start"].min(), part["end"].max()
        body.append(
            f'<tr class="span"><td colspan="6">{_esc(a)} → {_esc(b)}: 策略持仓及收益 · '
            f"holdings and returns (decided {_esc(d)})</td></tr>"
        )
        for r in part.iter_rows(named=True):
            body.append(
                f"<tr>{_name_td(str(r['industry']))}"
                + _flag_td(r.get("flow_flag"))
                + _flag_td(r.get("style_flag"))
                + _flag_td(r.get("divergence_flag"))
                + T._td(r.get("period_return"), PCT2)
                + T._td(r.get("excess_return"), PCT2)
                + "</tr>"
            )
    head = _head(
        [
            ("短期资金明显流入", "flow in"),
            ("风格调整后持仓优势", "style-adjusted holding"),
            ("分歧度与新发热度同向", "divergence agrees with heat"),
            ("绝对收益", "return"),
            ("超额收益", "excess"),
        ],
        ("行业", "industry"),
    )
    return _table(head, body, "holdings")


def _hits_table(result: RotationResult) -> str:
    h = result["industry_hits"].sort(
        "hit_rate", "industry", descending=[True, False], nulls_last=True
    )
    if h.height == 0:
        return _no_data()
    body = [
        f"<tr>{_name_td(str(r['industry']))}<td class='num'>{_esc(r.get('sector') or '–')}</td>"
        f'<td class="num">{T.fmt_int(r.get("n_held"))}</td>'
        + T._td(r.get("hit_rate"), PCT1, signed=False)
        + T._td(r.get("mean_excess"), PCT2)
        + "</tr>"
        for r in h.iter_rows(named=True)
    ]
    head = _head(
        [("板块", "sector"), ("持有期数", "periods held"), ("胜率", "hit rate"),
         ("平均超额", "mean excess")],
        ("行业", "industry"),
    )  # fmt: skip
    return _table(head, body)


def _figures(result: RotationResult, cjk: bool | None) -> dict[str, str]:
    """Every report figure as inline SVG (figures are dropped once serialised)."""
    out: dict[str, str] = {}
    with RP.quiet_glyphs():
        figs = RP.report_figures(result, cjk=cjk)
        for k in list(figs):
            out[k] = (
                f'<div class="chart" data-chart="{k}">{to_svg(figs.pop(k), uid=f"rot-{k}")}</div>'
            )
    return out


def _params(result: RotationResult) -> dict[str, str]:
    p = result.params
    out = {
        "pool": p.pool,
        "level": p.level,
        "top": str(p.top),
        "rebalance": f"every {p.rebalance} trading days",
        "trade lag": f"{p.trade_lag} day(s)",
        "hp_lambda": f"{p.hp_lambda:g}",
        "size": " / ".join(p.size_indices),
        "style": " / ".join(p.style_indices),
        "quantiles": str(p.quantiles),
        "start": str(p.start) if p.start else "first signal day",
    }
    first = result.meta.get("first_signal_day")
    if first and not p.start:
        out["start"] = f"{first} (first signal day)"
    if "rebalance_days" in result.meta:
        out["rebalances"] = str(result.meta["rebalance_days"])
    return out


def _covered(result: RotationResult) -> str:
    n = result["nav"].filter(pl.col("strategy") == "composite")
    n = n if n.height else result["nav"]
    if n.height == 0:
        return "–"
    lo, hi = n["date"].min(), n["date"].max()
    return f"{lo!s} → {hi!s}"


def _section(key: str, body: str) -> str:
    zh, en = SECTIONS[key]
    return (
        f'<section class="card" id="{key}"><h2>{_esc(zh)}<small>{_esc(en)}</small></h2>'
        f"{body}</section>"
    )


def render_html(
    result: RotationResult,
    *,
    title: str | None = None,
    meta: Mapping[str, str] | None = None,
    generated_at: dt.datetime | None = None,
    cjk: bool | None = None,
) -> str:
    """Render a rotation run as one self-contained HTML page (inline CSS and SVG, no script).

    Parameters
    ----------
    result
        What :func:`etfflow.backtest.rotation.run.rotate` returns (or a stored run reloaded).
    title
        Page title (escaped); default :data:`DEFAULT_TITLE`.
    meta
        Extra header entries shown first (run id, dataset, ...); escaped.
    generated_at
        Time stamp printed in the header (default: now, local time).
    cjk
        Chart labels: None = bilingual when a CJK font is installed, True = require one,
        False = English only (tables are always bilingual).

    Returns
    -------
    str
        The HTML document. It references nothing outside itself.

    Raises
    ------
    EtfflowError
        When ``result`` is not a :class:`RotationResult` or a table does not follow
        :data:`~etfflow.backtest.rotation.result.SCHEMAS`.

    Notes
    -----
    Metrics are those of the ``summary`` table: annual return (whole period annualised over
    242 trading days; a year row is that year's return, not annualised), volatility, Sharpe
    (no risk-free rate), max drawdown (a positive number), excess return over the strategy's
    equal-weight benchmark, tracking error, information ratio, max drawdown of the relative
    NAV ``nav / benchmark_nav``, monthly win rate and gain/loss ratio of monthly excess.
    Quantile groups count from 1 = lowest.

    Examples
    --------
    >>> import polars as pl
    >>> from etfflow.backtest.rotation.params import RotationParams
    >>> from etfflow.backtest.rotation.result import SCHEMAS, RotationResult, empty
    >>> r = RotationResult(RotationParams(), {k: empty(k) for k in SCHEMAS})
    >>> page = render_html(r)
    >>> "无数据 · no data" in page, "<script" in page, page.count("<svg") == 5
    (True, False, True)
    """
    if not isinstance(result, RotationResult):
        raise EtfflowError(
            f"rotation report: expected a RotationResult, got {type(result).__name__}"
        )
    result.check()
    title = title or DEFAULT_TITLE
    info = {str(k): str(v) for k, v in (meta or {}).items()}
    for k, v in {**_params(result), "dates covered": _covered(result)}.items():
        info.setdefault(k, v)
    when = (generated_at or dt.datetime.now()).strftime("%Y-%m-%d %H:%M")
    meta_html = "".join(f"<div><dt>{_esc(k)}</dt><dd>{_esc(v)}</dd></div>" for k, v in info.items())
    toc = "".join(f'<a href="#{k}">{_esc(zh)}</a>' for k, (zh, _) in SECTIONS.items())
    fig = _figures(result, cjk)
    top = result.params.top
    sections = [
        _section(
            "summary",
            _summary_table(result)
            + f'<p class="note">综合 / 风格 / 分歧度策略持有 {top} 个行业, 每 '
            f"{result.params.rebalance} 个交易日调仓; 资金流分组每周调仓. "
            "超额相对同调仓日的行业等权; 年化按 242 个交易日; 最大回撤为正数.</p>",
        ),
        _section("yearly", _yearly_table(result)),
        _section("nav", fig["nav"]),
        _section("flow", fig["flow"] + _flow_tables(result)),
        _section(
            "regimes",
            fig["regimes"]
            + "<h3>最近风格信号 <small>latest weekly regimes</small></h3>"
            + _regime_table(result),
        ),
        _section(
            "levels",
            _level_tables(result)
            + f'<p class="note">每月末截面分 {result.params.quantiles} 组, 第 1 组最低; '
            "颜色越深组号越高.</p>",
        ),
        _section(
            "divergence",
            fig["divergence"]
            + "<h3>分歧度三分位 <small>divergence terciles within each side, next-month "
            "return</small></h3>" + _tercile_table(result),
        ),
        _section("correlation", _correlation_table(result)),
        _section(
            "holdings",
            "<h3>最近持仓 <small>last rebalances</small></h3>"
            + _holdings_table(result)
            + fig["mix"]
            + "<h3>行业持仓胜率 <small>hit rate vs equal weight</small></h3>"
            + _hits_table(result),
        ),
    ]
    parts = [
        page_start(
            title, meta_html, when, css=_EXTRA_CSS, header_extra=f'<nav class="toc">{toc}</nav>'
        ),
        *sections,
        "<footer>相对净值 = 策略净值 / 行业等权净值, 阴影为其相对历史最高点的回撤. "
        "风格阶段: 单边HP滤波趋势的因子动量 > 0 为 1 (大盘 / 成长). "
        "分歧度 = ETF 持仓占比 − 主动权益持仓占比. "
        "Definitions: docs/methodology.md.</footer>",
        "</div></body></html>",
    ]
    return "\n".join(parts)


def write_html(
    result: RotationResult,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    meta: Mapping[str, str] | None = None,
    generated_at: dt.datetime | None = None,
    cjk: bool | None = None,
) -> Path:
    """Write :func:`render_html` to ``path`` atomically (temporary file, then ``os.replace``).

    Parameters
    ----------
    result, title, meta, generated_at, cjk
        As for :func:`render_html`.
    path
        Output file; missing parent folders are created; an existing file is replaced only
        once the new one is complete, and a failure leaves no temporary file.

    Returns
    -------
    Path
        ``path``.
    """
    out = Path(path)
    page = render_html(result, title=title, meta=meta, generated_at=generated_at, cjk=cjk)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out

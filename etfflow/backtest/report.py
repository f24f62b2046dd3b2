"""Self-contained HTML report of an :class:`~etfflow.backtest.engine.Evaluation`, and a PNG.

What the numbers mean: docs/methodology.md#59-whole-period-metrics and
docs/methodology.md#510-per-year-table; the page and its figures: docs/reports.md.

:func:`render_html` turns the tables of one evaluation into a single HTML page: inline CSS
(:mod:`etfflow.backtest.report_style`), the matplotlib figures of :mod:`etfflow.plots`
inlined as SVG (no JavaScript library, no network), a tiny inline script for the "expand all"
buttons and for printing. :func:`write_html` writes it atomically; :func:`write_png` saves a
factor's tear sheet (:func:`etfflow.plots.tear_sheet`) with matplotlib, no browser.

Layout, after the header (title, run metadata, coverage, generation time):

- the summary table, one row per factor, in the columns of Huaan 2024-12 table 47;
- Rank IC and long-excess per calendar year across factors (Huaan 2024-12 tables 48–49);
- one collapsible section per factor (the first one open; printing opens them all): long-short
  NAV with its drawdown and the long / benchmark / excess NAVs, annualised return per group
  with the benchmark, Rank IC per period with its 12-period moving average, the Rank IC
  histogram, turnover of the long and short groups, every group's cumulative return, the
  series statistics (return, volatility, Sharpe, drawdown; :func:`etfflow.plots.series_stats`)
  and the per-year table of Huaan 2024-12 table 59.

Colours come from :data:`etfflow.plots.COLORS` and follow the brief of the report, not the
A-share convention: negative numbers red, positive green (CSS classes ``neg`` / ``pos``).
Labels are bilingual; the charts fall back to English labels on a machine without a CJK font
(:func:`etfflow.plots.cjk_font`), the tables stay bilingual (the browser draws them).
"""

from __future__ import annotations

import datetime as dt
import html
import multiprocessing
import os
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import polars as pl

from etfflow._common import atomic_path
from etfflow.backtest import report_tables as T
from etfflow.backtest.engine import Evaluation
from etfflow.backtest.report_style import JS, page_start
from etfflow.exceptions import EtfflowError
from etfflow.plots import page_figures, series_stats, tear_sheet, to_svg
from etfflow.plots.style import IC_MA_WINDOW, cjk_font

__all__ = ["IC_MA_WINDOW", "render_html", "write_html", "write_png"]

PCT1, PCT2, NUM2 = T.PCT1, T.PCT2, T.NUM2

#: Below this many factors the sections are drawn in this process (starting workers costs more).
PARALLEL_MIN_FACTORS = 6


def _figures_html(i: int, ev: Evaluation, name: str, *, cjk: bool = False) -> str:
    """The factor's figures as inline SVG: NAV, then two per row, then every group's NAV."""
    figs = page_figures(ev, name, cjk=cjk)
    svg = {k: to_svg(fig, uid=f"f{i}-{k}") for k, fig in figs.items()}

    def box(k: str) -> str:
        return f'<div class="chart" data-chart="{k}">{svg[k]}</div>'

    return (
        box("nav")
        + f'<div class="charts2">{box("group_returns")}{box("rank_ic")}</div>'
        + f'<div class="charts2">{box("ic_histogram")}{box("turnover")}</div>'
        + box("group_navs")
    )


def _factor_section(
    i: int,
    name: str,
    s: Mapping,
    ev: Evaluation,
    spans: Mapping[int, tuple[int, int]],
    stats: pl.DataFrame,
    cjk: bool = False,
) -> str:
    yrows = T.rows(ev.yearly.filter(pl.col("factor") == name).sort("year"))
    note = s.get("note")
    note_html = f'<p class="note">{html.escape(str(note))}</p>' if note else ""
    opened = " open" if i == 0 else ""
    if not s.get("n_periods"):  # no value on any rebalance date: a note, no charts
        return (
            f'<details class="factor" id="f{i}"{opened}>'
            f'<summary><span class="fname">{html.escape(name)}</span>'
            f'<span class="kpi"><span>{html.escape(str(note or "no values"))}</span></span>'
            f'</summary><div class="body">{note_html}</div></details>'
        )
    gl = T.gain_loss(ev, name, s.get("direction"), s.get("groups"))
    sign = T.sign
    kpi = (
        f"<span>Rank IC <b class='{sign(s.get('rank_ic'))}'>{PCT2(s.get('rank_ic'))}</b></span>"
        f"<span>多头年化超额(复利) <b class='{sign(s.get('long_excess_ann'))}'>"
        f"{PCT1(s.get('long_excess_ann'))}</b></span>"
        f"<span>多空年化 <b class='{sign(s.get('long_short_ann_return'))}'>"
        f"{PCT1(s.get('long_short_ann_return'))}</b></span>"
        f"<span>方向 {T.fmt_direction(s.get('direction'))}</span>"
    )
    own = stats.filter(pl.col("factor") == name)
    return (
        f'<details class="factor" id="f{i}"{opened}>'
        f'<summary><span class="fname">{html.escape(name)}</span>'
        f'<span class="kpi">{kpi}</span></summary>'
        f'<div class="body">{note_html}{_figures_html(i, ev, name, cjk=cjk)}'
        f'<div class="wrap">{T.series_stats_table(own)}</div>'
        f'<div class="wrap">{T.factor_yearly_table(yrows, s, gl, spans)}</div>'
        f"{_wrap(T.long_group_table(ev, name))}</div></details>"
    )


def _wrap(table: str) -> str:
    return f'<div class="wrap">{table}</div>' if table else ""


def _one_factor(ev: Evaluation, name: str) -> Evaluation:
    """The rows of ``ev`` that ``name``'s section reads (what a worker is sent)."""
    return Evaluation(
        **{
            k: df.filter(pl.col("factor") == name) if "factor" in df.columns else df
            for k, df in ev.__dict__.items()
        }
    )


def _sections(
    ev: Evaluation,
    srows: Sequence[Mapping],
    spans: Mapping[int, tuple[int, int]],
    stats: pl.DataFrame,
    workers: int | None,
) -> list[str]:
    """Every factor's section, in order; drawn by ``workers`` processes when there are at
    least :data:`PARALLEL_MIN_FACTORS` factors (each section depends only on its factor, so
    the page is the same whatever the number of workers)."""
    cjk = cjk_font() is not None  # decided here: every worker draws the same labels
    names = [str(r["factor"]) for r in srows]
    n = min(workers or os.cpu_count() or 1, len(names))
    if n <= 1 or len(names) < PARALLEL_MIN_FACTORS:
        return [
            _factor_section(i, name, r, ev, spans, stats, cjk)
            for i, (name, r) in enumerate(zip(names, srows, strict=True))
        ]
    # spawn, not fork: Polars and numba threads are running in this process
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(n, mp_context=ctx) as pool:
        jobs = [
            pool.submit(
                _factor_section,
                i,
                name,
                r,
                _one_factor(ev, name),
                spans,
                stats.filter(pl.col("factor") == name),
                cjk,
            )
            for i, (name, r) in enumerate(zip(names, srows, strict=True))
        ]
        return [j.result() for j in jobs]


def benchmark_note(ev: Evaluation) -> str:
    """The footer's benchmark sentence: equal weight (the reports') or the index used."""
    names = (
        ev.summary["benchmark"].drop_nulls().unique().to_list()
        if "benchmark" in ev.summary.columns
        else []
    )
    index = [n for n in names if n != "equal_weight"]
    if not index:
        return "基准 = 等权全市场 (Huaan 2024-12 §3.3; docs/methodology.md#57-benchmark)."
    return (
        f"基准 = 指数 {html.escape(', '.join(index))} · benchmark = index "
        "(docs/methodology.md#57-benchmark)."
    )


def render_html(
    ev: Evaluation,
    *,
    title: str,
    meta: Mapping[str, str] | None = None,
    generated_at: dt.datetime | None = None,
    workers: int | None = 1,
    detail: Collection[str] | None = None,
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
    workers
        Processes drawing the factors' figures: 1 (default) draws them in this process,
        None one per CPU. The page does not depend on it. Workers are started with
        ``spawn``: a script that asks for them needs the ``if __name__ == "__main__":``
        guard.
    detail
        Factors that get a section with figures (default: all). Drawing costs about 0.5 s
        per factor; the summary and per-year tables always list every factor, and the page
        says which sections were left out and how to draw them all.

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
    srows = T.rows(ev.summary)
    names = [str(r["factor"]) for r in srows]
    covered, spans = T.coverage(ev)
    years = sorted({int(y) for y in ev.yearly["year"].to_list() if y is not None})
    first = srows[0] if srows else {}
    rebalance = str(first.get("rebalance", "–"))
    info: dict[str, str] = {}
    info.update({str(k): str(v) for k, v in (meta or {}).items()})
    derived = {
        "factors": str(len(names)),
        "groups": T.fmt_int(first.get("groups")),
        "rebalance": "month end" if rebalance == "month" else f"every {rebalance} trading days",
        "lag": f"{T.fmt_int(first.get('lag'))} day(s)",
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
    yearly = T.rows(ev.yearly)
    ric = {(str(r["factor"]), int(r["year"])): r.get("rank_ic") for r in yearly}
    exc = {(str(r["factor"]), int(r["year"])): r.get("excess_compounded") for r in yearly}
    whole_ric = {str(r["factor"]): r.get("rank_ic") for r in srows}
    whole_exc = {str(r["factor"]): r.get("long_excess_ann") for r in srows}
    stats = series_stats(ev) if names else pl.DataFrame()
    drawn = srows if detail is None else [r for r in srows if str(r["factor"]) in set(detail)]
    sections = "".join(_sections(ev, drawn, spans, stats, workers))
    if len(drawn) < len(srows):
        run = (meta or {}).get("run", "RUN")
        sections = (
            f'<p class="note">单因子详情仅含 {len(drawn)} / {len(srows)} 个因子 · sections for '
            f"{len(drawn)} of {len(srows)} factors; <code>etfflow report --run "
            f"{html.escape(str(run))} --html FILE</code> draws every factor.</p>" + sections
        )
    parts = [
        page_start(title, meta_html, when),
        '<section class="card"><h2>因子绩效汇总<small>factor performance, whole period</small>'
        "</h2>",
        f'<div class="wrap">{T.summary_table(srows)}</div>',
        T.notes(srows),
        '<p class="note">方向 +1: 多头 = 第 G 组 (因子值最大); -1: 多头 = 第 1 组. '
        "IC胜率 = Rank IC 符号与方向一致的期数占比; 超额相对等权基准; "
        "年化按 242 个交易日.</p></section>",
        '<section class="card"><h2>分年度表现<small>by calendar year of the signal</small></h2>'
        '<div class="grid2"><div><h3>Rank IC</h3><div class="wrap">',
        T.pivot_table(names, years, ric, whole_ric, spans, fmt=PCT2, whole_label=("整体", "whole")),
        "</div></div><div><h3>多头超额(复利) <small>long excess vs benchmark, compounded</small>"
        "</h3>"
        '<div class="wrap">',
        T.pivot_table(
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
        f"{benchmark_note(ev)} "
        "Max drawdown = min(nav / cummax(nav) - 1) on daily NAVs; "
        "IR = mean / std of per-period excess × sqrt(periods per year). "
        "Definitions: docs/methodology.md#5-backtests.</footer>",
        f"</div><script>{JS}</script></body></html>",
    ]
    return "\n".join(parts)


def write_html(
    ev: Evaluation,
    path: str | os.PathLike[str],
    *,
    title: str,
    meta: Mapping[str, str] | None = None,
    generated_at: dt.datetime | None = None,
    workers: int | None = 1,
    detail: Collection[str] | None = None,
) -> Path:
    """Write :func:`render_html` to ``path`` atomically (temporary file, then ``os.replace``).

    Parameters
    ----------
    ev, title, meta, generated_at, workers, detail
        As for :func:`render_html`.
    path
        Output file; missing parent folders are created.

    Returns
    -------
    Path
        ``path``.
    """
    out = Path(path)
    page = render_html(
        ev, title=title, meta=meta, generated_at=generated_at, workers=workers, detail=detail
    )
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out


def write_png(
    ev: Evaluation,
    path: str | os.PathLike[str],
    *,
    factor: str | None = None,
    dpi: int = 100,
    cjk: bool | None = None,
) -> Path:
    """Save a factor's tear sheet (:func:`etfflow.plots.tear_sheet`) as a PNG, atomically.

    Parameters
    ----------
    ev
        An evaluation.
    path
        Output file; missing parent folders are created; an existing file is replaced only
        once the new one is complete.
    factor
        The factor to draw; default the first one with values (the section the HTML report
        opens), else the first one.
    dpi
        Resolution (the default tear sheet is 12 in wide: 1,200 px).
    cjk
        As for :func:`etfflow.plots.nav`.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    EtfflowError
        When ``ev`` has no factors or no factor ``factor``.
    """
    if not isinstance(ev, Evaluation):
        raise EtfflowError(f"write_png: expected an Evaluation, got {type(ev).__name__}")
    names = ev.summary["factor"].to_list()
    if not names:
        raise EtfflowError("write_png: the evaluation has no factors")
    if factor is None:
        held = ev.summary.filter(pl.col("n_periods") > 0)["factor"].to_list()
        factor = held[0] if held else names[0]
    fig = tear_sheet(ev, factor, cjk=cjk)
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": "etfflow"})
    return out

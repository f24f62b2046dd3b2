"""A stored study as one self-contained HTML page (``etfflow study report --html``).

The page has the header and style sheet of every etfflow report
(:func:`etfflow.backtest.report_style.page_start`) and three cards, from the tables of
:mod:`etfflow.pipeline.study.report`:

- ``pivot``: a ``bt_summary`` metric by grid value (rows × columns), as a table and as a heat
  map with the values written in the cells (Kaiyuan 2024-09 table 7 for RankICIR by pool ×
  factor);
- ``best``: the best cells by that metric, with their grid values and run ids;
- ``stability``: each cell's Rank IC and long-short return per calendar year with the
  whole-period value and the share of years of the same sign, each as a table and a heat map
  (at most :data:`MAX_HEAT_ROWS` cells; the page says when cells are left out of the map).

Figures are inline SVG (:func:`etfflow.plots.style.to_svg`); no script, no network.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from etfflow._common import atomic_path
from etfflow.backtest.report_style import page_start
from etfflow.backtest.report_tables import (
    _SUMMARY_COLS,
    NUM2,
    PCT1,
    PCT2,
    Fmt,
    _td,
    _th,
    fmt_int,
)
from etfflow.engine.store import DEFAULT_STORE
from etfflow.pipeline.study.report import (
    CELL_KEYS,
    DEFAULT_METRIC,
    LOWER_IS_BETTER,
    SIGNED_STRENGTH,
    StudyReport,
    study_report,
)
from etfflow.plots.study import heatmap
from etfflow.plots.style import Style, to_svg

__all__ = [
    "MAX_HEAT_ROWS",
    "metric_format",
    "metric_label",
    "render_study_html",
    "write_study_html",
]

#: Rows of a heat map at most (the tables list every cell).
MAX_HEAT_ROWS = 60
#: Metrics shown as plain numbers (the others are decimals shown in percent).
_NUMBERS = frozenset(
    {
        "rank_icir",
        "icir",
        "rank_icir_annual",
        "icir_annual",
        "rank_ic_t_nw",
        "information_ratio",
        "gain_loss_ratio",
        "monotonicity",
    }
)
_IC_PCT = frozenset({"rank_ic", "ic", "rank_ic_std", "ic_std", "mean_period_excess"})
_LABELS = {c: (zh, en) for c, zh, en, _f, _s in _SUMMARY_COLS}


def metric_format(metric: str) -> Fmt:
    """How a metric's value is written: counts whole, IC statistics and ratios with two
    decimals, mean ICs in percent with two decimals, returns and rates in percent."""
    if metric == "n_periods":
        return fmt_int
    if metric in _NUMBERS:
        return NUM2
    return PCT2 if metric in _IC_PCT else PCT1


def metric_label(metric: str) -> str:
    """``"RankIC IR (rank_icir)"``: the report's label when the backtest report has one."""
    zh, _en = _LABELS.get(metric, (metric, ""))
    return metric if zh == metric else f"{zh} ({metric})"


def _esc(x: object) -> str:
    return html.escape("–" if x is None else str(x))


def _table(
    df: pl.DataFrame,
    keys: Sequence[str],
    fmts: Mapping[str, Fmt],
    *,
    tint: Mapping[str, float | None] | None = None,
) -> str:
    """``keys`` as left-aligned text, every other column formatted by ``fmts``."""
    tint = tint or {}
    head = "".join(_th(c, cls="name" if c in keys else "") for c in df.columns)
    body = []
    for row in df.iter_rows(named=True):
        tds = [
            f'<td class="name">{_esc(v)}</td>' if c in keys else _td(v, fmts[c], tint=tint.get(c))
            for c, v in row.items()
        ]
        body.append(f"<tr>{''.join(tds)}</tr>")
    if not body:
        body.append(f'<tr><td class="name" colspan="{len(df.columns)}">无数据 · no data</td></tr>')
    return (
        f'<div class="wrap"><table class="t"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _scale(df: pl.DataFrame, cols: Sequence[str]) -> float | None:
    v = df.select(cols).to_numpy().astype(np.float64).ravel() if cols else np.array([])
    v = v[np.isfinite(v)]
    return float(np.max(np.abs(v))) if v.size else None


def _row_labels(df: pl.DataFrame, keys: Sequence[str]) -> list[str]:
    return [" · ".join("–" if v is None else str(v) for v in r) for r in df.select(keys).rows()]


def _svg(style: Style, uid: str, **kw) -> str:
    fig = heatmap(style=style, **kw)
    return f'<div class="chart" data-chart="{uid}">{to_svg(fig, uid=f"study-{uid}")}</div>'


#: yearly metric -> (Chinese, English) label of its stability table and heat map.
_YEARLY_LABELS = {
    "rank_ic": ("分年 Rank IC", "Rank IC by year (whole: the whole-period mean)"),
    "long_short_return": (
        "分年多空收益",
        "long-short return by year (whole: the whole-period annualised return)",
    ),
}


def _stability(style: Style, metric: str, stab: pl.DataFrame) -> str:
    """A yearly metric's stability table and heat map (at most :data:`MAX_HEAT_ROWS` rows)."""
    zh, en = _YEARLY_LABELS.get(metric, (metric, metric))
    fmt = PCT2 if metric == "rank_ic" else PCT1
    years = [k for k in stab.columns if k.isdigit()]
    keys = [k for k in stab.columns if k not in (*years, "whole", "n_years", "same_sign")]
    fm = {"whole": fmt, "n_years": fmt_int, "same_sign": PCT1, **dict.fromkeys(years, fmt)}
    table = _table(stab, keys, fm, tint=dict.fromkeys(years, _scale(stab, years)))
    heat = stab.head(MAX_HEAT_ROWS)
    svg = _svg(
        style,
        f"yearly-{metric}",
        values=heat.select(years).to_numpy().astype(np.float64)
        if years
        else np.empty((heat.height, 0)),
        row_labels=_row_labels(heat, keys),
        col_labels=years,
        title=style.label(zh, en.split(" (")[0]),
        fmt=fmt,
    )
    note = (
        f'<p class="note">The heat map shows the first {MAX_HEAT_ROWS} of {stab.height} cells; '
        "the table lists every cell.</p>"
        if stab.height > MAX_HEAT_ROWS
        else ""
    )
    return f"<h3>{_esc(zh)} <small>{_esc(en)}</small></h3>{table}{svg}{note}"


def _section(key: str, zh: str, en: str, body: str) -> str:
    """A card with anchor ``key``: its heading (Chinese, English below) then ``body``."""
    head = f"<h2>{_esc(zh)}<small>{_esc(en)}</small></h2>"
    return f'<section class="card" id="{key}">{head}{body}</section>'


def render_study_html(
    rep: StudyReport,
    *,
    generated_at: dt.datetime | None = None,
    cjk: bool | None = None,
) -> str:
    """The study page (see the module docstring) of :func:`~etfflow.pipeline.study.report.
    study_report`'s tables; ``cjk`` as for the figures (None: bilingual labels when a CJK font
    is installed)."""
    res, metric, pivot, index, c = rep.results, rep.metric, rep.pivot, rep.index, rep.cols
    best, stab = rep.best, rep.stability
    style = Style(cjk)
    fmt = metric_format(metric)
    label = metric_label(metric)
    p = res.run["params"]
    # pivot: table + heat map
    vcols = [x for x in pivot.columns if x not in index]
    pivot_svg = _svg(
        style,
        "pivot",
        values=pivot.select(vcols).to_numpy().astype(np.float64),
        row_labels=_row_labels(pivot, index),
        col_labels=vcols,
        title=f"{label if style.font else metric} by {' · '.join(index)} × {c or metric}",
        fmt=fmt,
        reverse=metric in LOWER_IS_BETTER,
    )
    by = f"rows: {' · '.join(index)}; columns: {c or metric}"
    pivot_html = _table(pivot, index, dict.fromkeys(vcols, fmt), tint=dict.fromkeys(vcols))
    # best cells
    text_b = [k for k in best.columns if k in ("rank", "cell", "run_id", *CELL_KEYS)]
    best_html = _table(best, text_b, {k: metric_format(k) for k in best.columns})
    order = "largest absolute value" if metric in SIGNED_STRENGTH else ""
    order = order or ("smallest" if metric in LOWER_IS_BETTER else "largest")
    stab_html = "".join(_stability(style, m, t) for m, t in stab.items())
    info = {
        "study": res.study_id,
        "name": str(p.get("name") or ""),
        "description": str(p.get("description") or ""),
        "preset": str(p.get("preset") or "none"),
        "cells": str(res.cells.height),
        "varying keys": ", ".join(res.varying) or "none",
        "metric": metric,
        "dataset": str(res.run.get("dataset_path") or ""),
    }
    meta_html = "".join(
        f"<div><dt>{_esc(k)}</dt><dd>{_esc(v)}</dd></div>" for k, v in info.items() if v
    )
    when = (generated_at or dt.datetime.now()).strftime("%Y-%m-%d %H:%M")
    title = f"etfflow study — {res.name}"
    sections = [
        _section(
            "pivot",
            "因子表现对比",
            f"{label} by grid value ({by})",
            pivot_html + pivot_svg,
        ),
        _section(
            "best",
            "最佳组合",
            f"top {best.height} of {res.cells.height} cells by {metric} ({order} first)",
            best_html,
        ),
        _section(
            "stability",
            "分年稳定性",
            "by calendar year; same_sign = share of years whose value has the sign of the "
            "whole-period value",
            stab_html,
        ),
    ]
    return "\n".join(
        [
            page_start(title, meta_html, when),
            *sections,
            "<footer>Every number is a stored backtest result of one cell (its bt_summary and "
            "bt_yearly rows; run ids in the best-cells table). Rank IC is the mean Spearman "
            "correlation of the factor with the next period's return, its sign the factor's "
            "direction. Definitions: docs/methodology.md#5-backtests.</footer>",
            "</div></body></html>",
        ]
    )


def write_study_html(
    path: str | Path,
    store: str | Path = DEFAULT_STORE,
    *,
    study_id: str | None = None,
    metric: str = DEFAULT_METRIC,
    rows: str | None = None,
    cols: str | None = None,
    top: int = 10,
    report: StudyReport | None = None,
    cjk: bool | None = None,
) -> Path:
    """Write the page of a stored study (``study_id``, default the latest; or ``report``
    already built) to ``path`` atomically: a failure leaves no file. Options as for
    :func:`~etfflow.pipeline.study.report.study_report`."""
    rep = report or study_report(
        store, study_id=study_id, metric=metric, rows=rows, cols=cols, top=top
    )
    page = render_study_html(rep, cjk=cjk)
    out = Path(path)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out

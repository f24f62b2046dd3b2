"""``etfflow study report``: the comparison tables of a stored study (docs/studies.md).

:func:`report_cmd` is registered as ``study report`` on the ``study`` app of
:mod:`etfflow.cli.study`; :func:`add_html` is what ``study run --html FILE`` calls after the
run to write the same page.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from etfflow.cli._ui import WIDE_HELP, console, print_table, render, set_wide
from etfflow.engine.store import DEFAULT_STORE
from etfflow.pipeline.study.report import (
    CELL_KEYS,
    DEFAULT_METRIC,
    METRICS,
    StudyReport,
    study_report,
    uplift,
)
from etfflow.pipeline.study.report_html import metric_format, metric_label, write_study_html


def _coloured(fmt: Callable[[float | None], str]) -> Callable[[Any], str]:
    """Negative red, positive green (as the backtest tables); "–" without a value."""

    def f(v: Any) -> str:
        text = escape(fmt(v))
        if not isinstance(v, int | float) or v != v or v == 0:
            return text
        return f"[{'green' if v > 0 else 'red'}]{text}[/]"

    return f


def print_report(rep: StudyReport) -> None:
    """The three tables of :func:`~etfflow.pipeline.study.report.study_report`, fitted to
    the terminal (key columns repeated when a table is split)."""
    res, metric = rep.results, rep.metric
    p = res.run["params"]
    console.print(
        f"study {escape(res.study_id)} · {escape(res.name)} · {res.cells.height} cells · "
        f"varying: {escape(', '.join(res.varying) or 'none')}"
        + (f"\n{escape(str(p['description']))}" if p.get("description") else ""),
        highlight=False,
    )
    fmt = _coloured(metric_format(metric))
    values = [c for c in rep.pivot.columns if c not in rep.index]
    title = f"{metric_label(metric)} by {' · '.join(rep.index)} × {rep.cols or metric}"
    table = render(rep.pivot, title=title, formats=dict.fromkeys(values, fmt))
    print_table(table, keys=len(rep.index))
    best = rep.best
    text = [c for c in best.columns if c in ("rank", "cell", "run_id", *CELL_KEYS)]
    formats = {c: _coloured(metric_format(c)) for c in best.columns if c not in text}
    title = f"best {best.height} of {res.cells.height} cells by {metric}"
    print_table(render(best, title=title, formats=formats), keys=3)
    for m, stab in rep.stability.items():
        years = [c for c in stab.columns if c.isdigit()]
        fmt = _coloured(metric_format("rank_ic" if m == "rank_ic" else "long_ann_return"))
        formats = {"whole": fmt, "same_sign": _coloured(metric_format("win_rate_absolute"))}
        formats.update(dict.fromkeys(years, fmt))
        what = "Rank IC" if m == "rank_ic" else "long-short return"
        title = f"{what} by year (whole: whole period; same_sign: share of years with its sign)"
        print_table(render(stab, title=title, formats=formats), keys=1)


def report_cmd(
    store: Annotated[Path, typer.Option(help="DuckDB store.", dir_okay=False)] = (
        Path(DEFAULT_STORE)
    ),
    study: Annotated[
        str | None, typer.Option(help="Study id (default: the store's latest study).")
    ] = None,
    metric: Annotated[
        str,
        typer.Option(help=f"bt_summary metric to compare: {', '.join(METRICS)}."),
    ] = DEFAULT_METRIC,
    rows: Annotated[
        str | None,
        typer.Option(help="Row key, a grid key that varies (default: the first, not factor)."),
    ] = None,
    cols: Annotated[
        str | None,
        typer.Option(help="Column key (default: factor when it varies, else the next key)."),
    ] = None,
    top: Annotated[int, typer.Option(help="Cells in the best-cells table.")] = 10,
    show_uplift: Annotated[
        bool,
        typer.Option(
            "--uplift",
            help="Also print the difference of the two values of the row key (e.g. process: "
            "+ board vs industry + size, Huaan table 45's uplift row).",
        ),
    ] = False,
    html: Annotated[
        Path | None, typer.Option(help="Also write the report to this HTML page.", dir_okay=False)
    ] = None,
    wide: Annotated[bool, typer.Option("--wide", help=WIDE_HELP)] = False,
) -> None:
    """Compare a study's cells: a metric by grid value, the best cells, and the Rank IC and
    long-short return by year (docs/studies.md, "Reading a study")."""
    set_wide(wide)
    rep = study_report(store, study_id=study, metric=metric, rows=rows, cols=cols, top=top)
    print_report(rep)
    if show_uplift:
        up = uplift(rep.pivot, rep.index[0])
        fmt = _coloured(metric_format(metric))
        values = [c for c in up.columns if c not in rep.index]
        title = f"uplift of {metric_label(metric)}: {up[rep.index[0]][0]}"
        print_table(render(up, title=title, formats=dict.fromkeys(values, fmt)))
    if html is not None:
        add_html(html, store, report=rep)


def add_html(
    path: Path,
    store: Path,
    *,
    study_id: str | None = None,
    report: StudyReport | None = None,
) -> Path:
    """Write a study's HTML page with the default tables (or ``report``) and say so; what
    ``etfflow study run --html FILE`` calls once the study is stored."""
    out = write_study_html(path, store, study_id=study_id, report=report)
    console.print(f"wrote {escape(str(out))}")
    return out

"""The result type of a backtest: :class:`Evaluation`, its tables, and how it shows itself in a
notebook (:meth:`Evaluation._repr_html_`) or as a report file (:meth:`Evaluation.to_html`).

Rendering lives in :mod:`etfflow.backtest.report` and :mod:`etfflow.plots`, imported inside
the methods: both import this module, and a plain ``evaluate`` never loads matplotlib.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from etfflow.backtest.schemas import MEMBERS_SCHEMA

__all__ = ["Evaluation"]

#: Style of the notebook view, scoped to its ``div`` (a notebook page has its own CSS).
_NOTEBOOK_CSS = (
    ".etfflow-ev table.t{border-collapse:collapse;font-variant-numeric:tabular-nums;"
    "font-size:12px}.etfflow-ev th,.etfflow-ev td{padding:3px 7px;text-align:right;"
    "white-space:nowrap}.etfflow-ev .name{text-align:left}.etfflow-ev th{vertical-align:bottom;"
    "border-bottom:2px solid {brand}}.etfflow-ev th small{display:block;font-weight:400;"
    "color:#6b7280}.etfflow-ev .pos{color:{pos}}.etfflow-ev .neg{color:{neg}}"
    ".etfflow-ev .chart svg{max-width:100%;height:auto}.etfflow-ev p{color:#6b7280}"
)


@dataclass(frozen=True)
class Evaluation:
    """Result of :func:`~etfflow.backtest.engine.evaluate`: Polars tables (schemas in
    :mod:`etfflow.backtest.schemas`) with rows in factor input order, then by date
    (``groups``: date, group; ``nav``: series, date; ``yearly``: year). Values that do not
    exist (a period or a factor without a cross-section, an undefined IC) are null.

    Attributes
    ----------
    ic
        :data:`IC_SCHEMA`: per rebalance date, Pearson ``ic`` and Spearman ``rank_ic`` of the
        factor vs the next-period return over the universe, ``n`` assets used.
    groups
        :data:`GROUPS_SCHEMA`: per rebalance date and group (1 = lowest factor values), the
        net period return ``ret`` of the group portfolio (null when it held nothing), names
        held ``n`` and the share of names that are new (``turnover``).
    nav
        :data:`NAV_SCHEMA`: daily NAV (1 at the factor's first trade day) of the ``long``,
        ``short``, ``long_short``, ``benchmark`` and ``excess`` series.
    summary
        :data:`SUMMARY_SCHEMA`: one row per factor, whole-period metrics
        (docs/methodology.md#59-whole-period-metrics) and a ``note`` when periods lacked values.
    yearly
        :data:`YEARLY_SCHEMA`: one row per factor and calendar year of the rebalance date.
    group_summary
        :data:`GROUP_SUMMARY_SCHEMA`: annualised and mean per-period return of each group.
    periods
        :data:`PERIODS_SCHEMA`: the shared calendar — signal ``date``, trade day ``start``,
        exit ``end`` and the benchmark's period return.
    members
        :data:`MEMBERS_SCHEMA`: the assets of the long and short groups on each signal day
        (``evaluate(..., members=True)``; empty otherwise).
    """

    ic: pl.DataFrame
    groups: pl.DataFrame
    nav: pl.DataFrame
    summary: pl.DataFrame
    yearly: pl.DataFrame
    group_summary: pl.DataFrame
    periods: pl.DataFrame
    members: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=MEMBERS_SCHEMA))

    def _repr_html_(self) -> str:
        """Notebook view: one line of run facts, the summary table (Huaan 2024-12 table 47's
        columns) and the long-short NAV figure of the first factor with values. Light on
        purpose: :meth:`to_html` writes the full report, :func:`etfflow.plots.tear_sheet`
        draws every chart of one factor."""
        from etfflow.backtest import report_tables as T
        from etfflow.plots import COLORS, nav, to_svg

        rows = T.rows(self.summary)
        table = re.sub(r'<a href="#f\d+">(.*?)</a>', r"\1", T.summary_table(rows))
        first = rows[0] if rows else {}
        covered, _ = T.coverage(self)
        facts = (
            f"{len(rows)} factors · {T.fmt_int(first.get('groups'))} groups · rebalance "
            f"{first.get('rebalance', '–')} · lag {T.fmt_int(first.get('lag'))} · "
            f"{self.periods.height} periods · {covered}"
        )
        held = [r["factor"] for r in rows if r.get("n_periods")]
        figure = ""
        if held:
            fig = nav(self, held[0], size=(9.0, 4.0))
            figure = f'<div class="chart">{to_svg(fig, uid="etfflow-ev-nav")}</div>'
        css = (
            _NOTEBOOK_CSS.replace("{brand}", COLORS["long_short"])
            .replace("{pos}", COLORS["pos"])
            .replace("{neg}", COLORS["neg"])
        )
        return (
            f'<div class="etfflow-ev"><style>{css}</style><b>Evaluation</b> · {facts}'
            f"{table}{T.notes(rows)}{figure}<p>ev.to_html(path): the full report; "
            "etfflow.plots.tear_sheet(ev, factor): every chart of one factor.</p></div>"
        )

    def to_html(
        self,
        path: str | os.PathLike[str],
        *,
        title: str = "etfflow backtest",
        meta: Mapping[str, str] | None = None,
        generated_at: dt.datetime | None = None,
    ) -> Path:
        """Write the full HTML report (:func:`etfflow.backtest.report.write_html`) to ``path``
        atomically and return ``path``; ``title``, ``meta`` and ``generated_at`` as there."""
        from etfflow.backtest.report import write_html

        return write_html(self, path, title=title, meta=meta, generated_at=generated_at)

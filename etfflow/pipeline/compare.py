"""Side-by-side comparison of stored backtests (Huaan 2024-12 tables 23, 35–38, 53): the NAV
series of one or more factors across one or more backtest runs in one chart and one table,
each line's NAV relative to the first (the ratio of a sub-universe's long-short NAV to the
whole market's, tables 35–38).

A *line* is one (run, factor) pair. Its label names the factor and, when several runs are
compared, the run parameters that differ between them (pool, universe, processing, ...).
"""

from __future__ import annotations

import datetime as dt
import html as _html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from etfflow._common import atomic_path
from etfflow.backtest import report_tables as T
from etfflow.backtest.report_style import page_start
from etfflow.backtest.schemas import SERIES
from etfflow.engine.store import DEFAULT_STORE, open_store
from etfflow.exceptions import EtfflowError, StoreError

__all__ = ["COMPARE_COLUMNS", "Comparison", "compare_runs", "render_html"]

#: Run parameters a label may name (when they differ between the compared runs).
_LABEL_KEYS = (
    "pool",
    "level",
    "universe",
    "processing",
    "benchmark",
    "min_passive",
    "direction",
    "rebalance",
    "groups",
    "cost_bps",
)
#: Summary columns of the comparison table, beside the NAV figures.
COMPARE_COLUMNS = (
    "rank_ic",
    "rank_icir",
    "long_short_ann_return",
    "long_short_max_drawdown",
    "long_excess_ann",
)


@dataclass
class Comparison:
    """``navs``: ``line, run_id, factor, date, nav``; ``table``: one row per line with the
    summary metrics, the final NAV and its ratio to the first line's final NAV on the last
    date both have."""

    series: str
    navs: pl.DataFrame
    table: pl.DataFrame
    seconds: float = 0.0


def _labels(rows: list[dict], factors: Sequence[str]) -> dict[tuple[str, str], str]:
    keyed = []
    for row in rows:
        p = {**row["params"], "pool": row["pool"]}
        keyed.append((row["run_id"], p))
    differ = [k for k in _LABEL_KEYS if len({str(p.get(k)) for _, p in keyed}) > 1]
    out = {}
    for run_id, p in keyed:
        tag = ", ".join(f"{k}={p.get(k)}" for k in differ)
        for f in factors:
            out[(run_id, f)] = f"{f} [{tag}]" if tag else f
    return out


def compare_runs(
    store: str | Path = DEFAULT_STORE,
    *,
    runs: Sequence[str] | None = None,
    factors: Sequence[str],
    series: str = "long_short",
) -> Comparison:
    """Compare ``factors`` across backtest ``runs`` (default: the latest backtest run).

    Raises :class:`EtfflowError` for an unknown series, a run that is not a backtest, or a
    factor missing from a run (the message lists the run's factors); a store that does not
    exist is never created.
    """
    t0 = time.perf_counter()
    if series not in SERIES:
        raise EtfflowError(f"unknown NAV series {series!r}: choose one of {', '.join(SERIES)}")
    if not factors:
        raise EtfflowError("compare: name at least one factor")
    with open_store(store, read_only=True, create=False) as st:
        if not runs:
            bt = st.runs().filter(pl.col("kind") == "backtest")["run_id"].to_list()
            if not bt:
                raise StoreError(f"no backtest run in {st.path}: run `etfflow backtest` first")
            runs = [bt[-1]]
        rows = []
        for r in runs:
            row = st.run(r)
            if row["kind"] != "backtest":
                raise StoreError(f"run {r!r} is a {row['kind']} run, not a backtest run")
            rows.append(row)
        labels = _labels(rows, factors)
        navs, table = [], []
        for row in rows:
            rid = row["run_id"]
            summary = st.table("bt_summary", rid)
            have = summary["factor"].to_list()
            run_navs = st.table("bt_nav", rid).filter(pl.col("series").cast(pl.String) == series)
            for f in factors:
                if f not in have:
                    raise EtfflowError(
                        f"backtest run {rid} has no factor {f!r}; it has: {', '.join(have[:12])}"
                    )
                nav = run_navs.filter(pl.col("factor") == f).sort("date")
                navs.append(
                    nav.select(
                        pl.lit(labels[(rid, f)]).alias("line"),
                        pl.lit(rid).alias("run_id"),
                        "factor",
                        "date",
                        "nav",
                    )
                )
                s = summary.filter(pl.col("factor") == f).row(0, named=True)
                table.append(
                    {
                        "line": labels[(rid, f)],
                        "run_id": rid,
                        "factor": f,
                        **{c: s.get(c) for c in COMPARE_COLUMNS},
                    }
                )
    all_navs = pl.concat(navs) if navs else pl.DataFrame()
    return Comparison(
        series, all_navs, _with_ratio(pl.DataFrame(table), all_navs), time.perf_counter() - t0
    )


def _with_ratio(table: pl.DataFrame, navs: pl.DataFrame) -> pl.DataFrame:
    """Final NAV of each line and its ratio to the first line's on their last common date."""
    lines = table["line"].to_list()
    base = navs.filter(pl.col("line") == lines[0]).select("date", pl.col("nav").alias("b"))
    final, ratio = [], []
    for line in lines:
        s = navs.filter(pl.col("line") == line).drop_nulls("nav").sort("date")
        final.append(s["nav"][-1] if s.height else None)
        j = s.join(base.drop_nulls("b"), on="date", how="inner")
        ratio.append(float(j["nav"][-1] / j["b"][-1]) if j.height else None)
    return table.with_columns(
        pl.Series("final_nav", final, dtype=pl.Float64),
        pl.Series("nav_ratio_to_first", ratio, dtype=pl.Float64),
    )


def write_outputs(cmp: Comparison, *, export: str | Path | None, html: str | Path | None):
    """Write the NAVs (Parquet) and the HTML page, each atomically."""
    out = page = None
    if export:
        out = Path(export)
        with atomic_path(out) as tmp:
            cmp.navs.write_parquet(tmp)
    if html:
        page = Path(html)
        with atomic_path(page) as tmp:
            tmp.write_text(render_html(cmp), encoding="utf-8")
    return out, page


def render_html(
    cmp: Comparison, *, generated_at: dt.datetime | None = None, cjk: bool | None = None
) -> str:
    """The chart and the table as one self-contained page (inline SVG, no script)."""
    from etfflow.plots.compare import compare_navs
    from etfflow.plots.style import Style, to_svg

    esc = _html.escape
    svg = to_svg(compare_navs(cmp.navs, Style(cjk), series=cmp.series), uid="cmp")
    head = [("曲线", "line"), ("Rank IC", ""), ("RankICIR", ""), ("多空年化", "L-S ann."),
            ("多空最大回撤", "L-S max DD"), ("多头年化超额", "long excess"),
            ("期末净值", "final NAV"), ("相对第一条", "ratio to first")]  # fmt: skip
    th = "".join(T._th(a, b) for a, b in head)
    rows = "".join(
        f'<tr><td class="name">{esc(r["line"])}</td>'
        + T._td(r["rank_ic"], T.PCT2)
        + f"<td>{_num(r['rank_icir'])}</td>"
        + T._td(r["long_short_ann_return"], T.PCT1)
        + T._td(r["long_short_max_drawdown"], T.PCT1)
        + T._td(r["long_excess_ann"], T.PCT1)
        + f"<td>{_num(r['final_nav'])}</td><td>{_num(r['nav_ratio_to_first'])}</td></tr>"
        for r in cmp.table.iter_rows(named=True)
    )
    when = (generated_at or dt.datetime.now()).strftime("%Y-%m-%d %H:%M")
    runs = ", ".join(cmp.table["run_id"].unique(maintain_order=True).to_list())
    meta = "".join(
        f"<div><dt>{k}</dt><dd>{esc(v)}</dd></div>"
        for k, v in (("series", cmp.series), ("runs", runs))
    )
    return "\n".join(
        [
            page_start("净值对比 / side-by-side NAVs", meta, when),
            f'<section id="compare"><div class="fig">{svg}</div><div class="wrap">'
            f'<table class="t"><thead><tr>{th}</tr></thead><tbody>{rows}</tbody></table></div>'
            "</section>",
            "<footer>相对第一条 = 期末净值 / 第一条曲线同日净值 (Huaan 2024-12 tables 35–38). "
            "Definitions: docs/methodology.md#513-side-by-side-comparisons.</footer>",
            "</div></body></html>",
        ]
    )


def _num(v: object) -> str:
    return f"{v:.3f}" if isinstance(v, float) else "–"

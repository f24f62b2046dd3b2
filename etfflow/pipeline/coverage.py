"""Coverage-over-time runs (Huaan 2024-12 tables 30–33, 41–42): one look-through per pool,
:func:`etfflow.engine.coverage_series.coverage_series` on each, one table with a ``pool``
column; optionally exported (Parquet, atomically) and drawn on a self-contained HTML page.

Definitions: docs/methodology.md#27-coverage-over-time.
"""

from __future__ import annotations

import datetime as dt
import html as _html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from etfflow._common import Progress, atomic_path
from etfflow.backtest import report_tables as T
from etfflow.backtest.report_style import page_start
from etfflow.engine.coverage_series import COVERAGE_SERIES, coverage_series
from etfflow.engine.loading import open_dataset
from etfflow.engine.lookthrough import Mode, penetrate
from etfflow.engine.pools import Pool
from etfflow.exceptions import EtfflowError, PoolError

__all__ = ["COVERAGE_TABLE", "CoverageRun", "coverage_by_pool", "render_html", "run_coverage"]

#: The exported table: :data:`COVERAGE_SERIES` with the pool first.
COVERAGE_TABLE = pl.Schema([("pool", pl.String()), *COVERAGE_SERIES.items()])
DEFAULT_POOLS: tuple[str, ...] = ("all", "broad", "sector", "style")
DEFAULT_GROUPINGS: tuple[str, ...] = ("market", "board", "cap_quintile")
DEFAULT_TITLE = "ETF覆盖度 / coverage over time"


@dataclass
class CoverageRun:
    table: pl.DataFrame
    pools: list[str]
    mode: str
    freq: str
    export: Path | None
    html: Path | None
    seconds: float
    empty: list[str]


def coverage_by_pool(
    ds,
    pools: Sequence[str | Pool] = DEFAULT_POOLS,
    *,
    mode: Mode = "pcf",
    freq: str = "month",
    groupings: Sequence[str] = DEFAULT_GROUPINGS,
    skip_empty: list[str] | None = None,
    progress: Progress | None = None,
) -> pl.DataFrame:
    """:func:`coverage_series` of one look-through per pool, stacked (schema
    :data:`COVERAGE_TABLE`, pools in the order given).

    A pool that selects no ETF raises :class:`~etfflow.exceptions.PoolError`, unless
    ``skip_empty`` is a list: the pool is then left out and its label appended to it."""
    if not pools:
        raise EtfflowError("coverage: no pool given")
    etfs = ds.frame("etfs").collect()
    parts = []
    for i, p in enumerate(pools):
        pool = Pool.of(p)
        if progress:
            progress(f"look-through {pool.label}", i, len(pools))
        if skip_empty is not None:
            try:
                pool.select(etfs)
            except PoolError:
                skip_empty.append(pool.label)
                continue
        lt = penetrate(ds, pool=pool, mode=mode)
        cov = coverage_series(lt.stocks, lt.groups, groupings=tuple(groupings), freq=freq)
        parts.append(cov.select(pl.lit(pool.label).alias("pool"), pl.all()))
    if progress:
        progress("look-through", len(pools), len(pools))
    if not parts:
        raise PoolError(f"coverage: none of the pools {', '.join(map(str, pools))} has an ETF")
    return pl.concat(parts).cast(COVERAGE_TABLE)


def run_coverage(
    data_dir: str | Path,
    *,
    pools: Sequence[str] = DEFAULT_POOLS,
    mode: Mode = "pcf",
    freq: str = "month",
    groupings: Sequence[str] = DEFAULT_GROUPINGS,
    skip_empty: bool = False,
    export: str | Path | None = None,
    html: str | Path | None = None,
    progress: Progress | None = None,
) -> CoverageRun:
    """Coverage over time of each pool; ``export`` writes the table as one Parquet file,
    ``html`` one page, both atomically. ``skip_empty``: leave out (and name in
    ``CoverageRun.empty``) the pools that select no ETF instead of failing."""
    t0 = time.perf_counter()
    ds = open_dataset(data_dir)
    empty: list[str] | None = [] if skip_empty else None
    table = coverage_by_pool(
        ds, pools, mode=mode, freq=freq, groupings=groupings, skip_empty=empty, progress=progress
    )
    out = None
    if export:
        out = Path(export)
        with atomic_path(out) as tmp:
            table.write_parquet(tmp)
    page = None
    if html:
        page = Path(html)
        text = render_html(table, meta={"dataset": str(data_dir), "mode": mode, "sampled": freq})
        with atomic_path(page) as tmp:
            tmp.write_text(text, encoding="utf-8")
    labels = list(dict.fromkeys(table["pool"].to_list()))
    return CoverageRun(
        table, labels, mode, freq, out, page, time.perf_counter() - t0, list(empty or [])
    )


def latest(table: pl.DataFrame, grouping: str) -> pl.DataFrame:
    """The rows of ``grouping`` on the table's last date (every pool)."""
    t = table.filter(pl.col("grouping") == grouping)
    return t.filter(pl.col("date") == t["date"].max()) if t.height else t


def _esc(x: object) -> str:
    return _html.escape(str(x))


def _latest_html(table: pl.DataFrame, grouping: str) -> str:
    t = latest(table, grouping)
    rows = [
        f'<tr><td class="name">{_esc(r["pool"])}</td><td class="name">{_esc(r["group"])}</td>'
        f"<td>{r['n_stock']}</td><td>{r['n_held']}</td>"
        + T._td(r["held_share"], T.PCT1, signed=False)
        + T._td(r["passive_share"], T.PCT2, signed=False)
        + "</tr>"
        for r in t.iter_rows(named=True)
    ]
    head = [("池", "pool"), ("组", "group"), ("股票数", "stocks"), ("被持有", "held"),
            ("数量覆盖", "held share"), ("流通市值覆盖", "passive share")]  # fmt: skip
    th = "".join(T._th(a, b) for a, b in head)
    day = t["date"].max() if t.height else "–"
    return (
        f'<p class="note">{_esc(day)}</p><div class="wrap"><table class="t"><thead><tr>{th}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def render_html(
    table: pl.DataFrame,
    *,
    title: str | None = None,
    meta: dict[str, str] | None = None,
    generated_at: dt.datetime | None = None,
    cjk: bool | None = None,
) -> str:
    """Coverage over time as one self-contained HTML page (inline CSS and SVG, no script):
    the market by pool (Huaan tables 30–31), then each other grouping of the first pool
    (boards: tables 41–42; float-cap quintiles: tables 32–33), each with its latest values."""
    from etfflow.plots.coverage import coverage_lines
    from etfflow.plots.style import Style, to_svg

    style = Style(cjk)
    pools = list(dict.fromkeys(table["pool"].to_list()))
    first = pools[0] if pools else ""
    names = {
        "market": ("全市场覆盖 (按ETF池)", "the market, by pool"),
        "board": ("分板块覆盖", "by board"),
        "cap_quintile": ("分流通市值五分位覆盖", "by float-cap quintile"),
        "industry_l1": ("分中信一级行业覆盖", "by CITIC level-1 industry"),
        "industry_l2": ("分中信二级行业覆盖", "by CITIC level-2 industry"),
    }
    sections = []
    for grouping in dict.fromkeys(table["grouping"].to_list()):
        rows = table.filter(pl.col("grouping") == grouping)
        if grouping == "market":
            fig = coverage_lines(rows, style, by="pool")
            shown = rows
        else:
            shown = rows.filter(pl.col("pool") == first)
            fig = coverage_lines(shown, style, by="group")
        zh, en = names[grouping]
        en = en if grouping == "market" else f"{en}, pool {first}"
        svg = f'<div class="fig">{to_svg(fig, uid=f"cov_{grouping}")}</div>'
        sections.append(
            f'<section id="{grouping}"><h2>{_esc(zh)} <small>{_esc(en)}</small></h2>{svg}'
            f"{_latest_html(table if grouping == 'market' else shown, grouping)}</section>"
        )
    when = (generated_at or dt.datetime.now()).strftime("%Y-%m-%d %H:%M")
    info = {**(meta or {}), "pools": ", ".join(pools)}
    meta_html = "".join(f"<div><dt>{_esc(k)}</dt><dd>{_esc(v)}</dd></div>" for k, v in info.items())
    parts = [
        page_start(title or DEFAULT_TITLE, meta_html, when),
        *sections,
        "<footer>数量覆盖 = 被至少一只池内ETF持有的股票数 / 上市股票数; "
        "流通市值覆盖 = Σ 被动持股市值 / Σ 流通市值. "
        "Definitions: docs/methodology.md#27-coverage-over-time.</footer>",
        "</div></body></html>",
    ]
    return "\n".join(parts)

"""Market overview runs (Huaan 2024-12 tables 5, 7, 29; Kaiyuan 2024-09 figures 2, 3, 5):
validate the three tables read, compute :mod:`etfflow.engine.overview`, optionally export the
tables and write a self-contained HTML page.

``export`` writes ``by_year.parquet``, ``vs_market.parquet`` and ``inflow_by_index.parquet``
into a folder replaced as a whole (never half-written); ``html`` writes one page (inline CSS
and SVG, no script, no network) atomically.

Definitions: docs/methodology.md#6-report-tables-and-the-etfflow-output-that-produces-them.
"""

from __future__ import annotations

import datetime as dt
import html as _html
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from etfflow._common import Progress, atomic_dir, atomic_path
from etfflow.backtest import report_tables as T
from etfflow.backtest.report_style import page_start
from etfflow.engine import overview
from etfflow.engine.loading import open_dataset
from etfflow.engine.validation import ValidationReport, validate
from etfflow.exceptions import EtfflowError

__all__ = ["MarketOverview", "MarketRun", "parse_start", "render_html", "run_market"]

log = logging.getLogger(__name__)

#: Tables read (``stocks`` only to check ``stock_daily`` codes).
INPUT_TABLES: tuple[str, ...] = ("stocks", "stock_daily", "etfs", "etf_daily")
#: Result tables and their schemas.
SCHEMAS: dict[str, pl.Schema] = {
    "by_year": overview.BY_YEAR,
    "vs_market": overview.VS_MARKET,
    "inflow_by_index": overview.INFLOW_BY_INDEX,
}
DEFAULT_TITLE = "ETF市场概览 / ETF market overview"


@dataclass
class MarketOverview:
    """The three overview tables (schemas in :data:`SCHEMAS`) and the inflow start date."""

    by_year: pl.DataFrame
    vs_market: pl.DataFrame
    inflow_by_index: pl.DataFrame
    start: dt.date | None = None

    @property
    def tables(self) -> dict[str, pl.DataFrame]:
        return {name: getattr(self, name) for name in SCHEMAS}


@dataclass
class MarketRun:
    result: MarketOverview
    export: Path | None
    html: Path | None
    validation: ValidationReport | None
    seconds: float = 0.0
    meta: dict[str, str] = field(default_factory=dict)


def parse_start(start: str | dt.date | None) -> dt.date | None:
    """``"2024-01-02"`` -> a date; raises :class:`EtfflowError` naming ``--start`` otherwise."""
    if start is None or isinstance(start, dt.date):
        return start
    try:
        return dt.date.fromisoformat(start.strip())
    except ValueError:
        raise EtfflowError(
            f"--start {start!r} is not a date: write it as YYYY-MM-DD, e.g. 2024-01-02"
        ) from None


def market_overview(
    etfs: pl.LazyFrame | pl.DataFrame,
    etf_daily: pl.LazyFrame | pl.DataFrame,
    stock_daily: pl.LazyFrame | pl.DataFrame,
    *,
    start: dt.date | None = None,
) -> MarketOverview:
    """The three overview tables of :mod:`etfflow.engine.overview`."""
    t = overview.tables(etfs, etf_daily, stock_daily, start=start)
    return MarketOverview(t["by_year"], t["vs_market"], t["inflow_by_index"], start)


def run_market(
    data_dir: str | Path,
    *,
    start: str | dt.date | None = None,
    export: str | Path | None = None,
    html: str | Path | None = None,
    check: bool = True,
    progress: Progress | None = None,
) -> MarketRun:
    """Validate a dataset's ``etfs``, ``etf_daily`` and ``stock_daily``, compute the market
    overview, optionally export the tables and write the HTML page.

    Raises :class:`~etfflow.exceptions.ValidationError` (nothing computed or written) when the
    tables break the data contract, :class:`~etfflow.exceptions.EtfflowError` on a bad
    ``start`` (not a date, or after the last date of ``etf_daily``).
    """
    day = parse_start(start)
    t0 = time.perf_counter()
    ds = open_dataset(data_dir, require_holdings=False)
    report = None
    if check:
        report = validate(ds, tables=list(INPUT_TABLES), progress=progress)
        report.raise_for_errors()
    # lazy scans: the three tables are collected together (shared scans, one collect)
    etfs = ds.frame("etfs").select("etf_code", "category", "index_code")
    etf_daily = ds.frame("etf_daily").select("date", "etf_code", "shares", "nav")
    stock_daily = ds.frame("stock_daily").select("date", "code", "ret", "float_mcap")
    result = market_overview(etfs, etf_daily, stock_daily, start=day)
    out = export_tables(result, export) if export else None
    page = write_html(result, html, meta={"dataset": str(Path(data_dir))}) if html else None
    return MarketRun(result, out, page, report, time.perf_counter() - t0)


def export_tables(result: MarketOverview, folder: str | Path) -> Path:
    """Write every table as ``<folder>/<table>.parquet``; the folder is replaced as a whole."""
    with atomic_dir(folder) as tmp:
        for name, df in result.tables.items():
            df.write_parquet(tmp / f"{name}.parquet")
    return Path(folder)


# --------------------------------------------------------------------------- HTML page

_CATEGORY = {"broad": "宽基 broad", "sector": "行业主题 sector", "style": "风格策略 style",
             "all": "合计 all"}  # fmt: skip


def _esc(x: object) -> str:
    return _html.escape(str(x))


def _table(head: list[tuple[str, str]], rows: list[str]) -> str:
    th = "".join(T._th(a, b) for a, b in head)
    return (
        f'<div class="wrap"><table class="t"><thead><tr>{th}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _yi(x: float | None) -> str:
    return "–" if x is None else f"{x / 1e8:,.1f}"


def _by_year_html(t: pl.DataFrame) -> str:
    rows = [
        f'<tr><td class="name">{r["year"]}</td><td class="name">{_esc(_CATEGORY[r["category"]])}'
        f"</td><td>{r['n_etf']}</td><td>{_yi(r['aum'])}</td>"
        + T._td(r["aum_share"], T.PCT1, signed=False)
        + T._td(r["aum_growth"], T.PCT1)
        + T._td(r["n_etf_growth"], T.PCT1)
        + "</tr>"
        for r in t.iter_rows(named=True)
    ]
    head = [
        ("年份", "year"),
        ("类别", "category"),
        ("数量", "ETFs"),
        ("规模(亿元)", "AUM"),
        ("规模占比", "AUM share"),
        ("规模增长", "AUM growth"),
        ("数量增长", "count growth"),
    ]
    return _table(head, rows)


def _vs_market_html(t: pl.DataFrame) -> str:
    rows = [
        f'<tr><td class="name">{r["year"]}</td><td>{_esc(r["date"])}</td>'
        f"<td>{_yi(r['aum'])}</td>"
        + T._td(r["aum_growth"], T.PCT1)
        + T._td(r["market_return"], T.PCT1)
        + T._td(r["aum_to_float_cap"], T.PCT2, signed=False)
        + "</tr>"
        for r in t.iter_rows(named=True)
    ]
    head = [("年份", "year"), ("年末", "year end"), ("ETF规模(亿元)", "AUM"),
            ("规模增长", "AUM growth"), ("市场收益", "market return"),
            ("规模/流通市值", "AUM / float cap")]  # fmt: skip
    return _table(head, rows)


def _ranking_html(t: pl.DataFrame) -> str:
    rank = overview.ranking(t)
    rows = [
        f'<tr><td class="name">{i}</td><td class="name">{_esc(r["index_code"])}</td>'
        f"<td>{_yi(r['cumulative'])}</td></tr>"
        for part in (rank.head(10), rank.tail(min(5, max(rank.height - 10, 0))))
        for i, r in ((k + 1, r) for k, r in enumerate(part.iter_rows(named=True)))
    ]
    return _table([("#", ""), ("指数", "index"), ("累计净流入(亿元)", "cum. inflow")], rows)


def render_html(
    result: MarketOverview,
    *,
    title: str | None = None,
    meta: dict[str, str] | None = None,
    generated_at: dt.datetime | None = None,
    cjk: bool | None = None,
) -> str:
    """The overview as one self-contained HTML page (inline CSS and SVG, no script)."""
    from etfflow.plots import market as MP
    from etfflow.plots.style import Style, to_svg

    style = Style(cjk)
    figs = {
        "aum": MP.aum_by_category(result.by_year, style),
        "cap": MP.aum_to_float_cap(result.vs_market, style),
        "flow": MP.top_inflows(result.inflow_by_index, style),
    }
    svg = {k: f'<div class="fig">{to_svg(f, uid=f"mkt_{k}")}</div>' for k, f in figs.items()}
    title = title or DEFAULT_TITLE
    dates = result.inflow_by_index["date"]
    info = {**(meta or {})}
    info["inflow from"] = str(result.start or (dates.min() if dates.len() else "–"))
    when = (generated_at or dt.datetime.now()).strftime("%Y-%m-%d %H:%M")
    meta_html = "".join(f"<div><dt>{_esc(k)}</dt><dd>{_esc(v)}</dd></div>" for k, v in info.items())

    def section(anchor: str, zh: str, en: str, body: str) -> str:
        return (
            f'<section id="{anchor}"><h2>{_esc(zh)} <small>{_esc(en)}</small></h2>{body}</section>'
        )

    parts = [
        page_start(title, meta_html, when),
        section("by_year", "ETF数量与规模", "count and AUM by year and category",
                svg["aum"] + _by_year_html(result.by_year)),
        section("vs_market", "ETF规模与市场", "ETF AUM against the market",
                svg["cap"] + _vs_market_html(result.vs_market)),
        section("inflow", "跟踪指数累计净流入", "cumulative net inflow by tracked index",
                svg["flow"] + _ranking_html(result.inflow_by_index)),
        "<footer>规模 = Σ 份额 × 净值, 年末 = 当年最后一个交易日. 市场收益: 前一交易日流通市值加权"
        "的日收益按年复利. 净流入 = Σ (S[t] − S[t−1]) · N[t]. "
        "Definitions: docs/methodology.md (section 6).</footer>",
        "</div></body></html>",
    ]  # fmt: skip
    return "\n".join(parts)


def write_html(
    result: MarketOverview,
    path: str | Path,
    *,
    meta: dict[str, str] | None = None,
    cjk: bool | None = None,
) -> Path:
    """Write :func:`render_html` to ``path`` atomically."""
    out = Path(path)
    page = render_html(result, meta=meta, cjk=cjk)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out

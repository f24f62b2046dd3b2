"""The ETF sub-pool comparison (Kaiyuan 2024-09 §3, tables 7–9, figures 18–23): the stock
factor ``w_passive_chg_20`` (standard processing, deciles) and the level-1 industry factor
``w_passive_inflow_20`` (raw, terciles) computed from each pool's look-through, with Rank IC,
RankICIR and long-short annual return side by side.

Each pool is an ordinary stored run chain (look-through, two factor runs, two backtests:
:func:`~etfflow.pipeline.runs.run_lookthrough`, :func:`~etfflow.pipeline.runs.run_factors`,
:func:`~etfflow.pipeline.backtest.run_backtest`), so every number of the table can be reopened
with ``etfflow report`` or SQL; the dataset is validated and the market loaded once.

Definitions: docs/methodology.md, "ETF sub-pools".
"""

from __future__ import annotations

import datetime as dt
import html as _html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl

from etfflow._common import Progress, atomic_path
from etfflow.backtest import report_tables as T
from etfflow.backtest.report_style import page_start
from etfflow.engine.loading import open_dataset
from etfflow.engine.lookthrough import Mode
from etfflow.engine.market import load_market
from etfflow.engine.pools import Pool
from etfflow.engine.store import DEFAULT_STORE, check_store_path
from etfflow.exceptions import EtfflowError
from etfflow.pipeline.backtest import run_backtest
from etfflow.pipeline.runs import (
    STANDARD_PROCESSING,
    run_factors,
    run_lookthrough,
    write_parquet_atomic,
)

#: The pools of Kaiyuan 2024-09 §3 compared by default.
DEFAULT_POOLS: tuple[str, ...] = (
    "all",
    "broad",
    "nonbroad",
    "concentration:high",
    "concentration:low",
    "turnover:high",
    "turnover:low",
)
#: (level, factor, processing, groups) of the two tests (Kaiyuan: deciles for stocks,
#: terciles for level-1 industries, monthly).
TESTS: tuple[tuple[str, str, str | None, int], ...] = (
    ("stock", "w_passive_chg_20", STANDARD_PROCESSING["stock"], 10),
    ("industry_l1", "w_passive_inflow_20", STANDARD_PROCESSING["industry_l1"], 3),
)
#: Rebalance and direction of both tests: month ends, each factor's registered direction
#: (−1 for both: the same sign in every pool, so pools compare like for like).
REBALANCE: Literal["month"] = "month"
DIRECTION = "default"

COMPARISON_SCHEMA = pl.Schema(
    {
        "pool": pl.String,
        "level": pl.String,
        "factor": pl.String,
        "groups": pl.Int32,
        "direction": pl.Int8,
        "n_periods": pl.Int32,
        "rank_ic": pl.Float64,
        "rank_icir": pl.Float64,
        "rank_icir_annual": pl.Float64,
        "long_short_ann_return": pl.Float64,
        "lookthrough_run": pl.String,
        "factor_run": pl.String,
        "backtest_run": pl.String,
    }
)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "direction",
    "n_periods",
    "rank_ic",
    "rank_icir",
    "rank_icir_annual",
    "long_short_ann_return",
)


@dataclass
class SubpoolsRun:
    """Result of :func:`compare_pools`: ``table`` has one row per (pool, level)
    (:data:`COMPARISON_SCHEMA`), pools in the order asked."""

    table: pl.DataFrame
    mode: str
    store: Path
    export: Path | None
    html: Path | None
    seconds: float


def parse_pools(pools: str | Sequence[str | Pool]) -> list[Pool]:
    """``"all,broad,turnover:high"`` or a list of names / pools -> pools (distinct labels)."""
    items = [p.strip() for p in pools.split(",") if p.strip()] if isinstance(pools, str) else pools
    out = [Pool.of(p) for p in items]
    if not out:
        raise EtfflowError("--pools is empty: name at least one pool, e.g. all,broad")
    labels = [p.label for p in out]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise EtfflowError(f"--pools names {dup[0]!r} twice: each pool once")
    return out


def compare_pools(
    data_dir: str | Path,
    *,
    pools: str | Sequence[str | Pool] = DEFAULT_POOLS,
    mode: Mode = "pcf",
    store: str | Path = DEFAULT_STORE,
    export: str | Path | None = None,
    html: str | Path | None = None,
    check: bool = True,
    progress: Progress | None = None,
) -> SubpoolsRun:
    """Run the two factor tests of :data:`TESTS` on each pool and put them side by side.

    Parameters
    ----------
    pools
        Pool names (:data:`~etfflow.engine.pools.POOL_NAMES`) or :class:`Pool` objects; the
        default is :data:`DEFAULT_POOLS`.
    mode
        Look-through mode of every pool (and the baskets of the concentration split).
    store
        DuckDB store of the runs (look-through, factors and backtest of each pool).
    export
        Parquet file of the comparison table (written atomically).
    html
        A self-contained HTML page: the table and a bar chart (written atomically).

    Raises
    ------
    EtfflowError
        On an unknown or repeated pool, before any work; a pool that selects no ETF raises
        :class:`~etfflow.exceptions.PoolError`.
    """
    t0 = time.perf_counter()
    chosen = parse_pools(pools)
    check_store_path(store, create=True)
    ds = open_dataset(data_dir)
    market = load_market(ds)
    rows = []
    for k, pool in enumerate(chosen):
        lt = run_lookthrough(
            data_dir, pool=pool, mode=mode, store=store, check=check and k == 0, progress=progress
        )
        for level, factor, process, groups in TESTS:
            fr = run_factors(
                data_dir,
                pool=pool,
                level=level,  # type: ignore[arg-type]
                factors=[factor],
                process=process,
                mode=mode,
                store=store,
                lookthrough=lt,
                market=market,
                progress=progress,
            )
            bt = run_backtest(
                store,
                factor_run=fr.run_id,
                level=level,
                factors=[factor],
                groups=groups,
                direction=DIRECTION,
                rebalance=REBALANCE,
                market=market,
                progress=progress,
            )
            s = bt.evaluation.summary.row(0, named=True)
            rows.append(
                {
                    "pool": pool.label,
                    "level": level,
                    "factor": factor,
                    "groups": groups,
                    **{c: s[c] for c in SUMMARY_COLUMNS},
                    "lookthrough_run": lt.run_id,
                    "factor_run": fr.run_id,
                    "backtest_run": bt.run_id,
                }
            )
    table = pl.DataFrame(rows, schema=COMPARISON_SCHEMA)
    out = write_parquet_atomic(table, export) if export else None
    page = None
    if html:
        page = write_html(table, html, meta={"dataset": str(Path(data_dir)), "mode": mode})
    return SubpoolsRun(table, mode, Path(store), out, page, time.perf_counter() - t0)


def wide(table: pl.DataFrame) -> pl.DataFrame:
    """One row per pool: ``stock_*`` and ``industry_*`` Rank IC, RankICIR (annualised) and
    long-short annual return."""
    parts = []
    for level, prefix in (("stock", "stock"), ("industry_l1", "industry")):
        parts.append(
            table.filter(pl.col("level") == level).select(
                "pool",
                pl.col("rank_ic").alias(f"{prefix}_rank_ic"),
                pl.col("rank_icir_annual").alias(f"{prefix}_rank_icir"),
                pl.col("long_short_ann_return").alias(f"{prefix}_long_short"),
            )
        )
    order = pl.DataFrame({"pool": list(dict.fromkeys(table["pool"].to_list()))})
    out = order.with_row_index("_k")
    for p in parts:
        out = out.join(p, on="pool", how="left")
    return out.sort("_k").drop("_k")


# --------------------------------------------------------------------------- HTML page


def _esc(x: object) -> str:
    return _html.escape(str(x))


def _table_html(table: pl.DataFrame) -> str:
    w = wide(table)
    head1 = (
        '<tr><th class="name" rowspan="2">池 pool</th>'
        '<th colspan="3">个股 w_passive_chg_20 <small>deciles, standard processing</small></th>'
        '<th colspan="3" class="whole">一级行业 w_passive_inflow_20 <small>terciles, raw</small>'
        "</th></tr>"
    )
    sub = [("Rank IC", ""), ("RankICIR", "annualised"), ("多空年化", "long-short")]
    head2 = "<tr>" + "".join(T._th(a, b) for a, b in sub * 2) + "</tr>"
    body = []
    for r in w.iter_rows(named=True):
        cells = [
            T._td(r["stock_rank_ic"], T.PCT2),
            T._td(r["stock_rank_icir"], T._num(2)),
            T._td(r["stock_long_short"], T.PCT1),
            T._td(r["industry_rank_ic"], T.PCT2),
            T._td(r["industry_rank_icir"], T._num(2)),
            T._td(r["industry_long_short"], T.PCT1),
        ]
        body.append(f'<tr><td class="name">{_esc(r["pool"])}</td>{"".join(cells)}</tr>')
    return (
        f'<div class="wrap"><table class="t"><thead>{head1}{head2}</thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def render_html(
    table: pl.DataFrame,
    *,
    meta: dict[str, str] | None = None,
    generated_at: dt.datetime | None = None,
    cjk: bool | None = None,
) -> str:
    """The comparison as one self-contained HTML page (inline CSS and SVG, no script)."""
    from etfflow.plots.style import Style, to_svg
    from etfflow.plots.subpools import comparison_bars

    style = Style(cjk)
    svg = to_svg(comparison_bars(table, style), uid="subpools")
    when = (generated_at or dt.datetime.now()).strftime("%Y-%m-%d %H:%M")
    meta_html = "".join(
        f"<div><dt>{_esc(k)}</dt><dd>{_esc(v)}</dd></div>" for k, v in (meta or {}).items()
    )
    title = "ETF子池比较 / ETF sub-pool comparison"
    return "\n".join(
        [
            page_start(title, meta_html, when),
            '<section class="card"><h2>因子表现 <small>Rank IC, RankICIR and long-short by '
            "pool (cf. Kaiyuan 2024-09, tables 7–9)</small></h2>",
            _table_html(table),
            f'<div class="chart">{svg}</div>',
            '<p class="note">Monthly rebalance, registered direction (−1) in every pool. '
            "Split pools are re-decided on each month's last trading day from that day's "
            "measures (median split) and applied from the next trading day. "
            "Definitions: docs/methodology.md, “ETF sub-pools”.</p></section>",
            "</div></body></html>",
        ]
    )


def write_html(
    table: pl.DataFrame, path: str | Path, *, meta: dict[str, str] | None = None
) -> Path:
    """Write :func:`render_html` to ``path`` atomically."""
    out = Path(path)
    page = render_html(table, meta=meta)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out

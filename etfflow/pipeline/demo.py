"""The demo job: the synthetic market end to end, as one library call (``etfflow demo`` prints it).

generate (or reuse) a market → validate and look through every ETF → stock factors with the
standard processing → CITIC level-1 industry factors (raw) → decile backtests of the stock factors
and quintile backtests of the industry factors, each with its HTML report → the industries' flow
time-series correlations → the industry rotation of Huafu 2026-02 with its HTML report → compact
the store when a re-run replaced rows.

``run_demo(size="tiny", out="m", store="r.duckdb").stock_backtest.evaluation.summary`` is the
decile summary the CLI prints (``tests/pipeline/test_demo.py`` runs it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from etfflow._common import Progress
from etfflow.backtest.rotation.params import RotationParams
from etfflow.data_samples import MARKET_FORMAT, SIZES, generate_market
from etfflow.engine.loading import MANIFEST, open_dataset
from etfflow.engine.market import Market, load_market
from etfflow.engine.pools import Pool
from etfflow.engine.store import DEFAULT_STORE, check_store_path, compact_store
from etfflow.exceptions import EtfflowError
from etfflow.pipeline.backtest import BacktestRun, flow_ts_corr, run_backtest
from etfflow.pipeline.rotation import RotationRun, run_rotation
from etfflow.pipeline.runs import (
    STANDARD_PROCESSING,
    FactorRun,
    LookThroughRun,
    run_factors,
    run_lookthrough,
)

#: The factors the demo prints per-year tables for and draws in its reports (every factor is
#: in the store and in the reports' tables; ``etfflow report --run ID --html F`` draws all).
HEADLINE = (
    "w_passive",
    "w_passive_chg_20",
    "w_passive_zs_20",
    "w_passive_inflow_20",
    "mv_passive_chg_20",
    "passive_slope_20",
    "passive_beta_20",
    "revs_20",
    "mom_12m",
)
#: Report files the demo writes beside its store.
STOCK_REPORT = "etfflow_report_stock.html"
INDUSTRY_REPORT = "etfflow_report_industry.html"
ROTATION_REPORT = "etfflow_report_rotation.html"


@dataclass
class DemoRun:
    """Everything one demo produced; every table is also in ``lookthrough.store``."""

    market_dir: Path
    generated: bool  # False when an existing market of the same size and seed was reused
    lookthrough: LookThroughRun
    market: Market
    stock: FactorRun
    industry: FactorRun
    stock_backtest: BacktestRun
    industry_backtest: BacktestRun
    flow_ts_corr: pl.DataFrame
    rotation: RotationRun
    compacted: tuple[int, int] | None  # store bytes before/after compaction, when it ran
    seconds: float


def default_market_dir(size: str, seed: int) -> Path:
    """``etfflow_data/<size>_seed<seed>``: where the demo keeps its market."""
    return Path("etfflow_data") / f"{size}_seed{seed}"


def has_market(out: Path, size: str, seed: int) -> bool:
    """A finished market (manifest written last) of this size, seed and the current
    :data:`~etfflow.data_samples.MARKET_FORMAT` is at ``out``."""
    if not (out / MANIFEST).is_file():
        return False
    m = open_dataset(out, require_holdings=False).manifest
    fmt = m.get("format", 1)
    return m.get("size") == size and m.get("seed") == seed and fmt == MARKET_FORMAT


def run_demo(
    *,
    size: str = "small",
    seed: int = 0,
    out: str | Path | None = None,
    store: str | Path = DEFAULT_STORE,
    pool: Pool | str | None = None,
    progress: Progress | None = None,
) -> DemoRun:
    """Run the demo job; the reports are written beside ``store``.

    ``pool`` (default all ETFs; any :meth:`~etfflow.engine.pools.Pool.of` name, e.g.
    ``"nonbroad"`` or ``"turnover:high"``) is the look-through's and the factors'; the
    rotation keeps its own (static) pool.

    Raises :class:`~etfflow.exceptions.EtfflowError` on an unknown size or a store path that is
    not a DuckDB file, before any work.
    """
    if size not in SIZES:
        raise EtfflowError(f"unknown market size {size!r}: choose one of {', '.join(SIZES)}")
    chosen = Pool.of(pool)  # an unknown name fails before any work
    out = Path(out) if out is not None else default_market_dir(size, seed)
    store = Path(store)
    check_store_path(store, create=True)  # before any work: a Parquet store path is refused
    # a re-run replaces its runs' rows, and DuckDB keeps the space of deleted rows: compact
    rerun = store.is_file() and store.stat().st_size > 0
    t0 = time.perf_counter()
    generated = not has_market(out, size, seed)
    if generated:
        generate_market(out, size=size, seed=seed, progress=progress)
    lt = run_lookthrough(out, pool=chosen, store=store, progress=progress)
    market = load_market(open_dataset(out))
    stock, industry = (
        run_factors(
            out,
            level=level,
            process=STANDARD_PROCESSING[level],
            pool=chosen,
            store=store,
            lookthrough=lt,
            market=market,
            progress=progress,
        )
        for level in ("stock", "industry_l1")
    )
    bt = run_backtest(
        store,
        factor_run=stock.run_id,
        market=market,
        html=store.parent / STOCK_REPORT,
        html_factors=HEADLINE,
        progress=progress,
    )
    ibt = run_backtest(
        store,
        factor_run=industry.run_id,
        market=market,
        html=store.parent / INDUSTRY_REPORT,
        html_factors=HEADLINE,
        progress=progress,
    )
    ts = flow_ts_corr(industry.factors)
    rot = run_rotation(
        out,
        RotationParams(),
        store=store,
        html=store.parent / ROTATION_REPORT,
        market=market,
        progress=progress,
    )
    compacted = None
    if rerun:
        if progress is not None:
            progress("compact store", 0, 1)
        compacted = compact_store(store)
        if progress is not None:
            progress("compact store", 1, 1)
    return DemoRun(
        market_dir=out,
        generated=generated,
        lookthrough=lt,
        market=market,
        stock=stock,
        industry=industry,
        stock_backtest=bt,
        industry_backtest=ibt,
        flow_ts_corr=ts,
        rotation=rot,
        compacted=compacted,
        seconds=time.perf_counter() - t0,
    )

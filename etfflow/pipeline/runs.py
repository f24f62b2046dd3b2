"""End-to-end runs: validate, compute, store atomically, export (the CLI's library calls)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from etfflow._common import atomic_path
from etfflow.engine.loading import Dataset, open_dataset
from etfflow.engine.lookthrough import LookThrough, Mode, Progress, Valuation, penetrate
from etfflow.engine.market import Market, load_market
from etfflow.engine.pools import Pool
from etfflow.engine.schemas import CORE_TABLES
from etfflow.engine.store import DEFAULT_STORE, open_store
from etfflow.engine.universe import min_passive_mask
from etfflow.engine.validation import ValidationReport, validate
from etfflow.exceptions import EtfflowError
from etfflow.factors.compute import FactorSet, compute_factors
from etfflow.factors.compute import process as process_factors
from etfflow.factors.inputs import (
    LEVELS,
    Level,
    industry_inputs,
    industry_inputs_from_stocks,
    stock_inputs,
)

#: The reports' standard processing (Huaan 2024-12 §3.3;
#: docs/methodology.md#4-cross-sectional-processing), the default of ``etfflow factors compute`` and
#: of the demo: winsorise (median ± 5·MAD), fill with the industry median, z-score, neutralise on
#: industry and log float cap. Industry-level factors are used raw (neutralising industries
#: on industry dummies would zero them), as the demo does.
STANDARD_PROCESSING: dict[str, str | None] = {
    "stock": "winsor,fill,zscore,neutralize",
    "industry_l1": None,
    "industry_l2": None,
}


def processing_for(level: str, process: str) -> str | None:
    """The steps of ``--process`` at ``level``: ``standard`` (default), ``none`` or a list."""
    p = process.strip()
    if p.lower() == "standard":
        return STANDARD_PROCESSING.get(level)
    if p.lower() in ("none", "raw", ""):
        return None
    return p


def check_lookthrough_tables(
    ds: Dataset, mode: str, progress: Progress | None = None
) -> ValidationReport:
    """Validate the tables a look-through of ``mode`` reads (the core tables and its
    holdings: ``etf_pcf`` or ``holding_weights``); raises on a contract error."""
    holdings = "etf_pcf" if mode == "pcf" else "holding_weights"
    report = validate(ds, tables=[*CORE_TABLES, holdings], progress=progress)
    report.raise_for_errors()
    return report


@dataclass
class LookThroughRun:
    result: LookThrough
    run_id: str
    store: Path
    export: Path | None
    validation: ValidationReport | None


def write_parquet_atomic(df: pl.DataFrame, path: str | Path) -> Path:
    """Write to a temporary file beside ``path`` and rename: never a half-written file."""
    with atomic_path(path) as tmp:
        df.write_parquet(tmp)
    return Path(path)


def run_lookthrough(
    data_dir: str | Path,
    *,
    pool: Pool | None = None,
    mode: Mode = "pcf",
    valuation: Valuation = "nav",
    store: str | Path = DEFAULT_STORE,
    export: str | Path | None = None,
    check: bool = True,
    progress: Progress | None = None,
) -> LookThroughRun:
    """Validate a dataset, look it through, store the run, optionally export the stock table.

    Raises :class:`~etfflow.exceptions.ValidationError` (nothing computed, store untouched)
    when the tables the look-through reads break the data contract.
    """
    pool = pool or Pool.all()
    ds = open_dataset(data_dir)
    report = check_lookthrough_tables(ds, mode, progress) if check else None
    result = penetrate(ds, pool=pool, mode=mode, valuation=valuation, progress=progress)
    if progress:
        progress("store", 0, 1)
    with open_store(store) as st:
        run_id = st.write_run(
            "lookthrough",
            {"stock_flow": result.stocks, "group_flow": result.groups, "coverage": result.coverage},
            dataset_path=str(Path(data_dir).resolve()),
            fingerprint=ds.fingerprint(),
            pool=pool.label,
            params=result.params,
            diagnostics=result.diagnostics,
        )
    if progress:
        progress("store", 1, 1)
    out = write_parquet_atomic(result.stocks, export) if export else None
    return LookThroughRun(result, run_id, Path(store), out, report)


@dataclass
class FactorRun:
    lookthrough: LookThroughRun
    factors: FactorSet
    run_id: str
    store: Path
    export: Path | None
    frame: pl.DataFrame
    seconds: dict[str, float]


FACTOR_DEFS_SCHEMA = pl.Schema(
    {
        "factor": pl.String,
        "family": pl.String,
        "window": pl.Int32,
        "level": pl.String,
        "formula": pl.String,
        "source": pl.String,
        "direction": pl.Int8,
        "lookback": pl.Int32,
        "processing": pl.String,
    }
)


def factor_defs_frame(fs: FactorSet) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "factor": [f.name for f in fs.instances],
            "family": [f.definition.template for f in fs.instances],
            "window": [f.n for f in fs.instances],
            "level": [fs.level] * len(fs.instances),
            "formula": [f.definition.formula for f in fs.instances],
            "source": [f.definition.source for f in fs.instances],
            "direction": [f.direction for f in fs.instances],
            "lookback": [f.lookback for f in fs.instances],
            "processing": [fs.processing] * len(fs.instances),
        },
        schema=FACTOR_DEFS_SCHEMA,
    )


def _default_strip(steps: str | None) -> str | None:
    """A bare ``strip`` strips ``revs_20`` (docs/methodology.md#46-strip-a-control)."""
    if not steps:
        return steps
    return re.sub(r"\bstrip\b(?!\s*\()", "strip(revs_20)", steps)


def run_factors(
    data_dir: str | Path,
    *,
    pool: Pool | None = None,
    level: Level = "stock",
    factors: str | Sequence[str] = "all",
    windows: Sequence[int] | None = None,
    process: str | None = None,
    mode: Mode = "pcf",
    store: str | Path = DEFAULT_STORE,
    export: str | Path | None = None,
    check: bool = True,
    lookthrough: LookThroughRun | None = None,
    market: Market | None = None,
    min_passive: float | None = None,
    progress: Progress | None = None,
) -> FactorRun:
    """Look through a pool, compute factors at one level, store both, optionally export.

    The look-through run is stored too (the factor run's parameters name its run id). The
    factor values go to the wide table ``factor_values`` (``run_id, level, date, code`` then
    one column per factor) and their definitions to ``factor_defs``, in one transaction.
    Pass ``lookthrough``/``market`` to reuse what an earlier call computed on the same data.

    ``min_passive`` (industry levels; Kaiyuan 2024-09 figure 16): build the industry inputs
    from the stocks whose ``w_passive`` is at least that day's ``min_passive``-quantile among
    the listed stocks with a value (:func:`etfflow.factors.inputs.industry_inputs_from_stocks`;
    factors on ``share_passive_fund`` are then not available). For stocks, drop them in the
    backtest instead (``run_backtest(min_passive=...)``).
    """
    if level not in LEVELS:
        raise EtfflowError(f"unknown level {level!r}: choose one of {', '.join(LEVELS)}")
    if min_passive is not None and level == "stock":
        raise EtfflowError(
            "min_passive at stock level filters the backtest's universe: use "
            "`etfflow backtest --min-passive Q` (run_backtest(min_passive=...)); here it builds "
            "industry factors from the stocks with enough ETF ownership (--level industry_l1)"
        )
    if min_passive is not None and not 0 <= min_passive < 1:  # before any work
        raise EtfflowError(f"min-passive quantile must be in [0, 1), got {min_passive!r}")
    process = _default_strip(process)
    pool = pool or Pool.all()
    secs: dict[str, float] = {}
    t0 = time.perf_counter()
    lt = lookthrough or run_lookthrough(
        data_dir, pool=pool, mode=mode, store=store, check=check, progress=progress
    )
    secs["lookthrough"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ds = open_dataset(data_dir)
    market = market or load_market(ds)
    if level == "stock":
        inputs = stock_inputs(market, lt.result.stocks)
    elif min_passive is not None:  # industries summed over the stocks with enough ETF holding
        w = stock_inputs(market, lt.result.stocks)
        keep = min_passive_mask(w["w_passive"], w.present, float(min_passive))
        inputs = industry_inputs_from_stocks(market, lt.result.stocks, level, keep)
    else:
        inputs = industry_inputs(market, lt.result.groups, level)
    secs["inputs"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fs = compute_factors(inputs, factors, windows=windows, progress=progress)
    secs["compute"] = time.perf_counter() - t0
    if process:
        t0 = time.perf_counter()
        fs = process_factors(fs, process, market=market)
        secs["process"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    frame = fs.frame()
    secs["table"] = time.perf_counter() - t0
    if progress:
        progress("store factors", 0, 1)
    t0 = time.perf_counter()
    params = {
        "level": level,
        "factors": fs.names,
        "windows": list(windows) if windows else None,
        "processing": fs.processing,
        "lookthrough_run": lt.run_id,
        "lookthrough": lt.result.params,
        **({"min_passive": float(min_passive)} if min_passive is not None else {}),
    }
    stored = frame.with_columns(pl.lit(level).alias("level")).select("level", *frame.columns)
    with open_store(store) as st:
        run_id = st.write_run(
            "factors",
            {"factor_values": stored, "factor_defs": factor_defs_frame(fs)},
            dataset_path=str(Path(data_dir).resolve()),
            fingerprint=ds.fingerprint(),
            pool=pool.label,
            params=params,
            diagnostics={"seconds": {k: round(v, 3) for k, v in secs.items()}},
            wide={"factor_values"},
        )
    secs["store"] = time.perf_counter() - t0
    if progress:
        progress("store factors", 1, 1)
    out = write_parquet_atomic(frame, export) if export else None
    return FactorRun(lt, fs, run_id, Path(store), out, frame, secs)

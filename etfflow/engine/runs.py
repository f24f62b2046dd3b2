"""End-to-end runs: validate, compute, store atomically, export (the CLI's library calls)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from etfflow.engine.loading import open_dataset
from etfflow.engine.lookthrough import LookThrough, Mode, Progress, Valuation, penetrate
from etfflow.engine.pools import Pool
from etfflow.engine.schemas import CORE_TABLES
from etfflow.engine.store import DEFAULT_STORE, open_store
from etfflow.engine.validation import ValidationReport, validate


@dataclass
class LookThroughRun:
    result: LookThrough
    run_id: str
    store: Path
    export: Path | None
    validation: ValidationReport | None


def write_parquet_atomic(df: pl.DataFrame, path: str | Path) -> Path:
    """Write to a temporary file beside ``path`` and rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        df.write_parquet(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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
    report = None
    if check:
        holdings = "etf_pcf" if mode == "pcf" else "holding_weights"
        report = validate(ds, tables=[*CORE_TABLES, holdings], progress=progress)
        report.raise_for_errors()
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

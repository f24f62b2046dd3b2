"""Industry rotation runs (Huafu 2026-02): validate, rotate, store, export, report
(docs/methodology.md#8-industry-rotation).

One ``kind = 'rotation'`` run writes every table of
:data:`etfflow.backtest.rotation.result.SCHEMAS` as ``rot_<table>`` in one transaction,
tagged with ``run_id``; its parameters are in ``runs.params``. ``export`` writes the same
tables as ``<table>.parquet`` into a folder, replaced as a whole (never half-written).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from etfflow._common import Progress, atomic_dir
from etfflow.backtest.rotation.params import RotationParams
from etfflow.backtest.rotation.result import SCHEMAS, RotationResult, canonical
from etfflow.backtest.rotation.run import INPUT_TABLES, rotate
from etfflow.engine.loading import open_dataset
from etfflow.engine.market import Market
from etfflow.engine.schemas import CORE_TABLES
from etfflow.engine.store import DEFAULT_STORE, Store, open_store
from etfflow.engine.validation import ValidationReport, validate

#: Store table of each result table.
STORE_TABLES: dict[str, str] = {name: f"rot_{name}" for name in SCHEMAS}


@dataclass
class RotationRun:
    result: RotationResult
    run_id: str
    store: Path
    export: Path | None
    html: Path | None
    validation: ValidationReport | None


def rotation_params(params: RotationParams) -> dict:
    """The run's parameters as stored in ``runs.params`` (JSON-friendly)."""
    d = dataclasses.asdict(params)
    d["start"] = str(params.start) if params.start else None
    d["size_indices"] = list(params.size_indices)
    d["style_indices"] = list(params.style_indices)
    return d


def run_rotation(
    data_dir: str | Path,
    params: RotationParams | None = None,
    *,
    store: str | Path = DEFAULT_STORE,
    export: str | Path | None = None,
    html: str | Path | None = None,
    check: bool = True,
    market: Market | None = None,
    progress: Progress | None = None,
) -> RotationRun:
    """Validate a dataset, run the rotation, store it, optionally export and report it.

    Raises :class:`~etfflow.exceptions.ValidationError` (nothing computed, store untouched)
    when the tables the rotation reads break the data contract.
    """
    p = (params or RotationParams()).check()
    ds = open_dataset(data_dir)
    report = None
    if check:
        holdings = "holding_weights" if ds.has("holding_weights") else "etf_pcf"
        report = validate(ds, tables=[*CORE_TABLES, holdings, *INPUT_TABLES], progress=progress)
        report.raise_for_errors()
    result = rotate(ds, p, market=market, progress=progress)
    with open_store(store) as st:
        run_id = write_rotation(st, result, data_dir=data_dir, fingerprint=ds.fingerprint())
    out = export_tables(result, export) if export else None
    page = None
    if html:
        from etfflow.backtest.rotation.report import write_html

        page = write_html(result, html)
    return RotationRun(result, run_id, Path(store), out, page, report)


def write_rotation(
    st: Store, result: RotationResult, *, data_dir: str | Path, fingerprint: str
) -> str:
    """Store a rotation as one ``kind = 'rotation'`` run (one transaction); its run id."""
    return st.write_run(
        "rotation",
        {STORE_TABLES[k]: v for k, v in result.tables.items()},
        dataset_path=str(Path(data_dir).resolve()),
        fingerprint=fingerprint,
        pool=result.params.pool,
        params=rotation_params(result.params),
        diagnostics=result.meta,
    )


def export_tables(result: RotationResult, folder: str | Path) -> Path:
    """Write every table as ``<folder>/<table>.parquet``; the folder is replaced as a whole."""
    with atomic_dir(folder) as tmp:
        for name, df in result.tables.items():
            df.write_parquet(tmp / f"{name}.parquet")
    return Path(folder)


def load_rotation(store: str | Path, run_id: str | None = None) -> RotationResult:
    """A stored rotation run (the latest when ``run_id`` is None) as a :class:`RotationResult`."""
    from etfflow.exceptions import StoreError

    with open_store(store, read_only=True) as st:
        runs = st.runs().filter(pl.col("kind") == "rotation")
        if run_id is not None:
            runs = runs.filter(pl.col("run_id") == run_id)
        if not runs.height:
            raise StoreError(
                f"no rotation run {run_id or ''} in {store}: run `etfflow rotation DATA_DIR` first"
            )
        row = runs.row(-1, named=True)
        tables = {
            name: canonical(name, st.table(STORE_TABLES[name], row["run_id"])) for name in SCHEMAS
        }
    import json

    raw = json.loads(row["params"])
    raw["size_indices"] = tuple(raw["size_indices"])
    raw["style_indices"] = tuple(raw["style_indices"])
    if raw.get("start"):
        import datetime as dt

        raw["start"] = dt.date.fromisoformat(raw["start"])
    return RotationResult(RotationParams(**raw), tables, json.loads(row["diagnostics"] or "{}"))

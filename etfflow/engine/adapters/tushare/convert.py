"""A Tushare raw folder (``raw.py``) converted into the data contract.

``import_tushare(raw_dir, out)`` reads the endpoint tables that ``etfflow fetch tushare`` wrote
(Tushare's field names and units), converts them into every contract table the raw data
allows, checks the result with :func:`etfflow.engine.validation.validate` and moves it into
the dataset folder ``out`` (merged with what is there: rows of the same dates or keys are
replaced, as ``etfflow import table`` does). Nothing is written when anything fails.

The conversion is split by domain; every name stays importable from this module:

=========================  ============================================================
module                     holds
=========================  ============================================================
:mod:`.convert_read`       endpoint fields (:data:`ENDPOINTS`), :func:`read_endpoint`,
                           units and their checks (:func:`check_unit`), documentation URLs
:mod:`.convert_stocks`     ``stocks``, ``stock_daily`` (suspended days carried), ``stock_industry``
:mod:`.convert_etfs`       ``etfs``, ``etf_daily``, ``etf_pcf``, ``holding_weights``
:mod:`.convert_funds`      ``active_funds``, ``active_holdings``, ``fund_nav``, ``fund_issuance``
this module                :func:`convert_raw` (all tables in memory), :func:`import_tushare`
=========================  ============================================================

Beijing (``.BJ``) stocks: the contract's boards are SH_MAIN, SZ_MAIN, CHINEXT and STAR, so
Beijing stocks, their rows, index constituents and basket components are left out and
counted in :attr:`TushareImportSummary.counts` (never silently).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from etfflow._common import Progress, atomic_path
from etfflow.engine.adapters.swap import swap_in
from etfflow.engine.adapters.table import manifest_with_import, merge
from etfflow.engine.adapters.tushare.categories import CategoryRules, load_categories
from etfflow.engine.adapters.tushare.convert_etfs import (
    SUB_FLAGS,
    basket_weights,
    dataset_creation_units,
    dataset_pcf_header,
    etf_daily_table,
    etf_pcf_table,
    etf_weights,
    etfs_table,
    holding_weights_table,
    index_weights,
    read_creation_units,
    unit_observations,
)
from etfflow.engine.adapters.tushare.convert_funds import FUND_TYPES_ACTIVE, rotation_tables
from etfflow.engine.adapters.tushare.convert_read import (
    DOCS,
    ENDPOINTS,
    FILE,
    HAND,
    PCT,
    STOCK_CODE,
    THOUSAND,
    UNIT_SLACK,
    WAN,
    YI,
    Counts,
    E,
    Endpoint,
    check_unit,
    raw_files_hint,
    read_endpoint,
)
from etfflow.engine.adapters.tushare.convert_stocks import (
    calendar,
    st_flags,
    stock_daily_table,
    stock_industry_table,
    stocks_table,
)
from etfflow.engine.loading import MANIFEST, Dataset, scan_table, table_path
from etfflow.engine.schemas import TABLES
from etfflow.engine.validation import validate
from etfflow.exceptions import SourceFileError

__all__ = [
    "DOCS",
    "ENDPOINTS",
    "FILE",
    "FUND_TYPES_ACTIVE",
    "HAND",
    "PCT",
    "STOCK_CODE",
    "SUB_FLAGS",
    "THOUSAND",
    "UNIT_SLACK",
    "WAN",
    "YI",
    "Counts",
    "E",
    "Endpoint",
    "TushareImportSummary",
    "basket_weights",
    "calendar",
    "check_unit",
    "convert_raw",
    "etf_daily_table",
    "etf_pcf_table",
    "etf_weights",
    "etfs_table",
    "holding_weights_table",
    "import_tushare",
    "index_weights",
    "raw_files_hint",
    "read_creation_units",
    "read_endpoint",
    "rotation_tables",
    "st_flags",
    "stock_daily_table",
    "stock_industry_table",
    "stocks_table",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TushareImportSummary:
    """What :func:`import_tushare` wrote: rows per contract table, the counted rows that were
    carried or left out (``counts``), validation warnings and what the raw data lacked."""

    out: Path
    rows: dict[str, int]
    counts: dict[str, int]
    warnings: tuple[str, ...] = ()
    not_provided: tuple[str, ...] = field(default=())


def convert_raw(
    raw_dir: str | Path,
    *,
    categories: str | Path | CategoryRules | None = None,
    progress: Progress | None = None,
    pcf_header: pl.DataFrame | None = None,
    creation_units: pl.DataFrame | None = None,
    kept_units: pl.DataFrame | None = None,
) -> tuple[dict[str, pl.DataFrame], Counts, tuple[str, ...]]:
    """The contract tables of a raw folder (in memory): ``(tables, counts, not_provided)``.

    ``pcf_header`` (``etf_code``, ``date``, ``creation_unit``: the table ``etfflow import pcf``
    writes) and ``creation_units`` (:func:`read_creation_units`) add creation units to those
    of ``etf_bs_sh_detail`` / ``etf_bs_sz_detail`` (Shanghai's starts 2025-07-25);
    ``kept_units`` (``etf_code``, ``creation_unit``: the dataset's ``etfs``) fills the ETFs
    none of them has. An ETF still without one is kept with a null unit (named in
    ``not_provided``)."""
    raw_dir = Path(raw_dir)
    rules = categories if isinstance(categories, CategoryRules) else load_categories(categories)
    n = len(ENDPOINTS) + 8
    step = 0

    def tick(stage: str) -> None:
        nonlocal step
        step += 1
        if progress is not None:
            progress("import tushare", step, n)
        log.debug("tushare import: %s done", stage)

    raw: dict[str, pl.DataFrame | None] = {}
    for api, ep in ENDPOINTS.items():
        raw[api] = read_endpoint(raw_dir, ep)
        tick(f"read {api}")
    counts: Counts = {}
    not_provided: list[str] = []
    cal = raw["trade_cal"]
    assert cal is not None
    days = calendar(cal)
    basic = raw["stock_basic"]
    assert basic is not None
    tables: dict[str, pl.DataFrame] = {}
    steps: list[tuple[str, Callable[[], None]]] = []

    def put(name: str, df: pl.DataFrame | None) -> None:
        if df is not None:
            tables[name] = df

    steps.append(("stocks", lambda: put("stocks", stocks_table(basic, counts))))
    steps.append(
        (
            "stock_industry",
            lambda: put("stock_industry", stock_industry_table(raw["ci_index_member"], counts)),  # type: ignore[arg-type]
        )
    )
    steps.append(
        (
            "stock_daily",
            lambda: put("stock_daily", stock_daily_table(raw, tables["stocks"], days, counts)),
        )
    )
    units = unit_observations(raw, pcf_header, creation_units)
    no_unit: list[str] = []
    steps.append(
        ("etfs", lambda: put("etfs", etfs_table(raw, rules, counts, units, no_unit, kept_units)))
    )
    steps.append(
        (
            "etf_daily",
            lambda: put("etf_daily", etf_daily_table(raw, tables["etfs"], counts, no_unit)),
        )
    )
    steps.append(("etf_pcf", lambda: put("etf_pcf", etf_pcf_table(raw, tables["etfs"], counts))))
    steps.append(
        (
            "holding_weights",
            lambda: put("holding_weights", holding_weights_table(raw, tables, days, counts)),
        )
    )
    idx = raw.get("index_daily")
    steps.append(
        (
            "rotation",
            lambda: tables.update(
                rotation_tables(raw, days, counts)
                | (
                    {}
                    if idx is None
                    else {
                        "index_daily": idx.select(
                            pl.col("trade_date").alias("date"),
                            pl.col("ts_code").alias("index_code"),
                            "close",
                        ).sort("date", "index_code")
                    }
                )
            ),
        )
    )
    for stage, fn in steps:
        fn()
        tick(stage)
    if "etf_pcf" not in tables and "holding_weights" not in tables:
        not_provided.append(
            "holdings: neither etf_sh_cons/etf_sz_cons nor index_weight/fund_portfolio"
        )
    for t in ("index_daily", "active_funds", "active_holdings", "fund_nav", "fund_issuance"):
        if t not in tables:
            not_provided.append(f"{t}: its endpoints are not in the raw folder")
    if "fund_daily" not in raw or raw["fund_daily"] is None:
        not_provided.append("etf_daily.amount: fund_daily is not in the raw folder")
    if no_unit:
        size = raw["etf_share_size"]
        assert size is not None
        n_days = int(size["ts_code"].is_in(no_unit).sum())
        shown = ", ".join(sorted(no_unit)[:8]) + (", ..." if len(no_unit) > 8 else "")
        not_provided.append(
            f"etfs.creation_unit: {len(no_unit)} ETFs ({n_days} ETF-days of etf_share_size) have "
            f"none in etf_bs_sh_detail/etf_bs_sz_detail, the dataset's pcf_header or etfs, or "
            f"--creation-units: kept with a null unit for the weights mode and the PCF mode at "
            f"NAV valuation, left out of the PCF mode at basket valuation: {shown} "
            "(etf_bs_sh_detail starts 2025-07-25: give them with --creation-units FILE, or "
            "`etfflow import pcf` into the dataset folder first)"
        )
    tables = {
        t: df.select([c for c in TABLES[t].columns if c in df.columns]).cast(
            {c: TABLES[t].columns[c] for c in df.columns if c in TABLES[t].columns}
        )
        for t, df in tables.items()
    }
    return tables, counts, tuple(not_provided)


# writing -------------------------------------------------------------------------------------
def import_tushare(
    raw_dir: str | Path,
    out: str | Path,
    *,
    categories: str | Path | CategoryRules | None = None,
    progress: Progress | None = None,
    creation_units: str | Path | None = None,
) -> TushareImportSummary:
    """Convert a Tushare raw folder into the dataset folder ``out``.

    Parameters
    ----------
    raw_dir
        Written by ``etfflow fetch tushare`` (``RAW_DIR/<api_name>/<partition>.parquet``).
    out
        Dataset folder, created when missing; tables already there are merged (rows of the
        imported dates, or keys, replaced; the others kept).
    categories
        A TOML file of category overrides (:mod:`categories`), or rules.
    progress
        Optional progress reporter.
    creation_units
        A CSV ``ts_code,creation_unit[,start_date]`` (:func:`read_creation_units`) for ETFs
        the PCF detail endpoints have no creation unit for (Shanghai's start 2025-07-25);
        ``pcf_header`` in ``out`` (``etfflow import pcf``) is used as well.

    Returns
    -------
    TushareImportSummary

    Raises
    ------
    SourceFileError
        A missing endpoint or field, a value that does not parse, a unit that cannot be
        inferred, a code that maps to no exchange (naming endpoint file, field, example rows);
        a bad ``creation_units`` file.
    ValidationError
        The converted dataset breaks the data contract.

    Notes
    -----
    Every table is converted in memory, merged, written into a temporary folder beside
    ``out``, validated there together with the tables of ``out`` it does not replace, and
    only then moved into place: a failure leaves ``out`` exactly as it was.
    """
    raw_dir, out = Path(raw_dir), Path(out)
    if out.exists() and not out.is_dir():
        raise SourceFileError(
            f"--out {out} is a file, not a dataset folder", file=out, table="(dataset)"
        )
    given = read_creation_units(creation_units) if creation_units is not None else None
    tables, counts, not_provided = convert_raw(
        raw_dir,
        categories=categories,
        progress=progress,
        pcf_header=dataset_pcf_header(out),
        creation_units=given,
        kept_units=dataset_creation_units(out),
    )
    merged: dict[str, pl.DataFrame] = {}
    for t, df in tables.items():
        existing = table_path(out, t) if out.is_dir() else None
        old = None
        if existing is not None:
            old = scan_table(existing).collect()
            old = old.drop([c for c in old.columns if c not in TABLES[t].columns])
        merged[t], _ = merge(old, df, t)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.tushare-", dir=out.parent))
    try:
        entries = []  # a table keeps its form in ``out``: one file, or a folder of files
        for t, df in merged.items():
            existing = table_path(out, t) if out.is_dir() else None
            name = existing.name if existing is not None else f"{t}.parquet"
            target = stage / name
            if existing is not None and existing.is_dir():
                target.mkdir()
                target = target / "data.parquet"
            df.write_parquet(target, compression="zstd")
            entries.append(name)
        paths = {t: p for t in TABLES if out.is_dir() and (p := table_path(out, t)) is not None}
        paths.update({t: stage / e for t, e in zip(merged, entries, strict=True)})
        report = validate(Dataset(root=stage, paths=paths), tables=list(merged))
        report.raise_for_errors()
        manifest = _manifest(out, raw_dir, {t: df.height for t, df in tables.items()})
        if not out.exists():
            (stage / MANIFEST).write_text(manifest, encoding="utf-8")
            os.replace(stage, out)
        else:
            swap_in(stage, out, entries)
            with atomic_path(out / MANIFEST) as tmp:
                tmp.write_text(manifest, encoding="utf-8")
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log.info("imported tushare raw folder %s into %s: %s", raw_dir, out, counts)
    return TushareImportSummary(
        out=out,
        rows={t: df.height for t, df in tables.items()},
        counts=counts,
        warnings=tuple(w.message for w in report.warnings),
        not_provided=not_provided,
    )


def _manifest(out: Path, raw_dir: Path, rows: dict[str, int]) -> str:
    return manifest_with_import(
        out,
        {
            "source": "tushare",
            "raw_dir": raw_dir.name,
            "imported_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "rows": rows,
        },
    )

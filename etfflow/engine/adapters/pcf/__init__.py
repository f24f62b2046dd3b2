"""The exchanges' daily PCF files (申购赎回清单) into the data contract's ``etf_pcf``.

The two XML formats (Shanghai ``<SSEPortfolioCompositionFile>``, Shenzhen ``<PCFFile>``) are
described in :mod:`.formats` and read by :mod:`.parsing`; this module merges the parsed
frames with a dataset folder and swaps them in.

What lands where (all under the dataset folder, merged by ETF-day):

``etf_pcf/year=YYYY/data.parquet`` (contract)
    ``date`` = ``TradingDay`` (the basket in force that day), ``etf_code`` (``.SH`` for
    Shanghai files, ``.SZ`` for Shenzhen), ``code`` (the component with its exchange suffix),
    ``quantity`` (shares per creation unit), ``cash_substitute`` (flag 0 ``forbidden``;
    1, 3, 5 ``allowed``; 2, 4, 6 ``required``). Only Shanghai/Shenzhen components with a
    positive quantity: the A-share basket.
``pcf_components/year=YYYY/data.parquet`` (not a contract table; ignored by the engine)
    Every component row of every file, A-share or not, with its name, market (``SH``, ``SZ``,
    ``HK``, ``BJ``, ``OTHER``), ``kind`` (``a_share``, ``hk``, ``bj``, ``cash``, ``other``),
    the raw substitution flag, premium ratio and cash amounts (CNY): nothing is dropped.
``pcf_header.parquet`` (not a contract table)
    One row per ETF-day: ``creation_unit`` (fund shares), ``nav_per_cu`` and ``nav`` (CNY,
    as of ``pre_trading_day``: the file of day t carries the NAV of the previous trading
    day), ``cash_component``, ``estimated_cash_component``, ``max_cash_ratio`` and the counts
    of component kinds, plus the source file name.

A PCF file cannot provide ``etf_daily.shares`` (total shares outstanding) nor the ``etfs``
columns other than ``creation_unit`` (``name``, ``category``, ``index_code``,
``is_enhanced``, ``list_date``): :attr:`PcfImportSummary.not_provided` says so; nothing is
invented.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import polars as pl

from etfflow._common import Progress
from etfflow.engine.adapters.pcf.formats import (
    CASH_CODES,
    COMPONENT_SCHEMA,
    COMPONENT_TABLE,
    FLAGS,
    HEADER_SCHEMA,
    HEADER_TABLE,
    KINDS,
    MARKETS,
    SSE,
    SSE_ROOT,
    SUFFIXES,
    SZSE,
    SZSE_NAMESPACE,
    SZSE_ROOT,
    PcfFileError,
)
from etfflow.engine.adapters.pcf.parsing import (
    decode_xml,
    parse_pcf_file,
    parse_pcf_files,
    pcf_files,
)
from etfflow.engine.loading import scan_table, table_path
from etfflow.engine.schemas import TABLES

__all__ = [
    "CASH_CODES",
    "COMPONENT_SCHEMA",
    "COMPONENT_TABLE",
    "FLAGS",
    "HEADER_SCHEMA",
    "HEADER_TABLE",
    "KINDS",
    "MARKETS",
    "NOT_PROVIDED",
    "SSE",
    "SSE_ROOT",
    "SUFFIXES",
    "SZSE",
    "SZSE_NAMESPACE",
    "SZSE_ROOT",
    "PcfFileError",
    "PcfImportSummary",
    "decode_xml",
    "import_pcf",
    "parse_pcf_file",
    "parse_pcf_files",
    "pcf_files",
]

log = logging.getLogger(__name__)

NOT_PROVIDED: Final = (
    "etf_daily.shares (total shares outstanding): not in a PCF file",
    "etf_daily.nav: pcf_header.nav is the NAV of pre_trading_day, not of date",
    "etfs.name, category, index_code, is_enhanced, list_date: not in a PCF file "
    "(etfs.creation_unit is pcf_header.creation_unit)",
)


@dataclass(frozen=True)
class PcfImportSummary:
    """What ``import_pcf`` read and wrote.

    ``counts`` gives the component rows per kind (``a_share`` rows went to ``etf_pcf``; the
    others only to ``pcf_components``); ``replaced_etf_days`` the ETF-days that were already in
    the dataset and were replaced; ``not_provided`` the contract columns a PCF file cannot fill.
    """

    out: Path
    n_files: int
    n_etf_days: int
    first_date: dt.date
    last_date: dt.date
    etf_pcf_rows: int
    counts: dict[str, int]
    by_exchange: dict[str, int]
    replaced_etf_days: int
    not_provided: tuple[str, ...] = field(default=NOT_PROVIDED)


# import_pcf and its writing helpers live in the package module itself, so that
# ``pcf._write_by_year`` (replaced by the atomic-write tests) is the one import_pcf calls.
def _read_existing(out: Path, table: str) -> pl.DataFrame | None:
    path = table_path(out, table) if out.is_dir() else None
    if path is None:
        return None
    df = scan_table(path).collect()
    if "year" in df.columns:  # the hive partition key, not a column of the table
        df = df.drop("year")
    return df.with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String))


def _merge(old: pl.DataFrame | None, new: pl.DataFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """``new`` plus the rows of ``old`` whose (date, etf_code) is not in ``keys``."""
    if old is None:
        return new
    kept = old.join(keys, on=["date", "etf_code"], how="anti")
    kept = kept.select(
        pl.col(c) if c in kept.columns else pl.lit(None).alias(c) for c in new.columns
    ).cast(new.schema)
    return pl.concat([kept, new]).sort(
        [c for c in ("date", "etf_code", "code") if c in new.columns]
    )


def _codes_categorical(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        pl.col(c).cast(pl.Categorical) for c in ("etf_code", "code") if c in df.columns
    )


def _write_by_year(df: pl.DataFrame, folder: Path) -> None:
    folder.mkdir(parents=True)
    for (year,), part in df.group_by(pl.col("date").dt.year(), maintain_order=True):
        d = folder / f"year={year}"
        d.mkdir()
        _codes_categorical(part).write_parquet(d / "data.parquet", compression="zstd")


def _swap_in(staging: Path, out: Path, names: Sequence[str]) -> None:
    """Move ``staging/<name>`` over ``out/<name>`` for each name; undo all on a failure.

    Each move is one ``os.replace`` (the old entry is first renamed aside), so a reader sees
    either the old or the new table, and a failure in the middle puts every old one back.
    """
    aside = staging / ".old"
    aside.mkdir()
    done: list[tuple[str, bool, bool]] = []  # (name, had an old one, new one in place)
    try:
        for n in names:
            had = (out / n).exists()
            if had:
                os.replace(out / n, aside / n)
            done.append((n, had, False))
            os.replace(staging / n, out / n)
            done[-1] = (n, had, True)
    except BaseException:
        for n, had, placed in reversed(done):
            if placed:
                shutil.rmtree(out / n) if (out / n).is_dir() else (out / n).unlink()
            if had:
                os.replace(aside / n, out / n)
        raise


def import_pcf(
    paths: Iterable[str | Path], out: str | Path, *, progress: Progress | None = None
) -> PcfImportSummary:
    """Import PCF files of both exchanges into the dataset folder ``out``.

    Parameters
    ----------
    paths
        PCF XML files and folders (every ``*.xml`` below a folder is read).
    out
        The dataset folder; created when missing. Existing ETF-days (same ``date`` =
        ``TradingDay`` and ``etf_code``) are replaced, other rows are kept.
    progress
        Optional progress reporter.

    Returns
    -------
    PcfImportSummary
        Files, ETF-days, dates, rows per component kind, replaced ETF-days, and the contract
        columns a PCF file cannot provide.

    Raises
    ------
    PcfFileError
        On any unreadable file (see :func:`parse_pcf_file`), before anything is written.

    Notes
    -----
    Every file is parsed before anything is written. The new tables are written into a
    temporary folder beside ``out`` and moved into place (``os.replace``); a failure leaves
    ``out`` as it was. Point in time: a row dated t comes from the file of ``TradingDay`` t
    only (published before the open of t; its NAV is that of the previous trading day).
    """
    out = Path(out)
    files = pcf_files(paths)
    header, comp = parse_pcf_files(files, progress=progress)
    keys = header.select("date", "etf_code")
    old_header = _read_existing(out, HEADER_TABLE)
    replaced = 0 if old_header is None else old_header.join(keys, on=["date", "etf_code"]).height
    contract = TABLES["etf_pcf"].columns
    pcf = comp.filter(pl.col("kind") == "a_share").select(
        pl.col(c).cast(contract[c]) for c in contract
    )
    pcf = _merge(_read_existing(out, "etf_pcf"), pcf, keys)
    comp_all = _merge(_read_existing(out, COMPONENT_TABLE), comp, keys)
    header_all = _merge(old_header, header, keys)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.pcf-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    staging.mkdir()
    try:
        _write_by_year(pcf, staging / "etf_pcf")
        _write_by_year(comp_all, staging / COMPONENT_TABLE)
        _codes_categorical(header_all).write_parquet(
            staging / f"{HEADER_TABLE}.parquet", compression="zstd"
        )
        names = ["etf_pcf", COMPONENT_TABLE, f"{HEADER_TABLE}.parquet"]
        if not out.exists():
            fresh = staging / ".new"
            fresh.mkdir()
            for n in names:
                os.replace(staging / n, fresh / n)
            os.replace(fresh, out)
        else:
            single = out / "etf_pcf.parquet"  # a single-file etf_pcf gives way to the folder
            if single.is_file():
                os.replace(single, staging / "etf_pcf.single.parquet")
            try:
                _swap_in(staging, out, names)
            except BaseException:
                if (staging / "etf_pcf.single.parquet").exists():
                    os.replace(staging / "etf_pcf.single.parquet", single)
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    counts = {k: int(header[f"n_{k}"].sum()) for k in KINDS}
    by_exchange = dict(header.group_by("exchange").len().sort("exchange").iter_rows())
    summary = PcfImportSummary(
        out=out,
        n_files=len(files),
        n_etf_days=header.height,
        first_date=header["date"].min(),  # type: ignore[arg-type]
        last_date=header["date"].max(),  # type: ignore[arg-type]
        etf_pcf_rows=counts["a_share"],
        counts=counts,
        by_exchange=by_exchange,
        replaced_etf_days=replaced,
    )
    log.info("imported %d PCF files into %s: %s", len(files), out, counts)
    return summary

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
``pcf_header/year=YYYY/data.parquet`` (not a contract table)
    One row per ETF-day: ``creation_unit`` (fund shares), ``nav_per_cu`` and ``nav`` (CNY,
    as of ``pre_trading_day``: the file of day t carries the NAV of the previous trading
    day), ``cash_component``, ``estimated_cash_component``, ``max_cash_ratio`` and the counts
    of component kinds, plus the source file name. (Datasets imported before the header was
    partitioned have one ``pcf_header.parquet``: the next import converts it.)

Incremental merge: an import reads and rewrites only the year partitions of the years its
files cover (in all three tables); every other partition is left as it is (same file, same
inode). Each partition is sorted by (date, etf_code[, code]) and says so in its Parquet
metadata (``etfflow.sorted_by``), so a delivery dated after the history is appended without
re-sorting. A table in another layout (a single ``<table>.parquet``, a folder of other
files) is read whole once and rewritten in this layout. Importing a history month by month
gives exactly the tables of importing it in one call.

A PCF file cannot provide ``etf_daily.shares`` (total shares outstanding) nor the ``etfs``
columns other than ``creation_unit`` (``name``, ``category``, ``index_code``,
``is_enhanced``, ``list_date``): :attr:`PcfImportSummary.not_provided` says so; nothing is
invented.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
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
from etfflow.engine.adapters.swap import swap_in
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
# ``pcf._write_by_year`` and ``pcf._write_part`` (replaced by the atomic-write tests) are the
# ones import_pcf calls.
PART_FILE: Final = "data.parquet"
#: Parquet key-value metadata of a partition written sorted by its key (see
#: :func:`_merge_year`).
SORTED_KEY: Final = "etfflow.sorted_by"
_YEAR_DIR: Final = re.compile(r"year=(\d{4})")


def _sort_key(columns: Sequence[str]) -> list[str]:
    """The key a table of these columns is sorted by: date, etf_code[, code]."""
    return [c for c in ("date", "etf_code", "code") if c in columns]


def _year_parts(out: Path, table: str) -> dict[int, Path] | None:
    """``{year: file}`` when ``out/<table>`` is in import_pcf's own layout, else None.

    The own layout is a folder holding only ``year=YYYY/data.parquet`` entries (an empty or
    missing folder counts: no year yet). A single ``<table>.parquet`` file, or a folder of
    any other shape (e.g. one ``data.parquet`` written by the Tushare import), is not: such a
    table is read whole once and rewritten in the own layout.
    """
    if (out / f"{table}.parquet").exists():
        return None
    folder = out / table
    if not folder.is_dir():
        return {}
    parts: dict[int, Path] = {}
    for child in folder.iterdir():
        m = _YEAR_DIR.fullmatch(child.name)
        if m is None or not child.is_dir() or os.listdir(child) != [PART_FILE]:
            return None
        parts[int(m[1])] = child / PART_FILE
    return parts


def _read_existing(out: Path, table: str) -> pl.DataFrame | None:
    """The whole table (any layout), or None when absent."""
    path = table_path(out, table) if out.is_dir() else None
    if path is None:
        return None
    df = scan_table(path).collect()
    if "year" in df.columns:  # the hive partition key, not a column of the table
        df = df.drop("year")
    return _codes_categorical(df)


def _conform(lf: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """``lf`` with the columns of ``schema`` in its order and types (missing ones null)."""
    names = lf.collect_schema().names()
    return lf.select(
        pl.col(c).cast(t) if c in names else pl.lit(None, dtype=t).alias(c)
        for c, t in schema.items()
    )


def _year_of(df: pl.DataFrame, year: int) -> pl.DataFrame:
    """The rows of ``year`` of ``df`` (sorted by date: a zero-copy slice)."""
    years = df["date"].dt.year()
    lo = years.search_sorted(year, side="left")
    hi = years.search_sorted(year, side="right")
    return df.slice(lo, hi - lo)


def _sorted(df: pl.DataFrame | None) -> pl.DataFrame | None:
    return None if df is None else df.sort(_sort_key(df.columns), maintain_order=True)


def _count_replaced(
    out: Path, parts: dict[int, Path] | None, keys: pl.DataFrame, years: set[int]
) -> int:
    """The ETF-days of ``keys`` already in ``out``'s ``pcf_header``."""
    if parts is None:
        path = table_path(out, HEADER_TABLE)
        lf = scan_table(path) if path is not None else None
    else:
        files = [parts[y] for y in sorted(years & parts.keys())]
        lf = pl.scan_parquet(files) if files else None
    if lf is None:
        return 0
    old = _codes_categorical(lf.select("date", "etf_code").collect())
    return old.join(keys, on=["date", "etf_code"]).height


def _merge_year(
    old: Path | None, new: pl.DataFrame, keys: pl.DataFrame
) -> pl.DataFrame | pl.LazyFrame:
    """One year partition: the old file ``old`` merged with the year's new rows ``new``.

    When the old partition carries the sorted mark and every row of it is dated before the
    first new one (a delivery after the history: the usual case), no ETF-day can be replaced
    and the concatenation is in order: returned lazily, to be streamed from the old file to
    the new one without holding the year in memory. Otherwise the partition is read and
    merged in memory (:func:`_merge`).
    """
    if old is None:
        return new
    lf = _conform(pl.scan_parquet(old), new.schema)
    first = new["date"].min()
    sorted_mark = pl.read_parquet_metadata(old).get(SORTED_KEY) == ",".join(_sort_key(new.columns))
    last = lf.select(pl.col("date").max()).collect().item()
    if sorted_mark and first is not None and (last is None or last < first):
        return pl.concat([lf, new.lazy()])
    df = lf.collect()
    if not sorted_mark:
        df = df.sort(_sort_key(df.columns), maintain_order=True)
    return _merge(df, new, keys)


def _merge(old: pl.DataFrame | None, new: pl.DataFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """``new`` plus the rows of ``old`` whose (date, etf_code) is not in ``keys``, sorted.

    ``new`` and ``old`` are sorted by (date, etf_code[, code]); the result is sorted too
    (stable: rows with the same key keep their order).
    """
    if old is None or old.is_empty():
        return new
    kept = old.join(keys, on=["date", "etf_code"], how="anti", maintain_order="left")
    kept = _conform(kept.lazy(), new.schema).collect()
    merged = pl.concat([kept, new])
    last, first = kept["date"].max(), new["date"].min()
    if last is None or first is None or last < first:  # type: ignore[operator]
        return merged
    return merged.sort(_sort_key(new.columns), maintain_order=True)


def _codes_categorical(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        pl.col(c).cast(pl.Categorical) for c in ("etf_code", "code") if c in df.columns
    )


def _write_part(part: pl.DataFrame | pl.LazyFrame, path: Path, meta: dict[str, str]) -> None:
    """Write one partition file (a LazyFrame is streamed)."""
    part.lazy().sink_parquet(path, compression="zstd", metadata=meta)


def _write_by_year(parts: dict[int, pl.DataFrame | pl.LazyFrame], folder: Path) -> None:
    """``folder/year=YYYY/data.parquet`` for each year of ``parts`` that has rows.

    Every part is sorted by its key (date, etf_code[, code]) and marked so in its Parquet
    metadata (``etfflow.sorted_by``).
    """
    folder.mkdir(parents=True)
    for year, part in sorted(parts.items()):
        if isinstance(part, pl.DataFrame) and part.is_empty():
            continue  # no row that year (e.g. no A-share component): no partition
        meta = {SORTED_KEY: ",".join(_sort_key(part.collect_schema().names()))}
        d = folder / f"year={year}"
        d.mkdir()
        _write_part(part, d / PART_FILE, meta)


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
    Every file is parsed before anything is written. Only the year partitions of the years
    the files cover are read, merged and rewritten, into a temporary folder beside ``out``,
    then moved into place (``os.replace``, one per partition); a failure at any point puts
    every old partition back and leaves ``out`` as it was. Untouched years are not
    rewritten. Point in time: a row dated t comes from the file of ``TradingDay`` t only
    (published before the open of t; its NAV is that of the previous trading day).
    """
    out = Path(out)
    files = pcf_files(paths)
    header, comp = parse_pcf_files(files, progress=progress)
    contract = TABLES["etf_pcf"].columns
    pcf = comp.filter(pl.col("kind") == "a_share").select(
        pl.col(c).cast(contract[c]) for c in contract
    )
    new = {
        "etf_pcf": _codes_categorical(pcf),
        COMPONENT_TABLE: _codes_categorical(comp),
        HEADER_TABLE: _codes_categorical(header),
    }
    keys = new[HEADER_TABLE].select("date", "etf_code")
    years = set(header["date"].dt.year().unique().to_list())
    replaced = 0

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.pcf-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    staging.mkdir()
    try:
        names: list[str] = []  # entries of ``out`` (tables or year partitions) replaced
        remove: list[str] = []  # entries of ``out`` that go away
        for table, df in new.items():
            parts = _year_parts(out, table) if out.is_dir() else {}
            if table == HEADER_TABLE:
                replaced = _count_replaced(out, parts, keys, years)
            merged: dict[int, pl.DataFrame | pl.LazyFrame]
            if parts is None:  # another layout: read whole, rewritten in the own layout
                old = _merge(_sorted(_read_existing(out, table)), df, keys)
                merged = {y: _year_of(old, y) for y in old["date"].dt.year().unique()}
            else:  # only the partitions of the delivery's years are read and rewritten
                merged = {y: _merge_year(parts.get(y), _year_of(df, y), keys) for y in years}
            _write_by_year(merged, staging / table)
            del merged
            if parts is None or not (out / table).is_dir():
                names.append(table)
                if (out / f"{table}.parquet").is_file():  # a single file gives way
                    remove.append(f"{table}.parquet")
                continue
            for y in sorted(years):
                n = f"{table}/year={y}"
                if (staging / n).is_dir():
                    names.append(n)
                elif y in parts:  # every row of that year was replaced by none
                    remove.append(n)
        if not out.exists():
            fresh = staging / ".new"
            fresh.mkdir()
            for n in names:
                os.replace(staging / n, fresh / n)
            os.replace(fresh, out)
        else:
            swap_in(staging, out, names, remove)
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

"""The raw folder shared by ``etfflow fetch tushare`` (writer) and ``etfflow import tushare``
(reader).

Layout: ``RAW_DIR/<api_name>/<partition>.parquet``, one file per request that was answered in
full (every page), with exactly the fields Tushare returned, under Tushare's own names and
units. ``partition`` names the request: ``trade_date=20240102`` for a per-day endpoint,
``ts_code=510300.SH`` for a per-code endpoint, ``all`` for an endpoint fetched in one request
(several parameters join with ``,``). A partition file exists only once its request is
complete, which is what makes fetching resumable. A request that is a snapshot as of the
fetch's end (a reference list, a month not over) carries ``through=YYYYMMDD``
(``list_status=L,through=20240131``, ``index_code=000300.SH,month=202401,through=20240115``);
the fetch keeps one file per request, the latest.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from etfflow.exceptions import EtfflowError

_SAFE = re.compile(r"^[A-Za-z0-9_.=,\-]+$")


def partition_name(params: dict[str, str] | None) -> str:
    """``{"trade_date": "20240102"}`` -> ``trade_date=20240102``; no parameters -> ``all``."""
    if not params:
        return "all"
    name = ",".join(f"{k}={params[k]}" for k in sorted(params))
    if not _SAFE.match(name):
        raise EtfflowError(f"tushare request parameters {params!r} cannot name a raw file")
    return name


def raw_file(raw_dir: str | Path, api_name: str, params: dict[str, str] | None = None) -> Path:
    """The file of one request: ``RAW_DIR/<api_name>/<partition>.parquet``."""
    return Path(raw_dir) / api_name / f"{partition_name(params)}.parquet"


def raw_files(raw_dir: str | Path, api_name: str) -> list[Path]:
    """Every complete request file of ``api_name`` (sorted; temporary files excluded)."""
    folder = Path(raw_dir) / api_name
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))


def read_raw(raw_dir: str | Path, api_name: str, *, required: bool = True) -> pl.DataFrame:
    """All rows of ``api_name`` in the raw folder (the request files concatenated).

    Raises :class:`EtfflowError` when ``required`` and the endpoint has no file; an optional
    endpoint without files gives an empty frame.
    """
    files = raw_files(raw_dir, api_name)
    if not files:
        if required:
            raise EtfflowError(
                f"raw folder {raw_dir} has no {api_name!r} data (expected "
                f"{Path(raw_dir) / api_name}/*.parquet): run `etfflow fetch tushare` first"
            )
        return pl.DataFrame()
    frames = [pl.read_parquet(f) for f in files]
    return pl.concat(frames, how="diagonal_relaxed")

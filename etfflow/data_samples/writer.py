"""Write the tables as Parquet (zstd) in the dataset layout read by ``open_dataset``.

``<out>/<table>.parquet`` for every table except ``etf_pcf``, written as the hive folder
``<out>/etf_pcf/year=YYYY/data.parquet``; plus ``<out>/manifest.json``. Columns are put in
contract order (required, then optional) and cast to the contract dtypes; code columns stay
``Categorical``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Final

import polars as pl

from etfflow.engine.loading import MANIFEST
from etfflow.engine.schemas import TABLES

COMPRESSION: Final = "zstd"
PCF_ROW_GROUP = 1_048_576
ROW_GROUP = 1_048_576


def conform(table: str, df: pl.DataFrame) -> pl.DataFrame:
    """Contract column order and dtypes (string-like columns are left as they are)."""
    spec = TABLES[table].columns
    cols = [c for c in spec.names() if c in df.columns]
    exprs = []
    for c in cols:
        want = spec[c]
        have = df.schema[c]
        if want == pl.String:
            exprs.append(
                pl.col(c)
                if isinstance(have, (pl.String, pl.Categorical, pl.Enum))
                else pl.col(c).cast(pl.String)
            )
        else:
            exprs.append(pl.col(c) if have == want else pl.col(c).cast(want))
    return df.select(exprs)


def prepare(out: Path) -> None:
    """Create ``out`` and remove the files a previous generation wrote there."""
    out.mkdir(parents=True, exist_ok=True)
    for t in TABLES:
        f = out / f"{t}.parquet"
        if f.exists():
            f.unlink()
    if (out / "etf_pcf").is_dir():
        shutil.rmtree(out / "etf_pcf")
    if (out / MANIFEST).exists():
        (out / MANIFEST).unlink()


def write_table(out: Path, table: str, df: pl.DataFrame) -> int:
    """Write one table file; returns its row count."""
    df = conform(table, df)
    df.write_parquet(out / f"{table}.parquet", compression=COMPRESSION, row_group_size=ROW_GROUP)
    return df.height


def write_pcf_year(out: Path, year: int, df: pl.DataFrame) -> int:
    """Write one year of ``etf_pcf`` as ``etf_pcf/year=YYYY/data.parquet``."""
    df = conform("etf_pcf", df)
    d = out / "etf_pcf" / f"year={year}"
    d.mkdir(parents=True, exist_ok=True)
    df.write_parquet(d / "data.parquet", compression=COMPRESSION, row_group_size=PCF_ROW_GROUP)
    return df.height


def write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json``. It describes the data only (no timing, no paths, no clock), so
    the same seed and config give a byte-identical manifest, like the Parquet files."""
    (out / MANIFEST).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8"
    )

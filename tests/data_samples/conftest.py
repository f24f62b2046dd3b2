"""Generated synthetic markets shared by the data_samples tests (one generation per session)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from etfflow.data_samples import generate_market

TINY_SEED = 0


@pytest.fixture(scope="session")
def tiny_market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_market(tmp_path_factory.mktemp("tiny") / "market", size="tiny", seed=TINY_SEED)


@pytest.fixture(scope="session")
def small_market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_market(tmp_path_factory.mktemp("small") / "market", size="small", seed=0)


def read(path: Path, table: str) -> pl.DataFrame:
    """A table with its code columns as plain strings."""
    if table == "etf_pcf":
        df = pl.read_parquet(path / "etf_pcf" / "**" / "*.parquet", hive_partitioning=False)
    else:
        df = pl.read_parquet(path / f"{table}.parquet")
    return df.with_columns(pl.col(pl.Categorical).cast(pl.String))

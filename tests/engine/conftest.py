"""A small hand-written market that follows the data contract, and a Parquet writer for it.

Five trading days (2024-01-02 .. 2024-01-08, no weekend), four stocks, two ETFs with daily PCF
baskets, one per-ETF and one per-index weight snapshot, and the §6 rotation tables. Every
number is chosen by hand so that a test can break exactly one rule.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from etfflow.engine.loading import Dataset, open_dataset
from etfflow.engine.schemas import TABLES

D = dt.date
DAYS = [D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4), D(2024, 1, 5), D(2024, 1, 8)]
STOCKS = ["000001.SZ", "300750.SZ", "600000.SH", "688981.SH"]
ETFS = ["510300.SH", "512880.SH"]
BASKETS = {
    "510300.SH": {"000001.SZ": 200.0, "300750.SZ": 50.0, "600000.SH": 100.0},
    "512880.SH": {"600000.SH": 300.0, "688981.SH": 100.0},
}
CODE_COLUMNS = ("code", "etf_code", "index_code", "fund_code")
#: Tables written with Categorical codes in the default "mixed" mode (the others as String).
CATEGORICAL_TABLES = ("stock_daily", "etf_pcf", "holding_weights", "etf_daily")


def market_frames() -> dict[str, pl.DataFrame]:
    """A fresh copy of the valid market (sorted by key like the synthetic generator)."""
    stocks = pl.DataFrame(
        {
            "code": STOCKS,
            "name": ["Ping An Bank", "CATL", "SPDB", "SMIC"],
            "board": ["SZ_MAIN", "CHINEXT", "SH_MAIN", "STAR"],
            "list_date": [D(1991, 4, 3), D(2018, 6, 11), D(1999, 11, 10), D(2020, 7, 16)],
            "delist_date": [None, None, None, D(2030, 1, 1)],
        }
    )
    industry = pl.DataFrame(
        {
            "code": ["000001.SZ", "300750.SZ", "600000.SH", "600000.SH", "688981.SH"],
            "start_date": [
                D(2019, 1, 1), D(2019, 1, 1), D(2019, 1, 1), D(2024, 1, 4), D(2020, 7, 16)
            ],
            "end_date": [None, None, D(2024, 1, 3), None, None],
            "industry_l1": ["Bank", "Power equipment", "Bank", "Non-bank", "Electronics"],
            "industry_l2": ["Joint-stock", "Batteries", "Joint-stock", "Trust", "Semis"],
        }
    )
    sd = pl.DataFrame(
        [
            {
                "date": d,
                "code": c,
                "close": 10.0 + i + j,
                "ret": 0.01,
                "float_mcap": 1e10 * (i + 1),
                "total_mcap": 1.2e10 * (i + 1),
                "amount": 1e8,
                "turnover": 0.01,
                "is_st": False,
                "is_suspended": False,
                "up_limit": 11.0 * (10.0 + i + j) / 10.0,
                "down_limit": 9.0 * (10.0 + i + j) / 10.0,
            }
            for j, d in enumerate(DAYS)
            for i, c in enumerate(STOCKS)
        ]
    )
    etfs = pl.DataFrame(
        {
            "etf_code": ETFS,
            "name": ["CSI 300 ETF", "Securities ETF"],
            "category": ["broad", "sector"],
            "index_code": ["000300.SH", "399975.SZ"],
            "is_enhanced": [False, False],
            "creation_unit": [900_000.0, 1_000_000.0],
            "list_date": [D(2012, 5, 28), D(2016, 8, 8)],
            "delist_date": pl.Series([None, None], dtype=pl.Date),
        }
    )
    ed = pl.DataFrame(
        [
            {"date": d, "etf_code": e, "shares": 1e9 + 1e6 * j, "nav": 4.0 + 0.01 * j,
             "close": 4.0, "amount": 1e8}
            for j, d in enumerate(DAYS)
            for e in ETFS
        ]
    )
    pcf = pl.DataFrame(
        [
            {"date": d, "etf_code": e, "code": c, "quantity": q, "cash_substitute": "allowed"}
            for d in DAYS
            for e in ETFS
            for c, q in BASKETS[e].items()
        ]
    )
    weights = pl.DataFrame(
        {
            "date": [D(2024, 1, 2)] * 5,
            "etf_code": ["510300.SH"] * 3 + [None, None],
            "index_code": ["000300.SH"] * 3 + ["399975.SZ"] * 2,
            "code": ["000001.SZ", "300750.SZ", "600000.SH", "600000.SH", "688981.SH"],
            "weight": [0.5, 0.3, 0.2, 0.6, 0.4],
        }
    )
    index_daily = pl.DataFrame(
        [
            {"date": d, "index_code": i, "close": 3000.0 + j}
            for j, d in enumerate(DAYS)
            for i in ("000300.SH", "399975.SZ")
        ]
    )
    funds = pl.DataFrame(
        {"fund_code": ["000011.OF", "110011.OF"], "name": ["Fund A", "Fund B"],
         "fund_type": ["equity", "hybrid"]}
    )
    active = pl.DataFrame(
        {
            "report_date": [D(2023, 12, 31)] * 3,
            "fund_code": ["000011.OF", "000011.OF", "110011.OF"],
            "code": ["300750.SZ", "600000.SH", "300750.SZ"],
            "disclose_date": [D(2024, 1, 20)] * 3,
            "mv": [1e8, 5e7, 2e8],
            "is_full": [False] * 3,
        }
    )
    nav = pl.DataFrame(
        [
            {"date": d, "fund_code": f, "nav": 1.5 + 0.01 * j}
            for j, d in enumerate(DAYS)
            for f in ("000011.OF", "110011.OF")
        ]
    )
    issuance = pl.DataFrame(
        {"month": [D(2024, 1, 1)] * 2, "kind": ["active", "etf"], "new_shares": [5e9, 3e9]}
    )
    return {
        "stocks": stocks,
        "stock_industry": industry,
        "stock_daily": sd,
        "etfs": etfs,
        "etf_daily": ed,
        "etf_pcf": pcf,
        "holding_weights": weights,
        "index_daily": index_daily,
        "active_funds": funds,
        "active_holdings": active,
        "fund_nav": nav,
        "fund_issuance": issuance,
    }


def write_dataset(
    frames: dict[str, pl.DataFrame],
    root: Path,
    *,
    codes: str = "mixed",
    hive: tuple[str, ...] = ("etf_pcf",),
) -> Path:
    """Write ``frames`` as a dataset folder with contract dtypes.

    ``codes``: ``"mixed"`` (Categorical for CATEGORICAL_TABLES, String elsewhere),
    ``"string"``, ``"categorical"`` or ``"enum"``. Tables in ``hive`` become a folder
    ``<table>/part=a|b/0.parquet`` split at 2024-01-05 (a column ``date`` is required).
    Columns whose dtype a test broke on purpose are written as they are.
    """
    root.mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        spec = TABLES[name].columns
        df = df.with_columns(
            pl.col(c).cast(spec[c])
            for c in df.columns
            if c in spec and c not in CODE_COLUMNS and df.schema[c] == pl.Null
        )
        cat = codes == "categorical" or (codes == "mixed" and name in CATEGORICAL_TABLES)
        for c in CODE_COLUMNS:
            if c in df.columns and df.schema[c] in (pl.String, pl.Null):
                if codes == "enum":
                    values = df[c].drop_nulls().unique().sort().cast(pl.String)
                    df = df.with_columns(pl.col(c).cast(pl.Enum(values)))
                elif cat:
                    df = df.with_columns(pl.col(c).cast(pl.Categorical))
                else:
                    df = df.with_columns(pl.col(c).cast(pl.String))
        if name in hive:
            split = pl.col("date") < D(2024, 1, 5)
            for part, cond in (("a", split), ("b", ~split)):
                p = root / name / f"part={part}"
                p.mkdir(parents=True, exist_ok=True)
                df.filter(cond).write_parquet(p / "0.parquet")
        else:
            df.write_parquet(root / f"{name}.parquet")
    return root


@pytest.fixture
def frames() -> dict[str, pl.DataFrame]:
    return market_frames()


@pytest.fixture(scope="session")
def valid_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The valid market written once (default layout), shared read-only by the tests."""
    return write_dataset(market_frames(), tmp_path_factory.mktemp("valid") / "market")


@pytest.fixture
def make_dataset(tmp_path: Path, valid_root: Path) -> Callable[..., Dataset]:
    """``make_dataset(frames, **write_kwargs)`` writes the frames under tmp_path and opens them.

    With the default layout, tables equal to the valid market are hard-linked from
    ``valid_root`` instead of being written again (keeps the test file fast).
    """
    counter = iter(range(1_000_000))
    base = market_frames()

    def make(frames: dict[str, pl.DataFrame], **kwargs: object) -> Dataset:
        root = tmp_path / f"ds{next(counter)}"
        if kwargs:
            return open_dataset(write_dataset(frames, root, **kwargs))  # type: ignore[arg-type]
        changed = {}
        root.mkdir()
        for name, df in frames.items():
            if name in base and df.schema == base[name].schema and df.equals(base[name]):
                _link(valid_root, root, name)
            else:
                changed[name] = df
        return open_dataset(write_dataset(changed, root))

    return make


def _link(src_root: Path, dst_root: Path, table: str) -> None:
    src = src_root / f"{table}.parquet"
    if src.is_file():
        os.link(src, dst_root / src.name)
        return
    for f in (src_root / table).rglob("*.parquet"):
        dst = dst_root / f.relative_to(src_root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.link(f, dst)

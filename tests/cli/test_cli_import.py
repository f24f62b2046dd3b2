"""``etfflow import table``: exit codes, key lines, and ``etfflow validate`` on the result."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from etfflow.cli import app
from tests.engine.conftest import market_frames, write_dataset

REPO = Path(__file__).resolve().parents[2]
WIND_MAP = REPO / "docs" / "maps" / "wind_stock_daily.toml"
WIND_CSV = REPO / "tests" / "engine" / "adapters" / "data" / "wind_stock_daily.csv"
runner = CliRunner()

ETF_MAP = """
[rename]
"交易日期" = "date"
"基金代码" = "etf_code"
"场内份额(万份)" = "shares"
"单位净值" = "nav"
[units]
shares = "万份"
[dates]
date = "%Y%m%d"
"""


def files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def etf_csv(tmp_path: Path, shares: float) -> Path:
    """etf_daily of the hand-written market on 2024-01-08, as an exchange-style export."""
    ed = market_frames()["etf_daily"].filter(pl.col("date") == dt.date(2024, 1, 8))
    p = tmp_path / "etf.csv"
    ed.select(
        pl.col("date").dt.strftime("%Y%m%d").alias("交易日期"),
        pl.col("etf_code").str.slice(0, 6).alias("基金代码"),
        pl.lit(shares).alias("场内份额(万份)"),
        pl.col("nav").alias("单位净值"),
    ).write_csv(p)
    return p


def test_import_wind_export_into_a_new_folder(tmp_path: Path) -> None:
    out = tmp_path / "data"
    args = ["import", "table", str(WIND_CSV), "--as", "stock_daily", "--map", str(WIND_MAP)]
    r = runner.invoke(app, [*args, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "imported 8 rows of stock_daily from wind_stock_daily.csv" in r.stdout
    assert pl.read_parquet(out / "stock_daily.parquet").height == 8


def test_import_then_validate_passes(tmp_path: Path) -> None:
    root = write_dataset(market_frames(), tmp_path / "market")
    m = tmp_path / "etf.toml"
    m.write_text(ETF_MAP, encoding="utf-8")
    src = etf_csv(tmp_path, shares=250.0)
    r = runner.invoke(
        app,
        ["import", "table", str(src), "--as", "etf_daily", "--map", str(m), "--out", str(root)],
    )
    assert r.exit_code == 0, r.output
    assert "2 earlier rows replaced" in r.stdout
    shares = pl.read_parquet(root / "etf_daily.parquet").filter(
        pl.col("date") == dt.date(2024, 1, 8)
    )["shares"]
    assert shares.to_list() == [2_500_000.0, 2_500_000.0]
    v = runner.invoke(app, ["validate", str(root)])
    assert v.exit_code == 0, v.output
    assert "0 error(s)" in v.stdout


def test_bad_value_exits_1_naming_file_column_and_row(tmp_path: Path) -> None:
    root = write_dataset(market_frames(), tmp_path / "market")
    before = files(root)
    m = tmp_path / "etf.toml"
    m.write_text(ETF_MAP, encoding="utf-8")
    src = etf_csv(tmp_path, shares=-5.0)  # negative shares break the contract
    r = runner.invoke(
        app,
        ["import", "table", str(src), "--as", "etf_daily", "--map", str(m), "--out", str(root)],
    )
    assert r.exit_code == 1
    assert "table 'etf_daily', column 'shares'" in r.stderr and "510300.SH" in r.stderr
    assert files(root) == before
    bad_map = tmp_path / "bad.toml"
    bad_map.write_text(ETF_MAP.replace('shares = "万份"', 'date = "万份"'), encoding="utf-8")
    r = runner.invoke(
        app,
        [
            "import",
            "table",
            str(src),
            "--as",
            "etf_daily",
            "--map",
            str(bad_map),
            "--out",
            str(root),
        ],
    )
    assert r.exit_code == 1
    assert "map field [units.date]" in r.stderr and "bad.toml" in r.stderr
    assert files(root) == before

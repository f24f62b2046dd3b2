"""``etfflow penetrate`` on a dataset where some ETFs have no creation unit (issue 12)."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.data_samples import generate_market
from etfflow.engine.store import open_store

runner = CliRunner()
WIDE_ENV = {"COLUMNS": "400"}  # the note stays on one line


@pytest.fixture(scope="module")
def unitless(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], int]:
    """The tiny market with the creation unit of two ETFs null; their codes and ETF-days."""
    tmp = tmp_path_factory.mktemp("cu")
    root = tmp / "m"
    shutil.copytree(generate_market(tmp / "tiny", size="tiny", seed=2), root)
    etfs = pl.read_parquet(root / "etfs.parquet")
    codes = sorted(etfs["etf_code"].cast(pl.String).to_list())[:2]
    gone = pl.col("etf_code").cast(pl.String).is_in(codes)
    etfs.with_columns(
        pl.when(gone).then(None).otherwise(pl.col("creation_unit")).alias("creation_unit")
    ).write_parquet(root / "etfs.parquet")
    days = pl.scan_parquet(root / "etf_daily.parquet").filter(gone).select(pl.len()).collect()
    return root, codes, int(days.item())


def test_penetrate_basket_valuation_notes_the_etfs_without_a_unit(unitless, tmp_path):
    root, codes, days = unitless
    store = tmp_path / "s.duckdb"
    args = ["penetrate", str(root), "--mode", "pcf", "--store", str(store)]
    r = runner.invoke(app, [*args, "--valuation", "basket"], env=WIDE_ENV)
    assert r.exit_code == 0, r.output
    note = (
        "left out of the PCF look-through (valuation basket divides by etfs.creation_unit, "
        f"which is null): 2 ETFs, {days:,} ETF-days: {codes[0]}, {codes[1]}"
    )
    assert note in r.stdout
    assert r.stdout.count(f"{days:,} ETF-days") == 1  # counted once: in the note only
    assert "etf_days_without_creation_unit" not in r.stdout
    with open_store(store, read_only=True) as st:
        run = st.run(st.runs()["run_id"][0])
    assert run["diagnostics"]["etfs_without_creation_unit"] == codes
    r = runner.invoke(app, args, env=WIDE_ENV)  # NAV valuation needs no unit: nothing left out
    assert r.exit_code == 0, r.output
    assert "left out of the PCF look-through" not in r.stdout


def test_penetrate_basket_valuation_of_only_unitless_etfs_exits_1(unitless, tmp_path):
    root, codes, _ = unitless
    r = runner.invoke(
        app,
        ["penetrate", str(root), "--etfs", codes[0], "--valuation", "basket",
         "--store", str(tmp_path / "s.duckdb")],
        env=WIDE_ENV,
    )  # fmt: skip
    assert r.exit_code == 1
    assert "etfs" in r.stderr and "creation_unit" in r.stderr and codes[0] in r.stderr
    assert "valuation 'nav'" in r.stderr
    assert not (tmp_path / "s.duckdb").exists()

"""The rotation end to end on the synthetic market: every table, the store round trip, the
export folder (replaced as a whole, never half-written), options and clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import etfflow as ef
from etfflow.backtest.rotation.result import EXPORT_TABLES, METRICS, SCHEMAS
from etfflow.engine.store import open_store
from etfflow.exceptions import EtfflowError
from etfflow.pipeline import rotation as pr

PARAMS = ef.RotationParams(rebalance=5, regression_window=30, min_regression_days=15)


@pytest.fixture(scope="module")
def run(tiny_market: Path, tmp_path_factory: pytest.TempPathFactory) -> pr.RotationRun:
    root = tmp_path_factory.mktemp("rot")
    return pr.run_rotation(
        tiny_market, PARAMS, store=root / "s.duckdb", export=root / "out", html=root / "r.html"
    )


def test_every_table_follows_its_schema_and_is_filled(run: pr.RotationRun) -> None:
    r = run.result
    for name, schema in SCHEMAS.items():
        assert r[name].schema == schema, name
    for name in ("industry_weekly", "regimes", "active_shares", "signals", "nav", "summary"):
        assert r[name].height > 0, name
    strategies = set(r["summary"]["strategy"].to_list())
    assert {"composite", "style", "divergence", "equal_weight", "flow_ls"} <= strategies
    assert {f"flow_q{g}" for g in range(1, 6)} <= strategies
    assert set(r["summary"]["period"].to_list()) >= {"all"}
    assert set(METRICS) <= set(r["summary"].columns)
    # the composite holds `top` industries at every rebalance
    sel = r["signals"].group_by("date").agg(pl.col("selected").sum())
    assert sel["selected"].max() == PARAMS.top
    # regimes of both pairs, 0/1
    assert set(r["regimes"]["pair"].to_list()) == {"size", "style"}
    assert set(r["regimes"]["regime"].drop_nulls().to_list()) <= {0, 1}
    assert set(r["active_shares"]["source"].drop_nulls().to_list()) <= {"disclosed", "simulated"}
    # equal weight is its own benchmark
    eq = r["nav"].filter(pl.col("strategy") == "equal_weight")
    assert np.allclose(eq["nav"].to_numpy(), eq["benchmark_nav"].to_numpy())


def test_store_round_trip_and_rerun_replaces(run: pr.RotationRun, tiny_market: Path) -> None:
    back = pr.load_rotation(run.store, run.run_id)
    for name in SCHEMAS:
        assert_frame_equal(back[name], run.result[name], check_exact=True)
    assert back.params == run.result.params
    with open_store(run.store, read_only=True) as st:
        before = st.row_counts()
        kinds = st.runs()["kind"].to_list()
    assert kinds == ["rotation"]
    again = pr.run_rotation(tiny_market, PARAMS, store=run.store, check=False)
    assert again.run_id == run.run_id
    with open_store(run.store, read_only=True) as st:
        assert st.row_counts() == before


def test_export_writes_every_table(run: pr.RotationRun) -> None:
    assert run.export is not None
    files = sorted(p.stem for p in run.export.glob("*.parquet"))
    assert files == sorted(EXPORT_TABLES)
    for name in EXPORT_TABLES:
        assert_frame_equal(pl.read_parquet(run.export / f"{name}.parquet"), run.result[name])
    assert run.html is not None and run.html.stat().st_size > 10_000


def test_failed_export_leaves_the_old_folder(
    run: pr.RotationRun, tmp_path: Path, monkeypatch
) -> None:
    out = tmp_path / "out"
    shutil.copytree(run.export, out)
    before = sorted(p.name for p in out.iterdir())
    calls = {"n": 0}
    real = pl.DataFrame.write_parquet

    def boom(self, path, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(self, path, *a, **k)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        pr.export_tables(run.result, out)
    assert sorted(p.name for p in out.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left


def test_options_and_errors(tiny_market: Path) -> None:
    ds = ef.open_dataset(tiny_market)
    with pytest.raises(EtfflowError, match=r"unknown rotation option.*topp"):
        ef.rotation(ds, topp=3)
    with pytest.raises(EtfflowError, match="top must be an integer >= 1"):
        ef.rotation(ds, top=0)
    with pytest.raises(EtfflowError, match=r"index_daily.*999999\.SH"):
        ef.rotation(ds, size_indices=("000300.SH", "999999.SH"))


def test_missing_rotation_table_is_named(tiny_market: Path, tmp_path: Path) -> None:
    root = tmp_path / "m"
    shutil.copytree(tiny_market, root)
    (root / "fund_nav.parquet").unlink()
    with pytest.raises(EtfflowError, match="fund_nav"):
        ef.rotation(ef.open_dataset(root))


def test_pcf_mode_gives_the_weights_mode_rotation(tiny_market: Path, run: pr.RotationRun) -> None:
    # the synthetic month-end snapshots are that day's basket weights: same tables, up to
    # float rounding in the weights
    ds = ef.open_dataset(tiny_market)
    pcf = ef.rotation(ds, PARAMS, mode="pcf")
    for name in ("industry_weekly", "signals", "nav", "summary"):
        assert_frame_equal(pcf[name], run.result[name], check_exact=False, rel_tol=1e-8)
    with pytest.raises(EtfflowError, match="mode must be auto, weights or pcf"):
        ef.rotation(ds, mode="basket")


def test_holdings_returns_add_up_to_the_composite_nav(run: pr.RotationRun) -> None:
    # equal weights bought at the start of a period: the portfolio's period return is the
    # mean of its industries' period returns, and equals the NAV's ratio over the period
    r = run.result
    nav = r["nav"].filter(pl.col("strategy") == "composite").select("date", "nav", "benchmark_nav")
    at = dict(
        zip(nav["date"].to_list(), zip(nav["nav"], nav["benchmark_nav"], strict=True), strict=True)
    )
    periods = (
        r["holdings"]
        .drop_nulls("period_return")
        .group_by("date", "start", "end")
        .agg(pl.col("period_return").mean(), pl.col("excess_return").mean(), pl.len())
    )
    assert periods.height > 5
    for row in periods.iter_rows(named=True):
        (n0, b0), (n1, b1) = at[row["start"]], at[row["end"]]
        assert row["len"] == PARAMS.top
        assert row["period_return"] == pytest.approx(n1 / n0 - 1, abs=1e-12)
        assert row["excess_return"] == pytest.approx((n1 / n0) - (b1 / b0), abs=1e-12)

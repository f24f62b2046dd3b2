"""DuckDB result store: atomic runs, replace-not-duplicate, schema versioning."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from etfflow.engine.store import SCHEMA_VERSION, Store, open_store, run_id_for
from etfflow.exceptions import StoreError

A = pl.DataFrame(
    {
        "date": [dt.date(2024, 1, 2), dt.date(2024, 1, 3)],
        "code": ["600000.SH", "600000.SH"],
        "mv_passive": [1.0, 2.0],
        "n_etf": pl.Series([1, 2], dtype=pl.Int32),
    }
)
B = pl.DataFrame({"level": ["industry_l1"], "group_name": ["银行"], "coverage": [0.5]})


def _write(store: Store, params: dict | None = None) -> str:
    return store.write_run(
        "lookthrough",
        {"stock_flow": A, "group_flow": B},
        dataset_path="/data/x",
        fingerprint="abc",
        pool="all",
        params=params or {"mode": "pcf"},
    )


def test_round_trip_and_sql(tmp_path):
    path = tmp_path / "s.duckdb"
    with open_store(path) as s:
        rid = _write(s)
        assert_frame_equal(s.table("stock_flow", rid), A)
        runs = s.runs()
        assert runs["run_id"].to_list() == [rid]
        assert runs["kind"][0] == "lookthrough" and runs["dataset_fingerprint"][0] == "abc"
    # plain SQL by an analyst, read-only
    con = duckdb.connect(str(path), read_only=True)
    got = con.execute("SELECT sum(mv_passive) FROM stock_flow WHERE run_id = ?", [rid]).fetchone()
    assert got[0] == 3.0
    con.close()


def test_identical_inputs_replace_not_duplicate(tmp_path):
    with open_store(tmp_path / "s.duckdb") as s:
        r1 = _write(s)
        r2 = _write(s)
        assert r1 == r2
        assert s.row_counts()["stock_flow"] == A.height
        assert s.runs().height == 1
        r3 = _write(s, {"mode": "weights"})
        assert r3 != r1
        assert s.row_counts()["stock_flow"] == 2 * A.height


def test_failure_mid_run_leaves_store_unchanged(tmp_path, monkeypatch):
    with open_store(tmp_path / "s.duckdb") as s:
        _write(s)
        before = {n: s.table(n) for n in ("runs", "stock_flow", "group_flow")}
        calls = {"n": 0}
        original = Store._insert

        def failing(self, name, run_id, df):
            calls["n"] += 1
            if calls["n"] == 2:  # the first table is in, the second fails
                raise RuntimeError("disk full (injected)")
            return original(self, name, run_id, df)

        monkeypatch.setattr(Store, "_insert", failing)
        with pytest.raises(RuntimeError, match="injected"):
            _write(s, {"mode": "weights"})
        for name, df in before.items():
            assert_frame_equal(s.table(name), df)


def test_killed_process_leaves_nothing(tmp_path):
    path = tmp_path / "s.duckdb"
    with open_store(path) as s:
        _write(s)
    script = textwrap.dedent(
        f"""
        import os, datetime as dt, polars as pl
        from etfflow.engine.store import Store
        original = Store._insert
        def die(self, name, run_id, df):
            original(self, name, run_id, df)
            os._exit(9)  # killed after the first table, before the commit
        Store._insert = die
        s = Store.open({str(path)!r})
        a = pl.DataFrame({{"date": [dt.date(2024, 1, 4)], "code": ["600001.SH"],
                          "mv_passive": [9.0], "n_etf": pl.Series([9], dtype=pl.Int32)}})
        b = pl.DataFrame({{"level": ["x"], "group_name": ["y"], "coverage": [1.0]}})
        s.write_run("lookthrough", {{"stock_flow": a, "group_flow": b}},
                    dataset_path="/d", fingerprint="zzz", pool="all", params={{}})
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    with open_store(path, read_only=True) as s:
        assert s.runs().height == 1
        assert s.row_counts()["stock_flow"] == A.height
        assert s.table("stock_flow")["code"].to_list() == ["600000.SH"] * 2


def test_schema_version_mismatch_is_refused(tmp_path):
    path = tmp_path / "s.duckdb"
    with open_store(path) as s:
        _write(s)
        s.con.execute("UPDATE etfflow_meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 999"):
        Store.open(path)


def test_foreign_duckdb_file_is_refused(tmp_path):
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (x INTEGER)")
    con.close()
    with pytest.raises(StoreError, match="not an etfflow store"):
        Store.open(path)


def test_unknown_run_and_missing_store(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(tmp_path / "nope.duckdb", read_only=True)
    with open_store(tmp_path / "s.duckdb") as s:
        _write(s)
        with pytest.raises(StoreError, match="no run"):
            s.table("stock_flow", "lo-000000000000")


def test_run_id_is_deterministic():
    a = run_id_for("lookthrough", "f", "all", {"mode": "pcf", "x": 1})
    assert a == run_id_for("lookthrough", "f", "all", {"x": 1, "mode": "pcf"})
    assert a != run_id_for("lookthrough", "g", "all", {"mode": "pcf", "x": 1})
    assert SCHEMA_VERSION >= 1

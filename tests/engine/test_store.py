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

from etfflow.engine.store import (
    SCHEMA_VERSION,
    STORAGE_VERSION,
    Store,
    check_store_path,
    compact_store,
    open_store,
    run_id_for,
    storage_version,
)
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
    with pytest.raises(StoreError, match="no store at"):
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


def test_readers_never_create_a_store(tmp_path):
    """A typo in --store for a reading command: an error, and no empty store left behind."""
    path = tmp_path / "typo.duckdb"
    with pytest.raises(StoreError, match=r"no store at .*typo\.duckdb"):
        Store.open(path, create=False)
    assert not path.exists()


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (None, "a Parquet file"),
        (b"date,code,x\n2024-01-02,600000.SH,1.0\n", "a CSV file"),
        (bytes(range(256)) * 8, "a binary file"),
    ],
)
def test_a_data_file_is_not_a_store(tmp_path, content, kind):
    """DuckDB opens a Parquet file as a throw-away view: a run would vanish. Refuse it."""
    path = tmp_path / "some.parquet"
    if content is None:
        A.write_parquet(path)
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    with pytest.raises(StoreError, match=f"is {kind}.*not a DuckDB database"):
        Store.open(path)
    assert path.read_bytes() == before


def test_a_new_path_named_like_a_data_file_is_refused(tmp_path):
    with pytest.raises(StoreError, match=r"names a \.parquet file"):
        Store.open(tmp_path / "new.parquet")
    assert not (tmp_path / "new.parquet").exists()
    with pytest.raises(StoreError, match="is a folder"):
        check_store_path(tmp_path, create=True)


def test_write_is_read_back(tmp_path, monkeypatch):
    """A run that is not found after the commit is an error, not "stored run ..."."""
    with open_store(tmp_path / "s.duckdb") as s:
        monkeypatch.setattr(Store, "_insert", lambda self, name, run_id, df: None)
        with pytest.raises(StoreError, match="holds 0 rows of run"):
            _write(s)


def test_new_store_uses_the_compatible_storage_format(tmp_path):
    """DuckDB 2's own format is refused by the DuckDB 1.x shell; new stores are written in
    STORAGE_VERSION's format (header version 64 = v1.0.0, read by every DuckDB >= 1.0)."""
    path = tmp_path / "s.duckdb"
    with open_store(path) as s:
        _write(s)
    assert STORAGE_VERSION == "v1.0.0"
    assert storage_version(path) == 64
    native = tmp_path / "native.duckdb"
    duckdb.connect(str(native)).close()
    assert storage_version(native) > 68  # what the compatibility setting avoids


def test_compact_reclaims_replaced_rows(tmp_path):
    path = tmp_path / "s.duckdb"
    big = pl.DataFrame(
        {
            "date": [dt.date(2024, 1, 2)] * 300_000,
            "code": [f"{i:06d}.SH" for i in range(300_000)],
            "mv_passive": [float(i) for i in range(300_000)],
            "n_etf": pl.Series(range(300_000), dtype=pl.Int32),
        }
    )

    def write(s):
        return s.write_run(
            "lookthrough",
            {"stock_flow": big},
            dataset_path="/d",
            fingerprint="f",
            pool="all",
            params={},
        )

    with open_store(path) as s:
        rid = write(s)
    one = path.stat().st_size
    for _ in range(3):
        with open_store(path) as s:
            write(s)  # identical inputs: the rows are replaced
    grown = path.stat().st_size
    assert grown > 1.5 * one
    before, after = compact_store(path)
    assert before == grown and after == path.stat().st_size < 1.2 * one
    assert storage_version(path) == 64
    with open_store(path, read_only=True) as s:
        assert_frame_equal(s.table("stock_flow", rid), big)
        assert s.runs()["run_id"].to_list() == [rid]
    with open_store(path) as s:  # still a writable etfflow store (primary key kept)
        assert write(s) == rid
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.duckdb"]  # no leftovers


def test_compact_refuses_a_store_open_elsewhere(tmp_path):
    path = tmp_path / "s.duckdb"
    with open_store(path) as s:
        _write(s)
    before = path.read_bytes()
    script = textwrap.dedent(
        f"""
        import sys, time
        from etfflow.engine.store import Store
        s = Store.open({str(path)!r})
        print("open", flush=True)
        time.sleep(30)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "open"
        with pytest.raises(StoreError, match="cannot open store"):
            compact_store(path)
    finally:
        proc.kill()
        proc.wait()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.duckdb"]  # no leftovers


def test_compact_killed_midway_leaves_the_store(tmp_path):
    """Killed after the copy, before the rename: the store is the old one, untouched."""
    path = tmp_path / "s.duckdb"
    with open_store(path) as s:
        _write(s)
    before = path.read_bytes()
    script = textwrap.dedent(
        f"""
        import os
        from etfflow.engine import store
        def die(src, dst):
            os._exit(9)
        store.os.replace = die
        store.compact_store({str(path)!r})
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert path.read_bytes() == before
    with open_store(path, read_only=True) as s:
        assert s.runs().height == 1

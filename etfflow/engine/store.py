"""The result store: one DuckDB file that analysts can query with plain SQL.

Every run writes in a single transaction: a row in ``runs`` (run id, kind, dataset path and
fingerprint, pool, parameters, package version, diagnostics) and its result rows, each tagged
with ``run_id``. A run that fails or is killed before the commit leaves nothing behind. The run
id is a hash of the run's inputs (kind, dataset fingerprint, pool, parameters), so re-running
identical inputs replaces the earlier rows instead of duplicating them.

Tables written by the look-through (``kind = 'lookthrough'``):

- ``stock_flow``: ``run_id`` + :data:`~etfflow.engine.schemas.STOCK_FLOW_SCHEMA`
- ``group_flow``: ``run_id`` + :data:`~etfflow.engine.schemas.GROUP_FLOW_SCHEMA`
- ``coverage``: ``run_id`` + the coverage statistics of SPEC §5.5

The schema version lives in ``etfflow_meta``; a store written by another schema version is
refused with a clear error rather than mixed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from etfflow import __version__
from etfflow.exceptions import StoreError

#: 2: bt_summary gains note and the two win rates, bt_yearly the two excess conventions.
SCHEMA_VERSION = 2
DEFAULT_STORE = "etfflow.duckdb"

_SQL_TYPES: dict[type[pl.DataType], str] = {
    pl.Date: "DATE",
    pl.String: "VARCHAR",
    pl.Categorical: "VARCHAR",
    pl.Enum: "VARCHAR",
    pl.Int8: "TINYINT",
    pl.Int16: "SMALLINT",
    pl.Int32: "INTEGER",
    pl.Int64: "BIGINT",
    pl.UInt32: "UINTEGER",
    pl.Float32: "FLOAT",
    pl.Float64: "DOUBLE",
    pl.Boolean: "BOOLEAN",
    pl.Datetime: "TIMESTAMP",
}

_RUNS_DDL = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    dataset_path VARCHAR,
    dataset_fingerprint VARCHAR,
    pool VARCHAR,
    params VARCHAR,
    package_version VARCHAR,
    diagnostics VARCHAR
)
"""


def sql_type(dtype: pl.DataType) -> str:
    for k, v in _SQL_TYPES.items():
        if dtype == k or isinstance(dtype, k):
            return v
    raise StoreError(f"no DuckDB type for Polars dtype {dtype}")


def run_id_for(kind: str, fingerprint: str, pool: str, params: Mapping) -> str:
    """Deterministic run id: the same inputs give the same id (and replace the old rows)."""
    key = json.dumps(
        {"kind": kind, "fingerprint": fingerprint, "pool": pool, "params": params},
        sort_keys=True,
        default=str,
    )
    return f"{kind[:2]}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Store:
    """A DuckDB result store (open with :meth:`open`, use as a context manager)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path | None) -> None:
        self.con = con
        self.path = path

    @classmethod
    def open(cls, path: str | Path = DEFAULT_STORE, *, read_only: bool = False) -> Store:
        p = Path(path)
        if read_only and not p.exists():
            raise StoreError(f"store {p} does not exist (run `etfflow penetrate` first)")
        try:
            con = duckdb.connect(str(p), read_only=read_only)
        except duckdb.Error as exc:  # locked by another process, not a DuckDB file, ...
            raise StoreError(f"cannot open store {p}: {exc}") from exc
        store = cls(con, p)
        store._check_schema(create=not read_only)
        return store

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    # ------------------------------------------------------------------ statements
    def _exec(self, sql: str, params: list | None = None) -> None:
        """Run a statement to completion (DuckDB 2 streams results: finish each one)."""
        self.con.execute(sql, params or [])
        self.con.complete()

    def _fetchall(self, sql: str, params: list | None = None) -> list[tuple]:
        rows = self.con.execute(sql, params or []).fetchall()
        self.con.complete()
        return rows

    def _fetchone(self, sql: str, params: list | None = None) -> tuple | None:
        rows = self._fetchall(sql, params)
        return rows[0] if rows else None

    # ------------------------------------------------------------------ schema
    def _check_schema(self, *, create: bool) -> None:
        tables = {r[0] for r in self._fetchall("SELECT table_name FROM duckdb_tables()")}
        if "etfflow_meta" not in tables:
            if tables:
                raise StoreError(
                    f"{self.path} is a DuckDB file but not an etfflow store (no etfflow_meta "
                    "table): choose another --store path"
                )
            if not create:
                raise StoreError(f"{self.path} is empty: not an etfflow store")
            self.con.begin()
            self._exec("CREATE TABLE etfflow_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
            self._exec(
                "INSERT INTO etfflow_meta VALUES ('schema_version', ?), ('created_by', ?)",
                [str(SCHEMA_VERSION), f"etfflow {__version__}"],
            )
            self._exec(_RUNS_DDL)
            self.con.commit()
            return
        row = self._fetchone("SELECT value FROM etfflow_meta WHERE key = 'schema_version'")
        version = int(row[0]) if row else None
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"store {self.path} has schema version {version}, this etfflow writes version "
                f"{SCHEMA_VERSION}: use a new --store file (or re-run into a fresh one)"
            )

    def _ensure_table(self, name: str, schema: pl.Schema, *, wide: bool = False) -> None:
        """Create ``name`` or check its columns. A ``wide`` table (factor values) gains the
        columns a run brings that it does not have yet (NULL for earlier runs)."""
        cols = [("run_id", "VARCHAR")] + [(c, sql_type(t)) for c, t in schema.items()]
        existing = self._fetchall(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
            "ORDER BY column_index",
            [name],
        )
        if existing and wide:
            have_t = dict(existing)
            for c, t in cols:
                if c not in have_t:
                    self._exec(f"ALTER TABLE {_quote(name)} ADD COLUMN {_quote(c)} {t}")
                elif have_t[c] != t:
                    raise StoreError(
                        f"column '{c}' of table '{name}' in {self.path} has type {have_t[c]}, "
                        f"this run writes {t}: use a new --store file"
                    )
            return
        if not existing:
            body = ", ".join(f"{_quote(c)} {t}" for c, t in cols)
            self._exec(f"CREATE TABLE {_quote(name)} ({body})")
            return
        have = [(c, t) for c, t in existing]
        if have != cols:
            raise StoreError(
                f"table '{name}' in {self.path} has columns {have}, expected {cols}: the store "
                "was written by another etfflow version; use a new --store file"
            )

    # ------------------------------------------------------------------ writing
    def write_run(
        self,
        kind: str,
        tables: Mapping[str, pl.DataFrame],
        *,
        dataset_path: str,
        fingerprint: str,
        pool: str,
        params: Mapping,
        diagnostics: Mapping | None = None,
        wide: frozenset[str] | set[str] = frozenset(),
    ) -> str:
        """Write one run atomically; returns its run id.

        Rows of an earlier run with the same id (identical inputs) are replaced. On any
        error the transaction is rolled back and the store is left as it was. Tables named
        in ``wide`` may gain columns (one per factor).
        """
        run_id = run_id_for(kind, fingerprint, pool, params)
        self.con.begin()
        try:
            for name, df in tables.items():
                self._ensure_table(name, df.schema, wide=name in wide)
                self._exec(f"DELETE FROM {_quote(name)} WHERE run_id = ?", [run_id])
            self._exec("DELETE FROM runs WHERE run_id = ?", [run_id])
            self._exec(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    kind,
                    dt.datetime.now(),
                    dataset_path,
                    fingerprint,
                    pool,
                    json.dumps(params, sort_keys=True, default=str),
                    __version__,
                    json.dumps(diagnostics or {}, sort_keys=True, default=str),
                ],
            )
            for name, df in tables.items():
                self._insert(name, run_id, df)
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise
        return run_id

    def _insert(self, name: str, run_id: str, df: pl.DataFrame) -> None:
        view = f"_etfflow_in_{name}"
        self.con.register(view, df)
        try:
            cols = ", ".join(_quote(c) for c in df.columns)
            self._exec(
                f"INSERT INTO {_quote(name)} (run_id, {cols}) SELECT ?, {cols} FROM {_quote(view)}",
                [run_id],
            )
        finally:
            self.con.unregister(view)

    # ------------------------------------------------------------------ reading
    def runs(self) -> pl.DataFrame:
        return self.con.sql("SELECT * FROM runs ORDER BY created_at").pl()

    def table(
        self, name: str, run_id: str | None = None, *, columns: list[str] | None = None
    ) -> pl.DataFrame:
        """A result table, optionally one run's rows (without the run_id column) and only
        some columns."""
        sel = ", ".join(_quote(c) for c in columns) if columns else "* EXCLUDE (run_id)"
        if run_id is None:
            sel = ", ".join(_quote(c) for c in ["run_id", *columns]) if columns else "*"
            return self.con.sql(f"SELECT {sel} FROM {_quote(name)}").pl()
        exists = self._fetchone("SELECT 1 FROM runs WHERE run_id = ?", [run_id])
        if not exists:
            raise StoreError(f"no run {run_id!r} in {self.path}")
        return self.con.sql(
            f"SELECT {sel} FROM {_quote(name)} WHERE run_id = $rid",
            params={"rid": run_id},
        ).pl()

    def run(self, run_id: str) -> dict:
        """The ``runs`` row of one run, with ``params`` and ``diagnostics`` decoded."""
        rows = self.con.sql("SELECT * FROM runs WHERE run_id = $rid", params={"rid": run_id}).pl()
        if rows.height == 0:
            raise StoreError(f"no run {run_id!r} in {self.path}")
        row = rows.row(0, named=True)
        row["params"] = json.loads(row["params"] or "{}")
        row["diagnostics"] = json.loads(row["diagnostics"] or "{}")
        return row

    def row_counts(self) -> dict[str, int]:
        names = [r[0] for r in self._fetchall("SELECT table_name FROM duckdb_tables() ORDER BY 1")]
        return {n: self._fetchone(f"SELECT count(*) FROM {_quote(n)}")[0] for n in names}


@contextmanager
def open_store(path: str | Path = DEFAULT_STORE, *, read_only: bool = False) -> Iterator[Store]:
    store = Store.open(path, read_only=read_only)
    try:
        yield store
    finally:
        store.close()

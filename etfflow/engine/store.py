"""The result store: one DuckDB file that analysts can query with plain SQL.

Every run writes in a single transaction: a row in ``runs`` (run id, kind, dataset path and
fingerprint, pool, parameters, package version, diagnostics) and its result rows, each tagged
with ``run_id``. A run that fails or is killed before the commit leaves nothing behind. The run
id is a hash of the run's inputs (kind, dataset fingerprint, pool, parameters), so re-running
identical inputs replaces the earlier rows instead of duplicating them.

Tables written by the look-through (``kind = 'lookthrough'``):

- ``stock_flow``: ``run_id`` + :data:`~etfflow.engine.schemas.STOCK_FLOW_SCHEMA`
- ``group_flow``: ``run_id`` + :data:`~etfflow.engine.schemas.GROUP_FLOW_SCHEMA`
- ``coverage``: ``run_id`` + the coverage statistics of
  docs/methodology.md#26-coverage-statistics (Huaan 2024-12 table 9)

The schema version lives in ``etfflow_meta``; a store written by another schema version is
refused with a clear error rather than mixed.

Opening is strict about what the path is: an existing file must be a DuckDB database (its
header carries DuckDB's magic bytes; a Parquet or CSV file is refused instead of being opened
as a throw-away view), a new path must not look like a data file (``.parquet``, ``.csv``...),
and readers (``create=False``) never create a store. A new store is written in DuckDB's
:data:`STORAGE_VERSION` format so that older DuckDB releases (the command-line shell users
have installed) can open it. Deleted rows (a replaced run) are not reclaimed by DuckDB:
:func:`compact_store` rewrites the file, atomically.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from etfflow._common import atomic_path
from etfflow._version import __version__
from etfflow.exceptions import StoreError

#: 2: bt_summary gains note and the two win rates, bt_yearly the two excess conventions.
#: 3: factor_defs.spec (an internal section number) becomes factor_defs.source (the research
#: report and table, e.g. "Huaan 2024-12 table 8").
#: 4: bt_summary gains rank_ic_t_nw (Newey–West t-statistic of the mean Rank IC).
#: 5: bt_ic gains direction (each period's +1/-1: varies under ``--direction rolling``).
SCHEMA_VERSION = 5
DEFAULT_STORE = "etfflow.duckdb"
#: DuckDB storage format of new stores (``storage_compatibility_version``). DuckDB 2 writes
#: its own format by default, which DuckDB 1.x (the shell most users have) refuses to open;
#: v1.0.0 is read by every DuckDB from 1.0 on (checked with 1.1.3, 1.2.2, 1.3.2, 1.4.4, 1.5.6
#: and 2.0.1) and costs about 1% of file size on our tables (README, "The result store").
STORAGE_VERSION = "v1.0.0"
#: DuckDB's magic bytes at offset 8 of a database file.
_DUCKDB_MAGIC = b"DUCK"
#: Suffixes of data files a user may pass to --store by mistake (they are not stores).
_DATA_SUFFIXES = frozenset(
    {
        ".parquet",
        ".pq",
        ".csv",
        ".tsv",
        ".json",
        ".jsonl",
        ".arrow",
        ".feather",
        ".ipc",
        ".xlsx",
        ".txt",
    }
)

log = logging.getLogger(__name__)

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
    def open(
        cls, path: str | Path = DEFAULT_STORE, *, read_only: bool = False, create: bool = True
    ) -> Store:
        """Open (or, when ``create`` and not ``read_only``, create) the store at ``path``.

        Raises
        ------
        StoreError
            When ``path`` is missing and may not be created ("no store at ..."), is a folder,
            is not a DuckDB database (a Parquet or CSV file), is a new path named like a data
            file, is locked by another process, or is a DuckDB file of another program or
            schema version.
        """
        p = Path(path)
        check_store_path(p, create=create and not read_only)
        new = not p.exists() or p.stat().st_size == 0
        config: dict[str, str | bool | int | float | list[str]] = (
            {"storage_compatibility_version": STORAGE_VERSION} if new else {}
        )
        try:
            con = duckdb.connect(str(p), read_only=read_only, config=config)
        except duckdb.Error as exc:  # locked by another process, newer storage format, ...
            raise StoreError(f"cannot open store {p}: {exc}") from exc
        store = cls(con, p)
        try:
            store._check_schema(create=not read_only)
        except BaseException:
            con.close()
            raise
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

    def _ensure_table(
        self, name: str, schema: pl.Schema, *, wide: bool = False, tagged: bool = True
    ) -> None:
        """Create ``name`` or check its columns. A ``wide`` table (factor values) gains the
        columns a run brings that it does not have yet (NULL for earlier runs). A ``tagged``
        table starts with the ``run_id`` column the store adds to every row."""
        cols = [("run_id", "VARCHAR")] if tagged else []
        cols += [(c, sql_type(t)) for c, t in schema.items()]
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
        id_params: Mapping | None = None,
        extra: Mapping[str, tuple[pl.DataFrame, Mapping[str, object]]] | None = None,
    ) -> str:
        """Write one run atomically; returns its run id.

        Rows of an earlier run with the same id (identical inputs) are replaced. On any
        error the transaction is rolled back and the store is left as it was. Tables named
        in ``wide`` may gain columns (one per factor). The run id is computed from
        ``id_params`` when given (``params`` may then carry links that must not change the
        id, such as the study a backtest cell belongs to). ``extra`` maps a table to rows
        written as they are (no ``run_id`` column added) in the same transaction, replacing
        the rows whose columns equal the given key values (``{"study_id": s, "cell": 3}``).
        """
        run_id = run_id_for(kind, fingerprint, pool, params if id_params is None else id_params)
        extra = extra or {}
        self.con.begin()
        try:
            for name, df in tables.items():
                self._ensure_table(name, df.schema, wide=name in wide)
                self._exec(f"DELETE FROM {_quote(name)} WHERE run_id = ?", [run_id])
            for name, (df, key) in extra.items():
                self._ensure_table(name, df.schema, tagged=False)
                where = " AND ".join(f"{_quote(c)} = ?" for c in key)
                self._exec(f"DELETE FROM {_quote(name)} WHERE {where}", list(key.values()))
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
            for name, (df, _key) in extra.items():
                self._insert(name, None, df)
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise
        self._verify_run(run_id, tables)
        return run_id

    def _verify_run(self, run_id: str, tables: Mapping[str, pl.DataFrame]) -> None:
        """Read the committed run back: its ``runs`` row and every table's row count."""
        if self._fetchone("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]) != (1,):
            raise StoreError(f"run {run_id} was not kept in {self.path} (no row in table runs)")
        for name, df in tables.items():
            got = self._fetchone(f"SELECT count(*) FROM {_quote(name)} WHERE run_id = ?", [run_id])
            if got is None or got[0] != df.height:
                raise StoreError(
                    f"table '{name}' in {self.path} holds {got[0] if got else 0:,} rows of run "
                    f"{run_id} after the commit, {df.height:,} were written"
                )

    def _insert(self, name: str, run_id: str | None, df: pl.DataFrame) -> None:
        """Insert ``df`` into ``name``, each row tagged with ``run_id`` (None: as it is)."""
        view = f"_etfflow_in_{name}"
        self.con.register(view, df)
        try:
            cols = ", ".join(_quote(c) for c in df.columns)
            if run_id is None:
                self._exec(f"INSERT INTO {_quote(name)} ({cols}) SELECT {cols} FROM {_quote(view)}")
                return
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
        return {n: self._fetchall(f"SELECT count(*) FROM {_quote(n)}")[0][0] for n in names}


def _describe_file(p: Path) -> str:
    with p.open("rb") as fh:
        head = fh.read(4096)
    if head[:4] == b"PAR1":
        return "a Parquet file"
    if head[8:12] == b"DUCK":
        return "a DuckDB database"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "a binary file of another format"
    return "a CSV file" if "," in text.split("\n", 1)[0] else "a text file"


def check_store_path(path: str | Path, *, create: bool) -> Path:
    """Refuse a ``--store`` path that is not a DuckDB database (or, with ``create``, a new
    path for one); returns the path."""
    p = Path(path)
    if p.is_dir():
        raise StoreError(f"--store {p} is a folder: give a file such as {p / DEFAULT_STORE}")
    if not p.exists():
        if not create:
            raise StoreError(
                f"no store at {p} (commands that read a store never create one: check the "
                "path, or write one with `etfflow penetrate`, `etfflow factors compute` or "
                "`etfflow demo`)"
            )
        if p.suffix.lower() in _DATA_SUFFIXES:
            raise StoreError(
                f"--store {p} names a {p.suffix} file, but the store is a DuckDB database: "
                "use a .duckdb path (--export writes Parquet)"
            )
        if not p.parent.is_dir():
            raise StoreError(f"cannot create store {p}: folder {p.parent} does not exist")
        return p
    if p.stat().st_size == 0:
        if not create:
            raise StoreError(f"no store at {p} (the file is empty)")
        return p
    kind = _describe_file(p)
    if kind != "a DuckDB database":
        raise StoreError(
            f"--store {p} is {kind}, not a DuckDB database: nothing would be kept there; "
            f"choose a new path such as {p.with_suffix('.duckdb')} (--export writes Parquet)"
        )
    return p


def storage_version(path: str | Path) -> int:
    """DuckDB's storage version number in a database file's header (64 = v1.0/v1.1 format,
    65 = v1.2, 66 = v1.3, 67 = v1.4, 68 = v1.5; DuckDB 2 writes a higher number)."""
    with Path(path).open("rb") as fh:
        head = fh.read(20)
    if head[8:12] != _DUCKDB_MAGIC:
        raise StoreError(f"{path} is not a DuckDB database")
    return int.from_bytes(head[12:20], "little")


def compact_store(path: str | Path = DEFAULT_STORE) -> tuple[int, int]:
    """Rewrite the store without the space of deleted (replaced) rows, in
    :data:`STORAGE_VERSION` format; returns the file size before and after (bytes).

    The copy goes to a temporary file beside the store, is checked table by table (row
    counts) and then renamed over the store in one step: a killed process leaves the store
    as it was (and at worst a hidden ``.<name>.*.tmp`` file to delete). A store that another
    process has open is refused (DuckDB's file lock).
    """
    p = check_store_path(path, create=False)
    before = p.stat().st_size
    with Store.open(p, read_only=True, create=False) as st:
        counts = st.row_counts()
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET enable_progress_bar = false")  # no bar on the user's stdout
        with atomic_path(p, create=False) as tmp:  # DuckDB creates the file itself
            try:
                con.execute(f"ATTACH {_literal(p)} AS src (READ_ONLY)")
                con.execute(f"ATTACH {_literal(tmp)} AS dst (STORAGE_VERSION '{STORAGE_VERSION}')")
                con.execute("COPY FROM DATABASE src TO dst")
                for name, n in counts.items():
                    got = con.execute(f"SELECT count(*) FROM dst.{_quote(name)}").fetchone()
                    if got is None or got[0] != n:
                        raise StoreError(f"compacting {p}: table '{name}' copied {got} of {n} rows")
                con.execute("DETACH dst")
                with tmp.open("rb") as fh:
                    os.fsync(fh.fileno())
            except BaseException as exc:
                con.close()  # release the copy before it is deleted
                if isinstance(exc, duckdb.Error):
                    raise StoreError(f"cannot compact store {p}: {exc}") from exc
                raise
            finally:
                Path(f"{tmp}.wal").unlink(missing_ok=True)
            # leaving the block renames the copy over the store while the store is still
            # attached read-only here: no writer can open it until the rename is done
    finally:
        con.close()
    after = p.stat().st_size
    log.info("compacted %s: %d -> %d bytes", p, before, after)
    return before, after


def _literal(p: Path) -> str:
    return "'" + str(p).replace("'", "''") + "'"


@contextmanager
def open_store(
    path: str | Path = DEFAULT_STORE, *, read_only: bool = False, create: bool = True
) -> Iterator[Store]:
    store = Store.open(path, read_only=read_only, create=create)
    try:
        yield store
    finally:
        store.close()

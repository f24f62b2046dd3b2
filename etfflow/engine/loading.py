"""Open a dataset folder as lazy Polars frames.

Each table is either ``<root>/<table>.parquet`` or a folder ``<root>/<table>/`` of Parquet
files (hive partitioning such as ``year=2020/`` is allowed; partition columns that are not
part of the contract are dropped). Only the Parquet footers are read when a dataset is opened:
a file that is not Parquet (random bytes, a CSV renamed ``.parquet``, a truncated copy) is
reported there, naming its table and file, before any command or validation reads data.
Nothing else is read until a frame is collected.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from etfflow.engine.schemas import CORE_TABLES, HOLDINGS_TABLES, TABLES
from etfflow.exceptions import DataContractError, DatasetNotFoundError

MANIFEST = "manifest.json"


def table_path(root: Path, table: str) -> Path | None:
    """The file or folder holding ``table`` under ``root``, or None when absent."""
    f = root / f"{table}.parquet"
    if f.is_file():
        return f
    d = root / table
    if d.is_dir() and any(d.rglob("*.parquet")):
        return d
    return None


def _parquet_files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(path.rglob("*.parquet"))


def _what_is(f: Path) -> str:
    """A short description of a file that failed to open as Parquet."""
    size = f.stat().st_size
    if size == 0:
        return "an empty file"
    with f.open("rb") as fh:
        head = fh.read(2048)
        fh.seek(max(0, size - 4))
        tail = fh.read(4)
    if head[:4] == b"PAR1":
        return "a damaged or truncated Parquet file" + (
            "" if tail == b"PAR1" else " (no Parquet footer at the end)"
        )
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "not a Parquet file (no Parquet magic bytes; binary content)"
    first = text.splitlines()[0] if text else ""
    kind = "CSV text" if "," in first or "\t" in first else "text"
    return f"not a Parquet file but {kind} (first line: {first[:60]!r})"


def check_parquet_files(table: str, path: Path) -> None:
    """Read the footer of every Parquet file of ``table``.

    Raises
    ------
    DataContractError
        Naming the table and the file when a file cannot be read as Parquet.
    """
    for f in _parquet_files(path):
        try:
            pl.read_parquet_schema(f)
        except Exception as exc:  # polars raises ComputeError / OSError / ...; any is fatal
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataContractError(
                f"file {f} is {_what_is(f)} and cannot be read ({reason})",
                table=table,
                rule="unreadable_file",
                hint=f"rewrite the table as Parquet, e.g. pl.read_csv(...).write_parquet"
                f"('{f.name}'), or move the file out of {f.parent}",
            ) from None


def scan_table(path: Path) -> pl.LazyFrame:
    """Scan one table (file or hive folder) lazily."""
    if path.is_file():
        return pl.scan_parquet(path)
    return pl.scan_parquet(path / "**" / "*.parquet", hive_partitioning=True)


@dataclass
class Dataset:
    """A dataset folder: its tables as LazyFrames plus where they live.

    Use :func:`open_dataset` to build one. ``frame(name)`` returns the table restricted to its
    contract columns (extra columns, such as hive partition keys, are dropped), with string-like
    columns (Categorical/Enum) left as stored so the look-through can use their integer codes.
    """

    root: Path
    paths: dict[str, Path]
    manifest: dict = field(default_factory=dict)

    def has(self, table: str) -> bool:
        return table in self.paths

    def raw(self, table: str) -> pl.LazyFrame:
        """The table exactly as stored (all columns)."""
        if table not in self.paths:
            raise DatasetNotFoundError(
                f"table '{table}' not found in {self.root}: expected {table}.parquet or a "
                f"folder {table}/ of Parquet files"
            )
        return scan_table(self.paths[table])

    def frame(self, table: str) -> pl.LazyFrame:
        """The table with only its contract columns (the ones present)."""
        lf = self.raw(table)
        spec = TABLES[table]
        names = lf.collect_schema().names()
        keep = [c for c in spec.columns.names() if c in names]
        return lf.select(keep)

    def files(self, table: str) -> list[Path]:
        return _parquet_files(self.paths[table])

    def fingerprint(self) -> str:
        """A content fingerprint of every table: file names, sizes and Parquet footers.

        Identical data gives the identical fingerprint whatever the files' modification times,
        because the footer (schema, row counts, column statistics) is hashed, not the mtime.
        """
        h = hashlib.sha256()
        for table in sorted(self.paths):
            for f in self.files(table):
                rel = f.relative_to(self.root).as_posix()
                size = f.stat().st_size
                h.update(f"{rel}:{size}:".encode())
                with f.open("rb") as fh:
                    fh.seek(max(0, size - 65536))
                    h.update(fh.read())
        return h.hexdigest()[:16]


def open_dataset(root: str | Path, *, require_holdings: bool = True) -> Dataset:
    """Find the tables of a dataset folder.

    Raises
    ------
    DatasetNotFoundError
        When the folder or a core table (``stocks``, ``stock_industry``, ``stock_daily``,
        ``etfs``, ``etf_daily``) is missing, or when neither holdings table is present.
    DataContractError
        When a table's file is not readable Parquet (the error names the table and file).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"dataset folder {root} does not exist (hint: `etfflow generate --out {root}` "
            "writes a synthetic one)"
        )
    paths = {t: p for t in TABLES if (p := table_path(root, t)) is not None}
    missing = [t for t in CORE_TABLES if t not in paths]
    if missing:
        raise DatasetNotFoundError(
            f"dataset {root} lacks table(s) {', '.join(missing)}: each table is "
            "<name>.parquet or a folder <name>/ of Parquet files (see the README's data contract)"
        )
    if require_holdings and not any(t in paths for t in HOLDINGS_TABLES):
        raise DatasetNotFoundError(
            f"dataset {root} has no holdings: add etf_pcf (daily baskets) or holding_weights "
            "(weight snapshots)"
        )
    for table, path in paths.items():
        check_parquet_files(table, path)
    manifest = {}
    mf = root / MANIFEST
    if mf.is_file():
        try:
            manifest = json.loads(mf.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DatasetNotFoundError(
                f"{mf} is not valid JSON ({exc}): delete it or regenerate the dataset "
                "(only synthetic markets carry a manifest)"
            ) from None
    return Dataset(root=root, paths=paths, manifest=manifest)

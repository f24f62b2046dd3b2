"""Any contract table from a CSV, Excel or Parquet export, converted by a TOML map file.

``import_table(file, table=..., map_file=..., out=...)`` reads the export, applies the map
(:class:`TableMap`: renames, unit multipliers, date formats, code suffix rules, boolean
spellings, constant columns, dropped columns), casts to the contract dtypes of
``schemas.TABLES[table]``, checks the result with :func:`etfflow.engine.validation.validate`
and merges it into the dataset folder ``out``: the rows of the same keys are replaced (for a
table whose key starts with a date, every row of an imported date), then the table is written
as ``<table>.parquet`` and moved into place. A failed import leaves ``out`` as it was.

Nothing is dropped silently: a column of the file that is neither mapped to the contract nor
listed in ``drop`` is an error, and so is a value that does not parse (number, date, boolean,
code); each error names the file, the column and example rows (with their line in the file).
The map format is documented in ``docs/data_sources.md``; ``docs/maps/wind_stock_daily.toml``
is an example.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from etfflow.engine.adapters.table_map import (
    DEFAULT_DATE_FORMAT,
    FALSE_WORDS,
    LINE,
    TRUE_WORDS,
    TableMap,
    load_map,
)
from etfflow.engine.loading import MANIFEST, Dataset, scan_table, table_path
from etfflow.engine.schemas import TABLES, TableSpec, is_string_like
from etfflow.engine.validation import validate
from etfflow.exceptions import SourceFileError

log = logging.getLogger(__name__)


def read_source(path: str | Path, tmap: TableMap) -> pl.DataFrame:
    """The export as a DataFrame, plus a ``_line`` column (line in a CSV file, row in a sheet,
    row number in Parquet, 1-based) for error messages. CSV cells are read as text, so codes
    keep their leading zeros; Excel and Parquet cells keep their types."""
    path = Path(path)
    table = tmap.table
    if not path.is_file():
        raise SourceFileError("file not found", file=path, table=table, rule="unreadable_file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt", ".tsv"):
            try:
                text = path.read_bytes().decode(tmap.encoding)
            except (UnicodeDecodeError, LookupError) as exc:
                raise SourceFileError(
                    f"cannot be decoded as {tmap.encoding} ({exc})",
                    file=path,
                    table=table,
                    rule="unreadable_file",
                    hint='set [read] encoding = "gb18030" for Wind/Choice exports in GBK',
                ) from None
            df = pl.read_csv(
                text.encode(),
                infer_schema=False,
                separator=tmap.separator,
                skip_rows=tmap.skip_rows,
                null_values=list(tmap.null_values),
            )
            first_line = tmap.skip_rows + 2  # header line, then data
        elif suffix in (".xlsx", ".xlsm", ".xls", ".xlsb"):
            df = _read_excel(path, tmap)
            first_line = 2
        elif suffix == ".parquet":
            df = pl.read_parquet(path)
            first_line = 1
        else:
            raise SourceFileError(
                f"unknown file type {suffix!r}",
                file=path,
                table=table,
                rule="unreadable_file",
                hint="CSV (.csv, .txt, .tsv), Excel (.xlsx, .xls, .xlsb) or Parquet (.parquet)",
            )
    except SourceFileError:
        raise
    except Exception as exc:  # the readers raise many types; any of them is fatal here
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceFileError(
            f"cannot be read ({reason})", file=path, table=table, rule="unreadable_file"
        ) from None
    return df.with_row_index(LINE, offset=first_line)


def _read_excel(path: Path, tmap: TableMap) -> pl.DataFrame:
    try:
        import fastexcel  # noqa: F401  (Polars' default "calamine" engine)
    except ImportError:
        raise SourceFileError(
            "reading Excel needs the fastexcel package (Polars' calamine engine)",
            file=path,
            table=tmap.table,
            rule="unreadable_file",
            hint="pip install 'etfflow[excel]', or save the sheet as CSV",
        ) from None
    kw: dict[str, Any] = {"sheet_name": tmap.sheet} if tmap.sheet else {}
    out = pl.read_excel(
        path, engine="calamine", infer_schema_length=None, drop_empty_rows=False, **kw
    )
    if not isinstance(out, pl.DataFrame):  # one sheet was asked for; never several
        raise TypeError("read_excel returned several sheets")
    return out


# converting ----------------------------------------------------------------------------------
def suffix_codes(code: pl.Expr, prefixes: Mapping[str, str]) -> pl.Expr:
    """``600519`` -> ``600519.SH``: the exchange of the longest matching prefix of a 6-digit
    code; a code already in suffix form (``600519.sh``) is upper-cased; anything else -> null.

    Examples
    --------
    >>> s = pl.Series(["600519", "000001", "830799", "600519.sh", "12345", None])
    >>> from etfflow.engine.adapters.table_map import DEFAULT_PREFIXES
    >>> s.to_frame("c").select(suffix_codes(pl.col("c"), DEFAULT_PREFIXES))["c"].to_list()
    ['600519.SH', '000001.SZ', '830799.BJ', '600519.SH', None, None]
    """
    c = code.str.strip_chars().str.to_uppercase()
    six = c.str.contains(r"^\d{6}$")
    out: Any = pl.when(c.str.contains(r"^\d{6}\.(SH|SZ|BJ)$")).then(c)
    for p in sorted(prefixes, key=len, reverse=True):
        out = out.when(six & c.str.starts_with(p)).then(c + f".{prefixes[p]}")
    return out.otherwise(None)


def _fail(
    df: pl.DataFrame,
    bad: pl.Series,
    *,
    path: object,
    table: str,
    column: str,
    source: str,
    what: str,
    hint: str,
) -> None:
    n = int(bad.sum())
    if n:
        ex = df.filter(bad).select(LINE, pl.col(source).alias(f"{source} (in the file)"))
        raise SourceFileError(
            f"{what} in source column {source!r}",
            file=path,
            table=table,
            column=column,
            rule="unparsable_value",
            examples=ex,
            n_rows=n,
            hint=hint,
        )


def _convert_column(
    df: pl.DataFrame, src: str, col: str, tmap: TableMap, spec: TableSpec, path: object
) -> pl.Series:
    want = spec.columns[col]
    s = df[src]
    fail = partial(_fail, df, path=path, table=tmap.table, column=col, source=src)
    if want == pl.Date:
        if s.dtype == pl.Date:
            return s.alias(col)
        if isinstance(s.dtype, pl.Datetime):
            return s.dt.date().alias(col)
        fmt = tmap.dates.get(col, "%Y%m%d" if s.dtype.is_integer() else DEFAULT_DATE_FORMAT)
        text = s.cast(pl.String).str.strip_chars()
        out = text.str.strptime(pl.Date, fmt, strict=False)
        fail(
            out.is_null() & text.is_not_null(),
            what=f"date not in format {fmt!r}",
            hint=f'set [dates] {col} = "..." to the file\'s format',
        )
        return out.alias(col)
    if want == pl.Float64:
        if s.dtype.is_numeric():
            out = s.cast(pl.Float64)
        else:
            text = s.cast(pl.String).str.strip_chars()
            out = text.cast(pl.Float64, strict=False)
            fail(
                out.is_null() & text.is_not_null(),
                what="value that is not a number",
                hint="clean the column, or add the spelling to [read] null_values",
            )
        return (out * tmap.units.get(col, 1.0)).alias(col)
    if want == pl.Boolean:
        if s.dtype == pl.Boolean:
            return s.alias(col)
        true, false = tmap.booleans.get(col, (TRUE_WORDS, FALSE_WORDS))
        text = s.cast(pl.String).str.strip_chars()
        key = text if col in tmap.booleans else text.str.to_lowercase()
        out = pl.select(
            pl.when(key.is_in(list(true)))
            .then(True)
            .when(key.is_in(list(false)))
            .then(False)
            .otherwise(None)
        ).to_series()
        fail(
            out.is_null() & text.is_not_null(),
            what=f"value that is neither true ({', '.join(true)}) nor false ({', '.join(false)})",
            hint=f"declare [booleans] {col} = {{ true = [...], false = [...] }}",
        )
        return out.alias(col)
    text = s.cast(pl.String)
    if col in _code_columns(tmap, spec):
        if s.dtype.is_float() and bool((s.drop_nulls() % 1 == 0).all()):
            s = s.cast(pl.Int64)  # an Excel number cell read as a float: 600519.0
        if s.dtype.is_integer():  # Excel and Parquet drop the leading zeros of 000001
            text = s.cast(pl.String).str.zfill(6)
        out = text.to_frame("c").select(suffix_codes(pl.col("c"), tmap.prefixes)).to_series()
        fail(
            out.is_null() & text.is_not_null(),
            what="code that maps to no exchange (6 digits or 600519.SH form)",
            hint='add its prefix to [codes.prefixes], e.g. "920" = "BJ"',
        )
        return out.alias(col)
    return text.alias(col)


def _code_columns(tmap: TableMap, spec: TableSpec) -> tuple[str, ...]:
    if tmap.code_columns is not None:
        return tmap.code_columns
    return tuple(c for c in ("code", "etf_code") if c in spec.columns)


def convert(df: pl.DataFrame, tmap: TableMap, *, path: object = "<frame>") -> pl.DataFrame:
    """Apply the map to a source frame: the contract table, its columns in contract order with
    the contract dtypes (no row is dropped).

    Raises
    ------
    SourceFileError
        A renamed or dropped column missing from the file, a file column neither mapped nor
        dropped, a required contract column nobody provides, or a value that does not parse.
    """
    spec = TABLES[tmap.table]
    table = tmap.table
    have = [c for c in df.columns if c != LINE]
    for src in [*tmap.rename, *tmap.drop]:
        if src not in have:
            raise SourceFileError(
                f"column {src!r} named in the map is not in the file",
                file=path,
                table=table,
                rule="missing_column",
                hint=f"the file's columns: {', '.join(have)}",
            )
    sources = {dst: src for src, dst in tmap.rename.items()}
    for c in have:  # a column already named as in the contract needs no rename
        if c in spec.columns and c not in sources and c not in tmap.rename and c not in tmap.drop:
            sources[c] = c
    extra = [c for c in have if c not in tmap.rename and c not in tmap.drop and c not in sources]
    if extra:
        raise SourceFileError(
            f"column {extra[0]!r} of the file is not mapped to table {table}"
            + (f" (nor {len(extra) - 1} other(s): {', '.join(extra[1:])})" if extra[1:] else ""),
            file=path,
            table=table,
            rule="unmapped_column",
            hint="rename it to a contract column in [rename] or list it in drop = [...]",
        )
    for c in spec.columns:
        if c in sources and c in tmap.constants:
            raise SourceFileError(
                f"column {c!r} comes from the file and from [constants]",
                file=path,
                table=table,
                column=c,
                rule="map_file",
                hint="keep one of the two",
            )
    missing = [
        c.name
        for c in spec.declared
        if c.required and c.name not in sources and c.name not in tmap.constants
    ]
    if missing:
        raise SourceFileError(
            f"required column(s) {', '.join(missing)} come from no file column or constant",
            file=path,
            table=table,
            column=missing[0],
            rule="missing_column",
            hint=f"map a column of the file ({', '.join(have)}) in [rename] or set [constants]",
        )
    for c in [*tmap.units, *tmap.dates, *tmap.booleans]:
        if c not in sources:
            raise SourceFileError(
                f"the map converts {c!r}, which comes from no file column",
                file=path,
                table=table,
                column=c,
                rule="map_file",
                hint="rename a file column to it",
            )
    cols: dict[str, pl.Series] = {}
    for c, dtype in spec.columns.items():
        if c in sources:
            cols[c] = _convert_column(df, sources[c], c, tmap, spec, path)
        elif c in tmap.constants:
            cols[c] = pl.repeat(tmap.constants[c], df.height, dtype=dtype, eager=True).alias(c)
    return pl.DataFrame(list(cols.values()))


# merging and writing -------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_table` wrote: the table file, rows imported, rows of the earlier
    table replaced (same keys or dates) and kept, and the validation warnings (counted, not
    fatal)."""

    table: str
    path: Path
    rows: int
    replaced: int
    kept: int
    warnings: tuple[str, ...]


def merge_key(table: str) -> tuple[str, ...]:
    """The columns whose values an import replaces: the leading date of the key (a re-import
    of a day replaces the whole day) or, for a table keyed without a leading date, the key."""
    spec = TABLES[table]
    first = spec.key[0]
    return (first,) if spec.columns[first] == pl.Date else spec.key


def _as_strings(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        pl.col(c).cast(pl.String) for c, t in df.schema.items() if is_string_like(t)
    )


def merge(old: pl.DataFrame | None, new: pl.DataFrame, table: str) -> tuple[pl.DataFrame, int]:
    """``old`` without the rows whose :func:`merge_key` values occur in ``new``, plus ``new``,
    sorted by the table key; returns it and the number of rows replaced."""
    spec = TABLES[table]
    if old is None:
        merged, replaced = new, 0
    else:
        old = _as_strings(old.select([c for c in spec.columns if c in old.columns]))
        key = list(merge_key(table))
        kept = old.join(new.select(key).unique(), on=key, how="anti", nulls_equal=True)
        replaced = old.height - kept.height
        merged = pl.concat([kept, new], how="diagonal_relaxed")
        merged = merged.select([c for c in spec.columns if c in merged.columns])
        merged = merged.cast({c: spec.columns[c] for c in merged.columns})
    keys = [k for k in spec.key if k in merged.columns]
    return merged.sort(keys, nulls_last=True, maintain_order=True), replaced


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def import_table(
    file: str | Path, *, table: str, map_file: str | Path, out: str | Path
) -> ImportResult:
    """Convert an export with a map file and merge it into the dataset folder ``out``.

    Parameters
    ----------
    file
        CSV, Excel (needs ``etfflow[excel]``) or Parquet export.
    table
        The contract table it holds (``stock_daily``, ``etf_daily``, ...).
    map_file
        TOML map (:func:`load_map`; ``docs/data_sources.md``).
    out
        Dataset folder, created when missing.

    Returns
    -------
    ImportResult

    Raises
    ------
    SourceFileError
        Bad map, unreadable file or a value that does not convert (file, column, example rows).
    ValidationError
        The converted and merged table breaks the data contract (checked against the tables
        already in ``out``, e.g. codes unknown to ``stocks``).

    Notes
    -----
    The merged table is written to a temporary folder beside ``out``, validated there, then
    moved over ``out/<table>.parquet`` (an earlier ``out/<table>/`` folder is replaced by the
    file), and ``manifest.json`` gains an ``imports`` entry (file name, SHA-256, map, rows).
    Any failure before the move leaves ``out`` exactly as it was.
    """
    file, map_file, out = Path(file), Path(map_file), Path(out)
    if out.exists() and not out.is_dir():
        raise SourceFileError(
            f"--out {out} is a file, not a dataset folder", file=out, table=table, rule="map_file"
        )
    tmap = load_map(map_file, table=table)
    new = convert(read_source(file, tmap), tmap, path=file)
    existing = table_path(out, table) if out.is_dir() else None
    old = scan_table(existing).collect() if existing is not None else None
    try:
        merged, replaced = merge(old, new, table)
    except pl.exceptions.PolarsError as exc:  # the table already in ``out`` breaks the contract
        raise SourceFileError(
            f"cannot be merged with the table already there ({exc})".splitlines()[0],
            file=existing,
            table=table,
            rule="wrong_type",
            hint=f"run `etfflow validate {out}` and fix the table first",
        ) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.import-", dir=out.parent))
    try:
        staged = stage / f"{table}.parquet"
        merged.write_parquet(staged, compression="zstd")
        paths = {t: p for t in TABLES if out.is_dir() and (p := table_path(out, t)) is not None}
        paths[table] = staged
        root = out if out.is_dir() else stage
        report = validate(Dataset(root=root, paths=paths), tables=[table])
        report.raise_for_errors()
        manifest = _manifest(out, table, file, map_file, new.height)
        if not out.exists():
            (stage / MANIFEST).write_text(manifest, encoding="utf-8")
            os.replace(stage, out)
        else:
            _swap_in(out, table, staged, existing, stage)
            tmp_manifest = stage / MANIFEST
            tmp_manifest.write_text(manifest, encoding="utf-8")
            os.replace(tmp_manifest, out / MANIFEST)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log.info(
        "imported %d rows of %s from %s into %s (%d replaced)",
        new.height,
        table,
        file,
        out,
        replaced,
    )
    return ImportResult(
        table=table,
        path=out / f"{table}.parquet",
        rows=new.height,
        replaced=replaced,
        kept=merged.height - new.height,
        warnings=tuple(w.message for w in report.warnings),
    )


def _swap_in(out: Path, table: str, staged: Path, existing: Path | None, stage: Path) -> None:
    """Move ``staged`` to ``out/<table>.parquet``; an earlier folder table is moved aside
    first and put back if the move fails."""
    target = out / f"{table}.parquet"
    if existing is None or existing == target:
        os.replace(staged, target)
        return
    aside = stage / f"{table}.old"
    os.replace(existing, aside)
    try:
        os.replace(staged, target)
    except BaseException:
        os.replace(aside, existing)
        raise


def manifest_with_import(out: Path, entry: dict[str, Any]) -> str:
    """The text of ``out``'s manifest with ``entry`` appended to its ``imports`` (a missing or
    broken manifest starts afresh: open_dataset reports a broken one, an import rewrites it)."""
    mf = out / MANIFEST
    manifest: dict[str, Any] = {}
    if mf.is_file():
        try:
            manifest = json.loads(mf.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            manifest = {}
    manifest.setdefault("imports", []).append(entry)
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def _manifest(out: Path, table: str, file: Path, map_file: Path, rows: int) -> str:
    return manifest_with_import(
        out,
        {
            "table": table,
            "file": file.name,
            "sha256": _sha256(file),
            "map": map_file.name,
            "rows": rows,
        },
    )

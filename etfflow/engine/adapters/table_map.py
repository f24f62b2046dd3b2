"""The map file of ``etfflow import table``: one TOML file declaring how an export's columns
become one contract table (renames, unit multipliers, date formats, code suffix rules, boolean
spellings, constant columns, dropped columns), parsed and checked into a :class:`TableMap`.

The format is documented in ``docs/data_sources.md``; every error names the map file and the
key (:class:`~etfflow.exceptions.SourceFileError`).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from etfflow.engine.schemas import TABLES
from etfflow.exceptions import SourceFileError

#: Named units and their multiplier to the contract's unit (CNY, shares, decimal fractions).
UNITS: dict[str, float] = {
    "元": 1.0,
    "千元": 1e3,
    "万元": 1e4,
    "百万元": 1e6,
    "亿元": 1e8,
    "股": 1.0,
    "手": 100.0,
    "万股": 1e4,
    "亿股": 1e8,
    "份": 1.0,
    "万份": 1e4,
    "亿份": 1e8,
    "%": 0.01,
    "‰": 1e-3,
    "bp": 1e-4,
}
#: Default code suffix rules: the longest matching prefix of a 6-digit code wins. Shanghai
#: stocks 6xxxxx (and 9xxxxx B shares) and funds 5xxxxx; Shenzhen 0xxxxx, 3xxxxx and funds
#: 1xxxxx; Beijing 4xxxxx, 8xxxxx and the 920xxx codes it has issued since 2024.
DEFAULT_PREFIXES: dict[str, str] = {
    "6": "SH",
    "9": "SH",
    "5": "SH",
    "0": "SZ",
    "3": "SZ",
    "1": "SZ",
    "4": "BJ",
    "8": "BJ",
    "920": "BJ",
}
EXCHANGES: tuple[str, ...] = ("SH", "SZ", "BJ")
#: Boolean spellings understood without a ``[booleans]`` entry (compared in lower case).
TRUE_WORDS: tuple[str, ...] = ("true", "1", "y", "yes", "是")
FALSE_WORDS: tuple[str, ...] = ("false", "0", "n", "no", "否")
#: Cells read as null in CSV files unless ``[read] null_values`` says otherwise.
DEFAULT_NULLS: tuple[str, ...] = ("", "--", "N/A", "NaN")
#: Default date format of text dates (integers such as 20240102 use ``%Y%m%d``).
DEFAULT_DATE_FORMAT = "%Y-%m-%d"
LINE = "_line"  # the source line of each row, kept for error messages
_KEYS = {"drop", "read", "rename", "units", "dates", "codes", "booleans", "constants"}
_READ_KEYS = {"encoding", "separator", "skip_rows", "sheet", "null_values"}


@dataclass(frozen=True)
class TableMap:
    """A map file: how the columns of an export become the columns of one contract table.

    ``rename`` (source column -> contract column), ``units`` (contract column -> multiplier),
    ``dates`` (contract column -> strptime format), ``code_columns`` and ``prefixes`` (the
    suffix rule), ``booleans`` (contract column -> (true spellings, false spellings)),
    ``constants`` (contract column -> value), ``drop`` (source columns to ignore) and the CSV /
    Excel read options. Build one with :func:`load_map` or :func:`parse_map`.
    """

    table: str
    rename: dict[str, str] = field(default_factory=dict)
    units: dict[str, float] = field(default_factory=dict)
    dates: dict[str, str] = field(default_factory=dict)
    code_columns: tuple[str, ...] | None = None  # None: the code/etf_code columns present
    prefixes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PREFIXES))
    booleans: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    encoding: str = "utf-8-sig"
    separator: str = ","
    skip_rows: int = 0
    sheet: str | None = None
    null_values: tuple[str, ...] = DEFAULT_NULLS


def _map_error(path: object, table: str, key: str, message: str, hint: str) -> SourceFileError:
    return SourceFileError(
        f"map field [{key}]: {message}", file=path, table=table, rule="map_file", hint=hint
    )


def _str_dict(raw: Any, path: object, table: str, key: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _map_error(
            path,
            table,
            key,
            "must be a table of key = value",
            f"see [{key}] in docs/data_sources.md",
        )
    return dict(raw)


def parse_map(raw: Mapping[str, Any], *, table: str, path: object = "<map>") -> TableMap:
    """Check a parsed map file against the contract table ``table``.

    Raises
    ------
    SourceFileError
        On an unknown key, a rename to a column the table does not have, a unit that is not
        known or cannot be applied (not a Float64 column), a date format on a non-date column,
        a bad suffix rule or a constant of the wrong kind. The message names the map file and
        the field.
    """
    if table not in TABLES:
        raise SourceFileError(
            f"unknown contract table {table!r}",
            file=path,
            table=table,
            rule="map_file",
            hint=f"choose one of {', '.join(TABLES)}",
        )
    spec = TABLES[table].columns
    names = ", ".join(spec.names())
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise _map_error(
            path, table, unknown[0], "unknown key", f"a map has the keys {', '.join(sorted(_KEYS))}"
        )

    def contract_col(key: str, col: str) -> None:
        if col not in spec:
            raise _map_error(
                path,
                table,
                key,
                f"{col!r} is not a column of table {table}",
                f"the columns of {table} are {names}",
            )

    rename = {
        str(k): str(v) for k, v in _str_dict(raw.get("rename", {}), path, table, "rename").items()
    }
    for src, dst in rename.items():
        contract_col(f"rename.{src}", dst)
    dup = [c for c in set(rename.values()) if list(rename.values()).count(c) > 1]
    if dup:
        raise _map_error(
            path,
            table,
            "rename",
            f"two source columns renamed to {dup[0]!r}",
            "rename one source column per contract column; drop the other",
        )
    units: dict[str, float] = {}
    for col, unit in _str_dict(raw.get("units", {}), path, table, "units").items():
        contract_col(f"units.{col}", col)
        if spec[col] != pl.Float64:
            raise _map_error(
                path,
                table,
                f"units.{col}",
                f"a unit cannot be applied to {col!r}: it is {spec[col]}, not a number",
                "units apply to Float64 columns (money, shares, rates)",
            )
        if isinstance(unit, bool) or not isinstance(unit, (int, float, str)):
            raise _map_error(
                path,
                table,
                f"units.{col}",
                f"{unit!r} is not a unit",
                f"a number or one of {', '.join(UNITS)}",
            )
        if isinstance(unit, str) and unit not in UNITS:
            raise _map_error(
                path,
                table,
                f"units.{col}",
                f"unknown unit {unit!r}",
                f"a number or one of {', '.join(UNITS)}",
            )
        units[col] = UNITS[unit] if isinstance(unit, str) else float(unit)
    dates: dict[str, str] = {}
    for col, fmt in _str_dict(raw.get("dates", {}), path, table, "dates").items():
        contract_col(f"dates.{col}", col)
        if spec[col] != pl.Date or not isinstance(fmt, str) or "%" not in fmt:
            raise _map_error(
                path,
                table,
                f"dates.{col}",
                f"{fmt!r} cannot be a date format of {col!r} ({spec[col]})",
                'a strptime format such as "%Y%m%d" for a Date column',
            )
        dates[col] = fmt
    codes = _str_dict(raw.get("codes", {}), path, table, "codes")
    bad = sorted(set(codes) - {"columns", "prefixes"})
    if bad:
        raise _map_error(
            path,
            table,
            f"codes.{bad[0]}",
            "unknown key",
            "[codes] has columns = [...] and [codes.prefixes]",
        )
    code_columns = None
    if "columns" in codes:
        code_columns = tuple(str(c) for c in codes["columns"])
        for c in code_columns:
            contract_col("codes.columns", c)
            if spec[c] != pl.String:
                raise _map_error(
                    path,
                    table,
                    "codes.columns",
                    f"{c!r} is not a code column",
                    "the suffix rule applies to string code columns",
                )
    prefixes = dict(DEFAULT_PREFIXES)
    for p, ex in _str_dict(codes.get("prefixes", {}), path, table, "codes.prefixes").items():
        if not str(p).isdigit() or ex not in EXCHANGES:
            raise _map_error(
                path,
                table,
                f"codes.prefixes.{p}",
                f"{p!r} = {ex!r} is not a suffix rule",
                f'digits = one of {", ".join(EXCHANGES)}, e.g. "920" = "BJ"',
            )
        prefixes[str(p)] = ex
    booleans: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for col, words in _str_dict(raw.get("booleans", {}), path, table, "booleans").items():
        contract_col(f"booleans.{col}", col)
        if (
            spec[col] != pl.Boolean
            or not isinstance(words, dict)
            or set(words) != {"true", "false"}
        ):
            raise _map_error(
                path,
                table,
                f"booleans.{col}",
                "must give true = [...] and false = [...] for a Boolean column",
                'e.g. is_suspended = { true = ["停牌"], false = ["交易"] }',
            )
        booleans[col] = (tuple(map(str, words["true"])), tuple(map(str, words["false"])))
    constants = _str_dict(raw.get("constants", {}), path, table, "constants")
    for col, value in constants.items():
        contract_col(f"constants.{col}", col)
        if col in rename.values():
            raise _map_error(
                path,
                table,
                f"constants.{col}",
                f"{col!r} comes from the file and from a constant",
                "keep one of the two",
            )
        want = spec[col]
        ok = (
            (want == pl.Boolean and isinstance(value, bool))
            or (
                want == pl.Float64
                and isinstance(value, (int, float))
                and not isinstance(value, bool)
            )
            or (want == pl.Date and type(value) is dt.date)
            or (want == pl.String and isinstance(value, str))
        )
        if not ok:
            raise _map_error(
                path,
                table,
                f"constants.{col}",
                f"{value!r} is not a {want} value",
                "TOML true/false, a number, a date such as 2024-01-02 or a string",
            )
    read = _str_dict(raw.get("read", {}), path, table, "read")
    bad = sorted(set(read) - _READ_KEYS)
    if bad:
        raise _map_error(
            path,
            table,
            f"read.{bad[0]}",
            "unknown key",
            f"[read] has {', '.join(sorted(_READ_KEYS))}",
        )
    drop = raw.get("drop", [])
    if not isinstance(drop, list):
        raise _map_error(
            path,
            table,
            "drop",
            "must be a list of source column names",
            'drop = ["证券简称", "开盘价"]',
        )
    return TableMap(
        table=table,
        rename=rename,
        units=units,
        dates=dates,
        code_columns=code_columns,
        prefixes=prefixes,
        booleans=booleans,
        constants=constants,
        drop=tuple(str(c) for c in drop),
        encoding=str(read.get("encoding", "utf-8-sig")),
        separator=str(read.get("separator", ",")),
        skip_rows=int(read.get("skip_rows", 0)),
        sheet=None if read.get("sheet") is None else str(read["sheet"]),
        null_values=tuple(str(v) for v in read.get("null_values", DEFAULT_NULLS)),
    )


def load_map(path: str | Path, *, table: str) -> TableMap:
    """Read and check a TOML map file (see :func:`parse_map`)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceFileError(
            "map file not found", file=path, table=table, rule="map_file"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SourceFileError(
            f"map file is not valid TOML ({exc})", file=path, table=table, rule="map_file"
        ) from None
    return parse_map(raw, table=table, path=path)


# reading -------------------------------------------------------------------------------------

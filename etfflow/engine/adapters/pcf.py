"""The exchanges' daily PCF files (申购赎回清单) into the data contract's ``etf_pcf``.

Two XML formats are read, told apart by their root element:

* Shanghai: ``<SSEPortfolioCompositionFile>`` (no namespace). Header ``FundInstrumentID``,
  ``CreationRedemptionUnit``, ``TradingDay``, ``PreTradingDay``, ``NAVperCU``, ``NAV``,
  ``PreCashComponent``, ``EstimatedCashComponent``, ``MaxCashRatio``, ``RecordNumber``;
  components ``ComponentList/Component`` with ``InstrumentID``, ``InstrumentName``,
  ``Quantity``, ``SubstitutionFlag``, ``CreationPremiumRate``, ``RedemptionDiscountRate``,
  ``SubstitutionCashAmount`` and ``UnderlyingSecurityID`` (the component's *market*:
  101 Shanghai, 102 Shenzhen, 103 Hong Kong, 106 Beijing, ...).
* Shenzhen: ``<PCFFile xmlns="http://ts.szse.cn/Fund">``. Header ``SecurityID``,
  ``CreationRedemptionUnit``, ``TradingDay``, ``PreTradingDay``, ``NAVperCU``, ``NAV``,
  ``CashComponent``, ``EstimateCashComponent``, ``MaxCashRatio``, ``RecordNum``; components
  ``Components/Component`` with ``UnderlyingSecurityID`` (the code),
  ``UnderlyingSecurityIDSource`` (the market, same codes), ``UnderlyingSymbol``,
  ``ComponentShare``, ``SubstituteFlag``, ``PremiumRatio``, ``DiscountRatio``,
  ``CreationCashSubstitute``, ``RedemptionCashSubstitute``.

The element names and codes, and which public material they come from, are in
``docs/data_sources.md``. The encoding is taken from a byte-order mark or the XML declaration
(UTF-8 or GB18030/GBK/GB2312); a file without either is read as UTF-8.

What lands where (all under the dataset folder, merged by ETF-day):

``etf_pcf/year=YYYY/data.parquet`` (contract)
    ``date`` = ``TradingDay`` (the basket in force that day), ``etf_code`` (``.SH`` for
    Shanghai files, ``.SZ`` for Shenzhen), ``code`` (the component with its exchange suffix),
    ``quantity`` (shares per creation unit), ``cash_substitute`` (flag 0 ``forbidden``;
    1, 3, 5 ``allowed``; 2, 4, 6 ``required``). Only Shanghai/Shenzhen components with a
    positive quantity: the A-share basket.
``pcf_components/year=YYYY/data.parquet`` (not a contract table; ignored by the engine)
    Every component row of every file, A-share or not, with its name, market (``SH``, ``SZ``,
    ``HK``, ``BJ``, ``OTHER``), ``kind`` (``a_share``, ``hk``, ``bj``, ``cash``, ``other``),
    the raw substitution flag, premium ratio and cash amounts (CNY): nothing is dropped.
``pcf_header.parquet`` (not a contract table)
    One row per ETF-day: ``creation_unit`` (fund shares), ``nav_per_cu`` and ``nav`` (CNY,
    as of ``pre_trading_day``: the file of day t carries the NAV of the previous trading
    day), ``cash_component``, ``estimated_cash_component``, ``max_cash_ratio`` and the counts
    of component kinds, plus the source file name.

A PCF file cannot provide ``etf_daily.shares`` (total shares outstanding) nor the ``etfs``
columns other than ``creation_unit`` (``name``, ``category``, ``index_code``,
``is_enhanced``, ``list_date``): :attr:`PcfImportSummary.not_provided` says so; nothing is
invented.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import polars as pl

from etfflow._common import Progress
from etfflow.engine.loading import scan_table, table_path
from etfflow.engine.schemas import TABLES
from etfflow.exceptions import DataContractError

log = logging.getLogger(__name__)

SZSE_NAMESPACE: Final = "http://ts.szse.cn/Fund"
SSE_ROOT: Final = "SSEPortfolioCompositionFile"
SZSE_ROOT: Final = "PCFFile"

#: Market codes of ``UnderlyingSecurityID`` (Shanghai) / ``UnderlyingSecurityIDSource``
#: (Shenzhen) -> exchange suffix. 104 (interbank) and 105 (CFETS) and 9999 (other) are OTHER.
MARKETS: Final[dict[str, str]] = {
    "101": "SH",
    "102": "SZ",
    "103": "HK",
    "104": "OTHER",
    "105": "OTHER",
    "106": "BJ",
    "9999": "OTHER",
}
#: Substitution flag -> contract ``cash_substitute``. 3/5 are 退补 (cash allowed, settled
#: later), 4/6 must be cash (other market / outside Shanghai-Shenzhen).
FLAGS: Final[dict[int, str]] = {
    0: "forbidden",
    1: "allowed",
    2: "required",
    3: "allowed",
    4: "required",
    5: "allowed",
    6: "required",
}
#: Shenzhen's placeholder component for the cash part of a basket.
CASH_CODES: Final = frozenset({"159900"})
KINDS: Final = ("a_share", "hk", "bj", "cash", "other")
SUFFIXES: Final = ("SH", "SZ", "HK", "BJ")

NOT_PROVIDED: Final = (
    "etf_daily.shares (total shares outstanding): not in a PCF file",
    "etf_daily.nav: pcf_header.nav is the NAV of pre_trading_day, not of date",
    "etfs.name, category, index_code, is_enhanced, list_date: not in a PCF file "
    "(etfs.creation_unit is pcf_header.creation_unit)",
)


@dataclass(frozen=True)
class _Format:
    exchange: str
    etf_suffix: str
    fund_id: str
    cash_component: str
    estimated_cash: str
    record_count: str
    components: str
    code: str
    name: str
    market: str
    quantity: str
    flag: str
    premium: str
    cash_amount: str
    redemption_cash: str | None


SSE: Final = _Format(
    "SSE",
    "SH",
    "FundInstrumentID",
    "PreCashComponent",
    "EstimatedCashComponent",
    "RecordNumber",
    "ComponentList",
    "InstrumentID",
    "InstrumentName",
    "UnderlyingSecurityID",
    "Quantity",
    "SubstitutionFlag",
    "CreationPremiumRate",
    "SubstitutionCashAmount",
    None,
)
SZSE: Final = _Format(
    "SZSE",
    "SZ",
    "SecurityID",
    "CashComponent",
    "EstimateCashComponent",
    "RecordNum",
    "Components",
    "UnderlyingSecurityID",
    "UnderlyingSymbol",
    "UnderlyingSecurityIDSource",
    "ComponentShare",
    "SubstituteFlag",
    "PremiumRatio",
    "CreationCashSubstitute",
    "RedemptionCashSubstitute",
)

HEADER_SCHEMA: Final = pl.Schema(
    {
        "date": pl.Date,
        "etf_code": pl.String,
        "exchange": pl.String,
        "pre_trading_day": pl.Date,
        "creation_unit": pl.Float64,
        "nav_per_cu": pl.Float64,
        "nav": pl.Float64,
        "cash_component": pl.Float64,
        "estimated_cash_component": pl.Float64,
        "max_cash_ratio": pl.Float64,
        **{f"n_{k}": pl.Int64 for k in KINDS},
        "source_file": pl.String,
    }
)
COMPONENT_SCHEMA: Final = pl.Schema(
    {
        "date": pl.Date,
        "etf_code": pl.String,
        "code": pl.String,
        "name": pl.String,
        "market": pl.String,
        "kind": pl.String,
        "quantity": pl.Float64,
        "substitute_flag": pl.Int64,
        "cash_substitute": pl.String,
        "premium_ratio": pl.Float64,
        "cash_amount": pl.Float64,
        "redemption_cash_amount": pl.Float64,
    }
)
#: The columns of a component row tuple, in order (after date and etf_code).
_ROW_COLUMNS: Final = tuple(COMPONENT_SCHEMA)[2:]
HEADER_TABLE: Final = "pcf_header"
COMPONENT_TABLE: Final = "pcf_components"


class PcfFileError(DataContractError):
    """A PCF file that cannot be read: names the file, the element and an example."""

    def __init__(
        self, path: str | Path, element: str, problem: str, example: dict[str, Any] | None = None
    ) -> None:
        self.path = str(path)
        self.element = element
        doc = element == "(document)"
        super().__init__(
            f"file {path} {problem}" if doc else f"file {path}: element <{element}> {problem}",
            table="etf_pcf",
            column=None if doc else element,
            rule="unreadable_file" if doc else "invalid_value",
            examples=pl.DataFrame([example]) if example else None,
            hint="the Shanghai (SSEPortfolioCompositionFile) and Shenzhen (PCFFile) formats "
            "are described in docs/data_sources.md; fix or remove the file, nothing was written",
        )


@dataclass(frozen=True)
class PcfImportSummary:
    """What ``import_pcf`` read and wrote.

    ``counts`` gives the component rows per kind (``a_share`` rows went to ``etf_pcf``; the
    others only to ``pcf_components``); ``replaced_etf_days`` the ETF-days that were already in
    the dataset and were replaced; ``not_provided`` the contract columns a PCF file cannot fill.
    """

    out: Path
    n_files: int
    n_etf_days: int
    first_date: dt.date
    last_date: dt.date
    etf_pcf_rows: int
    counts: dict[str, int]
    by_exchange: dict[str, int]
    replaced_etf_days: int
    not_provided: tuple[str, ...] = field(default=NOT_PROVIDED)


@dataclass
class _Columns:
    """Column lists the parsed files are appended to (one list per output column)."""

    header: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in HEADER_SCHEMA})
    comp: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in COMPONENT_SCHEMA})


_DECL = re.compile(rb"""^<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.:-]+)["']""")
#: (code text, market text) -> exchange suffix, for the pairs already resolved.
_MARKET_CACHE: dict[tuple[str, str | None], str] = {}
_GB = ("gb18030", "gbk", "gb2312", "cp936", "gb-2312")


def decode_xml(data: bytes, path: str | Path) -> bytes:
    """UTF-8 bytes of a PCF file with a UTF-8 declaration, whatever its encoding was.

    The encoding comes from a UTF-8 byte-order mark or the XML declaration; GB18030, GBK and
    GB2312 are decoded as GB18030 (a superset) and re-encoded (expat reads no multi-byte
    encoding but UTF-8). No declaration and no BOM: UTF-8.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:]
    m = _DECL.match(data.lstrip()[:200])
    enc = m.group(1).decode("ascii").lower() if m else "utf-8"
    if enc in ("utf-8", "utf8", "us-ascii", "ascii"):
        return data
    if enc not in _GB:
        raise PcfFileError(
            path,
            "(document)",
            f"declares encoding {enc!r}: only UTF-8 and GB18030/GBK/GB2312 are read",
            {"file": Path(path).name, "encoding": enc},
        )
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise PcfFileError(
            path, "(document)", f"is not valid {enc} text ({exc.reason} at byte {exc.start})"
        ) from None
    body = text.lstrip()
    end = body.index("?>") + 2
    return ('<?xml version="1.0" encoding="UTF-8"?>' + body[end:]).encode("utf-8")


def _is_number(text: str | None) -> bool:
    try:
        float(text) if text is not None else None
    except ValueError:
        return False
    return True


def _number(text: str | None, path: str | Path, element: str, where: dict[str, Any]) -> float:
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise PcfFileError(
            path, element, f"is not a number: {text!r}", {**where, element: text}
        ) from None


def _date(text: str | None, path: str | Path, element: str, where: dict[str, Any]) -> dt.date:
    s = (text or "").strip().replace("-", "")
    try:
        return dt.date(int(s[:4]), int(s[4:6]), int(s[6:8]))
    except ValueError:
        raise PcfFileError(
            path, element, f"is not a date YYYYMMDD: {text!r}", {**where, element: text}
        ) from None


def _market(code: str, market: str | None, path: str | Path, el: str, where: dict) -> str:
    """The exchange suffix of a component from its market code, suffix or code prefix."""
    if "." in code:
        suffix = code.rsplit(".", 1)[1].upper()
        if suffix not in SUFFIXES:
            raise PcfFileError(
                path,
                el,
                f"has an unknown exchange suffix .{suffix} (known: {', '.join(SUFFIXES)})",
                {**where, el: code},
            )
        return suffix
    if market:
        found = MARKETS.get(market)
        if found is None:
            raise PcfFileError(
                path,
                el,
                f"has the unknown market code {market!r} (known: {', '.join(MARKETS)})",
                {**where, el: code, "market": market},
            )
        return found
    if len(code) == 5 and code.isdigit():
        return "HK"
    if len(code) == 6 and code.isdigit():
        if code[0] in "659":
            return "BJ" if code.startswith("92") else "SH"
        if code[0] in "0123":
            return "SZ"
        if code[0] in "48":
            return "BJ"
    raise PcfFileError(
        path,
        el,
        f"has the code {code!r}, which maps to no exchange (no market element, no suffix)",
        {**where, el: code},
    )


def _text(parent: ET.Element, tag: str) -> str | None:
    el = parent.find(tag)
    if el is None or el.text is None:
        return None
    s = el.text.strip()
    return s or None


def parse_pcf_file(path: str | Path, into: _Columns | None = None) -> _Columns:
    """Parse one PCF file (either exchange) and append its rows to ``into``.

    Raises
    ------
    PcfFileError
        Malformed XML, an unknown root element, a missing or non-numeric required element,
        an unknown substitution flag, market code or code suffix; the message names the file,
        the element and an example.
    """
    cols = into if into is not None else _Columns()
    name = Path(path).name
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PcfFileError(path, "(document)", f"cannot be read ({exc.strerror})") from None
    try:
        root = ET.fromstring(decode_xml(data, path))
    except ET.ParseError as exc:
        raise PcfFileError(
            path, "(document)", f"is not well-formed XML ({exc})", {"file": name}
        ) from None
    tag = root.tag
    ns = ""
    if tag.startswith("{"):
        uri, tag = tag[1:].split("}", 1)
        ns = "{" + uri + "}"
        if tag == SZSE_ROOT and uri != SZSE_NAMESPACE:
            raise PcfFileError(
                path, SZSE_ROOT, f"has namespace {uri!r}, expected {SZSE_NAMESPACE!r}"
            )
    if tag == SSE_ROOT:
        fmt = SSE
    elif tag == SZSE_ROOT:
        fmt = SZSE
    else:
        raise PcfFileError(
            path,
            "(document)",
            f"has root <{tag}>: expected <{SSE_ROOT}> (Shanghai) or <{SZSE_ROOT}> (Shenzhen)",
            {"file": name, "root": tag},
        )

    def need(parent: ET.Element, el: str, where: dict[str, Any]) -> str:
        v = _text(parent, ns + el)
        if v is None:
            raise PcfFileError(path, el, "is missing or empty", where)
        return v

    where: dict[str, Any] = {"file": name}
    fund = need(root, fmt.fund_id, where)
    etf = fund if "." in fund else f"{fund}.{fmt.etf_suffix}"
    where["etf"] = etf
    day = _date(need(root, "TradingDay", where), path, "TradingDay", where)
    where["TradingDay"] = day
    pre = _text(root, ns + "PreTradingDay")
    unit = _number(
        need(root, "CreationRedemptionUnit", where), path, "CreationRedemptionUnit", where
    )
    if unit <= 0:
        raise PcfFileError(path, "CreationRedemptionUnit", f"is {unit}, not > 0", where)
    nav_cu = _number(need(root, "NAVperCU", where), path, "NAVperCU", where)

    def opt(parent: ET.Element, el: str | None, w: dict[str, Any]) -> float | None:
        if el is None:
            return None
        v = _text(parent, ns + el)
        return None if v is None else _number(v, path, el, w)

    listing = root.find(ns + fmt.components)
    if listing is None:
        raise PcfFileError(path, fmt.components, "is missing", where)
    counts = dict.fromkeys(KINDS, 0)
    c = cols.comp
    n_rows = 0
    seen: set[str] = set()
    t_code, t_name, t_market = ns + fmt.code, ns + fmt.name, ns + fmt.market
    t_qty, t_flag, t_premium = ns + fmt.quantity, ns + fmt.flag, ns + fmt.premium
    t_cash = ns + fmt.cash_amount
    t_red = ns + fmt.redemption_cash if fmt.redemption_cash else None
    f: dict[str, str | None] = {}
    rows: list[tuple[Any, ...]] = []

    def w(**more: Any) -> dict[str, Any]:
        """The example row of an error (built only when there is one)."""
        return {**where, "component": n_rows, fmt.code: f.get(t_code), **more}

    for comp in listing.iter(ns + "Component"):
        n_rows += 1
        # one pass over the component's children
        f = {ch.tag: (ch.text.strip() or None) if ch.text else None for ch in comp}
        raw_code = f.get(t_code)
        if raw_code is None:
            raise PcfFileError(path, fmt.code, "is missing or empty", w())
        mkey = (raw_code, f.get(t_market))
        market = _MARKET_CACHE.get(mkey) or _market(raw_code, mkey[1], path, fmt.code, w())
        _MARKET_CACHE[mkey] = market
        bare = raw_code.split(".", 1)[0]
        code = f"{bare}.{market}" if market != "OTHER" else raw_code
        if code in seen:
            raise PcfFileError(path, fmt.code, f"lists {code} twice", w())
        seen.add(code)
        qty_text = f.get(t_qty)
        if qty_text is None:
            raise PcfFileError(path, fmt.quantity, "is missing or empty", w())
        try:
            qty = float(qty_text)
        except ValueError:
            raise PcfFileError(
                path, fmt.quantity, f"is not a number: {qty_text!r}", w(**{fmt.quantity: qty_text})
            ) from None
        if qty < 0 or qty != qty:
            raise PcfFileError(path, fmt.quantity, f"is {qty}: must be >= 0", w())
        flag_text = f.get(t_flag)
        try:
            flag = int(flag_text)  # type: ignore[arg-type]
            cash_sub = FLAGS[flag]
        except (TypeError, ValueError, KeyError):
            raise PcfFileError(
                path,
                fmt.flag,
                "is missing or empty"
                if flag_text is None
                else f"is {flag_text!r}: known flags are {', '.join(map(str, FLAGS))}",
                w(**{fmt.flag: flag_text}),
            ) from None
        if market in ("SH", "SZ"):
            kind = "cash" if bare in CASH_CODES or qty == 0 else "a_share"
        else:
            kind = {"HK": "hk", "BJ": "bj"}.get(market, "other")
        counts[kind] += 1
        try:
            v1, v2, v3 = f.get(t_premium), f.get(t_cash), f.get(t_red) if t_red else None
            amounts = (
                None if v1 is None else float(v1),
                None if v2 is None else float(v2),
                None if v3 is None else float(v3),
            )
        except ValueError:
            bad = next(
                (el, f.get(ns + el))
                for el in (fmt.premium, fmt.cash_amount, fmt.redemption_cash or "")
                if not _is_number(f.get(ns + el))
            )
            raise PcfFileError(
                path, bad[0], f"is not a number: {bad[1]!r}", w(**{bad[0]: bad[1]})
            ) from None
        rows.append((code, f.get(t_name), market, kind, qty, flag, cash_sub, *amounts))
    n = len(rows)
    c["date"].extend([day] * n)
    c["etf_code"].extend([etf] * n)
    if rows:
        for name_, values in zip(_ROW_COLUMNS, zip(*rows, strict=True), strict=True):
            c[name_].extend(values)
    declared = _text(root, ns + fmt.record_count)
    if declared is not None and declared.isdigit() and int(declared) != n_rows:
        raise PcfFileError(
            path,
            fmt.record_count,
            f"says {declared} components but the file lists {n_rows}",
            {**where, fmt.record_count: declared, "listed": n_rows},
        )
    h = cols.header
    h["date"].append(day)
    h["etf_code"].append(etf)
    h["exchange"].append(fmt.exchange)
    h["pre_trading_day"].append(None if pre is None else _date(pre, path, "PreTradingDay", where))
    h["creation_unit"].append(unit)
    h["nav_per_cu"].append(nav_cu)
    h["nav"].append(opt(root, "NAV", where))
    h["cash_component"].append(opt(root, fmt.cash_component, where))
    h["estimated_cash_component"].append(opt(root, fmt.estimated_cash, where))
    h["max_cash_ratio"].append(opt(root, "MaxCashRatio", where))
    for k in KINDS:
        h[f"n_{k}"].append(counts[k])
    h["source_file"].append(name)
    return cols


def pcf_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files named, and every ``*.xml`` under the folders named (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.suffix.lower() == ".xml"))
        elif p.is_file():
            out.append(p)
        else:
            raise PcfFileError(p, "(document)", "does not exist")
    if not out:
        raise PcfFileError(
            ", ".join(map(str, paths)) or "(none)", "(document)", "holds no *.xml PCF file"
        )
    return out


def parse_pcf_files(
    files: Sequence[Path], *, progress: Progress | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(header, components)`` frames of the files; an ETF-day given twice is an error."""
    cols = _Columns()
    n = len(files)
    for i, f in enumerate(files):
        parse_pcf_file(f, cols)
        if progress is not None and (i % 200 == 199 or i == n - 1):
            progress("PCF files", i + 1, n)
    header = pl.DataFrame(cols.header, schema=HEADER_SCHEMA)
    dup = header.filter(pl.struct("date", "etf_code").is_duplicated())
    if dup.height:
        first = dup.row(0, named=True)
        same = dup.filter(
            (pl.col("date") == first["date"]) & (pl.col("etf_code") == first["etf_code"])
        )
        raise PcfFileError(
            " and ".join(same["source_file"].to_list()),
            "TradingDay",
            f"repeats the ETF-day {first['etf_code']} {first['date']} ({dup.height} files "
            "share an ETF-day): give each ETF-day once",
            {"etf": first["etf_code"], "TradingDay": first["date"]},
        )
    comp = pl.DataFrame(cols.comp, schema=COMPONENT_SCHEMA)
    return header.sort("date", "etf_code"), comp.sort("date", "etf_code", "code")


def _read_existing(out: Path, table: str) -> pl.DataFrame | None:
    path = table_path(out, table) if out.is_dir() else None
    if path is None:
        return None
    df = scan_table(path).collect()
    if "year" in df.columns:  # the hive partition key, not a column of the table
        df = df.drop("year")
    return df.with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String))


def _merge(old: pl.DataFrame | None, new: pl.DataFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """``new`` plus the rows of ``old`` whose (date, etf_code) is not in ``keys``."""
    if old is None:
        return new
    kept = old.join(keys, on=["date", "etf_code"], how="anti")
    kept = kept.select(
        pl.col(c) if c in kept.columns else pl.lit(None).alias(c) for c in new.columns
    ).cast(new.schema)
    return pl.concat([kept, new]).sort(
        [c for c in ("date", "etf_code", "code") if c in new.columns]
    )


def _codes_categorical(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        pl.col(c).cast(pl.Categorical) for c in ("etf_code", "code") if c in df.columns
    )


def _write_by_year(df: pl.DataFrame, folder: Path) -> None:
    folder.mkdir(parents=True)
    for (year,), part in df.group_by(pl.col("date").dt.year(), maintain_order=True):
        d = folder / f"year={year}"
        d.mkdir()
        _codes_categorical(part).write_parquet(d / "data.parquet", compression="zstd")


def _swap_in(staging: Path, out: Path, names: Sequence[str]) -> None:
    """Move ``staging/<name>`` over ``out/<name>`` for each name; undo all on a failure.

    Each move is one ``os.replace`` (the old entry is first renamed aside), so a reader sees
    either the old or the new table, and a failure in the middle puts every old one back.
    """
    aside = staging / ".old"
    aside.mkdir()
    done: list[tuple[str, bool, bool]] = []  # (name, had an old one, new one in place)
    try:
        for n in names:
            had = (out / n).exists()
            if had:
                os.replace(out / n, aside / n)
            done.append((n, had, False))
            os.replace(staging / n, out / n)
            done[-1] = (n, had, True)
    except BaseException:
        for n, had, placed in reversed(done):
            if placed:
                shutil.rmtree(out / n) if (out / n).is_dir() else (out / n).unlink()
            if had:
                os.replace(aside / n, out / n)
        raise


def import_pcf(
    paths: Iterable[str | Path], out: str | Path, *, progress: Progress | None = None
) -> PcfImportSummary:
    """Import PCF files of both exchanges into the dataset folder ``out``.

    Parameters
    ----------
    paths
        PCF XML files and folders (every ``*.xml`` below a folder is read).
    out
        The dataset folder; created when missing. Existing ETF-days (same ``date`` =
        ``TradingDay`` and ``etf_code``) are replaced, other rows are kept.
    progress
        Optional progress reporter.

    Returns
    -------
    PcfImportSummary
        Files, ETF-days, dates, rows per component kind, replaced ETF-days, and the contract
        columns a PCF file cannot provide.

    Raises
    ------
    PcfFileError
        On any unreadable file (see :func:`parse_pcf_file`), before anything is written.

    Notes
    -----
    Every file is parsed before anything is written. The new tables are written into a
    temporary folder beside ``out`` and moved into place (``os.replace``); a failure leaves
    ``out`` as it was. Point in time: a row dated t comes from the file of ``TradingDay`` t
    only (published before the open of t; its NAV is that of the previous trading day).
    """
    out = Path(out)
    files = pcf_files(paths)
    header, comp = parse_pcf_files(files, progress=progress)
    keys = header.select("date", "etf_code")
    old_header = _read_existing(out, HEADER_TABLE)
    replaced = 0 if old_header is None else old_header.join(keys, on=["date", "etf_code"]).height
    contract = TABLES["etf_pcf"].columns
    pcf = comp.filter(pl.col("kind") == "a_share").select(
        pl.col(c).cast(contract[c]) for c in contract
    )
    pcf = _merge(_read_existing(out, "etf_pcf"), pcf, keys)
    comp_all = _merge(_read_existing(out, COMPONENT_TABLE), comp, keys)
    header_all = _merge(old_header, header, keys)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.pcf-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    staging.mkdir()
    try:
        _write_by_year(pcf, staging / "etf_pcf")
        _write_by_year(comp_all, staging / COMPONENT_TABLE)
        _codes_categorical(header_all).write_parquet(
            staging / f"{HEADER_TABLE}.parquet", compression="zstd"
        )
        names = ["etf_pcf", COMPONENT_TABLE, f"{HEADER_TABLE}.parquet"]
        if not out.exists():
            fresh = staging / ".new"
            fresh.mkdir()
            for n in names:
                os.replace(staging / n, fresh / n)
            os.replace(fresh, out)
        else:
            single = out / "etf_pcf.parquet"  # a single-file etf_pcf gives way to the folder
            if single.is_file():
                os.replace(single, staging / "etf_pcf.single.parquet")
            try:
                _swap_in(staging, out, names)
            except BaseException:
                if (staging / "etf_pcf.single.parquet").exists():
                    os.replace(staging / "etf_pcf.single.parquet", single)
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    counts = {k: int(header[f"n_{k}"].sum()) for k in KINDS}
    by_exchange = dict(header.group_by("exchange").len().sort("exchange").iter_rows())
    summary = PcfImportSummary(
        out=out,
        n_files=len(files),
        n_etf_days=header.height,
        first_date=header["date"].min(),  # type: ignore[arg-type]
        last_date=header["date"].max(),  # type: ignore[arg-type]
        etf_pcf_rows=counts["a_share"],
        counts=counts,
        by_exchange=by_exchange,
        replaced_etf_days=replaced,
    )
    log.info("imported %d PCF files into %s: %s", len(files), out, counts)
    return summary

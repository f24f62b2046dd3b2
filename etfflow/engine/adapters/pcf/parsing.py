"""Reading PCF files of either exchange (:mod:`.formats`) into header and component frames.

The encoding is taken from a byte-order mark or the XML declaration (UTF-8 or
GB18030/GBK/GB2312); a file without either is read as UTF-8. Every check names the file, the
element and an example (:class:`~etfflow.engine.adapters.pcf.formats.PcfFileError`).
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from etfflow._common import Progress
from etfflow.engine.adapters.pcf.formats import (
    _ROW_COLUMNS,
    CASH_CODES,
    COMPONENT_SCHEMA,
    FLAGS,
    HEADER_SCHEMA,
    KINDS,
    MARKETS,
    SSE,
    SSE_ROOT,
    SUFFIXES,
    SZSE,
    SZSE_NAMESPACE,
    SZSE_ROOT,
    PcfFileError,
)


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
    return (
        header.sort("date", "etf_code", maintain_order=True),
        comp.sort("date", "etf_code", "code", maintain_order=True),
    )

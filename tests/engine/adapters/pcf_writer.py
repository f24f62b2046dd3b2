"""Write baskets as the exchanges' PCF XML files (tests and benchmarks only).

``sse_xml`` writes a Shanghai ``SSEPortfolioCompositionFile``, ``szse_xml`` a Shenzhen
``PCFFile`` (namespace ``http://ts.szse.cn/Fund``), with the element names documented in
``docs/data_sources.md``; ``write_market_pcf`` re-expresses a dataset's ``etf_pcf`` (with its
``etfs`` and ``etf_daily``) as one file per ETF per day, Shanghai ETFs in the Shanghai format
and Shenzhen ETFs in the Shenzhen one.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import polars as pl

MARKET_CODES = {"SH": "101", "SZ": "102", "HK": "103", "BJ": "106"}
FLAG_CODES = {"forbidden": 0, "allowed": 1, "required": 2}


@dataclass(frozen=True)
class Component:
    code: str  # with suffix: 600000.SH, 00700.HK, 430047.BJ
    quantity: float
    flag: int = 1
    cash_amount: float | None = None
    premium: float | None = None
    name: str = ""


@dataclass(frozen=True)
class Header:
    fund: str  # six digits, no suffix
    day: dt.date
    pre_day: dt.date
    unit: float
    nav_per_cu: float
    nav: float
    cash_component: float = 0.0
    estimated_cash: float = 0.0


def _num(x: float) -> str:
    return repr(float(x))


def _sub(parent: ET.Element, tag: str, text: str) -> None:
    ET.SubElement(parent, tag).text = text


def _encode(root: ET.Element, encoding: str) -> bytes:
    return ET.tostring(root, encoding=encoding, xml_declaration=True)


def sse_xml(h: Header, comps: list[Component], *, encoding: str = "UTF-8") -> bytes:
    root = ET.Element("SSEPortfolioCompositionFile")
    _sub(root, "FundInstrumentID", h.fund)
    _sub(root, "CreationRedemptionUnit", _num(h.unit))
    _sub(root, "TradingDay", h.day.strftime("%Y%m%d"))
    _sub(root, "PreTradingDay", h.pre_day.strftime("%Y%m%d"))
    _sub(root, "PreCashComponent", _num(h.cash_component))
    _sub(root, "NAVperCU", _num(h.nav_per_cu))
    _sub(root, "NAV", _num(h.nav))
    _sub(root, "EstimatedCashComponent", _num(h.estimated_cash))
    _sub(root, "MaxCashRatio", "0.5")
    _sub(root, "RecordNumber", str(len(comps)))
    lst = ET.SubElement(root, "ComponentList")
    for c in comps:
        code, market = c.code.split(".")
        el = ET.SubElement(lst, "Component")
        _sub(el, "InstrumentID", code)
        _sub(el, "InstrumentName", c.name or code)
        _sub(el, "Quantity", _num(c.quantity))
        _sub(el, "SubstitutionFlag", str(c.flag))
        if c.premium is not None:
            _sub(el, "CreationPremiumRate", _num(c.premium))
        if c.cash_amount is not None:
            _sub(el, "SubstitutionCashAmount", _num(c.cash_amount))
        _sub(el, "UnderlyingSecurityID", MARKET_CODES[market])
    return _encode(root, encoding)


def szse_xml(h: Header, comps: list[Component], *, encoding: str = "UTF-8") -> bytes:
    ns = "http://ts.szse.cn/Fund"
    root = ET.Element("PCFFile", xmlns=ns)
    _sub(root, "Version", "1.0")
    _sub(root, "SecurityID", h.fund)
    _sub(root, "SecurityIDSource", "102")
    _sub(root, "CreationRedemptionUnit", _num(h.unit))
    _sub(root, "EstimateCashComponent", _num(h.estimated_cash))
    _sub(root, "MaxCashRatio", "0.5")
    _sub(root, "Publish", "Y")
    _sub(root, "Creation", "Y")
    _sub(root, "Redemption", "Y")
    _sub(root, "RecordNum", str(len(comps)))
    _sub(root, "TotalRecordNum", str(len(comps)))
    _sub(root, "TradingDay", h.day.strftime("%Y%m%d"))
    _sub(root, "PreTradingDay", h.pre_day.strftime("%Y%m%d"))
    _sub(root, "CashComponent", _num(h.cash_component))
    _sub(root, "NAVperCU", _num(h.nav_per_cu))
    _sub(root, "NAV", _num(h.nav))
    lst = ET.SubElement(root, "Components")
    for c in comps:
        code, market = c.code.split(".")
        el = ET.SubElement(lst, "Component")
        _sub(el, "UnderlyingSecurityID", code)
        _sub(el, "UnderlyingSecurityIDSource", MARKET_CODES[market])
        _sub(el, "UnderlyingSymbol", c.name or code)
        _sub(el, "ComponentShare", _num(c.quantity))
        _sub(el, "SubstituteFlag", str(c.flag))
        if c.premium is not None:
            _sub(el, "PremiumRatio", _num(c.premium))
        if c.cash_amount is not None:
            _sub(el, "CreationCashSubstitute", _num(c.cash_amount))
            _sub(el, "RedemptionCashSubstitute", _num(c.cash_amount))
    return _encode(root, encoding)


def pcf_xml(h: Header, comps: list[Component], *, exchange: str, encoding: str = "UTF-8") -> bytes:
    return (sse_xml if exchange == "SH" else szse_xml)(h, comps, encoding=encoding)


def _comp_sse(code: str, q: float, flag: int) -> str:
    c, m = code.split(".")
    return (
        f"<Component><InstrumentID>{c}</InstrumentID><InstrumentName>{c}</InstrumentName>"
        f"<Quantity>{float(q)!r}</Quantity><SubstitutionFlag>{flag}</SubstitutionFlag>"
        f"<UnderlyingSecurityID>{MARKET_CODES[m]}</UnderlyingSecurityID></Component>"
    )


def _comp_szse(code: str, q: float, flag: int) -> str:
    c, m = code.split(".")
    return (
        f"<Component><UnderlyingSecurityID>{c}</UnderlyingSecurityID>"
        f"<UnderlyingSecurityIDSource>{MARKET_CODES[m]}</UnderlyingSecurityIDSource>"
        f"<UnderlyingSymbol>{c}</UnderlyingSymbol><ComponentShare>{float(q)!r}</ComponentShare>"
        f"<SubstituteFlag>{flag}</SubstituteFlag></Component>"
    )


def fast_pcf_xml(
    h: Header,
    codes: list[str],
    quantities: list[float],
    flags: list[int],
    *,
    exchange: str,
    encoding: str = "UTF-8",
) -> bytes:
    """The bytes of ``pcf_xml(h, [Component(code, q, flag)...])`` (no name, premium or cash
    amount), built from strings: the market writer's fast path (a test checks it is equal)."""
    rows = zip(codes, quantities, flags, strict=True)
    n = len(codes)
    day, pre = h.day.strftime("%Y%m%d"), h.pre_day.strftime("%Y%m%d")
    if exchange == "SH":
        body = (
            f"<SSEPortfolioCompositionFile><FundInstrumentID>{h.fund}</FundInstrumentID>"
            f"<CreationRedemptionUnit>{_num(h.unit)}</CreationRedemptionUnit>"
            f"<TradingDay>{day}</TradingDay><PreTradingDay>{pre}</PreTradingDay>"
            f"<PreCashComponent>{_num(h.cash_component)}</PreCashComponent>"
            f"<NAVperCU>{_num(h.nav_per_cu)}</NAVperCU><NAV>{_num(h.nav)}</NAV>"
            f"<EstimatedCashComponent>{_num(h.estimated_cash)}</EstimatedCashComponent>"
            f"<MaxCashRatio>0.5</MaxCashRatio><RecordNumber>{n}</RecordNumber>"
            + (
                "<ComponentList>" + "".join(_comp_sse(*r) for r in rows) + "</ComponentList>"
                if n
                else "<ComponentList />"
            )
            + "</SSEPortfolioCompositionFile>"
        )
    else:
        body = (
            '<PCFFile xmlns="http://ts.szse.cn/Fund"><Version>1.0</Version>'
            f"<SecurityID>{h.fund}</SecurityID><SecurityIDSource>102</SecurityIDSource>"
            f"<CreationRedemptionUnit>{_num(h.unit)}</CreationRedemptionUnit>"
            f"<EstimateCashComponent>{_num(h.estimated_cash)}</EstimateCashComponent>"
            "<MaxCashRatio>0.5</MaxCashRatio><Publish>Y</Publish><Creation>Y</Creation>"
            f"<Redemption>Y</Redemption><RecordNum>{n}</RecordNum>"
            f"<TotalRecordNum>{n}</TotalRecordNum><TradingDay>{day}</TradingDay>"
            f"<PreTradingDay>{pre}</PreTradingDay>"
            f"<CashComponent>{_num(h.cash_component)}</CashComponent>"
            f"<NAVperCU>{_num(h.nav_per_cu)}</NAVperCU><NAV>{_num(h.nav)}</NAV>"
            + (
                "<Components>" + "".join(_comp_szse(*r) for r in rows) + "</Components>"
                if n
                else "<Components />"
            )
            + "</PCFFile>"
        )
    return f"<?xml version='1.0' encoding='{encoding}'?>\n{body}".encode(encoding)


def write_market_pcf(
    pcf: pl.DataFrame,
    etfs: pl.DataFrame,
    etf_daily: pl.DataFrame,
    folder: Path,
    *,
    encodings: tuple[str, ...] = ("UTF-8", "GB18030"),
) -> list[Path]:
    """One file per (date, etf_code) of ``pcf``, alternating ``encodings``; returns the paths.

    NAV per creation unit is ``nav[t-1] * creation_unit`` (the previous row of ``etf_daily``;
    the day's own NAV on an ETF's first day).
    """
    folder.mkdir(parents=True, exist_ok=True)
    strs = [pl.col(pl.Categorical, pl.Enum).cast(pl.String)]
    pcf = pcf.with_columns(*strs).sort("date", "etf_code", "code")
    unit = dict(etfs.with_columns(*strs).select("etf_code", "creation_unit").iter_rows())
    daily = (
        etf_daily.with_columns(*strs)
        .sort("etf_code", "date")
        .with_columns(
            pl.col("nav").shift(1).over("etf_code").fill_null(pl.col("nav")).alias("pre_nav"),
            pl.col("date").shift(1).over("etf_code").fill_null(pl.col("date")).alias("pre_day"),
        )
    )
    pre = {
        (d, e): (p, n)
        for d, e, p, n in daily.select("date", "etf_code", "pre_day", "pre_nav").iter_rows()
    }
    paths = []
    for i, ((day, etf), part) in enumerate(pcf.group_by("date", "etf_code", maintain_order=True)):
        fund, exchange = etf.split(".")
        pre_day, nav = pre.get((day, etf), (day, 1.0))
        u = unit[etf]
        flags = part["cash_substitute"] if "cash_substitute" in part.columns else None
        codes = part["code"].to_list()
        qty = part["quantity"].to_list()
        flag = [
            1 if f is None else FLAG_CODES[f]
            for f in (flags if flags is not None else [None] * part.height)
        ]
        h = Header(fund, day, pre_day, u, nav * u, nav)
        p = folder / f"{exchange.lower()}_{fund}_{day:%Y%m%d}.xml"
        enc = encodings[i % len(encodings)]
        p.write_bytes(fast_pcf_xml(h, codes, qty, flag, exchange=exchange, encoding=enc))
        paths.append(p)
    return paths

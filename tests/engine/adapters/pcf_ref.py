"""Reference twin of ``etfflow.engine.adapters.pcf`` (tests only): a plain ``xml.dom.minidom``
reading of one PCF file, element by element, into a list of component dicts.

Written separately from the fast parser (no shared helpers) so that the two can disagree.
"""

from __future__ import annotations

import datetime as dt
from xml.dom import minidom

_MARKET = {"101": "SH", "102": "SZ", "103": "HK", "106": "BJ"}
_FLAG = {0: "forbidden", 1: "allowed", 2: "required", 3: "allowed", 4: "required"}
_FLAG |= {5: "allowed", 6: "required"}


def _child_text(node: minidom.Element, name: str) -> str | None:
    for ch in node.childNodes:
        if ch.nodeType == ch.ELEMENT_NODE and ch.localName == name:
            return "".join(t.data for t in ch.childNodes if t.nodeType == t.TEXT_NODE).strip()
    return None


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    head = data[:100].decode("ascii", "replace").lower()
    if "gb18030" in head or "gbk" in head or "gb2312" in head:
        return data.decode("gb18030")
    return data.decode("utf-8")


def read_pcf_reference(data: bytes) -> tuple[dict, list[dict]]:
    """``(header, components)`` of one file; components carry date, etf_code, code, kind,
    quantity, cash_substitute."""
    text = _decode(data)
    body = text[text.index("?>") + 2 :] if text.lstrip().startswith("<?xml") else text
    doc = minidom.parseString(body.encode("utf-8"))
    root = doc.documentElement
    sse = root.localName == "SSEPortfolioCompositionFile"
    fund = _child_text(root, "FundInstrumentID" if sse else "SecurityID")
    etf = f"{fund}.{'SH' if sse else 'SZ'}"
    day_s = _child_text(root, "TradingDay") or ""
    day = dt.date(int(day_s[:4]), int(day_s[4:6]), int(day_s[6:]))
    header = {
        "date": day,
        "etf_code": etf,
        "creation_unit": float(_child_text(root, "CreationRedemptionUnit") or "nan"),
        "nav_per_cu": float(_child_text(root, "NAVperCU") or "nan"),
    }
    rows = []
    for comp in root.getElementsByTagNameNS("*", "Component"):
        code = _child_text(comp, "InstrumentID" if sse else "UnderlyingSecurityID") or ""
        market = _MARKET[
            _child_text(comp, "UnderlyingSecurityID" if sse else "UnderlyingSecurityIDSource") or ""
        ]
        q = float(_child_text(comp, "Quantity" if sse else "ComponentShare") or "nan")
        flag = int(_child_text(comp, "SubstitutionFlag" if sse else "SubstituteFlag") or "-1")
        if market in ("SH", "SZ"):
            kind = "cash" if code == "159900" or q == 0 else "a_share"
        else:
            kind = market.lower()
        rows.append(
            {
                "date": day,
                "etf_code": etf,
                "code": f"{code}.{market}",
                "kind": kind,
                "quantity": q,
                "cash_substitute": _FLAG[flag],
            }
        )
    return header, rows

"""The two PCF formats (申购赎回清单) of the exchanges: element names, codes and output schemas.

Told apart by their root element:

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
``docs/data_sources.md``. :mod:`etfflow.engine.adapters.pcf.parsing` reads the files with these
names; :mod:`etfflow.engine.adapters.pcf` writes the frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import polars as pl

from etfflow.exceptions import DataContractError

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

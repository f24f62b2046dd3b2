"""The Tushare endpoints ``etfflow fetch tushare`` downloads: fields, types, splits, page caps.

Each :class:`Endpoint` says which fields are requested (with Tushare's documented type), which
of them the import needs (``required``: an answer without one is an error), the documented row
cap of one answer (the page size), and how the date range is split into requests:

``once``
    Reference lists (one request per fixed parameter set, e.g. ``list_status=L``). They are a
    snapshot "as of" the fetch: the file is named ``...,through=END`` and fetched again when a
    later ``--end`` is asked (the older snapshot is then deleted).
``year``
    ``trade_cal``: one request per calendar year (the exchanges publish a year's calendar).
``trade_date``
    One request per open day of the trading calendar between ``--start`` and ``--end``.
``month`` / ``year_code``
    One request per (code, calendar month) or (code, calendar year), the codes from
    :attr:`Endpoint.codes` (tracked indices of ``etf_basic``, or :func:`index_codes`: the style
    and benchmark indices plus ``--indices``); a period that ends after ``--end`` is requested
    up to ``--end`` and named ``through=END`` until a later run completes it.
``quarter``
    ``fund_portfolio``: one request per report period (quarter end) from two quarters before
    ``--start`` to ``--end``; a period is final once ``--end`` is 92 days past it (annual
    reports are due three months after the year end); before, it is named ``through=END``.

Field names, types and units are Tushare's, checked against its documentation (the URL of each
endpoint is in :attr:`Endpoint.doc`); the units matter to the import (``etfflow import
tushare``): ``daily.vol`` / ``fund_daily.vol`` 手 (100 shares or fund units),
``daily.amount`` / ``fund_daily.amount`` 千元, ``daily_basic.float_share`` /
``total_share`` 万股, ``circ_mv`` / ``total_mv`` 万元, ``turnover_rate`` %,
``etf_share_size.total_share`` 万份, ``total_size`` 万元, ``index_weight.weight`` %,
``fund_basic.issue_amount`` 亿份, ``fund_portfolio.mkv`` 元 and ``amount`` 股,
``etf_sh_cons`` / ``etf_sz_cons.qty`` 股 per creation unit.

``etf_sh_cons`` / ``etf_sz_cons`` are Tushare's daily ETF baskets ("ETF每日持仓组合", the PCF
component lists); the PCF headers (creation unit, cash component) are ``etf_bs_sh_detail`` /
``etf_bs_sz_detail`` ("ETF公告申购赎回清单明细"; Shanghai from 2025-07-25 only).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from etfflow.exceptions import EtfflowError

Split = Literal["once", "year", "trade_date", "month", "year_code", "quarter"]

#: Style and size indices of the industry rotation's regimes (Huafu 2026-02): CSI 300,
#: CSI 1000, CNI Growth, CNI Value; ``index_daily`` is fetched for these.
STYLE_INDICES: tuple[str, ...] = ("000300.SH", "000852.SH", "399370.SZ", "399371.SZ")
#: The usual benchmarks (``etfflow backtest --benchmark CODE``), under Tushare's codes (the
#: suffix names the publisher: ``.SH`` SSE and the older CSI indices, ``.SZ`` SZSE/CNI,
#: ``.CSI`` China Securities Index): SSE Composite, SSE 50, CSI 300, CSI 500, CSI 1000,
#: CSI 2000, SZSE Component, ChiNext, STAR 50. ``index_daily`` is fetched for these too.
BENCHMARK_INDICES: tuple[str, ...] = (
    "000001.SH",
    "000016.SH",
    "000300.SH",
    "000905.SH",
    "000852.SH",
    "932000.CSI",
    "399001.SZ",
    "399006.SZ",
    "000688.SH",
)
#: ``--indices tracked``: every index tracked by an ETF of ``etf_basic`` (one request per
#: index and year: about a thousand indices).
TRACKED = "tracked"
_INDEX_CODE = re.compile(r"^[0-9A-Z]{3,10}\.[A-Z]{2,4}$")


def index_codes(extra: Sequence[str] = ()) -> list[str]:
    """The indices ``index_daily`` is fetched for: :data:`STYLE_INDICES`,
    :data:`BENCHMARK_INDICES` and ``extra`` (Tushare codes with their suffix; the word
    :data:`TRACKED` is resolved by the fetch), without repeats, in that order."""
    out: list[str] = []
    for code in (*STYLE_INDICES, *BENCHMARK_INDICES, *extra):
        code = code.strip()
        if code == TRACKED or not code:
            continue
        if not _INDEX_CODE.match(code):
            raise EtfflowError(
                f"--indices: {code!r} is not a Tushare index code: give the code with its "
                "suffix, e.g. 000300.SH (CSI 300), 399006.SZ (ChiNext), 932000.CSI (CSI 2000), "
                f"or the word {TRACKED!r} (every index tracked by an ETF)"
            )
        if code not in out:
            out.append(code)
    return out


@dataclass(frozen=True)
class Endpoint:
    """One Tushare endpoint as fetched: see the module docstring for ``split``.

    ``fields`` maps each requested field to its documented type (``str``/``float``/``int``);
    ``required`` are the fields an answer must have; ``params`` the fixed parameter sets
    (one request each, for ``once``); ``date_param`` the parameter carrying the day of a
    ``trade_date`` split (``nav_date`` for ``fund_nav``); ``code_param`` the parameter carrying
    the code of a per-code split and ``codes`` where the codes come from (``etf_index``: the
    ``index_code`` of ``etf_basic``; ``indices``: :func:`index_codes`).
    """

    api_name: str
    split: Split
    fields: dict[str, str]
    required: tuple[str, ...]
    cap: int
    doc: str
    params: tuple[dict[str, str], ...] = ({},)
    date_param: str = "trade_date"
    code_param: str = "ts_code"
    codes: Literal["", "etf_index", "indices"] = ""
    note: str = ""

    def __post_init__(self) -> None:
        unknown = [f for f in self.required if f not in self.fields]
        if unknown:
            raise ValueError(f"{self.api_name}: required fields {unknown} are not requested")


def _f(spec: str) -> dict[str, str]:
    """``"ts_code trade_date close:float"`` -> ``{"ts_code": "str", ...}`` (``str`` default)."""
    out: dict[str, str] = {}
    for part in spec.split():
        name, _, kind = part.partition(":")
        out[name] = kind or "str"
    return out


DOC = "https://tushare.pro/document/2?doc_id="

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "trade_cal",
        "year",
        _f("exchange cal_date is_open pretrade_date"),  # is_open documented str "0"/"1"
        ("cal_date", "is_open"),
        cap=5000,
        doc=f"{DOC}26 and https://tushare.pro/document/1?doc_id=40",
        params=({"exchange": "SSE"},),
    ),
    Endpoint(
        "stock_basic",
        "once",
        _f("ts_code symbol name area industry market exchange list_status list_date delist_date"),
        ("ts_code", "name", "market", "list_status", "list_date", "delist_date"),
        cap=6000,
        doc=f"{DOC}25",
        params=({"list_status": "L"}, {"list_status": "D"}, {"list_status": "P"}),
        note="list_status L listed, D delisted, P suspended listing (default is L only)",
    ),
    Endpoint(
        "namechange",
        "once",
        _f("ts_code name start_date end_date ann_date change_reason"),
        ("ts_code", "name", "start_date", "end_date", "change_reason"),
        cap=5000,
        doc=f"{DOC}100",
        note="name history: ST / *ST spells before stock_st's 2016 start",
    ),
    Endpoint(
        "ci_index_member",
        "once",
        _f("l1_code l1_name l2_code l2_name l3_code l3_name ts_code name in_date out_date is_new"),
        ("l1_code", "l1_name", "l2_code", "l2_name", "ts_code", "in_date", "out_date"),
        cap=5000,
        doc=f"{DOC}373",
        params=({"is_new": "Y"}, {"is_new": "N"}),
        note="CITIC levels with in/out dates; is_new defaults to Y (current members only)",
    ),
    Endpoint(
        "etf_basic",
        "once",
        _f(
            "ts_code csname extname cname index_code index_name setup_date list_date "
            "list_status exchange mgr_name etf_type"
        ),
        ("ts_code", "csname", "index_code", "index_name", "list_date", "list_status"),
        cap=5000,
        doc=f"{DOC}385",
    ),
    Endpoint(
        "fund_basic",
        "once",
        _f(
            "ts_code name management fund_type found_date due_date list_date issue_date "
            "delist_date issue_amount:float invest_type type status market benchmark"
        ),
        ("ts_code", "name", "fund_type", "found_date", "issue_date", "issue_amount", "market"),
        cap=15000,
        doc=f"{DOC}19",
        params=({"market": "E"}, {"market": "O"}),
        note="E exchange-traded, O over the counter (active funds); issue_amount 亿份",
    ),
    Endpoint(
        "daily",
        "trade_date",
        _f(
            "ts_code trade_date open:float high:float low:float close:float pre_close:float "
            "pct_chg:float vol:float amount:float"
        ),
        ("ts_code", "trade_date", "close", "pre_close", "vol", "amount"),
        cap=6000,
        doc=f"{DOC}27",
        note="unadjusted; no row on a suspended day; vol 手, amount 千元",
    ),
    Endpoint(
        "daily_basic",
        "trade_date",
        _f(
            "ts_code trade_date close:float turnover_rate:float total_share:float "
            "float_share:float free_share:float total_mv:float circ_mv:float"
        ),
        ("ts_code", "trade_date", "float_share", "total_share", "circ_mv", "total_mv"),
        cap=6000,
        doc=f"{DOC}32",
        note="shares 万股, market values 万元, turnover_rate %",
    ),
    Endpoint(
        "stk_limit",
        "trade_date",
        _f("trade_date ts_code pre_close:float up_limit:float down_limit:float"),
        ("trade_date", "ts_code", "up_limit", "down_limit"),
        cap=5800,
        doc=f"{DOC}183",
    ),
    Endpoint(
        "suspend_d",
        "trade_date",
        _f("ts_code trade_date suspend_timing suspend_type"),
        ("ts_code", "trade_date", "suspend_type"),
        cap=5000,
        doc=f"{DOC}214",
        note="suspend_type S suspended, R resumed; suspend_timing set for intraday halts",
    ),
    Endpoint(
        "stock_st",
        "trade_date",
        _f("ts_code name trade_date type type_name"),
        ("ts_code", "trade_date", "type"),
        cap=1000,
        doc=f"{DOC}397",
        note="daily ST list, from 2016-01-01",
    ),
    Endpoint(
        "etf_share_size",
        "trade_date",
        _f(
            "trade_date ts_code etf_name total_share:float total_size:float nav:float "
            "close:float exchange"
        ),
        ("trade_date", "ts_code", "total_share", "total_size"),
        cap=5000,
        doc=f"{DOC}408",
        note="total_share 万份, total_size 万元, nav and close 元",
    ),
    Endpoint(
        "fund_daily",
        "trade_date",
        _f(
            "ts_code trade_date open:float high:float low:float close:float pre_close:float "
            "change:float pct_chg:float vol:float amount:float"
        ),
        ("ts_code", "trade_date", "close", "vol", "amount"),
        cap=2000,
        doc=f"{DOC}127",
        note="exchange-traded funds' daily bars (ETFs, LOFs); vol 手, amount 千元",
    ),
    Endpoint(
        "etf_sh_cons",
        "trade_date",
        _f("trade_date ts_code con_code con_name qty:float sub_flag sca:float exchange"),
        ("trade_date", "ts_code", "con_code", "qty", "sub_flag", "exchange"),
        cap=3000,
        doc=f"{DOC}471",
        note="Shanghai ETF baskets; qty 股 per creation unit, sca 元",
    ),
    Endpoint(
        "etf_sz_cons",
        "trade_date",
        _f(
            "trade_date ts_code con_code con_name qty:float sub_flag sub_cc:float "
            "red_cc:float exchange"
        ),
        ("trade_date", "ts_code", "con_code", "qty", "sub_flag", "exchange"),
        cap=3000,
        doc=f"{DOC}472",
        note="Shenzhen ETF baskets, with the cash row (申赎现金); sub_cc / red_cc 元",
    ),
    Endpoint(
        "etf_bs_sh_detail",
        "trade_date",
        _f(
            "ann_date trade_date ts_code pre_cash_component navpercu nav:float "
            "estimated_cash_component:float creation_redemption_unit:float"
        ),
        ("trade_date", "ts_code", "creation_redemption_unit"),
        cap=5000,
        doc=f"{DOC}535",
        note="Shanghai PCF headers (from 2025-07-25): creation unit in fund shares",
    ),
    Endpoint(
        "etf_bs_sz_detail",
        "trade_date",
        _f(
            "ann_date trade_date ts_code pre_cash_component navpercu nav:float "
            "estimated_cash_component:float creation_redemption_unit:float"
        ),
        ("trade_date", "ts_code", "creation_redemption_unit"),
        cap=5000,
        doc=f"{DOC}536",
        note="Shenzhen PCF headers: creation unit in fund shares",
    ),
    Endpoint(
        "fund_nav",
        "trade_date",
        _f(
            "ts_code ann_date nav_date unit_nav:float accum_nav:float net_asset:float "
            "total_netasset:float adj_nav:float"
        ),
        ("ts_code", "nav_date", "unit_nav"),
        cap=2000,
        doc=f"{DOC}119",
        date_param="nav_date",
    ),
    Endpoint(
        "index_weight",
        "month",
        _f("index_code con_code trade_date weight:float"),
        ("index_code", "con_code", "trade_date", "weight"),
        cap=2000,
        doc=f"{DOC}96",
        code_param="index_code",
        codes="etf_index",
        note="monthly snapshots, weight %; requested per tracked index and calendar month",
    ),
    Endpoint(
        "index_daily",
        "year_code",
        _f("ts_code trade_date close:float pre_close:float pct_chg:float"),
        ("ts_code", "trade_date", "close"),
        cap=8000,
        doc=f"{DOC}95",
        codes="indices",
        note="closes in points; the style and benchmark indices plus --indices",
    ),
    Endpoint(
        "fund_portfolio",
        "quarter",
        _f(
            "ts_code ann_date end_date symbol mkv:float amount:float stk_mkv_ratio:float "
            "stk_float_ratio:float"
        ),
        ("ts_code", "ann_date", "end_date", "symbol", "mkv", "amount"),
        cap=2000,
        doc=f"{DOC}121",
        note="holdings per report period (param period), with the announcement date",
    ),
)

#: The catalogue by name, in fetch order (``trade_cal`` first, then the lists, the per-day
#: tables and the per-code tables, whose codes come from the lists).
CATALOGUE: dict[str, Endpoint] = {e.api_name: e for e in ENDPOINTS}
#: Lag after a report period's end from which its holdings count as fully disclosed.
PORTFOLIO_FINAL_DAYS = 92


def select(names: list[str] | None) -> list[Endpoint]:
    """The endpoints named (all by default), in catalogue order; ``trade_cal`` is always
    included (the per-day splits need the calendar), ``etf_basic`` when ``index_weight`` is
    asked (its tracked indices)."""
    if not names:
        return list(ENDPOINTS)
    unknown = [n for n in names if n not in CATALOGUE]
    if unknown:
        raise EtfflowError(
            f"unknown tushare endpoint(s) {unknown}: choose from {', '.join(CATALOGUE)}"
        )
    want = {*names, "trade_cal"}
    if "index_weight" in want:
        want.add("etf_basic")
    return [e for e in ENDPOINTS if e.api_name in want]

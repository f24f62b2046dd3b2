"""The data contract: every input table, its key, and each column declared once.

Each column is a :class:`~etfflow.engine.contract.Column` (dtype, nullable, value checks,
reference); the ``pl.Schema`` views (``TableSpec.columns``) and every validation rule are
derived from these declarations, and every rule name is in ``contract.RULES``.

A dataset is a folder holding one Parquet file (``<table>.parquet``) or one hive-partitioned
folder (``<table>/...``) per table. Codes carry the exchange suffix (``600519.SH``,
``510300.SH``); dates are ``pl.Date``; money (CNY) and shares are ``Float64``.

String columns may be stored as ``String``, ``Categorical`` or ``Enum`` (dictionary encoded
Parquet): all three read as the same strings. The synthetic market stores codes as
``Categorical`` so that the look-through can turn them into integer indices without a join.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from etfflow.engine.contract import (
    RULES,
    Column,
    finite,
    ge0,
    gt0,
    isin,
    month_start,
    not_before,
    optional,
    warn_zero,
    weekday,
)

BOARDS: tuple[str, ...] = ("SH_MAIN", "SZ_MAIN", "CHINEXT", "STAR")
ETF_CATEGORIES: tuple[str, ...] = ("broad", "sector", "style")
ISSUANCE_KINDS: tuple[str, ...] = ("etf", "active")
CASH_SUBSTITUTE_FLAGS: tuple[str, ...] = ("forbidden", "allowed", "required")

#: Tolerance for "weights of one snapshot sum to 1".
WEIGHT_SUM_TOL = 1e-6


@dataclass(frozen=True)
class TableSpec:
    """One table of the contract: one :class:`~etfflow.engine.contract.Column` per column.

    ``key`` lists the columns that identify a row (checked for duplicates); ``one_of`` lists
    groups of optional columns of which at least one must be present and non-null
    (``holding_weights`` is keyed by ``etf_code`` or by ``index_code``); ``checks`` names the
    table-level rules of the catalogue (rules over several rows or tables). ``required``,
    ``optional`` and ``columns`` are the ``pl.Schema`` views of the declarations.
    """

    name: str
    key: tuple[str, ...]
    declared: tuple[Column, ...]
    one_of: tuple[tuple[str, ...], ...] = ()
    checks: tuple[str, ...] = ()
    doc: str = ""

    def __post_init__(self) -> None:
        names = [c.name for c in self.declared]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name}: a column is declared twice")
        unknown = [r for r in self.checks if r not in RULES]
        if unknown:
            raise KeyError(f"table {self.name}: unknown rules {unknown}")

    @property
    def required(self) -> pl.Schema:
        return pl.Schema({c.name: c.dtype for c in self.declared if c.required})

    @property
    def optional(self) -> pl.Schema:
        return pl.Schema({c.name: c.dtype for c in self.declared if not c.required})

    @property
    def columns(self) -> pl.Schema:
        return pl.Schema({c.name: c.dtype for c in self.declared})

    def column(self, name: str) -> Column:
        for c in self.declared:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name} declares no column {name!r}")


S, F, D, B = pl.String, pl.Float64, pl.Date, pl.Boolean
C, opt = Column, optional
#: References: a value must be found in this (table, column).
STOCK = ("stocks", "code")
ETF = ("etfs", "etf_code")
FUND = ("active_funds", "fund_code")
DAY = ("stock_daily", "date")  # the trading calendar
#: Prices, money, shares, quantities, weights: >= 0 (and finite).
MONEY = (ge0(),)

STOCKS = TableSpec(
    "stocks",
    key=("code",),
    declared=(
        C("code", S),
        C("name", S),
        C("board", S, checks=(isin(BOARDS),)),
        C("list_date", D),
        opt("delist_date", D, checks=(not_before("list_date", "delist_before_list"),)),
    ),
    doc="one row a stock; board in SH_MAIN, SZ_MAIN, CHINEXT, STAR",
)
STOCK_INDUSTRY = TableSpec(
    "stock_industry",
    key=("code", "start_date"),
    declared=(
        C("code", S, ref=STOCK),
        C("start_date", D),
        C("industry_l1", S),
        C("industry_l2", S),
        opt("end_date", D, checks=(not_before("start_date", "end_before_start"),)),
    ),
    checks=("overlapping_interval",),
    doc="CITIC level-1/level-2 industry, in force from start_date to end_date "
    "(inclusive; null = open)",
)
STOCK_DAILY = TableSpec(
    "stock_daily",
    key=("date", "code"),
    declared=(
        C("date", D, checks=(weekday(),)),
        C("code", S, ref=STOCK),
        C("close", F, checks=MONEY),
        C("ret", F, checks=(finite(),)),
        C("float_mcap", F, checks=MONEY),
        C("is_st", B),
        C("is_suspended", B),
        opt("total_mcap", F, checks=MONEY),
        opt("amount", F, checks=MONEY),
        opt("turnover", F, checks=MONEY),
        opt("up_limit", F, checks=MONEY),
        opt("down_limit", F, checks=MONEY),
    ),
    checks=("no_industry", "outside_listing"),
    doc="one row per listed stock per trading day; a suspended day carries the last close, "
    "ret 0 and is_suspended; no row = not listed. Its dates are the trading calendar.",
)
ETFS = TableSpec(
    "etfs",
    key=("etf_code",),
    declared=(
        C("etf_code", S),
        C("name", S),
        C("category", S, checks=(isin(ETF_CATEGORIES),)),
        C("index_code", S),
        C("is_enhanced", B),
        C("creation_unit", F, nullable=True, checks=(gt0(),)),
        C("list_date", D),
        opt("delist_date", D, checks=(not_before("list_date", "delist_before_list"),)),
    ),
    doc="equity ETFs; category in broad, sector, style; creation_unit in fund shares per "
    "creation unit, null = unknown (the ETF is left out of the PCF look-through at basket "
    "valuation, the only computation that divides by it)",
)
ETF_DAILY = TableSpec(
    "etf_daily",
    key=("date", "etf_code"),
    declared=(
        C("date", D, ref=DAY),
        C("etf_code", S, ref=ETF),
        C("shares", F, checks=(ge0(), warn_zero("zero_shares"))),
        C("nav", F, checks=MONEY),
        opt("close", F, checks=MONEY),
        opt("amount", F, checks=MONEY),
    ),
    checks=("outside_listing",),
    doc="shares = total shares outstanding; one row per listed ETF per trading day",
)
ETF_PCF = TableSpec(
    "etf_pcf",
    key=("date", "etf_code", "code"),
    declared=(
        C("date", D, ref=DAY),
        C("etf_code", S, ref=ETF),
        C("code", S, ref=STOCK),
        C("quantity", F, checks=(ge0(), warn_zero("zero_quantity"))),
        opt("cash_substitute", S, checks=(isin(CASH_SUBSTITUTE_FLAGS),)),
    ),
    checks=("unpriced_component", "no_basket", "basket_without_daily"),
    doc="daily creation/redemption basket: component shares per creation unit",
)
HOLDING_WEIGHTS = TableSpec(
    "holding_weights",
    key=("date", "etf_code", "index_code", "code"),
    declared=(
        C("date", D, ref=DAY),
        C("code", S, ref=STOCK),
        C("weight", F, checks=(ge0(), warn_zero("zero_weight"))),
        opt("etf_code", S, ref=ETF),
        opt("index_code", S),
    ),
    one_of=(("etf_code", "index_code"),),
    checks=("weight_sum",),
    doc="weight snapshot (per ETF, or per tracked index when etf_code is null/absent) in force "
    "from date until the next snapshot; weights of one snapshot sum to 1",
)
INDEX_DAILY = TableSpec(
    "index_daily",
    key=("date", "index_code"),
    declared=(C("date", D, ref=DAY), C("index_code", S), C("close", F, checks=MONEY)),
    doc="index closes (CSI 300, CSI 1000, growth, value) for the style regimes of the industry "
    "rotation (Huafu 2026-02)",
)
ACTIVE_FUNDS = TableSpec(
    "active_funds",
    key=("fund_code",),
    declared=(C("fund_code", S), C("name", S), C("fund_type", S)),
    doc="active equity funds (industry rotation, Huafu 2026-02)",
)
ACTIVE_HOLDINGS = TableSpec(
    "active_holdings",
    key=("report_date", "fund_code", "code"),
    declared=(
        C("report_date", D),
        C("fund_code", S, ref=FUND),
        C("code", S, ref=STOCK),
        C("disclose_date", D, checks=(not_before("report_date", "disclose_before_report"),)),
        C("mv", F, checks=MONEY),
        C("is_full", B),
    ),
    doc="quarterly top-10 (is_full false) and semi-annual full (is_full true) disclosures",
)
FUND_NAV = TableSpec(
    "fund_nav",
    key=("date", "fund_code"),
    declared=(C("date", D, ref=DAY), C("fund_code", S, ref=FUND), C("nav", F, checks=MONEY)),
    doc="active fund daily unit NAV",
)
FUND_ISSUANCE = TableSpec(
    "fund_issuance",
    key=("month", "kind"),
    declared=(
        C("month", D, checks=(month_start(),)),
        C("kind", S, checks=(isin(ISSUANCE_KINDS),)),
        C("new_shares", F, checks=MONEY),
    ),
    doc="monthly new-issuance shares (month = first day of the month); kind in etf, active",
)

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        STOCKS,
        STOCK_INDUSTRY,
        STOCK_DAILY,
        ETFS,
        ETF_DAILY,
        ETF_PCF,
        HOLDING_WEIGHTS,
        INDEX_DAILY,
        ACTIVE_FUNDS,
        ACTIVE_HOLDINGS,
        FUND_NAV,
        FUND_ISSUANCE,
    )
}

#: Tables every dataset must have.
CORE_TABLES: tuple[str, ...] = ("stocks", "stock_industry", "stock_daily", "etfs", "etf_daily")
#: Holdings: at least one of these (PCF mode needs etf_pcf, weights mode holding_weights).
HOLDINGS_TABLES: tuple[str, ...] = ("etf_pcf", "holding_weights")
#: Only used by the industry-rotation module (Huafu 2026-02).
ROTATION_TABLES: tuple[str, ...] = (
    "index_daily",
    "active_funds",
    "active_holdings",
    "fund_nav",
    "fund_issuance",
)

#: Dtypes accepted for a column declared ``pl.String``.
STRING_LIKE = (pl.String, pl.Categorical, pl.Enum)


def is_string_like(dtype: pl.DataType) -> bool:
    return isinstance(dtype, STRING_LIKE) or dtype in STRING_LIKE


def dtype_matches(declared: pl.DataType, actual: pl.DataType) -> bool:
    """Whether ``actual`` satisfies the ``declared`` contract dtype."""
    if declared == pl.String:
        return is_string_like(actual)
    return actual == declared


# Output tables of the look-through (docs/methodology.md#2-look-through), used by the store
# and the CLI export.
STOCK_FLOW_SCHEMA = pl.Schema(
    {
        "date": D,
        "code": S,
        "n_etf": pl.Int32,
        "n_index": pl.Int32,
        "share_passive_fund": F,
        "share_passive": F,
        "mv_passive": F,
        "w_passive": F,
        "inflow": F,
        "float_mcap": F,
    }
)
#: Daily 整体法 aggregates per group; ``level`` is the grouping (``industry_l1``,
#: ``industry_l2``, ``board``, ``cap_quintile``), ``group_name`` its label (industry name,
#: board, Q1..Q5).
GROUP_FLOW_SCHEMA = pl.Schema(
    {
        "date": D,
        "level": S,
        "group_name": S,
        "n_stock": pl.Int32,
        "n_held": pl.Int32,
        "coverage": F,
        "n_etf": pl.Int32,
        "n_index": pl.Int32,
        "share_passive_fund": F,
        "share_passive": F,
        "mv_passive": F,
        "float_mcap": F,
        "w_passive": F,
        "inflow": F,
    }
)
GROUP_LEVELS: tuple[str, ...] = ("industry_l1", "industry_l2", "board", "cap_quintile")

"""The data contract: every input table, its key, and its columns with dtypes, declared once.

A dataset is a folder holding one Parquet file (``<table>.parquet``) or one hive-partitioned
folder (``<table>/...``) per table. Codes carry the exchange suffix (``600519.SH``,
``510300.SH``); dates are ``pl.Date``; money (CNY) and shares are ``Float64``.

String columns may be stored as ``String``, ``Categorical`` or ``Enum`` (dictionary encoded
Parquet): all three read as the same strings. The synthetic market stores codes as
``Categorical`` so that the look-through can turn them into integer indices without a join.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

BOARDS: tuple[str, ...] = ("SH_MAIN", "SZ_MAIN", "CHINEXT", "STAR")
ETF_CATEGORIES: tuple[str, ...] = ("broad", "sector", "style")
ISSUANCE_KINDS: tuple[str, ...] = ("etf", "active")
CASH_SUBSTITUTE_FLAGS: tuple[str, ...] = ("forbidden", "allowed", "required")

#: Tolerance for "weights of one snapshot sum to 1".
WEIGHT_SUM_TOL = 1e-6


@dataclass(frozen=True)
class TableSpec:
    """One table of the contract.

    ``required`` and ``optional`` map column names to dtypes; ``key`` lists the columns that
    identify a row; ``one_of`` lists groups of columns of which at least one must be present
    (``holding_weights`` is keyed by ``etf_code`` or by ``index_code``).
    """

    name: str
    key: tuple[str, ...]
    required: pl.Schema
    optional: pl.Schema = field(default_factory=lambda: pl.Schema({}))
    one_of: tuple[tuple[str, ...], ...] = ()
    doc: str = ""

    @property
    def columns(self) -> pl.Schema:
        return pl.Schema({**dict(self.required), **dict(self.optional)})


S, F, D, B = pl.String, pl.Float64, pl.Date, pl.Boolean

STOCKS = TableSpec(
    "stocks",
    key=("code",),
    required=pl.Schema({"code": S, "name": S, "board": S, "list_date": D}),
    optional=pl.Schema({"delist_date": D}),
    doc="one row a stock; board in SH_MAIN, SZ_MAIN, CHINEXT, STAR",
)
STOCK_INDUSTRY = TableSpec(
    "stock_industry",
    key=("code", "start_date"),
    required=pl.Schema({"code": S, "start_date": D, "industry_l1": S, "industry_l2": S}),
    optional=pl.Schema({"end_date": D}),
    doc="CITIC level-1/level-2 industry, in force from start_date to end_date "
    "(inclusive; null = open)",
)
STOCK_DAILY = TableSpec(
    "stock_daily",
    key=("date", "code"),
    required=pl.Schema(
        {
            "date": D,
            "code": S,
            "close": F,
            "ret": F,
            "float_mcap": F,
            "is_st": B,
            "is_suspended": B,
        }
    ),
    optional=pl.Schema(
        {
            "total_mcap": F,
            "amount": F,
            "turnover": F,
            "up_limit": F,
            "down_limit": F,
        }
    ),
    doc="one row per listed stock per trading day; a suspended day carries the last close, "
    "ret 0 and is_suspended; no row = not listed. Its dates are the trading calendar.",
)
ETFS = TableSpec(
    "etfs",
    key=("etf_code",),
    required=pl.Schema(
        {
            "etf_code": S,
            "name": S,
            "category": S,
            "index_code": S,
            "is_enhanced": B,
            "creation_unit": F,
            "list_date": D,
        }
    ),
    optional=pl.Schema({"delist_date": D}),
    doc="equity ETFs; category in broad, sector, style; creation_unit in fund shares",
)
ETF_DAILY = TableSpec(
    "etf_daily",
    key=("date", "etf_code"),
    required=pl.Schema({"date": D, "etf_code": S, "shares": F, "nav": F}),
    optional=pl.Schema({"close": F, "amount": F}),
    doc="shares = total shares outstanding; one row per listed ETF per trading day",
)
ETF_PCF = TableSpec(
    "etf_pcf",
    key=("date", "etf_code", "code"),
    required=pl.Schema({"date": D, "etf_code": S, "code": S, "quantity": F}),
    optional=pl.Schema({"cash_substitute": S}),
    doc="daily creation/redemption basket: component shares per creation unit",
)
HOLDING_WEIGHTS = TableSpec(
    "holding_weights",
    key=("date", "etf_code", "index_code", "code"),
    required=pl.Schema({"date": D, "code": S, "weight": F}),
    optional=pl.Schema({"etf_code": S, "index_code": S}),
    one_of=(("etf_code", "index_code"),),
    doc="weight snapshot (per ETF, or per tracked index when etf_code is null/absent) in force "
    "from date until the next snapshot; weights of one snapshot sum to 1",
)
INDEX_DAILY = TableSpec(
    "index_daily",
    key=("date", "index_code"),
    required=pl.Schema({"date": D, "index_code": S, "close": F}),
    doc="index closes (CSI 300, CSI 1000, growth, value) for the style regimes of SPEC §6",
)
ACTIVE_FUNDS = TableSpec(
    "active_funds",
    key=("fund_code",),
    required=pl.Schema({"fund_code": S, "name": S, "fund_type": S}),
    doc="active equity funds (SPEC §6)",
)
ACTIVE_HOLDINGS = TableSpec(
    "active_holdings",
    key=("report_date", "fund_code", "code"),
    required=pl.Schema(
        {
            "report_date": D,
            "fund_code": S,
            "code": S,
            "disclose_date": D,
            "mv": F,
            "is_full": B,
        }
    ),
    doc="quarterly top-10 (is_full false) and semi-annual full (is_full true) disclosures",
)
FUND_NAV = TableSpec(
    "fund_nav",
    key=("date", "fund_code"),
    required=pl.Schema({"date": D, "fund_code": S, "nav": F}),
    doc="active fund daily unit NAV",
)
FUND_ISSUANCE = TableSpec(
    "fund_issuance",
    key=("month", "kind"),
    required=pl.Schema({"month": D, "kind": S, "new_shares": F}),
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
#: Only used by the industry-rotation module (SPEC §6).
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


# Output tables of the look-through (SPEC §2), used by the store and the CLI export.
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

"""A Tushare raw folder (``raw.py``) converted into the data contract.

``import_tushare(raw_dir, out)`` reads the endpoint tables that ``etfflow fetch tushare`` wrote
(Tushare's field names and units), converts them into every contract table the raw data
allows, checks the result with :func:`etfflow.engine.validation.validate` and moves it into
the dataset folder ``out`` (merged with what is there: rows of the same dates or keys are
replaced, as ``etfflow import table`` does). Nothing is written when anything fails.

Units (each verified in Tushare's documentation, URLs in :data:`DOCS`):

=====================  ==========================  =========================================
endpoint.field         Tushare unit                contract
=====================  ==========================  =========================================
daily.vol              手 (lots of 100 shares)     (only the unit check)
daily.amount           千元                        stock_daily.amount ×1e3 (CNY)
daily.close/pre_close  元; pre_close 除权昨收      close; ret = close / pre_close − 1
daily_basic.circ_mv    万元                        stock_daily.float_mcap ×1e4
daily_basic.total_mv   万元                        stock_daily.total_mcap ×1e4
daily_basic.turnover   %                           stock_daily.turnover ×0.01
etf_share_size.total_share  万份                   etf_daily.shares ×1e4
etf_share_size.nav/close    元                     etf_daily.nav / close
fund_daily.amount      千元                        etf_daily.amount ×1e3
etf_sh/sz_cons.qty     股                          etf_pcf.quantity
index_weight.weight    %                           holding_weights.weight ×0.01
fund_basic.issue_amount  亿份                      fund_issuance.new_shares ×1e8
fund_portfolio.mkv     元                          active_holdings.mv
=====================  ==========================  =========================================

A unit is also checked against the other fields of the row where Tushare gives both sides
(``amount`` against ``close × vol``, ``total_mv`` against ``close × total_share``,
``total_size`` against ``nav × total_share``, index weights summing to 100): a median ratio far
from 1 means the file is not in the documented unit, and the import stops (the unit cannot be
inferred) instead of guessing.

Suspended days: ``daily`` has no row on a day a stock does not trade. Every trading day
(``trade_cal.is_open``) from ``list_date`` up to the day before ``delist_date`` without a
``daily`` row becomes a carried row: the last close, ``ret`` 0, ``amount`` and ``turnover`` 0,
market caps carried from the last ``daily_basic`` row, ``is_suspended`` true. ``suspend_d``
is a cross-check only (days missing from ``daily`` but not listed as suspended are counted,
and intraday suspensions with a ``daily`` row stay trading days). A stock without any earlier
close in the raw folder cannot be carried; such days are counted, not written.

Beijing (``.BJ``) stocks: the contract's boards are SH_MAIN, SZ_MAIN, CHINEXT and STAR, so
Beijing stocks, their rows, index constituents and basket components are left out and
counted in :attr:`TushareImportSummary.counts` (never silently).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import polars as pl

from etfflow._common import Progress, atomic_path
from etfflow.engine.adapters.pcf import CASH_CODES, FLAGS
from etfflow.engine.adapters.pcf import _swap_in as swap_in
from etfflow.engine.adapters.table import manifest_with_import, merge
from etfflow.engine.adapters.tushare.categories import CategoryRules, load_categories
from etfflow.engine.adapters.tushare.raw import raw_files
from etfflow.engine.loading import MANIFEST, Dataset, scan_table, table_path
from etfflow.engine.schemas import TABLES
from etfflow.engine.validation import validate
from etfflow.exceptions import SourceFileError

log = logging.getLogger(__name__)

#: Tushare's documentation of each endpoint (fields and units checked against these pages).
DOCS: Final[dict[str, str]] = {
    "stock_basic": "https://tushare.pro/document/2?doc_id=25",
    "trade_cal": "https://tushare.pro/document/2?doc_id=26",
    "daily": "https://tushare.pro/document/2?doc_id=27",
    "daily_basic": "https://tushare.pro/document/2?doc_id=32",
    "stk_limit": "https://tushare.pro/document/2?doc_id=183",
    "suspend_d": "https://tushare.pro/document/2?doc_id=214",
    "stock_st": "https://tushare.pro/document/2?doc_id=397",
    "namechange": "https://tushare.pro/document/2?doc_id=100",
    "ci_index_member": "https://tushare.pro/document/2?doc_id=373",
    "etf_basic": "https://tushare.pro/document/2?doc_id=385",
    "etf_share_size": "https://tushare.pro/document/2?doc_id=408",
    "fund_daily": "https://tushare.pro/document/2?doc_id=127",
    "etf_sh_cons": "https://tushare.pro/document/2?doc_id=471",
    "etf_sz_cons": "https://tushare.pro/document/2?doc_id=472",
    "etf_bs_sh_detail": "https://tushare.pro/document/2?doc_id=535",
    "etf_bs_sz_detail": "https://tushare.pro/document/2?doc_id=536",
    "index_weight": "https://tushare.pro/document/2?doc_id=96",
    "index_daily": "https://tushare.pro/document/2?doc_id=95",
    "fund_basic": "https://tushare.pro/document/2?doc_id=19",
    "fund_nav": "https://tushare.pro/document/2?doc_id=119",
    "fund_portfolio": "https://tushare.pro/document/2?doc_id=121",
}

HAND: Final = 100.0  # 手 -> shares
THOUSAND: Final = 1e3  # 千元 -> CNY
WAN: Final = 1e4  # 万股, 万份, 万元 -> shares, CNY
YI: Final = 1e8  # 亿份 -> shares
PCT: Final = 0.01  # % -> decimal
#: A unit check passes when the median ratio is within [1/UNIT_SLACK, UNIT_SLACK].
UNIT_SLACK: Final = 2.0

#: sub_flag of etf_sh_cons / etf_sz_cons (text, or the exchanges' digit codes) -> contract.
SUB_FLAGS: Final[dict[str, str]] = {
    "禁止": "forbidden",
    "允许": "allowed",
    "必须": "required",
    "退补": "allowed",
    **{str(k): v for k, v in FLAGS.items()},
}
STOCK_CODE: Final = r"^\d{6}\.(SH|SZ|BJ)$"
FUND_TYPES_ACTIVE: Final = ("股票型", "混合型")


@dataclass(frozen=True)
class Endpoint:
    """What the converter needs of one endpoint: its fields, which are dates (YYYYMMDD
    strings) and which numbers; ``required`` endpoints must be in the raw folder."""

    api: str
    fields: tuple[str, ...]
    dates: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    optional_fields: tuple[str, ...] = ()
    required: bool = True


E = Endpoint
ENDPOINTS: Final[dict[str, Endpoint]] = {
    e.api: e
    for e in (
        E("trade_cal", ("cal_date", "is_open"), ("cal_date",), ("is_open",), ("exchange",)),
        E(
            "stock_basic",
            ("ts_code", "name", "market", "list_date"),
            ("list_date", "delist_date"),
            optional_fields=("delist_date", "exchange", "list_status"),
        ),
        E(
            "daily",
            ("ts_code", "trade_date", "close", "pre_close", "vol", "amount"),
            ("trade_date",),
            ("close", "pre_close", "vol", "amount"),
        ),
        E(
            "daily_basic",
            (
                *("ts_code", "trade_date", "close", "turnover_rate", "total_share"),
                *("total_mv", "circ_mv"),
            ),
            ("trade_date",),
            ("close", "turnover_rate", "total_share", "total_mv", "circ_mv"),
        ),
        E(
            "stk_limit",
            ("ts_code", "trade_date", "up_limit", "down_limit"),
            ("trade_date",),
            ("up_limit", "down_limit"),
            required=False,
        ),
        E(
            "suspend_d",
            ("ts_code", "trade_date", "suspend_type"),
            ("trade_date",),
            optional_fields=("suspend_timing",),
            required=False,
        ),
        E("stock_st", ("ts_code", "trade_date"), ("trade_date",), required=False),
        E(
            "namechange",
            ("ts_code", "name", "start_date"),
            ("start_date", "end_date"),
            optional_fields=("end_date",),
            required=False,
        ),
        E(
            "ci_index_member",
            ("ts_code", "l1_name", "l2_name", "in_date"),
            ("in_date", "out_date"),
            optional_fields=("out_date",),
        ),
        E(
            "etf_basic",
            ("ts_code", "csname", "index_code", "list_date"),
            ("list_date",),
            optional_fields=("index_name", "cname", "etf_type", "list_status"),
        ),
        E(
            "etf_share_size",
            ("ts_code", "trade_date", "total_share", "total_size", "nav"),
            ("trade_date",),
            ("total_share", "total_size", "nav", "close"),
            optional_fields=("close",),
        ),
        E(
            "fund_daily",
            ("ts_code", "trade_date", "amount"),
            ("trade_date",),
            ("amount",),
            required=False,
        ),
        E(
            "etf_sh_cons",
            ("ts_code", "trade_date", "con_code", "qty", "sub_flag"),
            ("trade_date",),
            ("qty",),
            optional_fields=("exchange",),
            required=False,
        ),
        E(
            "etf_sz_cons",
            ("ts_code", "trade_date", "con_code", "qty", "sub_flag"),
            ("trade_date",),
            ("qty",),
            optional_fields=("exchange",),
            required=False,
        ),
        E(
            "etf_bs_sh_detail",
            ("ts_code", "trade_date", "creation_redemption_unit"),
            ("trade_date",),
            ("creation_redemption_unit",),
            required=False,
        ),
        E(
            "etf_bs_sz_detail",
            ("ts_code", "trade_date", "creation_redemption_unit"),
            ("trade_date",),
            ("creation_redemption_unit",),
            required=False,
        ),
        E(
            "index_weight",
            ("index_code", "con_code", "trade_date", "weight"),
            ("trade_date",),
            ("weight",),
            required=False,
        ),
        E(
            "index_daily",
            ("ts_code", "trade_date", "close"),
            ("trade_date",),
            ("close",),
            required=False,
        ),
        E(
            "fund_basic",
            ("ts_code", "name", "fund_type", "market"),
            ("found_date", "delist_date"),
            ("issue_amount",),
            optional_fields=("invest_type", "found_date", "delist_date", "issue_amount"),
            required=False,
        ),
        E(
            "fund_nav",
            ("ts_code", "nav_date", "unit_nav"),
            ("nav_date",),
            ("unit_nav",),
            required=False,
        ),
        E(
            "fund_portfolio",
            ("ts_code", "ann_date", "end_date", "symbol", "mkv"),
            ("ann_date", "end_date"),
            ("mkv",),
            required=False,
        ),
    )
}
FILE: Final = "_file"


@dataclass(frozen=True)
class TushareImportSummary:
    """What :func:`import_tushare` wrote: rows per contract table, the counted rows that were
    carried or left out (``counts``), validation warnings and what the raw data lacked."""

    out: Path
    rows: dict[str, int]
    counts: dict[str, int]
    warnings: tuple[str, ...] = ()
    not_provided: tuple[str, ...] = field(default=())


# reading ------------------------------------------------------------------------------------
def _fail(ep: str, file: object, field_: str, problem: str, rows: pl.DataFrame, n: int) -> None:
    raise SourceFileError(
        f"tushare endpoint {ep!r}: field {field_!r} {problem}",
        file=file,
        table=ep,
        column=field_,
        rule="unparsable_value",
        examples=rows.drop(FILE, strict=False).head(5),
        n_rows=n,
        hint=f"the endpoint is documented at {DOCS.get(ep, 'tushare.pro')}; re-fetch it",
    )


def read_endpoint(raw_dir: Path, ep: Endpoint) -> pl.DataFrame | None:
    """All rows of an endpoint with its date fields as ``pl.Date`` and numbers as Float64,
    plus ``_file`` (the request file of each row). None when an optional endpoint has no
    file; an empty frame when its files hold no rows.

    Raises
    ------
    SourceFileError
        A required endpoint without files, a file lacking a needed field, a date that is not
        YYYYMMDD or a number that does not parse (naming the file, the field, example rows).
    """
    files = raw_files(raw_dir, ep.api)
    if not files:
        if ep.required:
            raise SourceFileError(
                f"tushare endpoint {ep.api!r} has no data in the raw folder (expected "
                f"{raw_dir / ep.api}/*.parquet)",
                file=raw_dir,
                table=ep.api,
                rule="unreadable_file",
                hint="run `etfflow fetch tushare` for the same dates first",
            )
        return None
    frames = []
    for f in files:
        try:
            df = pl.read_parquet(f)
        except Exception as exc:  # any Parquet reader error: the file is unusable
            raise SourceFileError(
                f"tushare endpoint {ep.api!r}: unreadable raw file ({exc})".splitlines()[0],
                file=f,
                table=ep.api,
                rule="unreadable_file",
            ) from None
        if df.width == 0:  # a complete request that returned no rows and no fields
            continue
        missing = [c for c in ep.fields if c not in df.columns]
        if missing:
            raise SourceFileError(
                f"tushare endpoint {ep.api!r}: field {missing[0]!r} is missing (the file has "
                f"{', '.join(df.columns)})",
                file=f,
                table=ep.api,
                column=missing[0],
                rule="missing_column",
                examples=df.head(1),
                hint=f"fetch the field; it is documented at {DOCS.get(ep.api, 'tushare.pro')}",
            )
        keep = [c for c in (*ep.fields, *ep.optional_fields) if c in df.columns]
        frames.append(df.select(keep).with_columns(pl.lit(str(f)).alias(FILE)))
    if not frames:
        schema: dict[str, pl.DataType] = {c: pl.String() for c in ep.fields}
        schema.update({c: pl.Date() for c in ep.dates if c in schema})
        schema.update({c: pl.Float64() for c in ep.numbers if c in schema})
        return pl.DataFrame(schema={**schema, FILE: pl.String()})
    df = pl.concat(frames, how="diagonal_relaxed")
    for c in ep.dates:
        if c not in df.columns:
            continue
        text = df[c].cast(pl.String).str.strip_chars()
        parsed = text.str.strptime(pl.Date, "%Y%m%d", strict=False)
        bad = parsed.is_null() & text.is_not_null() & (text != "")
        if bad.any():
            rows = df.filter(bad)
            _fail(ep.api, rows[FILE][0], c, "is not a date YYYYMMDD", rows, int(bad.sum()))
        df = df.with_columns(parsed.alias(c))
    for c in ep.numbers:
        if c not in df.columns:
            continue
        s = df[c]
        if s.dtype.is_numeric():
            df = df.with_columns(s.cast(pl.Float64))
            continue
        if s.dtype not in (pl.String, pl.Null):
            rows = df.head(5)
            _fail(ep.api, rows[FILE][0], c, f"has type {s.dtype}, expected a number", rows, 1)
        text = s.cast(pl.String).str.strip_chars()
        num = text.cast(pl.Float64, strict=False)
        bad = num.is_null() & text.is_not_null() & (text != "")
        if bad.any():
            rows = df.filter(bad)
            _fail(ep.api, rows[FILE][0], c, "is not a number", rows, int(bad.sum()))
        df = df.with_columns(num.alias(c))
    return df


def _check_codes(df: pl.DataFrame, ep: str, col: str, pattern: str = STOCK_CODE) -> None:
    """Every ``col`` value has a known exchange suffix (else: an error naming the row)."""
    bad = ~df[col].cast(pl.String).str.contains(pattern).fill_null(False)
    if bad.any():
        rows = df.filter(bad)
        _fail(
            ep,
            rows[FILE][0],
            col,
            "holds a code that maps to no exchange (expected 600519.SH / 000001.SZ / 430047.BJ)",
            rows,
            int(bad.sum()),
        )


def check_unit(
    df: pl.DataFrame, ep: str, col: str, ratio: pl.Expr, unit: str, expected: str
) -> None:
    """Stop when the median of ``ratio`` (1 when ``col`` is in ``unit``) is far from 1."""
    r = df.select(ratio.alias("r")).to_series()
    r = r.filter(r.is_finite() & (r > 0))
    if r.len() == 0:
        return
    med = float(r.median())  # type: ignore[arg-type]
    if not (1 / UNIT_SLACK <= med <= UNIT_SLACK):
        _fail(
            ep,
            df[FILE][0],
            col,
            f"is not in {unit}: {expected} gives a median ratio of {med:.6g} instead of 1, so "
            "the unit cannot be inferred",
            df,
            df.height,
        )


# converting ----------------------------------------------------------------------------------
Counts = dict[str, int]


def _count(counts: Counts, key: str, n: int) -> None:
    if n:
        counts[key] = counts.get(key, 0) + int(n)


def calendar(cal: pl.DataFrame) -> pl.Series:
    """The trading days: ``cal_date`` where ``is_open`` is 1 (the SSE rows when both
    exchanges are given)."""
    if "exchange" in cal.columns and cal["exchange"].is_in(["SSE"]).any():
        cal = cal.filter(pl.col("exchange") == "SSE")
    return cal.filter(pl.col("is_open") == 1)["cal_date"].unique().sort().alias("date")


def stocks_table(basic: pl.DataFrame, counts: Counts) -> pl.DataFrame:
    """``stocks`` from ``stock_basic`` (Beijing stocks counted and left out)."""
    _check_codes(basic, "stock_basic", "ts_code")
    bj = (basic["ts_code"].str.ends_with(".BJ") | (basic["market"] == "北交所")).fill_null(False)
    _count(counts, "stock_basic: Beijing stocks left out", int(bj.sum()))
    basic = basic.filter(~bj)
    suffix = pl.col("ts_code").str.slice(-2)
    code = pl.col("ts_code")
    cdr_star = code.str.starts_with("688") | code.str.starts_with("689")
    no_market = pl.col("market").is_null()
    _count(
        counts,
        "stock_basic: board from the code prefix (no market)",
        int(basic["market"].is_null().sum()),
    )
    board = (
        pl.when(no_market & cdr_star)
        .then(pl.lit("STAR"))
        .when(no_market & (code.str.starts_with("300") | code.str.starts_with("301")))
        .then(pl.lit("CHINEXT"))
        .when(no_market & code.str.starts_with("6") & (suffix == "SH"))
        .then(pl.lit("SH_MAIN"))
        .when(no_market & code.str.starts_with("0") & (suffix == "SZ"))
        .then(pl.lit("SZ_MAIN"))
        .when(pl.col("market") == "创业板")
        .then(pl.lit("CHINEXT"))
        .when((pl.col("market") == "科创板") | ((pl.col("market") == "CDR") & cdr_star))
        .then(pl.lit("STAR"))
        .when(pl.col("market").is_in(["主板", "中小板", "CDR"]) & (suffix == "SH"))
        .then(pl.lit("SH_MAIN"))
        .when(pl.col("market").is_in(["主板", "中小板", "CDR"]) & (suffix == "SZ"))
        .then(pl.lit("SZ_MAIN"))
    )
    out = basic.with_columns(board.alias("board"))
    bad = out["board"].is_null()
    if bad.any():
        rows = out.filter(bad)
        _fail(
            "stock_basic",
            rows[FILE][0],
            "market",
            "is not one of 主板, 中小板, 创业板, 科创板, CDR, 北交所",
            rows,
            int(bad.sum()),
        )
    if "delist_date" not in out.columns:
        out = out.with_columns(pl.lit(None, pl.Date).alias("delist_date"))
    return out.select(
        pl.col("ts_code").alias("code"), "name", "board", "list_date", "delist_date"
    ).sort("code")


def st_flags(raw: Mapping[str, pl.DataFrame | None], grid: pl.DataFrame) -> pl.Series:
    """``is_st`` of each (date, code) of ``grid``: listed in ``stock_st`` that day, or else
    the name in force (``namechange`` with the latest ``start_date`` <= date) contains ST."""
    st = raw.get("stock_st")
    if st is not None:
        days = st.select(pl.col("trade_date").alias("date"), pl.col("ts_code").alias("code"))
        hit = grid.join(
            days.unique().with_columns(pl.lit(True).alias("st")), on=["date", "code"], how="left"
        )
        return hit["st"].fill_null(False).alias("is_st")
    nc = raw.get("namechange")
    if nc is None:
        raise SourceFileError(
            "tushare endpoints 'stock_st' and 'namechange' are both missing: is_st needs one",
            file="(raw folder)",
            table="stock_daily",
            column="is_st",
            rule="missing_column",
            hint="fetch stock_st (daily ST lists, from 2016) or namechange (name spells)",
        )
    spells = (
        nc.select(pl.col("ts_code").alias("code"), pl.col("start_date").alias("date"), "name")
        .drop_nulls(["date"])
        .unique(["code", "date"], keep="last")
        .sort("date")
    )
    g = grid.with_row_index("_i").sort("date")
    hit = g.join_asof(
        spells, on="date", by="code", strategy="backward", check_sortedness=False
    ).sort("_i")
    return hit["name"].str.contains("ST").fill_null(False).alias("is_st")


def stock_daily_table(
    raw: Mapping[str, pl.DataFrame | None],
    stocks: pl.DataFrame,
    days: pl.Series,
    counts: Counts,
) -> pl.DataFrame:
    """``stock_daily``: one row per listed stock per trading day (suspended days carried)."""
    daily = raw["daily"]
    basic = raw["daily_basic"]
    assert daily is not None and basic is not None
    _check_codes(daily, "daily", "ts_code")
    bj = daily["ts_code"].str.ends_with(".BJ")
    _count(counts, "daily: Beijing rows left out", int(bj.sum()))
    daily = daily.filter(~bj)
    basic = basic.filter(~basic["ts_code"].str.ends_with(".BJ"))
    check_unit(
        daily.filter(pl.col("vol") > 0),
        "daily",
        "amount",
        pl.col("amount") * THOUSAND / (pl.col("vol") * HAND * pl.col("close")),
        "千元 (vol in 手)",
        "amount × 1e3 / (vol × 100 × close)",
    )
    check_unit(
        basic,
        "daily_basic",
        "total_mv",
        pl.col("total_mv") / (pl.col("close") * pl.col("total_share")),
        "万元 (total_share in 万股)",
        "total_mv / (close × total_share)",
    )
    grid = (
        stocks.select("code", "list_date", "delist_date")
        .join(days.to_frame(), how="cross")
        .filter(
            (pl.col("date") >= pl.col("list_date"))
            & (pl.col("delist_date").is_null() | (pl.col("date") < pl.col("delist_date")))
        )
        .select("date", "code")
    )
    d = daily.select(
        pl.col("trade_date").alias("date"),
        pl.col("ts_code").alias("code"),
        pl.col("close").alias("_close"),
        "pre_close",
        pl.col("amount").alias("_amount"),
    )
    outside = d.join(grid, on=["date", "code"], how="anti")
    _count(counts, "daily: rows outside listing or calendar (left out)", outside.height)
    b = basic.select(
        pl.col("trade_date").alias("date"),
        pl.col("ts_code").alias("code"),
        (pl.col("circ_mv") * WAN).alias("float_mcap"),
        (pl.col("total_mv") * WAN).alias("total_mcap"),
        (pl.col("turnover_rate") * PCT).alias("_turnover"),
    )
    df = (
        grid.join(d, on=["date", "code"], how="left")
        .join(b, on=["date", "code"], how="left")
        .sort("code", "date")
    )
    traded = pl.col("_close").is_not_null()
    df = df.with_columns(
        traded.alias("_traded"),
        pl.col("_close").forward_fill().over("code").alias("close"),
        pl.col("float_mcap").forward_fill().over("code"),
        pl.col("total_mcap").forward_fill().over("code"),
    )
    no_close = df["close"].is_null()
    _count(
        counts,
        "stock_daily: suspended days without an earlier close (left out)",
        int(no_close.sum()),
    )
    df = df.filter(~no_close)
    _count(counts, "stock_daily: suspended days carried", int((~df["_traded"]).sum()))
    susp = raw.get("suspend_d")
    if susp is not None:
        s = susp.filter(pl.col("suspend_type") == "S").select(
            pl.col("trade_date").alias("date"), pl.col("ts_code").alias("code")
        )
        carried = df.filter(~pl.col("_traded")).select("date", "code")
        _count(
            counts,
            "stock_daily: carried days not listed in suspend_d",
            carried.join(s, on=["date", "code"], how="anti").height,
        )
        _count(
            counts,
            "suspend_d: suspended days with a daily row (intraday, trading)",
            df.filter(pl.col("_traded")).join(s, on=["date", "code"], how="semi").height,
        )
    missing_cap = df["float_mcap"].is_null() | df["total_mcap"].is_null()
    if missing_cap.any():
        rows = (
            df.filter(missing_cap)
            .select("date", "code")
            .with_columns(pl.lit(str(raw_files_hint(raw, "daily_basic"))).alias(FILE))
        )
        _fail(
            "daily_basic",
            rows[FILE][0],
            "circ_mv",
            "has no row for a stock-day (nor an earlier one to carry)",
            rows,
            rows.height,
        )
    df = df.with_columns(
        pl.when(pl.col("_traded"))
        .then(pl.col("_close") / pl.col("pre_close") - 1.0)
        .otherwise(0.0)
        .alias("ret"),
        pl.when(pl.col("_traded"))
        .then(pl.col("_amount") * THOUSAND)
        .otherwise(0.0)
        .alias("amount"),
        pl.when(pl.col("_traded")).then(pl.col("_turnover")).otherwise(0.0).alias("turnover"),
        (~pl.col("_traded")).alias("is_suspended"),
    ).sort("date", "code")
    bad_ret = ~df["ret"].is_finite()
    if bad_ret.any():
        rows = df.filter(bad_ret).select("date", "code", "_close", "pre_close")
        rows = rows.with_columns(pl.lit(str(raw_files_hint(raw, "daily"))).alias(FILE))
        _fail(
            "daily",
            rows[FILE][0],
            "pre_close",
            "is 0 or missing on a trading day",
            rows,
            rows.height,
        )
    df = df.with_columns(st_flags(raw, df.select("date", "code")))
    lim = raw.get("stk_limit")
    if lim is not None:
        df = df.join(
            lim.select(
                pl.col("trade_date").alias("date"),
                pl.col("ts_code").alias("code"),
                "up_limit",
                "down_limit",
            ).unique(["date", "code"], keep="last"),
            on=["date", "code"],
            how="left",
        )
    cols = [c for c in TABLES["stock_daily"].columns if c in df.columns]
    return df.select(cols)


def raw_files_hint(raw: Mapping[str, pl.DataFrame | None], api: str) -> str:
    df = raw.get(api)
    if df is None or df.height == 0:
        return api
    return str(df[FILE][0])


def stock_industry_table(members: pl.DataFrame, counts: Counts) -> pl.DataFrame:
    """``stock_industry`` from ``ci_index_member``: level-1/2 names in force from ``in_date``
    to the day before ``out_date`` (Tushare's out_date is the first day outside)."""
    _check_codes(members, "ci_index_member", "ts_code")
    bj = members["ts_code"].str.ends_with(".BJ")
    _count(counts, "ci_index_member: Beijing rows left out", int(bj.sum()))
    m = members.filter(~bj)
    if "out_date" not in m.columns:
        m = m.with_columns(pl.lit(None, pl.Date).alias("out_date"))
    return (
        m.select(
            pl.col("ts_code").alias("code"),
            pl.col("in_date").alias("start_date"),
            pl.col("l1_name").alias("industry_l1"),
            pl.col("l2_name").alias("industry_l2"),
            (pl.col("out_date") - pl.duration(days=1)).alias("end_date"),
        )
        .unique(["code", "start_date"], keep="last", maintain_order=True)
        .sort("code", "start_date")
    )


def _creation_units(raw: Mapping[str, pl.DataFrame | None], counts: Counts) -> pl.DataFrame:
    """The creation unit of each ETF: its first ``creation_redemption_unit`` in the raw
    folder (the contract keeps one per ETF; later changes are counted)."""
    parts = [
        df.select("ts_code", "trade_date", "creation_redemption_unit")
        for api in ("etf_bs_sh_detail", "etf_bs_sz_detail")
        if (df := raw.get(api)) is not None and df.height
    ]
    if not parts:
        return pl.DataFrame(schema={"etf_code": pl.String, "creation_unit": pl.Float64})
    units = pl.concat(parts).drop_nulls("creation_redemption_unit").sort("trade_date")
    changed = units.group_by("ts_code").agg(pl.col("creation_redemption_unit").n_unique() > 1)
    _count(
        counts,
        "etfs: ETFs whose creation unit changed (first one kept)",
        int(changed["creation_redemption_unit"].sum()),
    )
    return (
        units.group_by("ts_code")
        .agg(pl.col("creation_redemption_unit").first().alias("creation_unit"))
        .rename({"ts_code": "etf_code"})
    )


def etfs_table(
    raw: Mapping[str, pl.DataFrame | None], rules: CategoryRules, counts: Counts
) -> pl.DataFrame:
    """``etfs`` from ``etf_basic`` (+ ``fund_basic`` for type and delisting, the PCF detail
    endpoints for the creation unit, :mod:`categories` for the category)."""
    basic = raw["etf_basic"]
    assert basic is not None
    _check_codes(basic, "etf_basic", "ts_code")
    e = basic
    for c in ("index_name", "cname", "etf_type"):
        if c not in e.columns:
            e = e.with_columns(pl.lit(None, pl.String).alias(c))
    fb = raw.get("fund_basic")
    if fb is not None:
        f = fb.select(
            "ts_code",
            pl.col("fund_type").alias("_fund_type"),
            (
                pl.col("invest_type") if "invest_type" in fb.columns else pl.lit(None, pl.String)
            ).alias("_invest_type"),
            (pl.col("delist_date") if "delist_date" in fb.columns else pl.lit(None, pl.Date)).alias(
                "delist_date"
            ),
        ).unique("ts_code", keep="last")
        e = e.join(f, on="ts_code", how="left")
    else:
        e = e.with_columns(
            pl.lit(None, pl.String).alias("_fund_type"),
            pl.lit(None, pl.String).alias("_invest_type"),
            pl.lit(None, pl.Date).alias("delist_date"),
        )
    equity = (pl.col("etf_type").is_null() | (pl.col("etf_type") == "境内")) & (
        pl.col("_fund_type").is_null() | (pl.col("_fund_type") == "股票型")
    )
    _count(counts, "etf_basic: non-equity or QDII ETFs left out", e.filter(~equity).height)
    e = e.filter(equity)
    bj = e["ts_code"].str.ends_with(".BJ")
    _count(counts, "etf_basic: Beijing ETFs left out", int(bj.sum()))
    e = e.filter(~bj)
    unlisted = e["list_date"].is_null()
    _count(counts, "etf_basic: ETFs without a list date left out", int(unlisted.sum()))
    e = e.filter(~unlisted)
    e = e.rename({"ts_code": "etf_code"}).join(
        _creation_units(raw, counts), on="etf_code", how="left"
    )
    no_unit = e["creation_unit"].is_null() | (e["creation_unit"] <= 0)
    _count(
        counts, "etfs: ETFs without a creation unit (etf_bs_*_detail) left out", int(no_unit.sum())
    )
    e = e.filter(~no_unit)
    cats = [
        rules.category(code, name)
        for code, name in zip(e["index_code"], e["index_name"], strict=True)
    ]
    e = e.with_columns(pl.Series("category", cats, dtype=pl.String))
    bad = e["category"].is_null()
    if bad.any():
        rows = e.filter(bad).select("etf_code", "csname", "index_code", "index_name", FILE)
        raise SourceFileError(
            "tushare endpoint 'etf_basic': the tracked index of these ETFs is neither a known "
            "broad index nor named, so its category cannot be decided",
            file=rows[FILE][0],
            table="etf_basic",
            column="index_code",
            rule="unparsable_value",
            examples=rows.drop(FILE),
            n_rows=rows.height,
            hint='give it in a --categories file: [codes] "<index_code>" = "sector"',
        )
    text = pl.concat_str(
        [pl.col(c).fill_null("") for c in ("csname", "cname", "_invest_type")], separator="|"
    )
    return e.select(
        "etf_code",
        pl.col("csname").alias("name"),
        "category",
        "index_code",
        text.str.contains("增强").alias("is_enhanced"),
        "creation_unit",
        "list_date",
        "delist_date",
    ).sort("etf_code")


def etf_daily_table(
    raw: Mapping[str, pl.DataFrame | None], etfs: pl.DataFrame, counts: Counts
) -> pl.DataFrame:
    """``etf_daily`` from ``etf_share_size`` (+ ``fund_daily`` for the traded amount)."""
    size = raw["etf_share_size"]
    assert size is not None
    check_unit(
        size.filter(pl.col("total_share") > 0),
        "etf_share_size",
        "total_size",
        pl.col("total_size") / (pl.col("total_share") * pl.col("nav")),
        "万元 (total_share in 万份)",
        "total_size / (total_share × nav)",
    )
    s = size.filter(pl.col("ts_code").is_in(etfs["etf_code"].implode()))
    _count(counts, "etf_share_size: rows of ETFs not in etfs (left out)", size.height - s.height)
    out = s.select(
        pl.col("trade_date").alias("date"),
        pl.col("ts_code").alias("etf_code"),
        (pl.col("total_share") * WAN).alias("shares"),
        "nav",
        *(["close"] if "close" in s.columns else []),
        FILE,
    )
    bad = out["nav"].is_null() | out["shares"].is_null()
    if bad.any():
        rows = out.filter(bad)
        _fail("etf_share_size", rows[FILE][0], "nav", "is empty", rows, int(bad.sum()))
    fd = raw.get("fund_daily")
    if fd is not None:
        out = out.join(
            fd.select(
                pl.col("trade_date").alias("date"),
                pl.col("ts_code").alias("etf_code"),
                (pl.col("amount") * THOUSAND).alias("amount"),
            ).unique(["date", "etf_code"], keep="last"),
            on=["date", "etf_code"],
            how="left",
        )
    cols = [c for c in TABLES["etf_daily"].columns if c in out.columns]
    return out.select(cols).sort("date", "etf_code")


def etf_pcf_table(
    raw: Mapping[str, pl.DataFrame | None], etfs: pl.DataFrame, counts: Counts
) -> pl.DataFrame | None:
    """``etf_pcf`` from ``etf_sh_cons`` + ``etf_sz_cons``: Shanghai/Shenzhen components with
    a positive quantity; Hong Kong, Beijing, cash (``159900.SZ``, quantity 0) and other rows
    are counted and left out, as ``etfflow import pcf`` does."""
    parts = [df for api in ("etf_sh_cons", "etf_sz_cons") if (df := raw.get(api)) is not None]
    if not parts:
        return None
    cons = pl.concat(parts, how="diagonal_relaxed")
    if "exchange" not in cons.columns:
        cons = cons.with_columns(pl.lit(None, pl.String).alias("exchange"))
    code = pl.col("con_code").cast(pl.String)
    market = (
        pl.when(code.str.contains(r"^\d{6}\.(SH|SZ|BJ)$"))
        .then(code.str.slice(-2))
        .when(code.str.contains(r"^\d{4,5}\.HK$"))
        .then(pl.lit("HK"))
        .when(pl.col("exchange") == "OTH")
        .then(pl.lit("OTHER"))
    )
    cons = cons.with_columns(market.alias("_market"))
    bad = cons["_market"].is_null()
    if bad.any():
        rows = cons.filter(bad)
        _fail(
            Path(rows[FILE][0]).parent.name,
            rows[FILE][0],
            "con_code",
            "holds a code that maps to no exchange",
            rows,
            int(bad.sum()),
        )
    bare = code.str.split(".").list.first()
    kind = (
        pl.when(pl.col("_market").is_in(["SH", "SZ"]))
        .then(
            pl.when(bare.is_in(list(CASH_CODES)) | (pl.col("qty") <= 0))
            .then(pl.lit("cash"))
            .otherwise(pl.lit("a_share"))
        )
        .when(pl.col("_market") == "HK")
        .then(pl.lit("hk"))
        .when(pl.col("_market") == "BJ")
        .then(pl.lit("bj"))
        .otherwise(pl.lit("other"))
    )
    cons = cons.with_columns(
        kind.alias("_kind"),
        pl.col("sub_flag")
        .cast(pl.String)
        .str.strip_chars()
        .replace_strict(SUB_FLAGS, default=None)
        .alias("cash_substitute"),
    )
    bad = cons["cash_substitute"].is_null()
    if bad.any():
        rows = cons.filter(bad)
        _fail(
            Path(rows[FILE][0]).parent.name,
            rows[FILE][0],
            "sub_flag",
            f"is not a known substitution flag ({', '.join(SUB_FLAGS)})",
            rows,
            int(bad.sum()),
        )
    for k, n in cons.group_by("_kind").len().iter_rows():
        if k != "a_share":
            _count(counts, f"etf cons: {k} component rows left out", n)
    a = cons.filter(pl.col("_kind") == "a_share")
    known = a["ts_code"].is_in(etfs["etf_code"].implode())
    _count(counts, "etf cons: rows of ETFs not in etfs (left out)", int((~known).sum()))
    return (
        a.filter(known)
        .select(
            pl.col("trade_date").alias("date"),
            pl.col("ts_code").alias("etf_code"),
            pl.col("con_code").alias("code"),
            pl.col("qty").alias("quantity"),
            "cash_substitute",
        )
        .sort("date", "etf_code", "code")
    )


def index_weights(iw: pl.DataFrame, counts: Counts) -> pl.DataFrame:
    """Per-index weight snapshots from ``index_weight``: % -> fraction, Beijing constituents
    left out (counted); ``date`` = ``trade_date``."""
    _check_codes(iw, "index_weight", "con_code")
    sums = iw.group_by("index_code", "trade_date").agg(pl.col("weight").sum().alias("s"))
    check_unit(
        sums.with_columns(pl.lit(raw_files_hint({"i": iw}, "i")).alias(FILE)),
        "index_weight",
        "weight",
        pl.col("s") / 100.0,
        "% (a snapshot sums to 100)",
        "the sum of a snapshot's weights / 100",
    )
    bj = iw["con_code"].str.ends_with(".BJ")
    _count(counts, "index_weight: Beijing constituents left out", int(bj.sum()))
    return iw.filter(~bj).select(
        pl.col("trade_date").alias("date"),
        pl.lit(None, pl.String).alias("etf_code"),
        "index_code",
        pl.col("con_code").alias("code"),
        (pl.col("weight") * PCT).alias("weight"),
    )


def etf_weights(port: pl.DataFrame, etfs: pl.DataFrame, counts: Counts) -> pl.DataFrame:
    """Per-ETF weight snapshots from the ETFs' own ``fund_portfolio`` rows, point in time:
    one snapshot per announcement (``date`` = ``ann_date``) holding every row of the same
    report period announced by then (a semi-annual full list adds to the top ten), weights =
    ``mkv`` / the snapshot's total."""
    p = port.filter(pl.col("ts_code").is_in(etfs["etf_code"].implode()))
    a_share = p["symbol"].cast(pl.String).str.contains(r"^\d{6}\.(SH|SZ)$").fill_null(False)
    _count(
        counts,
        "fund_portfolio: ETF holdings outside Shanghai/Shenzhen left out",
        int((~a_share).sum()),
    )
    p = p.filter(a_share)
    anns = p.select("ts_code", "end_date", pl.col("ann_date").alias("date")).unique()
    snaps = (
        anns.join(p, on=["ts_code", "end_date"])
        .filter(pl.col("ann_date") <= pl.col("date"))
        .unique(["ts_code", "date", "symbol"], keep="first", maintain_order=True)
    )
    total = pl.col("mkv").sum().over("ts_code", "date")
    return snaps.join(
        etfs.select(pl.col("etf_code").alias("ts_code"), "index_code"), on="ts_code"
    ).select(
        "date",
        pl.col("ts_code").alias("etf_code"),
        "index_code",
        pl.col("symbol").alias("code"),
        (pl.col("mkv") / total).alias("weight"),
    )


def basket_weights(pcf: pl.DataFrame, daily: pl.DataFrame, days: pl.Series) -> pl.DataFrame:
    """Per-ETF weight snapshots from the daily baskets: on the last trading day of each month,
    each component's ``quantity × close`` over the basket's total (what the ETF holds, valued
    that day; the close of day t is known at the end of t, when the snapshot starts)."""
    d = days.alias("day").to_frame()
    month_ends = (
        d.with_columns(pl.col("day").dt.truncate("1mo").alias("month"))
        .group_by("month")
        .agg(pl.col("day").max())["day"]
    )
    value = pl.col("quantity") * pl.col("close")
    return (
        pcf.filter(pl.col("date").is_in(month_ends.implode()))
        .join(daily.select("date", "code", "close"), on=["date", "code"])
        .filter(value > 0)
        .select(
            "date",
            "etf_code",
            "code",
            (value / value.sum().over("date", "etf_code")).alias("weight"),
        )
    )


def holding_weights_table(
    raw: Mapping[str, pl.DataFrame | None],
    tables: Mapping[str, pl.DataFrame],
    days: pl.Series,
    counts: Counts,
) -> pl.DataFrame | None:
    """``holding_weights``: per-ETF snapshots from the daily baskets (:func:`basket_weights`)
    or, for ETFs without baskets, from their own ``fund_portfolio`` disclosures
    (:func:`etf_weights`); per-index snapshots from ``index_weight`` (:func:`index_weights`).
    Each snapshot is renormalised to sum to 1 (Tushare rounds index weights to 4 decimals of
    a percent; the largest deviation is counted, in ppm)."""
    etfs = tables["etfs"]
    parts = []
    pcf = tables.get("etf_pcf")
    with_baskets = pl.Series("etf_code", [], dtype=pl.String)
    if pcf is not None and pcf.height:
        b = basket_weights(pcf, tables["stock_daily"], days)
        parts.append(b.join(etfs.select("etf_code", "index_code"), on="etf_code"))
        with_baskets = pcf["etf_code"].unique()
    if (port := raw.get("fund_portfolio")) is not None and port.height:
        others = etfs.filter(~pl.col("etf_code").is_in(with_baskets.implode()))
        parts.append(etf_weights(port, others, counts))
    if (iw := raw.get("index_weight")) is not None and iw.height:
        parts.append(index_weights(iw, counts))
    if not parts:
        return None
    cols = ["date", "etf_code", "index_code", "code", "weight"]
    w = pl.concat([x.select(cols).cast({"etf_code": pl.String}) for x in parts])
    total = pl.col("weight").sum().over("date", "etf_code", "index_code")
    dev = w.select((total - 1.0).abs().max()).item()
    if dev is not None:
        counts["holding_weights: largest |snapshot sum − 1| before renormalising (ppm)"] = round(
            float(dev) * 1e6
        )
    return w.with_columns(pl.col("weight") / total).sort("date", "etf_code", "index_code", "code")


def rotation_tables(
    raw: Mapping[str, pl.DataFrame | None], days: pl.Series, counts: Counts
) -> dict[str, pl.DataFrame]:
    """``active_funds``, ``active_holdings``, ``fund_nav`` and ``fund_issuance`` from
    ``fund_basic``, ``fund_portfolio`` and ``fund_nav`` (those the raw data allows).

    Active funds: ``fund_basic`` rows off the exchange (market O) of fund_type 股票型 or
    混合型 whose ``invest_type`` is not an index type, and which have holdings or NAVs in the
    raw folder. ``fund_type`` of the contract is ``invest_type`` (e.g. 偏股混合型), else
    ``fund_type``. Issuance: ``issue_amount`` (亿份) by month of ``found_date``; kind ``etf``
    for exchange-traded funds (market E) whose name contains ETF, ``active`` for the active
    rule above (holdings not needed); every month of the calendar gets both kinds (0 when
    none).
    """
    out: dict[str, pl.DataFrame] = {}
    fb = raw.get("fund_basic")
    if fb is None:
        return out
    if "invest_type" not in fb.columns:
        fb = fb.with_columns(pl.lit(None, pl.String).alias("invest_type"))
    active_rule = (
        (pl.col("market") == "O")
        & pl.col("fund_type").is_in(list(FUND_TYPES_ACTIVE))
        & ~pl.col("invest_type").fill_null("").str.contains("指数")
    )
    port, nav = raw.get("fund_portfolio"), raw.get("fund_nav")
    seen = (
        pl.concat(
            [
                s
                for s in (
                    None if port is None else port["ts_code"],
                    None if nav is None else nav["ts_code"],
                )
                if s is not None
            ]
        )
        if (port is not None or nav is not None)
        else pl.Series([], dtype=pl.String)
    )
    active = fb.filter(active_rule & pl.col("ts_code").is_in(seen.implode())).unique(
        "ts_code", keep="last"
    )
    if active.height:
        out["active_funds"] = active.select(
            pl.col("ts_code").alias("fund_code"),
            "name",
            pl.coalesce(pl.col("invest_type"), pl.col("fund_type")).alias("fund_type"),
        ).sort("fund_code")
        codes = active["ts_code"].implode()
        if port is not None:
            p = port.filter(pl.col("ts_code").is_in(codes))
            a_share = p["symbol"].cast(pl.String).str.contains(r"^\d{6}\.(SH|SZ)$").fill_null(False)
            _count(
                counts,
                "fund_portfolio: non-A-share (HK, BJ) holdings left out",
                int((~a_share).sum()),
            )
            p = p.filter(a_share).sort("ann_date")
            p = p.unique(["end_date", "ts_code", "symbol"], keep="first", maintain_order=True)
            first = pl.col("ann_date").min().over("ts_code", "end_date")
            n_ann = pl.col("ann_date").n_unique().over("ts_code", "end_date")
            half = pl.col("end_date").dt.month().is_in([6, 12])
            full = half & (
                (pl.col("ann_date") > first)
                | ((n_ann == 1) & (pl.len().over("ts_code", "end_date") > 10))
            )
            out["active_holdings"] = p.select(
                pl.col("end_date").alias("report_date"),
                pl.col("ts_code").alias("fund_code"),
                pl.col("symbol").alias("code"),
                pl.col("ann_date").alias("disclose_date"),
                pl.col("mkv").alias("mv"),
                full.alias("is_full"),
            ).sort("report_date", "fund_code", "code")
        if nav is not None:
            n = nav.filter(pl.col("ts_code").is_in(codes))
            in_cal = n["nav_date"].is_in(days.implode())
            _count(counts, "fund_nav: non-trading-day NAVs left out", int((~in_cal).sum()))
            out["fund_nav"] = (
                n.filter(in_cal)
                .select(
                    pl.col("nav_date").alias("date"),
                    pl.col("ts_code").alias("fund_code"),
                    pl.col("unit_nav").alias("nav"),
                )
                .unique(["date", "fund_code"], keep="last")
                .sort("date", "fund_code")
            )
    if "issue_amount" in fb.columns and "found_date" in fb.columns and days.len():
        kind = (
            pl.when((pl.col("market") == "E") & pl.col("name").str.contains("ETF"))
            .then(pl.lit("etf"))
            .when(active_rule)
            .then(pl.lit("active"))
        )
        months = days.dt.truncate("1mo").unique().sort().alias("month").to_frame()
        m0, m1 = months["month"].min(), days.max()
        iss = (
            fb.with_columns(kind.alias("kind"))
            .filter(
                pl.col("kind").is_not_null()
                & pl.col("found_date").is_between(m0, m1)
                & pl.col("issue_amount").is_not_null()
            )
            .group_by(pl.col("found_date").dt.truncate("1mo").alias("month"), "kind")
            .agg((pl.col("issue_amount").sum() * YI).alias("new_shares"))
        )
        grid = months.join(pl.DataFrame({"kind": ["active", "etf"]}), how="cross")
        out["fund_issuance"] = (
            grid.join(iss, on=["month", "kind"], how="left")
            .with_columns(pl.col("new_shares").fill_null(0.0))
            .sort("month", "kind")
        )
    return out


def convert_raw(
    raw_dir: str | Path,
    *,
    categories: str | Path | CategoryRules | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, pl.DataFrame], Counts, tuple[str, ...]]:
    """The contract tables of a raw folder (in memory): ``(tables, counts, not_provided)``."""
    raw_dir = Path(raw_dir)
    rules = categories if isinstance(categories, CategoryRules) else load_categories(categories)
    n = len(ENDPOINTS) + 8
    step = 0

    def tick(stage: str) -> None:
        nonlocal step
        step += 1
        if progress is not None:
            progress("import tushare", step, n)
        log.debug("tushare import: %s done", stage)

    raw: dict[str, pl.DataFrame | None] = {}
    for api, ep in ENDPOINTS.items():
        raw[api] = read_endpoint(raw_dir, ep)
        tick(f"read {api}")
    counts: Counts = {}
    not_provided: list[str] = []
    cal = raw["trade_cal"]
    assert cal is not None
    days = calendar(cal)
    basic = raw["stock_basic"]
    assert basic is not None
    tables: dict[str, pl.DataFrame] = {}
    steps: list[tuple[str, Callable[[], None]]] = []

    def put(name: str, df: pl.DataFrame | None) -> None:
        if df is not None:
            tables[name] = df

    steps.append(("stocks", lambda: put("stocks", stocks_table(basic, counts))))
    steps.append(
        (
            "stock_industry",
            lambda: put("stock_industry", stock_industry_table(raw["ci_index_member"], counts)),  # type: ignore[arg-type]
        )
    )
    steps.append(
        (
            "stock_daily",
            lambda: put("stock_daily", stock_daily_table(raw, tables["stocks"], days, counts)),
        )
    )
    steps.append(("etfs", lambda: put("etfs", etfs_table(raw, rules, counts))))
    steps.append(
        ("etf_daily", lambda: put("etf_daily", etf_daily_table(raw, tables["etfs"], counts)))
    )
    steps.append(("etf_pcf", lambda: put("etf_pcf", etf_pcf_table(raw, tables["etfs"], counts))))
    steps.append(
        (
            "holding_weights",
            lambda: put("holding_weights", holding_weights_table(raw, tables, days, counts)),
        )
    )
    idx = raw.get("index_daily")
    steps.append(
        (
            "rotation",
            lambda: tables.update(
                rotation_tables(raw, days, counts)
                | (
                    {}
                    if idx is None
                    else {
                        "index_daily": idx.select(
                            pl.col("trade_date").alias("date"),
                            pl.col("ts_code").alias("index_code"),
                            "close",
                        ).sort("date", "index_code")
                    }
                )
            ),
        )
    )
    for stage, fn in steps:
        fn()
        tick(stage)
    if "etf_pcf" not in tables and "holding_weights" not in tables:
        not_provided.append(
            "holdings: neither etf_sh_cons/etf_sz_cons nor index_weight/fund_portfolio"
        )
    for t in ("index_daily", "active_funds", "active_holdings", "fund_nav", "fund_issuance"):
        if t not in tables:
            not_provided.append(f"{t}: its endpoints are not in the raw folder")
    if "fund_daily" not in raw or raw["fund_daily"] is None:
        not_provided.append("etf_daily.amount: fund_daily is not in the raw folder")
    tables = {
        t: df.select([c for c in TABLES[t].columns if c in df.columns]).cast(
            {c: TABLES[t].columns[c] for c in df.columns if c in TABLES[t].columns}
        )
        for t, df in tables.items()
    }
    return tables, counts, tuple(not_provided)


# writing -------------------------------------------------------------------------------------
def import_tushare(
    raw_dir: str | Path,
    out: str | Path,
    *,
    categories: str | Path | CategoryRules | None = None,
    progress: Progress | None = None,
) -> TushareImportSummary:
    """Convert a Tushare raw folder into the dataset folder ``out``.

    Parameters
    ----------
    raw_dir
        Written by ``etfflow fetch tushare`` (``RAW_DIR/<api_name>/<partition>.parquet``).
    out
        Dataset folder, created when missing; tables already there are merged (rows of the
        imported dates, or keys, replaced; the others kept).
    categories
        A TOML file of category overrides (:mod:`categories`), or rules.
    progress
        Optional progress reporter.

    Returns
    -------
    TushareImportSummary

    Raises
    ------
    SourceFileError
        A missing endpoint or field, a value that does not parse, a unit that cannot be
        inferred, a code that maps to no exchange (naming endpoint file, field, example rows).
    ValidationError
        The converted dataset breaks the data contract.

    Notes
    -----
    Every table is converted in memory, merged, written into a temporary folder beside
    ``out``, validated there together with the tables of ``out`` it does not replace, and
    only then moved into place: a failure leaves ``out`` exactly as it was.
    """
    raw_dir, out = Path(raw_dir), Path(out)
    if out.exists() and not out.is_dir():
        raise SourceFileError(
            f"--out {out} is a file, not a dataset folder", file=out, table="(dataset)"
        )
    tables, counts, not_provided = convert_raw(raw_dir, categories=categories, progress=progress)
    merged: dict[str, pl.DataFrame] = {}
    for t, df in tables.items():
        existing = table_path(out, t) if out.is_dir() else None
        old = None
        if existing is not None:
            old = scan_table(existing).collect()
            old = old.drop([c for c in old.columns if c not in TABLES[t].columns])
        merged[t], _ = merge(old, df, t)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.tushare-", dir=out.parent))
    try:
        entries = []  # a table keeps its form in ``out``: one file, or a folder of files
        for t, df in merged.items():
            existing = table_path(out, t) if out.is_dir() else None
            name = existing.name if existing is not None else f"{t}.parquet"
            target = stage / name
            if existing is not None and existing.is_dir():
                target.mkdir()
                target = target / "data.parquet"
            df.write_parquet(target, compression="zstd")
            entries.append(name)
        paths = {t: p for t in TABLES if out.is_dir() and (p := table_path(out, t)) is not None}
        paths.update({t: stage / e for t, e in zip(merged, entries, strict=True)})
        report = validate(Dataset(root=stage, paths=paths), tables=list(merged))
        report.raise_for_errors()
        manifest = _manifest(out, raw_dir, {t: df.height for t, df in tables.items()})
        if not out.exists():
            (stage / MANIFEST).write_text(manifest, encoding="utf-8")
            os.replace(stage, out)
        else:
            swap_in(stage, out, entries)
            with atomic_path(out / MANIFEST) as tmp:
                tmp.write_text(manifest, encoding="utf-8")
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log.info("imported tushare raw folder %s into %s: %s", raw_dir, out, counts)
    return TushareImportSummary(
        out=out,
        rows={t: df.height for t, df in tables.items()},
        counts=counts,
        warnings=tuple(w.message for w in report.warnings),
        not_provided=not_provided,
    )


def _manifest(out: Path, raw_dir: Path, rows: dict[str, int]) -> str:
    return manifest_with_import(
        out,
        {
            "source": "tushare",
            "raw_dir": raw_dir.name,
            "imported_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "rows": rows,
        },
    )

"""Reading a Tushare raw folder: the endpoint fields the converters need, parsed and checked.

:func:`read_endpoint` gives each endpoint's rows with dates and numbers parsed; the helpers
here (errors naming the file, field and rows; counts; code and unit checks) are shared by the
converters of :mod:`.convert_stocks`, :mod:`.convert_etfs` and :mod:`.convert_funds`.

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
fund_daily.vol         手 (lots of 100 units)      (only the unit check)
fund_daily.amount      千元                        etf_daily.amount ×1e3
etf_sh/sz_cons.qty     股                          etf_pcf.quantity
index_weight.weight    %                           holding_weights.weight ×0.01
fund_basic.issue_amount  亿份                      fund_issuance.new_shares ×1e8
fund_portfolio.mkv     元                          active_holdings.mv
=====================  ==========================  =========================================

A unit is also checked against the other fields of the row where Tushare gives both sides
(``amount`` against ``close × vol`` for ``daily`` and ``fund_daily``, ``total_mv`` against
``close × total_share``, ``total_size`` against ``nav × total_share``, index weights summing to
100): a median ratio far from 1 means the file is not in the documented unit, and the import
stops (the unit cannot be inferred) instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl

from etfflow.engine.adapters.tushare.raw import raw_files
from etfflow.exceptions import SourceFileError

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
STOCK_CODE: Final = r"^\d{6}\.(SH|SZ|BJ)$"


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
            ("ts_code", "trade_date", "close", "vol", "amount"),
            ("trade_date",),
            ("close", "vol", "amount"),
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


def check_amount_unit(df: pl.DataFrame, ep: str) -> None:
    """``amount`` of a daily-quote endpoint (``daily``, ``fund_daily``) is in 千元 with ``vol``
    in 手: ``amount × 1e3 / (vol × 100 × close)`` is about 1 on the rows that traded."""
    check_unit(
        df.filter(pl.col("vol") > 0),
        ep,
        "amount",
        pl.col("amount") * THOUSAND / (pl.col("vol") * HAND * pl.col("close")),
        "千元 (vol in 手)",
        "amount × 1e3 / (vol × 100 × close)",
    )


Counts = dict[str, int]


def _count(counts: Counts, key: str, n: int) -> None:
    if n:
        counts[key] = counts.get(key, 0) + int(n)


def raw_files_hint(raw: Mapping[str, pl.DataFrame | None], api: str) -> str:
    df = raw.get(api)
    if df is None or df.height == 0:
        return api
    return str(df[FILE][0])

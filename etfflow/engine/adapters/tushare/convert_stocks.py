"""Stock tables of a Tushare raw folder: ``stocks``, ``stock_daily`` and ``stock_industry``.

Suspended days: ``daily`` has no row on a day a stock does not trade. Every trading day
(``trade_cal.is_open``) from ``list_date`` up to the day before ``delist_date`` without a
``daily`` row becomes a carried row: the last close, ``ret`` 0, ``amount`` and ``turnover`` 0,
market caps carried from the last ``daily_basic`` row, ``is_suspended`` true. ``suspend_d``
is a cross-check only (days missing from ``daily`` but not listed as suspended are counted,
and intraday suspensions with a ``daily`` row stay trading days). A stock without any earlier
close in the raw folder cannot be carried; such days are counted, not written.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from etfflow.engine.adapters.tushare.convert_read import (
    FILE,
    PCT,
    THOUSAND,
    WAN,
    Counts,
    _check_codes,
    _count,
    _fail,
    check_amount_unit,
    check_unit,
    raw_files_hint,
)
from etfflow.engine.schemas import TABLES
from etfflow.exceptions import SourceFileError


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
    check_amount_unit(daily, "daily")
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

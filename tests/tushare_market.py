"""A dataset folder re-expressed as Tushare Pro would serve it: the inverse of
``etfflow.engine.adapters.tushare.convert``, written independently and plainly (one block per
endpoint, Tushare's field names, units and 'YYYYMMDD' date strings).

``market_as_tushare(data_dir)`` gives ``{api_name: DataFrame}``; ``write_raw(tables, raw_dir)``
writes them in the raw folder layout (one ``all`` request file per endpoint). The test server
of ``etfflow fetch tushare`` serves the same dict.

Per-ETF weight snapshots are not written: the converter derives them from the baskets
(``etf_sh_cons``/``etf_sz_cons``) at month ends, which is how the synthetic market made them.
Choices the converter must undo: suspended days have no ``daily``/``daily_basic`` row (they
are listed in ``suspend_d``); ``out_date`` of ``ci_index_member`` is the first day outside the
industry; index weights are per index in percent; a ``159900.SZ`` cash row is added to every
Shenzhen basket; the monthly issuance is carried by one new fund per month and kind in
``fund_basic`` (issue_amount in 亿份, founded on the first of the month).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl

from etfflow.engine.adapters.tushare.raw import raw_file
from etfflow.engine.loading import open_dataset

MARKET_OF_BOARD = {"SH_MAIN": "主板", "SZ_MAIN": "主板", "CHINEXT": "创业板", "STAR": "科创板"}
FLAG_TEXT = {"forbidden": "禁止", "allowed": "允许", "required": "必须"}


def _ymd(col: str) -> pl.Expr:
    return pl.col(col).dt.strftime("%Y%m%d")


def _frame(ds, table: str) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    df = ds.frame(table).collect()
    return df.with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String))


def market_as_tushare(data_dir: str | Path) -> dict[str, pl.DataFrame]:
    """Every endpoint the converter reads, from the contract tables of ``data_dir``."""
    ds = open_dataset(data_dir)
    stocks = _frame(ds, "stocks")
    daily = _frame(ds, "stock_daily")
    industry = _frame(ds, "stock_industry")
    etfs = _frame(ds, "etfs")
    etf_daily = _frame(ds, "etf_daily")
    out: dict[str, pl.DataFrame] = {}

    days = daily["date"].unique().sort()
    every = pl.date_range(days.min(), days.max(), "1d", eager=True)  # type: ignore[arg-type]
    out["trade_cal"] = pl.DataFrame(
        {
            "exchange": ["SSE"] * every.len(),
            "cal_date": every.dt.strftime("%Y%m%d"),
            "is_open": every.is_in(days.implode()).cast(pl.Int64),
        }
    )
    out["stock_basic"] = stocks.select(
        pl.col("code").alias("ts_code"),
        pl.col("code").str.slice(0, 6).alias("symbol"),
        "name",
        pl.col("board").replace_strict(MARKET_OF_BOARD).alias("market"),
        pl.when(pl.col("code").str.ends_with(".SH"))
        .then(pl.lit("SSE"))
        .otherwise(pl.lit("SZSE"))
        .alias("exchange"),
        pl.when(pl.col("delist_date").is_null())
        .then(pl.lit("L"))
        .otherwise(pl.lit("D"))
        .alias("list_status"),
        _ymd("list_date").alias("list_date"),
        _ymd("delist_date").alias("delist_date"),
    )
    traded = daily.filter(~pl.col("is_suspended"))
    out["daily"] = traded.select(
        pl.col("code").alias("ts_code"),
        _ymd("date").alias("trade_date"),
        "close",
        (pl.col("close") / (1.0 + pl.col("ret"))).alias("pre_close"),
        (pl.col("ret") * 100.0).alias("pct_chg"),
        (pl.col("amount") / pl.col("close") / 100.0).alias("vol"),  # 手
        (pl.col("amount") / 1000.0).alias("amount"),  # 千元
    )
    out["daily_basic"] = traded.select(
        pl.col("code").alias("ts_code"),
        _ymd("date").alias("trade_date"),
        "close",
        (pl.col("turnover") * 100.0).alias("turnover_rate"),  # %
        (pl.col("total_mcap") / pl.col("close") / 1e4).alias("total_share"),  # 万股
        (pl.col("float_mcap") / pl.col("close") / 1e4).alias("float_share"),  # 万股
        (pl.col("total_mcap") / 1e4).alias("total_mv"),  # 万元
        (pl.col("float_mcap") / 1e4).alias("circ_mv"),  # 万元
    )
    out["stk_limit"] = daily.filter(pl.col("up_limit").is_not_null()).select(
        _ymd("date").alias("trade_date"),
        pl.col("code").alias("ts_code"),
        "up_limit",
        "down_limit",
    )
    out["suspend_d"] = daily.filter(pl.col("is_suspended")).select(
        pl.col("code").alias("ts_code"),
        _ymd("date").alias("trade_date"),
        pl.lit(None, pl.String).alias("suspend_timing"),
        pl.lit("S").alias("suspend_type"),
    )
    out["stock_st"] = (
        daily.filter(pl.col("is_st"))
        .join(stocks.select("code", "name"), on="code")
        .select(
            pl.col("code").alias("ts_code"),
            ("ST" + pl.col("name")).alias("name"),
            _ymd("date").alias("trade_date"),
            pl.lit("ST").alias("type"),
            pl.lit("风险警示板").alias("type_name"),
        )
    )
    # ST spells as name changes: "ST" + name from the first day of each run of ST days
    st_runs = (
        daily.sort("code", "date")
        .with_columns(
            (pl.col("is_st") != pl.col("is_st").shift(1).over("code"))
            .fill_null(True)
            .alias("starts")
        )
        .filter(pl.col("starts"))
        .join(stocks.select("code", "name"), on="code")
        .select(
            pl.col("code").alias("ts_code"),
            pl.when(pl.col("is_st"))
            .then("ST" + pl.col("name"))
            .otherwise(pl.col("name"))
            .alias("name"),
            _ymd("date").alias("start_date"),
            pl.lit(None, pl.String).alias("end_date"),
            _ymd("date").alias("ann_date"),
            pl.when(pl.col("is_st"))
            .then(pl.lit("ST"))
            .otherwise(pl.lit("撤销ST"))
            .alias("change_reason"),
        )
    )
    listed = stocks.select(
        pl.col("code").alias("ts_code"),
        "name",
        _ymd("list_date").alias("start_date"),
        pl.lit(None, pl.String).alias("end_date"),
        _ymd("list_date").alias("ann_date"),
        pl.lit("其他").alias("change_reason"),
    )
    out["namechange"] = pl.concat([listed, st_runs]).unique(
        ["ts_code", "start_date"], keep="last", maintain_order=True
    )
    l1_codes = {
        n: f"CI005{i:03d}.CI" for i, n in enumerate(sorted(industry["industry_l1"].unique()))
    }
    l2_codes = {
        n: f"CI005{i + 100:03d}.CI" for i, n in enumerate(sorted(industry["industry_l2"].unique()))
    }
    out["ci_index_member"] = industry.join(stocks.select("code", "name"), on="code").select(
        pl.col("industry_l1").replace_strict(l1_codes).alias("l1_code"),
        pl.col("industry_l1").alias("l1_name"),
        pl.col("industry_l2").replace_strict(l2_codes).alias("l2_code"),
        pl.col("industry_l2").alias("l2_name"),
        pl.col("code").alias("ts_code"),
        "name",
        _ymd("start_date").alias("in_date"),
        (pl.col("end_date") + pl.duration(days=1)).dt.strftime("%Y%m%d").alias("out_date"),
        pl.when(pl.col("end_date").is_null())
        .then(pl.lit("Y"))
        .otherwise(pl.lit("N"))
        .alias("is_new"),
    )

    manifest = json.loads((Path(data_dir) / "manifest.json").read_text(encoding="utf-8"))
    index_names = pl.DataFrame(
        [(i["index_code"], i["name"]) for i in manifest["indices"]],
        schema=["index_code", "index_name"],
        orient="row",
    )
    out["etf_basic"] = etfs.join(index_names, on="index_code", how="left").select(
        pl.col("etf_code").alias("ts_code"),
        pl.col("name").alias("csname"),
        pl.col("name").alias("extname"),
        pl.col("name").alias("cname"),
        "index_code",
        "index_name",
        _ymd("list_date").alias("list_date"),
        pl.when(pl.col("delist_date").is_null())
        .then(pl.lit("L"))
        .otherwise(pl.lit("D"))
        .alias("list_status"),
        pl.col("etf_code").str.slice(-2).alias("exchange"),
        pl.lit("境内").alias("etf_type"),
    )
    first_day = etf_daily.group_by("etf_code").agg(pl.col("date").min())
    units = etfs.join(first_day, on="etf_code").select(
        pl.col("etf_code").alias("ts_code"),
        _ymd("date").alias("trade_date"),
        pl.col("creation_unit").cast(pl.Int64).alias("creation_redemption_unit"),
    )
    out["etf_bs_sh_detail"] = units.filter(pl.col("ts_code").str.ends_with(".SH"))
    out["etf_bs_sz_detail"] = units.filter(pl.col("ts_code").str.ends_with(".SZ"))
    out["etf_share_size"] = etf_daily.select(
        _ymd("date").alias("trade_date"),
        pl.col("etf_code").alias("ts_code"),
        (pl.col("shares") / 1e4).alias("total_share"),  # 万份
        (pl.col("shares") * pl.col("nav") / 1e4).alias("total_size"),  # 万元
        "nav",
        "close",
        pl.when(pl.col("etf_code").str.ends_with(".SH"))
        .then(pl.lit("SSE"))
        .otherwise(pl.lit("SZSE"))
        .alias("exchange"),
    )
    out["fund_daily"] = etf_daily.select(
        pl.col("etf_code").alias("ts_code"),
        _ymd("date").alias("trade_date"),
        "close",
        (pl.col("amount") / pl.col("close") / 100.0).alias("vol"),  # 手
        (pl.col("amount") / 1000.0).alias("amount"),  # 千元
    )
    pcf = _frame(ds, "etf_pcf").join(stocks.select("code", "name"), on="code", how="left")
    cons = pcf.select(
        _ymd("date").alias("trade_date"),
        pl.col("etf_code").alias("ts_code"),
        pl.col("code").alias("con_code"),
        pl.col("name").alias("con_name"),
        pl.col("quantity").alias("qty"),
        pl.col("cash_substitute").replace_strict(FLAG_TEXT).alias("sub_flag"),
        pl.col("code").str.slice(-2).alias("exchange"),
    )
    sz_cash = (
        cons.filter(pl.col("ts_code").str.ends_with(".SZ"))
        .select("trade_date", "ts_code")
        .unique()
        .with_columns(
            pl.lit("159900.SZ").alias("con_code"),
            pl.lit("申赎现金").alias("con_name"),
            pl.lit(0.0).alias("qty"),
            pl.lit("必须").alias("sub_flag"),
            pl.lit("SZ").alias("exchange"),
        )
    )
    out["etf_sh_cons"] = cons.filter(pl.col("ts_code").str.ends_with(".SH"))
    out["etf_sz_cons"] = pl.concat([cons.filter(pl.col("ts_code").str.ends_with(".SZ")), sz_cash])
    weights = _frame(ds, "holding_weights")
    # index weights (%) of the last snapshot day, taken from the first ETF of each index: the
    # per-index path is exercised while every ETF alive then has its own snapshot
    last = weights["date"].max()
    first_etf = (
        weights.filter(pl.col("date") == last).group_by("index_code").agg(pl.col("etf_code").min())
    )
    out["index_weight"] = (
        weights.filter(pl.col("date") == last)
        .join(first_etf, on=["index_code", "etf_code"])
        .select(
            "index_code",
            pl.col("code").alias("con_code"),
            _ymd("date").alias("trade_date"),
            (pl.col("weight") * 100.0).round(4).alias("weight"),  # %, 4 decimals
        )
    )
    out["index_daily"] = _frame(ds, "index_daily").select(
        pl.col("index_code").alias("ts_code"), _ymd("date").alias("trade_date"), "close"
    )

    funds = _frame(ds, "active_funds")
    etf_funds = etfs.select(
        pl.col("etf_code").alias("ts_code"),
        "name",
        pl.lit("股票型").alias("fund_type"),
        pl.when(pl.col("is_enhanced"))
        .then(pl.lit("增强指数型"))
        .otherwise(pl.lit("被动指数型"))
        .alias("invest_type"),
        pl.lit("E").alias("market"),
        pl.lit(None, pl.String).alias("found_date"),
        pl.lit(None, pl.String).alias("issue_date"),
        _ymd("delist_date").alias("delist_date"),
        pl.lit(None, pl.Float64).alias("issue_amount"),
    )
    active_funds = funds.select(
        pl.col("fund_code").alias("ts_code"),
        "name",
        pl.when(pl.col("fund_type").str.contains("股票"))
        .then(pl.lit("股票型"))
        .otherwise(pl.lit("混合型"))
        .alias("fund_type"),
        pl.col("fund_type").alias("invest_type"),
        pl.lit("O").alias("market"),
        pl.lit(None, pl.String).alias("found_date"),
        pl.lit(None, pl.String).alias("issue_date"),
        pl.lit(None, pl.String).alias("delist_date"),
        pl.lit(None, pl.Float64).alias("issue_amount"),
    )
    iss = _frame(ds, "fund_issuance").filter(pl.col("new_shares") > 0).sort("month", "kind")
    new_funds = iss.with_row_index("i").select(
        pl.when(pl.col("kind") == "etf")
        .then(pl.format("5999{}.SH", pl.col("i").cast(pl.String).str.zfill(2)))
        .otherwise(pl.format("99{}.OF", pl.col("i").cast(pl.String).str.zfill(4)))
        .alias("ts_code"),
        pl.when(pl.col("kind") == "etf")
        .then(pl.format("新发{}ETF", "i"))
        .otherwise(pl.format("新发{}混合", "i"))
        .alias("name"),
        pl.when(pl.col("kind") == "etf")
        .then(pl.lit("股票型"))
        .otherwise(pl.lit("混合型"))
        .alias("fund_type"),
        pl.when(pl.col("kind") == "etf")
        .then(pl.lit("被动指数型"))
        .otherwise(pl.lit("偏股混合型"))
        .alias("invest_type"),
        pl.when(pl.col("kind") == "etf").then(pl.lit("E")).otherwise(pl.lit("O")).alias("market"),
        _ymd("month").alias("found_date"),
        _ymd("month").alias("issue_date"),
        pl.lit(None, pl.String).alias("delist_date"),
        (pl.col("new_shares") / 1e8).alias("issue_amount"),  # 亿份
    )
    out["fund_basic"] = pl.concat([etf_funds, active_funds, new_funds])
    out["fund_nav"] = _frame(ds, "fund_nav").select(
        pl.col("fund_code").alias("ts_code"),
        (pl.col("date") + pl.duration(days=1)).dt.strftime("%Y%m%d").alias("ann_date"),
        _ymd("date").alias("nav_date"),
        pl.col("nav").alias("unit_nav"),
    )
    active_port = _frame(ds, "active_holdings").select(
        pl.col("fund_code").alias("ts_code"),
        _ymd("disclose_date").alias("ann_date"),
        _ymd("report_date").alias("end_date"),
        pl.col("code").alias("symbol"),
        pl.col("mv").alias("mkv"),
        pl.lit(None, pl.Float64).alias("amount"),  # 股: not in the contract
    )
    out["fund_portfolio"] = active_port
    return out


def write_raw(tables: dict[str, pl.DataFrame], raw_dir: str | Path) -> Path:
    """Write each endpoint as one complete request file (``RAW_DIR/<api>/all.parquet``)."""
    for api, df in tables.items():
        f = raw_file(raw_dir, api)
        f.parent.mkdir(parents=True, exist_ok=True)
        df.write_parquet(f)
    return Path(raw_dir)


def ymd(d: dt.date) -> str:
    return d.strftime("%Y%m%d")

"""Active-fund tables of a Tushare raw folder for the rotation module: ``active_funds``,
``active_holdings``, ``fund_nav`` and ``fund_issuance``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import polars as pl

from etfflow.engine.adapters.tushare.convert_read import YI, Counts, _count

FUND_TYPES_ACTIVE: Final = ("股票型", "混合型")


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

"""Output tables of the look-through: the daily stock and group tables, and the coverage
statistics (docs/methodology.md#26-coverage-statistics)."""

from __future__ import annotations

import numpy as np
import polars as pl

from etfflow.engine.lookthrough.common import Flows
from etfflow.engine.panel import StockPanel
from etfflow.engine.schemas import GROUP_FLOW_SCHEMA, GROUP_LEVELS, STOCK_FLOW_SCHEMA


def stock_table(panel: StockPanel, fl: Flows, codes: pl.Series) -> pl.DataFrame:
    """The daily stock table (:data:`~etfflow.engine.schemas.STOCK_FLOW_SCHEMA`), rows
    in ``stock_daily`` (date, code) order."""
    return pl.DataFrame(
        {
            "date": panel.row_dates(),
            "code": codes,
            "n_etf": fl.netf,
            "n_index": fl.nidx,
            "share_passive_fund": fl.fund,
            "share_passive": fl.share,
            "mv_passive": fl.mv,
            "w_passive": pl.Series(fl.w).fill_nan(None),
            "inflow": pl.Series(fl.inflow).fill_nan(None),
            "float_mcap": panel.row_float_mcap(),
        },
        schema=STOCK_FLOW_SCHEMA,
    )


def group_table(panel: StockPanel, fl: Flows) -> pl.DataFrame:
    """Rows ordered by level, group name, date (built in that order: no sort)."""
    levels, labels, bits = [], [], []
    for k, (level, lbl) in enumerate(zip(GROUP_LEVELS, panel.group_labels, strict=True)):
        order = sorted(range(len(lbl)), key=lbl.__getitem__)
        levels += [level] * len(lbl)
        labels += [lbl[i] for i in order]
        bits += [panel.group_offsets[k] + i for i in order]
    bits_arr = np.array(bits, dtype=np.int64)
    bb_pos, dd = np.nonzero(fl.g_nst[:, bits_arr].T > 0)
    bb = bits_arr[bb_pos]
    n_st = fl.g_nst[dd, bb]
    f_sum = fl.g_f[dd, bb]
    mv_sum = fl.g_mv[dd, bb]
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = fl.g_held[dd, bb] / n_st
        w = np.where(f_sum > 0, mv_sum / f_sum, np.nan)
    inflow = np.where(dd == 0, np.nan, fl.g_in[dd, bb])
    return pl.DataFrame(
        {
            "date": panel.calendar.dates.gather(dd),
            "level": pl.Series(levels, dtype=pl.String).gather(bb_pos),
            "group_name": pl.Series(labels, dtype=pl.String).gather(bb_pos),
            "n_stock": n_st,
            "n_held": fl.g_held[dd, bb],
            "coverage": cov,
            "n_etf": fl.g_netf[dd, bb],
            "n_index": fl.g_nidx[dd, bb],
            "share_passive_fund": fl.g_fund[dd, bb],
            "share_passive": fl.g_sh[dd, bb],
            "mv_passive": mv_sum,
            "float_mcap": f_sum,
            "w_passive": pl.Series(w).fill_nan(None),
            "inflow": pl.Series(inflow).fill_nan(None),
        },
        schema=GROUP_FLOW_SCHEMA,
    )


COVERAGE_METRICS: tuple[str, ...] = ("coverage", "w_passive", "n_etf", "n_index")


def coverage_stats(groups: pl.DataFrame) -> pl.DataFrame:
    """Coverage statistics (Huaan 2024-12, table 9) from the daily group table.

    Definition: docs/methodology.md#26-coverage-statistics.

    One row per (level, group) plus a ``mean of groups`` row per level (行业均值): for each of
    coverage, w_passive (passive share of float cap), n_etf and n_index, the minimum, mean and
    maximum over time and the value on the latest date.
    """
    if groups.height == 0:
        return pl.DataFrame()
    latest = groups["date"].max()
    aggs = []
    for m in COVERAGE_METRICS:
        aggs += [
            pl.col(m).min().cast(pl.Float64).alias(f"{m}_min"),
            pl.col(m).mean().cast(pl.Float64).alias(f"{m}_mean"),
            pl.col(m).max().cast(pl.Float64).alias(f"{m}_max"),
            pl.col(m)
            .filter(pl.col("date") == latest)
            .first()
            .cast(pl.Float64)
            .alias(f"{m}_latest"),
        ]
    per_group = groups.group_by("level", "group_name", maintain_order=True).agg(*aggs)
    stat_cols = [c for c in per_group.columns if c not in ("level", "group_name")]
    means = (
        per_group.group_by("level", maintain_order=True)
        .agg(pl.col(stat_cols).mean())
        .with_columns(pl.lit("(mean of groups)").alias("group_name"))
    )
    out = pl.concat([means.select(per_group.columns), per_group])
    order = {lvl: i for i, lvl in enumerate(GROUP_LEVELS)}
    return (
        out.with_columns(
            pl.col("level").replace_strict(order, return_dtype=pl.Int32).alias("_lvl"),
            (pl.col("group_name") != "(mean of groups)").alias("_grp"),
        )
        .sort("_lvl", "_grp", pl.col("w_passive_latest"), descending=[False, False, True])
        .drop("_lvl", "_grp")
    )

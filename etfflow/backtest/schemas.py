"""Output schemas of :func:`etfflow.backtest.engine.evaluate`, declared once.

The ``bt_*`` store tables (:mod:`etfflow.pipeline.backtest`) hold exactly these columns plus
``run_id``. Rows of a period or factor without a cross-section carry nulls, never numbers
(see :func:`~etfflow.backtest.engine.evaluate`, Notes).
"""

from __future__ import annotations

import polars as pl

#: NAV series of every factor, in this order.
SERIES: tuple[str, ...] = ("long", "short", "long_short", "benchmark", "excess")

IC_SCHEMA = pl.Schema(
    {
        "date": pl.Date,
        "factor": pl.String,
        "ic": pl.Float64,
        "rank_ic": pl.Float64,
        "n": pl.Int32,
        "direction": pl.Int8,
    }
)
#: The assets of the long and short groups on each signal day (the targets: names that could
#: not be sold are carried in the simulated portfolio even when they left the group).
MEMBERS_SCHEMA = pl.Schema(
    {
        "date": pl.Date,
        "factor": pl.String,
        "leg": pl.String,
        "group": pl.Int16,
        "asset": pl.String,
    }
)
GROUPS_SCHEMA = pl.Schema(
    {
        "date": pl.Date,
        "factor": pl.String,
        "group": pl.Int16,
        "ret": pl.Float64,
        "n": pl.Int32,
        "turnover": pl.Float64,
    }
)
NAV_SCHEMA = pl.Schema(
    {"date": pl.Date(), "factor": pl.String(), "series": pl.Enum(SERIES), "nav": pl.Float64()}
)
PERIODS_SCHEMA = pl.Schema(
    {
        "period": pl.Int32,
        "date": pl.Date,
        "start": pl.Date,
        "end": pl.Date,
        "benchmark": pl.Float64,
        "n_benchmark": pl.Int32,
    }
)
SUMMARY_SCHEMA = pl.Schema(
    {
        "factor": pl.String,
        "direction": pl.Int8,
        "n_periods": pl.Int32,
        "rank_ic": pl.Float64,
        "ic": pl.Float64,
        "rank_ic_std": pl.Float64,
        "ic_std": pl.Float64,
        "rank_icir": pl.Float64,
        "icir": pl.Float64,
        "rank_icir_annual": pl.Float64,
        "icir_annual": pl.Float64,
        "rank_ic_t_nw": pl.Float64,
        "rank_ic_win_rate": pl.Float64,
        "ic_win_rate": pl.Float64,
        "long_ann_return": pl.Float64,
        "benchmark_ann_return": pl.Float64,
        "long_excess_ann": pl.Float64,
        "long_max_drawdown": pl.Float64,
        "excess_max_drawdown": pl.Float64,
        "information_ratio": pl.Float64,
        "win_rate_vs_benchmark": pl.Float64,
        "win_rate_absolute": pl.Float64,
        "mean_period_excess": pl.Float64,
        "gain_loss_ratio": pl.Float64,
        "long_short_ann_return": pl.Float64,
        "long_short_max_drawdown": pl.Float64,
        "monotonicity": pl.Float64,
        "turnover": pl.Float64,
        "benchmark": pl.String,
        "groups": pl.Int16,
        "rebalance": pl.String,
        "lag": pl.Int16,
        "cost_bps": pl.Float64,
        "note": pl.String,
    }
)
YEARLY_SCHEMA = pl.Schema(
    {
        "factor": pl.String,
        "year": pl.Int32,
        "n_periods": pl.Int32,
        "rank_ic": pl.Float64,
        "ic": pl.Float64,
        "return": pl.Float64,
        "benchmark_return": pl.Float64,
        "excess_compounded": pl.Float64,
        "excess_arithmetic": pl.Float64,
        "max_drawdown": pl.Float64,
        "excess_max_drawdown": pl.Float64,
        "information_ratio": pl.Float64,
        "win_rate_vs_benchmark": pl.Float64,
        "win_rate_absolute": pl.Float64,
        "mean_excess": pl.Float64,
        "gain_loss_ratio": pl.Float64,
        "long_short_return": pl.Float64,
    }
)
GROUP_SUMMARY_SCHEMA = pl.Schema(
    {
        "factor": pl.String,
        "group": pl.Int16,
        "ann_return": pl.Float64,
        "mean_return": pl.Float64,
        "n_periods": pl.Int32,
    }
)

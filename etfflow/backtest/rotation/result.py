"""The tables of an industry rotation run, declared once (docs/methodology.md#8-industry-rotation).

:class:`RotationResult` holds one Polars frame per table of :data:`SCHEMAS`; the store
(``rot_<table>``), ``--export DIR`` (``<table>.parquet``) and the HTML report all read these
frames, so a column is named and typed here only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from etfflow.backtest.rotation.params import RotationParams
from etfflow.exceptions import EtfflowError

D, S, F, I8, I64, B = pl.Date, pl.String, pl.Float64, pl.Int8, pl.Int64, pl.Boolean

#: Metric columns of ``summary`` (docs/methodology.md#86-strategy-metrics), in report order.
METRICS: tuple[str, ...] = (
    "annual_return",
    "volatility",
    "sharpe",
    "max_drawdown",
    "excess_return",
    "tracking_error",
    "information_ratio",
    "relative_max_drawdown",
    "monthly_win_rate",
    "gain_loss_ratio",
)

#: Names of the four signals, in the order of the correlation matrix.
SIGNALS: tuple[str, ...] = ("flow", "level", "change", "divergence")

SCHEMAS: dict[str, pl.Schema] = {
    # weekly look-through: week-end scale x latest month-end weights, by industry
    "industry_weekly": pl.Schema(
        {"date": D, "industry": S, "holding": F, "holding_share": F, "flow": F}
    ),
    # month-end weeks: holding level L, its monthly change dL and their quantile groups (1 = low)
    "industry_monthly": pl.Schema(
        {
            "date": D,
            "industry": S,
            "holding_share": F,
            "change": F,
            "level_group": I8,
            "change_group": I8,
        }
    ),
    # weekly style regimes of the size and growth/value ratios
    "regimes": pl.Schema({"date": D, "pair": S, "ratio": F, "trend": F, "signal": F, "regime": I8}),
    # monthly ETF vs active-fund industry shares
    "active_shares": pl.Schema(
        {
            "date": D,
            "industry": S,
            "etf_share": F,
            "active_share": F,
            "source": S,
            "divergence": F,
        }
    ),
    # monthly new issuance and its heat (ETF MoM change minus active MoM change)
    "issuance": pl.Schema(
        {
            "month": D,
            "etf_new": F,
            "active_new": F,
            "etf_change": F,
            "active_change": F,
            "heat": F,
            "hot": B,
        }
    ),
    # per rebalance day and industry: the four scores, the composite and the 0/1 flags
    "signals": pl.Schema(
        {
            "date": D,
            "industry": S,
            "flow_score": F,
            "level_score": F,
            "change_score": F,
            "divergence_score": F,
            "composite": F,
            "selected": B,
            "flow_flag": I8,
            "style_flag": I8,
            "divergence_flag": I8,
        }
    ),
    # the composite's holdings per rebalance with their flags and period returns
    "holdings": pl.Schema(
        {
            "date": D,
            "start": D,
            "end": D,
            "industry": S,
            "flow_flag": I8,
            "style_flag": I8,
            "divergence_flag": I8,
            "period_return": F,
            "excess_return": F,
        }
    ),
    # daily NAVs of every strategy and of its equal-weight benchmark
    "nav": pl.Schema({"date": D, "strategy": S, "nav": F, "benchmark_nav": F}),
    # metrics per strategy and period (a year, or "all")
    "summary": pl.Schema({"strategy": S, "period": S, **{m: F for m in METRICS}, "n_days": I64}),
    # mean cross-sectional rank correlation between the four signals
    "correlation": pl.Schema({"signal": S, **{s: F for s in SIGNALS}}),
    # divergence terciles inside its positive and negative sides, next-month returns
    "divergence_groups": pl.Schema(
        {
            "side": S,
            "tercile": I8,
            "mean_return": F,
            "annual_return": F,
            "excess_return": F,
            "win_rate": F,
            "n_months": I64,
        }
    ),
    # the composite's holdings by sector and per-industry hit rate vs equal weight
    "sector_mix": pl.Schema({"sector": S, "share": F}),
    "industry_hits": pl.Schema(
        {"industry": S, "sector": S, "n_held": I64, "hit_rate": F, "mean_excess": F}
    ),
}

#: Row order of each table (its key): results are sorted by it, so a run read back from the
#: store equals the computed one.
KEYS: dict[str, tuple[str, ...]] = {
    "industry_weekly": ("date", "industry"),
    "industry_monthly": ("date", "industry"),
    "regimes": ("date", "pair"),
    "active_shares": ("date", "industry"),
    "issuance": ("month",),
    "signals": ("date", "industry"),
    "holdings": ("date", "industry"),
    "nav": ("strategy", "date"),
    "summary": ("strategy", "period"),
    "correlation": ("signal",),
    "divergence_groups": ("side", "tercile"),
    "sector_mix": ("sector",),
    "industry_hits": ("industry",),
}

#: Tables ``--export DIR`` must write (the issue's list; the others are written as well).
EXPORT_TABLES: tuple[str, ...] = tuple(SCHEMAS)


@dataclass
class RotationResult:
    """Every table of one rotation run (frames follow :data:`SCHEMAS`) and its parameters."""

    params: RotationParams
    tables: dict[str, pl.DataFrame]
    meta: dict[str, object] = field(default_factory=dict)

    def __getitem__(self, name: str) -> pl.DataFrame:
        return self.tables[name]

    def check(self) -> RotationResult:
        """Every table present with exactly its declared columns and dtypes."""
        for name, schema in SCHEMAS.items():
            if name not in self.tables:
                raise EtfflowError(f"rotation result lacks the {name} table")
            got = self.tables[name].schema
            if got != schema:
                raise EtfflowError(
                    f"rotation table {name} has schema {dict(got)}, expected {dict(schema)}"
                )
        return self


def canonical(name: str, df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with exactly the columns and dtypes of table ``name``, sorted by its key."""
    return df.select(list(SCHEMAS[name])).cast(SCHEMAS[name]).sort(list(KEYS[name]))


def empty(name: str) -> pl.DataFrame:
    """An empty frame of table ``name``."""
    return pl.DataFrame(schema=SCHEMAS[name])

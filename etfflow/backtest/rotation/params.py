"""Parameters of the industry rotation of Huafu 2026-02 (docs/methodology.md#8-industry-rotation).

Every choice the report leaves open is a field here, with the default the documentation
justifies; :meth:`RotationParams.check` validates them once, before any work starts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from etfflow.exceptions import EtfflowError

#: Default smoothing of the one-sided HP filter on weekly data. The HP gain is one half at the
#: period ``2π λ^{1/4}``; λ = 300 puts that at about 26 weeks, so the trend keeps swings of
#: half a year and longer (a style regime) and removes the weekly and monthly noise.
DEFAULT_HP_LAMBDA = 300.0


@dataclass(frozen=True)
class RotationParams:
    """Options of :func:`etfflow.backtest.rotation.run.rotate`.

    Parameters
    ----------
    pool
        ETF pool: ``all``, a category, ``nonbroad``, or a time-varying split
        (``concentration:high``, ``turnover:low``, ...: each week counts that week's members).
    start
        First day of the strategies' NAVs (signals use the history before it).
    top
        Industries held by the composite, style and divergence strategies.
    rebalance
        Trading days between rebalances of those strategies (flow quintiles: weekly).
    hp_lambda
        Smoothing λ of the one-sided HP filter (weekly observations).
    size_indices, style_indices
        ``(a, b)`` index codes of the size ratio (large / small) and the style ratio
        (growth / value); ``a / b`` rising is the large-cap (growth) regime.
    regression_window, min_regression_days
        Trailing trading days of the constrained regression that simulates active funds'
        industry weights, and the fewest usable days it needs.
    disclosure_months
        Calendar months a disclosed active portfolio stays in force after its publication.
    trade_lag
        Trading days between a rebalance decision (close of ``t``) and the trade (close of
        ``t + trade_lag``).
    quantiles, terciles
        Groups of the flow / level / change sorts and of the divergence sort within each side.
    level
        Industry classification (``industry_l1``: CITIC level 1, as in the report).
    mode
        Holdings of the look-through: ``weights`` (``holding_weights`` snapshots), ``pcf``
        (the month-end baskets of ``etf_pcf``) or ``auto`` (weights when the dataset has them).
    """

    pool: str = "all"
    start: dt.date | None = None
    top: int = 6
    rebalance: int = 10
    hp_lambda: float = DEFAULT_HP_LAMBDA
    size_indices: tuple[str, str] = ("000300.SH", "000852.SH")
    style_indices: tuple[str, str] = ("399370.SZ", "399371.SZ")
    regression_window: int = 60
    min_regression_days: int = 20
    disclosure_months: int = 2
    trade_lag: int = 1
    quantiles: int = 5
    terciles: int = 3
    level: str = "industry_l1"
    mode: str = "auto"

    def check(self) -> RotationParams:
        """Raise :class:`EtfflowError` naming the first bad option; return ``self``."""
        ints = {
            "top": (self.top, 1),
            "rebalance": (self.rebalance, 1),
            "regression_window": (self.regression_window, 2),
            "min_regression_days": (self.min_regression_days, 2),
            "disclosure_months": (self.disclosure_months, 0),
            "trade_lag": (self.trade_lag, 0),
            "quantiles": (self.quantiles, 2),
            "terciles": (self.terciles, 1),
        }
        for name, (value, least) in ints.items():
            if not isinstance(value, int) or value < least:
                raise EtfflowError(
                    f"rotation option {name} must be an integer >= {least}, got {value!r}"
                )
        if self.min_regression_days > self.regression_window:
            raise EtfflowError(
                f"rotation option min_regression_days ({self.min_regression_days}) exceeds "
                f"regression_window ({self.regression_window})"
            )
        if not (self.hp_lambda > 0):
            raise EtfflowError(f"rotation option hp_lambda must be > 0, got {self.hp_lambda!r}")
        for name, pair in (
            ("size_indices", self.size_indices),
            ("style_indices", self.style_indices),
        ):
            if len(pair) != 2 or pair[0] == pair[1] or not all(pair):
                raise EtfflowError(
                    f"rotation option {name} needs two different index codes, got {list(pair)!r}"
                )
        if self.mode not in ("auto", "weights", "pcf"):
            raise EtfflowError(
                f"rotation option mode must be auto, weights or pcf, got {self.mode!r}"
            )
        if self.level not in ("industry_l1", "industry_l2"):
            raise EtfflowError(
                f"rotation option level must be industry_l1 or industry_l2, got {self.level!r}"
            )
        return self

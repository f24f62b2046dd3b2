"""Parameters of the synthetic market: :class:`MarketConfig` and the three preset sizes.

Every number the data-generating process uses lives here, so a test can build a variant with
``dataclasses.replace(SIZES["tiny"], impact_gamma={2024: 0.0})``. Money is CNY, returns are
decimal daily returns, flows are decimal daily share-growth rates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Huaan 2024-12 table 7: A-share equity ETFs at each year end (2024: 2024-10-31):
#: year -> (count broad, count sector, count style, AUM broad, AUM sector, AUM style) in
#: units and CNY trillions. Used for the count path, the category mix of new listings and
#: the AUM mix (scaled to the synthetic market, see :func:`etf_count_anchor`).
ETF_HISTORY: dict[int, tuple[int, int, int, float, float, float]] = {
    2018: (64, 68, 9, 0.248, 0.077, 0.005),
    2019: (90, 109, 22, 0.340, 0.209, 0.014),
    2020: (118, 146, 30, 0.376, 0.377, 0.016),
    2021: (153, 344, 35, 0.481, 0.451, 0.026),
    2022: (166, 413, 41, 0.570, 0.475, 0.026),
    2023: (210, 463, 54, 0.840, 0.567, 0.045),
    2024: (245, 495, 65, 2.096, 0.613, 0.072),
}


def _default_flow_beta() -> dict[int, float]:
    # contrarian 2019-2023, trend-following from 2024 (Huaan 2024-12 §2.2)
    return {2019: -0.05, 2020: -0.05, 2021: -0.05, 2022: -0.05, 2023: -0.05, 2024: 0.06, 2025: 0.06}


def _default_impact_gamma() -> dict[int, float]:
    # calibrated on `small` (seeds 0-7): mean monthly Rank IC of w_passive_inflow_20 vs the
    # next 20-day return about -0.067 in 2023 and +0.056 in 2024 (sd across seeds 0.02-0.03);
    # 2019-2020 stronger because the passive share of float cap was only ~1% then
    return {2019: -24.0, 2020: -24.0, 2021: -14.0, 2022: -14.0, 2023: -14.0, 2024: 7.0, 2025: 7.0}


def _default_market_drift() -> dict[int, float]:
    # roughly the CSI 800 path: 2020 +25%, 2021 +3%, 2022 -20%, 2023 -10%, 2024 +12%
    return {
        2019: 0.0011,
        2020: 0.0010,
        2021: 0.0002,
        2022: -0.0008,
        2023: -0.0004,
        2024: 0.0005,
        2025: 0.0003,
    }


def _default_aum_frac() -> dict[int, float]:
    # equity-ETF AUM / total float cap at each year end (Huaan 2024-12 table 7: 0.56tn -> 2.78tn)
    return {
        2018: 0.0065,
        2019: 0.010,
        2020: 0.012,
        2021: 0.013,
        2022: 0.017,
        2023: 0.024,
        2024: 0.040,
        2025: 0.045,
    }


@dataclass(frozen=True)
class MarketConfig:
    """Every parameter of the synthetic market (see ``docs/synthetic_market.md``).

    Dict-valued fields keyed by calendar year (``flow_beta``, ``impact_gamma``,
    ``market_drift``, ``aum_frac``) fall back to the nearest listed year for a year they do not
    list. Counts scale the preset ``full`` market (5,300 stocks, 1,000 ETFs).
    """

    name: str = "full"
    start: dt.date = dt.date(2020, 1, 1)
    end: dt.date = dt.date(2024, 12, 31)

    # --- stocks ---------------------------------------------------------------------------
    n_stocks: int = 5300
    ipo_frac: float = 0.26
    delist_frac: float = 0.025
    industry_change_frac: float = 0.01
    st_frac: float = 0.03
    suspension_rate: float = 0.25  # suspension episodes per stock-year
    suspension_mean_days: float = 2.5
    board_mix_existing: tuple[float, float, float, float] = (0.40, 0.38, 0.18, 0.04)
    board_mix_ipo: tuple[float, float, float, float] = (0.17, 0.10, 0.43, 0.30)
    float_mcap_median: float = 6.0e9
    float_mcap_log_sd: float = 1.15
    float_mcap_bounds: tuple[float, float] = (1.0e8, 2.0e12)
    ipo_float_mcap_median: float = 2.5e9
    price_median: float = 13.0
    price_log_sd: float = 0.75
    limit_main: float = 0.10
    limit_growth: float = 0.20  # ChiNext and STAR
    limit_st: float = 0.05
    ipo_pop_main_max: float = 0.44

    # --- factor returns (decimal daily) ---------------------------------------------------
    market_vol: float = 0.012
    market_drift: dict[int, float] = field(default_factory=_default_market_drift)
    industry_vol: float = 0.008
    size_vol: float = 0.004
    value_vol: float = 0.003
    idio_vol_median: float = 0.018
    idio_vol_log_sd: float = 0.25
    beta_range: tuple[float, float] = (0.7, 1.3)
    idio_t_dof: float = 5.0
    turnover_median: float = 0.015  # amount / float cap per day

    # --- indices --------------------------------------------------------------------------
    index_scale: float = 1.0  # band sizes = full-market sizes x index_scale
    index_weight_cap: float = 0.10
    index_min_listed_days: int = 60
    index_min_members: int = 5
    index_base: float = 1000.0
    sector_top_n: int = 100
    theme_top_n: int = 100
    style_top_n: int = 100
    n_sector_indices: int = 44
    rebalance_months: tuple[int, ...] = (6, 12)

    # --- ETFs -----------------------------------------------------------------------------
    n_etfs_end: int = 1000
    etf_delist_frac: float = 0.02
    enhanced_frac: float = 0.12  # of broad ETFs
    enhanced_tilt_sd: float = 0.4
    enhanced_swap_frac: float = 0.05
    creation_units: tuple[float, ...] = (500_000.0, 800_000.0, 1_000_000.0)
    etf_nav0_range: tuple[float, float] = (0.8, 4.0)
    new_etf_aum_frac: float = 1.0e-5  # median initial AUM of a new ETF / total float cap
    aum_frac: dict[int, float] = field(default_factory=_default_aum_frac)

    # --- flows ----------------------------------------------------------------------------
    flow_lookback: int = 20
    flow_beta: dict[int, float] = field(default_factory=_default_flow_beta)
    flow_kappa: float = 0.03
    flow_noise: float = 0.006
    flow_persist_phi: float = 0.97
    flow_persist_sd: float = 0.0015  # stationary sd of the persistent ETF-specific flow
    flow_clip: tuple[float, float] = (-0.15, 0.25)  # bounds of the daily flow rate

    # --- planted price impact -------------------------------------------------------------
    impact_gamma: dict[int, float] = field(default_factory=_default_impact_gamma)
    impact_horizon: int = 20
    impact_drift_cap: float = 0.01  # bound of the planted daily drift (keeps the loop stable)

    # --- Huafu 2026-02 rotation tables (docs/methodology.md#11-input-tables) ---------------
    n_active_funds: int = 300
    active_holdings_range: tuple[int, int] = (40, 110)
    active_cash: float = 0.08
    active_fee: float = 0.015  # per year
    top10_lag_days: int = 15  # trading days after quarter end
    full_lag_days: int = 42  # trading days after June/December end

    def __hash__(self) -> int:  # dict fields: hash the JSON form (equal configs, equal hash)
        return hash(json.dumps(self.to_json(), sort_keys=True))

    def to_json(self) -> dict[str, Any]:
        """The config as a JSON-ready dict (dates as ISO strings, year keys as strings)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, dt.date):
                v = v.isoformat()
            elif isinstance(v, Mapping):
                v = {str(k): v[k] for k in sorted(v)}
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out


def by_year(table: Mapping[int, float], year: int) -> float:
    """``table[year]``, or the value of the nearest listed year (ties: the earlier one)."""
    if year in table:
        return float(table[year])
    if not table:
        return 0.0
    best = min(table, key=lambda y: (abs(y - year), y))
    return float(table[best])


_TINY = MarketConfig(
    name="tiny",
    start=dt.date(2023, 10, 1),
    end=dt.date(2024, 5, 31),
    n_stocks=80,
    ipo_frac=0.05,
    delist_frac=0.03,
    industry_change_frac=0.03,
    st_frac=0.05,
    index_scale=0.03,
    n_sector_indices=6,
    n_etfs_end=15,
    etf_delist_frac=0.07,
    n_active_funds=10,
    active_holdings_range=(10, 25),
)

_SMALL = MarketConfig(
    name="small",
    start=dt.date(2023, 1, 1),
    end=dt.date(2024, 12, 31),
    n_stocks=800,
    ipo_frac=0.08,
    delist_frac=0.02,
    index_scale=0.15,
    n_sector_indices=20,
    n_etfs_end=120,
    n_active_funds=60,
    active_holdings_range=(30, 80),
)

_FULL = MarketConfig()

#: The preset markets: ``tiny`` (tests), ``small`` (the demo default) and ``full``.
SIZES: dict[str, MarketConfig] = {"tiny": _TINY, "small": _SMALL, "full": _FULL}

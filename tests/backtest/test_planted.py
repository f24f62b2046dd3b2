"""The decile tests recover the flow effect planted in the synthetic market (seeded).

``docs/synthetic_market.md``: inflows move later returns with ``impact_gamma`` −14 in 2021–2023
(reversal) and +7 in 2024 (momentum); on ``small`` seeds 0–7 the yearly mean Rank IC of
``w_passive_inflow_20`` is −0.067 (sd 0.032) in 2023 and +0.056 (sd 0.020) in 2024.
Thresholds: |Rank IC| > 0.02 with the planted sign, and the top-minus-bottom decile return of
the year with the planted sign and above 5%. Measured on seeds 0, 1, 2 with the universe and
trading rules of docs/methodology.md#51-universe-and-trading-rules and lag 1: Rank IC
−0.059/−0.095/−0.058 (2023) and +0.064/+0.057/+0.065 (2024); long-short −30%/−29%/−32% and
+17%/+24%/+42%.
"""

from __future__ import annotations

import pytest

from etfflow.backtest.engine import evaluate
from etfflow.data_samples import SIZES, generate_market, planted_effects
from etfflow.engine.loading import open_dataset
from etfflow.engine.lookthrough import penetrate
from etfflow.engine.market import load_market
from etfflow.engine.universe import stock_rules
from etfflow.factors import compute_factors, stock_inputs

IC_THRESHOLD = 0.02
LONG_SHORT_THRESHOLD = 0.05


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0])
def test_deciles_recover_the_planted_flow_effect(tmp_path, seed):
    data = generate_market(tmp_path / "small", size="small", seed=seed)
    ds = open_dataset(data)
    market = load_market(ds)
    fs = compute_factors(stock_inputs(market, penetrate(ds).stocks), "w_passive_inflow_20")
    ev = evaluate(
        fs.values,
        market.ret,
        market.calendar.dates.to_numpy(),
        rules=stock_rules(market),
        groups=10,
        direction=1,
        rebalance=20,
        lag=1,
    )
    expected = planted_effects(SIZES["small"])["price_impact"]["expected_rank_ic_sign"]
    yearly = {r["year"]: r for r in ev.yearly.iter_rows(named=True)}
    checked = 0
    for year, row in yearly.items():
        sign = expected[str(year)]
        if row["n_periods"] < 8 or sign == 0:
            continue
        assert sign * row["rank_ic"] > IC_THRESHOLD, (year, row["rank_ic"])
        assert sign * row["long_short_return"] > LONG_SHORT_THRESHOLD, (year, row)
        checked += 1
    assert checked == 2  # 2023 (reversal) and 2024 (momentum)

"""The planted flow impact of the synthetic market shows up in the short-term-flow quintiles.

The synthetic ``small`` market adds to each stock's return the drift
``gamma · (inflow / float cap)`` of the previous 20 days (docs/synthetic_market.md). With the
default, report-calibrated ``gamma`` (−14 in 2023, +7 in 2024) the weekly industry effect is
too weak to dominate 30 industries × 100 weeks, so the test plants ``gamma = ±40`` in both
years. Documented thresholds (measured on seed 0: see docs/methodology.md#87-planted-effect):
with +40 the long-short (Q5 − Q1) earns a positive annual return and the quintiles' annual
returns rank with the quintile number (Spearman ≥ 0.6); with −40 the long-short is negative.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from etfflow.backtest.rotation.run import rotate
from etfflow.data_samples import generate_market
from etfflow.data_samples.config import SIZES
from etfflow.engine.loading import open_dataset

GAMMA = 40.0
MIN_SPEARMAN = 0.6


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = pl.Series(a).rank().to_numpy()
    rb = pl.Series(b).rank().to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.fixture(scope="module", params=[GAMMA, -GAMMA], ids=["gamma+", "gamma-"])
def planted(request, tmp_path_factory: pytest.TempPathFactory) -> tuple[float, pl.DataFrame]:
    g = request.param
    cfg = dataclasses.replace(SIZES["small"], impact_gamma={2023: g, 2024: g})
    root: Path = tmp_path_factory.mktemp("planted") / "m"
    generate_market(root, config=cfg, seed=0)
    summary = rotate(open_dataset(root))["summary"].filter(pl.col("period") == "all")
    return g, summary


def test_flow_quintiles_follow_the_planted_impact(planted) -> None:
    g, s = planted
    ann = {r["strategy"]: r["annual_return"] for r in s.iter_rows(named=True)}
    groups = np.arange(1, 6)
    rets = np.array([ann[f"flow_q{k}"] for k in groups])
    if g > 0:
        assert ann["flow_ls"] > 0
        assert ann["flow_q5"] > ann["flow_q1"]
        assert _spearman(groups, rets) >= MIN_SPEARMAN, rets
    else:
        assert ann["flow_ls"] < 0
        assert ann["flow_q5"] < ann["flow_q1"]

"""Industry inputs summed over a subset of stocks (Kaiyuan 2024-09 figure 16: industries from
the stocks with enough ETF ownership): equal to the look-through's 整体法 groups with every
stock kept, a loop twin with a mask, point in time, and ``--min-passive`` at industry level."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import etfflow as ef
from etfflow.cli import app
from etfflow.engine.universe import min_passive_mask
from etfflow.exceptions import EtfflowError
from etfflow.factors.inputs import ADDITIVE_COLUMNS, industry_inputs_from_stocks


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = ef.generate_market(tmp_path_factory.mktemp("ifs") / "m", size="tiny", seed=7)
    ds = ef.open_dataset(folder)
    return folder, ef.load_market(ds), ef.look_through(ds)


@pytest.mark.parametrize("level", ["industry_l1", "industry_l2"])
def test_every_stock_kept_equals_the_lookthrough_groups(tiny, level) -> None:
    _f, market, lt = tiny
    a = ef.industry_inputs(market, lt.groups, level)
    b = industry_inputs_from_stocks(market, lt.stocks, level)
    assert a.names == b.names and (a.present == b.present).all()
    for c in (*ADDITIVE_COLUMNS, "w_passive", "ret"):
        np.testing.assert_allclose(b[c], a[c], rtol=1e-12, equal_nan=True, err_msg=c)
    assert "share_passive_fund" not in b.series  # not a sum over stocks


def test_masked_sums_match_a_loop(tiny) -> None:
    _f, market, lt = tiny
    x = ef.stock_inputs(market, lt.stocks)
    keep = min_passive_mask(x["w_passive"], x.present, 0.5)
    b = industry_inputs_from_stocks(market, lt.stocks, "industry_l1", keep)
    ids, labels = market.group_ids("industry_l1")
    for t in (1, len(market.calendar) // 2, len(market.calendar) - 1):
        for g in range(len(labels)):
            rows = [s for s in range(ids.shape[1]) if ids[t, s] == g and keep[t, s]]
            if not rows:
                assert not b.present[t, g]
                continue
            mv = sum(x["mv_passive"][t, s] for s in rows)
            cap = sum(x["float_mcap"][t, s] for s in rows)
            assert b["mv_passive"][t, g] == pytest.approx(mv, rel=1e-12)
            assert b["w_passive"][t, g] == pytest.approx(mv / cap, rel=1e-12)
            inflow = [x["inflow"][t, s] for s in rows if math.isfinite(x["inflow"][t, s])]
            if inflow:
                assert b["inflow"][t, g] == pytest.approx(sum(inflow), rel=1e-12, abs=1e-6)
    assert keep.sum() < x.present.sum()  # the filter did drop stocks


def test_filtered_inputs_of_a_day_ignore_later_data(tiny) -> None:
    _f, market, lt = tiny
    day = market.calendar.dates[60]
    later = pl.col("date") > day
    noisy = lt.stocks.with_columns(
        pl.when(later).then(pl.col(c) * 2.5).otherwise(pl.col(c)) for c in ("mv_passive", "inflow")
    )

    def build(stocks):
        x = ef.stock_inputs(market, stocks)
        keep = min_passive_mask(x["w_passive"], x.present, 0.3)
        return industry_inputs_from_stocks(market, stocks, "industry_l1", keep)

    a, b = build(lt.stocks), build(noisy)
    for c in (*ADDITIVE_COLUMNS, "w_passive"):
        np.testing.assert_array_equal(a[c][:61], b[c][:61], err_msg=c)
    assert not np.array_equal(a["mv_passive"][61:], b["mv_passive"][61:], equal_nan=True)


def test_factors_compute_min_passive_at_industry_level(tiny, tmp_path) -> None:
    folder, *_ = tiny
    store = tmp_path / "s.duckdb"
    base = ["factors", "compute", str(folder), "--level", "industry_l1", "--store", str(store)]
    r = CliRunner().invoke(app, [*base, "--factors", "all", "--min-passive", "0.5"])
    assert r.exit_code == 0, r.output
    with ef.open_store(store, read_only=True) as st:
        run = st.runs().filter(pl.col("kind") == "factors").row(-1, named=True)
        params = st.run(run["run_id"])["params"]
        defs = st.table("factor_defs", run["run_id"])
    assert params["min_passive"] == 0.5
    names = defs["factor"].to_list()
    assert "w_passive_inflow_20" in names and not any("share_passive_fund" in n for n in names)
    one = ["--factors", "share_passive_fund_diff_20", "--min-passive", "0.5"]
    r = CliRunner().invoke(app, [*base, *one])
    assert r.exit_code == 1 and "share_passive_fund" in r.stderr
    r = CliRunner().invoke(
        app, ["factors", "compute", str(folder), "--store", str(store), "--min-passive", "0.5"]
    )
    assert r.exit_code == 1 and "etfflow backtest --min-passive" in r.stderr
    with pytest.raises(EtfflowError, match=r"\[0, 1\)"):
        from etfflow.pipeline.runs import run_factors

        run_factors(folder, level="industry_l1", min_passive=1.0, store=store)

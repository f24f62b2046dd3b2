"""``etfflow compare``: NAV lines of stored backtests side by side, labels naming what differs,
the ratio to the first line (Huaan 2024-12 tables 23, 35–38, 53)."""

from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.data_samples import generate_market
from etfflow.engine.store import open_store
from etfflow.exceptions import EtfflowError
from etfflow.pipeline.backtest import run_backtest
from etfflow.pipeline.compare import compare_runs
from etfflow.pipeline.runs import run_factors


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    data = generate_market(root / "m", size="tiny", seed=6)
    store = root / "s.duckdb"
    frun = run_factors(data, factors="revs_20,w_passive_chg_20", store=store)
    whole = run_backtest(store, factor_run=frun.run_id, rebalance=10)
    top = run_backtest(store, factor_run=frun.run_id, rebalance=10, universe="market_cap_top25")
    return store, whole, top


def test_one_factor_across_universes(runs) -> None:
    store, whole, top = runs
    cmp = compare_runs(store, runs=[whole.run_id, top.run_id], factors=["revs_20"])
    assert cmp.table["line"].to_list() == [
        "revs_20 [universe=default]",
        "revs_20 [universe=market_cap_top25]",
    ]
    # each line is the stored long-short NAV of its run
    for run in (whole, top):
        got = cmp.navs.filter(pl.col("run_id") == run.run_id)
        want = run.evaluation.nav.filter(
            (pl.col("factor") == "revs_20") & (pl.col("series").cast(pl.String) == "long_short")
        )
        assert got["nav"].to_list() == want["nav"].to_list()
    # the ratio: final NAV over the first line's NAV on the same (last common) date
    a = cmp.navs.filter(pl.col("run_id") == whole.run_id).drop_nulls("nav")
    b = cmp.navs.filter(pl.col("run_id") == top.run_id).drop_nulls("nav")
    last = b.join(a, on="date", how="inner", suffix="_a").sort("date").tail(1)
    ratio = cmp.table["nav_ratio_to_first"].to_list()
    assert ratio[0] == 1.0
    assert ratio[1] == pytest.approx(last["nav"].item() / last["nav_a"].item(), rel=1e-12)
    s = top.evaluation.summary.filter(pl.col("factor") == "revs_20").row(0, named=True)
    assert cmp.table.row(1, named=True)["rank_icir"] == s["rank_icir"]


def test_two_factors_of_the_latest_run_and_errors(runs, tmp_path) -> None:
    store, _whole, top = runs
    cmp = compare_runs(store, factors=["revs_20", "w_passive_chg_20"], series="long")
    assert cmp.table["line"].to_list() == ["revs_20", "w_passive_chg_20"]
    assert set(cmp.table["run_id"]) == {top.run_id}
    with pytest.raises(EtfflowError, match="has no factor 'nope'"):
        compare_runs(store, factors=["nope"])
    with pytest.raises(EtfflowError, match="unknown NAV series"):
        compare_runs(store, factors=["revs_20"], series="alpha")
    with open_store(store, read_only=True) as st:
        frun = st.runs().filter(pl.col("kind") == "factors")["run_id"][0]
    with pytest.raises(EtfflowError, match="not a backtest run"):
        compare_runs(store, runs=[frun], factors=["revs_20"])
    page, out = tmp_path / "c.html", tmp_path / "c.parquet"
    args = ["compare", "--store", str(store), "--factors", "revs_20,w_passive_chg_20"]
    r = CliRunner().invoke(app, [*args, "--html", str(page), "--export", str(out)])
    assert r.exit_code == 0, r.output
    assert "nav_ratio_to_first" in r.stdout and "w_passive_chg_20" in r.stdout
    text = page.read_text(encoding="utf-8")
    assert "<svg" in text and "<script" not in text
    assert pl.read_parquet(out).columns == ["line", "run_id", "factor", "date", "nav"]
    r = CliRunner().invoke(app, ["compare", "--store", str(tmp_path / "none.duckdb"), *args[3:]])
    assert r.exit_code == 1 and "no store" in r.stderr
    assert not (tmp_path / "none.duckdb").exists()

"""Backtest runs: stored factors in, stored / exported evaluation out."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from etfflow.data_samples import generate_market
from etfflow.engine.store import open_store
from etfflow.exceptions import EtfflowError, StoreError
from etfflow.pipeline.backtest import TABLES, load_evaluation, run_backtest
from etfflow.pipeline.runs import run_factors

FACTORS = "w_passive_inflow_20,revs_20,w_passive_zs_20"


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("bt")
    data = generate_market(root / "m", size="tiny", seed=5)
    store = root / "s.duckdb"
    frun = run_factors(data, factors=FACTORS, store=store)
    irun = run_factors(data, factors="revs_20,w_passive_chg_20", level="industry_l1", store=store)
    return data, store, frun, irun


def test_backtest_stores_every_table_and_reloads(stored, tmp_path):
    _data, store, frun, _irun = stored
    run = run_backtest(store, groups=5, export=tmp_path / "out")
    assert run.factor_run == frun.run_id
    ev = run.evaluation
    assert ev.summary["factor"].to_list() == FACTORS.split(",")
    with open_store(store, read_only=True) as st:
        back, row = load_evaluation(st, run.run_id)
    assert row["params"]["groups"] == 5 and row["params"]["universe"] == "default"
    for attr in TABLES.values():
        assert_frame_equal(getattr(back, attr), getattr(ev, attr), check_dtypes=False)
    ic = pl.read_parquet(tmp_path / "out" / "ic.parquet")
    groups = pl.read_parquet(tmp_path / "out" / "groups.parquet")
    summary = pl.read_parquet(tmp_path / "out" / "summary.parquet")
    assert ic.columns == ["date", "factor", "ic", "rank_ic"]
    assert groups.columns == ["date", "factor", "group", "ret"]
    assert summary.height == 3 and "long_short_max_drawdown" in summary.columns
    assert sorted(groups["group"].unique().to_list()) == [1, 2, 3, 4, 5]
    # identical inputs replace the earlier rows
    again = run_backtest(store, groups=5)
    assert again.run_id == run.run_id
    con = duckdb.connect(str(store), read_only=True)
    try:
        n = con.execute("SELECT count(*) FROM bt_summary WHERE run_id = ?", [run.run_id]).fetchone()
        assert n[0] == 3
    finally:
        con.close()


def test_industry_backtest_uses_quintiles_and_all_industries(stored):
    _data, store, _frun, irun = stored
    run = run_backtest(store, level="industry_l1")
    assert run.factor_run == irun.run_id
    assert run.params["groups"] == 5 and run.params["universe"] == "all industries"
    g = run.evaluation.groups
    assert g["group"].max() == 5


def test_universe_none_lag0_direction_default(stored):
    _data, store, _frun, _irun = stored
    run = run_backtest(
        store, factors="revs_20", universe="none", lag=0, direction="default", rebalance="month"
    )
    assert run.evaluation.summary["direction"].to_list() == [-1]
    assert run.params["rebalance"] == "month"
    assert np.isfinite(run.evaluation.ic["rank_ic"].to_numpy()).any()


def test_errors_are_clear(stored, tmp_path):
    data, store, frun, _irun = stored
    with pytest.raises(EtfflowError, match="has no factor 'mom_12m'"):
        run_backtest(store, factors="mom_12m")
    with pytest.raises(StoreError, match="no factor run at level 'industry_l2'"):
        run_backtest(store, level="industry_l2")
    with pytest.raises(StoreError, match="is a lookthrough run"):
        run_backtest(store, factor_run=frun.lookthrough.run_id)
    # a dataset that changed after the factors were computed is refused
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    other = tmp_path / "o.duckdb"
    run_factors(copy, factors="revs_20", store=other)
    sd = pl.read_parquet(copy / "stock_daily.parquet")
    sd.with_columns(pl.col("ret") * 1.01).write_parquet(copy / "stock_daily.parquet")
    with pytest.raises(EtfflowError, match="changed since factor run"):
        run_backtest(other)


def test_failed_backtest_leaves_store_unchanged(stored, monkeypatch):
    _data, store, _frun, _irun = stored
    with open_store(store, read_only=True) as st:
        before = st.row_counts()
    import etfflow.engine.store as store_mod

    real = store_mod.Store._insert

    def boom(self, name, run_id, df):
        if name == "bt_nav":
            raise RuntimeError("disk full")
        return real(self, name, run_id, df)

    monkeypatch.setattr(store_mod.Store, "_insert", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        run_backtest(store, factors="revs_20", groups=3, lag=0)
    monkeypatch.undo()
    with open_store(store, read_only=True) as st:
        assert st.row_counts() == before


def test_report_html_from_store(stored, tmp_path):
    _data, store, _frun, _irun = stored
    run = run_backtest(store, groups=5, html=tmp_path / "r.html")
    text = Path(run.html).read_text()
    for name in FACTORS.split(","):
        assert name in text
    # self-contained: nothing is fetched (an SVG namespace URI is not a fetch)
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", text)
    assert "@import" not in text and "<script src" not in text


def test_flow_ts_corr_per_metric_and_year(stored):
    from etfflow.backtest.tscorr import ts_rank_corr
    from etfflow.pipeline.backtest import flow_ts_corr

    _data, _store, _frun, irun = stored
    fs = irun.factors
    got = flow_ts_corr(fs, metrics=["w_passive_chg_20", "not_computed_20"])
    assert got["metric"].unique().to_list() == ["w_passive_chg_20"]
    direct = ts_rank_corr(
        fs.values["w_passive_chg_20"], fs.inputs["ret"], fs.inputs.calendar.dates.to_numpy()
    )
    assert_frame_equal(got.drop("metric"), direct)
    with pytest.raises(EtfflowError, match="none of the metrics"):
        flow_ts_corr(fs, metrics=["nope"])


def test_min_passive_drops_low_etf_ownership_stocks(stored):
    """--min-passive q: the stored run equals evaluate_factors on the same factor set with the
    same quantile, holds fewer stocks than without it, and refuses industries."""
    from etfflow import evaluate, load_market, open_dataset

    data, store, frun, irun = stored
    full = run_backtest(store, factor_run=frun.run_id, factors="revs_20", rebalance=10)
    half = run_backtest(
        store, factor_run=frun.run_id, factors="revs_20", rebalance=10, min_passive=0.5
    )
    assert half.params["min_passive"] == 0.5 and "min_passive" not in full.params
    assert half.run_id != full.run_id
    n_full, n_half = full.evaluation.ic["n"].sum(), half.evaluation.ic["n"].sum()
    assert 0.4 * n_full < n_half < 0.6 * n_full  # about half the universe, every period
    market = load_market(open_dataset(data))
    ev = evaluate(frun.factors, market, rebalance=10, min_passive=0.5)  # all three factors
    got = half.evaluation.ic
    want = ev.ic.filter(pl.col("factor") == "revs_20")
    assert_frame_equal(got, want)
    with pytest.raises(EtfflowError, match="stock backtest"):
        run_backtest(store, factor_run=irun.run_id, level="industry_l1", min_passive=0.5)


def test_index_benchmark_replaces_the_equal_weight(stored):
    """--benchmark CODE: each period's benchmark return is the index's close-to-close return
    over the holding period (telescoped from index_daily by hand), excess follows it, and an
    unknown code names the codes the dataset has."""
    from etfflow import open_dataset

    data, store, frun, _irun = stored
    eq = run_backtest(store, factor_run=frun.run_id, factors="revs_20", rebalance=10)
    ix = run_backtest(
        store, factor_run=frun.run_id, factors="revs_20", rebalance=10, benchmark="000300.SH"
    )
    assert ix.params["benchmark"] == "000300.SH" and "benchmark" not in eq.params
    assert ix.evaluation.summary["benchmark"].item() == "000300.SH"
    assert eq.evaluation.summary["benchmark"].item() == "equal_weight"
    closes = (
        open_dataset(data)
        .frame("index_daily")
        .filter(pl.col("index_code").cast(pl.String) == "000300.SH")
        .select("date", "close")
        .collect()
    )
    close = dict(closes.iter_rows())
    per = ix.evaluation.periods
    want = [close[b] / close[a] - 1.0 for a, b in per.select("start", "end").iter_rows()]
    np.testing.assert_allclose(per["benchmark"].to_numpy(), want, rtol=1e-12)
    assert per["n_benchmark"].null_count() == per.height
    # the long group is the same portfolio; only what it is measured against changes
    assert_frame_equal(ix.evaluation.groups, eq.evaluation.groups)
    s_ix, s_eq = ix.evaluation.summary.row(0, named=True), eq.evaluation.summary.row(0, named=True)
    assert s_ix["long_ann_return"] == s_eq["long_ann_return"]
    assert s_ix["long_excess_ann"] != s_eq["long_excess_ann"]
    with pytest.raises(EtfflowError, match=r"no rows for index '399999.SZ'.*000300\.SH"):
        run_backtest(store, factor_run=frun.run_id, benchmark="399999.SZ")


def test_stock_flows_ts_corr_within_each_board(stored):
    """Huaan table 43: the stock run's rows for a board equal ts_rank_corr on that board's
    stock columns alone; merge_main pools the SH and SZ main boards."""
    from etfflow import load_market, open_dataset
    from etfflow.backtest.tscorr import ts_rank_corr
    from etfflow.pipeline.backtest import board_labels, run_ts_corr

    data, store, frun, _irun = stored
    got, row = run_ts_corr(store, factor_run=frun.run_id, level="stock", metrics=["revs_20"])
    assert row["run_id"] == frun.run_id and got.columns[0] == "board"
    market = load_market(open_dataset(data))
    fs = frun.factors
    dates = fs.inputs.calendar.dates.to_numpy()
    labels = np.array(board_labels(market))
    for board, merged in (("SH_MAIN", False), ("MAIN", True)):
        table, _ = run_ts_corr(
            store, factor_run=frun.run_id, level="stock", metrics=["revs_20"], merge_main=merged
        )
        cols = np.flatnonzero(
            np.isin(labels, ["SH_MAIN", "SZ_MAIN"]) if merged else labels == board
        )
        want = ts_rank_corr(fs.values["revs_20"][:, cols], fs.inputs["ret"][:, cols], dates)
        part = table.filter(pl.col("board") == board).drop("board", "metric")
        assert_frame_equal(part, want)
    assert "MAIN" not in got["board"].to_list()


def test_industry_runs_store_the_long_group_of_every_rebalance(stored, tmp_path):
    """bt_members (Huaan table 16): industry runs store each rebalance's long and short
    groups; the long group is the top quintile of the factor on the signal day; stock runs
    store them only when asked."""
    _data, store, frun, irun = stored
    ind = run_backtest(store, factor_run=irun.run_id, level="industry_l1", html=tmp_path / "i.html")
    m = ind.evaluation.members
    assert m.height > 0 and set(m["leg"].unique()) == {"long", "short"}
    with open_store(store, read_only=True) as st:
        back = st.table("bt_members", ind.run_id)
    assert back.height == m.height
    # one period by hand: the long group holds the industries of the top (or bottom) quintile
    s = ind.evaluation.summary.row(0, named=True)
    f = s["factor"]
    first = ind.evaluation.ic.filter((pl.col("factor") == f) & (pl.col("n") > 0))["date"][0]
    long = m.filter((pl.col("factor") == f) & (pl.col("leg") == "long") & (pl.col("date") == first))
    d = ind.evaluation.ic.filter((pl.col("factor") == f) & (pl.col("date") == first))
    want_group = 5 if d["direction"].item() == 1 else 1
    assert long["group"].unique().to_list() == [want_group]
    g = ind.evaluation.groups.filter(
        (pl.col("factor") == f) & (pl.col("date") == first) & (pl.col("group") == want_group)
    )
    assert long.height == g["n"].item()  # no trading rules at industry level: held = targets
    assert "多头持仓" in (tmp_path / "i.html").read_text(encoding="utf-8")
    stock = run_backtest(store, factor_run=frun.run_id, factors="revs_20")
    assert stock.evaluation.members.height == 0
    asked = run_backtest(store, factor_run=frun.run_id, factors="revs_20", members=True)
    assert asked.evaluation.members["asset"].str.contains(r"\.(SH|SZ|BJ)$").all()

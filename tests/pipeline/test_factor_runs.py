"""Factor runs end to end on the tiny synthetic market: store, export, processing, point in time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from etfflow.data_samples import generate_market
from etfflow.engine.loading import open_dataset
from etfflow.engine.lookthrough import penetrate
from etfflow.engine.market import load_market
from etfflow.exceptions import EtfflowError
from etfflow.factors import compute_factors, industry_inputs, process, stock_inputs
from etfflow.pipeline.runs import run_factors


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return generate_market(tmp_path_factory.mktemp("tiny") / "m", size="tiny", seed=3)


@pytest.fixture(scope="module")
def tiny_parts(tiny):
    ds = open_dataset(tiny)
    lt = penetrate(ds)
    return ds, lt, load_market(ds)


def test_run_stores_wide_table_and_definitions(tiny, tmp_path):
    store = tmp_path / "s.duckdb"
    a = run_factors(
        tiny, factors="w_passive_zs_20,revs", store=store, export=tmp_path / "f.parquet"
    )
    names = ["w_passive_zs_20", "revs_20", "revs_40", "revs_60"]
    assert a.factors.names == names
    exported = pl.read_parquet(tmp_path / "f.parquet")
    assert exported.columns == ["date", "code", *names]
    assert exported.height == a.lookthrough.result.stocks.height
    con = duckdb.connect(str(store), read_only=True)
    try:
        cols = [r[0] for r in con.execute("DESCRIBE factor_values").fetchall()]
        assert cols[:4] == ["run_id", "level", "date", "code"] and cols[4:] == names
        n = con.execute(
            "SELECT count(*), count(revs_20) FROM factor_values WHERE run_id = ?", [a.run_id]
        ).fetchone()
        assert n[0] == exported.height and n[1] == exported["revs_20"].count()
        defs = con.execute(
            "SELECT factor, direction, lookback FROM factor_defs WHERE run_id = ? ORDER BY 1",
            [a.run_id],
        ).fetchall()
        assert ("revs_40", -1, 39) in defs and len(defs) == 4
        # the report and table of each factor, not an internal section number
        sources = dict(
            con.execute(
                "SELECT factor, source FROM factor_defs WHERE run_id = ?", [a.run_id]
            ).fetchall()
        )
        assert sources == {
            "w_passive_zs_20": "Huaan 2024-12 tables 8, 11, 46",
            "revs_20": "Huaan 2024-12 tables 17, 52",
            "revs_40": "Huaan 2024-12 tables 17, 52",
            "revs_60": "Huaan 2024-12 tables 17, 52",
        }
    finally:
        con.close()
    # identical inputs replace; a new factor set adds columns, old rows get NULL
    again = run_factors(tiny, factors="w_passive_zs_20,revs", store=store)
    assert again.run_id == a.run_id
    other = run_factors(tiny, factors="passive_slope_20", level="industry_l1", store=store)
    con = duckdb.connect(str(store), read_only=True)
    try:
        per_run = dict(
            con.execute("SELECT run_id, count(*) FROM factor_values GROUP BY 1").fetchall()
        )
        assert per_run == {a.run_id: exported.height, other.run_id: other.frame.height}
        null_slope = con.execute(
            "SELECT count(passive_slope_20) FROM factor_values WHERE run_id = ?", [a.run_id]
        ).fetchone()[0]
        assert null_slope == 0
    finally:
        con.close()


def test_industry_level_uses_whole_method_sums(tiny_parts):
    _ds, lt, market = tiny_parts
    x = industry_inputs(market, lt.groups, "industry_l1")
    fs = compute_factors(x, "w_passive_diff_20")
    g = lt.groups.filter(pl.col("level") == "industry_l1").sort("group_name", "date")
    name = x.names[0]
    one = g.filter(pl.col("group_name") == name)
    mv, f = one["mv_passive"].to_numpy(), one["float_mcap"].to_numpy()
    day = x.calendar.index_of(one["date"])
    exp = (mv[20:] - mv[:-20]) / f[20:]
    got = fs.values["w_passive_diff_20"][day[20:], 0]
    assert (np.diff(day) == 1).all()
    np.testing.assert_allclose(got, exp, rtol=1e-12)


def test_industry_returns_are_float_cap_weighted(tiny_parts):
    from etfflow.factors.inputs import industry_returns

    _ds, _lt, market = tiny_parts
    r, labels = industry_returns(market, "industry_l1")
    ids, _ = market.group_ids("industry_l1")
    t = 30
    for i in range(len(labels))[:5]:
        m = (ids[t] == i) & np.isfinite(market.ret[t]) & np.isfinite(market.float_mcap[t - 1])
        if m.any():
            w = market.float_mcap[t - 1, m]
            assert r[t, i] == pytest.approx((w * market.ret[t, m]).sum() / w.sum(), rel=1e-12)


def test_neutralised_factors_are_orthogonal_to_regressors(tiny_parts):
    _ds, lt, market = tiny_parts
    x = stock_inputs(market, lt.stocks)
    fs = compute_factors(x, "w_passive_chg_20,revs_20")
    out = process(fs, "winsor,fill,zscore,neutralize(industry,log_cap,board)", market=market)
    assert out.processing.startswith("winsor(k=5")
    ind, _ = market.group_ids("industry_l1")
    logf = np.log(market.float_mcap)
    for name in out.names:
        v = out.values[name]
        for t in (40, 80, v.shape[0] - 1):
            ok = np.isfinite(v[t])
            e = v[t, ok]
            assert abs(e @ logf[t, ok]) < 1e-8 * np.abs(logf[t, ok]).sum()
            for g in np.unique(ind[t, ok]):
                assert abs(e[ind[t, ok] == g].sum()) < 1e-9


def test_industry_level_rejects_industry_neutralisation(tiny_parts):
    _ds, lt, market = tiny_parts
    fs = compute_factors(industry_inputs(market, lt.groups, "industry_l2"), "revs_20")
    with pytest.raises(EtfflowError, match="industries can only be neutralised on log_cap"):
        process(fs, "zscore,neutralize", market=market)
    ok = process(fs, "winsor,zscore,neutralize(log_cap)", market=market)
    assert np.isfinite(ok.values["revs_20"]).any()


def test_strip_defaults_to_revs_20(tiny, tmp_path):
    run = run_factors(
        tiny,
        factors="revs_20,w_passive_chg_20",
        process="zscore,strip",
        store=tmp_path / "s.duckdb",
    )
    assert run.factors.processing.endswith("strip(revs_20)")
    # stripping a factor of itself leaves nothing
    v = run.factors.values["revs_20"]
    assert np.nanmax(np.abs(v)) < 1e-9


# ------------------------------------------------------------------ point in time
def _copy_tables(src: Path, dst: Path, cut: dt.date | None, seed: int) -> Path:
    """Copy a dataset, multiplying every float dated after ``cut`` by random noise."""
    rng = np.random.default_rng(seed)
    dst.mkdir(parents=True)
    for path in sorted(src.iterdir()):
        if path.name.startswith((".", "manifest")):
            continue
        name = path.name.removesuffix(".parquet")
        pattern = path / "**" / "*.parquet" if path.is_dir() else path
        df = pl.read_parquet(pattern, hive_partitioning=False)
        if cut is not None and "date" in df.columns:
            late = pl.col("date") > cut
            nums = [c for c, d in df.schema.items() if d == pl.Float64]
            df = df.with_columns(
                pl.when(late)
                .then(pl.col(c) * pl.Series(rng.uniform(0.5, 2.0, df.height)))
                .otherwise(pl.col(c))
                .alias(c)
                for c in nums
            )
        df.write_parquet(dst / f"{name}.parquet")
    return dst


@pytest.mark.parametrize("level", ["stock", "industry_l1", "industry_l2"])
def test_every_factor_point_in_time_end_to_end(tiny, tmp_path, level):
    """Look-through + every factor at every level: perturbing all data after a cut changes
    nothing dated up to the cut."""
    days = open_dataset(tiny).frame("stock_daily").select("date").unique().collect()
    days = sorted(days["date"].to_list())
    cut = days[int(len(days) * 0.7)]
    a = _copy_tables(tiny, tmp_path / "a", None, 0)
    b = _copy_tables(tiny, tmp_path / "b", cut, 1)
    fa = run_factors(a, level=level, windows=[5, 20], store=tmp_path / "a.duckdb", check=False)
    fb = run_factors(b, level=level, windows=[5, 20], store=tmp_path / "b.duckdb", check=False)
    early = pl.col("date") <= cut
    ta, tb = fa.frame.filter(early), fb.frame.filter(early)
    assert_frame_equal(ta, tb)
    changed = fa.frame.filter(~early).drop("date", "code") != fb.frame.filter(~early).drop(
        "date", "code"
    )
    assert changed.select(pl.any_horizontal(pl.all()).any()).item(), "the perturbation did nothing"
    # most factors have values before the cut, so the comparison is not vacuous
    filled = [c for c in ta.columns[2:] if ta[c].count() > 0]
    assert len(filled) >= len(ta.columns[2:]) - 10


def test_rows_off_the_dataset_are_refused(tiny_parts):
    from etfflow.exceptions import DataContractError

    _ds, lt, market = tiny_parts
    bad = lt.stocks.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.lit("999999.SH"))
        .otherwise(pl.col("code"))
        .alias("code")
    )
    with pytest.raises(DataContractError, match=r"(?s)stock_flow.*999999\.SH"):
        stock_inputs(market, bad)
    with pytest.raises(DataContractError, match="group_flow"):
        industry_inputs(
            market,
            lt.groups.with_columns(pl.lit("Nowhere").alias("group_name")),
            "industry_l1",
        )

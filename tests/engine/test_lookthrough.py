"""Look-through (SPEC §2): fast path vs hand-computed numbers and vs the loop reference."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from etfflow.engine.loading import open_dataset
from etfflow.engine.lookthrough import penetrate, unit_note
from etfflow.engine.lookthrough.common import null_as_nan
from etfflow.engine.lookthrough.pcf import ChunkBuffers
from etfflow.engine.lookthrough_ref import lookthrough_reference
from etfflow.engine.panel import epoch_days, fill_numpy, raw_codes
from etfflow.engine.pools import Pool
from etfflow.exceptions import DataContractError, DatasetNotFoundError, EtfflowError, PoolError
from tests.market_strategies import markets, write_market

D1, D2 = dt.date(2024, 1, 2), dt.date(2024, 1, 3)
A, B, C = "600000.SH", "600001.SH", "600002.SH"
X, Y = "510300.SH", "510500.SH"


def hand_market() -> dict[str, pl.DataFrame]:
    """Two days, three stocks, two ETFs; the expected numbers are worked out in the tests."""
    return {
        "stocks": pl.DataFrame(
            {
                "code": [A, B, C],
                "name": ["a", "b", "c"],
                "board": ["SH_MAIN"] * 3,
                "list_date": [dt.date(2010, 1, 4)] * 3,
            }
        ),
        "stock_industry": pl.DataFrame(
            {
                "code": [A, B, C],
                "start_date": [dt.date(2010, 1, 4)] * 3,
                "industry_l1": ["银行", "银行", "电子"],
                "industry_l2": ["银行-1", "银行-1", "电子-1"],
            }
        ),
        "stock_daily": pl.DataFrame(
            {
                "date": [D1, D1, D1, D2, D2, D2],
                "code": [A, B, C, A, B, C],
                "close": [10.0, 20.0, 5.0, 11.0, 20.0, 5.0],
                "ret": [0.0, 0.0, 0.0, 0.1, 0.0, 0.0],
                "float_mcap": [1e9, 2e9, 5e8, 1.1e9, 2e9, 5e8],
                "is_st": [False] * 6,
                "is_suspended": [False, False, False, False, True, False],
            }
        ),
        "etfs": pl.DataFrame(
            {
                "etf_code": [X, Y],
                "name": ["x", "y"],
                "category": ["broad", "sector"],
                "index_code": ["000300.SH", "000905.SH"],
                "is_enhanced": [False, True],
                "creation_unit": [1000.0, 1000.0],
                "list_date": [dt.date(2015, 1, 5)] * 2,
            }
        ),
        "etf_daily": pl.DataFrame(
            {
                "date": [D1, D1, D2, D2],
                "etf_code": [X, Y, X, Y],
                "shares": [1e6, 5e5, 1.2e6, 4e5],
                "nav": [2.0, 2.0, 2.1, 2.2],
            }
        ),
        # Y publishes a basket on D1 only: it is carried to D2
        "etf_pcf": pl.DataFrame(
            {
                "date": [D1, D1, D1, D2, D2],
                "etf_code": [X, X, Y, X, X],
                "code": [A, B, A, A, B],
                "quantity": [100.0, 50.0, 200.0, 100.0, 50.0],
            }
        ),
    }


@pytest.fixture(scope="module")
def hand_ds(tmp_path_factory):
    root = write_market(hand_market(), tmp_path_factory.mktemp("hand"), categorical=True)
    return open_dataset(root)


def _row(df: pl.DataFrame, date: dt.date, key: str, value: str, col: str = "code") -> dict:
    rows = df.filter((pl.col("date") == date) & (pl.col(col) == value)).to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_hand_case_day_one(hand_ds):
    lt = penetrate(hand_ds)
    a = _row(lt.stocks, D1, "code", A)
    # X: basket value 100*10 + 50*20 = 2000 -> w_A = 0.5; Y holds only A (w = 1)
    assert a["n_etf"] == 2 and a["n_index"] == 2
    assert a["share_passive_fund"] == pytest.approx(1.5e6)
    assert a["share_passive"] == pytest.approx(1e6 * 0.5 + 5e5)
    assert a["mv_passive"] == pytest.approx(1e6 * 2.0 * 0.5 + 5e5 * 2.0)
    assert a["w_passive"] == pytest.approx(2e6 / 1e9)
    assert a["inflow"] is None  # first date of the data
    b = _row(lt.stocks, D1, "code", B)
    assert (b["n_etf"], b["mv_passive"], b["w_passive"]) == (
        1,
        pytest.approx(1e6),
        pytest.approx(5e-4),
    )
    c = _row(lt.stocks, D1, "code", C)
    assert (c["n_etf"], c["n_index"], c["mv_passive"], c["share_passive"]) == (0, 0, 0.0, 0.0)


def test_hand_case_day_two_carry_and_inflow(hand_ds):
    lt = penetrate(hand_ds)
    a = _row(lt.stocks, D2, "code", A)
    w_xa = 1100 / 2100  # X's basket revalued at D2 closes; Y's carried basket holds A only
    assert a["mv_passive"] == pytest.approx(1.2e6 * 2.1 * w_xa + 4e5 * 2.2)
    assert a["share_passive"] == pytest.approx(1.2e6 * w_xa + 4e5)
    # X created 0.2e6 shares, Y redeemed 1e5: 0.2e6*2.1*w_xa - 1e5*2.2 = 0
    assert a["inflow"] == pytest.approx(0.2e6 * 2.1 * w_xa - 1e5 * 2.2, abs=1e-6)
    b = _row(lt.stocks, D2, "code", B)  # suspended: priced at its carried close
    assert b["mv_passive"] == pytest.approx(1.2e6 * 2.1 * 1000 / 2100)
    assert b["inflow"] == pytest.approx(0.2e6 * 2.1 * 1000 / 2100)
    c = _row(lt.stocks, D2, "code", C)
    assert c["inflow"] == 0.0 and c["n_etf"] == 0
    assert lt.diagnostics["etf_days_with_carried_basket"] == 1


def test_hand_case_industry_whole_method(hand_ds):
    lt = penetrate(hand_ds)
    bank = _row(
        lt.industries.filter(pl.col("level") == "industry_l1"),
        D1,
        "group_name",
        "银行",
        "group_name",
    )
    assert bank["n_stock"] == 2 and bank["n_held"] == 2 and bank["coverage"] == 1.0
    assert bank["n_etf"] == 2 and bank["n_index"] == 2
    assert bank["share_passive_fund"] == pytest.approx(1.5e6)  # X and Y counted once each
    assert bank["mv_passive"] == pytest.approx(3e6)
    assert bank["w_passive"] == pytest.approx(3e6 / 3e9)  # ratio of sums, not mean of ratios
    elec = _row(
        lt.industries.filter(pl.col("level") == "industry_l1"),
        D1,
        "group_name",
        "电子",
        "group_name",
    )
    assert elec["coverage"] == 0.0 and elec["n_etf"] == 0


def test_pool_restricts_etfs(hand_ds):
    lt = penetrate(hand_ds, pool=Pool.category("sector"))  # Y only
    a = _row(lt.stocks, D1, "code", A)
    assert a["n_etf"] == 1 and a["mv_passive"] == pytest.approx(5e5 * 2.0)
    assert _row(lt.stocks, D1, "code", B)["n_etf"] == 0
    with pytest.raises(PoolError, match="selects no ETF"):
        penetrate(hand_ds, pool=Pool.category("style"))


def test_nav_and_basket_valuation_agree_on_consistent_data(hand_ds):
    # the hand market's NAVs equal basket value / creation unit
    nav = penetrate(hand_ds, valuation="nav").stocks
    basket = penetrate(hand_ds, valuation="basket").stocks
    assert_frame_equal(nav, basket, check_exact=False, rel_tol=1e-12)


def test_coverage_statistics(hand_ds):
    cov = penetrate(hand_ds).coverage
    bank = cov.filter(
        (pl.col("level") == "industry_l1") & (pl.col("group_name") == "银行")
    ).to_dicts()[0]
    assert bank["coverage_min"] == 1.0 and bank["n_etf_max"] == 2.0
    assert bank["w_passive_latest"] == pytest.approx((1.2e6 * 2.1 + 4e5 * 2.2) / 3.1e9)
    mean_row = cov.filter(
        (pl.col("level") == "industry_l1") & (pl.col("group_name") == "(mean of groups)")
    )
    assert mean_row.height == 1
    assert mean_row["coverage_mean"][0] == pytest.approx((1.0 + 0.0) / 2)


def test_missing_holdings_table(tmp_path):
    t = hand_market()
    root = write_market(t, tmp_path / "m", categorical=False)
    with pytest.raises(DatasetNotFoundError, match="holding_weights"):
        penetrate(open_dataset(root), mode="weights")


def test_unknown_stock_in_basket_raises(tmp_path):
    t = hand_market()
    t["etf_pcf"] = pl.concat(
        [
            t["etf_pcf"],
            pl.DataFrame(
                {"date": [D1], "etf_code": [X], "code": ["999999.SH"], "quantity": [100.0]}
            ),
        ]
    )
    root = write_market(t, tmp_path / "m", categorical=False)
    with pytest.raises(DataContractError, match=r"etf_pcf.*code"):
        penetrate(open_dataset(root))


# --------------------------------------------------------------------------- hypothesis


def _compare(fast, ref_stocks: pl.DataFrame, ref_ind: pl.DataFrame) -> None:
    cols = ref_stocks.columns
    assert_frame_equal(
        fast.stocks.select(cols),
        ref_stocks.select(cols),
        check_dtypes=False,
        check_exact=False,
        rel_tol=1e-9,
        abs_tol=1e-6,
    )
    l1 = fast.groups.filter(pl.col("level") == "industry_l1").sort("date", "group_name")
    if ref_ind.height:
        assert_frame_equal(
            l1.select(ref_ind.columns),
            ref_ind.sort("date", "group_name"),
            check_dtypes=False,
            check_exact=False,
            rel_tol=1e-9,
            abs_tol=1e-6,
        )
    else:
        assert l1.height == 0


def _run(tables, *, categorical, pool_codes, **kw):
    with tempfile.TemporaryDirectory() as tmp:
        ds = open_dataset(write_market(tables, Path(tmp) / "m", categorical=categorical))
        pool = Pool.codes(pool_codes) if pool_codes is not None else None
        return penetrate(ds, pool=pool, **kw)


@st.composite
def market_and_pool(draw):
    tables = draw(markets())
    etfs = tables["etfs"]["etf_code"].to_list()
    subset = draw(st.one_of(st.none(), st.lists(st.sampled_from(etfs), min_size=1, unique=True)))
    return tables, subset, draw(st.booleans())


def _null_units(tables: dict[str, pl.DataFrame], codes: list[str]) -> dict[str, pl.DataFrame]:
    """The market with ``etfs.creation_unit`` null (unknown) for ``codes``."""
    e = tables["etfs"]
    unit = pl.when(pl.col("etf_code").is_in(codes)).then(None).otherwise(pl.col("creation_unit"))
    return {**tables, "etfs": e.with_columns(unit.cast(pl.Float64).alias("creation_unit"))}


def _without_etfs(tables: dict[str, pl.DataFrame], codes: list[str]) -> dict[str, pl.DataFrame]:
    """The market without the ETFs ``codes``: no ``etfs``, ``etf_daily``, basket or own
    snapshot row of theirs."""
    gone = pl.col("etf_code").is_in(codes).fill_null(False)
    return {
        k: df.filter(~gone) if k in ("etfs", "etf_daily", "etf_pcf", "holding_weights") else df
        for k, df in tables.items()
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(market_and_pool(), st.sampled_from(["nav", "basket"]), st.integers(1, 4), st.data())
def test_pcf_matches_reference(mp, valuation, chunk_days, data):
    tables, pool_codes, categorical = mp
    etfs = tables["etfs"]["etf_code"].to_list()
    unitless = data.draw(st.lists(st.sampled_from(etfs), unique=True), label="unitless")
    tables = _null_units(tables, unitless)
    kw = {"mode": "pcf", "valuation": valuation, "chunk_days": chunk_days}
    if valuation == "basket" and set(pool_codes or etfs) <= set(unitless):
        with pytest.raises(DataContractError, match=r"creation unit.*null"):
            _run(tables, categorical=categorical, pool_codes=pool_codes, **kw)
        return
    fast = _run(tables, categorical=categorical, pool_codes=pool_codes, **kw)
    ref = lookthrough_reference(tables, etf_codes=pool_codes, mode="pcf", valuation=valuation)
    _compare(fast, *ref)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets(), st.data())
def test_an_etf_without_creation_unit(tables, data):
    """Null units: basket valuation equals the market without those ETFs (to 1e-12) and names
    them with their ETF-days; NAV valuation and the weights mode are bit-identical."""
    etfs = tables["etfs"]["etf_code"].to_list()
    gone = data.draw(st.lists(st.sampled_from(etfs), min_size=1, unique=True), label="unitless")
    nulled = _null_units(tables, gone)
    for mode, valuation in (("pcf", "nav"), ("weights", "nav")):
        a = _run(tables, categorical=True, pool_codes=None, mode=mode, valuation=valuation)
        b = _run(nulled, categorical=True, pool_codes=None, mode=mode, valuation=valuation)
        for x, y in ((a.stocks, b.stocks), (a.groups, b.groups), (a.coverage, b.coverage)):
            assert_frame_equal(x, y)
        assert b.diagnostics["etfs_without_creation_unit"] == []
    if len(gone) == len(etfs):
        with pytest.raises(DataContractError, match=r"null \(unknown\) for every ETF"):
            _run(nulled, categorical=True, pool_codes=None, mode="pcf", valuation="basket")
        return
    got = _run(nulled, categorical=True, pool_codes=None, mode="pcf", valuation="basket")
    want = _run(
        _without_etfs(tables, gone),
        categorical=True,
        pool_codes=None,
        mode="pcf",
        valuation="basket",
    )
    for x, y in ((got.stocks, want.stocks), (got.groups, want.groups)):
        assert_frame_equal(x, y, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
    assert_frame_equal(got.coverage, want.coverage, check_exact=False, rel_tol=1e-12)
    d = got.diagnostics
    assert d["etfs_without_creation_unit"] == sorted(gone)
    in_daily = tables["etf_daily"]["etf_code"].is_in(gone)
    assert d["etf_days_without_creation_unit"] == int(in_daily.sum())
    assert d["pool_etfs"] == len(etfs) - len(gone)
    assert got.params["pool"]["label"] == "all"


def test_unit_note_names_the_etfs_and_their_days(hand_ds, tmp_path):
    """Y's unit unknown: basket valuation leaves it out (a pool naming only Y is an error),
    NAV valuation keeps it; the note names Y and its two ETF-days."""
    t = _null_units(hand_market(), [Y])
    ds = open_dataset(write_market(t, tmp_path / "m", categorical=False))
    lt = penetrate(ds, valuation="basket")
    note = unit_note(lt.diagnostics)
    assert note is not None and "1 ETFs, 2 ETF-days: 510500.SH" in note
    a = _row(lt.stocks, D1, "code", A)
    assert a["n_etf"] == 1 and a["mv_passive"] == pytest.approx(1e6 / 1000 * 100 * 10.0)
    assert unit_note(penetrate(ds).diagnostics) is None
    assert _row(penetrate(ds).stocks, D1, "code", A)["n_etf"] == 2
    with pytest.raises(DataContractError, match=r"(?s)creation_unit.*510500\.SH.*valuation 'nav'"):
        penetrate(ds, pool=Pool.codes([Y]), valuation="basket")
    many = {"etfs_without_creation_unit": [f"51{i:04d}.SH" for i in range(10)]}
    note = unit_note({**many, "etf_days_without_creation_unit": 12345})
    assert note is not None and "10 ETFs, 12,345 ETF-days" in note
    assert "510007.SH, ..." in note and "510008.SH" not in note


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(market_and_pool())
def test_weights_matches_reference(mp):
    tables, pool_codes, categorical = mp
    fast = _run(tables, categorical=categorical, pool_codes=pool_codes, mode="weights")
    ref = lookthrough_reference(tables, etf_codes=pool_codes, mode="weights")
    _compare(fast, *ref)


def _consistent(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Daily weight snapshots derived from the baskets, and NAV = basket value / unit.

    Every ETF-day gets a basket (the carried one re-dated) so the two modes see the same
    holdings; unpriceable components are dropped from both.
    """
    t = dict(tables)
    close = t["stock_daily"].select("date", "code", "close")
    pcf = t["etf_pcf"].filter(pl.col("quantity") > 0)
    # re-date baskets: every etf_daily row uses the latest basket at or before it
    ed = t["etf_daily"].sort("date")
    pcf_days = pcf.select("etf_code", pl.col("date").alias("bdate")).unique().sort("bdate")
    link = (
        ed.select("date", "etf_code")
        .sort("date")
        .join_asof(
            pcf_days,
            left_on="date",
            right_on="bdate",
            by="etf_code",
            strategy="backward",
            check_sortedness=False,
        )
        .drop_nulls("bdate")
    )
    daily_pcf = link.join(pcf.rename({"date": "bdate"}), on=["etf_code", "bdate"]).drop("bdate")
    daily_pcf = daily_pcf.join(close, on=["date", "code"]).filter(pl.col("close") > 0)
    val = daily_pcf.with_columns((pl.col("quantity") * pl.col("close")).alias("x"))
    tot = val.group_by("date", "etf_code").agg(pl.col("x").sum().alias("v"))
    w = val.join(tot, on=["date", "etf_code"]).select(
        "date",
        "etf_code",
        pl.lit(None, dtype=pl.String).alias("index_code"),
        "code",
        (pl.col("x") / pl.col("v")).alias("weight"),
    )
    units = t["etfs"].select("etf_code", "creation_unit")
    navs = tot.join(units, on="etf_code").select(
        "date", "etf_code", (pl.col("v") / pl.col("creation_unit")).alias("nav_b")
    )
    ed = ed.join(navs, on=["date", "etf_code"], how="inner").select(
        "date", "etf_code", "shares", pl.col("nav_b").alias("nav")
    )
    t["etf_daily"] = ed.sort("date", "etf_code")
    t["etf_pcf"] = daily_pcf.select("date", "etf_code", "code", "quantity").sort(
        "date", "etf_code", "code"
    )
    t["holding_weights"] = w.sort("date", "etf_code", "code")
    return t


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets())
def test_pcf_and_weights_modes_agree_on_consistent_market(tables):
    t = _consistent(tables)
    pcf = _run(t, categorical=True, pool_codes=None, mode="pcf")
    basket = _run(t, categorical=True, pool_codes=None, mode="pcf", valuation="basket")
    wts = _run(t, categorical=False, pool_codes=None, mode="weights")
    for other in (basket, wts):
        assert_frame_equal(pcf.stocks, other.stocks, check_exact=False, rel_tol=1e-9, abs_tol=1e-6)
        assert_frame_equal(pcf.groups, other.groups, check_exact=False, rel_tol=1e-9, abs_tol=1e-6)


def _perturb_after(tables: dict[str, pl.DataFrame], cut: dt.date, rng) -> dict:
    """Change every value dated after ``cut``, and add and drop rows after it."""
    out = {}
    for name, df in tables.items():
        if "date" not in df.columns:
            out[name] = df
            continue
        late = pl.col("date") > cut
        num = [c for c, d in df.schema.items() if d == pl.Float64]
        noise = {c: pl.Series(rng.uniform(0.5, 2.0, df.height)) for c in num}
        df = df.with_columns(
            [pl.when(late).then(pl.col(c) * noise[c]).otherwise(pl.col(c)).alias(c) for c in num]
        )
        # stock 0 lists every day and defines the calendar: its rows stay (values change)
        keep = (pl.col("code") == "600000.SH") if name == "stock_daily" else pl.lit(False)
        early, kept = df.filter(~late | keep), df.filter(late & ~keep)
        if kept.height > 1:  # drop some later rows and shuffle the rest
            kept = kept.sample(fraction=0.7, seed=int(rng.integers(0, 1000)), shuffle=True)
        out[name] = pl.concat([early, kept])
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets(max_days=10), st.integers(0, 2**31 - 1), st.sampled_from(["pcf", "weights"]))
def test_point_in_time(tables, seed, mode):
    """Nothing dated up to the cut changes when every later value is perturbed."""
    rng = np.random.default_rng(seed)
    days = sorted(tables["stock_daily"]["date"].unique().to_list())
    cut = days[int(rng.integers(0, len(days)))]
    changed = _perturb_after(tables, cut, rng)
    a = _run(tables, categorical=True, pool_codes=None, mode=mode)
    b = _run(changed, categorical=True, pool_codes=None, mode=mode)
    early = pl.col("date") <= cut
    assert_frame_equal(a.stocks.filter(early), b.stocks.filter(early))
    assert_frame_equal(a.groups.filter(early), b.groups.filter(early))


def test_chunking_does_not_change_results(tmp_path):
    """Baskets carried across chunk boundaries give the same panels as one big chunk."""
    t = find(
        markets(max_days=9),
        lambda m: m["etf_pcf"].height > 5 and m["stock_daily"]["date"].n_unique() >= 6,
    )
    root = write_market(t, tmp_path / "m", categorical=True)
    ds = open_dataset(root)
    one = penetrate(ds, chunk_days=1)
    big = penetrate(ds, chunk_days=1000)
    assert_frame_equal(one.stocks, big.stocks)
    assert_frame_equal(one.groups, big.groups)


_CODES = ["600000.SH", "600001.SH", "000001.SZ", "300750.SZ"]
_chunks_of_codes = st.lists(
    st.lists(st.sampled_from([*_CODES, "999999.SH", None]), max_size=6), min_size=1, max_size=4
)


@given(parts=_chunks_of_codes, spare=st.integers(0, 3), categorical=st.booleans())
def test_buffered_conversions_equal_fresh_arrays(parts, spare, categorical):
    """Codes, dates and floats written chunk by chunk into a larger, dirty buffer equal the
    one-shot conversions (the twins), nulls and unknown codes included; the buffer beyond
    the values is left alone."""
    dtype = pl.Categorical if categorical else pl.String
    codes = pl.concat(
        [pl.Series("c", p, dtype=pl.String).cast(dtype) for p in parts], rechunk=False
    )
    n = len(codes)
    known = sorted(_CODES[:3])
    buf = np.full(n + spare, 7, dtype=np.uint32)
    got, got_lookup, _k1 = raw_codes(codes, known, out=buf)
    want, want_lookup, _k2 = raw_codes(codes, known)
    assert len(got) == n and (n == 0 or np.shares_memory(got, buf))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_lookup, want_lookup)
    assert (buf[n:] == 7).all()

    day0 = dt.date(2024, 1, 1)
    dates = pl.concat(
        [
            pl.Series(
                "d",
                [None if c is None else day0 + dt.timedelta(days=i) for i, c in enumerate(p)],
                dtype=pl.Date,
            )
            for p in parts
        ],
        rechunk=False,
    )
    dbuf = np.full(n + spare, 7, dtype=np.int32)
    np.testing.assert_array_equal(epoch_days(dates, out=dbuf), epoch_days(dates))
    assert (dbuf[n:] == 7).all()

    vals = dates.to_physical().cast(pl.Float64) / 3
    fbuf = np.full(n + spare, 7.0)
    got_f = fill_numpy(null_as_nan(vals), fbuf)
    np.testing.assert_array_equal(got_f, null_as_nan(vals.rechunk()).to_numpy())
    assert (fbuf[n:] == 7.0).all()


def test_fill_numpy_refuses_a_short_buffer():
    s = pl.concat([pl.Series([1.0, 2.0]), pl.Series([3.0])], rechunk=False)
    assert s.n_chunks() == 2
    np.testing.assert_array_equal(fill_numpy(s, np.empty(3)), [1.0, 2.0, 3.0])
    with pytest.raises(EtfflowError, match="buffer of 2 rows for 3 values"):
        fill_numpy(s, np.empty(2))


def test_chunk_buffers_grow_geometrically_and_are_reused():
    """One set of arrays serves every chunk; it grows (by half at least) only when a chunk is
    larger than the largest so far, and keeps its arrays otherwise."""
    buf = ChunkBuffers()
    allocs, caps = [], []
    for n in [10, 5, 10, 12, 3, 40, 41, 7]:
        before, prev = buf.day, buf.allocations
        buf.reserve(n)
        assert (buf.day is before) == (buf.allocations == prev)
        assert all(len(a) == buf.capacity for a in (buf.day, buf.owner, buf.code, buf.val))
        allocs.append(buf.allocations)
        caps.append(buf.capacity)
    assert allocs == [1, 1, 1, 2, 2, 3, 4, 4]
    assert caps == [10, 10, 10, 15, 15, 40, 60, 60]
    assert (buf.day.dtype, buf.owner.dtype, buf.code.dtype, buf.val.dtype) == (
        np.int32,
        np.uint32,
        np.uint32,
        np.float64,
    )


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from etfflow.data_samples import generate_market

    return generate_market(tmp_path_factory.mktemp("tiny") / "m", size="tiny", seed=2)


def test_pcf_chunks_reuse_buffers_and_match_one_chunk(tiny_root):
    """Many small chunks: the basket columns go through a few reused buffers (not fresh
    arrays per chunk), results equal one chunk exactly, and the minor page faults of each
    stage are reported beside its seconds."""
    ds = open_dataset(tiny_root)
    small = penetrate(ds, chunk_days=3)
    one = penetrate(ds, chunk_days=100_000)
    n_chunks = -(-small.stocks["date"].n_unique() // 3)
    assert n_chunks >= 20
    assert 1 <= small.diagnostics["chunk_buffer_allocations"] <= 4
    assert one.diagnostics["chunk_buffer_allocations"] == 1
    assert_frame_equal(small.stocks, one.stocks, check_exact=True)
    assert_frame_equal(small.groups, one.groups, check_exact=True)
    d = small.diagnostics
    assert d["stage_minor_faults"].keys() == d["stage_seconds"].keys()
    assert all(isinstance(v, int) and v >= 0 for v in d["stage_minor_faults"].values())
    assert sum(d["stage_minor_faults"].values()) > 0  # a look-through touches fresh memory


def test_shuffled_baskets_equal_sorted_baskets(tmp_path):
    """Rows of one basket split over the file (not contiguous) give the same answer.

    Regression: the retry after sorting once started from an as-of state already moved to the
    chunk's last baskets, so early days used later baskets (a look-ahead).
    """

    def split_baskets(m) -> bool:
        sizes = m["etf_pcf"].group_by("date", "etf_code").len()["len"]
        return (sizes >= 2).sum() >= 3

    t = find(markets(max_days=9), split_baskets)
    ordered = dict(t, etf_pcf=t["etf_pcf"].sort("date", "etf_code", "code"))
    shuffled = dict(t, etf_pcf=t["etf_pcf"].sort("code", "date", "etf_code"))
    a = penetrate(open_dataset(write_market(ordered, tmp_path / "a", categorical=True)))
    b = penetrate(open_dataset(write_market(shuffled, tmp_path / "b", categorical=True)))
    assert b.diagnostics["non_contiguous_chunks"] >= 1
    assert_frame_equal(a.stocks, b.stocks)
    assert_frame_equal(a.groups, b.groups)


# --------------------------------------------------------------------------- weights product


def _holdings_from_pcf(tables: dict[str, pl.DataFrame], keep_first: int) -> dict:
    """Weights equal to the PCF quantities, each ETF keeping only its first ``keep_first``
    basket dates, so that both modes see the same held stocks on every ETF-day and the
    snapshots stay in force over long blocks of days."""
    t = dict(tables)
    firsts = (
        t["etf_pcf"]
        .select("etf_code", "date")
        .unique()
        .sort("etf_code", "date")
        .group_by("etf_code", maintain_order=True)
        .head(keep_first)
    )
    pcf = t["etf_pcf"].join(firsts, on=["etf_code", "date"]).sort("date", "etf_code", "code")
    t["etf_pcf"] = pcf
    t["holding_weights"] = pcf.select(
        "date",
        "etf_code",
        pl.lit(None, dtype=pl.String).alias("index_code"),
        "code",
        pl.col("quantity").alias("weight"),
    )
    return t


HOLDING_COLUMNS = ["n_etf", "n_index", "share_passive_fund"]
GROUP_HOLDING_COLUMNS = ["n_stock", "n_held", "n_etf", "n_index", "share_passive_fund"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets(max_days=30), st.integers(1, 3), st.sampled_from([1, 3, 32]))
def test_weights_holding_counts_match_pcf_over_long_blocks(tables, keep_first, block_days):
    """Distinct ETF / index counts and fund shares, per stock and per group of every level
    (board and float-cap quintile included), agree with the PCF scatter when snapshots stay
    in force for many days: covers the per-block corrections of group touches (stocks that
    change cap quintile or industry, list or delist inside a block)."""
    import etfflow.engine.lookthrough.weights as lt_mod

    t = _holdings_from_pcf(tables, keep_first)
    old = lt_mod.WEIGHTS_BLOCK_DAYS
    lt_mod.WEIGHTS_BLOCK_DAYS = block_days
    try:
        wts = _run(t, categorical=True, pool_codes=None, mode="weights")
    finally:
        lt_mod.WEIGHTS_BLOCK_DAYS = old
    pcf = _run(t, categorical=False, pool_codes=None, mode="pcf")
    keys = ["date", "code"]
    assert_frame_equal(
        wts.stocks.select(keys + HOLDING_COLUMNS), pcf.stocks.select(keys + HOLDING_COLUMNS)
    )
    gkeys = ["date", "level", "group_name"]
    assert_frame_equal(
        wts.groups.select(gkeys + GROUP_HOLDING_COLUMNS),
        pcf.groups.select(gkeys + GROUP_HOLDING_COLUMNS),
        check_exact=False,
        rel_tol=1e-12,
    )


def test_weights_block_length_does_not_change_results(monkeypatch, tmp_path):
    """Cutting the snapshot periods into blocks of 1 day gives the same tables bit for bit."""
    import etfflow.engine.lookthrough.weights as lt_mod

    t = find(
        markets(max_days=20),
        lambda m: m["holding_weights"].height > 10 and m["stock_daily"]["date"].n_unique() >= 12,
    )
    ds = open_dataset(write_market(t, tmp_path / "m", categorical=True))
    big = penetrate(ds, mode="weights")
    monkeypatch.setattr(lt_mod, "WEIGHTS_BLOCK_DAYS", 1)
    one = penetrate(ds, mode="weights")
    assert_frame_equal(one.stocks, big.stocks)
    assert_frame_equal(one.groups, big.groups)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets(), st.sampled_from(["pcf", "weights"]), st.integers(0, 2**31 - 1))
def test_stock_daily_row_order_does_not_matter(tables, mode, seed):
    """Rows already in (date, code) order (read as they are) and shuffled rows (sorted by the
    engine) give the same tables."""
    ordered = dict(tables, stock_daily=tables["stock_daily"].sort("date", "code"))
    shuffled = dict(tables, stock_daily=tables["stock_daily"].sample(fraction=1.0, seed=seed))
    a = _run(ordered, categorical=True, pool_codes=None, mode=mode)
    b = _run(shuffled, categorical=True, pool_codes=None, mode=mode)
    assert_frame_equal(a.stocks, b.stocks)
    assert_frame_equal(a.groups, b.groups)


def _cap_buckets(days: list[np.ndarray], n_buckets: int, window: int, n_chunks: int):
    from etfflow.engine.panel_nb import group_bits

    n_stock = max(len(d) for d in days)
    row_stock = np.concatenate([np.arange(len(d)) for d in days]).astype(np.int32)
    row_fmc = np.concatenate([np.asarray(d, dtype=np.float64) for d in days] + [np.zeros(0)])
    row_start = np.concatenate([[0], np.cumsum([len(d) for d in days])]).astype(np.int64)
    no_ind = np.zeros(n_stock + 1, dtype=np.int64)
    empty16, empty32 = np.zeros(0, dtype=np.int16), np.zeros(0, dtype=np.int32)
    gbit, _ = group_bits(
        row_start, row_stock, row_fmc, n_stock, no_ind, empty32, empty32, empty16, empty16,
        np.full(n_stock, -1, dtype=np.int16), np.zeros(4, dtype=np.int64), n_buckets,
        window, n_chunks,
    )  # fmt: skip
    return gbit[:, :, 3]


def _stable_sort_buckets(vals: np.ndarray, n_stock: int, n_buckets: int) -> np.ndarray:
    ok = np.flatnonzero(np.isfinite(vals))
    expect = np.full(n_stock, -1)
    for r, i in enumerate(np.argsort(vals[ok], kind="stable")):
        expect[ok[i]] = (r * n_buckets) // len(ok)
    return expect


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.integers(0, 4).map(float), st.just(float("nan"))), max_size=12),
        min_size=1,
        max_size=6,
    ),
    st.integers(1, 6),
    st.integers(1, 3),
    st.integers(1, 3),
)
def test_cap_buckets_equal_stable_sort(days, n_buckets, window, n_chunks):
    """Float-cap buckets equal ``(rank * k) // n`` of a stable argsort, ties (equal caps)
    broken by stock order, NaN caps left out, whatever the search window and day chunks."""
    days = [np.array(d, dtype=np.float64) for d in days]
    got = _cap_buckets(days, n_buckets, window, n_chunks)
    n_stock = got.shape[1]
    for d, vals in enumerate(days):
        np.testing.assert_array_equal(got[d], _stable_sort_buckets(vals, n_stock, n_buckets))


@pytest.mark.parametrize("window", [1, 4, 64])
def test_cap_buckets_follow_a_random_walk(window):
    """Caps drifting day by day (threshold windows reused, outgrown and reset), with ties
    (caps rounded), missing caps and stocks listing / delisting."""
    rng = np.random.default_rng(window)
    n_day, n_stock = 60, 300
    log_cap = rng.normal(22, 1.5, n_stock)
    days = []
    for _ in range(n_day):
        log_cap += rng.normal(0, 0.03, n_stock)
        vals = np.round(np.exp(log_cap), -7)  # many ties
        vals[rng.random(n_stock) < 0.02] = np.nan
        days.append(vals[: int(rng.integers(250, n_stock + 1))])
    got = _cap_buckets(days, 5, window, 3)
    for d, vals in enumerate(days):
        np.testing.assert_array_equal(got[d], _stable_sort_buckets(vals, got.shape[1], 5))


def test_weights_counts_mix_etfs_present_all_block_and_some_days(tmp_path):
    """One snapshot in force over four days: X (index I1) is present every day, Y (I1) on days
    0-1, Z (I2) on days 1-2; all hold C. Distinct indices per day are 1, 2, 2, 1.

    Regression: the index group of X and Y (counted once, X being always present) leaked Y's
    day counts into Z's group.
    """
    days = [dt.date(2024, 1, d) for d in (2, 3, 4, 5)]
    presence = {"510001.SH": [0, 1, 2, 3], "510002.SH": [0, 1], "510003.SH": [1, 2]}
    t = {
        "stocks": pl.DataFrame(
            {"code": [C], "name": ["c"], "board": ["SH_MAIN"], "list_date": [dt.date(2010, 1, 4)]}
        ),
        "stock_industry": pl.DataFrame(
            {
                "code": [C],
                "start_date": [dt.date(2010, 1, 4)],
                "industry_l1": ["电子"],
                "industry_l2": ["电子-1"],
            }
        ),
        "stock_daily": pl.DataFrame(
            {
                "date": days,
                "code": [C] * 4,
                "close": [5.0] * 4,
                "ret": [0.0] * 4,
                "float_mcap": [1e9] * 4,
                "is_st": [False] * 4,
                "is_suspended": [False] * 4,
            }
        ),
        "etfs": pl.DataFrame(
            {
                "etf_code": list(presence),
                "name": ["x", "y", "z"],
                "category": ["broad"] * 3,
                "index_code": ["000001.CSI", "000001.CSI", "000002.CSI"],
                "is_enhanced": [False] * 3,
                "creation_unit": [1e6] * 3,
                "list_date": [days[0]] * 3,
            }
        ),
        "etf_daily": pl.DataFrame(
            [
                {"date": days[d], "etf_code": e, "shares": 1e8, "nav": 1.0}
                for e, ds in presence.items()
                for d in ds
            ]
        ).sort("date", "etf_code"),
        "holding_weights": pl.DataFrame(
            {
                "date": [days[0]] * 3,
                "etf_code": list(presence),
                "index_code": [None, None, None],
                "code": [C] * 3,
                "weight": [0.5] * 3,
            },
            schema_overrides={"index_code": pl.String},
        ),
    }
    lt = penetrate(open_dataset(write_market(t, tmp_path / "m", categorical=True)), mode="weights")
    got = lt.stocks.sort("date")
    assert got["n_etf"].to_list() == [2, 3, 2, 1]
    assert got["n_index"].to_list() == [1, 2, 2, 1]
    assert got["share_passive_fund"].to_list() == [2e8, 3e8, 2e8, 1e8]
    assert got["mv_passive"].to_list() == pytest.approx([1e8, 1.5e8, 1e8, 5e7])


def test_shuffled_weight_snapshots_equal_sorted(tmp_path, monkeypatch):
    """Snapshot rows stored in any order (one snapshot split over the file: the rows are
    sorted first) give the same tables as rows stored by (date, owner)."""
    from etfflow.engine.lookthrough import weights_nb

    calls = []
    row_mapper = weights_nb.weight_rows
    monkeypatch.setattr(weights_nb, "weight_rows", lambda *a: calls.append(1) or row_mapper(*a))

    def split_snapshots(m) -> bool:
        sizes = m["holding_weights"].group_by("date", "etf_code", "index_code").len()["len"]
        return (sizes >= 2).sum() >= 3

    t = find(markets(max_days=9), split_snapshots)
    hw = t["holding_weights"]
    ordered = dict(t, holding_weights=hw.sort("date", "etf_code", "index_code", "code"))
    shuffled = dict(t, holding_weights=hw.sort("code", "date", "etf_code", "index_code"))
    a = penetrate(
        open_dataset(write_market(ordered, tmp_path / "a", categorical=True)), mode="weights"
    )
    assert not calls  # stored by (date, owner): no sort
    b = penetrate(
        open_dataset(write_market(shuffled, tmp_path / "b", categorical=False)), mode="weights"
    )
    assert calls  # the sorting path ran
    assert_frame_equal(a.stocks, b.stocks)
    assert_frame_equal(a.groups, b.groups)


# Child process with an empty numba cache (a callee loaded with its caller from the cache
# records no signature, so only a cold process shows every specialisation).
_SIGNATURES_CHILD = """
import json, sys
from numba.core.registry import CPUDispatcher
from etfflow.engine.loading import open_dataset
from etfflow.engine.lookthrough import penetrate, unit_note

for root in sys.argv[1:]:
    ds = open_dataset(root)
    for kw in ({}, {"chunk_days": 1}, {"valuation": "basket"}, {"mode": "weights"}):
        penetrate(ds, **kw)
out = {}
for name, mod in sorted(sys.modules.items()):
    if name.startswith("etfflow.engine") and ("lookthrough" in name or "panel" in name):
        for attr, obj in vars(mod).items():
            if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == name:
                out[attr] = [str(sig) for sig in obj.signatures]
print(json.dumps(out))
"""


def _split_into_files(root: Path, table: str, n: int = 2) -> None:
    """``<table>.parquet`` as a folder of ``n`` files (columns read back in several chunks)."""
    df = pl.read_parquet(root / f"{table}.parquet")
    (root / f"{table}.parquet").unlink()
    (root / table).mkdir()
    step = -(-df.height // n)
    for i in range(n):
        df.slice(i * step, step).write_parquet(root / table / f"part-{i}.parquet")


def test_each_lookthrough_kernel_compiles_once_per_dtype(tmp_path):
    """PCF (both valuations, one and several chunks) and weights look-throughs over markets
    whose columns reach the kernels as zero-copy read-only views (one-chunk columns), as
    writeable copies (several Parquet files, nulls, shuffled rows that get sorted) and with
    String or Categorical codes: each look-through kernel compiles one specialisation per
    dtype (before: writeable and read-only arrays, int32 and uint32 ids, literal arguments
    each compiled their own)."""
    t = hand_market()
    t["holding_weights"] = t["etf_pcf"].select(
        "date",
        "etf_code",
        pl.lit(None, dtype=pl.String).alias("index_code"),
        "code",
        (pl.col("quantity") / 1000).alias("weight"),
    )
    messy = dict(t)
    null_where = pl.col("code") == B
    messy["stock_daily"] = (
        t["stock_daily"]
        .with_columns(
            pl.when(null_where).then(None).otherwise(pl.col("float_mcap")).alias("float_mcap")
        )
        .reverse()  # not in (date, code) order: sorted by the engine
    )
    messy["etf_daily"] = t["etf_daily"].with_columns(
        pl.when(pl.col("etf_code") == Y).then(None).otherwise(pl.col("nav")).alias("nav")
    )
    messy["holding_weights"] = t["holding_weights"].sort("code")  # snapshots split: sorted
    roots = [
        write_market(t, tmp_path / "plain", categorical=True),
        write_market(messy, tmp_path / "messy", categorical=False),
        write_market(t, tmp_path / "chunked", categorical=True),
    ]
    for table in ("stock_daily", "etf_daily", "holding_weights", "etf_pcf"):
        _split_into_files(roots[2], table)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba_cache")}
    res = subprocess.run(
        [sys.executable, "-c", _SIGNATURES_CHILD, *map(str, roots)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    sigs = json.loads(res.stdout.strip().splitlines()[-1])
    used = {name for name, s in sigs.items() if s}
    # every kernel of both modes and of the stock panel ran
    assert {
        "find_segments", "basket_pointers", "accumulate", "copy_carry", "panels_to_rows",
        "etf_panel", "weight_segments", "weight_rows", "weights_flows", "stock_rows",
        "group_bits", "rows_to_dense", "_lookup", "_pair_less", "_cap_thresholds",
    } <= used  # fmt: skip
    # rows_to_dense: float panels (close, float cap) and the bool listed panel
    expected = {"rows_to_dense": 2}
    over = {n: s for n, s in sigs.items() if len(s) > expected.get(n, 1)}
    assert not over, over

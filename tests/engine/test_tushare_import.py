"""``etfflow import tushare``: unit conversions per endpoint on hand-made rows, suspended-day
carry (against a plain reference twin), point-in-time industries and ST spells, ETF
categories, every bad-input case (nothing written), and the acceptance round trip: the
synthetic market re-expressed in Tushare's endpoints -> raw folder -> import -> validate and
the look-through equal to the original's (1e-9 relative) in both modes."""

from __future__ import annotations

import datetime as dt
import math
import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from etfflow import generate_market
from etfflow.cli import app
from etfflow.engine.adapters.tushare.categories import (
    BROAD_INDICES,
    CategoryRules,
    load_categories,
)
from etfflow.engine.adapters.tushare.convert import (
    ENDPOINTS,
    etf_daily_table,
    etf_pcf_table,
    import_tushare,
    index_weights,
    read_creation_units,
    read_endpoint,
    rotation_tables,
    stock_daily_table,
    stock_industry_table,
    stocks_table,
)
from etfflow.engine.adapters.tushare.convert_etfs import (
    KEPT_UNIT_SOURCE,
    NO_UNIT_COUNT,
    UNITLESS_DAYS_COUNT,
)
from etfflow.engine.adapters.tushare.raw import raw_file
from etfflow.engine.loading import open_dataset
from etfflow.engine.lookthrough import penetrate
from etfflow.engine.schemas import TABLES
from etfflow.engine.validation import validate
from etfflow.exceptions import EtfflowError, SourceFileError, ValidationError
from tests.engine.adapters.test_pcf import strs
from tests.engine.adapters.test_pcf import tree_digest as digest
from tests.tushare_market import market_as_tushare, write_raw

D = dt.date
runner = CliRunner()


def raw_rows(tmp: Path, api: str, rows: dict[str, list]) -> pl.DataFrame:
    """Hand-made rows of one endpoint, written as a raw request file and read back."""
    f = raw_file(tmp, api)
    f.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows).write_parquet(f)
    out = read_endpoint(tmp, ENDPOINTS[api])
    assert out is not None
    return out


# --- units per endpoint, on hand-made rows ----------------------------------------------------
def _two_stocks(tmp: Path) -> pl.DataFrame:
    basic = raw_rows(
        tmp,
        "stock_basic",
        {
            "ts_code": ["600000.SH", "300750.SZ", "430047.BJ", "688001.SH"],
            "name": ["浦发银行", "宁德时代", "诺思兰德", "华兴源创"],
            "market": ["主板", "创业板", "北交所", None],  # no market: the code prefix decides
            "list_date": ["19991110", "20240103", "20201120", "20190722"],
            "delist_date": [None, None, None, "20240102"],
        },
    )
    counts: dict[str, int] = {}
    stocks = stocks_table(basic, counts)
    assert counts == {  # reported, never silent
        "stock_basic: Beijing stocks left out": 1,
        "stock_basic: board from the code prefix (no market)": 1,
    }
    assert stocks.filter(pl.col("code") == "688001.SH")["board"].to_list() == ["STAR"]
    return stocks.filter(pl.col("code") != "688001.SH")


def test_stock_units_suspended_carry_and_st(tmp_path: Path) -> None:
    stocks = _two_stocks(tmp_path)
    assert dict(zip(stocks["code"], stocks["board"], strict=True)) == {
        "300750.SZ": "CHINEXT",
        "600000.SH": "SH_MAIN",
    }
    days = pl.Series("date", [D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4)])
    raw = {
        "daily": raw_rows(
            tmp_path,
            "daily",
            {  # 600000.SH does not trade on 01-03 (suspended); 300750.SZ lists on 01-03
                "ts_code": ["600000.SH", "600000.SH", "300750.SZ", "300750.SZ"],
                "trade_date": ["20240102", "20240104", "20240103", "20240104"],
                "close": [10.0, 11.0, 20.0, 21.0],
                "pre_close": [9.5, 10.0, 16.0, 20.0],
                "vol": [1000.0, 2000.0, 500.0, 100.0],  # 手
                "amount": [1000.0, 2200.0, 1000.0, 210.0],  # 千元
            },
        ),
        "daily_basic": raw_rows(
            tmp_path,
            "daily_basic",
            {
                "ts_code": ["600000.SH", "600000.SH", "300750.SZ", "300750.SZ"],
                "trade_date": ["20240102", "20240104", "20240103", "20240104"],
                "close": [10.0, 11.0, 20.0, 21.0],
                "turnover_rate": [1.5, 2.0, 30.0, 5.0],  # %
                "total_share": [100.0, 100.0, 10.0, 10.0],  # 万股
                "total_mv": [1000.0, 1100.0, 200.0, 210.0],  # 万元
                "circ_mv": [800.0, 880.0, 50.0, 52.5],  # 万元
            },
        ),
        "stk_limit": raw_rows(
            tmp_path,
            "stk_limit",
            {
                "ts_code": ["600000.SH"] * 3,
                "trade_date": ["20240102", "20240103", "20240104"],
                "up_limit": [10.45, 11.0, 11.0],
                "down_limit": [8.55, 9.0, 9.0],
            },
        ),
        "stock_st": raw_rows(
            tmp_path,
            "stock_st",
            {"ts_code": ["300750.SZ"], "trade_date": ["20240104"], "name": ["ST宁德"]},
        ),
        "suspend_d": raw_rows(
            tmp_path,
            "suspend_d",
            {"ts_code": ["600000.SH"], "trade_date": ["20240103"], "suspend_type": ["S"]},
        ),
    }
    counts: dict[str, int] = {}
    out = stock_daily_table(raw, stocks, days, counts).sort("code", "date")
    a = out.filter(pl.col("code") == "600000.SH")
    assert a["close"].to_list() == [10.0, 10.0, 11.0]  # carried on the suspended day
    assert a["is_suspended"].to_list() == [False, True, False]
    assert a["ret"].to_list() == pytest.approx([10 / 9.5 - 1, 0.0, 11 / 10 - 1])
    assert a["amount"].to_list() == [1e6, 0.0, 2.2e6]  # 千元 -> CNY
    assert a["turnover"].to_list() == pytest.approx([0.015, 0.0, 0.02])  # % -> decimal
    assert a["float_mcap"].to_list() == [8e6, 8e6, 8.8e6]  # 万元 -> CNY, carried
    assert a["total_mcap"].to_list() == [1e7, 1e7, 1.1e7]
    assert a["up_limit"].to_list() == [10.45, 11.0, 11.0]
    b = out.filter(pl.col("code") == "300750.SZ")
    assert b["date"].to_list() == [D(2024, 1, 3), D(2024, 1, 4)]  # from its list date
    assert b["is_st"].to_list() == [False, True]
    assert b["up_limit"].null_count() == 2
    assert counts == {"stock_daily: suspended days carried": 1}
    assert set(out.columns) <= set(TABLES["stock_daily"].columns)


def test_st_flags_from_namechange_spells(tmp_path: Path) -> None:
    """Without stock_st, the name in force (latest start_date <= date) decides."""
    stocks = _two_stocks(tmp_path)
    days = pl.Series("date", [D(2024, 1, 3), D(2024, 1, 4)])
    for api in ("daily", "daily_basic"):
        rows = {
            "ts_code": ["600000.SH", "600000.SH"],
            "trade_date": ["20240103", "20240104"],
            "close": [10.0, 10.0],
        }
        if api == "daily":
            rows |= {"pre_close": [10.0, 10.0], "vol": [1.0, 1.0], "amount": [1.0, 1.0]}
        else:
            rows |= {
                "turnover_rate": [1.0, 1.0],
                "total_share": [1.0, 1.0],
                "total_mv": [10.0, 10.0],
                "circ_mv": [10.0, 10.0],
            }
        raw_rows(tmp_path, api, rows)
    raw = {api: read_endpoint(tmp_path, ENDPOINTS[api]) for api in ("daily", "daily_basic")}
    raw["namechange"] = raw_rows(
        tmp_path,
        "namechange",  # duplicated spells (Tushare lists some twice, one with end_date None)
        {
            "ts_code": ["600000.SH", "600000.SH", "600000.SH"],
            "name": ["浦发银行", "ST浦发", "ST浦发"],
            "start_date": ["19991110", "20240104", "20240104"],
            "end_date": [None, None, "20240110"],
        },
    )
    stocks = stocks.filter(pl.col("code") == "600000.SH")
    out = stock_daily_table(raw, stocks, days, {})
    assert out["is_st"].to_list() == [False, True]
    del raw["namechange"]
    with pytest.raises(SourceFileError, match=r"stock_st.*namechange"):
        stock_daily_table(raw, stocks, days, {})


def test_point_in_time_industries(tmp_path: Path) -> None:
    members = raw_rows(
        tmp_path,
        "ci_index_member",
        {
            "ts_code": ["600000.SH", "600000.SH", "430047.BJ"],
            "l1_name": ["银行", "非银行金融", "医药"],
            "l2_name": ["股份制银行", "证券", "化学制药"],
            "in_date": ["20100101", "20240301", "20200101"],
            "out_date": ["20240301", None, None],
        },
    )
    counts: dict[str, int] = {}
    out = stock_industry_table(members, counts)
    assert out.rows() == [
        ("600000.SH", D(2010, 1, 1), "银行", "股份制银行", D(2024, 2, 29)),  # out_date − 1
        ("600000.SH", D(2024, 3, 1), "非银行金融", "证券", None),
    ]
    assert counts == {"ci_index_member: Beijing rows left out": 1}


def test_etf_daily_pcf_and_weight_units(tmp_path: Path) -> None:
    etfs = pl.DataFrame({"etf_code": ["510300.SH", "159919.SZ"]})
    raw = {
        "etf_share_size": raw_rows(
            tmp_path,
            "etf_share_size",
            {
                "trade_date": ["20240102", "20240102", "20240102", "20240103", "20240102"],
                "ts_code": ["510300.SH", "159919.SZ", "513050.SH", "510300.SH", "512000.SH"],
                "total_share": [3.0e5, 1.0e5, 5.0, 3.0e5, 7.0],  # 万份
                "total_size": [1.2e6, 4.0e5, 5.0, 1.2e6, 7.0],  # 万元
                "nav": [4.0, 4.0, 1.0, 4.0, 1.0],
                "close": [4.01, 3.99, 1.0, 4.02, 1.0],
            },
        ),
        "fund_daily": raw_rows(  # 510300.SH on 2024-01-02 only: 159919.SZ did not trade
            tmp_path,
            "fund_daily",
            {
                "ts_code": ["510300.SH", "160119.SZ"],  # and a LOF
                "trade_date": ["20240102", "20240102"],
                "close": [4.01, 1.5],
                "vol": [5.0e9 / 4.01 / 100, 20.0],  # 手
                "amount": [5.0e6, 3.0],  # 千元
            },
        ),
    }
    counts: dict[str, int] = {}
    ed = etf_daily_table(raw, etfs, counts, no_unit=["510300.SH"])  # kept, counted
    assert ed.rows() == [
        (D(2024, 1, 2), "159919.SZ", 1.0e9, 4.0, 3.99, 0.0),
        (D(2024, 1, 2), "510300.SH", 3.0e9, 4.0, 4.01, 5.0e9),
        (D(2024, 1, 3), "510300.SH", 3.0e9, 4.0, 4.02, None),  # fund_daily not fetched
    ]
    assert counts == {
        "etf_share_size: rows of other ETFs not in etfs (left out)": 2,
        "etf_daily: ETF-days of ETFs without a creation unit (kept)": 2,
        "etf_daily: ETF-days without a fund_daily row (not traded: amount 0)": 1,
        "etf_daily: ETF-days of days fund_daily was not fetched for (amount null)": 1,
        "fund_daily: rows of funds not in etfs (LOFs, other funds; left out)": 1,
    }
    cons = {
        "etf_sz_cons": raw_rows(
            tmp_path,
            "etf_sz_cons",
            {
                "trade_date": ["20240102"] * 4,
                "ts_code": ["159919.SZ"] * 4,
                "con_code": ["159900.SZ", "000001.SZ", "600000.SH", "00700.HK"],
                "qty": [0.0, 1100.0, 500.0, 100.0],
                "sub_flag": ["必须", "允许", "禁止", "必须"],
                "exchange": ["SZ", "SZ", "SH", "HK"],
            },
        ),
        "etf_sh_cons": raw_rows(
            tmp_path,
            "etf_sh_cons",
            {
                "trade_date": ["20240102"],
                "ts_code": ["510300.SH"],
                "con_code": ["430047.BJ"],
                "qty": [100.0],
                "sub_flag": ["2"],
                "exchange": ["OTH"],
            },
        ),
    }
    counts = {}
    pcf = etf_pcf_table(cons, etfs, counts)
    assert pcf is not None
    assert pcf.rows() == [
        (D(2024, 1, 2), "159919.SZ", "000001.SZ", 1100.0, "allowed"),
        (D(2024, 1, 2), "159919.SZ", "600000.SH", 500.0, "forbidden"),
    ]
    assert counts == {
        "etf cons: bj component rows left out": 1,
        "etf cons: cash component rows left out": 1,
        "etf cons: hk component rows left out": 1,
    }
    iw = raw_rows(
        tmp_path,
        "index_weight",
        {
            "index_code": ["000300.SH"] * 3,
            "con_code": ["600000.SH", "000001.SZ", "430047.BJ"],
            "trade_date": ["20240131"] * 3,
            "weight": [60.0, 39.5, 0.5],  # %
        },
    )
    counts = {}
    w = index_weights(iw, counts)
    assert w["weight"].to_list() == pytest.approx([0.6, 0.395])
    assert w["etf_code"].null_count() == 2
    assert counts == {"index_weight: Beijing constituents left out": 1}


def test_rotation_tables_units_and_full_lists(tmp_path: Path) -> None:
    raw = {
        "fund_basic": raw_rows(
            tmp_path,
            "fund_basic",
            {
                "ts_code": ["000001.OF", "000002.OF", "510300.SH", "000003.OF"],
                "name": ["成长混合", "新发股票", "沪深300ETF", "300指数"],
                "fund_type": ["混合型", "股票型", "股票型", "股票型"],
                "invest_type": ["偏股混合型", "普通股票型", "被动指数型", "被动指数型"],
                "market": ["O", "O", "E", "O"],
                "found_date": ["20100101", "20240115", "20240120", "20240110"],
                "issue_amount": [10.0, 2.5, 1.0, 3.0],  # 亿份
            },
        ),
        "fund_portfolio": raw_rows(
            tmp_path,
            "fund_portfolio",
            {  # 2023-12-31: top ten on 01-20, the rest with the annual report on 03-28
                "ts_code": ["000001.OF"] * 12,
                "ann_date": ["20240120"] * 10 + ["20240328"] * 2,
                "end_date": ["20231231"] * 12,
                "symbol": [f"60000{i}.SH" for i in range(10)] + ["000001.SZ", "00700.HK"],
                "mkv": [1.0e6] * 12,
            },
        ),
        "fund_nav": raw_rows(
            tmp_path,
            "fund_nav",
            {
                "ts_code": ["000001.OF", "000001.OF"],
                "ann_date": ["20240103", "20240107"],
                "nav_date": ["20240102", "20240106"],  # a Saturday
                "unit_nav": [1.5, 1.6],
            },
        ),
    }
    days = pl.Series("date", [D(2024, 1, 2), D(2024, 1, 3), D(2024, 2, 1)])
    counts: dict[str, int] = {}
    t = rotation_tables(raw, days, counts)
    assert t["active_funds"].rows() == [("000001.OF", "成长混合", "偏股混合型")]
    h = t["active_holdings"]
    assert h.height == 11 and h["is_full"].sum() == 1  # the annual report's extra row
    assert h.filter(pl.col("is_full"))["disclose_date"].to_list() == [D(2024, 3, 28)]
    assert t["fund_nav"].rows() == [(D(2024, 1, 2), "000001.OF", 1.5)]
    assert t["fund_issuance"].rows() == [
        (D(2024, 1, 1), "active", 2.5e8),  # 亿份 -> shares; index funds are not active
        (D(2024, 1, 1), "etf", 1.0e8),
        (D(2024, 2, 1), "active", 0.0),
        (D(2024, 2, 1), "etf", 0.0),
    ]
    assert counts == {
        "fund_portfolio: non-A-share (HK, BJ) holdings left out": 1,
        "fund_nav: non-trading-day NAVs left out": 1,
    }


# --- suspended-day carry against a plain reference twin --------------------------------------
def carry_reference(traded: list[tuple[float, float, float] | None]) -> list[tuple | None]:
    """Per trading day of one stock: (close, ret, amount, is_suspended), by a plain loop; a day
    without a daily row carries the last close (None when there is none yet)."""
    out: list[tuple | None] = []
    last = None
    for row in traded:
        if row is None:
            out.append(None if last is None else (last, 0.0, 0.0, True))
        else:
            close, pre, amount = row
            last = close
            out.append((close, close / pre - 1.0, amount * 1e3, False))
    return out


@settings(max_examples=40)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.tuples(st.floats(0.5, 500.0), st.floats(0.5, 500.0), st.floats(0.0, 1e6)),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_suspended_carry_matches_reference(
    tmp_path_factory: pytest.TempPathFactory, traded: list
) -> None:
    tmp = tmp_path_factory.mktemp("carry")
    days = [D(2024, 1, 1) + dt.timedelta(days=i) for i in range(len(traded))]
    ix = [i for i, r in enumerate(traded) if r is not None]
    ymd = [days[i].strftime("%Y%m%d") for i in ix]
    rows = {"ts_code": ["600000.SH"] * len(ix), "trade_date": ymd}
    raw = {
        "daily": raw_rows(
            tmp,
            "daily",
            rows
            | {
                "close": [traded[i][0] for i in ix],
                "pre_close": [traded[i][1] for i in ix],
                "vol": [traded[i][2] * 10.0 / traded[i][0] for i in ix],  # 手, consistent
                "amount": [traded[i][2] for i in ix],
            },
        ),
        "daily_basic": raw_rows(
            tmp,
            "daily_basic",
            rows
            | {
                "close": [1.0] * len(ix),
                "turnover_rate": [1.0] * len(ix),
                "total_share": [1.0] * len(ix),
                "total_mv": [1.0] * len(ix),
                "circ_mv": [1.0] * len(ix),
            },
        ),
        "stock_st": raw_rows(
            tmp, "stock_st", {"ts_code": ["600000.SH"], "trade_date": ["20240101"]}
        ),
    }
    stocks = pl.DataFrame(
        {"code": ["600000.SH"], "list_date": [D(2000, 1, 1)], "delist_date": [None]},
        schema_overrides={"delist_date": pl.Date},
    )
    if not ix:
        return
    out = stock_daily_table(raw, stocks, pl.Series("date", days), {})
    got = {
        r["date"]: (r["close"], r["ret"], r["amount"], r["is_suspended"]) for r in out.to_dicts()
    }
    for day, want in zip(days, carry_reference(traded), strict=True):
        if want is None:
            assert day not in got
        else:
            assert got[day][3] == want[3]
            for x, y in zip(got[day][:3], want[:3], strict=True):
                assert math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12)


# --- categories -------------------------------------------------------------------------------
def test_category_rules_and_overrides(tmp_path: Path) -> None:
    r = CategoryRules()
    assert r.category("000300.SH", "沪深300") == "broad"
    assert r.category("932000.CSI", None) == "broad"  # by code, no name needed
    assert all(r.category(c, None) == "broad" for c in BROAD_INDICES)
    for name in ("中证红利", "300价值", "创业板成长", "红利低波", "沪深300质量"):
        assert r.category("999999.CSI", name) == "style", name
    assert r.category("931201.CSI", "中证科技") == "sector"
    assert r.category("999999.CSI", None) is None  # cannot be decided
    f = tmp_path / "cat.toml"
    f.write_text(
        '[codes]\n"931201.CSI" = "style"\n[patterns]\n"科创" = "broad"\n"科创芯片" = "sector"\n',
        encoding="utf-8",
    )
    u = load_categories(f)
    assert u.category("931201.CSI", "中证科技") == "style"  # code beats every rule
    assert u.category("000688.SH", "科创50") == "broad"
    assert u.category("999999.CSI", "科创芯片") == "sector"  # the longest pattern wins
    assert u.category("000922.CSI", "中证红利") == "style"
    f.write_text('[codes]\n"000300.SH" = "large"\n', encoding="utf-8")
    with pytest.raises(EtfflowError, match="'large' is not a category"):
        load_categories(f)
    f.write_text("[nope]\n", encoding="utf-8")
    with pytest.raises(EtfflowError, match=r"unknown section \[nope\]"):
        load_categories(f)


# --- the acceptance round trip ----------------------------------------------------------------
@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_market(tmp_path_factory.mktemp("ts_tiny") / "m", size="tiny", seed=1)


@pytest.fixture(scope="module")
def raw(market: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_raw(market_as_tushare(market), tmp_path_factory.mktemp("ts_raw") / "raw")


def _close(a: pl.DataFrame, b: pl.DataFrame, what: str) -> None:
    assert a.columns == b.columns and a.height == b.height, what
    for c in a.columns:
        if a.schema[c] == pl.Float64:
            x, y = a[c], b[c]
            ok = ((x - y).abs() <= 1e-9 * x.abs() + 1e-300) | (x.is_nan() & y.is_nan())
            ok = ok | (x.is_null() & y.is_null())
            assert ok.fill_null(False).all(), (what, c)
        else:
            assert a[c].equals(b[c]), (what, c)


def assert_round_trip(original: Path, imported: Path) -> None:
    """validate passes; every contract table equals the original (holding_weights: the
    original's per-ETF snapshots, plus the per-index ones); look-through equal in both modes."""
    a, b = open_dataset(original), open_dataset(imported)
    report = validate(b)
    assert report.ok, [e.message for e in report.errors]
    for t, spec in TABLES.items():
        x, y = strs(a.frame(t).collect()), strs(b.frame(t).collect())
        keys = [k for k in spec.key if k in x.columns]
        if t == "holding_weights":
            y = y.filter(pl.col("etf_code").is_not_null())
        _close(x.sort(keys), y.select(x.columns).sort(keys), t)
    for mode in ("weights", "pcf"):
        _close(penetrate(a, mode=mode).stocks, penetrate(b, mode=mode).stocks, mode)  # type: ignore[arg-type]


def test_round_trip_synthetic_market(market: Path, raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    r = runner.invoke(app, ["import", "tushare", str(raw), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "stock_daily: suspended days carried" in r.stdout
    assert "imported" in r.stdout
    assert_round_trip(market, out)
    v = runner.invoke(app, ["validate", str(out)])
    assert v.exit_code == 0, v.output
    before = {t: strs(open_dataset(out).frame(t).collect()) for t in TABLES}
    s = import_tushare(raw, out)  # again: the same dates and keys are replaced, not doubled
    assert s.rows["stock_daily"] == before["stock_daily"].height
    after = open_dataset(out)
    for t, df in before.items():
        assert strs(after.frame(t).collect()).equals(df), t
    merged = tmp_path / "merged"  # into the original folder (etf_pcf there is a folder)
    shutil.copytree(market, merged)
    import_tushare(raw, merged)
    assert (merged / "etf_pcf").is_dir() and not (merged / "etf_pcf.parquet").exists()
    assert_round_trip(market, merged)


def test_rows_dated_t_do_not_depend_on_later_raw_rows(raw: Path, tmp_path: Path) -> None:
    """Perturb every raw row dated after t (numbers ×1.5, every third row dropped): the
    converted rows dated <= t are identical."""
    t = D(2024, 1, 31)
    import_tushare(raw, tmp_path / "a")
    moved = tmp_path / "raw"
    shutil.copytree(raw, moved)
    date_field = {api: ep.dates[0] for api, ep in ENDPOINTS.items() if ep.dates}
    date_field["fund_portfolio"] = "ann_date"
    for api, col in date_field.items():
        f = raw_file(moved, api)
        if not f.exists() or api in ("stock_basic", "etf_basic", "ci_index_member", "trade_cal"):
            continue
        df = pl.read_parquet(f)
        later = pl.col(col).str.strptime(pl.Date, "%Y%m%d", strict=False) > t
        nums = [c for c in ENDPOINTS[api].numbers if c in df.columns]
        df = df.with_row_index("_i").with_columns(
            [pl.when(later).then(pl.col(c) * 1.5).otherwise(pl.col(c)).alias(c) for c in nums]
        )
        df.filter(~(later.fill_null(False) & (pl.col("_i") % 3 == 0))).drop("_i").write_parquet(f)
    import_tushare(moved, tmp_path / "b")
    a, b = open_dataset(tmp_path / "a"), open_dataset(tmp_path / "b")
    for table in (
        "stock_daily",
        "etf_daily",
        "etf_pcf",
        "holding_weights",
        "index_daily",
        "fund_nav",
    ):
        keys = list(TABLES[table].key)
        x = strs(a.frame(table).collect()).filter(pl.col("date") <= t)
        y = strs(b.frame(table).collect()).filter(pl.col("date") <= t)
        keys = [k for k in keys if k in x.columns]
        assert x.sort(keys, nulls_last=True).equals(y.sort(keys, nulls_last=True)), table
        assert strs(b.frame(table).collect())["date"].max() > t, table


# --- bad input: a clear error, nothing written ------------------------------------------------
def _edit(raw: Path, tmp: Path, api: str, fn) -> Path:  # type: ignore[no-untyped-def]
    moved = tmp / "raw"
    shutil.copytree(raw, moved)
    f = raw_file(moved, api)
    fn(pl.read_parquet(f)).write_parquet(f)
    return moved


BAD = {
    "missing field": (
        "daily",
        lambda df: df.drop("amount"),
        r"endpoint 'daily': field 'amount' is missing",
    ),
    "unexpected schema": (
        "daily_basic",
        lambda df: df.with_columns(pl.col("circ_mv").cast(pl.String) + "万"),
        r"endpoint 'daily_basic': field 'circ_mv' is not a number",
    ),
    "bad date": (
        "etf_share_size",
        lambda df: df.with_columns(pl.col("trade_date").str.replace(r"^(\d{4})", "$1-")),
        r"field 'trade_date' is not a date YYYYMMDD",
    ),
    "unit not inferable": (
        "daily",
        lambda df: df.with_columns(pl.col("amount") * 1000.0),  # 元, not 千元
        r"field 'amount' is not in 千元.*unit cannot be inferred",
    ),
    "fund_daily unit not inferable": (
        "fund_daily",
        lambda df: df.with_columns(pl.col("amount") * 1000.0),  # 元, not 千元
        r"endpoint 'fund_daily': field 'amount' is not in 千元.*unit cannot be inferred",
    ),
    "share unit not inferable": (
        "etf_share_size",
        lambda df: df.with_columns(pl.col("total_share") * 1e4),  # 份, not 万份
        r"field 'total_size' is not in 万元.*unit cannot be inferred",
    ),
    "code maps to no exchange": (
        "stock_basic",
        lambda df: df.with_columns(
            pl.when(pl.col("ts_code") == pl.col("ts_code").min())
            .then(pl.col("ts_code").str.replace(r"\.(SH|SZ)$", ".XX"))
            .otherwise(pl.col("ts_code"))
        ),
        r"field 'ts_code' holds a code that maps to no exchange",
    ),
    "unknown substitution flag": (
        "etf_sh_cons",
        lambda df: df.with_columns(pl.lit("也许").alias("sub_flag")),
        r"field 'sub_flag' is not a known substitution flag",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_names_endpoint_field_and_row_and_writes_nothing(
    case: str, raw: Path, market: Path, tmp_path: Path
) -> None:
    api, fn, pattern = BAD[case]
    bad = _edit(raw, tmp_path, api, fn)
    fresh, existing = tmp_path / "new", tmp_path / "old"
    shutil.copytree(market, existing)
    before = digest(existing)
    with pytest.raises(SourceFileError, match=pattern) as exc:
        import_tushare(bad, fresh)
    assert str(raw_file(bad, api)) in str(exc.value)  # the endpoint file
    assert "example rows" in str(exc.value)
    with pytest.raises(SourceFileError, match=pattern):
        import_tushare(bad, existing)
    assert not fresh.exists() and digest(existing) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    r = runner.invoke(app, ["import", "tushare", str(bad), "--out", str(fresh)])
    assert r.exit_code == 1 and api in r.stderr and not fresh.exists()


def test_contract_violation_after_conversion_writes_nothing(
    raw: Path, market: Path, tmp_path: Path
) -> None:
    bad = _edit(
        raw,
        tmp_path,
        "index_daily",
        lambda df: df.with_columns(
            pl.when(pl.int_range(pl.len()) == 0)
            .then(-1.0)
            .otherwise(pl.col("close"))
            .alias("close")
        ),
    )
    existing = tmp_path / "old"
    shutil.copytree(market, existing)
    before = digest(existing)
    with pytest.raises(ValidationError, match="index_daily"):
        import_tushare(bad, existing)
    assert digest(existing) == before


def test_missing_endpoint_and_category_file(raw: Path, market: Path, tmp_path: Path) -> None:
    moved = tmp_path / "raw"
    shutil.copytree(raw, moved)
    shutil.rmtree(moved / "stock_st")  # ST flags from the namechange spells instead
    import_tushare(moved, tmp_path / "nc")
    x = strs(open_dataset(market).frame("stock_daily").collect()).sort("date", "code")
    y = strs(open_dataset(tmp_path / "nc").frame("stock_daily").collect()).sort("date", "code")
    assert x["is_st"].sum() > 0 and x["is_st"].equals(y["is_st"])
    shutil.rmtree(moved / "daily")
    with pytest.raises(SourceFileError, match=r"endpoint 'daily' has no data"):
        import_tushare(moved, tmp_path / "x")
    cats = tmp_path / "c.toml"
    cats.write_text('[codes]\n"931201.CSI" = "style"\n', encoding="utf-8")
    out = tmp_path / "y"
    r = runner.invoke(
        app, ["import", "tushare", str(raw), "--out", str(out), "--categories", str(cats)]
    )
    assert r.exit_code == 0, r.output
    e = strs(open_dataset(out).frame("etfs").collect())
    assert set(e.filter(pl.col("index_code") == "931201.CSI")["category"]) == {"style"}


# --- the acceptance round trip through the loopback Tushare server (fetch + import) ----------
def test_round_trip_through_the_http_server(market: Path, tmp_path: Path) -> None:
    """The synthetic market served on 127.0.0.1 in Tushare's wire protocol, fetched with
    ``fetch_tushare`` (paging, per-day/per-code/per-quarter requests) and imported: validate
    passes, nothing is reported missing, ``etf_daily`` (with ``amount``, from ``fund_daily``)
    equals the original, so do the look-through in both modes and a turnover sub-pool;
    ``index_daily`` holds the style and benchmark indices plus ``--indices``, and a backtest
    against ``--benchmark 000905.SH`` runs on it."""
    from etfflow.engine.adapters.tushare.endpoints import index_codes
    from etfflow.engine.adapters.tushare.fetch import fetch_tushare
    from tests.tushare_server import TushareServer

    tables = market_as_tushare(market)
    days = tables["daily"]["trade_date"]
    raw_dir, out = tmp_path / "raw", tmp_path / "data"
    with TushareServer(tables, token="t0k3n", default_cap=3000) as server:
        fetch_tushare(
            raw_dir, start=days.min(), end=days.max(), token="t0k3n", api_url=server.url,
            backoff=0.0, indices=["930955.CSI"],
        )  # fmt: skip
        asked = {p["ts_code"] for a, p in server.calls if a == "index_daily"}
        assert asked == set(index_codes(["930955.CSI"]))
        n = len(server.calls)  # --indices tracked: only the tracked indices not fetched yet
        fetch_tushare(
            raw_dir, start=days.min(), end=days.max(), token="t0k3n", api_url=server.url,
            backoff=0.0, indices=["tracked"],
        )  # fmt: skip
        later = {p["ts_code"] for a, p in server.calls[n:] if a == "index_daily"}
        tracked = set(tables["etf_basic"]["index_code"])
        assert later == tracked - asked and later
    s = import_tushare(raw_dir, out)
    assert s.not_provided == ()
    a, b = open_dataset(market), open_dataset(out)
    assert validate(b).ok
    for t in ("stocks", "stock_industry", "stock_daily", "etfs", "etf_daily", "etf_pcf",
              "active_holdings"):  # fmt: skip
        x, y = strs(a.frame(t).collect()), strs(b.frame(t).collect())
        keys = list(TABLES[t].key)
        _close(x.sort(keys), y.select(x.columns).sort(keys), t)
    x, y = strs(a.frame("index_daily").collect()), strs(b.frame("index_daily").collect())
    assert set(y["index_code"]) == set(x["index_code"]) & (asked | tracked)
    assert {"000300.SH", "000905.SH", "932000.CSI", "930955.CSI"} <= set(y["index_code"])
    x = x.filter(pl.col("index_code").is_in(y["index_code"].implode()))
    _close(x.sort("date", "index_code"), y.select(x.columns).sort("date", "index_code"), "idx")
    for mode in ("weights", "pcf"):
        _close(penetrate(a, mode=mode).stocks, penetrate(b, mode=mode).stocks, mode)  # type: ignore[arg-type]
    for pool in ("turnover:high", "turnover:low"):
        _close(penetrate(a, pool=pool).stocks, penetrate(b, pool=pool).stocks, pool)
    store = tmp_path / "s.duckdb"
    r = runner.invoke(
        app, ["factors", "compute", str(out), "--factors", "revs_20", "--store", str(store)]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["backtest", "--store", str(store), "--benchmark", "000905.SH"])
    assert r.exit_code == 0, r.output
    assert "benchmark 000905.SH" in r.stdout


# --- creation units: etf_bs_sh_detail starts 2025-07-25 -----------------------------------
def _without_sh_units(raw: Path, tmp: Path) -> Path:
    """The raw folder as a fetch before 2025-07-25 leaves it: no Shanghai PCF headers."""
    moved = tmp / "raw_no_sh"
    shutil.copytree(raw, moved)
    shutil.rmtree(moved / "etf_bs_sh_detail")
    return moved


def _sh_units(market: Path) -> pl.DataFrame:
    """The Shanghai ETFs' creation units of the original, dated their first etf_daily day."""
    ds = open_dataset(market)
    first = strs(ds.frame("etf_daily").collect()).group_by("etf_code").agg(pl.col("date").min())
    return (
        strs(ds.frame("etfs").collect())
        .filter(pl.col("etf_code").str.ends_with(".SH"))
        .join(first, on="etf_code")
        .select("etf_code", "date", "creation_unit")
        .sort("etf_code")
    )


def _same_etfs(market: Path, out: Path) -> None:
    a, b = open_dataset(market), open_dataset(out)
    for t in ("etfs", "etf_daily", "etf_pcf"):
        x, y = strs(a.frame(t).collect()), strs(b.frame(t).collect())
        keys = list(TABLES[t].key)
        _close(x.sort(keys), y.select(x.columns).sort(keys), t)


def test_etfs_without_a_creation_unit_are_kept_named_and_counted(
    raw: Path, market: Path, tmp_path: Path
) -> None:
    """No Shanghai unit: the Shanghai ETFs stay in etfs (null unit), etf_daily and etf_pcf;
    the weights and NAV-valued PCF look-throughs equal the original's, basket valuation
    leaves them out and names them."""
    bare = _without_sh_units(raw, tmp_path)
    sh = _sh_units(market)
    out = tmp_path / "data"
    r = runner.invoke(app, ["import", "tushare", str(bare), "--out", str(out)],
                      env={"COLUMNS": "400"})  # fmt: skip
    assert r.exit_code == 0, r.output
    size = strs(open_dataset(market).frame("etf_daily").collect())
    n_days = size.filter(pl.col("etf_code").is_in(sh["etf_code"].implode())).height
    line = r.stdout.replace("\n", "")
    assert f"etfs.creation_unit: {sh.height} ETFs ({n_days} ETF-days of etf_share_size)" in line
    assert "kept with a null unit for the weights mode" in line
    assert "left out of the PCF mode at basket valuation" in line
    assert sh["etf_code"][0] in r.stdout and "--creation-units" in r.stdout
    s = import_tushare(bare, tmp_path / "again")
    assert s.counts[NO_UNIT_COUNT] == sh.height
    assert s.counts[UNITLESS_DAYS_COUNT] == n_days
    assert "etf_share_size: rows of other ETFs not in etfs (left out)" not in s.counts
    a, b = open_dataset(market), open_dataset(out)
    assert validate(b).ok
    etfs = strs(b.frame("etfs").collect())
    assert etfs.filter(pl.col("creation_unit").is_null())["etf_code"].sort().equals(sh["etf_code"])
    nulled = strs(a.frame("etfs").collect()).with_columns(
        pl.when(pl.col("etf_code").is_in(sh["etf_code"].implode()))
        .then(None)
        .otherwise(pl.col("creation_unit"))
        .alias("creation_unit")
    )
    _close(nulled.sort("etf_code"), etfs.select(nulled.columns).sort("etf_code"), "etfs")
    for t in ("etf_daily", "etf_pcf"):
        x, y = strs(a.frame(t).collect()), strs(b.frame(t).collect())
        keys = list(TABLES[t].key)
        _close(x.sort(keys), y.select(x.columns).sort(keys), t)
    for mode in ("weights", "pcf"):
        _close(penetrate(a, mode=mode).stocks, penetrate(b, mode=mode).stocks, mode)  # type: ignore[arg-type]
    basket = penetrate(b, valuation="basket")
    assert basket.diagnostics["etfs_without_creation_unit"] == sh["etf_code"].to_list()
    assert basket.diagnostics["etf_days_without_creation_unit"] == n_days


def test_a_reimport_keeps_the_units_an_earlier_import_found(
    raw: Path, market: Path, tmp_path: Path
) -> None:
    """Units given once (--creation-units) survive a re-import without them: the dataset's
    own etfs fills the gap (counted), never a null over a known unit."""
    bare = _without_sh_units(raw, tmp_path)
    sh = _sh_units(market)
    f = tmp_path / "units.csv"
    rows = [f"{c},{u:.0f}" for c, _, u in sh.iter_rows()]
    f.write_text("ts_code,creation_unit\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "data"
    import_tushare(bare, out, creation_units=f)
    s = import_tushare(bare, out)
    assert s.counts[f"etfs: creation units taken from {KEPT_UNIT_SOURCE}"] == sh.height
    assert NO_UNIT_COUNT not in s.counts and s.not_provided == ()
    _same_etfs(market, out)


@pytest.mark.parametrize("form", ["file", "year folder"])
def test_creation_units_from_the_datasets_pcf_header(
    form: str, raw: Path, market: Path, tmp_path: Path
) -> None:
    """``etfflow import pcf`` wrote pcf_header (one file, or year=YYYY/data.parquet): its
    creation units fill the Shanghai gap and the ETF tables equal the original's."""
    bare = _without_sh_units(raw, tmp_path)
    sh = _sh_units(market)
    out = tmp_path / "data"
    out.mkdir()
    header = sh.with_columns(pl.lit("SH").alias("exchange"), pl.lit(1.0).alias("nav"))
    if form == "file":
        header.write_parquet(out / "pcf_header.parquet")
    else:
        years = header.with_columns(pl.col("date").dt.year().alias("y"))
        for (year,), part in years.partition_by("y", as_dict=True, include_key=False).items():
            (out / "pcf_header" / f"year={year}").mkdir(parents=True)
            part.write_parquet(out / "pcf_header" / f"year={year}" / "data.parquet")
    s = import_tushare(bare, out)
    assert s.not_provided == ()
    assert s.counts["etfs: creation units taken from pcf_header"] == sh.height
    _same_etfs(market, out)


def test_creation_units_from_a_file(raw: Path, market: Path, tmp_path: Path) -> None:
    bare = _without_sh_units(raw, tmp_path)
    sh = _sh_units(market)
    f = tmp_path / "units.csv"
    rows = [f"{c},{u:.0f},{d:%Y%m%d}" for c, d, u in sh.iter_rows()]
    rows[0] = rows[0].rsplit(",", 1)[0] + ","  # no start_date: applies from the start
    f.write_text("ts_code,creation_unit,start_date\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "data"
    args = ["import", "tushare", str(bare), "--out", str(out), "--creation-units", str(f)]
    r = runner.invoke(app, args, env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    assert "creation units taken from --creation-units" in r.stdout
    assert "etfs.creation_unit" not in r.stdout
    _same_etfs(market, out)
    g = tmp_path / "two.csv"  # without start_date; an ISO date works too
    g.write_text("ts_code,creation_unit\n510300.SH,900000\n", encoding="utf-8")
    assert read_creation_units(g).rows() == [("510300.SH", None, 900000.0, "--creation-units")]


def test_the_earliest_creation_unit_is_kept_and_changes_counted() -> None:
    raw = {
        "etf_bs_sh_detail": pl.DataFrame(
            {
                "ts_code": ["510300.SH", "510300.SH", "512000.SH"],
                "trade_date": [D(2025, 7, 25), D(2025, 7, 28), D(2025, 7, 25)],
                "creation_redemption_unit": [900000.0, 900000.0, 1.0e6],
            }
        )
    }
    header = pl.DataFrame(
        {"etf_code": ["510300.SH"], "date": [D(2024, 1, 2)], "creation_unit": [800000.0]}
    )
    given = pl.DataFrame(
        {
            "etf_code": ["512000.SH", "159919.SZ"],
            "date": [D(2025, 7, 25), None],
            "creation_unit": [2.0e6, 500000.0],
        },
        schema_overrides={"date": pl.Date},
    )
    from etfflow.engine.adapters.tushare.convert_etfs import _creation_units, unit_observations

    counts: dict[str, int] = {}
    units = _creation_units(unit_observations(raw, header, given), counts).sort("etf_code")
    assert units.rows() == [
        ("159919.SZ", 500000.0, "--creation-units"),
        ("510300.SH", 800000.0, "pcf_header"),  # 2024: earlier than etf_bs_sh_detail's
        ("512000.SH", 2.0e6, "--creation-units"),  # same day: the file comes first
    ]
    assert counts == {"etfs: ETFs whose creation unit changed (first one kept)": 2}


BAD_UNITS = {
    "missing column": ("ts_code,unit\n510300.SH,900000\n", "column 'creation_unit' is missing"),
    "unknown column": (
        "ts_code,creation_unit,start\n510300.SH,900000,20240102\n",
        "unknown column 'start'",
    ),
    "no suffix": ("ts_code,creation_unit\n510300,900000\n", "column 'ts_code'.*suffix"),
    "not positive": ("ts_code,creation_unit\n510300.SH,0\n", "column 'creation_unit'.*> 0"),
    "not a number": ("ts_code,creation_unit\n510300.SH,90万\n", "column 'creation_unit'"),
    "bad date": (
        "ts_code,creation_unit,start_date\n510300.SH,900000,2024/01/02\n",
        "column 'start_date'.*not a date",
    ),
    "duplicate": (
        "ts_code,creation_unit\n510300.SH,900000\n510300.SH,800000\n",
        "two rows for the same ETF",
    ),
}


@pytest.mark.parametrize("case", list(BAD_UNITS))
def test_bad_creation_unit_files_name_file_column_and_row(
    case: str, raw: Path, market: Path, tmp_path: Path
) -> None:
    text, pattern = BAD_UNITS[case]
    f = tmp_path / "units.csv"
    f.write_text(text, encoding="utf-8")
    existing = tmp_path / "old"
    shutil.copytree(market, existing)
    before = digest(existing)
    with pytest.raises(SourceFileError, match=pattern) as exc:
        import_tushare(raw, existing, creation_units=f)
    assert str(f) in str(exc.value) and "510300" in str(exc.value)  # file and example row
    assert digest(existing) == before
    r = runner.invoke(
        app, ["import", "tushare", str(raw), "--out", str(tmp_path / "n"), "--creation-units",
              str(f)],
    )  # fmt: skip
    assert r.exit_code == 1 and "creation_units" in r.stderr and not (tmp_path / "n").exists()

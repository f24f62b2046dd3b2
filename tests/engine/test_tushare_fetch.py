"""``etfflow fetch tushare`` against the loopback server (tests/tushare_server.py): paging,
retries, bad answers, the token kept out of everything, resuming, incremental ranges, CLI."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.engine.adapters.tushare.client import TushareClient, TushareError
from etfflow.engine.adapters.tushare.endpoints import (
    CATALOGUE,
    ENDPOINTS,
    STYLE_INDICES,
    index_codes,
    select,
)
from etfflow.engine.adapters.tushare.fetch import (
    MANIFEST,
    FetchSummary,
    fetch_tushare,
    requests_for,
)
from etfflow.engine.adapters.tushare.raw import raw_files, read_raw
from etfflow.exceptions import EtfflowError
from tests.tushare_server import Faults, TushareServer

TOKEN = "tok-SECRET-4f7c2a9e51"
START, END = "20240102", "20240112"
HOLIDAYS = {"20240101", "20240209", "20240212"}
STOCKS = ("000001.SZ", "600000.SH", "300750.SZ")
ETFS = {"510300.SH": "000300.SH", "159915.SZ": "399006.SZ"}


def _days() -> list[str]:
    d, out = dt.date(2024, 1, 1), []
    while d <= dt.date(2024, 2, 29):
        out.append(d.strftime("%Y%m%d"))
        d += dt.timedelta(days=1)
    return out


def _open(d: str) -> bool:
    return dt.datetime.strptime(d, "%Y%m%d").weekday() < 5 and d not in HOLIDAYS


def tushare_tables() -> dict[str, pl.DataFrame]:
    """A hand-made two-month market in Tushare's fields and units (vol 手, amount 千元,
    shares 万股 / 万份, market values 万元, weights %): three stocks (600000.SH suspended on
    2024-01-04: no daily row), two ETFs, one active fund."""
    cal = _days()
    days = [d for d in cal if _open(d)]
    t: dict[str, list[dict[str, object]]] = {name: [] for name in CATALOGUE}
    t["trade_cal"] = [
        {"exchange": "SSE", "cal_date": d, "is_open": str(int(_open(d))), "pretrade_date": None}
        for d in cal
    ]
    t["stock_basic"] = [
        {"ts_code": c, "symbol": c[:6], "name": f"S{i}", "area": "", "industry": "",
         "market": "主板", "exchange": c[-2:], "list_status": "L", "list_date": "20100104",
         "delist_date": None}
        for i, c in enumerate(STOCKS)
    ]  # fmt: skip
    t["namechange"] = [
        {"ts_code": "300750.SZ", "name": "ST S2", "start_date": "20240108",
         "end_date": None, "ann_date": "20240105", "change_reason": "ST"}
    ]  # fmt: skip
    t["ci_index_member"] = [
        {"l1_code": "CI005001.CI", "l1_name": "银行", "l2_code": "CI005101.CI",
         "l2_name": "国有银行", "l3_code": "CI005201.CI", "l3_name": "x", "ts_code": c,
         "name": f"S{i}", "in_date": "20100104", "out_date": None, "is_new": "Y"}
        for i, c in enumerate(STOCKS)
    ]  # fmt: skip
    t["etf_basic"] = [
        {"ts_code": e, "csname": e, "extname": e, "cname": e, "index_code": ix,
         "index_name": ix, "setup_date": "20120504", "list_date": "20120528",
         "list_status": "L", "exchange": e[-2:], "mgr_name": "m", "etf_type": "境内"}
        for e, ix in ETFS.items()
    ]  # fmt: skip
    t["fund_basic"] = [
        {"ts_code": c, "name": c, "management": "m", "fund_type": ft, "found_date": "20120504",
         "due_date": None, "list_date": "20120528", "issue_date": "20120401",
         "delist_date": None, "issue_amount": 12.5, "invest_type": "", "type": "", "status": "L",
         "market": mk, "benchmark": ""}
        for c, ft, mk in (("510300.SH", "股票型", "E"), ("159915.SZ", "股票型", "E"),
                          ("000001.OF", "混合型", "O"))
    ]  # fmt: skip
    for k, d in enumerate(days):
        for i, c in enumerate(STOCKS):
            price = 10.0 + i + 0.01 * k
            if not (c == "600000.SH" and d == "20240104"):
                t["daily"].append(
                    {"ts_code": c, "trade_date": d, "open": price, "high": price, "low": price,
                     "close": price, "pre_close": price - 0.01, "pct_chg": 0.1,
                     "vol": 1234.5, "amount": 2345.678}
                )  # fmt: skip
            else:
                t["suspend_d"].append(
                    {"ts_code": c, "trade_date": d, "suspend_timing": None, "suspend_type": "S"}
                )
            t["daily_basic"].append(
                {"ts_code": c, "trade_date": d, "close": price, "turnover_rate": 1.5,
                 "total_share": 1000.0, "float_share": 800.0, "free_share": 700.0,
                 "total_mv": 1000.0 * price, "circ_mv": 800.0 * price}
            )  # fmt: skip
            t["stk_limit"].append(
                {"trade_date": d, "ts_code": c, "pre_close": price,
                 "up_limit": round(price * 1.1, 2), "down_limit": round(price * 0.9, 2)}
            )  # fmt: skip
        if d >= "20240108":
            t["stock_st"].append(
                {"ts_code": "300750.SZ", "name": "ST S2", "trade_date": d, "type": "ST",
                 "type_name": "风险警示板"}
            )  # fmt: skip
        for e in ETFS:
            t["etf_share_size"].append(
                {"trade_date": d, "ts_code": e, "etf_name": e, "total_share": 5000.0 + k,
                 "total_size": 20000.0, "nav": 4.0, "close": 4.01, "exchange": e[-2:]}
            )  # fmt: skip
            if not (e == "159915.SZ" and d == "20240105"):  # a day it did not trade
                t["fund_daily"].append(
                    {"ts_code": e, "trade_date": d, "open": 4.0, "high": 4.02, "low": 3.99,
                     "close": 4.01, "pre_close": 4.0, "change": 0.01, "pct_chg": 0.25,
                     "vol": 1.0e4, "amount": 4010.0}  # 手, 千元
                )  # fmt: skip
            t["etf_bs_sh_detail" if e.endswith("SH") else "etf_bs_sz_detail"].append(
                {"ann_date": d, "trade_date": d, "ts_code": e, "pre_cash_component": "12.5",
                 "navpercu": "4000000", "nav": 4.0, "estimated_cash_component": 10.0,
                 "creation_redemption_unit": 1000000.0}
            )  # fmt: skip
        t["etf_sh_cons"] += [
            {"trade_date": d, "ts_code": "510300.SH", "con_code": c, "con_name": c, "qty": 100.0,
             "sub_flag": "允许", "sca": 0.0, "exchange": c[-2:]}
            for c in STOCKS[:2]
        ]  # fmt: skip
        t["etf_sz_cons"] += [
            {"trade_date": d, "ts_code": "159915.SZ", "con_code": "159900.SZ",
             "con_name": "申赎现金", "qty": 0.0, "sub_flag": "必须", "sub_cc": 5124.5,
             "red_cc": 1411.7, "exchange": "SZ"},
            {"trade_date": d, "ts_code": "159915.SZ", "con_code": "300750.SZ",
             "con_name": "S2", "qty": 400.0, "sub_flag": "允许", "sub_cc": 0.0, "red_cc": 0.0,
             "exchange": "SZ"},
        ]  # fmt: skip
        t["fund_nav"].append(
            {"ts_code": "000001.OF", "ann_date": d, "nav_date": d, "unit_nav": 1.1 + k / 100,
             "accum_nav": 2.0, "net_asset": 1e8, "total_netasset": 1e8, "adj_nav": 1.2}
        )  # fmt: skip
        for ix in ("000300.SH", "000852.SH"):
            t["index_daily"].append(
                {"ts_code": ix, "trade_date": d, "close": 3500.0 + k, "pre_close": 3499.0,
                 "pct_chg": 0.03}
            )  # fmt: skip
    for d in ("20240102", "20240201"):
        t["index_weight"] += [
            {"index_code": "000300.SH", "con_code": c, "trade_date": d, "weight": w}
            for c, w in zip(STOCKS[:2], (60.0, 40.0), strict=True)
        ] + [{"index_code": "399006.SZ", "con_code": "300750.SZ", "trade_date": d, "weight": 100.0}]
    t["fund_portfolio"] = [
        {"ts_code": "000001.OF", "ann_date": ann, "end_date": end, "symbol": c, "mkv": 1.5e6,
         "amount": 1e5, "stk_mkv_ratio": 5.0, "stk_float_ratio": 0.01}
        for end, ann in (("20230930", "20231025"), ("20231231", "20240120"))
        for c in STOCKS
    ]  # fmt: skip
    out = {}
    for name, rows in t.items():
        ep = CATALOGUE[name]
        schema = {
            f: {"str": pl.String, "float": pl.Float64, "int": pl.Int64}[k]
            for f, k in ep.fields.items()
        }
        out[name] = pl.DataFrame(rows, schema=schema, orient="row")
    return out


TABLES = tushare_tables()
#: daily has 3 rows a day: a cap of 2 makes every day two pages
CAPS = {"daily": 2}


@pytest.fixture
def server() -> Iterator[TushareServer]:
    with TushareServer({k: v for k, v in TABLES.items()}, token=TOKEN, caps=dict(CAPS)) as s:
        yield s


def run(
    raw: Path, server: TushareServer, start: str = START, end: str = END, **kw: Any
) -> FetchSummary:
    """``fetch_tushare`` against ``server``, never sleeping (retry waits are recorded)."""
    kw.setdefault("sleep", [].append)
    return fetch_tushare(raw, start=start, end=end, token=TOKEN, api_url=server.url, **kw)


def frames(raw: Path) -> dict[str, pl.DataFrame]:
    return {
        p.relative_to(raw).as_posix(): pl.read_parquet(p) for p in sorted(raw.rglob("*.parquet"))
    }


# ---------------------------------------------------------------- the client


def client(server: TushareServer, sleeps: list[float] | None = None, **kw: Any) -> TushareClient:
    """A client of ``server`` whose retry waits go to ``sleeps``."""
    return TushareClient(
        TOKEN, server.url, sleep=(sleeps if sleeps is not None else []).append, **kw
    )


def test_paging_several_pages_and_exact_multiple(server: TushareServer) -> None:
    server.tables["t"] = pl.DataFrame({"a": [str(i) for i in range(5)], "x": [1.0] * 5})
    server.caps["t"] = 2
    c = client(server)
    df = c.query("t", {}, ["a", "x"], dtypes={"x": "float"}, page_size=2)
    assert df["a"].to_list() == ["0", "1", "2", "3", "4"] and c.stats.calls == 3
    server.tables["t"] = server.tables["t"].head(4)  # an exact multiple of the cap
    c = client(server)
    assert c.query("t", {}, ["a"], page_size=2).height == 4 and c.stats.calls == 2
    server.faults.no_has_more = True  # without has_more: one more, empty, page
    c = client(server)
    assert c.query("t", {}, ["a"], page_size=2).height == 4 and c.stats.calls == 3
    c = client(server)  # server cap 2 below page_size 3: short pages do not stop it
    assert c.query("t", {}, ["a"], page_size=3).height == 4 and c.stats.calls == 3


def test_a_server_ignoring_offset_is_an_error_not_a_loop(server: TushareServer) -> None:
    server.faults.ignore_offset = True
    with pytest.raises(TushareError, match="ignores 'offset'"):
        client(server).query("daily", {"trade_date": "20240102"}, ["ts_code"], page_size=2)
    assert len(server.calls) == 2


def test_an_empty_answer_keeps_fields_and_types(server: TushareServer) -> None:
    ep = CATALOGUE["daily"]
    df = client(server).query(
        "daily", {"trade_date": "20240106"}, list(ep.fields), dtypes=ep.fields
    )
    assert df.height == 0 and df.columns == list(ep.fields)
    assert df.schema["vol"] == pl.Float64 and df.schema["ts_code"] == pl.String
    server.faults.bad_schema["daily"] = "null_data"  # data null: empty too
    again = client(server).query(
        "daily", {"trade_date": "20240102"}, list(ep.fields), dtypes=ep.fields
    )
    assert again.equals(df)


@settings(max_examples=25)
@given(
    n=st.integers(0, 11),
    cap=st.integers(1, 5),
    page=st.integers(1, 6),
    has_more=st.booleans(),
    nulls=st.lists(st.booleans(), min_size=11, max_size=11),
)
def test_paging_returns_every_row_in_order(
    n: int, cap: int, page: int, has_more: bool, nulls: list[bool]
) -> None:
    """Reference: the served table itself, for any cap, page size and has_more."""
    table = pl.DataFrame(
        {"k": [f"{i:03d}" for i in range(n)],
         "v": [None if nulls[i] else i / 3 for i in range(n)]},
        schema={"k": pl.String, "v": pl.Float64},
    )  # fmt: skip
    faults = Faults(no_has_more=not has_more)
    with TushareServer({"t": table}, token=TOKEN, caps={"t": cap}, faults=faults) as s:
        got = TushareClient(TOKEN, s.url).query(
            "t", {}, ["k", "v"], dtypes={"k": "str", "v": "float"}, page_size=page
        )
    assert got.equals(table)


def test_rate_limit_then_success(server: TushareServer) -> None:
    server.faults.rate_limit["daily"] = 2
    sleeps: list[float] = []
    c = client(server, sleeps, backoff=1.0)
    df = c.query("daily", {"trade_date": "20240102"}, ["ts_code"])
    assert df.height == 3 and c.stats.retries == 2 and sleeps == [1.0, 2.0]


def test_rate_limit_retries_are_bounded(server: TushareServer) -> None:
    server.faults.rate_limit["daily"] = 10
    sleeps: list[float] = []
    with pytest.raises(TushareError, match="gave up after 3 retries") as exc:
        client(server, sleeps, max_retries=3, backoff=0.5).query(
            "daily", {"trade_date": "20240102"}, ["ts_code"]
        )
    assert "'daily'" in str(exc.value) and "40203" in str(exc.value)
    assert sleeps == [0.5, 1.0, 2.0]


def test_transient_http_error_is_retried(server: TushareServer) -> None:
    server.faults.http_503["stock_basic"] = 1
    c = client(server)
    assert c.query("stock_basic", {"list_status": "L"}, ["ts_code"]).height == 3
    assert c.stats.retries == 1


def test_connection_errors_are_retried_then_reported() -> None:
    with TushareServer({}, token=TOKEN) as s:
        url = s.url  # a port nobody listens on once the server stops
    sleeps: list[float] = []
    c = TushareClient(TOKEN, url, max_retries=2, sleep=sleeps.append)
    with pytest.raises(TushareError, match="gave up after 2 retries: connection error") as exc:
        c.query("daily", {"trade_date": "20240102"}, ["ts_code"])
    assert sleeps == [1.0, 2.0] and TOKEN not in str(exc.value)


def test_missing_required_field_names_endpoint_field_and_row(server: TushareServer) -> None:
    server.faults.drop_field["daily"] = "amount"
    ep = CATALOGUE["daily"]
    with pytest.raises(EtfflowError) as exc:
        client(server).query(
            "daily", {"trade_date": "20240102"}, list(ep.fields), required=ep.required
        )
    msg = str(exc.value)
    assert "'daily'" in msg and "'amount'" in msg and "example row" in msg
    assert "ts_code='000001.SZ'" in msg and "20240102" in msg


def test_missing_optional_field_is_reported(server: TushareServer, tmp_path: Path) -> None:
    server.faults.drop_field["etf_share_size"] = "nav"
    s = run(tmp_path, server, endpoints=["etf_share_size"])
    assert s.endpoints["etf_share_size"].missing_fields == ["nav"]
    assert "nav" not in read_raw(tmp_path, "etf_share_size").columns


@pytest.mark.parametrize(
    ("fault", "expect"),
    [
        ("no_items", "unexpected schema"),
        ("short_item", "an item has 2 values for 3 fields"),
        ("text_in_float", "field 'close' should be float"),
        ("not_json", "the answer is not JSON"),
    ],
)
def test_unexpected_schema(server: TushareServer, fault: str, expect: str) -> None:
    server.faults.bad_schema["daily"] = fault
    with pytest.raises(TushareError, match=expect) as exc:
        client(server).query(
            "daily",
            {"trade_date": "20240102"},
            ["ts_code", "trade_date", "close"],
            dtypes={"close": "float"},
        )
    assert "'daily'" in str(exc.value)
    if fault == "text_in_float":
        assert "close='n/a'" in str(exc.value)


def test_bad_token(server: TushareServer) -> None:
    wrong = "wrong-SECRET-token-77"
    c = TushareClient(wrong, server.url)
    with pytest.raises(TushareError, match="40101") as exc:
        c.query("daily", {"trade_date": "20240102"}, ["ts_code"])
    assert "token不对" in str(exc.value) and wrong not in str(exc.value)
    assert wrong not in repr(c) and wrong in server.tokens


def test_the_token_appears_nowhere(
    server: TushareServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    raw = tmp_path / "raw"
    messages = []
    faults = [
        Faults(rate_limit={"daily": 20}),
        Faults(drop_field={"daily": "close"}),
        Faults(bad_schema={"daily": "no_items"}),
        Faults(bad_schema={"daily": "short_item"}),
        Faults(bad_schema={"daily": "text_in_float"}),
        Faults(bad_schema={"daily": "not_json"}),
        Faults(ignore_offset=True),
        Faults(fail_after=3),
        Faults(http_503={"daily": 20}),
    ]
    for f in faults:
        server.faults = f
        with pytest.raises(EtfflowError, match="tushare endpoint") as exc:
            run(raw, server, endpoints=["daily"], max_retries=2)
        messages.append(str(exc.value))
    server.faults = Faults()
    with pytest.raises(EtfflowError) as exc:  # bad token: the server's message
        fetch_tushare(raw, start=START, end=END, token=TOKEN + "x", api_url=server.url)
    messages.append(str(exc.value))
    summary = run(raw, server, endpoints=["daily", "etf_basic"])
    assert summary.requests > 0
    for m in messages:
        assert TOKEN not in m
    assert TOKEN not in caplog.text and TOKEN not in repr(summary)
    for p in raw.rglob("*"):
        if p.is_file():
            assert TOKEN.encode() not in p.read_bytes(), p


def test_second_run_makes_no_request(server: TushareServer, tmp_path: Path) -> None:
    first = run(tmp_path, server)
    assert first.calls == len(server.calls) > first.requests
    assert first.endpoints["daily"].requests == 9 and first.rows["daily"] == 26
    assert first.trading_days == 9
    calls = len(server.calls)
    again = run(tmp_path, server)
    assert again.requests == 0 and len(server.calls) == calls
    assert again.skipped == first.requests
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["complete"] and manifest["start"] == START and manifest["end"] == END
    assert manifest["counts"]["daily"]["rows"] == 0 and len(manifest["runs"]) == 2
    assert manifest["runs"][0]["counts"]["daily"]["rows"] == 26


def test_resume_after_a_failure_equals_a_clean_run(server: TushareServer, tmp_path: Path) -> None:
    clean, broken = tmp_path / "clean", tmp_path / "broken"
    n_clean = run(clean, server).calls
    server.faults.fail_after = len(server.calls) + n_clean // 2  # dies half-way
    with pytest.raises(TushareError, match="50101"):
        run(broken, server)
    manifest = json.loads((broken / MANIFEST).read_text(encoding="utf-8"))
    assert not manifest["complete"]
    assert not list(broken.rglob("*.tmp"))
    server.faults.fail_after = None
    resumed = run(broken, server)
    assert 0 < resumed.requests < run(tmp_path / "again", server).requests
    a, b = frames(clean), frames(broken)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].equals(b[k]), k


def test_leftovers_of_a_killed_run_are_tidied(server: TushareServer, tmp_path: Path) -> None:
    run(tmp_path, server, endpoints=["stock_basic"])
    folder = tmp_path / "stock_basic"
    newest = folder / f"list_status=L,through={END}.parquet"
    older = folder / "list_status=L,through=20231229.parquet"  # killed before its deletion
    older.write_bytes(newest.read_bytes())
    (folder / ".list_status=L,through=20240112.parquet.123.abc.tmp").write_bytes(b"half")
    again = run(tmp_path, server, endpoints=["stock_basic"])
    assert again.requests == 0 and again.endpoints["stock_basic"].superseded == 1
    assert sorted(p.name for p in folder.iterdir()) == [
        f"list_status={s},through={END}.parquet" for s in "DLP"
    ]


def test_a_wider_range_fetches_only_what_is_new(server: TushareServer, tmp_path: Path) -> None:
    inc = tmp_path / "inc"
    run(inc, server, end="20240110")
    wider = run(inc, server, end="20240205")
    days = [d for d in _days() if "20240111" <= d <= "20240205" and _open(d)]
    assert wider.endpoints["daily"].requests == len(days) == 18
    assert wider.endpoints["trade_cal"].requests == 0
    assert wider.endpoints["stock_basic"].requests == 3  # lists: a snapshot per end
    # Jan completed, Feb begun, per tracked index; the Jan snapshot through 0110 is gone
    assert wider.endpoints["index_weight"].requests == 4
    names = sorted(p.name for p in raw_files(inc, "index_weight"))
    assert names == [
        "index_code=000300.SH,month=202401.parquet",
        "index_code=000300.SH,month=202402,through=20240205.parquet",
        "index_code=399006.SZ,month=202401.parquet",
        "index_code=399006.SZ,month=202402,through=20240205.parquet",
    ]
    assert [p.name for p in raw_files(inc, "stock_basic")] == [
        f"list_status={s},through=20240205.parquet" for s in "DLP"
    ]
    daily = read_raw(inc, "daily")
    n_days = sum(1 for d in _days() if START <= d <= "20240205" and _open(d))
    assert daily.height == daily.select("ts_code", "trade_date").n_unique() == 3 * n_days - 1
    fresh = tmp_path / "fresh"
    run(fresh, server, end="20240205")
    a, b = frames(fresh), frames(inc)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].equals(b[k]), k


def test_index_daily_codes_and_indices_option(server: TushareServer, tmp_path: Path) -> None:
    """index_daily: the style and benchmark indices, plus --indices (codes, or 'tracked': the
    indices of etf_basic); a malformed code stops the fetch before any request."""
    assert index_codes()[:4] == list(STYLE_INDICES)
    assert {"000300.SH", "000905.SH", "932000.CSI", "399006.SZ"} <= set(index_codes())
    assert len(index_codes()) == len(set(index_codes())) == 11
    assert index_codes(["000300.SH", " 930955.CSI", "tracked"])[-1] == "930955.CSI"
    with pytest.raises(EtfflowError, match=r"'000905' is not a Tushare index code.*suffix"):
        run(tmp_path, server, indices=["000905"])
    assert server.calls == []
    s = run(tmp_path, server, endpoints=["index_daily"], indices=["930955.CSI", "tracked"])
    asked = [p["ts_code"] for a, p in server.calls if a == "index_daily"]
    # the ETFs here track 000300.SH and 399006.SZ, benchmarks already (the round trip in
    # test_tushare_import adds tracked sector indices)
    assert asked == index_codes(["930955.CSI"])
    assert len(asked) == len(set(asked)) == s.endpoints["index_daily"].requests == 12
    assert "etf_basic" in s.endpoints  # fetched for its tracked indices
    idx = read_raw(tmp_path, "index_daily")
    assert set(idx["ts_code"]) == {"000300.SH", "000852.SH"}  # the codes the server has
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["indices"] == ["930955.CSI", "tracked"]
    r = runner.invoke(
        app,
        ["fetch", "tushare", "--start", START, "--end", END, "--raw", str(tmp_path / "c"),
         "--api-url", server.url, "--endpoints", "index_daily", "--indices", "399975.SZ,"],
        env={"TUSHARE_TOKEN": TOKEN},
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert {p["ts_code"] for a, p in server.calls if a == "index_daily"} >= {"399975.SZ"}
    r = runner.invoke(
        app,
        ["fetch", "tushare", "--start", START, "--end", END, "--raw", str(tmp_path / "d"),
         "--api-url", server.url, "--indices", "CSI300"],
        env={"TUSHARE_TOKEN": TOKEN},
    )  # fmt: skip
    assert r.exit_code == 1 and "'CSI300' is not a Tushare index code" in r.stderr


def test_fund_daily_is_fetched_per_day(server: TushareServer, tmp_path: Path) -> None:
    s = run(tmp_path, server, endpoints=["fund_daily"])
    assert s.endpoints["fund_daily"].requests == s.trading_days == 9
    fd = read_raw(tmp_path, "fund_daily")
    assert fd.height == 2 * 9 - 1
    assert set(fd.columns) >= {"ts_code", "trade_date", "close", "vol", "amount"}


def test_requests_of_each_split() -> None:
    s, e = dt.date(2024, 1, 15), dt.date(2024, 4, 10)
    q = requests_for(CATALOGUE["fund_portfolio"], s, e)
    assert [(r.params["period"], r.final) for r in q] == [
        ("20230930", True), ("20231231", True), ("20240331", False)
    ]  # fmt: skip
    y = requests_for(CATALOGUE["index_daily"], s, e, codes=["000300.SH"])
    assert [r.params for r in y] == [
        {"ts_code": "000300.SH", "start_date": "20240101", "end_date": "20240410"}
    ]
    assert select(["index_weight"])[0].api_name == "trade_cal"
    assert {ep.api_name for ep in select(["index_weight"])} == {
        "trade_cal", "etf_basic", "index_weight"
    }  # fmt: skip
    assert all(set(ep.required) <= set(ep.fields) and ep.doc for ep in ENDPOINTS)


@pytest.mark.parametrize(
    ("start", "end", "match"),
    [
        ("2024-01-02", END, "--start '2024-01-02' is not a date"),
        (START, "20240231", "--end '20240231' is not a date"),
        ("20240110", "20240102", "is after"),
    ],
)
def test_bad_dates(tmp_path: Path, start: str, end: str, match: str) -> None:
    with pytest.raises(EtfflowError, match=match):
        fetch_tushare(tmp_path, start=start, end=end, token=TOKEN, api_url="http://127.0.0.1:9")


def test_today_is_deferred_and_the_future_refused(server: TushareServer, tmp_path: Path) -> None:
    today = dt.date(2024, 1, 10)
    s = run(tmp_path, server, end="20240110", endpoints=["daily"], today=today)
    assert s.deferred == ["20240110"] and s.endpoints["daily"].requests == 6
    assert not (tmp_path / "daily" / "trade_date=20240110.parquet").exists()
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["deferred_days"] == ["20240110"]
    with pytest.raises(EtfflowError, match="--end 20240111 is in the future"):
        run(tmp_path, server, end="20240111", today=today)


def test_unknown_endpoint(tmp_path: Path) -> None:
    with pytest.raises(EtfflowError, match="unknown tushare endpoint"):
        fetch_tushare(
            tmp_path, start=START, end=END, token=TOKEN, api_url="http://127.0.0.1:9",
            endpoints=["dayly"],
        )  # fmt: skip


# ---------------------------------------------------------------- the command line

runner = CliRunner()


def test_cli_end_to_end(server: TushareServer, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    args = ["fetch", "tushare", "--start", START, "--end", END, "--raw", str(raw),
            "--api-url", server.url]  # fmt: skip
    r = runner.invoke(app, args, env={"TUSHARE_TOKEN": TOKEN, "COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "etf_sz_cons" in r.stdout and "fetched" in r.stdout and TOKEN not in r.output
    assert read_raw(raw, "daily").height == 26
    r = runner.invoke(app, [*args, "--endpoints", "daily"], env={"TUSHARE_TOKEN": TOKEN})
    assert r.exit_code == 0 and "fetched 0 requests" in r.stdout


def test_cli_user_errors(server: TushareServer, tmp_path: Path) -> None:
    args = ["fetch", "tushare", "--start", START, "--end", END, "--raw", str(tmp_path),
            "--api-url", server.url]  # fmt: skip
    r = runner.invoke(app, args, env={"TUSHARE_TOKEN": ""})
    assert r.exit_code == 1 and "TUSHARE_TOKEN" in r.stderr
    r = runner.invoke(app, [*args[:2], "--start", "2024", *args[4:], "--token", TOKEN])
    assert r.exit_code == 1 and "YYYYMMDD" in r.stderr
    r = runner.invoke(app, [*args, "--token", "nope-SECRET"])
    assert r.exit_code == 1 and "40101" in r.stderr and "nope-SECRET" not in r.output

"""Market overview tables (etfflow.engine.overview) on hand-made frames checked by hand."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etfflow.engine import overview as ov
from etfflow.exceptions import EtfflowError

D = dt.date
# trading calendar: two days in 2022, two in 2023, one in 2024
CAL = [D(2022, 12, 29), D(2022, 12, 30), D(2023, 6, 1), D(2023, 12, 29), D(2024, 1, 2)]

ETFS = pl.DataFrame(
    {
        "etf_code": ["A", "B", "C"],
        "category": ["broad", "sector", "broad"],
        "index_code": ["I1", "I2", "I1"],
    }
)


def etf_daily() -> pl.DataFrame:
    rows = [
        # A: every day, shares 10 -> 12 -> 12 -> 15 -> 15, nav 1, 1, 2, 2, 3
        *[
            (d, "A", s, n)
            for d, s, n in zip(
                CAL, [10.0, 12.0, 12.0, 15.0, 15.0], [1.0, 1.0, 2.0, 2.0, 3.0], strict=True
            )
        ],
        # B: sector, lists 2022-12-30 (after the first date), delists after 2023-06-01
        (CAL[1], "B", 5.0, 2.0),
        (CAL[2], "B", 4.0, 2.5),
        # C: broad, lists 2023-12-29
        (CAL[3], "C", 8.0, 1.0),
        (CAL[4], "C", 6.0, 1.5),
    ]
    return pl.DataFrame(rows, schema=["date", "etf_code", "shares", "nav"], orient="row")


def stock_daily() -> pl.DataFrame:
    # X: cap 100 every day, returns 0, 0.10, 0.10, -0.05; Y: cap 300, returns 0, -0.02, 0.04, 0.01
    # Z lists on 2023-12-29 (no previous cap: not in that day's return)
    rows = [
        *[(d, "X", r, 100.0) for d, r in zip(CAL, [0.0, 0.10, 0.10, -0.05, 0.02], strict=True)],
        *[(d, "Y", r, 300.0) for d, r in zip(CAL, [0.0, -0.02, 0.04, 0.01, 0.0], strict=True)],
        (CAL[3], "Z", 0.5, 600.0),
        (CAL[4], "Z", 0.1, 600.0),
    ]
    return pl.DataFrame(rows, schema=["date", "code", "ret", "float_mcap"], orient="row")


def test_by_year_counts_aum_growth() -> None:
    t = ov.by_year(ETFS, etf_daily(), stock_daily())
    assert t.schema == ov.BY_YEAR
    assert t["year"].to_list() == [2022] * 4 + [2023] * 4 + [2024] * 4
    r = {(row["year"], row["category"]): row for row in t.iter_rows(named=True)}
    # 2022 end = 12-30: A 12·1 = 12, B 5·2 = 10
    assert r[2022, "broad"]["n_etf"] == 1 and r[2022, "broad"]["aum"] == 12.0
    assert r[2022, "sector"]["aum"] == 10.0 and r[2022, "style"]["n_etf"] == 0
    assert r[2022, "all"]["aum"] == 22.0 and r[2022, "all"]["n_etf"] == 2
    assert r[2022, "broad"]["aum_share"] == pytest.approx(12 / 22)
    assert r[2022, "all"]["aum_growth"] is None and r[2022, "all"]["n_etf_growth"] is None
    # 2023 end = 12-29: A 15·2 = 30, C 8·1 = 8; B gone (delisted)
    assert r[2023, "broad"]["n_etf"] == 2 and r[2023, "broad"]["aum"] == 38.0
    assert r[2023, "sector"]["n_etf"] == 0 and r[2023, "sector"]["aum_growth"] == -1.0
    assert r[2023, "all"]["aum_growth"] == pytest.approx(38 / 22 - 1)
    assert r[2023, "broad"]["n_etf_growth"] == pytest.approx(1.0)
    assert r[2023, "style"]["aum_share"] == 0.0 and r[2023, "style"]["aum_growth"] is None
    # 2024 (partial) ends on 01-02: A 15·3 = 45, C 6·1.5 = 9
    assert r[2024, "all"]["aum"] == 54.0 and r[2024, "all"]["date"] == CAL[4]
    assert r[2024, "sector"]["aum_growth"] is None  # previous year 0


def test_vs_market_compounds_previous_day_caps() -> None:
    t = ov.vs_market(ETFS, etf_daily(), stock_daily())
    assert t.schema == ov.VS_MARKET
    # 2022: only 12-30 has a return: (100·0.10 + 300·(−0.02)) / 400 = 0.01
    # 2023: 06-01 (100·0.10 + 300·0.04)/400 = 0.055; 12-29 (100·(−0.05) + 300·0.01)/400 = −0.005
    #       (Z has no previous cap on 12-29)
    # 2024: 01-02 (100·0.02 + 300·0 + 600·0.1)/1000 = 0.062
    exp = [0.01, 1.055 * 0.995 - 1, 0.062]
    assert t["market_return"].to_list() == pytest.approx(exp)
    assert t["aum"].to_list() == [22.0, 38.0, 54.0]
    assert t["aum_growth"][0] is None
    assert t["aum_growth"][1] == pytest.approx(38 / 22 - 1)
    assert t["aum_to_float_cap"].to_list() == pytest.approx([22 / 400, 38 / 1000, 54 / 1000])


def test_vs_market_first_year_with_one_day_has_no_return() -> None:
    sd = stock_daily().filter(pl.col("date") != CAL[0])  # 2022 has one day: the first date
    t = ov.vs_market(ETFS, etf_daily().filter(pl.col("date") != CAL[0]), sd)
    assert t["market_return"][0] is None


def test_inflow_by_index_new_listing_and_delisting() -> None:
    t = ov.inflow_by_index(ETFS, etf_daily(), stock_daily())
    assert t.schema == ov.INFLOW_BY_INDEX
    i1 = t.filter(pl.col("index_code") == "I1")
    i2 = t.filter(pl.col("index_code") == "I2")
    # I1 = A + C. A: null, (12−10)·1 = 2, 0·2 = 0, 3·2 = 6, 0. C lists 12-29: 8·1 = 8; then −2·1.5
    assert i1["date"].to_list() == CAL
    assert i1["inflow"].to_list() == [None, 2.0, 0.0, 14.0, -3.0]
    assert i1["cumulative"].to_list() == [0.0, 2.0, 2.0, 16.0, 13.0]
    # I2 = B: lists 12-30 (after the first date): 5·2 = 10, then (4−5)·2.5; after its last
    # row it contributes nothing (no redemption of the last 4 shares)
    assert i2["date"].to_list() == CAL[1:]
    assert i2["inflow"].to_list() == [10.0, -2.5, 0.0, 0.0]
    assert i2["cumulative"].to_list() == [10.0, 7.5, 7.5, 7.5]
    top = ov.ranking(t)
    assert top["index_code"].to_list() == ["I1", "I2"]


def test_inflow_first_date_is_the_calendar_s() -> None:
    """C6: the data's first date is the first stock_daily date; an ETF whose first row comes
    later (here: every ETF, etf_daily starting a day after the calendar) counts its shares."""
    ed = etf_daily().filter(pl.col("date") > CAL[0])
    i1 = ov.inflow_by_index(ETFS, ed, stock_daily()).filter(pl.col("index_code") == "I1")
    assert i1["date"].to_list() == CAL[1:]
    assert i1["inflow"].to_list() == [12.0, 0.0, 14.0, -3.0]  # A's 12 shares · NAV 1


def test_inflow_from_start() -> None:
    t = ov.inflow_by_index(ETFS, etf_daily(), stock_daily(), start=D(2023, 1, 1))
    i1 = t.filter(pl.col("index_code") == "I1")
    assert i1["date"].to_list() == CAL[2:]
    assert i1["inflow"].to_list() == [0.0, 14.0, -3.0]  # flows use the rows before start
    assert i1["cumulative"].to_list() == [0.0, 14.0, 11.0]
    with pytest.raises(EtfflowError, match="after the last date"):
        ov.inflow_by_index(ETFS, etf_daily(), stock_daily(), start=D(2025, 1, 1))


def test_categorical_codes_read_as_strings() -> None:
    cat = ETFS.with_columns(pl.col("etf_code", "index_code", "category").cast(pl.Categorical))
    ed = etf_daily().with_columns(pl.col("etf_code").cast(pl.Categorical))
    assert ov.by_year(cat, ed, stock_daily()).equals(ov.by_year(ETFS, etf_daily(), stock_daily()))
    assert ov.inflow_by_index(cat, ed, stock_daily()).equals(
        ov.inflow_by_index(ETFS, etf_daily(), stock_daily())
    )


@pytest.mark.parametrize("cut", CAL[:-1])
def test_point_in_time(cut: dt.date) -> None:
    """Perturbing every row after ``cut`` leaves every output row dated up to ``cut`` unchanged."""
    ed, sd = etf_daily(), stock_daily()
    after = pl.col("date") > cut
    ed2 = ed.with_columns(
        pl.when(after).then(pl.col("shares") * 3 + 7).otherwise("shares").alias("shares"),
        pl.when(after).then(pl.col("nav") * 0.5).otherwise("nav").alias("nav"),
    )
    sd2 = sd.with_columns(
        pl.when(after).then(-pl.col("ret")).otherwise("ret").alias("ret"),
        pl.when(after).then(pl.col("float_mcap") * 9).otherwise("float_mcap").alias("float_mcap"),
    )
    for f in (ov.by_year, ov.vs_market):
        a = f(ETFS, ed, sd).filter(pl.col("date") <= cut)
        b = f(ETFS, ed2, sd2).filter(pl.col("date") <= cut)
        assert a.height == (0 if cut < CAL[1] else 4 if f is ov.by_year else 1) * (
            1 + (cut >= CAL[3])
        ), f.__name__
        assert a.equals(b), f.__name__
    a = ov.inflow_by_index(ETFS, ed, sd).filter(pl.col("date") <= cut)
    b = ov.inflow_by_index(ETFS, ed2, sd2).filter(pl.col("date") <= cut)
    assert a.height and a.equals(b)
    assert not ov.inflow_by_index(ETFS, ed, sd).equals(ov.inflow_by_index(ETFS, ed2, sd2))


# --------------------------------------------------------------------------- reference twin


DAYS = [
    D(2021, 12, 30), D(2021, 12, 31), D(2022, 3, 1), D(2022, 12, 30),
    D(2023, 1, 3), D(2023, 5, 5), D(2023, 12, 29), D(2024, 1, 2),
]  # fmt: skip


def ref_tables(
    etfs: pl.DataFrame, ed: pl.DataFrame, sd: pl.DataFrame, start: dt.date | None = None
) -> tuple[dict, dict, dict]:
    """Plain-Python twin of :func:`ov.by_year`, :func:`ov.vs_market`, :func:`ov.inflow_by_index`."""
    meta = {r["etf_code"]: r for r in etfs.iter_rows(named=True)}
    rows = sorted(ed.iter_rows(named=True), key=lambda r: (r["date"], r["etf_code"]))
    cal = sorted(set(sd["date"].to_list()))
    ends = {}
    for d in cal:
        ends[d.year] = max(ends.get(d.year, d), d)
    by_year = {}
    for y, end in ends.items():
        for c in (*ov.ETF_CATEGORIES, "all"):
            sel = [
                r
                for r in rows
                if r["date"] == end and c in ("all", meta[r["etf_code"]]["category"])
            ]
            by_year[y, c] = (len(sel), sum(r["shares"] * r["nav"] for r in sel))
    caps = {(r["date"], r["code"]): r["float_mcap"] for r in sd.iter_rows(named=True)}
    daily = {}
    for i, d in enumerate(cal[1:], 1):
        num = den = 0.0
        for r in sd.filter(pl.col("date") == d).iter_rows(named=True):
            w = caps.get((cal[i - 1], r["code"]))
            if w is not None:
                num, den = num + w * r["ret"], den + w
        daily[d] = num / den if den > 0 else None
    market = {}
    for y in ends:
        rs = [daily[d] for d in cal if d.year == y and daily.get(d) is not None]
        market[y] = None if not rs else math.prod(1 + r for r in rs) - 1
    first = cal[0]  # the data's first date: the first stock_daily date
    prev: dict[str, float] = {}
    flow: dict[tuple, float | None] = {}
    for r in rows:
        k = (r["date"], meta[r["etf_code"]]["index_code"])
        x = None if r["date"] == first else (r["shares"] - prev.get(r["etf_code"], 0.0)) * r["nav"]
        flow[k] = x if k not in flow else (None if x is None else flow[k] + x)
        prev[r["etf_code"]] = r["shares"]
    dates = cal
    inflow = {}
    for idx in {k[1] for k in flow}:
        begin = min(d for d, i in flow if i == idx)
        begin = max(begin, start) if start else begin
        cum = 0.0
        for d in dates:
            if d >= begin:
                x = None if d == first else flow.get((d, idx), 0.0)
                cum += x or 0.0
                inflow[d, idx] = (x, cum)
    return by_year, market, inflow


@st.composite
def panels(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    cal = sorted(draw(st.sets(st.sampled_from(DAYS), min_size=2)))
    money = st.floats(0.0, 100.0, allow_nan=False).map(lambda x: round(x, 2))
    n = draw(st.integers(1, 4))
    etfs = pl.DataFrame(
        {
            "etf_code": [f"E{i}" for i in range(n)],
            "category": [draw(st.sampled_from(ov.ETF_CATEGORIES)) for _ in range(n)],
            "index_code": [draw(st.sampled_from(["I1", "I2", "I3"])) for _ in range(n)],
        }
    )
    ed = []
    for i in range(n):
        a = draw(st.integers(0, len(cal) - 1))
        b = draw(st.integers(a, len(cal) - 1))
        ed += [(cal[j], f"E{i}", draw(money), draw(money) + 0.5) for j in range(a, b + 1)]
    sd = []
    for k in range(draw(st.integers(1, 4))):
        for d in cal:
            if k == 0 or draw(st.booleans()):  # S0 trades every day: the calendar
                ret = draw(st.floats(-0.1, 0.1, allow_nan=False))
                sd.append((d, f"S{k}", ret, draw(money)))
    return (
        etfs,
        pl.DataFrame(ed, schema=["date", "etf_code", "shares", "nav"], orient="row"),
        pl.DataFrame(sd, schema=["date", "code", "ret", "float_mcap"], orient="row"),
    )


@settings(max_examples=60, deadline=None)
@given(panels(), st.sampled_from([None, *DAYS]))
def test_matches_reference(panel: tuple, start: dt.date | None) -> None:
    etfs, ed, sd = panel
    last = sd["date"].max()
    if start is not None and start > last:
        with pytest.raises(EtfflowError):
            ov.tables(etfs, ed, sd, start=start)
        return
    got = ov.tables(etfs, ed, sd, start=start)
    by_year, market, inflow = ref_tables(etfs, ed, sd, start)
    t = got["by_year"]
    assert t.height == len(by_year)
    for r in t.iter_rows(named=True):
        n_etf, aum = by_year[r["year"], r["category"]]
        assert r["n_etf"] == n_etf and r["aum"] == pytest.approx(aum, abs=1e-9)
    for r in got["vs_market"].iter_rows(named=True):
        exp = market[r["year"]]
        assert (r["market_return"] is None) == (exp is None)
        if exp is not None:
            assert r["market_return"] == pytest.approx(exp, abs=1e-12)
    f = got["inflow_by_index"]
    assert f.height == len(inflow)
    for r in f.iter_rows(named=True):
        x, cum = inflow[r["date"], r["index_code"]]
        assert (r["inflow"] is None) == (x is None)
        assert r["inflow"] == pytest.approx(x, abs=1e-9) if x is not None else True
        assert r["cumulative"] == pytest.approx(cum, abs=1e-9)

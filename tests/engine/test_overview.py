"""Market overview tables (etfflow.engine.overview) on hand-made frames checked by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

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
    t = ov.inflow_by_index(ETFS, etf_daily())
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


def test_inflow_from_start() -> None:
    t = ov.inflow_by_index(ETFS, etf_daily(), start=D(2023, 1, 1))
    i1 = t.filter(pl.col("index_code") == "I1")
    assert i1["date"].to_list() == CAL[2:]
    assert i1["inflow"].to_list() == [0.0, 14.0, -3.0]  # flows use the rows before start
    assert i1["cumulative"].to_list() == [0.0, 14.0, 11.0]
    with pytest.raises(EtfflowError, match="after the last date"):
        ov.inflow_by_index(ETFS, etf_daily(), start=D(2025, 1, 1))


def test_categorical_codes_read_as_strings() -> None:
    cat = ETFS.with_columns(pl.col("etf_code", "index_code", "category").cast(pl.Categorical))
    ed = etf_daily().with_columns(pl.col("etf_code").cast(pl.Categorical))
    assert ov.by_year(cat, ed, stock_daily()).equals(ov.by_year(ETFS, etf_daily(), stock_daily()))
    assert ov.inflow_by_index(cat, ed).equals(ov.inflow_by_index(ETFS, etf_daily()))


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
    a = ov.inflow_by_index(ETFS, ed).filter(pl.col("date") <= cut)
    b = ov.inflow_by_index(ETFS, ed2).filter(pl.col("date") <= cut)
    assert a.height and a.equals(b)
    assert not ov.inflow_by_index(ETFS, ed).equals(ov.inflow_by_index(ETFS, ed2))

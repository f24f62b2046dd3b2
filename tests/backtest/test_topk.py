"""Top-k lists (Huaan 2024-12 tables 34 and 39; Kaiyuan 2024-09 tables 2–3) on hand-made
frames with known answers, and against a plain-Python reference."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etfflow.backtest.topk import (
    COUNTS_SCHEMA,
    TOP_SCHEMA,
    cross_section_counts,
    industry_on,
    top_lists,
)
from etfflow.backtest.topk_report import render_top_html
from etfflow.exceptions import EtfflowError

D1, D2, D3 = dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)
CODES = ["000001.SZ", "000002.SZ", "300750.SZ", "600000.SH", "688981.SH"]
STOCKS = pl.DataFrame(
    {
        "code": CODES,
        "name": ["平安银行", "万科A", "宁德时代", "浦发银行", "中芯国际"],
        "board": ["SZ_MAIN", "SZ_MAIN", "CHINEXT", "SH_MAIN", "STAR"],
    }
)
INDUSTRY = pl.DataFrame(
    {
        "code": [*CODES, "000002.SZ"],
        "start_date": [dt.date(2020, 1, 1)] * 5 + [D3],
        "end_date": [None, D2, None, None, None, None],
        "industry_l1": ["银行", "房地产", "电力设备及新能源", "银行", "电子", "综合"],
    },
    schema_overrides={"end_date": pl.Date},
)


def values(day: dt.date = D2) -> pl.DataFrame:
    """One day: n_etf ties (5, 5, 5) broken by code; w_passive has a null and a NaN."""
    return pl.DataFrame(
        {
            "date": [day] * 5,
            "code": ["600000.SH", "000002.SZ", "688981.SH", "000001.SZ", "300750.SZ"],
            "float_mcap": [2.5e11, 1.0e11, 3.0e10, 2.0e11, 8.0e11],
            "n_etf": [5, 5, 9, 5, 12],
            "w_passive": [0.02, None, 0.08, float("nan"), 0.05],
        },
        schema_overrides={"n_etf": pl.Int32},
    )


def panel() -> pl.DataFrame:
    return pl.concat([values(D1), values(D2), values(D3)])


def test_descending_with_ties_by_code_and_known_columns() -> None:
    out = top_lists(values(), STOCKS, INDUSTRY, ["n_etf"], date=D2, k=4)
    assert out.schema == TOP_SCHEMA
    assert out["code"].to_list() == ["300750.SZ", "688981.SH", "000001.SZ", "000002.SZ"]
    assert out["rank"].to_list() == [1, 2, 3, 4]
    assert out["value"].to_list() == [12.0, 9.0, 5.0, 5.0]
    first = out.row(0, named=True)
    assert first == {
        "date": D2,
        "metric": "n_etf",
        "rank": 1,
        "code": "300750.SZ",
        "name": "宁德时代",
        "board": "CHINEXT",
        "industry_l1": "电力设备及新能源",
        "float_mcap": 8000.0,  # 8e11 CNY = 8000 亿
        "value": 12.0,
    }


def test_nulls_and_nans_are_left_out_and_counted() -> None:
    out = top_lists(values(), STOCKS, INDUSTRY, ["w_passive"], date=D2)
    assert out["code"].to_list() == ["688981.SH", "300750.SZ", "600000.SH"]
    counts = cross_section_counts(values(), ["n_etf", "w_passive"], date=D2)
    assert counts.schema == COUNTS_SCHEMA
    assert counts.rows() == [("n_etf", 5, 5, 0), ("w_passive", 5, 3, 2)]


def test_k_larger_than_the_cross_section_gives_every_valued_stock() -> None:
    out = top_lists(values(), STOCKS, INDUSTRY, ["n_etf", "w_passive"], date=D2, k=50)
    assert out.filter(pl.col("metric") == "n_etf").height == 5
    assert out.filter(pl.col("metric") == "w_passive").height == 3
    assert out["metric"].unique(maintain_order=True).to_list() == ["n_etf", "w_passive"]


def test_industry_is_the_one_in_force_on_the_date() -> None:
    # 000002.SZ is 房地产 until D2 (inclusive) and 综合 from D3
    on_d2 = top_lists(panel(), STOCKS, INDUSTRY, ["n_etf"], date=D2, k=5)
    on_d3 = top_lists(panel(), STOCKS, INDUSTRY, ["n_etf"], date=D3, k=5)
    pick = pl.col("code") == "000002.SZ"
    assert on_d2.filter(pick)["industry_l1"].item() == "房地产"
    assert on_d3.filter(pick)["industry_l1"].item() == "综合"
    assert industry_on(INDUSTRY, dt.date(2019, 1, 1)).height == 0  # before every interval
    # no end_date column: the latest start in force wins
    open_ended = industry_on(INDUSTRY.drop("end_date"), D3)
    assert dict(open_ended.iter_rows())["000002.SZ"] == "综合"


def test_default_date_is_the_last_one() -> None:
    out = top_lists(panel(), STOCKS, INDUSTRY, ["n_etf"], k=1)
    assert out["date"].to_list() == [D3]


def test_rows_after_the_date_change_nothing() -> None:
    base = top_lists(panel(), STOCKS, INDUSTRY, ["n_etf", "w_passive"], date=D2)
    later = panel().with_columns(
        pl.when(pl.col("date") > D2).then(pl.col("n_etf") * 100).otherwise("n_etf").alias("n_etf"),
        pl.when(pl.col("date") > D2).then(-1.0).otherwise("w_passive").alias("w_passive"),
        pl.when(pl.col("date") > D2).then(1.0).otherwise("float_mcap").alias("float_mcap"),
    )
    industry = INDUSTRY.with_columns(
        pl.when(pl.col("start_date") > D2)
        .then(pl.lit("银行"))
        .otherwise("industry_l1")
        .alias("industry_l1")
    )
    assert top_lists(later, STOCKS, industry, ["n_etf", "w_passive"], date=D2).equals(base)


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(EtfflowError, match=r"unknown top-list metric 'w_pasive'.*w_passive"):
        top_lists(values(), STOCKS, INDUSTRY, ["w_pasive"])
    with pytest.raises(EtfflowError, match="k must be at least 1"):
        top_lists(values(), STOCKS, INDUSTRY, ["n_etf"], k=0)
    with pytest.raises(
        EtfflowError,
        match=r"no stock rows on 2024-01-04 .*covers 2024-01-02 to 2024-01-03.*"
        r"nearest dates: 2024-01-02, 2024-01-03$",
    ):
        top_lists(panel().filter(pl.col("date") < D3), STOCKS, INDUSTRY, ["n_etf"], date=D3)
    # D3 missing: nearest dates on both sides of it
    gap = pl.concat([values(D1), values(D2), values(dt.date(2024, 1, 8))])
    with pytest.raises(EtfflowError, match=r"nearest dates: 2024-01-02, 2024-01-03, 2024-01-08"):
        top_lists(gap, STOCKS, INDUSTRY, ["n_etf"], date=D3)
    with pytest.raises(EtfflowError, match="repeated"):
        top_lists(pl.concat([values(), values()]), STOCKS, INDUSTRY, ["n_etf"])
    with pytest.raises(EtfflowError, match="named twice"):
        top_lists(values(), STOCKS, INDUSTRY, ["n_etf", "n_etf"])


def reference_top(rows: list[tuple[str, float | None]], k: int) -> list[tuple[str, float]]:
    """Plain Python: drop missing values, sort by value descending then code, keep k."""
    kept = [(c, v) for c, v in rows if v is not None and not math.isnan(v)]
    return sorted(kept, key=lambda cv: (-cv[1], cv[0]))[:k]


@settings(max_examples=60, deadline=None)
@given(
    vals=st.lists(
        st.one_of(st.none(), st.just(float("nan")), st.sampled_from([0.0, 1.0, 2.5, -3.0])),
        min_size=1,
        max_size=30,
    ),
    k=st.integers(1, 35),
)
def test_matches_the_plain_python_reference(vals: list[float | None], k: int) -> None:
    codes = [f"{i:06d}.SZ" for i in range(len(vals))][::-1]  # rows not in code order
    df = pl.DataFrame(
        {
            "date": [D1] * len(vals),
            "code": codes,
            "float_mcap": [1e8] * len(vals),
            "w_passive": vals,
        },
        schema_overrides={"w_passive": pl.Float64},
    )
    out = top_lists(df, STOCKS, INDUSTRY, ["w_passive"], k=k)
    assert list(zip(out["code"], out["value"], strict=True)) == reference_top(
        list(zip(codes, vals, strict=True)), k
    )
    assert out["rank"].to_list() == list(range(1, out.height + 1))


def test_html_page_lists_every_metric_and_the_left_out() -> None:
    metrics = ["n_etf", "w_passive"]
    lists = top_lists(values(), STOCKS, INDUSTRY, metrics, date=D2)
    page = render_top_html(
        lists, cross_section_counts(values(), metrics, date=D2), title="top", meta={"run": "lo-x"}
    )
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "宁德时代" in page and "创业板" in page and "8,000.0" in page  # float cap in 亿
    assert "8.000%" in page  # w_passive of 688981.SH
    assert "2 stocks without a value left out" in page
    assert "ties by code ascending" in page

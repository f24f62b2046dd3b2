"""etfflow.engine.validation: one failing example per contract rule, one count per warning."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import etfflow
from etfflow.engine import validation
from etfflow.engine.contract import REF_RULES, RULES, Check, Column
from etfflow.engine.loading import open_dataset
from etfflow.engine.schemas import TABLES
from etfflow.engine.validation import ValidationIssue, ValidationReport, kernels, validate
from etfflow.engine.validation.rules import ROW_CHECK_RULES
from etfflow.engine.validation.tables import HOOK_ALSO, TABLE_HOOKS
from etfflow.exceptions import DataContractError, EtfflowError, ValidationError
from tests.engine.conftest import DAYS, market_frames, write_dataset

Frames = dict[str, pl.DataFrame]
D = dt.date
D1, D2, D3, D4, D5 = DAYS


def where(df: pl.DataFrame, **match: object) -> pl.Expr:
    return pl.all_horizontal([pl.col(k) == v for k, v in match.items()])


def setv(table: str, column: str, value: object, **match: object) -> Callable[[Frames], None]:
    """Mutation: set ``column`` to ``value`` on the rows of ``table`` matching ``match``."""

    def mutate(f: Frames) -> None:
        df = f[table]
        lit = pl.lit(value, dtype=df.schema[column])
        f[table] = df.with_columns(
            pl.when(where(df, **match)).then(lit).otherwise(pl.col(column)).alias(column)
        )

    return mutate


def append(table: str, **row: object) -> Callable[[Frames], None]:
    """Mutation: append a copy of the first row of ``table`` with ``row`` values replaced."""

    def mutate(f: Frames) -> None:
        df = f[table]
        new = df.head(1).with_columns(
            pl.lit(v, dtype=df.schema[k]).alias(k) for k, v in row.items()
        )
        f[table] = pl.concat([df, new])

    return mutate


def duplicate(table: str, **match: object) -> Callable[[Frames], None]:
    def mutate(f: Frames) -> None:
        df = f[table]
        f[table] = pl.concat([df, df.filter(where(df, **match))])

    return mutate


def drop_rows(table: str, **match: object) -> Callable[[Frames], None]:
    def mutate(f: Frames) -> None:
        df = f[table]
        f[table] = df.filter(~where(df, **match))

    return mutate


def drop_cols(table: str, *cols: str) -> Callable[[Frames], None]:
    def mutate(f: Frames) -> None:
        f[table] = f[table].drop(cols)

    return mutate


def cast(table: str, column: str, dtype: pl.DataType) -> Callable[[Frames], None]:
    def mutate(f: Frames) -> None:
        f[table] = f[table].with_columns(pl.col(column).cast(dtype))

    return mutate


def both(*mutations: Callable[[Frames], None]) -> Callable[[Frames], None]:
    def mutate(f: Frames) -> None:
        for m in mutations:
            m(f)

    return mutate


def run(
    make_dataset,
    *mutations: Callable[[Frames], None],
    tables: list[str] | None = None,
    **kwargs: object,
) -> ValidationReport:
    frames = market_frames()
    for m in mutations:
        m(frames)
    return validate(make_dataset(frames, **kwargs), tables=tables)


def find(report: ValidationReport, table: str, rule: str, column: str | None = None):
    hits = [
        e
        for e in [*report.errors, *report.warnings]
        if e.table == table and e.rule == rule and (column is None or e.column == column)
    ]
    assert hits, f"no {table}.{column} {rule} in {report.errors + report.warnings}"
    return hits[0]


# ----------------------------------------------------------------------------- clean data


@pytest.mark.parametrize("codes", ["mixed", "string", "categorical", "enum"])
def test_valid_market_is_clean(make_dataset, codes: str) -> None:
    report = run(make_dataset, codes=codes)
    assert report.ok
    assert report.errors == []
    assert report.warnings == []
    report.raise_for_errors()
    summary = report.summary()
    assert summary.columns == ["table", "column", "rule", "severity", "count"]
    assert summary["count"].sum() == 0
    assert set(summary["table"]) == set(TABLES)
    rules = set(summary["rule"])
    for rule in (
        "duplicate_key",
        "weight_sum",
        "unknown_stock",
        "date_not_in_calendar",
        "no_basket",
        "unpriced_component",
        "no_industry",
        "overlapping_interval",
    ):
        assert rule in rules


# ----------------------------------------------------------------------------- errors

DATE1, DATE2, DATE3 = D1.isoformat(), D2.isoformat(), D3.isoformat()

ERROR_CASES = [
    # (id, mutation, table, column, rule, strings in the message)
    (
        "missing-column",
        drop_cols("stocks", "board"),
        "stocks",
        "board",
        "missing_column",
        ["available columns"],
    ),
    (
        "no-owner-column",
        drop_cols("holding_weights", "etf_code", "index_code"),
        "holding_weights",
        "etf_code/index_code",
        "missing_column",
        [],
    ),
    (
        "wrong-type-float",
        cast("stock_daily", "close", pl.Float32),
        "stock_daily",
        "close",
        "wrong_type",
        ["Float32"],
    ),
    (
        "wrong-type-date",
        cast("stocks", "list_date", pl.String),
        "stocks",
        "list_date",
        "wrong_type",
        ["String"],
    ),
    ("wrong-type-code", cast("etf_pcf", "code", pl.Binary), "etf_pcf", "code", "wrong_type", []),
    (
        "null-close",
        setv("stock_daily", "close", None, code="600000.SH", date=D3),
        "stock_daily",
        "close",
        "null_value",
        ["600000.SH", DATE3],
    ),
    (
        "null-owner",
        setv("holding_weights", "index_code", None, code="688981.SH"),
        "holding_weights",
        "etf_code/index_code",
        "null_value",
        ["688981.SH", DATE1],
    ),
    (
        "dup-stock-day",
        duplicate("stock_daily", code="300750.SZ", date=D2),
        "stock_daily",
        "date, code",
        "duplicate_key",
        ["300750.SZ", DATE2, "n_rows=2"],
    ),
    (
        "dup-basket",
        duplicate("etf_pcf", etf_code="512880.SH", code="688981.SH", date=D1),
        "etf_pcf",
        "date, etf_code, code",
        "duplicate_key",
        ["512880.SH", "688981.SH", DATE1],
    ),
    (
        "dup-stock",
        duplicate("stocks", code="000001.SZ"),
        "stocks",
        "code",
        "duplicate_key",
        ["000001.SZ"],
    ),
    (
        "dup-weight",
        duplicate("holding_weights", code="688981.SH"),
        "holding_weights",
        "date, etf_code, index_code, code",
        "duplicate_key",
        ["399975.SZ", "688981.SH"],
    ),
    (
        "neg-close",
        setv("stock_daily", "close", -1.0, code="600000.SH", date=D3),
        "stock_daily",
        "close",
        "negative",
        ["600000.SH", DATE3, "close=-1.0"],
    ),
    (
        "neg-up-limit",
        setv("stock_daily", "up_limit", -1.0, code="688981.SH", date=D1),
        "stock_daily",
        "up_limit",
        "negative",
        ["688981.SH", DATE1],
    ),
    (
        "neg-down-limit",
        setv("stock_daily", "down_limit", -1.0, code="688981.SH", date=D1),
        "stock_daily",
        "down_limit",
        "negative",
        ["688981.SH", DATE1],
    ),
    (
        "neg-float-cap",
        setv("stock_daily", "float_mcap", -5.0, code="000001.SZ", date=D2),
        "stock_daily",
        "float_mcap",
        "negative",
        ["000001.SZ", DATE2],
    ),
    (
        "neg-total-cap",
        setv("stock_daily", "total_mcap", -5.0, code="000001.SZ", date=D2),
        "stock_daily",
        "total_mcap",
        "negative",
        ["000001.SZ", DATE2],
    ),
    (
        "neg-amount",
        setv("stock_daily", "amount", -5.0, code="000001.SZ", date=D2),
        "stock_daily",
        "amount",
        "negative",
        ["000001.SZ", DATE2],
    ),
    (
        "neg-shares",
        setv("etf_daily", "shares", -1e6, etf_code="510300.SH", date=D2),
        "etf_daily",
        "shares",
        "negative",
        ["510300.SH", DATE2],
    ),
    (
        "neg-nav",
        setv("etf_daily", "nav", -1.0, etf_code="510300.SH", date=D2),
        "etf_daily",
        "nav",
        "negative",
        ["510300.SH", DATE2],
    ),
    (
        "neg-etf-close",
        setv("etf_daily", "close", -1.0, etf_code="512880.SH", date=D1),
        "etf_daily",
        "close",
        "negative",
        ["512880.SH", DATE1],
    ),
    (
        "neg-quantity",
        setv("etf_pcf", "quantity", -100.0, etf_code="510300.SH", code="300750.SZ", date=D3),
        "etf_pcf",
        "quantity",
        "negative",
        ["510300.SH", "300750.SZ", DATE3],
    ),
    (
        "neg-weight",
        both(
            setv("holding_weights", "weight", -0.2, code="600000.SH", etf_code="510300.SH"),
            setv("holding_weights", "weight", 0.9, code="000001.SZ"),
        ),
        "holding_weights",
        "weight",
        "negative",
        ["600000.SH", "510300.SH"],
    ),
    (
        "neg-index-close",
        setv("index_daily", "close", -1.0, index_code="000300.SH", date=D2),
        "index_daily",
        "close",
        "negative",
        ["000300.SH", DATE2],
    ),
    (
        "neg-mv",
        setv("active_holdings", "mv", -1.0, fund_code="110011.OF"),
        "active_holdings",
        "mv",
        "negative",
        ["110011.OF", "300750.SZ"],
    ),
    (
        "neg-fund-nav",
        setv("fund_nav", "nav", -1.0, fund_code="110011.OF", date=D2),
        "fund_nav",
        "nav",
        "negative",
        ["110011.OF", DATE2],
    ),
    (
        "neg-new-shares",
        setv("fund_issuance", "new_shares", -1.0, kind="etf"),
        "fund_issuance",
        "new_shares",
        "negative",
        ["'etf'"],
    ),
    (
        "nan-float-cap",
        setv("stock_daily", "float_mcap", float("nan"), code="000001.SZ", date=D2),
        "stock_daily",
        "float_mcap",
        "non_finite",
        ["000001.SZ", DATE2, "nan"],
    ),
    (
        "inf-nav",
        setv("etf_daily", "nav", float("inf"), etf_code="512880.SH", date=D3),
        "etf_daily",
        "nav",
        "non_finite",
        ["512880.SH", DATE3, "inf"],
    ),
    (
        "neg-inf-shares",
        setv("etf_daily", "shares", float("-inf"), etf_code="512880.SH", date=D3),
        "etf_daily",
        "shares",
        "non_finite",
        ["512880.SH", DATE3],
    ),
    (
        "nan-quantity",
        setv("etf_pcf", "quantity", float("nan"), etf_code="512880.SH", code="600000.SH", date=D2),
        "etf_pcf",
        "quantity",
        "non_finite",
        ["512880.SH", "600000.SH", DATE2],
    ),
    (
        "nan-ret",
        setv("stock_daily", "ret", float("nan"), code="688981.SH", date=D5),
        "stock_daily",
        "ret",
        "non_finite",
        ["688981.SH", D5.isoformat()],
    ),
    (
        "zero-creation-unit",
        setv("etfs", "creation_unit", 0.0, etf_code="512880.SH"),
        "etfs",
        "creation_unit",
        "non_positive",
        ["512880.SH"],
    ),
    (
        "negative-creation-unit",  # null is allowed (unknown), a value must still be > 0
        setv("etfs", "creation_unit", -900000.0, etf_code="512880.SH"),
        "etfs",
        "creation_unit",
        "non_positive",
        ["512880.SH", "-900000"],
    ),
    (
        "nan-creation-unit",
        setv("etfs", "creation_unit", float("nan"), etf_code="512880.SH"),
        "etfs",
        "creation_unit",
        "non_finite",
        ["512880.SH"],
    ),
    (
        "etf-weights-sum",
        setv("holding_weights", "weight", 0.6, code="000001.SZ"),
        "holding_weights",
        "weight",
        "weight_sum",
        ["510300.SH", DATE1, "weight_sum=1.09"],
    ),
    (
        "index-weights-sum",
        setv("holding_weights", "weight", 0.3, code="688981.SH"),
        "holding_weights",
        "weight",
        "weight_sum",
        ["399975.SZ", DATE1, "n_components=2"],
    ),
    (
        "pcf-unknown-stock",
        setv("etf_pcf", "code", "999999.SH", etf_code="512880.SH", code="688981.SH", date=D4),
        "etf_pcf",
        "code",
        "unknown_stock",
        ["999999.SH", "512880.SH", D4.isoformat()],
    ),
    (
        "weights-unknown-stock",
        setv("holding_weights", "code", "999999.SH", code="688981.SH"),
        "holding_weights",
        "code",
        "unknown_stock",
        ["999999.SH", "399975.SZ", DATE1],
    ),
    (
        "active-unknown-stock",
        setv("active_holdings", "code", "999999.SH", fund_code="110011.OF"),
        "active_holdings",
        "code",
        "unknown_stock",
        ["999999.SH", "110011.OF"],
    ),
    (
        "daily-unknown-stock",
        setv("stock_daily", "code", "999999.SH", code="688981.SH", date=D2),
        "stock_daily",
        "code",
        "unknown_stock",
        ["999999.SH", DATE2],
    ),
    (
        "industry-unknown-stock",
        append("stock_industry", code="999999.SH"),
        "stock_industry",
        "code",
        "unknown_stock",
        ["999999.SH"],
    ),
    (
        "daily-unknown-etf",
        setv("etf_daily", "etf_code", "159999.SZ", etf_code="512880.SH", date=D2),
        "etf_daily",
        "etf_code",
        "unknown_etf",
        ["159999.SZ", DATE2],
    ),
    (
        "pcf-unknown-etf",
        setv("etf_pcf", "etf_code", "159999.SZ", etf_code="512880.SH", date=D2),
        "etf_pcf",
        "etf_code",
        "unknown_etf",
        ["159999.SZ", DATE2, "600000.SH"],
    ),
    (
        "weights-unknown-etf",
        setv("holding_weights", "etf_code", "159999.SZ", etf_code="510300.SH"),
        "holding_weights",
        "etf_code",
        "unknown_etf",
        ["159999.SZ", DATE1],
    ),
    (
        "weekend",
        append("stock_daily", date=D(2024, 1, 6), code="600000.SH"),
        "stock_daily",
        "date",
        "weekend_date",
        ["600000.SH", D(2024, 1, 6).isoformat()],
    ),
    (
        "etf-daily-holiday",
        append("etf_daily", date=D(2024, 1, 1)),
        "etf_daily",
        "date",
        "date_not_in_calendar",
        ["510300.SH", D(2024, 1, 1).isoformat()],
    ),
    (
        "pcf-holiday",
        append("etf_pcf", date=D(2024, 1, 1)),
        "etf_pcf",
        "date",
        "date_not_in_calendar",
        ["510300.SH", "000001.SZ", D(2024, 1, 1).isoformat()],
    ),
    (
        "weights-holiday",
        setv("holding_weights", "date", D(2023, 12, 31), etf_code="510300.SH"),
        "holding_weights",
        "date",
        "date_not_in_calendar",
        ["510300.SH", D(2023, 12, 31).isoformat()],
    ),
    (
        "index-holiday",
        append("index_daily", date=D(2024, 1, 6)),
        "index_daily",
        "date",
        "date_not_in_calendar",
        ["000300.SH", D(2024, 1, 6).isoformat()],
    ),
    (
        "nav-holiday",
        append("fund_nav", date=D(2024, 1, 6)),
        "fund_nav",
        "date",
        "date_not_in_calendar",
        ["000011.OF", D(2024, 1, 6).isoformat()],
    ),
    (
        "stock-delist-before-list",
        setv("stocks", "delist_date", D(2019, 1, 1), code="688981.SH"),
        "stocks",
        "delist_date",
        "delist_before_list",
        ["688981.SH", D(2019, 1, 1).isoformat()],
    ),
    (
        "etf-delist-before-list",
        setv("etfs", "delist_date", D(2011, 1, 1), etf_code="510300.SH"),
        "etfs",
        "delist_date",
        "delist_before_list",
        ["510300.SH", D(2011, 1, 1).isoformat()],
    ),
    (
        "industry-end-before-start",
        setv(
            "stock_industry",
            "end_date",
            D(2018, 12, 31),
            code="600000.SH",
            start_date=D(2019, 1, 1),
        ),
        "stock_industry",
        "end_date",
        "end_before_start",
        ["600000.SH", D(2018, 12, 31).isoformat()],
    ),
    (
        "industry-overlap",
        setv(
            "stock_industry", "end_date", D(2024, 1, 5), code="600000.SH", start_date=D(2019, 1, 1)
        ),
        "stock_industry",
        "start_date",
        "overlapping_interval",
        ["600000.SH", D(2024, 1, 4).isoformat()],
    ),
    (
        "industry-open-overlap",
        append("stock_industry", code="000001.SZ", start_date=D(2023, 1, 1)),
        "stock_industry",
        "start_date",
        "overlapping_interval",
        ["000001.SZ", D(2023, 1, 1).isoformat()],
    ),
    (
        "bad-board",
        setv("stocks", "board", "BJ", code="000001.SZ"),
        "stocks",
        "board",
        "invalid_value",
        ["000001.SZ", "'BJ'", "SH_MAIN"],
    ),
    (
        "bad-category",
        setv("etfs", "category", "bond", etf_code="512880.SH"),
        "etfs",
        "category",
        "invalid_value",
        ["512880.SH", "'bond'"],
    ),
    (
        "bad-kind",
        setv("fund_issuance", "kind", "bond", kind="etf"),
        "fund_issuance",
        "kind",
        "invalid_value",
        ["'bond'"],
    ),
    (
        "bad-cash-flag",
        setv(
            "etf_pcf", "cash_substitute", "maybe", etf_code="510300.SH", code="600000.SH", date=D5
        ),
        "etf_pcf",
        "cash_substitute",
        "invalid_value",
        ["510300.SH", "600000.SH", D5.isoformat()],
    ),
    (
        "month-not-start",
        setv("fund_issuance", "month", D(2024, 1, 15), kind="etf"),
        "fund_issuance",
        "month",
        "not_month_start",
        [D(2024, 1, 15).isoformat()],
    ),
    (
        "disclosed-early",
        setv("active_holdings", "disclose_date", D(2023, 12, 1), fund_code="110011.OF"),
        "active_holdings",
        "disclose_date",
        "disclose_before_report",
        ["110011.OF"],
    ),
    (
        "nav-unknown-fund",
        setv("fund_nav", "fund_code", "999999.OF", fund_code="110011.OF", date=D3),
        "fund_nav",
        "fund_code",
        "unknown_fund",
        ["999999.OF", DATE3],
    ),
]


@pytest.mark.parametrize(
    ("mutation", "table", "column", "rule", "expected"),
    [pytest.param(*c[1:], id=c[0]) for c in ERROR_CASES],
)
def test_each_rule_has_a_failing_example(
    make_dataset, mutation, table: str, column: str, rule: str, expected: list[str]
) -> None:
    report = run(make_dataset, mutation, tables=[table])
    assert not report.ok
    err = find(report, table, rule, column)
    assert isinstance(err, DataContractError)
    msg = str(err)
    assert f"table '{table}'" in msg
    assert f"column '{column}'" in msg
    for s in expected:
        assert s in msg, f"{s!r} not in\n{msg}"
    if rule not in ("missing_column", "wrong_type"):
        assert f"[{rule}]" in msg
        assert err.n_rows and f"({err.n_rows:,} row" in msg
        assert err.examples is not None and 1 <= err.examples.height <= 5
        assert "hint:" in msg
    row = report.summary().filter(
        (pl.col("table") == table) & (pl.col("rule") == rule) & (pl.col("column") == column)
    )
    assert row.height == 1 and row["count"][0] >= 1 and row["severity"][0] == "error"
    with pytest.raises(ValidationError):
        report.raise_for_errors()


@pytest.mark.parametrize("codes", ["string", "categorical"])
def test_null_creation_unit_is_valid(make_dataset, codes: str) -> None:
    """``etfs.creation_unit`` null means unknown (weights look-through only): no error, no
    warning; a null in another required column of ``etfs`` still is one."""

    def unknown_units(f: Frames) -> None:
        f["etfs"] = f["etfs"].with_columns(pl.lit(None, pl.Float64).alias("creation_unit"))

    report = run(make_dataset, unknown_units, codes=codes)
    assert report.ok and report.errors == [] and report.warnings == []
    bad = run(make_dataset, setv("etfs", "name", None, etf_code="512880.SH"), codes=codes)
    assert find(bad, "etfs", "null_value", "name").n_rows == 1
    assert TABLES["etfs"].column("creation_unit").rules == ("non_positive", "non_finite")


def test_counts_every_offending_row(make_dataset) -> None:
    report = run(make_dataset, setv("stock_daily", "close", -1.0, code="600000.SH"))
    err = find(report, "stock_daily", "negative", "close")
    assert err.n_rows == 5
    assert err.examples.height == 5
    assert err.examples.columns == ["date", "code", "close"]


def test_unknown_code_in_enum_column(make_dataset) -> None:
    report = run(
        make_dataset,
        setv("etf_pcf", "code", "999999.SH", etf_code="512880.SH", code="688981.SH", date=D4),
        codes="enum",
    )
    assert find(report, "etf_pcf", "unknown_stock", "code").n_rows == 1


# ----------------------------------------------------------------------------- structure


def test_file_schema_mismatch_in_hive_folder(make_dataset, tmp_path) -> None:
    root = write_dataset(market_frames(), tmp_path / "m")
    part = root / "etf_pcf" / "part=b" / "0.parquet"
    pl.read_parquet(part).with_columns(pl.col("quantity").cast(pl.Int64)).write_parquet(part)
    report = validate(open_dataset(root))
    err = find(report, "etf_pcf", "file_schema")
    assert "part=b/0.parquet" in str(err) and "quantity" in str(err)
    # the table is not read further, the other tables are
    checked = report.summary().filter(pl.col("table") == "etf_pcf")["rule"].to_list()
    assert "duplicate_key" not in checked
    assert not [e for e in report.errors if e.table != "etf_pcf"]


def test_duplicate_across_hive_files(tmp_path) -> None:
    root = write_dataset(market_frames(), tmp_path / "m")
    first = pl.read_parquet(root / "etf_pcf" / "part=a" / "0.parquet").head(1)
    (root / "etf_pcf" / "part=c").mkdir()
    first.write_parquet(root / "etf_pcf" / "part=c" / "0.parquet")
    report = validate(open_dataset(root))
    err = find(report, "etf_pcf", "duplicate_key")
    assert err.n_rows == 2
    assert "000001.SZ" in str(err) and DATE1 in str(err)


# ----------------------------------------------------------------------------- warnings

WARNING_CASES = [
    ("no-industry", drop_rows("stock_industry", code="688981.SH"), "stock_daily", "no_industry", 5),
    (
        "industry-gap",
        setv(
            "stock_industry",
            "start_date",
            D(2024, 1, 5),
            code="600000.SH",
            start_date=D(2024, 1, 4),
        ),
        "stock_daily",
        "no_industry",
        1,
    ),
    (
        "zero-shares",
        setv("etf_daily", "shares", 0.0, etf_code="512880.SH", date=D4),
        "etf_daily",
        "zero_shares",
        1,
    ),
    (
        "before-listing",
        setv("stocks", "list_date", D(2024, 1, 4), code="688981.SH"),
        "stock_daily",
        "outside_listing",
        2,
    ),
    (
        "after-delisting",
        setv("stocks", "delist_date", D(2024, 1, 4), code="688981.SH"),
        "stock_daily",
        "outside_listing",
        2,
    ),
    (
        "etf-after-delisting",
        setv("etfs", "delist_date", D(2024, 1, 5), etf_code="512880.SH"),
        "etf_daily",
        "outside_listing",
        1,
    ),
    ("no-basket", drop_rows("etf_pcf", etf_code="512880.SH", date=D4), "etf_pcf", "no_basket", 1),
    (
        "basket-without-daily",
        drop_rows("etf_daily", etf_code="512880.SH", date=D4),
        "etf_pcf",
        "basket_without_daily",
        1,
    ),
    (
        "unpriced",
        drop_rows("stock_daily", code="300750.SZ", date=D2),
        "etf_pcf",
        "unpriced_component",
        1,
    ),
    (
        "zero-quantity",
        setv("etf_pcf", "quantity", 0.0, etf_code="510300.SH", code="300750.SZ"),
        "etf_pcf",
        "zero_quantity",
        5,
    ),
    (
        "zero-weight",
        both(
            setv("holding_weights", "weight", 0.0, code="600000.SH", etf_code="510300.SH"),
            setv("holding_weights", "weight", 0.5, code="300750.SZ"),
        ),
        "holding_weights",
        "zero_weight",
        1,
    ),
]


@pytest.mark.parametrize(
    ("mutation", "table", "rule", "count"),
    [pytest.param(*c[1:], id=c[0]) for c in WARNING_CASES],
)
def test_each_warning_is_counted(make_dataset, mutation, table: str, rule: str, count: int) -> None:
    report = run(make_dataset, mutation, tables=[table])
    assert report.ok, report.errors
    report.raise_for_errors()  # warnings never raise
    issue = find(report, table, rule)
    assert isinstance(issue, ValidationIssue)
    assert issue.count == count
    assert 1 <= issue.examples.height <= min(count, 5)
    assert f"table '{table}'" in issue.message and f"[{rule}]" in issue.message
    row = report.summary().filter((pl.col("table") == table) & (pl.col("rule") == rule))
    assert row["count"].to_list() == [count] and row["severity"][0] == "warning"


def test_warning_examples_name_the_row(make_dataset) -> None:
    report = run(make_dataset, drop_rows("etf_pcf", etf_code="512880.SH", date=D4))
    issue = find(report, "etf_pcf", "no_basket")
    assert issue.examples.to_dicts() == [{"date": D4, "etf_code": "512880.SH"}]
    assert "512880.SH" in issue.message and D4.isoformat() in issue.message


# ----------------------------------------------------------------------------- report & options


def test_raise_for_errors_lists_all_errors(make_dataset) -> None:
    report = run(
        make_dataset,
        setv("stocks", "board", "BJ", code="000001.SZ"),
        setv("etf_daily", "nav", -1.0, etf_code="510300.SH", date=D2),
    )
    assert len(report.errors) == 2
    with pytest.raises(ValidationError) as info:
        report.raise_for_errors()
    assert info.value.errors == report.errors
    text = str(info.value)
    assert text.startswith("2 data-contract violations")
    assert "table 'stocks', column 'board'" in text and "table 'etf_daily', column 'nav'" in text


def test_tables_restricts_the_validation(make_dataset) -> None:
    frames = market_frames()
    setv("stocks", "board", "BJ", code="000001.SZ")(frames)
    ds = make_dataset(frames)
    only_daily = validate(ds, tables=["etf_daily", "etf_pcf"])
    assert only_daily.ok
    assert set(only_daily.summary()["table"]) == {"etf_daily", "etf_pcf"}
    assert not validate(ds, tables=["stocks"]).ok


def test_tables_rejects_unknown_names(make_dataset) -> None:
    ds = make_dataset(market_frames())
    with pytest.raises(EtfflowError, match="unknown table"):
        validate(ds, tables=["stock_dayly"])
    with pytest.raises(EtfflowError, match="Dataset"):
        validate("not a dataset")  # type: ignore[arg-type]


def test_missing_optional_tables_are_skipped(make_dataset) -> None:
    frames = market_frames()
    for t in (
        "holding_weights",
        "index_daily",
        "active_funds",
        "active_holdings",
        "fund_nav",
        "fund_issuance",
    ):
        del frames[t]
    report = validate(make_dataset(frames), tables=["etf_pcf", "fund_nav"])
    assert report.ok
    assert set(report.summary()["table"]) == {"etf_pcf"}


def test_progress_is_reported_per_table(make_dataset) -> None:
    calls: list[tuple[str, int, int]] = []
    validate(make_dataset(market_frames()), progress=lambda s, d, n: calls.append((s, d, n)))
    tables = [c[0] for c in calls if c[1] == c[2]]
    assert tables[:3] == ["stocks", "stock_industry", "stock_daily"]
    assert ("etf_pcf", 0, 1) in calls and ("etf_pcf", 1, 1) in calls


# ----------------------------------------------------------------------------- large-table path


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the large-table path (sorted fast path, date chunks) on the small market."""
    monkeypatch.setattr(validation, "SMALL_ROWS", 0)
    monkeypatch.setattr(validation, "CHUNK_ROWS", 4)


@pytest.mark.parametrize("codes", ["mixed", "string"])
def test_chunked_path_is_clean(make_dataset, tiny_chunks, codes: str) -> None:
    calls: list[tuple[str, int, int]] = []
    frames = market_frames()
    ds = make_dataset(frames, codes=codes)
    report = validate(ds, progress=lambda s, d, n: calls.append((s, d, n)))
    assert report.ok and report.warnings == []
    assert ("stock_daily", 5, 5) in calls  # 4 rows a day, 4 rows a chunk: one day a chunk
    assert ("etf_pcf", 5, 5) in calls


def test_chunked_path_unsorted_rows_are_fine(make_dataset, tiny_chunks) -> None:
    frames = market_frames()
    frames["etf_pcf"] = frames["etf_pcf"].reverse()
    frames["stock_daily"] = frames["stock_daily"].sample(fraction=1.0, shuffle=True, seed=1)
    assert validate(make_dataset(frames)).ok


@pytest.mark.parametrize("codes", ["mixed", "string"])
def test_chunked_path_finds_duplicates_and_counts(make_dataset, tiny_chunks, codes) -> None:
    frames = market_frames()
    for m in (
        duplicate("etf_pcf", etf_code="512880.SH", date=D4),
        duplicate("holding_weights", etf_code="510300.SH", code="000001.SZ"),
        duplicate("stock_daily", code="688981.SH", date=D5),
        setv("etf_pcf", "code", "999999.SH", etf_code="510300.SH", code="300750.SZ", date=D1),
        drop_rows("etf_pcf", etf_code="510300.SH", date=D2),
    ):
        m(frames)
    # sorted by key, as the generator writes: duplicates are adjacent
    frames["stock_daily"] = frames["stock_daily"].sort("date", "code")
    frames["etf_pcf"] = frames["etf_pcf"].sort("date", "etf_code", "code")
    report = validate(make_dataset(frames, codes=codes))
    assert find(report, "stock_daily", "duplicate_key").n_rows == 2
    assert find(report, "etf_pcf", "duplicate_key").n_rows == 4
    assert find(report, "holding_weights", "duplicate_key").n_rows == 2
    assert find(report, "etf_pcf", "unknown_stock").n_rows == 1
    assert find(report, "etf_pcf", "no_basket").count == 1
    assert find(report, "holding_weights", "weight_sum").n_rows == 1


def test_chunked_path_unknown_codes_are_not_duplicates(make_dataset, tiny_chunks) -> None:
    """Unknown codes share one integer bucket; the exact check tells them apart."""
    report = run(
        make_dataset,
        setv("etf_pcf", "code", "999998.SH", etf_code="510300.SH", code="000001.SZ", date=D3),
        setv("etf_pcf", "code", "999999.SH", etf_code="510300.SH", code="300750.SZ", date=D3),
        tables=["etf_pcf"],
    )
    assert find(report, "etf_pcf", "unknown_stock").n_rows == 2
    assert not [e for e in report.errors if e.rule == "duplicate_key"]


def test_chunked_path_reports_like_the_small_path(make_dataset, monkeypatch) -> None:
    """Counts and examples do not depend on the chunk size or the large-table path."""
    frames = market_frames()
    for m in (
        duplicate("etf_pcf", etf_code="512880.SH", date=D4),
        setv("etf_pcf", "code", "999999.SH", etf_code="510300.SH", code="300750.SZ", date=D1),
        setv("etf_pcf", "quantity", -1.0, etf_code="510300.SH", code="000001.SZ"),
        append("etf_pcf", date=D(2024, 1, 6)),
        drop_rows("stock_daily", code="300750.SZ", date=D2),
        drop_rows("etf_daily", etf_code="512880.SH", date=D5),
        setv("stock_daily", "close", float("nan"), code="688981.SH"),
        setv("etf_daily", "etf_code", "159999.SZ", etf_code="512880.SH", date=D3),
    ):
        m(frames)
    ds = make_dataset(frames)
    small = validate(ds)
    monkeypatch.setattr(validation, "SMALL_ROWS", 0)
    monkeypatch.setattr(validation, "CHUNK_ROWS", 7)
    chunked = validate(ds)
    key = ["table", "column", "rule"]
    assert small.summary().sort(key).equals(chunked.summary().sort(key))
    assert small.summary()["count"].sum() > 8
    for a, b in zip(small.errors, chunked.errors, strict=True):
        assert (a.table, a.column, a.rule, a.n_rows) == (b.table, b.column, b.rule, b.n_rows)
        assert a.examples is not None and b.examples is not None
        assert a.examples.height == b.examples.height


# ----------------------------------------------------------------------------- one declaration


def _rule_literals() -> set[str]:
    """Every ``rule="..."`` written in the package's source (whoever raises it)."""
    root = Path(etfflow.__file__).parent
    found: set[str] = set()
    for f in root.rglob("*.py"):
        found |= set(re.findall(r"""\brule=["']([a-z_]+)["']""", f.read_text()))
    return found


def test_every_rule_name_is_in_the_catalogue() -> None:
    literals = _rule_literals()
    assert {"date_not_in_calendar", "null_value", "unknown_stock"} <= literals
    assert literals <= set(RULES), literals - set(RULES)


def test_every_column_has_one_declaration_and_the_schemas_derive_from_it() -> None:
    for name, spec in TABLES.items():
        assert spec.name == name
        names = [c.name for c in spec.declared]
        assert len(names) == len(set(names)), name
        assert spec.columns == pl.Schema({c.name: c.dtype for c in spec.declared})
        assert set(spec.required) | set(spec.optional) == set(names)
        assert set(spec.key) <= set(names)
        for group in spec.one_of:
            assert set(group) <= set(spec.optional)


def test_catalogue_rules_are_all_reachable() -> None:
    """Every rule is emitted by a declaration, a table check, the structure or the code."""
    declared = {r for s in TABLES.values() for c in s.declared for r in c.rules}
    table_level = {r for s in TABLES.values() for r in s.checks}
    structure = {"file_schema", "missing_column", "wrong_type", "duplicate_key", "null_value"}
    assert declared - {"null_value"} - {REF_RULES[r] for r in REF_RULES} <= ROW_CHECK_RULES
    hooks = set(TABLE_HOOKS) | {r for v in HOOK_ALSO.values() for r in v}
    row_level = {"no_industry", "unpriced_component", "outside_listing"}
    assert table_level <= hooks | row_level
    assert set(RULES) == declared | table_level | structure | _rule_literals()


def test_changing_a_declaration_changes_the_rules(make_dataset, monkeypatch) -> None:
    """dtype and value rules come from the one declaration of a column."""
    ds = make_dataset(market_frames())
    assert validate(ds, tables=["fund_nav"]).ok
    spec = TABLES["fund_nav"]
    nav = spec.column("nav")
    declared = tuple(
        replace(nav, dtype=pl.Float32) if c.name == "nav" else c for c in spec.declared
    )
    monkeypatch.setitem(TABLES, "fund_nav", replace(spec, declared=declared))
    err = find(validate(ds, tables=["fund_nav"]), "fund_nav", "wrong_type", "nav")
    assert "Float32" in str(err)
    date = spec.column("date")
    declared = tuple(
        replace(date, checks=(Check("not_month_start"),)) if c.name == "date" else c
        for c in spec.declared
    )
    monkeypatch.setitem(TABLES, "fund_nav", replace(spec, declared=declared))
    report = validate(ds, tables=["fund_nav"])
    assert not report.ok
    assert find(report, "fund_nav", "not_month_start", "date").n_rows > 0


def test_declarations_reject_unknown_rules() -> None:
    with pytest.raises(KeyError, match="unknown rule"):
        Check("not_a_rule")
    with pytest.raises(KeyError, match="no rule for reference"):
        Column("code", pl.String, ref=("stocks", "name"))


# ----------------------------------------------------------------------------- kernels


ranks = st.lists(st.integers(-1, 9), min_size=0, max_size=60)


@given(ranks, ranks, st.integers(1, 7), st.data())
def test_missing_bits_matches_reference(r: list[int], d: list[int], n_days: int, data) -> None:
    n = min(len(r), len(d))
    rank = np.array(r[:n], dtype=np.int32)
    day = np.array([x % n_days if x >= 0 else -1 for x in d[:n]], dtype=np.int32)
    bits = np.array(
        data.draw(st.lists(st.booleans(), min_size=10 * n_days, max_size=10 * n_days)), dtype=bool
    )
    got = kernels.missing_bits(rank, day, bits, n_days)
    assert got.tolist() == kernels.missing_bits_reference(rank, day, bits, n_days).tolist()


@given(st.lists(st.tuples(st.integers(-1, 3), st.integers(-1, 3)), max_size=40))
def test_key_kernels_match_reference(rows: list[tuple[int, int]]) -> None:
    a = np.array([x for x, _ in rows], dtype=np.int32)
    b = np.array([y for _, y in rows], dtype=np.int32)
    c = np.array([(x * 7 + y) % 3 - 1 for x, y in rows], dtype=np.int32)
    for cols in ([a, b], [a, b, c]):
        third = cols[2] if len(cols) == 3 else np.zeros(0, np.int32)
        got = kernels.unsorted_keys(cols[0], cols[1], third, 5, 5)
        assert got == kernels.unsorted_keys_reference(cols)
    pairs = list(zip(a.tolist(), b.tolist(), strict=True))
    assert (kernels.unsorted_keys(a, b, np.zeros(0, np.int32), 5, 1) == 0) == (
        sorted(set(pairs)) == pairs
    )
    got = kernels.pair_starts(a, b, 4)
    assert got.tolist() == kernels.pair_starts_reference(a, b, 4).tolist()


@given(st.lists(st.integers(-3, 12), max_size=40), st.integers(-2, 3))
def test_take_ranks_matches_reference(values: list[int], offset: int) -> None:
    v = np.array(values, dtype=np.int64)
    table = np.array([4, -1, 0, 2, 1, 3, -1, 5], dtype=np.int32)
    got = kernels.take_ranks(v, table, offset)
    assert got.tolist() == kernels.take_ranks_reference(v, table, offset).tolist()


def test_chunk_bounds_from_parquet_footers(make_dataset, tmp_path, monkeypatch) -> None:
    """Sorted files with small row groups are chunked from their footers, with the same
    findings as one chunk; files not in date order fall back to counting rows per date."""
    frames = market_frames()
    for m in (
        duplicate("stock_daily", code="688981.SH", date=D3),
        setv("stock_daily", "close", -1.0, code="600000.SH"),
        append("stock_daily", date=D(2024, 1, 6), code="600000.SH"),
    ):
        m(frames)
    frames["stock_daily"] = frames["stock_daily"].sort("date", "code")
    root = write_dataset(frames, tmp_path / "m")
    frames["stock_daily"].write_parquet(root / "stock_daily.parquet", row_group_size=3)
    ds = open_dataset(root)
    one = validate(ds, tables=["stock_daily"])
    monkeypatch.setattr(validation, "SMALL_ROWS", 0)
    monkeypatch.setattr(validation, "CHUNK_ROWS", 6)
    lf = ds.raw("stock_daily")
    footer = validation._footer_chunks(lf, ds.files("stock_daily"), "date")
    assert footer is not None and len(footer) >= 3
    n_rows = lf.select(pl.len()).collect().item()
    assert sum(c.select(pl.len()).collect().item() for c in footer) == n_rows
    calls: list[tuple[str, int, int]] = []
    chunked = validate(ds, tables=["stock_daily"], progress=lambda s, d, n: calls.append((s, d, n)))
    assert calls[0][2] == len(footer)
    key = ["table", "column", "rule"]
    assert one.summary().sort(key).equals(chunked.summary().sort(key))
    assert find(chunked, "stock_daily", "duplicate_key").n_rows == 2
    frames["stock_daily"].reverse().write_parquet(root / "stock_daily.parquet", row_group_size=3)
    assert validation._footer_chunks(lf, ds.files("stock_daily"), "date") is None
    unsorted = validate(open_dataset(root), tables=["stock_daily"])
    assert one.summary().sort(key).equals(unsorted.summary().sort(key))


def test_each_validation_kernel_compiles_one_specialisation(tmp_path):
    """Read-only vs writeable arrays and uint32 vs int32 ids used to compile take_ranks four
    times and pair_starts twice on a first run (seconds each); a fresh process validating a
    market with Categorical and String code columns now compiles each kernel once."""
    import subprocess
    import sys
    import textwrap

    child = textwrap.dedent(
        """
        import sys
        from etfflow.data_samples import generate_market
        from etfflow.engine.loading import open_dataset
        from etfflow.engine.validation import kernels, validate

        generate_market(sys.argv[1], size="tiny", seed=3)
        validate(open_dataset(sys.argv[1]))
        for name in ("take_ranks", "missing_bits", "unsorted_keys", "pair_starts"):
            sigs = getattr(kernels, name).signatures
            assert len(sigs) == 1, (name, sigs)
        print("ok")
        """
    )
    r = subprocess.run(
        [sys.executable, "-c", child, str(tmp_path / "m")], capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]

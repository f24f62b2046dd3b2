"""etfflow.engine.adapters.table: any contract table from a CSV/Excel/Parquet export + a map."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from etfflow.engine.adapters import table as tb
from etfflow.engine.adapters import table_map as tm
from etfflow.engine.loading import open_dataset
from etfflow.engine.validation import validate
from etfflow.exceptions import SourceFileError, ValidationError
from tests.engine.conftest import market_frames, write_dataset

REPO = Path(__file__).resolve().parents[3]
WIND_MAP = REPO / "docs" / "maps" / "wind_stock_daily.toml"
WIND_CSV = Path(__file__).parent / "data" / "wind_stock_daily.csv"
D = dt.date


def write_map(tmp_path: Path, text: str, name: str = "map.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (and the names beside it) with its content hash."""
    out = {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
    out["<siblings>"] = ",".join(sorted(p.name for p in root.parent.iterdir()))
    return out


# the example map on the Wind fixture ----------------------------------------------------------
def test_wind_map_converts_the_fixture(tmp_path: Path) -> None:
    out = tmp_path / "data"
    res = tb.import_table(WIND_CSV, table="stock_daily", map_file=WIND_MAP, out=out)
    assert (res.rows, res.replaced, res.kept) == (8, 0, 0)
    df = pl.read_parquet(out / "stock_daily.parquet")
    assert df.columns == list(tb.TABLES["stock_daily"].columns)
    assert df["code"].unique().sort().to_list() == [
        "000001.SZ",
        "300750.SZ",
        "600519.SH",
        "830799.BJ",
    ]
    row = df.filter((pl.col("code") == "600519.SH") & (pl.col("date") == D(2024, 1, 2))).row(
        0, named=True
    )
    assert row["close"] == 1685.01
    assert row["ret"] == pytest.approx(-0.018956, rel=1e-12)  # 涨跌幅(%) x 0.01
    assert row["amount"] == pytest.approx(5462376.5e3, rel=1e-12)  # 成交额(千元) x 1e3
    assert row["float_mcap"] == pytest.approx(211674100.0e4, rel=1e-12)  # 万元 x 1e4
    assert row["turnover"] == pytest.approx(0.002560, rel=1e-12)  # 换手率(%) x 0.01
    assert (row["is_st"], row["is_suspended"], row["up_limit"]) == (False, False, 1887.60)
    bj = df.filter(pl.col("code") == "830799.BJ")
    assert bj["is_suspended"].to_list() == [True, True]  # 交易状态 停牌
    assert bj["ret"].to_list() == [0.0, 0.0]
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "stock_daily.parquet"]


def test_reimport_replaces_the_same_dates(tmp_path: Path) -> None:
    out = tmp_path / "data"
    tb.import_table(WIND_CSV, table="stock_daily", map_file=WIND_MAP, out=out)
    text = WIND_CSV.read_bytes().decode("gb18030").splitlines()
    one_day = [text[0], *[r for r in text[1:] if ",20240103," in r]]
    one_day[1] = one_day[1].replace(",1694.00,", ",1700.00,")
    day_file = tmp_path / "day.csv"
    day_file.write_bytes("\n".join(one_day).encode("gb18030"))
    res = tb.import_table(day_file, table="stock_daily", map_file=WIND_MAP, out=out)
    assert (res.rows, res.replaced, res.kept) == (4, 4, 4)
    df = pl.read_parquet(out / "stock_daily.parquet")
    assert df.height == 8
    assert df.filter(pl.col("code") == "600519.SH")["close"].to_list() == [1685.01, 1700.0]


# map rules ------------------------------------------------------------------------------------
ETF_DAILY_MAP = """
drop = ["名称"]
[rename]
"日期" = "date"
"代码" = "etf_code"
"份额(万份)" = "shares"
"单位净值" = "nav"
[units]
shares = "万份"
[dates]
date = "%Y/%m/%d"
"""


def etf_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "日期": ["2024/01/02", "2024/01/03"],
            "代码": ["510300", "159915"],
            "名称": ["沪深300ETF", "创业板ETF"],
            "份额(万份)": ["123.5", "10"],
            "单位净值": ["3.5", "2.0"],
        }
    )


def test_rename_units_dates_and_suffix(tmp_path: Path) -> None:
    tmap = tm.parse_map(
        __import__("tomllib").loads(ETF_DAILY_MAP), table="etf_daily", path="m.toml"
    )
    out = tb.convert(etf_frame().with_row_index(tb.LINE, offset=2), tmap)
    assert out.to_dicts() == [
        {"date": D(2024, 1, 2), "etf_code": "510300.SH", "shares": 1235000.0, "nav": 3.5},
        {"date": D(2024, 1, 3), "etf_code": "159915.SZ", "shares": 100000.0, "nav": 2.0},
    ]


@pytest.mark.parametrize(
    ("unit", "factor"),
    [("手", 100.0), ("万元", 1e4), ("千元", 1e3), ("%", 0.01), ("亿份", 1e8), (2.5, 2.5)],
)
def test_units(unit: object, factor: float) -> None:
    unit_toml = f'"{unit}"' if isinstance(unit, str) else repr(unit)
    raw = __import__("tomllib").loads(
        f'[rename]\nd = "date"\ne = "etf_code"\nc = "code"\nq = "quantity"\n'
        f"[units]\nquantity = {unit_toml}\n"
    )
    tmap = tm.parse_map(raw, table="etf_pcf")
    src = pl.DataFrame({"d": ["2024-01-02"], "e": ["510300"], "c": ["600000"], "q": ["3"]})
    out = tb.convert(src.with_row_index(tb.LINE), tmap)
    assert out["quantity"].to_list() == [pytest.approx(3 * factor, rel=1e-15)]


def test_constants_and_contract_named_columns_pass_through() -> None:
    raw = {"constants": {"is_enhanced": False, "creation_unit": 1_000_000, "category": "broad"}}
    tmap = tm.parse_map(raw, table="etfs")
    src = pl.DataFrame(
        {
            "etf_code": ["510300.SH"],
            "name": ["沪深300ETF"],
            "index_code": ["000300.SH"],
            "list_date": ["2012-05-28"],
        }
    ).with_row_index(tb.LINE)
    out = tb.convert(src, tmap)
    assert out.row(0, named=True) == {
        "etf_code": "510300.SH",
        "name": "沪深300ETF",
        "category": "broad",
        "index_code": "000300.SH",
        "is_enhanced": False,
        "creation_unit": 1_000_000.0,
        "list_date": D(2012, 5, 28),
    }


def test_a_blank_creation_unit_imports_as_null(tmp_path: Path) -> None:
    """``etfs.creation_unit`` may be unknown: a blank cell imports as null and validates; a
    unit <= 0 is still refused, naming the row (and nothing is written)."""
    f, m, out = tmp_path / "etfs.csv", tmp_path / "etfs.toml", tmp_path / "d"
    head = "etf_code,name,category,index_code,is_enhanced,creation_unit,list_date\n"
    f.write_text(
        head + "510300,沪深300ETF,broad,000300.SH,false,,2012-05-28\n"
        "159919,300ETF,broad,000300.SH,false,900000,2012-05-28\n",
        encoding="utf-8",
    )
    m.write_text('[codes]\ncolumns = ["etf_code"]\n', encoding="utf-8")
    res = tb.import_table(f, table="etfs", map_file=m, out=out)
    assert res.rows == 2
    etfs = pl.read_parquet(out / "etfs.parquet").sort("etf_code")
    assert etfs["creation_unit"].to_list() == [900000.0, None]
    f.write_text(head + "510500,500ETF,broad,000905.SH,false,0,2013-03-15\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"(?s)creation_unit.*510500\.SH"):
        tb.import_table(f, table="etfs", map_file=m, out=out)
    assert pl.read_parquet(out / "etfs.parquet").sort("etf_code").equals(etfs)


def suffix_reference(code: str, prefixes: dict[str, str]) -> str | None:
    """Plain twin of ``suffix_codes`` (tests only)."""
    c = code.strip().upper()
    if len(c) == 9 and c[:6].isdigit() and c[6:] in (".SH", ".SZ", ".BJ"):
        return c
    if len(c) != 6 or not all(ch in "0123456789" for ch in c):
        return None
    best = None
    for p in prefixes:
        if c.startswith(p) and (best is None or len(p) > len(best)):
            best = p
    return None if best is None else f"{c}.{prefixes[best]}"


codes = st.one_of(
    st.text("0123456789", min_size=6, max_size=6),
    st.text("0123456789", min_size=0, max_size=8),
    st.builds(
        lambda d, s: d + s,
        st.text("0123456789", min_size=6, max_size=6),
        st.sampled_from([".SH", ".sz", ".BJ", ".HK", ""]),
    ),
)


@given(
    st.lists(codes, max_size=30),
    st.dictionaries(
        st.text("0123456789", min_size=1, max_size=3), st.sampled_from(tm.EXCHANGES), max_size=4
    ),
)
def test_suffix_rule_matches_reference(values: list[str], extra: dict[str, str]) -> None:
    prefixes = {**tm.DEFAULT_PREFIXES, **extra}
    got = pl.DataFrame({"c": values}, schema={"c": pl.String}).select(
        tb.suffix_codes(pl.col("c"), prefixes)
    )["c"]
    assert got.to_list() == [suffix_reference(v, prefixes) for v in values]


# errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "table", "needle"),
    [
        ("[renames]\na = 'code'", "stocks", "[renames]: unknown key"),
        ("[rename]\n'交易日期' = 'day'", "stock_daily", "'day' is not a column of table"),
        ("[units]\ndate = '万元'", "stock_daily", "a unit cannot be applied to 'date'"),
        ("[units]\nclose = '万美元'", "stock_daily", "unknown unit '万美元'"),
        ("[dates]\nclose = '%Y%m%d'", "stock_daily", "cannot be a date format of 'close'"),
        ("[codes.prefixes]\n'7' = 'HK'", "stock_daily", "is not a suffix rule"),
        ("[constants]\nis_st = 'no'", "stock_daily", "'no' is not a Boolean value"),
        ("[booleans]\nis_st = ['是']", "stock_daily", "must give true = [...]"),
        ("[rename]\na = 'code'\nb = 'code'", "stocks", "two source columns renamed to 'code'"),
        ("[read]\nsheet_name = 'x'", "stocks", "[read.sheet_name]: unknown key"),
    ],
)
def test_map_errors_name_the_file_and_field(
    tmp_path: Path, text: str, table: str, needle: str
) -> None:
    m = write_map(tmp_path, text)
    with pytest.raises(SourceFileError) as err:
        tm.load_map(m, table=table)
    assert needle in str(err.value)
    assert str(m) in str(err.value)


def test_map_not_toml(tmp_path: Path) -> None:
    m = write_map(tmp_path, "[rename\n")
    with pytest.raises(SourceFileError, match="not valid TOML"):
        tm.load_map(m, table="stocks")


def csv_file(tmp_path: Path, df: pl.DataFrame, name: str = "x.csv") -> Path:
    p = tmp_path / name
    df.write_csv(p)
    return p


@pytest.mark.parametrize(
    ("column", "value", "needle"),
    [
        ("日期", "2024-01-03", "date not in format '%Y/%m/%d'"),
        ("份额(万份)", "12,5", "value that is not a number"),
        ("代码", "700700", "code that maps to no exchange"),
        ("代码", "51030", "code that maps to no exchange"),
    ],
)
def test_bad_values_name_file_column_and_line(
    tmp_path: Path, column: str, value: str, needle: str
) -> None:
    df = etf_frame().with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(pl.lit(value))
        .otherwise(pl.col(column))
        .alias(column)
    )
    src = csv_file(tmp_path, df)
    out = tmp_path / "data"
    with pytest.raises(SourceFileError) as err:
        tb.import_table(
            src, table="etf_daily", map_file=write_map(tmp_path, ETF_DAILY_MAP), out=out
        )
    msg = str(err.value)
    assert needle in msg and f"source column {column!r}" in msg and str(src) in msg
    assert "_line=3" in msg and repr(value) in msg  # line 3 of the file: header, row 1, row 2
    assert not out.exists()


def test_unmapped_and_missing_columns(tmp_path: Path) -> None:
    m = write_map(tmp_path, ETF_DAILY_MAP)
    with pytest.raises(SourceFileError, match="'备注' of the file is not mapped"):
        tb.import_table(
            csv_file(tmp_path, etf_frame().with_columns(备注=pl.lit("x"))),
            table="etf_daily",
            map_file=m,
            out=tmp_path / "d",
        )
    with pytest.raises(SourceFileError, match="column '名称' named in the map is not in the file"):
        tb.import_table(
            csv_file(tmp_path, etf_frame().drop("名称")),
            table="etf_daily",
            map_file=m,
            out=tmp_path / "d",
        )
    m2 = write_map(tmp_path, ETF_DAILY_MAP.replace('"单位净值" = "nav"', ""), "m2.toml")
    with pytest.raises(SourceFileError, match="required column"):
        tb.import_table(
            csv_file(tmp_path, etf_frame().drop("单位净值")),
            table="etf_daily",
            map_file=m2,
            out=tmp_path / "d",
        )


# merging into a dataset, atomically -----------------------------------------------------------
def day_csv(tmp_path: Path, day: dt.date, close: float = 10.0) -> Path:
    """stock_daily rows of the hand-written market on ``day``, in a plain in-house layout."""
    sd = market_frames()["stock_daily"].filter(pl.col("date") == day)
    df = sd.select(
        pl.col("date").dt.strftime("%Y%m%d").alias("trade_date"),
        pl.col("code").str.slice(0, 6).alias("ticker"),
        pl.lit(close).alias("close"),
        (pl.col("ret") * 100).alias("pct_chg"),
        (pl.col("float_mcap") / 1e4).alias("circ_mv"),
        pl.col("is_st").cast(pl.Int8).alias("is_st"),
        pl.col("is_suspended").cast(pl.Int8).alias("is_suspended"),
    )
    return csv_file(tmp_path, df, f"{day:%Y%m%d}.csv")


DAY_MAP = """
[rename]
trade_date = "date"
ticker = "code"
pct_chg = "ret"
circ_mv = "float_mcap"
[units]
ret = "%"
float_mcap = "万元"
[dates]
date = "%Y%m%d"
"""


def test_merge_into_dataset_passes_validation(tmp_path: Path) -> None:
    root = write_dataset(market_frames(), tmp_path / "market")
    before = pl.read_parquet(root / "stock_daily.parquet")
    day = D(2024, 1, 8)
    res = tb.import_table(
        day_csv(tmp_path, day, close=12.5),
        table="stock_daily",
        map_file=write_map(tmp_path, DAY_MAP),
        out=root,
    )
    n_day = before.filter(pl.col("date") == day).height
    assert (res.rows, res.replaced, res.kept) == (n_day, n_day, before.height - n_day)
    after = pl.read_parquet(root / "stock_daily.parquet")
    assert after.filter(pl.col("date") == day)["close"].unique().to_list() == [12.5]
    old = before.filter(pl.col("date") != day).select("date", "code", "close", "float_mcap")
    new = after.filter(pl.col("date") != day).select("date", "code", "close", "float_mcap")
    assert new.equals(old.cast({"code": pl.String}).sort("date", "code"))
    assert validate(open_dataset(root)).ok
    assert [e["table"] for e in tb.json.loads((root / "manifest.json").read_text())["imports"]] == [
        "stock_daily"
    ]


def test_folder_table_is_replaced_by_the_merged_file(tmp_path: Path) -> None:
    root = write_dataset(market_frames(), tmp_path / "market")  # etf_pcf: hive folder
    pcf = market_frames()["etf_pcf"]
    day = D(2024, 1, 3)
    src = tmp_path / "pcf.parquet"
    pcf.filter(pl.col("date") == day).with_columns(pl.col("quantity") / 100).write_parquet(src)
    m = write_map(tmp_path, "[units]\nquantity = '手'\n")
    res = tb.import_table(src, table="etf_pcf", map_file=m, out=root)
    assert not (root / "etf_pcf").exists() and (root / "etf_pcf.parquet").is_file()
    assert res.kept + res.rows == pcf.height
    got = pl.read_parquet(root / "etf_pcf.parquet").sort("date", "etf_code", "code")
    assert got.select("date", "etf_code", "code", "quantity").equals(
        pcf.sort("date", "etf_code", "code").select("date", "etf_code", "code", "quantity")
    )
    assert validate(open_dataset(root)).ok


def test_failed_validation_leaves_the_dataset_unchanged(tmp_path: Path) -> None:
    root = write_dataset(market_frames(), tmp_path / "parent" / "market")
    before = snapshot(root)
    bad = day_csv(tmp_path, D(2024, 1, 8), close=-1.0)  # negative close: contract error
    with pytest.raises(ValidationError, match="negative"):
        tb.import_table(bad, table="stock_daily", map_file=write_map(tmp_path, DAY_MAP), out=root)
    assert snapshot(root) == before
    unknown = tmp_path / "u.csv"
    unknown.write_text(day_csv(tmp_path, D(2024, 1, 8)).read_text().replace("000001", "000002"))
    with pytest.raises(ValidationError, match=r"code not in stocks\.code"):
        tb.import_table(
            unknown, table="stock_daily", map_file=write_map(tmp_path, DAY_MAP), out=root
        )
    assert snapshot(root) == before


def test_failure_while_moving_in_leaves_the_dataset_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_dataset(market_frames(), tmp_path / "parent" / "market")
    before = snapshot(root)
    real = os.replace

    def failing(src: object, dst: object) -> None:
        if str(dst).endswith("etf_pcf.parquet"):
            raise OSError("disk full")
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(tb.os, "replace", failing)
    src = tmp_path / "pcf.parquet"
    market_frames()["etf_pcf"].filter(pl.col("date") == D(2024, 1, 3)).write_parquet(src)
    with pytest.raises(OSError, match="disk full"):
        tb.import_table(src, table="etf_pcf", map_file=write_map(tmp_path, ""), out=root)
    assert snapshot(root) == before


def test_rows_after_a_date_do_not_change_earlier_rows(tmp_path: Path) -> None:
    """Point in time: perturbing the source rows dated after t leaves the rows <= t as they
    were."""
    text = WIND_CSV.read_bytes().decode("gb18030").splitlines()
    perturbed = [r.replace(",1694.00,", ",9999.00,").replace(",-0.1086,", ",5.0000,") for r in text]
    p = tmp_path / "p.csv"
    p.write_bytes("\n".join(perturbed).encode("gb18030"))
    a = tb.import_table(WIND_CSV, table="stock_daily", map_file=WIND_MAP, out=tmp_path / "a")
    b = tb.import_table(p, table="stock_daily", map_file=WIND_MAP, out=tmp_path / "b")
    fa, fb = pl.read_parquet(a.path), pl.read_parquet(b.path)
    t = D(2024, 1, 2)
    assert fa.filter(pl.col("date") <= t).equals(fb.filter(pl.col("date") <= t))
    assert not fa.equals(fb)


# Excel and Parquet inputs ---------------------------------------------------------------------
def test_excel_input_keeps_codes_and_dates(tmp_path: Path) -> None:
    pytest.importorskip("fastexcel", reason="Excel reading is the optional etfflow[excel] extra")
    pytest.importorskip("xlsxwriter", reason="the test writes its workbook with xlsxwriter")
    src = tmp_path / "etf.xlsx"
    pl.DataFrame(
        {
            "日期": [D(2024, 1, 2), D(2024, 1, 3)],
            "代码": [159915, 510300],  # number cells, as Wind writes codes
            "名称": ["创业板ETF", "沪深300ETF"],
            "份额(万份)": [10.0, 123.5],
            "单位净值": [2.0, 3.5],
        }
    ).write_excel(src, worksheet="行情")
    m = write_map(tmp_path, ETF_DAILY_MAP.split("[dates]")[0] + '[read]\nsheet = "行情"\n')
    res = tb.import_table(src, table="etf_daily", map_file=m, out=tmp_path / "d")
    df = pl.read_parquet(res.path)
    assert df.to_dicts() == [
        {"date": D(2024, 1, 2), "etf_code": "159915.SZ", "shares": 100000.0, "nav": 2.0},
        {"date": D(2024, 1, 3), "etf_code": "510300.SH", "shares": 1235000.0, "nav": 3.5},
    ]


def test_excel_integer_codes_get_their_leading_zeros(tmp_path: Path) -> None:
    pytest.importorskip("fastexcel", reason="Excel reading is the optional etfflow[excel] extra")
    pytest.importorskip("xlsxwriter", reason="the test writes its workbook with xlsxwriter")
    src = tmp_path / "pcf.xlsx"
    pl.DataFrame(
        {"date": ["2024-01-02"], "etf_code": [510300], "code": [1], "quantity": [200.0]}
    ).write_excel(src)
    res = tb.import_table(
        src, table="etf_pcf", map_file=write_map(tmp_path, ""), out=tmp_path / "d"
    )
    assert pl.read_parquet(res.path)["code"].to_list() == ["000001.SZ"]


def test_excel_without_fastexcel_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "x.xlsx"
    src.write_bytes(b"PK\x03\x04")
    monkeypatch.setitem(sys.modules, "fastexcel", None)  # import fastexcel -> ImportError
    with pytest.raises(SourceFileError, match=r"pip install 'etfflow\[excel\]'"):
        tb.import_table(src, table="etf_pcf", map_file=write_map(tmp_path, ""), out=tmp_path / "d")


def test_parquet_input_with_integer_and_datetime_dates(tmp_path: Path) -> None:
    m = write_map(tmp_path, "[rename]\nd = 'date'\n")
    for values in ([20240102, 20240103], [dt.datetime(2024, 1, 2, 15), dt.datetime(2024, 1, 3)]):
        src = tmp_path / "idx.parquet"
        pl.DataFrame(
            {"d": values, "index_code": ["000300.SH"] * 2, "close": [1.0, 2]}
        ).write_parquet(src)
        out = tmp_path / f"d{type(values[0]).__name__}"
        res = tb.import_table(src, table="index_daily", map_file=m, out=out)
        assert pl.read_parquet(res.path)["date"].to_list() == [D(2024, 1, 2), D(2024, 1, 3)]


def test_unknown_file_type(tmp_path: Path) -> None:
    src = tmp_path / "x.json"
    src.write_text("{}")
    with pytest.raises(SourceFileError, match=r"unknown file type '\.json'"):
        tb.import_table(src, table="stocks", map_file=write_map(tmp_path, ""), out=tmp_path / "d")


def test_float_code_cells_and_duplicate_rows(tmp_path: Path) -> None:
    src = tmp_path / "pcf.parquet"
    pl.DataFrame(
        {
            "date": ["2024-01-02"] * 2,
            "etf_code": [510300.0] * 2,
            "code": [1.0, 600000.0],
            "quantity": [1.0, 2.0],
        }
    ).write_parquet(src)
    res = tb.import_table(
        src, table="etf_pcf", map_file=write_map(tmp_path, ""), out=tmp_path / "a"
    )
    assert pl.read_parquet(res.path)["code"].to_list() == ["000001.SZ", "600000.SH"]
    dup = tmp_path / "dup.parquet"
    pl.read_parquet(src).with_columns(code=pl.lit(1.0)).write_parquet(dup)
    with pytest.raises(ValidationError, match="duplicate key"):
        tb.import_table(dup, table="etf_pcf", map_file=write_map(tmp_path, ""), out=tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_out_must_be_a_folder_and_the_earlier_table_must_merge(tmp_path: Path) -> None:
    src = tmp_path / "idx.parquet"
    pl.DataFrame(
        {"date": ["2024-01-02"], "index_code": ["000300.SH"], "close": [1.0]}
    ).write_parquet(src)
    m = write_map(tmp_path, "")
    a_file = tmp_path / "f"
    a_file.write_text("x")
    with pytest.raises(SourceFileError, match="is a file, not a dataset folder"):
        tb.import_table(src, table="index_daily", map_file=m, out=a_file)
    out = tmp_path / "d"
    out.mkdir()
    pl.DataFrame({"date": ["x"], "index_code": ["000300.SH"], "close": [1.0]}).write_parquet(
        out / "index_daily.parquet"
    )  # a text date: not the contract's Date
    before = snapshot(out)
    with pytest.raises(SourceFileError, match="cannot be merged with the table already there"):
        tb.import_table(src, table="index_daily", map_file=m, out=out)
    assert snapshot(out) == before

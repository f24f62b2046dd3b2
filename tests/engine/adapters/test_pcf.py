"""``etfflow import pcf``: the exchanges' PCF XML files into ``etf_pcf`` (issue 12 section 2).

Fixtures (``fixtures/``) were written by hand from the element names in docs/data_sources.md:
a Shanghai file (UTF-8) and two Shenzhen files (GB18030; UTF-8 with a byte-order mark), each
with an in-kind stock, a 退补 cross-market stock, a suspended stock paid in cash, a cash-only
row, a Hong Kong and a Beijing component.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.data_samples import generate_market
from etfflow.engine.adapters import pcf as pcf_mod
from etfflow.engine.adapters.pcf import PcfFileError, import_pcf, parse_pcf_files
from etfflow.engine.loading import open_dataset
from etfflow.engine.lookthrough.api import penetrate
from etfflow.engine.validation import validate
from tests.engine.adapters.pcf_ref import read_pcf_reference
from tests.engine.adapters.pcf_writer import Component, Header, pcf_xml, write_market_pcf
from tests.helpers import examples

FIX = Path(__file__).parent / "fixtures"
SSE_FILE = FIX / "sse_510300_20240103.xml"
SZSE_GB = FIX / "szse_159919_20240103_gb18030.xml"
SZSE_BOM = FIX / "szse_159919_20240104_utf8_bom.xml"
D = dt.date


def strs(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String))


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones too) with the hash of its bytes."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def read_out(out: Path, table: str) -> pl.DataFrame:
    f = out / f"{table}.parquet"
    df = pl.read_parquet(f) if f.is_file() else pl.read_parquet(out / table / "**/*.parquet")
    return strs(df.drop("year", strict=False))


# --- parsing values ------------------------------------------------------------------------


def test_sse_fixture_values(tmp_path: Path) -> None:
    import_pcf([SSE_FILE], tmp_path / "d")
    pcf = read_out(tmp_path / "d", "etf_pcf")
    assert pcf.to_dicts() == [
        {"date": D(2024, 1, 3), "etf_code": "510300.SH", "code": "000001.SZ",
         "quantity": 1600.0, "cash_substitute": "allowed"},
        {"date": D(2024, 1, 3), "etf_code": "510300.SH", "code": "600000.SH",
         "quantity": 1800.0, "cash_substitute": "forbidden"},
        {"date": D(2024, 1, 3), "etf_code": "510300.SH", "code": "600519.SH",
         "quantity": 100.0, "cash_substitute": "required"},
    ]  # fmt: skip
    h = read_out(tmp_path / "d", "pcf_header").row(0, named=True)
    assert (h["creation_unit"], h["nav_per_cu"], h["nav"]) == (900000.0, 3268452.21, 3.6316)
    assert (h["pre_trading_day"], h["cash_component"]) == (D(2024, 1, 2), -96606.21)
    assert (h["estimated_cash_component"], h["exchange"]) == (98023.21, "SSE")
    comp = read_out(tmp_path / "d", "pcf_components")
    suspended = comp.filter(pl.col("code") == "600519.SH").row(0, named=True)
    assert (suspended["cash_amount"], suspended["substitute_flag"]) == (172600.0, 2)
    assert suspended["name"] == "贵州茅台"


def test_szse_gb18030_values(tmp_path: Path) -> None:
    import_pcf([SZSE_GB], tmp_path / "d")
    pcf = read_out(tmp_path / "d", "etf_pcf")
    assert pcf.select("code", "quantity", "cash_substitute").rows() == [
        ("000001.SZ", 1600.0, "forbidden"),
        ("300750.SZ", 200.0, "required"),
        ("600000.SH", 2100.0, "allowed"),
    ]
    comp = read_out(tmp_path / "d", "pcf_components")
    names = dict(comp.select("code", "name").iter_rows())
    assert names["300750.SZ"] == "宁德时代" and names["159900.SZ"] == "申赎现金"
    hk = comp.filter(pl.col("code") == "00700.HK").row(0, named=True)
    assert (hk["cash_amount"], hk["redemption_cash_amount"], hk["premium_ratio"]) == (
        87000.0,
        86500.0,
        0.15,
    )
    h = read_out(tmp_path / "d", "pcf_header").row(0, named=True)
    assert (h["etf_code"], h["nav_per_cu"], h["max_cash_ratio"]) == ("159919.SZ", 3469138.19, 0.4)


def test_utf8_bom_without_declaration_reads_like_gb18030(tmp_path: Path) -> None:
    header, comp = parse_pcf_files([SZSE_GB, SZSE_BOM])
    day3 = comp.filter(pl.col("date") == D(2024, 1, 3)).drop("date")
    day4 = comp.filter(pl.col("date") == D(2024, 1, 4)).drop("date")
    diff = day3.join(day4, on=day3.columns, how="anti")
    assert diff.select("code", "quantity").rows() == [("000001.SZ", 1600.0)]
    assert header["date"].to_list() == [D(2024, 1, 3), D(2024, 1, 4)]


# --- non-A-share rows are counted, never dropped -------------------------------------------


def test_non_a_share_rows_counted_and_kept(tmp_path: Path) -> None:
    s = import_pcf([FIX], tmp_path / "d")
    assert s.n_files == 3 and s.n_etf_days == 3
    assert s.counts == {"a_share": 9, "hk": 3, "bj": 3, "cash": 3, "other": 0}
    assert s.by_exchange == {"SSE": 1, "SZSE": 2}
    assert s.etf_pcf_rows == read_out(tmp_path / "d", "etf_pcf").height == 9
    comp = read_out(tmp_path / "d", "pcf_components")
    assert comp.height == 18  # every component row of every file
    assert comp.group_by("kind").len().sort("kind").rows() == [
        ("a_share", 9),
        ("bj", 3),
        ("cash", 3),
        ("hk", 3),
    ]
    assert any("etf_daily.shares" in n for n in s.not_provided)


def test_cli_prints_counts_and_not_provided(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["import", "pcf", str(FIX), "--out", str(tmp_path / "d")])
    assert r.exit_code == 0, r.output
    out = " ".join(r.stdout.split())
    assert "imported 3 PCF files (SSE 1, SZSE 2)" in out
    for kind, n in (("hk", 3), ("bj", 3), ("cash", 3), ("a_share", 9)):
        assert f"{kind} │ {n}" in out
    assert "not provided by PCF files: etf_daily.shares" in out


# --- merge by ETF-day ----------------------------------------------------------------------


def _rewrite(src: Path, dst: Path, old: str, new: str) -> Path:
    data = src.read_bytes()
    enc = "gb18030" if "gb18030" in src.name else "utf-8"
    text = data.decode(enc)
    assert old in text
    dst.write_bytes(text.replace(old, new).encode(enc))
    return dst


def test_merge_replaces_an_etf_day_and_keeps_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "d"
    import_pcf([SSE_FILE, SZSE_GB], out)
    before = read_out(out, "etf_pcf")
    changed = _rewrite(SZSE_GB, tmp_path / "szse_gb18030.xml", "1600.00", "1900.00")
    s = import_pcf([changed, SZSE_BOM], out)
    assert s.replaced_etf_days == 1
    after = read_out(out, "etf_pcf")
    key = ["date", "etf_code", "code"]
    assert after.filter(pl.col("etf_code") == "510300.SH").equals(
        before.filter(pl.col("etf_code") == "510300.SH")
    )
    sz = after.filter(pl.col("etf_code") == "159919.SZ")
    q = {(d, c): x for d, c, x in sz.select("date", "code", "quantity").iter_rows()}
    assert q[D(2024, 1, 3), "000001.SZ"] == 1900.0
    assert q[D(2024, 1, 4), "000001.SZ"] == 1700.0
    assert after.height == 9 and after.select(key).is_unique().all()
    assert read_out(out, "pcf_header").height == 3
    assert read_out(out, "pcf_components").height == 18


def test_same_etf_day_twice_in_one_import_is_an_error(tmp_path: Path) -> None:
    copy = shutil.copy(SSE_FILE, tmp_path / "copy.xml")
    with pytest.raises(PcfFileError, match=r"repeats the ETF-day 510300.SH 2024-01-03"):
        import_pcf([SSE_FILE, copy], tmp_path / "d")
    assert not (tmp_path / "d").exists()


# --- bad input: clear error, nothing written -----------------------------------------------

BAD = [
    # (source fixture, old text, new text, element named, words in the message)
    (SSE_FILE, "</ComponentList>", "</ComponentLis>", None, "not well-formed XML"),
    (SSE_FILE, "<TradingDay>20240103</TradingDay>", "", "TradingDay", "missing"),
    (SSE_FILE, "<InstrumentID>600000</InstrumentID>", "<InstrumentID>600000.XX</InstrumentID>",
     "InstrumentID", "unknown exchange suffix .XX"),
    (SZSE_GB, "<UnderlyingSecurityIDSource>103</UnderlyingSecurityIDSource>",
     "<UnderlyingSecurityIDSource>107</UnderlyingSecurityIDSource>",
     "UnderlyingSecurityID", "unknown market code '107'"),
    (SZSE_GB, "<SubstituteFlag>0</SubstituteFlag>", "<SubstituteFlag>9</SubstituteFlag>",
     "SubstituteFlag", "'9'"),
    (SSE_FILE, "<Quantity>1800</Quantity>", "<Quantity>1,800</Quantity>", "Quantity",
     "not a number"),
    (SZSE_GB, "<CreationCashSubstitute>34012.00</CreationCashSubstitute>",
     "<CreationCashSubstitute>34,012.00</CreationCashSubstitute>", "CreationCashSubstitute",
     "not a number: '34,012.00'"),
    (SZSE_GB, "<RecordNum>6</RecordNum>", "<RecordNum>7</RecordNum>", "RecordNum",
     "says 7 components but the file lists 6"),
    (SSE_FILE, "SSEPortfolioCompositionFile>", "ETFDefinition>", None, "root <ETFDefinition>"),
    (SZSE_GB, "<UnderlyingSecurityID>430047</UnderlyingSecurityID>\n      "
     "<UnderlyingSecurityIDSource>106</UnderlyingSecurityIDSource>",
     "<UnderlyingSecurityID>AB0047</UnderlyingSecurityID>", "UnderlyingSecurityID",
     "'AB0047', which maps to no exchange"),
]  # fmt: skip


@pytest.mark.parametrize("existing", [False, True], ids=["new_out", "existing_out"])
@pytest.mark.parametrize(("src", "old", "new", "element", "words"), BAD)
def test_bad_input_names_file_element_example_and_writes_nothing(
    tmp_path: Path, src: Path, old: str, new: str, element: str | None, words: str, existing: bool
) -> None:
    out = tmp_path / "d"
    if existing:
        import_pcf([SZSE_BOM], out)
    before = tree_digest(tmp_path)
    bad = _rewrite(src, tmp_path / f"bad_{src.name}", old, new)
    before[bad.name] = hashlib.sha256(bad.read_bytes()).hexdigest()
    with pytest.raises(PcfFileError) as err:
        import_pcf([SZSE_BOM, bad], out)
    msg = str(err.value)
    assert f"file {bad}" in msg and words in msg
    assert "example rows" in msg or element is None
    if element is not None:
        assert f"<{element}>" in msg and err.value.element == element
    assert tree_digest(tmp_path) == before  # nothing written, no temporary folder left


def test_cli_bad_file_exits_1_with_file_name(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<SSEPortfolioCompositionFile><FundInstrumentID>5", encoding="utf-8")
    r = CliRunner().invoke(app, ["import", "pcf", str(bad), "--out", str(tmp_path / "d")])
    assert r.exit_code == 1
    err = " ".join(r.stderr.split())
    assert "bad.xml is not well-formed XML" in err and "nothing was written" in err
    assert not (tmp_path / "d").exists()


# --- atomic writes -------------------------------------------------------------------------


def test_failure_while_writing_leaves_out_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "d"
    import_pcf([SZSE_BOM], out)
    before = tree_digest(tmp_path)
    real = pcf_mod._write_by_year
    calls = []

    def failing(df: pl.DataFrame, folder: Path) -> None:
        calls.append(folder)
        if len(calls) == 2:
            raise OSError("disk full")
        real(df, folder)

    monkeypatch.setattr(pcf_mod, "_write_by_year", failing)
    with pytest.raises(OSError, match="disk full"):
        import_pcf([SSE_FILE], out)
    assert tree_digest(tmp_path) == before


def test_failure_while_swapping_puts_every_old_table_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "d"
    import_pcf([SZSE_BOM], out)
    before = tree_digest(tmp_path)
    real = os.replace
    moved_in = []

    def failing(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        if Path(dst).is_relative_to(out):
            moved_in.append(dst)
            if len(moved_in) == 2:  # the second partition moved into place fails
                raise OSError("device busy")
        real(src, dst)

    monkeypatch.setattr(pcf_mod.os, "replace", failing)
    with pytest.raises(OSError, match="device busy"):
        import_pcf([SSE_FILE], out)
    monkeypatch.setattr(pcf_mod.os, "replace", real)
    assert tree_digest(tmp_path) == before


# --- round trip through both exchanges' formats -------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_market(tmp_path_factory.mktemp("pcf_tiny") / "m", size="tiny", seed=1)


def _market_files(tiny: Path, folder: Path, *, etfs: int | None = None) -> pl.DataFrame:
    ds = open_dataset(tiny)
    pcf = strs(ds.frame("etf_pcf").collect())
    if etfs is not None:
        keep = pcf["etf_code"].unique().sort().head(etfs)
        pcf = pcf.filter(pl.col("etf_code").is_in(keep.implode()))
    write_market_pcf(pcf, ds.frame("etfs").collect(), ds.frame("etf_daily").collect(), folder)
    return pcf


def test_round_trip_synthetic_market_both_formats(tiny: Path, tmp_path: Path) -> None:
    files = tmp_path / "files"
    original = _market_files(tiny, files)
    names = sorted(p.name[:3] for p in files.iterdir())
    assert "sh_" in names and "sz_" in names  # both exchanges' formats are exercised
    out = tmp_path / "m"
    shutil.copytree(tiny, out, ignore=shutil.ignore_patterns("etf_pcf"))
    s = import_pcf([files], out)
    assert s.counts["a_share"] == original.height and s.replaced_etf_days == 0
    ds = open_dataset(out)
    assert strs(ds.frame("etf_pcf").collect()).equals(original)  # exact quantities and flags
    report = validate(ds)
    assert report.ok, [e.message for e in report.errors]
    header = read_out(out, "pcf_header")
    etfs = strs(ds.frame("etfs").collect())
    units = header.join(etfs, on="etf_code").select("creation_unit", "creation_unit_right")
    assert units["creation_unit"].equals(units["creation_unit_right"], check_names=False)
    a = penetrate(open_dataset(tiny)).stocks
    b = penetrate(ds).stocks
    assert a.columns == b.columns and a.height == b.height
    for c in a.columns:
        if a.schema[c] == pl.Float64:
            x, y = a[c].to_numpy(), b[c].to_numpy()
            both = ~(pl.Series(x).is_nan() | pl.Series(y).is_nan()).to_numpy()
            assert ((abs(x - y) <= 1e-9 * abs(x) + 1e-300) | ~both).all(), c
        else:
            assert a[c].equals(b[c]), c


def test_rows_dated_t_do_not_depend_on_later_files(tiny: Path, tmp_path: Path) -> None:
    """Perturb every file after t: what is dated <= t is identical."""
    files = tmp_path / "files"
    pcf = _market_files(tiny, files, etfs=3)
    days = pcf["date"].unique().sort()
    t = days[len(days) // 2]
    early = [p for p in files.iterdir() if dt.datetime.strptime(p.stem[-8:], "%Y%m%d").date() <= t]
    import_pcf(early, tmp_path / "a")
    for p in files.iterdir():
        if dt.datetime.strptime(p.stem[-8:], "%Y%m%d").date() > t:
            enc = "gb18030" if b"GB18030" in p.read_bytes()[:60] else "utf-8"
            text = p.read_bytes().decode(enc)
            p.write_bytes(text.replace(".0</Quantity>", "1.0</Quantity>").encode(enc))
    import_pcf([files], tmp_path / "b")
    for table in ("etf_pcf", "pcf_components", "pcf_header"):
        a = read_out(tmp_path / "a", table)
        b = read_out(tmp_path / "b", table).filter(pl.col("date") <= t)
        assert a.equals(b), table
    assert read_out(tmp_path / "b", "etf_pcf")["date"].max() > t


# --- fast parser vs its reference twin -----------------------------------------------------

CODES = ["600000.SH", "601398.SH", "688981.SH", "000001.SZ", "300750.SZ", "159900.SZ",
         "00700.HK", "09988.HK", "430047.BJ", "830799.BJ"]  # fmt: skip


@st.composite
def pcf_files(draw: st.DrawFn) -> tuple[str, str, Header, list[Component]]:
    exchange = draw(st.sampled_from(["SH", "SZ"]))
    encoding = draw(st.sampled_from(["UTF-8", "GB18030"]))
    codes = draw(st.lists(st.sampled_from(CODES), min_size=0, max_size=8, unique=True))
    quantity = st.one_of(
        st.just(0.0),
        st.integers(1, 10**7).map(float),
        st.floats(0.01, 1e9, allow_nan=False, allow_infinity=False),
    )
    comps = [
        Component(
            c,
            draw(quantity),
            draw(st.integers(0, 6)),
            draw(st.none() | st.floats(0, 1e8, allow_nan=False)),
            name=draw(st.sampled_from(["", "浦发银行", "腾讯控股", "A&B <x>"])),
        )
        for c in codes
    ]
    day = draw(st.dates(D(2015, 1, 1), D(2030, 12, 31)))
    unit = draw(st.integers(1, 10**7).map(float))
    h = Header("510300" if exchange == "SH" else "159919", day, day, unit, unit * 1.5, 1.5)
    return exchange, encoding, h, comps


@settings(max_examples=examples(60))
@given(pcf_files())
def test_parser_matches_reference_twin(
    tmp_path_factory: pytest.TempPathFactory, f: tuple[str, str, Header, list[Component]]
) -> None:
    exchange, encoding, h, comps = f
    path = tmp_path_factory.mktemp("hyp") / "f.xml"
    path.write_bytes(pcf_xml(h, comps, exchange=exchange, encoding=encoding))
    header, comp = parse_pcf_files([path])
    ref_header, ref_rows = read_pcf_reference(path.read_bytes())
    got = comp.select("date", "etf_code", "code", "kind", "quantity", "cash_substitute")
    want = pl.DataFrame(ref_rows, schema=got.schema).sort("date", "etf_code", "code")
    assert got.equals(want)
    row = header.row(0, named=True)
    assert {k: row[k] for k in ref_header} == ref_header

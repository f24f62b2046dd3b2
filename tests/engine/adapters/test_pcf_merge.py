"""``import_pcf`` merges incrementally: only the year partitions a delivery touches (issue 12).

The tiny synthetic market (2023-10 to 2024-05) is written as the exchanges' PCF files and
imported in pieces; the tables must equal a one-shot import byte for byte, untouched
partitions must keep their file (inode, mtime), and a failure at any write or move must leave
the dataset folder byte-identical.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.data_samples import generate_market
from etfflow.engine.adapters import pcf as pcf_mod
from etfflow.engine.adapters.pcf import import_pcf
from etfflow.engine.loading import open_dataset
from etfflow.engine.validation import validate
from tests.engine.adapters.pcf_writer import Component, Header, fast_pcf_xml, pcf_xml
from tests.engine.adapters.test_pcf import (
    SSE_FILE,
    _market_files,
    read_out,
    strs,
    tree_digest,
)
from tests.helpers import examples

TABLES = ("etf_pcf", "pcf_components", "pcf_header")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """The tiny market's PCF files (4 ETFs), by month ``YYYY-MM``."""
    root = tmp_path_factory.mktemp("pcf_merge")
    tiny = generate_market(root / "m", size="tiny", seed=1)
    folder = root / "files"
    _market_files(tiny, folder, etfs=4)
    by_month: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        by_month.setdefault(f"{p.stem[-8:-4]}-{p.stem[-4:-2]}", []).append(p)
    assert len(by_month) == 8 and {m[:4] for m in by_month} == {"2023", "2024"}
    return by_month


def months(files: dict[str, list[Path]], *wanted: str) -> list[Path]:
    return [p for m in wanted for p in files[m]]


def stamps(out: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every partition file."""
    return {
        str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(out.rglob("*.parquet"))
    }


def same_tables(a: Path, b: Path) -> None:
    """The same partition files, each with exactly the same rows in the same order and the
    same sorted mark (the bytes may differ: a streamed append groups rows differently)."""
    fa = sorted(p.relative_to(a) for p in a.rglob("*.parquet"))
    assert fa == sorted(p.relative_to(b) for p in b.rglob("*.parquet"))
    for f in fa:
        x, y = pl.read_parquet(a / f), pl.read_parquet(b / f)
        assert x.schema == y.schema, f
        assert strs(x).equals(strs(y)), f
        mark = pcf_mod.SORTED_KEY
        assert pl.read_parquet_metadata(a / f)[mark] == pl.read_parquet_metadata(b / f)[mark]


def test_month_by_month_equals_one_shot(files: dict[str, list[Path]], tmp_path: Path) -> None:
    one, inc = tmp_path / "one", tmp_path / "inc"
    s = import_pcf([p for m in files for p in files[m]], one)
    total = 0
    for m in files:
        total += import_pcf(files[m], inc).n_etf_days
    assert total == s.n_etf_days
    assert sorted(p.relative_to(one).as_posix() for p in one.rglob("*.parquet")) == [
        f"{t}/year={y}/data.parquet" for t in TABLES for y in (2023, 2024)
    ]
    same_tables(inc, one)


def test_out_of_order_delivery_equals_one_shot(
    files: dict[str, list[Path]], tmp_path: Path
) -> None:
    """A delivery dated inside the history (not after it) is merged in order too."""
    one, inc = tmp_path / "one", tmp_path / "inc"
    import_pcf([p for m in files for p in files[m]], one)
    order = ["2024-05", "2023-10", "2024-02", "2023-12", "2024-01", "2023-11", "2024-04"]
    for m in order:
        import_pcf(files[m], inc)
    import_pcf(files["2024-03"], inc)
    same_tables(inc, one)
    for t in TABLES:
        df = read_out(inc, t)
        assert df.equals(df.sort([c for c in ("date", "etf_code", "code") if c in df.columns]))


def test_only_the_touched_years_are_read_and_rewritten(
    files: dict[str, list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "d"
    import_pcf(months(files, "2023-10", "2023-11", "2023-12", "2024-01"), out)
    before = stamps(out)
    scanned: list[Path] = []
    real_scan = pl.scan_parquet

    def spy(source: Path, *args: object, **kwargs: object) -> pl.LazyFrame:
        scanned.extend(Path(f) for f in (source if isinstance(source, list) else [source]))
        return real_scan(source, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pcf_mod.pl, "scan_parquet", spy)
    s = import_pcf(files["2024-02"], out)
    monkeypatch.undo()
    assert s.replaced_etf_days == 0
    assert sorted({p.relative_to(out).as_posix() for p in scanned}) == [
        f"{t}/year=2024/data.parquet" for t in ("etf_pcf", "pcf_components", "pcf_header")
    ]
    after = stamps(out)
    assert before.keys() == after.keys()
    for name, stamp in before.items():
        if "year=2023" in name:
            assert after[name] == stamp, name  # same file: not rewritten
        else:
            assert after[name][0] != stamp[0], name  # a new file moved into place
    feb = read_out(out, "pcf_header").filter(pl.col("date").dt.month() == 2)
    assert feb.height == len(files["2024-02"])


def test_reimport_is_idempotent_and_counts_replaced_days(
    files: dict[str, list[Path]], tmp_path: Path
) -> None:
    out = tmp_path / "d"
    every = [p for m in files for p in files[m]]
    import_pcf(every, out)
    copy = shutil.copytree(out, tmp_path / "first")
    s = import_pcf(every, out)
    assert s.replaced_etf_days == s.n_etf_days == len(every)
    same_tables(out, copy)
    # a delivery overlapping both years: only its own ETF-days count as replaced
    s = import_pcf(months(files, "2023-12", "2024-01"), out)
    assert s.replaced_etf_days == len(files["2023-12"]) + len(files["2024-01"])
    same_tables(out, copy)


def _legacy(out: Path) -> None:
    """Turn ``out`` into the layout of older versions: one ``pcf_header.parquet`` file."""
    header = read_out(out, "pcf_header").with_columns(pl.col("etf_code").cast(pl.Categorical))
    shutil.rmtree(out / "pcf_header")
    header.write_parquet(out / "pcf_header.parquet")


def test_old_single_file_header_is_read_and_converted(
    files: dict[str, list[Path]], tmp_path: Path
) -> None:
    one, inc = tmp_path / "one", tmp_path / "inc"
    import_pcf([p for m in files for p in files[m]], one)
    import_pcf(months(files, "2023-10", "2023-11", "2023-12", "2024-01", "2024-02"), inc)
    _legacy(inc)
    s = import_pcf(months(files, "2024-02", "2024-03", "2024-04", "2024-05"), inc)
    assert s.replaced_etf_days == len(files["2024-02"])  # read from the old single file
    assert not (inc / "pcf_header.parquet").exists()
    same_tables(inc, one)


ATOMIC_CASES = {
    # (months already imported, months delivered, old single-file header)
    "both_years_inside": (("2023-10", "2023-11", "2024-03"), ("2023-12", "2024-01"), False),
    "new_year": (("2023-10", "2023-11"), ("2023-12", "2024-01"), False),
    "legacy_header": (("2023-10", "2024-01"), ("2023-11", "2024-02"), True),
}


@pytest.mark.parametrize("case", ATOMIC_CASES)
@pytest.mark.parametrize("where", ["os.replace", "write"])
def test_failure_at_any_step_leaves_out_byte_identical(
    files: dict[str, list[Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    where: str,
) -> None:
    """Fail the k-th move (or partition write) of a multi-year delivery, for every k."""
    have, deliver, legacy = ATOMIC_CASES[case]
    out = tmp_path / "d"
    import_pcf(months(files, *have), out)
    if legacy:
        _legacy(out)
    before = tree_digest(tmp_path)
    stamps_before = stamps(out)
    real_replace, real_write = os.replace, pcf_mod._write_part
    calls = [0]
    fail_at = [0]

    def count(fn: Callable[..., None]) -> Callable[..., None]:
        def wrapped(*args: object, **kwargs: object) -> None:
            calls[0] += 1
            if calls[0] == fail_at[0]:
                raise OSError(f"injected failure at call {calls[0]}")
            fn(*args, **kwargs)

        return wrapped

    if where == "os.replace":
        monkeypatch.setattr(pcf_mod.os, "replace", count(real_replace))
    else:
        monkeypatch.setattr(pcf_mod, "_write_part", count(real_write))
    # a dry run on a copy counts the calls of a successful import
    shutil.copytree(out, tmp_path / "copy")
    import_pcf(months(files, *deliver), tmp_path / "copy")
    n = calls[0]
    shutil.rmtree(tmp_path / "copy")
    assert n >= 6  # 3 tables x 2 years: several writes and moves to fail at
    for k in range(1, n + 1):
        calls[0], fail_at[0] = 0, k
        with pytest.raises(OSError, match=f"injected failure at call {k}"):
            import_pcf(months(files, *deliver), out)
        assert tree_digest(tmp_path) == before, k  # no temporary folder left either
        assert stamps(out) == stamps_before, k
    fail_at[0] = 0
    import_pcf(months(files, *deliver), out)  # and then it goes through
    assert read_out(out, "pcf_header").height == len(months(files, *have, *deliver))


def test_a_year_left_without_a_share_rows_loses_its_partition(tmp_path: Path) -> None:
    out = tmp_path / "d"
    import_pcf([SSE_FILE], out)
    assert (out / "etf_pcf" / "year=2024").is_dir()
    day = dt.date(2024, 1, 3)
    h = Header("510300", day, dt.date(2024, 1, 2), 900000.0, 3e6, 3.3)
    hk_only = tmp_path / "hk_only.xml"
    hk_only.write_bytes(pcf_xml(h, [Component("00700.HK", 100.0, 1, 1e4)], exchange="SH"))
    s = import_pcf([hk_only], out)
    assert s.replaced_etf_days == 1 and s.etf_pcf_rows == 0
    assert not (out / "etf_pcf" / "year=2024").exists()
    assert read_out(out, "pcf_components")["code"].to_list() == ["00700.HK"]


def test_imported_market_validates(files: dict[str, list[Path]], tmp_path: Path) -> None:
    """The month-by-month import into a market folder passes ``etfflow validate``."""
    tiny = generate_market(tmp_path / "m", size="tiny", seed=1)
    out = tmp_path / "v"
    shutil.copytree(tiny, out, ignore=shutil.ignore_patterns("etf_pcf"))
    for m in files:
        import_pcf(files[m], out)
    report = validate(open_dataset(out))
    assert report.ok, [e.message for e in report.errors]
    r = CliRunner().invoke(app, ["validate", str(out)])
    assert r.exit_code == 0, r.output


def test_partition_without_sorted_mark_is_sorted_before_appending(
    files: dict[str, list[Path]], tmp_path: Path
) -> None:
    """A partition written by something else (no ``etfflow.sorted_by`` mark) is not trusted."""
    one, inc = tmp_path / "one", tmp_path / "inc"
    import_pcf(months(files, "2023-10", "2023-11"), one)
    import_pcf(files["2023-10"], inc)
    for t in TABLES:
        f = inc / t / "year=2023" / "data.parquet"
        df = pl.read_parquet(f)
        df.reverse().write_parquet(f)  # reversed, without the mark
        assert pcf_mod.SORTED_KEY not in pl.read_parquet_metadata(f)
    import_pcf(files["2023-11"], inc)
    same_tables(inc, one)


# --- the market writer's fast path (tests and benchmarks) writes the reference bytes ---------

MARKET_CODES = ["600000.SH", "688981.SH", "000001.SZ", "300750.SZ", "00700.HK", "430047.BJ"]


@settings(max_examples=examples(60))
@given(
    exchange=st.sampled_from(["SH", "SZ"]),
    encoding=st.sampled_from(["UTF-8", "GB18030"]),
    rows=st.lists(
        st.tuples(
            st.sampled_from(MARKET_CODES),
            st.floats(0, 1e9, allow_nan=False),
            st.sampled_from([0, 1, 2]),
        ),
        max_size=6,
    ),
    unit=st.floats(1, 1e7, allow_nan=False),
    nav=st.floats(0.001, 100, allow_nan=False),
    cash=st.floats(-1e7, 1e7, allow_nan=False),
    day=st.dates(dt.date(2015, 1, 2), dt.date(2030, 12, 31)),
)
def test_fast_writer_equals_element_tree_writer(
    exchange: str,
    encoding: str,
    rows: list[tuple[str, float, int]],
    unit: float,
    nav: float,
    cash: float,
    day: dt.date,
) -> None:
    h = Header("510300", day, day - dt.timedelta(days=1), unit, unit * nav, nav, cash, -cash)
    codes, qty, flags = ([r[i] for r in rows] for i in range(3))
    fast = fast_pcf_xml(h, codes, qty, flags, exchange=exchange, encoding=encoding)  # type: ignore[arg-type]
    ref = pcf_xml(h, [Component(c, q, f) for c, q, f in rows], exchange=exchange, encoding=encoding)
    assert fast == ref

"""``etfflow market``: the terminal tables, the export folder, the HTML page, exit codes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.data_samples import generate_market
from etfflow.engine import overview as ov
from etfflow.pipeline.market import SCHEMAS, run_market

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli_market") / "tiny"
    generate_market(root, size="tiny", seed=3)
    return root


def frames(root: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return (
        pl.read_parquet(root / "etfs.parquet"),
        pl.read_parquet(root / "etf_daily.parquet"),
        pl.read_parquet(root / "stock_daily.parquet"),
    )


def test_market_command_export_and_html(tiny: Path, tmp_path: Path) -> None:
    out, page = tmp_path / "export", tmp_path / "m.html"
    out.mkdir()
    (out / "stale.parquet").write_bytes(b"old")  # the folder is replaced as a whole
    r = runner.invoke(app, ["market", str(tiny), "--export", str(out), "--html", str(page)])
    assert r.exit_code == 0, r.output
    for text in ("ETF count and AUM", "against the market", "Top 10", "Bottom 5", "exported"):
        assert text in r.stdout, text
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.parquet" for n in SCHEMAS)
    etfs, ed, sd = frames(tiny)
    expected = {
        "by_year": ov.by_year(etfs, ed, sd),
        "vs_market": ov.vs_market(etfs, ed, sd),
        "inflow_by_index": ov.inflow_by_index(etfs, ed, sd),
    }
    for name, schema in SCHEMAS.items():
        got = pl.read_parquet(out / f"{name}.parquet")
        assert got.schema == schema, name
        assert got.height > 0 and got.equals(expected[name]), name
    # the top index by cumulative inflow is printed first
    top = ov.ranking(expected["inflow_by_index"])["index_code"][0]
    assert top in r.stdout
    # year-end AUM of the last year = Σ S·N on the data's last date
    last = ed.filter(pl.col("date") == ed["date"].max())
    by = expected["by_year"].filter(pl.col("category") == "all")
    assert by["aum"][-1] == pytest.approx(float((last["shares"] * last["nav"]).sum()))
    assert by["n_etf"][-1] == last.height
    text = page.read_text(encoding="utf-8")
    assert text.count("<svg") == 3 and "<script" not in text and "http://" not in text.lower()
    assert "by_year" in text and "inflow" in text


def test_market_start(tiny: Path) -> None:
    _, ed, _ = frames(tiny)
    dates = ed["date"].unique().sort()
    start = dates[len(dates) // 2]
    run = run_market(tiny, start=str(start), check=False)
    flow = run.result.inflow_by_index
    assert flow["date"].min() == start
    full = run_market(tiny, check=False).result.inflow_by_index
    # the daily inflow from start is the same; cumulative restarts at start
    part = full.filter(pl.col("date") >= start).drop("cumulative")
    assert (
        flow.drop("cumulative").sort("index_code", "date").equals(part.sort("index_code", "date"))
    )


@pytest.mark.parametrize(
    ("start", "message"),
    [("2024-13-01", "not a date"), ("yesterday", "not a date"), ("2999-01-01", "after the last")],
)
def test_market_bad_start_exit_1(tiny: Path, start: str, message: str) -> None:
    r = runner.invoke(app, ["market", str(tiny), "--start", start])
    assert r.exit_code == 1
    assert message in r.stderr and "--start" in r.stderr


def test_market_bad_start_writes_nothing(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    r = runner.invoke(app, ["market", str(tiny), "--start", "2999-01-01", "--export", str(out)])
    assert r.exit_code == 1 and not out.exists()


def test_parse_start_accepts_dates() -> None:
    from etfflow.pipeline.market import parse_start

    assert parse_start(" 2024-01-02 ") == dt.date(2024, 1, 2)
    assert parse_start(dt.date(2024, 1, 2)) == dt.date(2024, 1, 2)
    assert parse_start(None) is None


def test_market_bad_data_exit_1_names_table(tiny: Path, tmp_path: Path) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny, bad)
    ed = pl.read_parquet(bad / "etf_daily.parquet")
    ed.with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(-1.0).otherwise("shares").alias("shares")
    ).write_parquet(bad / "etf_daily.parquet")
    out = tmp_path / "export"
    r = runner.invoke(app, ["market", str(bad), "--export", str(out)])
    assert r.exit_code == 1
    assert "etf_daily" in r.stderr and "shares" in r.stderr
    assert not out.exists()


def test_html_of_empty_tables_says_no_values() -> None:
    from etfflow.pipeline.market import MarketOverview, render_html

    empty = MarketOverview(*(pl.DataFrame(schema=s) for s in SCHEMAS.values()))
    page = render_html(empty, cjk=False)
    assert page.count("<svg") == 3 and page.count("no values") == 3

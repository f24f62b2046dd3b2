"""The failures a new user hits (issue 8 §2) through the typer CLI: store paths, corrupt
files, escaped text, exit codes, terminal width, default processing, README SQL, ``sql``."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.cli._ui import fit_table, print_table
from etfflow.cli.backtest import SUMMARY_COLUMNS, _cell
from etfflow.data_samples import generate_market
from etfflow.engine.store import open_store

runner = CliRunner()
README = Path(__file__).resolve().parents[2] / "README.md"
WIDE_ENV = {"COLUMNS": "400"}  # long tmp paths stay on one line


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return generate_market(tmp_path_factory.mktemp("cli3") / "tiny", size="tiny", seed=3)


def _plain(cell: str) -> str:
    return Text.from_markup(cell).plain


# ---------------------------------------------------------------- --store paths


def test_parquet_store_is_refused_before_any_work(tiny, tmp_path):
    """`--store some.parquet` used to exit 0 with "stored run ... in some.parquet" and keep
    nothing (DuckDB opened the Parquet file as a view)."""
    target = tmp_path / "some.parquet"
    pl.DataFrame({"a": [1, 2]}).write_parquet(target)
    before = target.read_bytes()
    for args in (
        ["factors", "compute", str(tiny), "--factors", "revs_20", "--store", str(target)],
        ["penetrate", str(tiny), "--store", str(target)],
    ):
        r = runner.invoke(app, args, env=WIDE_ENV)
        assert r.exit_code == 1, r.output
        assert "is a Parquet file, not a DuckDB database" in r.stderr
        assert "stored run" not in r.stdout
    assert target.read_bytes() == before
    r = runner.invoke(
        app, ["penetrate", str(tiny), "--store", str(tmp_path / "new.parquet")], env=WIDE_ENV
    )
    assert r.exit_code == 1 and "names a .parquet file" in r.stderr
    assert not (tmp_path / "new.parquet").exists()


def test_reading_commands_never_create_a_store(tmp_path):
    typo = tmp_path / "typo.duckdb"
    for args in (
        ["backtest", "--store", str(typo)],
        ["report", "--store", str(typo), "--run", "ba-x"],
        ["sql", "--store", str(typo), "SELECT 1"],
        ["store", "compact", "--store", str(typo)],
    ):
        r = runner.invoke(app, args, env=WIDE_ENV)
        assert r.exit_code == 1, (args, r.output)
        assert f"no store at {typo}" in r.stderr, args
        assert not typo.exists(), args


# ---------------------------------------------------------------- corrupt files


def _corrupt_copies(tiny: Path, root: Path) -> dict[str, tuple[Path, str, Path]]:
    """Three broken copies of the market: (folder, table, broken file)."""
    cases = {}
    d = root / "random"
    shutil.copytree(tiny, d)
    f = d / "stocks.parquet"
    f.write_bytes(np.random.default_rng(0).bytes(4096))
    cases["random"] = (d, "stocks", f)
    d = root / "csv"
    shutil.copytree(tiny, d)
    f = d / "stock_daily.parquet"
    pl.read_parquet(f).head(50).write_csv(f)
    cases["csv"] = (d, "stock_daily", f)
    d = root / "truncated"
    shutil.copytree(tiny, d)
    f = sorted((d / "etf_pcf").rglob("*.parquet"))[0]
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    cases["truncated"] = (d, "etf_pcf", f)
    return cases


@pytest.mark.parametrize("case", ["random", "csv", "truncated"])
def test_corrupt_parquet_is_one_paragraph_naming_table_and_file(tiny, tmp_path, case):
    folder, table, bad = _corrupt_copies(tiny, tmp_path)[case]
    for args in (
        ["validate", str(folder)],
        ["penetrate", str(folder), "--store", str(tmp_path / "s.duckdb")],
        ["factors", "compute", str(folder), "--store", str(tmp_path / "s.duckdb")],
    ):
        r = runner.invoke(app, args, env=WIDE_ENV)
        assert r.exit_code == 1, (args, r.output)
        assert isinstance(r.exception, SystemExit), r.exception
        assert "Traceback" not in r.output
        assert f"table '{table}'" in r.stderr and str(bad) in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) <= 3, r.stderr
    assert not (tmp_path / "s.duckdb").exists()


# ---------------------------------------------------------------- escaping, exit codes


def test_factors_list_prints_brackets():
    """rich used to eat `[t-n]` as markup: `share_passive_fund - share_passive_fund`."""
    r = runner.invoke(app, ["factors", "list"], env=WIDE_ENV)
    assert r.exit_code == 0, r.output
    assert "share_passive_fund[t] - share_passive_fund[t-n]" in r.stdout
    assert "mean(w_passive[t-n+1..t])" in r.stdout


def test_error_messages_are_printed_verbatim(tiny, tmp_path):
    r = runner.invoke(
        app,
        ["factors", "compute", str(tiny), "--factors", "x[t-n]", "--store", str(tmp_path / "s")],
        env=WIDE_ENV,
    )
    assert r.exit_code == 1
    assert "x[t-n]" in r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate"], "Missing argument"),
        (["validate", "{tmp}/nope"], "does not exist"),
        (["penetrate", "{tmp}/nope"], "does not exist"),
        (["factors", "compute"], "Missing argument"),
        (["backtest", "--lag", "soon"], "valid integer"),
        (["backtest", "--store", "{tmp}/s.duckdb", "--rebalance", "weekly"], "--rebalance"),
        (["backtest", "--store", "{tmp}"], "directory"),
        (["generate", "--size", "huge", "--out", "{tmp}/m"], "choose one of"),
        (["sql"], "Missing argument"),
        (["nosuch"], "No such command"),
        (["factors", "nosuch"], "No such command"),
        (["--bogus"], "No such option"),
    ],
)
def test_usage_errors_exit_1(tmp_path, args, message):
    """The README promises exit code 1 for user errors; click's usage errors were 2."""
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = runner.invoke(app, args, env=WIDE_ENV)
    assert r.exit_code == 1, (args, r.exit_code, r.output)
    assert message in r.output


# ---------------------------------------------------------------- terminal width


def _wide_table() -> tuple[Table, list[str]]:
    t = Table(title="summary")
    t.add_column("factor", no_wrap=True)
    cells = []
    for j in range(12):
        t.add_column(f"metric number {j}", justify="right")
    for i in range(4):
        row = [f"{(-1) ** (i + j) * (54.5 + 1000.123 * i + j):,.4f}%" for j in range(12)]
        cells += row
        t.add_row(f"passive_inflow_corr_w_{i}", *row)
    return t, cells


@pytest.mark.parametrize("width", [80, 100])
def test_tables_are_split_never_cut(width):
    table, cells = _wide_table()
    buf = io.StringIO()
    c = Console(file=buf, width=width, force_terminal=False, color_system=None)
    parts = fit_table(table, width, c=c)
    assert len(parts) > 1
    for p in parts:
        c.print(p)
    out = buf.getvalue()
    tokens = set(re.split(r"[\s│┃|]+", out))
    assert all(cell in tokens for cell in cells)
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= width
    assert out.count("passive_inflow_corr_w_0") == len(parts)  # key column repeated


def test_split_table_titles_use_the_console_width():
    table, _ = _wide_table()
    table.title = "stock factors: 10 groups, rebalance 20, lag 1, universe default, processing x"
    buf = io.StringIO()
    c = Console(file=buf, width=100, force_terminal=False, color_system=None)
    print_table(table, c=c)
    lines = buf.getvalue().splitlines()
    # each part's title is one line (it fits in 100 columns), never wrapped to the table
    assert f"{table.title} (1/" in buf.getvalue()
    continued = [line for line in lines if "(continued," in line]
    assert continued and all(line.startswith(table.title) for line in continued)


def test_warm_up_notes_are_collapsed_and_empty_factors_listed(monkeypatch):
    from etfflow.cli import backtest as cb

    buf = io.StringIO()
    monkeypatch.setattr(cb, "console", Console(file=buf, width=200, color_system=None))
    summary = pl.DataFrame(
        {
            "factor": ["a", "b", "c", "d", "e"],
            "n_periods": [23, 22, 21, 20, 0],
            "note": [
                "first cross-section on 2023-02-07; 1 of 24 periods without values",
                "first cross-section on 2023-03-07; 2 of 24 periods without values",
                "first cross-section on 2023-04-04; 3 of 24 periods without values",
                "first cross-section on 2023-05-04; 4 of 24 periods without values",
                "no value on any rebalance date: needs 480 trading days of history",
            ],
        }
    )
    cb.print_notes(summary)
    out = buf.getvalue()
    assert "e: no value on any rebalance date: needs 480 trading days" in out
    assert "4 factors start after the first rebalance date" in out
    assert "a: first cross-section" not in out
    buf.truncate(0)
    cb.print_notes(summary, detail=True)
    assert "d: first cross-section on 2023-05-04; 4 of 24" in buf.getvalue()


def _demo_backtest(demo_run) -> tuple[str, pl.DataFrame]:
    with open_store(demo_run.store, read_only=True) as st:
        runs = st.runs()
        bt = runs.filter(pl.col("kind") == "backtest", pl.col("params").str.contains('"stock"'))
        run_id = bt["run_id"][0]
        return run_id, st.table("bt_summary", run_id)


@pytest.mark.parametrize("width", [80, 100])
def test_report_at_terminal_width_keeps_every_number(demo_run, width):
    run_id, summary = _demo_backtest(demo_run)
    r = runner.invoke(
        app,
        ["report", "--store", str(demo_run.store), "--run", run_id],
        env={"COLUMNS": str(width)},
    )
    assert r.exit_code == 0, r.output
    tokens = set(re.split(r"\s+", r.stdout))
    expected = [
        _plain(_cell(row[c], pct))
        for row in summary.iter_rows(named=True)
        for c, _, pct in SUMMARY_COLUMNS
        if c in summary.columns
    ]
    missing = [e for e in expected if e not in tokens]
    assert not missing, missing[:5]
    assert "…" not in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= width
    wide = runner.invoke(
        app,
        ["report", "--store", str(demo_run.store), "--run", run_id, "--wide"],
        env={"COLUMNS": str(width)},
    )
    assert wide.exit_code == 0
    assert max(len(line) for line in wide.stdout.splitlines()) > width  # one table, whole
    assert all(e in set(re.split(r"\s+", wide.stdout)) for e in expected)


# ---------------------------------------------------------------- default processing


def _factor_run_values(store: Path, run_id: str | None, name: str) -> pl.DataFrame:
    with open_store(store, read_only=True) as st:
        if run_id is None:
            runs = st.runs().filter(pl.col("kind") == "factors")
            run_id = next(
                r["run_id"] for r in runs.iter_rows(named=True) if '"level": "stock"' in r["params"]
            )
        return st.table("factor_values", run_id, columns=["date", "code", name]).sort(
            "date", "code"
        )


def test_factors_compute_processes_like_the_demo(demo_run, tmp_path):
    """`factors compute` used raw values by default while the demo neutralised."""
    assert "processing: winsor(k=5" in demo_run.stdout
    store = tmp_path / "s.duckdb"
    r = runner.invoke(
        app,
        [
            "factors",
            "compute",
            str(demo_run.market),
            "--factors",
            "w_passive_inflow_20",
            "--store",
            str(store),
        ],
        env=WIDE_ENV,
    )
    assert r.exit_code == 0, r.output
    standard = "winsor(k=5,scaled=False)>fill(industry_median)>zscore>neutralize("
    assert f"processing: {standard}" in r.stdout
    with open_store(store, read_only=True) as st:
        rid = st.runs().filter(pl.col("kind") == "factors")["run_id"].item()
    got = _factor_run_values(store, rid, "w_passive_inflow_20")
    want = _factor_run_values(demo_run.store, None, "w_passive_inflow_20")
    assert got.height == want.height
    a, b = got["w_passive_inflow_20"].to_numpy(), want["w_passive_inflow_20"].to_numpy()
    assert np.array_equal(np.isnan(a), np.isnan(b))
    assert np.nanmax(np.abs(a - b)) < 1e-12

    r = runner.invoke(
        app,
        [
            "factors",
            "compute",
            str(demo_run.market),
            "--factors",
            "w_passive_inflow_20",
            "--process",
            "none",
            "--store",
            str(store),
        ],
        env=WIDE_ENV,
    )
    assert r.exit_code == 0, r.output
    assert "processing: none (raw factor values)" in r.stdout


# ---------------------------------------------------------------- SQL


def _readme_sql() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    statements = []
    for block in blocks:
        for stmt in block.split(";"):
            body = "\n".join(
                line for line in stmt.splitlines() if not line.strip().startswith("--")
            ).strip()
            if body:
                statements.append(body)
    return statements


def test_readme_sql_examples_return_rows_on_the_demo_store(demo_run):
    statements = _readme_sql()
    assert len(statements) >= 2
    con = duckdb.connect(str(demo_run.store), read_only=True)
    try:
        for sql in statements:
            rows = con.execute(sql).fetchall()
            assert rows, f"no rows from the README example:\n{sql}"
    finally:
        con.close()


def test_sql_command(demo_run, tmp_path):
    store = str(demo_run.store)
    q = "SELECT factor, rank_ic, long_excess_ann FROM bt_summary ORDER BY factor"
    with open_store(demo_run.store, read_only=True) as st:
        want = st.con.sql(q).pl()
    r = runner.invoke(app, ["sql", "--store", store, q], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    tokens = set(re.split(r"[\s│┃|]+", r.stdout))
    shown = want.head(50)
    assert all(repr(v) in tokens for v in shown["rank_ic"].drop_nulls().to_list())
    assert f"{want.height:,} rows" in r.stdout
    for flag, read in (
        ("--csv", pl.read_csv),
        ("--parquet", pl.read_parquet),
        ("--json", pl.read_json),
    ):
        out = tmp_path / f"q.{flag[2:]}"
        r = runner.invoke(app, ["sql", "--store", store, q, flag, str(out)])
        assert r.exit_code == 0, r.output
        got = read(out)
        assert got["factor"].to_list() == want["factor"].to_list()
    r = runner.invoke(app, ["sql", "--store", store, "DELETE FROM runs"], env=WIDE_ENV)
    assert r.exit_code == 1 and "read-only" in r.stderr
    r = runner.invoke(app, ["sql", "--store", store, "SELEC nothing"], env=WIDE_ENV)
    assert r.exit_code == 1 and "query failed" in r.stderr and "Traceback" not in r.output
    with open_store(demo_run.store, read_only=True) as st:
        assert st.runs().height == 6  # look-through, 2 factor runs, 2 backtests, rotation


def test_store_compact_command(demo_run, tmp_path):
    store = tmp_path / "s.duckdb"
    shutil.copy(demo_run.store, store)
    with open_store(store) as st:  # replace a run: its old rows stay in the file
        rows = st.table("stock_flow")
        rid = rows["run_id"][0]
        run = st.run(rid)
        st.write_run(
            "lookthrough",
            {"stock_flow": rows.filter(pl.col("run_id") == rid).drop("run_id")},
            dataset_path=run["dataset_path"],
            fingerprint="other",
            pool="copy",
            params={},
        )
    grown = store.stat().st_size
    r = runner.invoke(app, ["store", "compact", "--store", str(store)], env=WIDE_ENV)
    assert r.exit_code == 0, r.output
    assert f"compacted {store}" in r.stdout
    assert store.stat().st_size <= grown
    with open_store(store, read_only=True) as st:
        assert st.runs().height == 7

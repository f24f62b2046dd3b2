"""Studies end to end on the tiny market: a cell is the backtest run_backtest gives, independent
of the other cells; failures leave whole cells only; re-runs replace; point in time; presets
and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

import etfflow as ef
from etfflow.cli import app
from etfflow.data_samples import generate_market
from etfflow.engine.loading import open_dataset
from etfflow.engine.pools import Pool
from etfflow.engine.store import open_store, run_id_for
from etfflow.exceptions import EtfflowError, StudyTaskError
from etfflow.pipeline.backtest import TABLES, run_backtest
from etfflow.pipeline.runs import run_factors
from etfflow.pipeline.study import run as study_run
from etfflow.pipeline.study.cells import STUDY_CELLS_SCHEMA
from etfflow.pipeline.study.presets import PRESETS, preset_study
from etfflow.pipeline.study.run import cell_params, run_study
from etfflow.pipeline.study.spec import load_study
from tests.pipeline.test_factor_runs import _copy_tables

#: Four cells: a stock factor with every option away from its default, the same factor with
#: the defaults, an industry factor rebalanced monthly, and a stock factor looked through the
#: daily baskets with Revs20 stripped.
CELLS = """
[[cells]]
pool = "broad"
factors = "w_passive_inflow_20"
groups = 5
rebalance = 10
direction = "default"
lag = 0
universe = "market_cap_top25"
cost_bps = 5
min_passive = 0.3
benchmark = "000300.SH"
[[cells]]
factors = "w_passive_inflow_20"
[[cells]]
level = "industry_l1"
process = "none"
factors = "revs_20"
rebalance = "month"
direction = -1
benchmark = "000905.SH"
[[cells]]
pool = "sector"
mode = "pcf"
factors = "w_passive_zs_20"
process = "winsor,fill,zscore,neutralize,strip"
"""


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> Path:
    return generate_market(tmp_path_factory.mktemp("study") / "m", size="tiny", seed=1)


def _study(market: Path, body: str, folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "s.toml"
    path.write_text(f'data = "{market}"\nname = "t"\n{body}', encoding="utf-8")
    return path


def _rows(store: Path, run_id: str) -> dict[str, pl.DataFrame]:
    with open_store(store, read_only=True, create=False) as st:
        return {t: st.table(t, run_id) for t in TABLES}


@pytest.fixture(scope="module")
def full(market, tmp_path_factory):
    root = tmp_path_factory.mktemp("full")
    store = root / "s.duckdb"
    return run_study(_study(market, CELLS, root), store=store), store


def test_cells_equal_run_backtest(full, market, tmp_path):
    run, store = full
    assert len(run.run_ids) == 4
    for i, cell in enumerate(run.cells):
        other = tmp_path / f"bt{i}.duckdb"
        frun = run_factors(
            market,
            pool=Pool.category(cell.pool),
            level=cell.level,  # type: ignore[arg-type]
            factors=[cell.factor],
            process=None if cell.process == "none" else cell.process,
            mode=cell.mode,  # type: ignore[arg-type]
            store=other,
        )
        assert frun.factors.processing == cell.process
        direction = cell.direction if cell.direction in ("auto", "default") else int(cell.direction)
        bt = run_backtest(
            other,
            factor_run=frun.run_id,
            level=cell.level,
            groups=cell.groups,
            direction=direction,
            rebalance=cell.rebalance,  # type: ignore[arg-type]
            lag=cell.lag,
            universe=cell.universe if cell.level == "stock" else "default",
            cost_bps=cell.cost_bps,
            min_passive=cell.min_passive,
            benchmark=cell.benchmark,
        )
        mine, theirs = _rows(store, run.run_ids[i]), _rows(other, bt.run_id)
        for t in TABLES:
            assert_frame_equal(mine[t], theirs[t], check_row_order=False)
        assert mine["bt_ic"]["rank_ic"].count() >= 5
    # the summary printed by the CLI comes from these rows
    assert run.summary["rank_icir"].to_list() == [
        _rows(store, r)["bt_summary"]["rank_icir"][0] for r in run.run_ids
    ]


def test_store_layout(full):
    run, store = full
    with open_store(store, read_only=True, create=False) as st:
        cells = st.table("study_cells")
        srow = st.run(run.study_id)
        crow = st.run(run.run_ids[2])
    assert cells.schema == pl.Schema(STUDY_CELLS_SCHEMA)
    assert cells["cell"].to_list() == [0, 1, 2, 3]
    assert cells["run_id"].to_list() == run.run_ids
    first = cells.row(0, named=True)
    assert first["rebalance"] == "10" and first["direction"] == "default"
    assert cells.row(2, named=True)["rebalance"] == "month"
    assert cells.row(2, named=True)["universe"] == "all industries"
    assert srow["kind"] == "study"
    p = srow["params"]
    assert p["n_cells"] == 4 and p["name"] == "t" and p["preset"] is None
    assert p["grid_keys"] == ["pool", "mode", "level", "process", "factor", "groups",
                              "rebalance", "direction", "lag", "universe", "cost_bps",
                              "benchmark", "min_passive"]  # fmt: skip
    assert first["min_passive"] == 0.3 and first["benchmark"] == "000300.SH"
    assert cells.row(1, named=True)["min_passive"] is None
    assert len(p["spec"]["cells"]) == 4
    assert cells.row(3, named=True)["process"].endswith(">strip(revs_20)")
    assert crow["kind"] == "backtest" and crow["params"]["study"] == run.study_id
    assert crow["params"]["cell"] == 2 and crow["params"]["factors"] == ["revs_20"]


@pytest.mark.parametrize("keep", [[2], [1, 0], [3, 2, 0]])
def test_a_cell_does_not_depend_on_the_other_cells(full, market, tmp_path, keep):
    run, store = full
    blocks = CELLS.split("[[cells]]\n")[1:]
    body = "".join("[[cells]]\n" + blocks[k] for k in keep)
    sub = run_study(_study(market, body, tmp_path), store=tmp_path / "sub.duckdb")
    for j, k in enumerate(keep):
        assert sub.run_ids[j] == run.run_ids[k]
        mine, theirs = _rows(tmp_path / "sub.duckdb", sub.run_ids[j]), _rows(store, run.run_ids[k])
        for t in TABLES:
            assert_frame_equal(mine[t], theirs[t])


def test_a_failing_cell_leaves_whole_cells_only(market, tmp_path, monkeypatch):
    path = _study(market, CELLS, tmp_path)
    store = tmp_path / "s.duckdb"
    real = study_run.evaluate_cell

    def broken(shared, payload):
        if payload["factor"] == "revs_20":
            raise FloatingPointError("boom")
        return real(shared, payload)

    monkeypatch.setattr(study_run, "evaluate_cell", broken)
    with pytest.raises(StudyTaskError, match=r"cell 2 \(.*factor=revs_20.*\) failed: .*boom"):
        run_study(path, store=store)
    spec = load_study(path)
    fp = open_dataset(market).fingerprint()
    failed = run_id_for("backtest", fp, "all", cell_params(spec.cells()[2]))
    with open_store(store, read_only=True, create=False) as st:
        cells = st.table("study_cells")
        runs = st.runs()
        assert cells["cell"].to_list() == [0, 1]
        assert runs.filter(pl.col("kind") == "study").height == 0
        assert failed not in runs["run_id"].to_list()
        for t in TABLES:
            n = st.con.execute(f"SELECT count(*) FROM {t} WHERE run_id = ?", [failed]).fetchone()
            assert n == (0,), t
        assert st.table("bt_summary", cells["run_id"][0]).height == 1


def test_rerun_replaces(full, market, tmp_path):
    run, store = full
    path = _study(market, CELLS, tmp_path)
    copy = tmp_path / "again.duckdb"
    copy.write_bytes(store.read_bytes())
    again = run_study(path, store=copy)
    assert again.study_id == run.study_id and again.run_ids == run.run_ids
    with open_store(copy, read_only=True, create=False) as st:
        counts = {t: st.table(t).height for t in ("study_cells", "bt_summary", "runs")}
        assert counts == {"study_cells": 4, "bt_summary": 4, "runs": 5}
        for r in run.run_ids:
            assert_frame_equal(st.table("bt_ic", r), _rows(store, r)["bt_ic"])


def test_bad_study_creates_no_store(market, tmp_path):
    path = _study(market, '[grid]\nfactors = ["revs_20"]\ngroups = ["ten"]\n', tmp_path)
    store = tmp_path / "never.duckdb"
    with pytest.raises(ef.EtfflowError, match=r"line 5: \[grid\] groups"):
        ef.study(path, store=store)
    r = CliRunner().invoke(app, ["study", "run", str(path), "--store", str(store)])
    assert r.exit_code == 1 and "line 5: [grid] groups" in r.stderr
    path = _study(market, '[grid]\nfactors = ["revs_20"]\npool = ["style"]\n', tmp_path)
    with pytest.raises(ef.EtfflowError, match=r"line 5: \[grid\] pool: pool 'style' selects no"):
        run_study(path, store=store)
    path = _study(market, '[[cells]]\nfactors = "revs_20"\n[rotation]\npool = "style"\n', tmp_path)
    with pytest.raises(ef.EtfflowError, match=r"line 6: \[rotation\] pool: pool 'style'"):
        run_study(path, store=store)
    with pytest.raises(ef.EtfflowError, match="unknown executor 'nope'"):
        run_study(_study(market, CELLS, tmp_path), store=store, executor="nope")
    assert not store.exists()


def test_point_in_time(market, tmp_path):
    """Perturbing every input after a cut leaves every cell's Rank IC rows up to
    cut − rebalance − lag unchanged (the direction too under ``rolling``; under ``auto`` it
    is the whole sample's sign, in sample by definition)."""
    days = sorted(
        open_dataset(market).frame("stock_daily").select("date").unique().collect()["date"]
    )
    k = int(len(days) * 0.7)
    a = _copy_tables(market, tmp_path / "a", None, 0)
    b = _copy_tables(market, tmp_path / "b", days[k], 1)
    body = (
        "[grid]\n"
        'level = ["stock", "industry_l1"]\n'
        'factors = ["w_passive_inflow_20", "revs_5"]\n'
        "rebalance = [5]\n"
        'direction = ["auto", "rolling"]\n'
    )
    # the noise breaks the weights' sums to 1: no contract check (as in test_factor_runs)
    ra = run_study(_study(a, body, tmp_path / "sa"), store=tmp_path / "a.duckdb", check=False)
    rb = run_study(_study(b, body, tmp_path / "sb"), store=tmp_path / "b.duckdb", check=False)
    assert ra.run_ids != rb.run_ids  # other data, other fingerprint
    last = days[k - 5 - 1]
    changed = False
    for x, y in zip(ra.run_ids, rb.run_ids, strict=True):
        ia = _rows(tmp_path / "a.duckdb", x)["bt_ic"]
        ib = _rows(tmp_path / "b.duckdb", y)["bt_ic"]
        with open_store(tmp_path / "a.duckdb", read_only=True) as st:
            if st.run(x)["params"]["direction"] == "auto":
                ia, ib = ia.drop("direction"), ib.drop("direction")
        early = pl.col("date") <= last
        assert ia.filter(early)["rank_ic"].count() > 5
        assert_frame_equal(ia.filter(early), ib.filter(early))
        changed |= not ia.filter(~early).equals(ib.filter(~early))
    assert changed, "the perturbation did nothing"


def test_preset_end_to_end_and_cli(market, tmp_path):
    for name in PRESETS:  # every preset validates on the tiny market (pools exist)
        study_run.check_dataset(open_dataset(market), preset_study(name, data=market))
    store, page = tmp_path / "p.duckdb", tmp_path / "p.html"
    args = ["study", "run", "--preset", "huafu2026", "--data", str(market), "--store", str(store)]
    r = CliRunner().invoke(app, [*args, "--html", str(page)])
    assert r.exit_code == 0, r.output
    assert "stored study" in r.stdout and "rotation run ro-" in r.stdout
    text = page.read_text(encoding="utf-8")  # the comparison page of `etfflow study report`
    assert "<svg" in text and "<script" not in text and "w_passive_inflow_5" in text
    assert "w_passive_inflow_5" in r.stdout and "ICIR" in r.stdout
    with open_store(store, read_only=True, create=False) as st:
        row = st.runs().filter(pl.col("kind") == "study").row(0, named=True)
        params = json.loads(row["params"])
        assert params["preset"] == "huafu2026" and params["n_cells"] == 3
        assert st.run(params["rotation_run"])["kind"] == "rotation"
        assert st.table("rot_summary", params["rotation_run"]).height > 0
    r = CliRunner().invoke(app, ["study", "presets"])
    assert r.exit_code == 0 and all(n in r.stdout for n in PRESETS)
    r = CliRunner().invoke(app, ["study", "run", "--preset", "huafu2026"])
    assert r.exit_code == 1 and "--data" in r.output


def test_an_interrupted_write_leaves_no_half_cell(market, tmp_path, monkeypatch):
    """Killed while writing cell 1's study_cells row (after its bt_* rows): the transaction
    rolls back, nothing of cell 1 is stored."""
    from etfflow.engine.store import Store

    real = Store._insert
    seen: list[str] = []

    def insert(self, name, run_id, df):
        if name == "study_cells":
            seen.append(name)
            if len(seen) == 2:
                raise KeyboardInterrupt
        return real(self, name, run_id, df)

    monkeypatch.setattr(Store, "_insert", insert)
    store = tmp_path / "s.duckdb"
    with pytest.raises(KeyboardInterrupt):
        run_study(_study(market, CELLS, tmp_path), store=store)
    with open_store(store, read_only=True, create=False) as st:
        cells = st.table("study_cells")
        assert cells["cell"].to_list() == [0]
        kept = st.runs()["run_id"].to_list()
        assert kept == cells["run_id"].to_list()  # no study row, no run of cell 1
        assert st.table("bt_summary").height == 1


def test_unknown_benchmark_index_fails_before_any_work(market, tmp_path):
    body = '[grid]\nfactors = ["revs_20"]\nbenchmark = ["equal_weight", "399999.SZ"]\n'
    store = tmp_path / "x.duckdb"
    with pytest.raises(EtfflowError, match=r"line 5: \[grid\] benchmark: .*no rows for index"):
        run_study(_study(market, body, tmp_path / "s"), store=store)
    assert not store.exists()

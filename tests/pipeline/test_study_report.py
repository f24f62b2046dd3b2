"""``etfflow study report``: the comparison tables of a stored study, its HTML page, its command.

The store holds two real studies of the tiny market, run by ``run_study`` from study files
(2 and 8 cells); expected values are read back from it with plain SQL.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from etfflow.cli._ui import EtfflowGroup
from etfflow.cli.study_report import report_cmd
from etfflow.data_samples import generate_market
from etfflow.exceptions import EtfflowError
from etfflow.pipeline.study.cells import standard_processing
from etfflow.pipeline.study.report import (
    StudyResults,
    best_cells,
    list_studies,
    metric_pivot,
    read_study,
    year_stability,
)
from etfflow.pipeline.study.report_html import write_study_html
from etfflow.pipeline.study.run import run_study
from etfflow.plots.study import heatmap
from etfflow.plots.style import Style

FACTORS = ("w_passive_inflow_20", "revs_20")
NAME = "[tiny] pools × factors"


def _study_file(folder: Path, data: Path, *, name: str, grid: str) -> Path:
    """A study file beside the tiny market (``data`` relative to the file's folder)."""
    path = folder / f"{len(list(folder.glob('*.toml')))}.toml"
    rel = data.relative_to(folder)
    path.write_text(
        f'data = "{rel}"\nname = "{name}"\ndescription = "real backtests of the tiny market"\n'
        f"[grid]\n{grid}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study_report")
    data = generate_market(root / "m", size="tiny", seed=1)
    store = root / "s.duckdb"
    factors = ", ".join(f'"{f}"' for f in FACTORS)
    small = run_study(
        _study_file(root, data, name="one pool", grid=f"factors = [{factors}]"), store=store
    ).study_id
    grid = f'pool = ["all", "broad"]\nfactors = [{factors}]\nrebalance = [20, "month"]'
    sid = run_study(_study_file(root, data, name=NAME, grid=grid), store=store).study_id
    return store, sid, small


def _sql(store: Path, query: str, *args) -> pl.DataFrame:
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.sql(query, params=list(args)).pl()
    finally:
        con.close()


def _stored(store: Path, sid: str) -> pl.DataFrame:
    """Each cell's grid values and bt_summary row, by plain SQL."""
    return _sql(
        store,
        "SELECT c.cell, c.pool, c.factor, c.rebalance, s.* EXCLUDE (run_id, factor) "
        "FROM study_cells c JOIN bt_summary s ON s.run_id = c.run_id AND s.factor = c.factor "
        "WHERE c.study_id = ? ORDER BY c.cell",
        sid,
    )


# --------------------------------------------------------------------------- tables


def test_latest_study_and_varying_keys(study):
    store, sid, small = study
    res = read_study(store)
    assert res.study_id == sid and res.name == NAME
    assert res.varying == ("pool", "factor", "rebalance")
    assert res.cells["cell"].to_list() == list(range(8))
    assert res.cells["process"].unique().to_list() == ["standard"]  # stored: the steps
    stored = _sql(store, "SELECT DISTINCT process FROM study_cells")["process"].to_list()
    assert stored == [standard_processing("stock")] and stored != ["standard"]
    assert read_study(store, study_id=small).varying == ("factor",)
    studies = list_studies(store)
    assert studies["study_id"].to_list() == [small, sid]
    assert studies["n_cells"].to_list() == [2, 8]


def test_pivot_cells_equal_stored_summary(study):
    store, sid, _ = study
    want = _stored(store, sid)
    for metric in ("rank_icir", "long_short_ann_return", "long_excess_ann"):
        pv = metric_pivot(store, metric=metric)
        assert pv.columns == ["pool", "rebalance", *FACTORS]
        assert pv.select("pool", "rebalance").rows() == [
            ("all", "20"),
            ("all", "month"),
            ("broad", "20"),
            ("broad", "month"),
        ]
        n = 0
        for r in want.iter_rows(named=True):
            row = pv.filter((pl.col("pool") == r["pool"]) & (pl.col("rebalance") == r["rebalance"]))
            got, exp = row[r["factor"]].item(), r[metric]
            assert (got is None and exp is None) or got == exp  # the stored value, unchanged
            n += 1
        assert n == 8
    assert want["rank_icir"].is_not_null().all()


def test_pivot_keys_chosen_and_refused(study):
    store, sid, small = study
    want = _stored(store, sid)
    pv = metric_pivot(store, study_id=sid, metric="rank_ic", rows="rebalance", cols="pool")
    assert pv.columns == ["rebalance", "factor", "all", "broad"]
    assert pv.select("rebalance", "factor").rows() == [
        ("20", FACTORS[0]),
        ("20", FACTORS[1]),
        ("month", FACTORS[0]),
        ("month", FACTORS[1]),
    ]
    r = want.row(5, named=True)
    got = pv.filter((pl.col("rebalance") == r["rebalance"]) & (pl.col("factor") == r["factor"]))
    assert got[r["pool"]].item() == r["rank_ic"]
    one = metric_pivot(store, study_id=small)  # only the factor varies: one row per factor
    assert one.columns == ["factor", "rank_icir"] and one["factor"].to_list() == list(FACTORS)
    with pytest.raises(EtfflowError, match=r"unknown metric 'sharpe'.*rank_icir.*long_excess_ann"):
        metric_pivot(store, metric="sharpe")
    with pytest.raises(EtfflowError, match=r"--rows 'groups' is not a key that varies.*pool, "):
        metric_pivot(store, rows="groups")
    with pytest.raises(EtfflowError, match="both 'pool'"):
        metric_pivot(store, rows="pool", cols="pool")
    assert metric_pivot(store, rows="factors").columns[:2] == ["factor", "rebalance"]


def test_best_cells_order(study):
    store, sid, _ = study
    want = _stored(store, sid)
    best = best_cells(store, metric="rank_icir", top=5)
    strength = [abs(x) for x in want["rank_icir"].to_list()]
    order = sorted(range(8), key=lambda i: (-strength[i], i))[:5]
    assert best["cell"].to_list() == order
    assert best["rank"].to_list() == [1, 2, 3, 4, 5]
    assert best["rank_icir"].to_list() == [want["rank_icir"][i] for i in order]
    assert {"pool", "factor", "rebalance", "run_id", "long_short_ann_return"} <= set(best.columns)
    dd = best_cells(store, metric="long_max_drawdown", top=8)["long_max_drawdown"].to_list()
    assert dd == sorted(dd, reverse=True) and dd[0] <= 0  # drawdowns are negative
    ret = best_cells(store, metric="long_excess_ann", top=3)["long_excess_ann"].to_list()
    assert ret == sorted(want["long_excess_ann"].to_list(), reverse=True)[:3]
    with pytest.raises(EtfflowError, match="at least 1"):
        best_cells(store, top=0)


def test_year_stability_by_hand(study):
    store, sid, _ = study
    cell = 6
    y = _sql(
        store,
        "SELECT y.year, y.rank_ic FROM study_cells c JOIN bt_yearly y ON y.run_id = c.run_id "
        "AND y.factor = c.factor WHERE c.study_id = ? AND c.cell = ? ORDER BY y.year",
        sid,
        cell,
    )
    whole = _stored(store, sid)["rank_ic"][cell]
    vals = [v for v in y["rank_ic"].to_list() if v is not None and not math.isnan(v)]
    same = sum(1 for v in vals if (v > 0) == (whole > 0) and v != 0)
    stab = year_stability(store)
    row = stab.filter(pl.col("cell") == cell).row(0, named=True)
    assert row["whole"] == whole and row["n_years"] == len(vals) >= 2
    assert row["same_sign"] == pytest.approx(same / len(vals))
    for year, v in y.iter_rows():
        assert row[str(year)] == (None if v is None or math.isnan(v) else v)
    ls = year_stability(store, metric="long_short_return")
    assert ls["whole"].to_list() == _stored(store, sid)["long_short_ann_return"].to_list()
    with pytest.raises(EtfflowError, match=r"unknown metric 'rank_icir'.*long_short_return"):
        year_stability(store, metric="rank_icir")


def test_unknown_study_and_missing_store(study, tmp_path):
    store, sid, small = study
    listed = rf"no study 'nope'.*{small} \(one pool, 2.*{sid} \(\[tiny\].*8 cells"
    with pytest.raises(EtfflowError, match=listed):
        read_study(store, study_id="nope")
    with pytest.raises(EtfflowError, match="no store at"):
        read_study(tmp_path / "missing.duckdb")
    assert not (tmp_path / "missing.duckdb").exists()
    old = tmp_path / "old.duckdb"  # a study_cells table without a column this version writes
    shutil.copy(store, old)
    con = duckdb.connect(str(old))
    con.execute("ALTER TABLE study_cells DROP COLUMN min_passive")
    con.close()
    with pytest.raises(EtfflowError, match=r"study_cells in .* has no column min_passive"):
        read_study(old)


def test_pivot_edge_layouts():
    """One cell (nothing varies), only the column key varies, two cells with equal values."""
    one = pl.DataFrame({"cell": [0], "factor": ["a"], "pool": ["all"], "rank_icir": [0.5]})
    res = StudyResults("st-1", {"params": {}}, one, pl.DataFrame(), ())
    assert metric_pivot(res).rows() == [(0, 0.5)]
    with pytest.raises(EtfflowError, match=r"none \(the study has one cell\)"):
        metric_pivot(res, rows="pool")
    two = pl.DataFrame({"cell": [0, 1], "factor": ["a", "b"], "rank_icir": [0.5, None]})
    res = StudyResults("st-2", {"params": {}}, two, pl.DataFrame(), ("factor",))
    assert metric_pivot(res, cols="factor").rows(named=True) == [
        {"metric": "rank_icir", "a": 0.5, "b": None}
    ]
    dup = pl.DataFrame({"cell": [0, 1, 2], "factor": ["a", "a", "b"], "rank_icir": [1.0, 2, 3]})
    res = StudyResults("st-3", {"params": {}}, dup, pl.DataFrame(), ("factor",))
    with pytest.raises(EtfflowError, match="cells 0, 1 of study st-3 have the same grid values"):
        metric_pivot(res)


def test_heatmap_checks_labels_and_draws_empty():
    style = Style(False)
    with pytest.raises(EtfflowError, match=r"shape \(2, 2\).*3 row"):
        heatmap(np.zeros((2, 2)), ["a", "b", "c"], ["x", "y"], style, title="t", fmt=str)
    fig = heatmap(np.full((1, 2), np.nan), ["a"], ["x", "y"], style, title="t", fmt=str)
    assert "no values" in [t.get_text() for t in fig.axes[0].texts]


# --------------------------------------------------------------------------- reference twin


def _stability_ref(whole: list, yearly: list[list]) -> list:
    """Share of a cell's years with the sign of its whole-period value, loop by loop."""
    out = []
    for w, ys in zip(whole, yearly, strict=True):
        vals = [v for v in ys if v is not None and not math.isnan(v)]
        if w is None or math.isnan(w) or w == 0 or not vals:
            out.append(None)
        else:
            out.append(sum(1 for v in vals if math.copysign(1, w) == np.sign(v)) / len(vals))
    return out


_val = st.one_of(st.none(), st.just(math.nan), st.just(0.0), st.floats(-1, 1, width=32))


@settings(max_examples=40)
@given(
    whole=st.lists(_val, min_size=1, max_size=5),
    n_years=st.integers(0, 4),
    data=st.data(),
)
def test_year_stability_matches_reference(whole, n_years, data):
    n = len(whole)
    yearly = [data.draw(st.lists(_val, min_size=n_years, max_size=n_years)) for _ in range(n)]
    cells = pl.DataFrame(
        {"cell": list(range(n)), "factor": ["f"] * n, "rank_ic": whole},
        schema={"cell": pl.Int32, "factor": pl.String, "rank_ic": pl.Float64},
    )
    rows = [(i, 2020 + j, v) for i in range(n) for j, v in enumerate(yearly[i])]
    yr = pl.DataFrame(rows, schema={"cell": pl.Int32, "year": pl.Int32, "rank_ic": pl.Float64},
                      orient="row")  # fmt: skip
    res = StudyResults("st-x", {"params": {}}, cells, yr, ())
    got = year_stability(res)["same_sign"].to_list()
    for g, w in zip(got, _stability_ref(whole, yearly), strict=True):
        assert (g is None and w is None) or g == pytest.approx(w)


# --------------------------------------------------------------------------- HTML and CLI


def test_html_page(study, tmp_path):
    store, sid, _ = study
    out = write_study_html(tmp_path / "r" / "study.html", store, cjk=False)
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    assert page.count('<table class="t">') == 4 and page.count("<svg") == 3
    assert html_escaped(NAME) in page and sid in page
    for card in ("pivot", "best", "stability"):
        assert f'id="{card}"' in page
    v = _stored(store, sid)["rank_icir"][0]
    assert f"{v:.2f}" in page  # the pivot's first value, as the table writes it
    assert not list(out.parent.glob(".*.tmp"))
    with pytest.raises(EtfflowError, match="unknown metric"):
        write_study_html(tmp_path / "bad.html", store, metric="nope", cjk=False)
    assert not (tmp_path / "bad.html").exists()


def html_escaped(text: str) -> str:
    import html

    return html.escape(text)


def _app() -> typer.Typer:
    app = typer.Typer(cls=EtfflowGroup, add_completion=False)

    @app.callback()
    def _root() -> None:
        """study commands (the lead registers report_cmd as `etfflow study report`)"""

    app.command("report")(report_cmd)
    return app


def test_cli_report(study, tmp_path):
    store, _sid, small = study
    runner = CliRunner()
    res = runner.invoke(_app(), ["report", "--store", str(store), "--top", "3", "--html",
                                 str(tmp_path / "s.html")], env={"COLUMNS": "200"})  # fmt: skip
    assert res.exit_code == 0, res.output
    out = res.output
    assert NAME in out  # brackets printed, not eaten as markup
    assert re.search(r"RankIC IR \(rank_icir\) by pool · rebalance × factor", out)
    assert "best 3 of 8 cells" in out and "Rank IC by year" in out
    assert "long-short return by year" in out
    assert (tmp_path / "s.html").exists() and "wrote" in out
    res = runner.invoke(_app(), ["report", "--store", str(store), "--study", small])
    assert res.exit_code == 0 and "one pool" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "sharpe"], "unknown metric 'sharpe': choose one of"),
        (["--rows", "lag"], "--rows 'lag' is not a key that varies"),
        (["--study", "st-nope"], "no study 'st-nope'"),
    ],
)
def test_cli_errors(study, args, message):
    store, _, _ = study
    res = CliRunner().invoke(_app(), ["report", "--store", str(store), *args])
    assert res.exit_code == 1
    assert message in " ".join(res.output.split())


def test_cli_missing_store(tmp_path):
    res = CliRunner().invoke(_app(), ["report", "--store", str(tmp_path / "typo.duckdb")])
    assert res.exit_code == 1 and "no store at" in res.output


def test_uplift_rows_are_the_differences_of_the_stored_values(study) -> None:
    """Huaan table 45's 提升 row: the second value of the row key minus the first, per column
    and per combination of the other row keys, from the stored bt_summary values."""
    from etfflow.pipeline.study.report import uplift

    store, sid, _small = study
    pivot = metric_pivot(store, study_id=sid, rows="pool", cols="factor")
    up = uplift(pivot, "pool")
    stored = _stored(store, sid)
    assert up["pool"].unique().to_list() == ["broad − all"]
    for r in up.iter_rows(named=True):
        for f in FACTORS:
            got = stored.filter((pl.col("factor") == f) & (pl.col("rebalance") == r["rebalance"]))
            a = got.filter(pl.col("pool") == "all")["rank_icir"].item()
            b = got.filter(pl.col("pool") == "broad")["rank_icir"].item()
            assert r[f] == pytest.approx(b - a, rel=1e-12, abs=1e-15)
    with pytest.raises(EtfflowError, match="exactly two values of 'pool'"):
        uplift(pivot.with_columns(pl.lit("x").alias("pool")), "pool")
    from etfflow.cli import app

    args = ["study", "report", "--store", str(store), "--study", sid, "--rows", "pool"]
    r = CliRunner().invoke(app, [*args, "--uplift"])
    assert r.exit_code == 0, r.output
    assert "uplift of" in r.stdout and "broad − all" in r.stdout

"""Study files: grid expansion, defaults and every bad-file error (key and line named)."""

from __future__ import annotations

from pathlib import Path

import pytest

from etfflow.exceptions import EtfflowError
from etfflow.pipeline.study.cells import Cell
from etfflow.pipeline.study.presets import PRESETS, preset_study
from etfflow.pipeline.study.spec import load_study

STANDARD = "winsor(k=5,scaled=False)>fill(industry_median)>zscore>neutralize(industry,log_cap)"


def _write(folder: Path, text: str) -> Path:
    (folder / "data").mkdir(exist_ok=True)
    path = folder / "study.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_grid_is_crossed_in_key_order_with_defaults(tmp_path):
    path = _write(
        tmp_path,
        'data = "data"\n'
        "[grid]\n"
        'factors = ["revs_20", "w_passive_inflow_20"]\n'
        'pool = ["all", "broad"]\n'
        'rebalance = [20, "month"]\n',
    )
    spec = load_study(path)
    cells = spec.cells()
    assert spec.data == (tmp_path / "data").resolve()
    assert spec.name == "study"
    # pool varies slowest, then factor, then rebalance (GRID_KEYS order, not the file's)
    assert [(c.pool, c.factor, c.rebalance) for c in cells] == [
        ("all", "revs_20", 20),
        ("all", "revs_20", "month"),
        ("all", "w_passive_inflow_20", 20),
        ("all", "w_passive_inflow_20", "month"),
        ("broad", "revs_20", 20),
        ("broad", "revs_20", "month"),
        ("broad", "w_passive_inflow_20", 20),
        ("broad", "w_passive_inflow_20", "month"),
    ]
    assert cells[0] == Cell(
        pool="all",
        mode="weights",
        level="stock",
        process=STANDARD,
        factor="revs_20",
        groups=10,
        rebalance=20,
        direction="auto",
        lag=1,
        universe="default",
        cost_bps=0.0,
    )
    assert spec.grid_keys == ["pool", "factor", "rebalance"]


def test_defaults_cells_levels_and_duplicates(tmp_path):
    path = _write(
        tmp_path,
        'data = "data"\n'
        'name = "mine"\n'
        "[defaults]\n"
        "lag = 0\n"
        "direction = -1\n"
        "[grid]\n"
        'level = ["stock", "industry_l1"]\n'
        'factors = ["revs_20"]\n'
        'process = ["standard", "none"]\n'
        'universe = ["default", "market_cap_top25"]\n'
        "[[cells]]\n"
        'factors = "w_passive_zs"\n'
        'level = "industry_l2"\n'
        "groups = 3\n"
        "cost_bps = 5\n"
        "[[cells]]\n"
        'factors = "revs_20"\n'
        'level = "industry_l1"\n'
        'process = "none"\n',
    )
    spec = load_study(path)
    cells = spec.cells()
    assert spec.name == "mine"
    stock = [c for c in cells if c.level == "stock"]
    assert [(c.process, c.universe) for c in stock] == [
        (STANDARD, "default"),
        (STANDARD, "market_cap_top25"),
        ("none", "default"),
        ("none", "market_cap_top25"),
    ]
    assert {(c.groups, c.lag, c.direction) for c in stock} == {(10, 0, "-1")}
    # industries: standard is raw, no stock universe: the four grid cells are one, and the
    # explicit revs_20 cell repeats it (dropped)
    l1 = [c for c in cells if c.level == "industry_l1"]
    assert l1 == [
        Cell(
            "all",
            "weights",
            "industry_l1",
            "none",
            "revs_20",
            5,
            20,
            "-1",
            0,
            "all industries",
            0.0,
        )
    ]
    # a family stem expands to its windows at the cell's level
    l2 = [c for c in cells if c.level == "industry_l2"]
    assert [c.factor for c in l2] == ["w_passive_zs_20", "w_passive_zs_40", "w_passive_zs_60"]
    assert {(c.groups, c.cost_bps) for c in l2} == {(3, 5.0)}
    assert len(cells) == 8
    assert spec.normalised()["cells"][0] == {
        "factors": "w_passive_zs",
        "level": "industry_l2",
        "groups": 3,
        "cost_bps": 5.0,
    }


BAD = [
    # (text, line, key in the message, words of the message)
    (
        'data = "data"\n[rotation]\npool = "turnover:middle"\n',
        3,
        "[rotation] pool",
        "turnover:middle",
    ),
    (
        'data = "data"\n[grid]\nfactors = ["revs_20"]\nmin_passive = [0.2, 1.5]\n',
        4,
        "[grid] min_passive",
        "a quantile in [0, 1)",
    ),
    (
        'data = "data"\n[defaults]\nbenchmark = ""\n[grid]\nfactors = ["revs_20"]\n',
        3,
        "[defaults] benchmark",
        '"equal_weight" or an index code',
    ),
    ('data = "data"\nfoo = 1\n[grid]\nfactors = ["revs_20"]\n', 2, "foo", "valid keys: data"),
    (
        'data = "data"\n[grid]\nfactors = ["revs_20"]\nwindow = [20]\n',
        4,
        "[grid] window",
        "valid keys: pool, mode",
    ),
    (
        'data = "data"\n[[cells]]\nfactors = "revs_20"\n[[cells]]\nfactors = "revs_20"\nlvl = 1\n',
        6,
        "[cells[1]] lvl",
        "unknown key",
    ),
    (
        'data = "data"\n[defaults]\ngroup = 5\n[grid]\nfactors = ["revs_20"]\n',
        3,
        "[defaults] group",
        "unknown key",
    ),
    (
        'data = "data"\n[grid]\npool = ["all"]\nfactors = ["revs_20", "w_pasive_inflow_20"]\n',
        4,
        "[grid] factors",
        "unknown factor 'w_pasive_inflow_20'",
    ),
    (
        'data = "data"\n[grid]\nlevel = ["industry_l1"]\nfactors = ["nope_20"]\n',
        4,
        "[grid] factors",
        "at level 'industry_l1'",
    ),
    ('data = "data"\n[grid]\npool = ["wide"]\nfactors = ["revs_20"]\n', 3, "[grid] pool", "wide"),
    (
        'data = "data"\n[grid]\nlevel = ["industry_l3"]\nfactors = ["revs_20"]\n',
        3,
        "[grid] level",
        "unknown level",
    ),
    (
        'data = "data"\n[grid]\nfactors = ["revs_20"]\nuniverse = ["small"]\n',
        4,
        "[grid] universe",
        "unknown universe",
    ),
    (
        'data = "data"\n[grid]\nfactors = ["revs_20"]\ndirection = ["up"]\n',
        4,
        "[grid] direction",
        "unknown direction",
    ),
    ('data = "data"\n[grid]\nfactors = ["revs_20"]\nmode = ["csv"]\n', 4, "[grid] mode", "csv"),
    ('data = "data"\n[grid]\nfactors = ["revs_20"]\ngroups = []\n', 4, "[grid] groups", "empty"),
    (
        'data = "data"\n[grid]\nfactors = ["revs_20"]\ngroups = ["ten"]\n',
        4,
        "[grid] groups",
        "expected an integer >= 2, got 'ten'",
    ),
    (
        'data = "data"\n[grid]\nfactors = "revs_20"\n',
        3,
        "[grid] factors",
        "takes a list",
    ),
    (
        'data = "data"\n[grid]\nfactors = ["revs_20"]\nrebalance = ["week"]\n',
        4,
        "[grid] rebalance",
        '"month"',
    ),
    ('data = "data"\n[grid]\nfactors = ["revs_20"]\nlag = [-1]\n', 4, "[grid] lag", ">= 0"),
    (
        'data = "data"\n[grid]\nfactors = ["revs_20"]\ncost_bps = [true]\n',
        4,
        "[grid] cost_bps",
        "a number",
    ),
    (
        'data = "data"\n[grid]\nlevel = ["industry_l1"]\nfactors = ["revs_20"]\n'
        'process = ["zscore,neutralize"]\n',
        5,
        "[grid] process",
        "industries can only be neutralised on log_cap",
    ),
    (
        'data = "data"\n[grid]\nfactors = ["revs_20"]\nprocess = ["zscore,winsor"]\n',
        4,
        "[grid] process",
        "comes after",
    ),
    ('data = "nowhere"\n[grid]\nfactors = ["revs_20"]\n', 1, "data", "does not exist"),
    ('data = "data"\n', None, "", "no cells"),
    ('data = "data"\n[grid]\npool = ["all"]\n', None, "", "no factor"),
    ('data = "data"\n[[cells]]\npool = "broad"\n', 2, "[cells[0]]", "names no factor"),
    ('[grid]\nfactors = ["revs_20"]\n', None, "", "no dataset"),
    (
        'data = "data"\n[grid]\nfactors = ["revs_20"]\n[rotation]\ntop = "six"\n',
        5,
        "[rotation] top",
        "expected an integer",
    ),
    (
        'data = "data"\n[grid]\nfactors = ["revs_20"]\n[rotation]\nlevl = 1\n',
        5,
        "[rotation] levl",
        "valid keys: pool, start",
    ),
    ('data = "data"\n[grid\n', None, "", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "line", "key", "words"), BAD)
def test_bad_study_files_name_key_and_line(tmp_path, text, line, key, words):
    path = _write(tmp_path, text)
    with pytest.raises(EtfflowError) as err:
        load_study(path)
    msg = str(err.value)
    assert msg.startswith(f"study {path}" + (f", line {line}: " if line else ""))
    if key:
        assert f": {key}: " in msg
    assert words in msg


def test_text_and_data_override(tmp_path):
    (tmp_path / "d").mkdir()
    spec = load_study('[grid]\nfactors = ["revs_20"]\n', data=tmp_path / "d")
    assert spec.data == tmp_path / "d" and spec.source == "<text>"
    with pytest.raises(EtfflowError, match="no study file"):
        load_study(tmp_path / "missing.toml")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_parse(tmp_path, name):
    spec = preset_study(name, data=tmp_path)
    assert spec.preset == name and spec.cells()
    assert PRESETS[name].description
    with pytest.raises(EtfflowError, match="unknown preset"):
        preset_study("huaan", data=tmp_path)

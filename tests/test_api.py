"""The public namespace ``import etfflow as ef``: lazy, complete, and the README example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from polars.testing import assert_frame_equal

import etfflow as ef
from etfflow.backtest.engine import evaluate as evaluate_arrays
from etfflow.engine.universe import stock_rules
from etfflow.factors.registry import unregister

ROOT = Path(__file__).resolve().parents[1]


def test_import_is_lazy() -> None:
    heavy = "('polars', 'numba', 'duckdb', 'matplotlib')"
    code = f"import sys, etfflow; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves() -> None:
    for name in ef.__all__:
        assert getattr(ef, name) is not None, name
        assert name in dir(ef)
    assert ef.look_through is ef.penetrate
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ef.nope  # noqa: B018


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("api") / "tiny"
    ef.generate_market(root, size="tiny", seed=0)
    return root


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Library use") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_library_example_runs(tiny) -> None:
    code = readme_example()
    assert len(code.strip().splitlines()) <= 8
    ns: dict = {}
    exec(code.replace("etfflow_data/small_seed0", str(tiny)), ns)
    ev, fs, market = ns["ev"], ns["fs"], ns["market"]
    assert ev.summary["factor"].to_list() == ["w_passive_inflow_20", "revs_20"]
    assert ev.summary["groups"].to_list() == [10, 10]
    assert type(ns["fig"]).__name__ == "Figure"
    # the same as the low-level call with the arrays spelled out
    processed = ef.process(fs, "winsor,fill,zscore,neutralize", market=market)
    low = evaluate_arrays(
        processed.values,
        market.ret,
        market.calendar.dates.to_numpy(),
        rules=stock_rules(market),
        groups=10,
    )
    assert_frame_equal(ev.summary, low.summary)
    assert_frame_equal(ev.nav, low.nav)


def test_evaluate_options_and_errors(tiny) -> None:
    ds = ef.open_dataset(tiny)
    lt, market = ef.look_through(ds, pool="all"), ef.load_market(ds)
    fs = ef.compute_factors(ef.stock_inputs(market, lt.stocks), "revs_20")
    none = ef.evaluate(fs, universe="none", groups=5, direction="default")
    registered = fs.instances[0].direction
    assert none.summary["direction"].to_list() == [registered] == [-1]
    assert none.summary["groups"].item() == 5
    with pytest.raises(ef.EtfflowError, match="need the market"):
        ef.evaluate(fs)
    with pytest.raises(ef.EtfflowError, match="expected a FactorSet"):
        ef.evaluate({"x": np.zeros((2, 2))}, market)
    ind = ef.compute_factors(ef.industry_inputs(market, lt.industries, "industry_l1"), "revs_20")
    assert ef.evaluate(ind).summary["groups"].item() == 5


def test_pools_accept_names_and_codes(tiny) -> None:
    ds = ef.open_dataset(tiny)
    broad = ef.look_through(ds, pool="broad")
    same = ef.look_through(ds, pool=ef.Pool.category("broad"))
    assert_frame_equal(broad.stocks, same.stocks)
    with pytest.raises(ef.EtfflowError, match="unknown pool 'nope'"):
        ef.look_through(ds, pool="nope")


def test_factor_replace_redefines_a_user_factor() -> None:
    def make(k: float):
        @ef.factor(
            "api_test_{n}",
            formula="k",
            inputs=("ret",),
            direction=1,
            lookback=0,
            windows=(5,),
            replace=True,
        )
        def f(x, n):
            return np.full(x.shape, k)

        return f

    try:
        make(1.0)
        with pytest.raises(ef.EtfflowError, match="replace=True"):
            ef.factor("api_test_{n}", formula="k", inputs=("ret",), direction=1, lookback=0)(
                lambda x, n: x
            )
        make(2.0)  # a notebook cell run again
        from etfflow.factors.registry import registry

        assert registry()["api_test_{n}"].fn(np.zeros((1, 1)), 5)[0, 0] == 2.0
        with pytest.raises(ef.EtfflowError, match="built-in factors cannot be replaced"):
            ef.factor(
                "revs_{n}", formula="x", inputs=("ret",), direction=1, lookback=0, replace=True
            )(lambda x, n: x)
    finally:
        unregister("api_test_{n}")

"""etfflow: a vectorised factor engine for China A-share ETF fund-flow research.

Look through every equity ETF's daily basket to the stocks it holds, turn the daily
passive-holding table into factors and test them, point in time. Every metric, factor, processing
step and test statistic is defined in docs/methodology.md (sections 2, 3-4 and 5), with the
research report and table it comes from.

The short public API, loaded lazily (``import etfflow`` imports nothing heavy)::

    import etfflow as ef

    ef.generate_market("data/m", size="small")     # or your own data (the data contract)
    ds = ef.open_dataset("data/m")
    ef.validate(ds).raise_for_errors()
    lt = ef.look_through(ds, pool="broad")         # daily stock table: lt.stocks
    market = ef.load_market(ds)
    fs = ef.compute_factors(ef.stock_inputs(market, lt.stocks), "w_passive_inflow_20,revs_20")
    fs = ef.process(fs, "winsor,fill,zscore,neutralize", market=market)
    ev = ef.evaluate(fs, market, groups=10)        # ev.summary, ev.yearly, ...
    ef.plots.tear_sheet(ev, "w_passive_inflow_20")
    rot = ef.rotation(ds, top=6, rebalance=10)     # Huafu industry rotation: rot["summary"], ...
    m = ef.etf_measures(ds)                        # per ETF-day AUM, HHI, top-10, turnover
    ef.look_through(ds, pool="turnover:high")      # a sub-pool that changes monthly
    cmp = ef.compare_pools("data/m")               # Kaiyuan sub-pool table: cmp.table

Names: :func:`open_dataset`, :func:`validate`, :class:`Pool`, :func:`look_through` (alias
:func:`penetrate`), :func:`load_market`, :func:`factor`, :func:`compute_factors`,
:func:`stock_inputs`, :func:`industry_inputs`, :func:`process`, :func:`evaluate`,
:func:`rotation` (with :class:`RotationParams`), :func:`study` (a study file's grid of
backtests, docs/studies.md), :func:`etf_measures`, :func:`compare_pools`,
:func:`generate_market`, :class:`Store`, :func:`open_store`, :mod:`plots`,
:class:`EtfflowError`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from etfflow._version import __version__

#: public name -> (module, attribute); attribute None: the module itself
_LAZY: dict[str, tuple[str, str | None]] = {
    "open_dataset": ("etfflow.engine.loading", "open_dataset"),
    "validate": ("etfflow.engine.validation", "validate"),
    "Pool": ("etfflow.engine.pools", "Pool"),
    "look_through": ("etfflow.engine.lookthrough", "penetrate"),
    "penetrate": ("etfflow.engine.lookthrough", "penetrate"),
    "load_market": ("etfflow.engine.market", "load_market"),
    "Store": ("etfflow.engine.store", "Store"),
    "open_store": ("etfflow.engine.store", "open_store"),
    "factor": ("etfflow.factors.registry", "factor"),
    "compute_factors": ("etfflow.factors.compute", "compute_factors"),
    "process": ("etfflow.factors.compute", "process"),
    "stock_inputs": ("etfflow.factors.inputs", "stock_inputs"),
    "industry_inputs": ("etfflow.factors.inputs", "industry_inputs"),
    "evaluate": ("etfflow.backtest.api", "evaluate_factors"),
    "rotation": ("etfflow.backtest.rotation.run", "rotate"),
    "study": ("etfflow.pipeline.study.run", "run_study"),
    "RotationParams": ("etfflow.backtest.rotation.params", "RotationParams"),
    "etf_measures": ("etfflow.engine.etf_measures", "etf_measures"),
    "compare_pools": ("etfflow.pipeline.subpools", "compare_pools"),
    "generate_market": ("etfflow.data_samples", "generate_market"),
    "plots": ("etfflow.plots", None),
    "EtfflowError": ("etfflow.exceptions", "EtfflowError"),
}

__all__ = [
    "EtfflowError",
    "Pool",
    "RotationParams",
    "Store",
    "__version__",
    "compare_pools",
    "compute_factors",
    "etf_measures",
    "evaluate",
    "factor",
    "generate_market",
    "industry_inputs",
    "load_market",
    "look_through",
    "open_dataset",
    "open_store",
    "penetrate",
    "plots",
    "process",
    "rotation",
    "stock_inputs",
    "study",
    "validate",
]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'etfflow' has no attribute {name!r}") from None
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # for type checkers and IDEs; never executed
    from etfflow import plots
    from etfflow.backtest.api import evaluate_factors as evaluate
    from etfflow.data_samples import generate_market
    from etfflow.engine.etf_measures import etf_measures
    from etfflow.engine.loading import open_dataset
    from etfflow.engine.lookthrough import penetrate
    from etfflow.engine.lookthrough import penetrate as look_through
    from etfflow.engine.market import load_market
    from etfflow.engine.pools import Pool
    from etfflow.engine.store import Store, open_store
    from etfflow.engine.validation import validate
    from etfflow.exceptions import EtfflowError
    from etfflow.factors.compute import compute_factors, process
    from etfflow.factors.inputs import industry_inputs, stock_inputs
    from etfflow.factors.registry import factor
    from etfflow.pipeline.study.run import run_study as study
    from etfflow.pipeline.subpools import compare_pools

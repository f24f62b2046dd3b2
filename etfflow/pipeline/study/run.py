"""Run a study: the shared work once in this process, one task per cell through an executor,
every cell stored in its own transaction (docs/studies.md).

Shared work: the dataset and market are loaded once; one look-through per (pool, mode); one
factor computation per (pool, mode, level) with every factor the study uses at that level;
one processing per processing string. The dense panels each cell needs go into ``shared``
(``f/<pool>/<mode>/<level>/<process>/<factor>``, ``ret/<level>``,
``rules/<universe>/<mask>``, ``dates``) and :func:`evaluate_cell` evaluates one factor from
them, exactly as :func:`etfflow.pipeline.backtest.run_backtest` does. Only this process writes
the store: each cell's backtest run and its ``study_cells`` row in one transaction, in cell
order, then the study's ``kind = 'study'`` run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from etfflow._common import Progress
from etfflow.backtest.engine import EQUAL_WEIGHT, Evaluation, evaluate
from etfflow.engine.loading import Dataset, open_dataset
from etfflow.engine.lookthrough import penetrate
from etfflow.engine.market import Market, index_returns, load_market
from etfflow.engine.panel import Calendar
from etfflow.engine.pools import Pool
from etfflow.engine.schemas import CORE_TABLES
from etfflow.engine.store import DEFAULT_STORE, Store, check_store_path, open_store, run_id_for
from etfflow.engine.universe import (
    TradingRules,
    min_passive_mask,
    no_rules,
    restrict,
    universe_rules,
)
from etfflow.engine.validation import validate
from etfflow.exceptions import EtfflowError
from etfflow.factors.compute import FactorSet, compute_factors, process
from etfflow.factors.inputs import industry_inputs, industry_returns, stock_inputs
from etfflow.factors.registry import resolve
from etfflow.pipeline.backtest import TABLES, _explain_empty
from etfflow.pipeline.study.cells import Cell, cell_row
from etfflow.pipeline.study.executors import Executor, make_executor
from etfflow.pipeline.study.spec import StudySpec, Where, load_study

#: The masks of :class:`~etfflow.engine.universe.TradingRules`, as ``shared`` arrays.
RULE_MASKS: tuple[str, ...] = ("universe", "can_buy", "can_sell", "benchmark")
#: ``bt_summary`` columns of the printed summary.
SUMMARY_METRICS: tuple[str, ...] = ("rank_ic", "rank_icir", "long_short_ann_return")


@dataclass
class StudyRun:
    """A finished study: its id, cells, their backtest run ids and a one-row-per-cell summary
    (cell, the options that vary, :data:`SUMMARY_METRICS`)."""

    spec: StudySpec
    study_id: str
    cells: list[Cell]
    run_ids: list[str]
    summary: pl.DataFrame
    rotation_run: str | None
    store: Path
    seconds: dict[str, float] = field(default_factory=dict)


def panel_key(cell: Cell) -> str:
    return f"f/{cell.pool}/{cell.mode}/{cell.level}/{cell.process}/{cell.factor}"


def w_key(pool: str, mode: str) -> str:
    """The shared ``w_passive`` panel of a pool's look-through (``min_passive`` cells)."""
    return f"w/{pool}/{mode}"


def _steps(process_string: str) -> str | None:
    return None if process_string == "none" else process_string


def _factor_panels(
    ds: Dataset, market: Market, cells: list[Cell], progress: Progress | None
) -> dict[str, np.ndarray]:
    """The factor panel of every cell, keyed by :func:`panel_key`: one look-through per
    (pool, mode), one computation per (pool, mode, level), one processing per string."""
    out: dict[str, np.ndarray] = {}
    lts = list(dict.fromkeys((c.pool, c.mode) for c in cells))
    for i, (pool, mode) in enumerate(lts):
        if progress:
            progress("look-through", i, len(lts))
        lt = penetrate(ds, pool=Pool.of(pool), mode=mode)  # type: ignore[arg-type]
        mine = [c for c in cells if (c.pool, c.mode) == (pool, mode)]
        if any(c.min_passive is not None for c in mine):  # the look-through's own w_passive
            out[w_key(pool, mode)] = stock_inputs(market, lt.stocks)["w_passive"]
        for level in dict.fromkeys(c.level for c in mine):
            at = [c for c in mine if c.level == level]
            if level == "stock":
                inputs = stock_inputs(market, lt.stocks)
            else:
                inputs = industry_inputs(market, lt.groups, level)
            names = list(dict.fromkeys(c.factor for c in at))
            fs = compute_factors(inputs, names)
            for proc in dict.fromkeys(c.process for c in at):
                need = list(dict.fromkeys(c.factor for c in at if c.process == proc))
                sub = FactorSet(
                    inputs,
                    [f for f in fs.instances if f.name in need],
                    {n: fs.values[n] for n in need},
                )
                steps = _steps(proc)
                done = process(sub, steps, market=market) if steps else sub
                for c in at:
                    if c.process == proc and panel_key(c) not in out:
                        out[panel_key(c)] = np.where(inputs.present, done.values[c.factor], np.nan)
    if progress:
        progress("look-through", len(lts), len(lts))
    return out


def shared_arrays(
    ds: Dataset, market: Market, cells: list[Cell], progress: Progress | None = None
) -> dict[str, np.ndarray]:
    """Everything the cells read: factor panels, returns per level, trading rules per stock
    universe and the dates (module docstring)."""
    shared = _factor_panels(ds, market, cells, progress)
    shared["dates"] = market.calendar.dates.to_numpy()
    for code in dict.fromkeys(c.benchmark for c in cells if c.benchmark != EQUAL_WEIGHT):
        shared[f"index/{code}"] = index_returns(ds, market.calendar, code)
    for level in dict.fromkeys(c.level for c in cells):
        shared[f"ret/{level}"] = (
            market.ret if level == "stock" else industry_returns(market, level)[0]
        )
    for u in dict.fromkeys(c.universe for c in cells if c.level == "stock"):
        rules = universe_rules(market, u)
        if rules is not None:
            for m in RULE_MASKS:
                shared[f"rules/{u}/{m}"] = getattr(rules, m)
    return shared


def cell_payload(
    cell: Cell, shared_keys: set[str], assets: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """What :func:`evaluate_cell` needs besides ``shared``: option values and array names;
    an industry cell also gets its industry names (its long and short groups are stored, as
    ``run_backtest`` stores them)."""
    (inst,) = resolve([cell.factor], level=cell.level)
    rules = f"rules/{cell.universe}" if cell.level == "stock" else None
    if rules is not None and f"{rules}/universe" not in shared_keys:
        rules = None  # universe "none": no rules
    direction: int | str = cell.direction
    if cell.direction == "default":
        direction = inst.direction
    elif cell.direction in ("1", "-1"):
        direction = int(cell.direction)
    return {
        "factor": cell.factor,
        "panel": panel_key(cell),
        "returns": f"ret/{cell.level}",
        "rules": rules,
        "groups": cell.groups,
        "direction": direction,
        "rebalance": cell.rebalance,
        "lag": cell.lag,
        "cost_bps": cell.cost_bps,
        "lookback": inst.lookback,
        "assets": (assets or {}).get(cell.level) if cell.level != "stock" else None,
        "benchmark": None if cell.benchmark == EQUAL_WEIGHT else f"index/{cell.benchmark}",
        "benchmark_name": cell.benchmark,
        "min_passive": cell.min_passive,
        "w": w_key(cell.pool, cell.mode) if cell.min_passive is not None else None,
    }


def evaluate_cell(shared: Any, payload: dict[str, Any]) -> Evaluation:
    """One cell: :func:`~etfflow.backtest.engine.evaluate` of one factor panel of ``shared``
    with the cell's options (the task every executor runs)."""
    rules = None
    if payload["rules"] is not None:
        rules = TradingRules(**{m: shared[f"{payload['rules']}/{m}"] for m in RULE_MASKS})
    name = payload["factor"]
    dates = shared["dates"]
    returns = shared[payload["returns"]]
    if payload.get("min_passive") is not None:  # as run_backtest: universe and benchmark
        base = rules if rules is not None else no_rules(returns.shape)
        keep = min_passive_mask(shared[payload["w"]], base.universe, payload["min_passive"])
        rules = restrict(base, keep)
    bench = payload.get("benchmark")
    ev = evaluate(
        {name: shared[payload["panel"]]},
        returns,
        dates,
        rules=rules,
        groups=payload["groups"],
        direction=payload["direction"],
        rebalance=payload["rebalance"],
        lag=payload["lag"],
        cost_bps=payload["cost_bps"],
        members=payload.get("assets") is not None,
        assets=payload.get("assets"),
        benchmark=None if bench is None else shared[bench],
        benchmark_name=payload.get("benchmark_name"),
    )
    defs = pl.DataFrame({"factor": [name], "lookback": [payload["lookback"]]})
    return _explain_empty(ev, defs, len(dates))


def cell_params(cell: Cell) -> dict[str, Any]:
    """A cell's ``runs.params`` without the study link (its run id is computed from these:
    the same cell has the same id in any study, with any executor)."""
    return {
        "factor_run": None,
        "mode": cell.mode,
        "level": cell.level,
        "factors": [cell.factor],
        "processing": cell.process,
        "groups": cell.groups,
        "direction": cell.direction,
        "rebalance": cell.rebalance,
        "lag": cell.lag,
        "universe": cell.universe,
        "cost_bps": cell.cost_bps,
        # only when set, as run_backtest records them
        **({"min_passive": cell.min_passive} if cell.min_passive is not None else {}),
        **({"benchmark": cell.benchmark} if cell.benchmark != EQUAL_WEIGHT else {}),
    }


def study_params(spec: StudySpec) -> dict[str, Any]:
    cells = spec.cells()
    return {
        "name": spec.name,
        "description": spec.description,
        "preset": spec.preset,
        "grid_keys": spec.grid_keys,
        "n_cells": len(cells),
        "spec": spec.normalised(),
    }


def _where_value(spec: StudySpec, key: str, value: Any) -> Where | None:
    """Where the study file gives ``key`` the value ``value`` (for an error message)."""
    if value in spec.grid.get(key, []):
        return Where("grid", key)
    for i, c in enumerate(spec.explicit):
        if c.get(key) == value:
            return Where(f"cells[{i}]", key)
    return Where("defaults", key) if spec.defaults.get(key) == value else None


def _where_pool(spec: StudySpec, pool: str) -> Where | None:
    """Where the study file names ``pool`` (for the error message)."""
    if pool in spec.grid.get("pool", []):
        return Where("grid", "pool")
    for i, c in enumerate(spec.explicit):
        if c.get("pool") == pool:
            return Where(f"cells[{i}]", "pool")
    return Where("defaults", "pool") if spec.defaults.get("pool") == pool else None


def check_dataset(
    ds: Dataset, spec: StudySpec, progress: Progress | None = None, *, contract: bool = True
) -> None:
    """Validate the tables the study reads (``contract``) and that every pool selects an ETF
    (nothing computed, store untouched on error)."""
    holdings = {"weights": "holding_weights", "pcf": "etf_pcf"}
    tables = [*CORE_TABLES, *dict.fromkeys(holdings[c.mode] for c in spec.cells())]
    if spec.rotation is not None:
        from etfflow.backtest.rotation.run import INPUT_TABLES

        rot = "holding_weights" if ds.has("holding_weights") else "etf_pcf"
        tables += [t for t in (rot, *INPUT_TABLES) if t not in tables]
    if contract:
        validate(ds, tables=tables, progress=progress).raise_for_errors()
    etfs = ds.frame("etfs").collect()
    where_of: dict[str, Where | None] = {}
    for c in spec.cells():
        where_of.setdefault(c.pool, _where_pool(spec, c.pool))
    if spec.rotation is not None:
        where_of.setdefault(spec.rotation.pool, Where("rotation", "pool"))
    for pool, where in where_of.items():
        try:
            Pool.of(pool).select(etfs)
        except EtfflowError as exc:
            raise spec.err(where, f"{exc} (dataset {spec.data})") from None
    codes = dict.fromkeys(c.benchmark for c in spec.cells() if c.benchmark != EQUAL_WEIGHT)
    days = ds.frame("stock_daily").select("date").unique().sort("date") if codes else None
    calendar = Calendar(days.collect()["date"]) if days is not None else None
    for code in codes:
        assert calendar is not None
        try:
            index_returns(ds, calendar, code)
        except EtfflowError as exc:
            where = _where_value(spec, "benchmark", code)
            raise spec.err(where, f"{exc} (dataset {spec.data})") from None


def _summary_row(i: int, cell: Cell, keys: Sequence[str], ev: Evaluation) -> dict[str, Any]:
    s = ev.summary.row(0, named=True)
    return {
        "cell": i,
        **{k: cell.show(k) for k in keys},
        **{m: s[m] for m in SUMMARY_METRICS},
    }


def _write_cell(
    st: Store, spec: StudySpec, study_id: str, i: int, cell: Cell, ev: Evaluation, fp: str
) -> str:
    params = cell_params(cell)
    run_id = run_id_for("backtest", fp, cell.pool, params)
    return st.write_run(
        "backtest",
        {t: getattr(ev, attr) for t, attr in TABLES.items()},
        dataset_path=str(spec.data.resolve()),
        fingerprint=fp,
        pool=cell.pool,
        params={**params, "study": study_id, "cell": i},
        id_params=params,
        extra={
            "study_cells": (cell_row(study_id, i, cell, run_id), {"study_id": study_id, "cell": i})
        },
    )


def run_study(
    spec_or_path: StudySpec | str | Path,
    *,
    store: str | Path = DEFAULT_STORE,
    executor: str | Executor = "serial",
    workers: int | None = None,
    cluster: str | None = None,
    progress: Progress | None = None,
    data: str | Path | None = None,
    check: bool = True,
) -> StudyRun:
    """Run every cell of a study and store the results (docs/studies.md).

    Parameters
    ----------
    spec_or_path
        A :class:`StudySpec` (:func:`load_study`, a preset) or the path of a study file.
    store
        The DuckDB store the cells, their ``study_cells`` rows and the study run go to.
    executor, workers, cluster
        How the cells run (:func:`etfflow.pipeline.study.executors.make_executor`), or an
        executor already open.
    progress
        ``progress(stage, done, total)``; stage ``cells`` counts the evaluated cells.
    data
        Dataset folder overriding the study's ``data``.
    check
        Validate the tables the study reads first (data contract); the pools are checked
        either way.

    Returns
    -------
    StudyRun

    Raises
    ------
    EtfflowError
        A bad study file, dataset or store (before any work); a cell that fails
        (:class:`~etfflow.exceptions.StudyTaskError` naming it): the cells before it stay
        stored, nothing of it is, and no study run is written.

    Notes
    -----
    Each cell's backtest run and ``study_cells`` row are one transaction, written in cell
    order, so an interrupted study leaves whole cells only. A cell's run id depends on its
    dataset and options only (not on the study, the other cells or the executor); re-running
    a study replaces its rows.
    """
    secs: dict[str, float] = {}
    t0 = time.perf_counter()
    if isinstance(spec_or_path, StudySpec):
        spec = spec_or_path
        if data is not None:
            spec = load_study(spec.text, data=data, preset=spec.preset, source=spec.source)
    else:
        spec = load_study(spec_or_path, data=data)
    check_store_path(store, create=True)
    cells = spec.cells()
    ds = open_dataset(spec.data)
    check_dataset(ds, spec, progress, contract=check)
    fp = ds.fingerprint()
    market = load_market(ds)
    params = study_params(spec)
    pools = "+".join(dict.fromkeys(c.pool for c in cells))
    study_id = run_id_for("study", fp, pools, params)
    secs["prepare"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ex = (  # before the shared work: an unknown executor or cluster fails first
        make_executor(executor, workers=workers, cluster=cluster)
        if isinstance(executor, str)
        else executor
    )
    secs["executor"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        shared = shared_arrays(ds, market, cells, progress)
    except BaseException:
        ex.close()
        raise
    secs["shared"] = time.perf_counter() - t0
    keys = spec.grid_keys or ["factor"]
    assets = {
        lv: market.group_ids(lv)[1]  # the industry names (the returns' columns)
        for lv in dict.fromkeys(c.level for c in cells)
        if lv != "stock"
    }
    tasks = [
        (f"cell {i} ({c.label(keys)})", cell_payload(c, set(shared), assets))
        for i, c in enumerate(cells)
    ]
    index = {key: i for i, (key, _p) in enumerate(tasks)}
    run_ids: list[str] = []
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    pending: dict[int, Evaluation] = {}
    with ex, open_store(store) as st:  # the executor is closed whatever happens
        for key, ev in ex.map(evaluate_cell, tasks, shared, progress=progress):
            pending[index[key]] = ev
            while len(run_ids) in pending:  # in cell order: a prefix of the cells is stored
                i = len(run_ids)
                ev_i = pending.pop(i)
                run_ids.append(_write_cell(st, spec, study_id, i, cells[i], ev_i, fp))
                rows.append(_summary_row(i, cells[i], keys, ev_i))
        secs["cells"] = time.perf_counter() - t0
        rotation_run = None
        if spec.rotation is not None:
            from etfflow.backtest.rotation.run import rotate
            from etfflow.pipeline.rotation import write_rotation

            result = rotate(ds, spec.rotation, market=market, progress=progress)
            rotation_run = write_rotation(st, result, data_dir=spec.data, fingerprint=fp)
            params["rotation_run"] = rotation_run
        st.write_run(
            "study",
            {},
            dataset_path=str(spec.data.resolve()),
            fingerprint=fp,
            pool=pools,
            params=params,
            id_params=study_params(spec),
            diagnostics={"seconds": {k: round(v, 3) for k, v in secs.items()}},
        )
    summary = pl.DataFrame(rows)
    return StudyRun(spec, study_id, cells, run_ids, summary, rotation_run, Path(store), secs)

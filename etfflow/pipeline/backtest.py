"""Backtest runs: stored factors in, backtests out (docs/methodology.md#5-backtests), into
the store and files.

A backtest reads one factor run from the store (``factor_values`` / ``factor_defs``), the
market of the dataset that run was computed on (checked by fingerprint), and writes one
``kind = 'backtest'`` run: tables ``bt_ic``, ``bt_groups``, ``bt_nav``, ``bt_summary``,
``bt_yearly``, ``bt_group_summary`` and ``bt_periods``, each with the columns of the matching
:mod:`etfflow.backtest.engine` schema, tagged with ``run_id``. Parameters (factor run, level,
pool, processing, groups, direction, rebalance, lag, universe, cost) are in ``runs.params``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from etfflow._common import Progress
from etfflow.backtest.engine import EQUAL_WEIGHT, NAV_SCHEMA, NO_VALUES, Evaluation, evaluate
from etfflow.engine.loading import open_dataset
from etfflow.engine.market import Market, index_returns, load_market
from etfflow.engine.panel import index_of
from etfflow.engine.schemas import BOARDS
from etfflow.engine.store import DEFAULT_STORE, Store, open_store
from etfflow.engine.universe import (
    UNIVERSES,
    min_passive_mask,
    no_rules,
    restrict,
    universe_rules,
)
from etfflow.exceptions import EtfflowError, StoreError
from etfflow.factors.inputs import FLOW_COLUMNS, LEVELS, industry_returns, stock_inputs

#: ``default``, ``none`` or a cap sub-universe (``etfflow.engine.universe.UNIVERSES``).
UniverseName = str

#: store table -> Evaluation attribute
TABLES: dict[str, str] = {
    "bt_ic": "ic",
    "bt_groups": "groups",
    "bt_nav": "nav",
    "bt_summary": "summary",
    "bt_yearly": "yearly",
    "bt_group_summary": "group_summary",
    "bt_periods": "periods",
    "bt_members": "members",
}
DEFAULT_GROUPS = {"stock": 10, "industry_l1": 5, "industry_l2": 5}


@dataclass
class BacktestRun:
    evaluation: Evaluation
    run_id: str
    factor_run: str
    params: dict
    store: Path
    export: Path | None
    html: Path | None
    seconds: dict[str, float]


def find_factor_run(st: Store, *, level: str, run_id: str | None = None) -> dict:
    """The factor run to test: ``run_id``, or the latest factor run at ``level``."""
    if run_id is not None:
        row = st.run(run_id)
        if row["kind"] != "factors":
            raise StoreError(f"run {run_id!r} is a {row['kind']} run, not a factor run")
        return row
    runs = st.runs().filter(pl.col("kind") == "factors")
    for rid in reversed(runs["run_id"].to_list()):
        row = st.run(rid)
        if row["params"].get("level") == level:
            return row
    raise StoreError(
        f"no factor run at level {level!r} in {st.path}: run "
        f"`etfflow factors compute DIR --level {level} --store {st.path}` first"
    )


def _dense(df: pl.DataFrame, market: Market, names: list[str]):
    day = market.calendar.index_of(df["date"])
    col = index_of(df["code"], names)  # stock codes or industry names alike
    bad = (day < 0) | (col < 0)
    if bad.any():
        raise StoreError(
            f"{int(bad.sum())} stored factor rows do not match the dataset's calendar or codes "
            f"(e.g. {df.filter(pl.Series(bad)).select('date', 'code').head(3).rows()}): the "
            "dataset changed since the factors were computed; recompute them"
        )
    return day, col


@dataclass
class StoredFactors:
    """A stored factor run as dense ``(days, assets)`` panels on its dataset's calendar."""

    run: dict
    requested_level: str
    level: str
    names: list[str]
    defs: pl.DataFrame
    market: Market
    assets: list[str]
    returns: np.ndarray  # daily returns of the assets (stocks, or float-cap weighted industries)
    panels: dict[str, np.ndarray]
    seconds: dict[str, float]


def load_stored_factors(
    store: str | Path,
    *,
    level: str = "stock",
    factor_run: str | None = None,
    factors: str | Sequence[str] = "all",
    market: Market | None = None,
) -> StoredFactors:
    """Read a factor run (``factor_run``, or the latest at ``level``) back as dense panels.

    An explicit run at another level decides the level. Raises :class:`EtfflowError` when the
    dataset changed since the run (its fingerprint differs) or the level does not match.
    """
    requested = level
    t0 = time.perf_counter()
    with open_store(store, read_only=True, create=False) as st:  # reading: never create one
        frun = find_factor_run(st, level=level, run_id=factor_run)
        flevel = frun["params"].get("level")
        if flevel != level:
            if factor_run is not None and level == "stock":
                level = flevel  # an explicit run decides the level
            else:
                raise EtfflowError(
                    f"factor run {frun['run_id']} is at level {flevel!r}, not {level!r}"
                )
        defs = st.table("factor_defs", frun["run_id"])
        names = _pick(factors, defs["factor"].to_list(), frun["run_id"])
        values = st.table("factor_values", frun["run_id"], columns=["date", "code", *names])
    secs = {"read": time.perf_counter() - t0}
    t0 = time.perf_counter()
    ds = open_dataset(frun["dataset_path"])
    if ds.fingerprint() != frun["dataset_fingerprint"]:
        raise EtfflowError(
            f"dataset {frun['dataset_path']} changed since factor run {frun['run_id']} was "
            "computed: recompute the factors (`etfflow factors compute`)"
        )
    market = market or load_market(ds)
    if level == "stock":
        assets = list(market.codes)
        returns = market.ret
    else:
        returns, assets = industry_returns(market, level)
    day, col = _dense(values, market, assets)
    shape = (len(market.calendar), len(assets))
    panels = {}
    for n in names:
        a = np.full(shape, np.nan)
        a[day, col] = values[n].cast(pl.Float64).fill_null(np.nan).to_numpy()
        panels[n] = a
    secs["prepare"] = time.perf_counter() - t0
    return StoredFactors(frun, requested, level, names, defs, market, assets, returns, panels, secs)


def run_backtest(
    store: str | Path = DEFAULT_STORE,
    *,
    factor_run: str | None = None,
    level: str = "stock",
    factors: str | Sequence[str] = "all",
    groups: int | None = None,
    direction: str | int = "auto",
    rebalance: int | Literal["month"] = 20,
    lag: int = 1,
    universe: UniverseName = "default",
    cost_bps: float = 0.0,
    min_passive: float | None = None,
    benchmark: str = EQUAL_WEIGHT,
    members: bool | None = None,
    export: str | Path | None = None,
    html: str | Path | None = None,
    html_factors: Sequence[str] | None = None,
    market: Market | None = None,
    progress: Progress | None = None,
) -> BacktestRun:
    """Evaluate the factors of a stored factor run (docs/methodology.md#5-backtests) and store
    the results.

    Parameters
    ----------
    store
        The DuckDB store holding the factor run; results are written there too.
    factor_run
        Run id of the factors (default: the latest factor run at ``level``).
    level
        ``stock`` (deciles by default, the universe and trading rules of
        docs/methodology.md#51-universe-and-trading-rules) or an industry
        level (quintiles, all industries, industry equal-weight benchmark).
    factors
        ``"all"`` or names among the run's factors.
    groups, rebalance, lag, cost_bps
        See :func:`etfflow.backtest.engine.evaluate`.
    direction
        ``"auto"`` (sign of the whole-sample mean Rank IC, in sample), ``"rolling"`` (per
        period, the sign of the mean Rank IC of the periods already completed: out of
        sample), ``"default"`` (each factor's registered direction), ``1`` or ``-1``.
    universe
        ``"default"``: the rules of docs/methodology.md#51-universe-and-trading-rules at
        stock level; ``"none"``: every stock with a return,
        no trading rules (the alphalens-comparable setting with ``lag=0``);
        ``"industry_cap_top25"``, ``"industry_cap_top50"``, ``"market_cap_top25"``: the
        default rules inside the largest quarter / half of each level-1 industry, or the
        largest quarter of the market, by float cap on each signal day (benchmark too).
    min_passive
        A quantile ``q`` in [0, 1): on each signal day, drop the stocks whose passive holding
        share ``w_passive`` (from the factor run's own look-through) is below that day's
        ``q``-quantile among the universe (benchmark too; Kaiyuan 2024-09 figure 11). Stock
        level only.
    benchmark
        ``"equal_weight"`` (default: the equal weight of the universe, or of all industries)
        or an index code of the dataset's ``index_daily`` (e.g. ``"000300.SH"``, CSI 300),
        which then replaces it in every excess figure; it needs a close on every trading day
        of the backtest.
    members
        Store the long and short groups' assets of every rebalance (``bt_members``; Huaan
        2024-12 table 16). Default: at industry levels (a few rows), not for stocks.
    export
        Folder for ``ic.parquet``, ``groups.parquet`` and ``summary.parquet``.
    html
        Path of a self-contained HTML report.
    html_factors
        Factors whose report sections are drawn (default: all; about 0.5 s each); the
        report's tables list every factor.

    Notes
    -----
    :func:`~etfflow.backtest.engine.evaluate` gets the dataset's full calendar and return
    panel, never a slice that depends on the selected factors, so a factor's stored rows are
    the same whichever factors are tested with it. A factor without any value is evaluated
    too: its rows are null and its ``note`` says so, with its warm-up in trading days.
    """
    if level not in LEVELS:
        raise EtfflowError(f"unknown level {level!r}: choose one of {', '.join(LEVELS)}")
    if universe not in UNIVERSES:
        raise EtfflowError(f"unknown universe {universe!r}: choose one of {', '.join(UNIVERSES)}")
    groups = groups or DEFAULT_GROUPS[level]
    secs: dict[str, float] = {}
    t0 = time.perf_counter()
    sf = load_stored_factors(
        store, level=level, factor_run=factor_run, factors=factors, market=market
    )
    frun, fparams, level, names, defs = sf.run, sf.run["params"], sf.level, sf.names, sf.defs
    market, returns, panels = sf.market, sf.returns, sf.panels
    if level != sf.requested_level:
        groups = groups if groups != DEFAULT_GROUPS["stock"] else DEFAULT_GROUPS[level]
    secs.update(sf.seconds)
    t0 = time.perf_counter()
    rules = None
    if level == "stock":
        rules = universe_rules(market, universe)
    index = None
    if benchmark != EQUAL_WEIGHT:
        index = index_returns(open_dataset(frun["dataset_path"]), market.calendar, benchmark)
    if min_passive is not None:
        if level != "stock":
            raise EtfflowError(
                f"min_passive drops stocks from a stock backtest; factor run {frun['run_id']} "
                f"is at level {level!r}"
            )
        w = _w_passive(store, frun, market)
        base = rules if rules is not None else no_rules(market.shape)
        rules = restrict(base, min_passive_mask(w, base.universe, float(min_passive)))
    if direction == "default":
        dmap = dict(zip(defs["factor"].to_list(), defs["direction"].to_list(), strict=True))
        dirs: str | int | dict = {n: int(dmap[n]) for n in names}
    elif direction in ("auto", "rolling"):
        dirs = direction
    else:
        dirs = int(direction)
        if dirs not in (1, -1):
            raise EtfflowError(
                f"direction must be auto, rolling, default, 1 or -1, got {direction!r}"
            )
    secs["prepare"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ev = evaluate(
        panels,
        returns,
        market.calendar.dates.to_numpy(),
        rules=rules,
        groups=groups,
        direction=dirs,  # type: ignore[arg-type]
        rebalance=rebalance,
        lag=lag,
        cost_bps=cost_bps,
        benchmark=index,
        benchmark_name=benchmark,
        members=level != "stock" if members is None else members,
        assets=sf.assets,
        progress=progress,
    )
    secs["evaluate"] = time.perf_counter() - t0
    ev = _explain_empty(ev, defs, len(market.calendar))

    params = {
        "factor_run": frun["run_id"],
        "level": level,
        "factors": names,
        "processing": fparams.get("processing"),
        "groups": groups,
        "direction": direction,
        "rebalance": rebalance,
        "lag": lag,
        "universe": universe if level == "stock" else "all industries",
        "cost_bps": cost_bps,
    }
    if min_passive is not None:  # only when set: earlier runs keep their ids
        params["min_passive"] = float(min_passive)
    if benchmark != EQUAL_WEIGHT:
        params["benchmark"] = benchmark
    t0 = time.perf_counter()
    with open_store(store) as st:
        run_id = st.write_run(
            "backtest",
            {t: getattr(ev, attr) for t, attr in TABLES.items()},
            dataset_path=frun["dataset_path"],
            fingerprint=frun["dataset_fingerprint"],
            pool=frun["pool"],
            params=params,
            diagnostics={"seconds": {k: round(v, 3) for k, v in secs.items()}},
        )
    secs["store"] = time.perf_counter() - t0
    out = export_evaluation(ev, export) if export else None
    page = None
    if html:
        page = write_report(
            ev, html, run_id=run_id, params=params, pool=frun["pool"], detail=html_factors
        )
    return BacktestRun(ev, run_id, frun["run_id"], params, Path(store), out, page, secs)


def _min_passive_label(params: dict) -> str:
    q = params.get("min_passive")
    return "" if q is None else f", w_passive ≥ its {q:g} quantile"


def _w_passive(store: str | Path, frun: dict, market: Market) -> np.ndarray:
    """The ``(days, stocks)`` passive holding share of a factor run's own look-through."""
    lt_run = frun["params"].get("lookthrough_run")
    with open_store(store, read_only=True, create=False) as st:
        known = lt_run is not None and lt_run in st.runs()["run_id"].to_list()
        if not known:
            raise StoreError(
                f"factor run {frun['run_id']}'s look-through run {lt_run!r} is not in "
                f"{st.path}: min_passive needs its w_passive; recompute the factors"
            )
        rows = st.table("stock_flow", lt_run, columns=["date", "code", *FLOW_COLUMNS])
    return stock_inputs(market, rows)["w_passive"]


def _explain_empty(ev: Evaluation, defs: pl.DataFrame, n_days: int) -> Evaluation:
    """Say why a factor has no value (a 96-week correlation on two years of data): the note
    of a factor without any value gains its warm-up and the number of days in the data."""
    look = dict(zip(defs["factor"].to_list(), defs["lookback"].to_list(), strict=True))
    notes = [
        (
            f"{NO_VALUES}: its first value needs {look[f] + 1} trading days of data (warm-up "
            f"{look[f]}), the data has {n_days}"
            if note == NO_VALUES and look.get(f)
            else note
        )
        for f, note in ev.summary.select("factor", "note").iter_rows()
    ]
    summary = ev.summary.with_columns(pl.Series("note", notes, dtype=pl.String))
    return dataclasses.replace(ev, summary=summary)


def _pick(factors: str | Sequence[str], available: list[str], run_id: str) -> list[str]:
    if isinstance(factors, str):
        factors = [f.strip() for f in factors.split(",") if f.strip()]
    if list(factors) == ["all"]:
        return available
    missing = [f for f in factors if f not in available]
    if missing:
        raise EtfflowError(
            f"factor run {run_id} has no factor {missing[0]!r}; it has: "
            + ", ".join(available[:12])
            + (" ..." if len(available) > 12 else "")
        )
    return list(dict.fromkeys(factors))


def export_evaluation(ev: Evaluation, folder: str | Path) -> Path:
    """Write ``ic.parquet``, ``groups.parquet`` and ``summary.parquet`` (all or nothing)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "ic.parquet": ev.ic.select("date", "factor", "ic", "rank_ic"),
        "groups.parquet": ev.groups.select("date", "factor", "group", "ret"),
        "summary.parquet": ev.summary,
    }
    tmp = Path(tempfile.mkdtemp(prefix=".etfflow-export-", dir=folder))
    try:
        for name, df in files.items():
            df.write_parquet(tmp / name)
        for name in files:
            os.replace(tmp / name, folder / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load_evaluation(st: Store, run_id: str) -> tuple[Evaluation, dict]:
    """Rebuild a stored backtest's :class:`Evaluation` and its ``runs`` row."""
    row = st.run(run_id)
    if row["kind"] != "backtest":
        raise StoreError(f"run {run_id!r} is a {row['kind']} run, not a backtest run")
    parts = {}
    for table, attr in TABLES.items():
        df = st.table(table, run_id)
        parts[attr] = df
    order = {n: i for i, n in enumerate(row["params"].get("factors", []))}
    sort_keys = {
        "ic": ["date"],
        "groups": ["date", "group"],
        "nav": ["series", "date"],
        "summary": [],
        "yearly": ["year"],
        "group_summary": ["group"],
        "members": ["date", "leg", "asset"],
    }
    for attr, keys in sort_keys.items():
        df = parts[attr]
        if attr == "nav":
            df = df.with_columns(pl.col("series").cast(NAV_SCHEMA["series"]))
        parts[attr] = (
            df.with_columns(pl.col("factor").replace_strict(order, default=len(order)).alias("_o"))
            .sort("_o", *keys)
            .drop("_o")
        )
    parts["periods"] = parts["periods"].sort("period")
    return Evaluation(**parts), row


def write_report(
    ev: Evaluation,
    path: str | Path,
    *,
    run_id: str,
    params: dict,
    pool: str,
    detail: Sequence[str] | None = None,
):
    from etfflow.backtest.report import write_html

    meta = {
        "run": run_id,
        "factor run": params.get("factor_run", ""),
        "pool": pool,
        "level": params.get("level", ""),
        "processing": params.get("processing") or "none",
        "groups": str(params.get("groups", "")),
        "direction": str(params.get("direction", "")),
        "rebalance": str(params.get("rebalance", "")),
        "lag": str(params.get("lag", "")),
        "universe": str(params.get("universe", "")) + _min_passive_label(params),
        "cost (bps per side)": str(params.get("cost_bps", "")),
        "benchmark": str(params.get("benchmark", EQUAL_WEIGHT)),
    }
    title = f"etfflow backtest — {params.get('level', '')} factors, pool {pool}"
    return write_html(ev, path, title=title, meta=meta, detail=detail)


#: The six 20-day flow metrics of Huaan 2024-12 table 10 (ETF shares, industry shares, holding
#: value, its change rate, net inflow and net inflow over float cap), with ``mv_passive_chg_20``
#: in place of Huaan's ``w_passive_diff``
#: (docs/methodology.md#512-time-series-rank-correlation-of-industry-flows).
TS_CORR_METRICS: tuple[str, ...] = (
    "share_passive_fund_diff_20",
    "share_passive_diff_20",
    "mv_passive_diff_20",
    "mv_passive_chg_20",
    "mv_passive_inflow_20",
    "w_passive_inflow_20",
)


def _ts_corr(
    values: dict[str, np.ndarray],
    returns: np.ndarray,
    dates: np.ndarray,
    horizon: int,
    metrics: Sequence[str],
) -> pl.DataFrame:
    from etfflow.backtest.tscorr import ts_rank_corr

    parts = [
        ts_rank_corr(values[m], returns, dates, horizon=horizon).select(
            pl.lit(m).alias("metric"), pl.all()
        )
        for m in metrics
        if m in values
    ]
    if not parts:
        raise EtfflowError(
            f"none of the metrics {', '.join(metrics)} was computed; the factor run has "
            f"{', '.join(sorted(values)[:8])}{', ...' if len(values) > 8 else ''}"
        )
    return pl.concat(parts)


def flow_ts_corr(fs, *, horizon: int = 20, metrics: Sequence[str] = TS_CORR_METRICS):
    """Time-series rank correlation for industry-level factors: per metric and year (and the
    whole period, ``year`` null), the mean time-series Spearman correlation across
    industries with the next ``horizon``-day industry return, and the share of industries
    where it is positive (docs/methodology.md#512-time-series-rank-correlation-of-industry-flows).
    Metrics missing from ``fs`` are skipped."""
    dates = fs.inputs.calendar.dates.to_numpy()
    return _ts_corr(fs.values, fs.inputs["ret"], dates, horizon, metrics)


#: Board names with the two main boards merged (Huaan 2024-12 §3.3 treats them as one).
MAIN_BOARDS = {"SH_MAIN": "MAIN", "SZ_MAIN": "MAIN"}


def board_labels(market: Market, *, merge_main: bool = False) -> list[str]:
    """Each stock's board name (``NONE`` without one); ``merge_main`` names both main boards
    ``MAIN``."""
    names = [BOARDS[b] if b >= 0 else "NONE" for b in market.board.tolist()]
    return [MAIN_BOARDS.get(n, n) for n in names] if merge_main else names


def run_ts_corr(
    store: str | Path = DEFAULT_STORE,
    *,
    factor_run: str | None = None,
    level: str = "industry_l1",
    horizon: int = 20,
    metrics: Sequence[str] | None = None,
    merge_main: bool = False,
) -> tuple[pl.DataFrame, dict]:
    """:func:`flow_ts_corr` on a stored factor run (``factor_run``, or the latest at
    ``level``): returns the table and the run's row (run id, pool, parameters).

    At an industry level the groups are the industries. At ``level="stock"`` the groups are
    the stocks, correlated one by one and summarised within each board (Huaan 2024-12 table
    43): the table gains a ``board`` column (first), one block per board in
    :data:`~etfflow.engine.schemas.BOARDS` order; ``merge_main`` counts the Shanghai and
    Shenzhen main boards as one, ``MAIN``.

    ``metrics`` default to :data:`TS_CORR_METRICS` (those the run has); a named metric the run
    lacks is an error naming the run's factors.
    """
    if level not in LEVELS:
        raise EtfflowError(f"unknown level {level!r}: choose one of {', '.join(LEVELS)}")
    sf = load_stored_factors(store, level=level, factor_run=factor_run)
    if merge_main and sf.level != "stock":
        raise EtfflowError(
            f"merge_main groups stocks by board; factor run {sf.run['run_id']} is at level "
            f"{sf.level!r} (use level='stock')"
        )
    if metrics is not None:
        unknown = [m for m in metrics if m not in sf.panels]
        if unknown:
            raise EtfflowError(
                f"factor run {sf.run['run_id']} has no {', '.join(unknown)}: it has "
                f"{', '.join(sf.names[:8])}{', ...' if len(sf.names) > 8 else ''}"
            )
    chosen = list(metrics) if metrics is not None else list(TS_CORR_METRICS)
    dates = sf.market.calendar.dates.to_numpy()
    if sf.level != "stock":
        return _ts_corr(sf.panels, sf.returns, dates, horizon, chosen), sf.run
    labels = np.array(board_labels(sf.market, merge_main=merge_main))
    parts = []
    for board in dict.fromkeys(MAIN_BOARDS.get(b, b) if merge_main else b for b in BOARDS):
        cols = np.flatnonzero(labels == board)
        if len(cols) == 0:
            continue
        panels = {m: v[:, cols] for m, v in sf.panels.items() if m in chosen}
        part = _ts_corr(panels, sf.returns[:, cols], dates, horizon, chosen)
        parts.append(part.select(pl.lit(board).alias("board"), pl.all()))
    return pl.concat(parts), sf.run

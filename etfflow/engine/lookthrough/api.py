"""The public entry point :func:`penetrate` (alias ``etfflow.look_through``) and its result
:class:`LookThrough`: reads the tables, builds the panels, runs one mode and the tables."""

from __future__ import annotations

import gc
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

try:  # POSIX only: minor page faults in the diagnostics
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

from etfflow._common import Progress
from etfflow.engine.etf_measures import etf_measures
from etfflow.engine.loading import Dataset
from etfflow.engine.lookthrough import common_nb as nb
from etfflow.engine.lookthrough.common import load_etf_panel, member_panel, pool_etfs
from etfflow.engine.lookthrough.pcf import Valuation, penetrate_pcf
from etfflow.engine.lookthrough.tables import coverage_stats, group_table, stock_table
from etfflow.engine.lookthrough.weights import run_weights, weight_columns
from etfflow.engine.panel import stock_panel_from
from etfflow.engine.pools import Pool
from etfflow.exceptions import DataContractError, DatasetNotFoundError, EtfflowError

log = logging.getLogger(__name__)

Mode = Literal["pcf", "weights"]

#: Trading days of ``etf_pcf`` read per chunk (≈ 19M basket rows at full size).
DEFAULT_CHUNK_DAYS = 126


@dataclass
class LookThrough:
    """Result of :func:`penetrate`.

    Attributes
    ----------
    stocks
        One row per ``stock_daily`` row (listed stock-day), columns of
        :data:`~etfflow.engine.schemas.STOCK_FLOW_SCHEMA`; stocks held by no pool ETF get
        zeros; ``inflow`` is null on the first date of the data.
    groups
        Daily 整体法 aggregates per industry (level 1 and 2), board and float-cap quintile
        (:data:`~etfflow.engine.schemas.GROUP_FLOW_SCHEMA`).
    coverage
        Coverage statistics: per group, min / mean / max over time and latest of
        coverage, passive share of float cap, distinct ETFs and distinct indices
        (docs/methodology.md#26-coverage-statistics).
    params, diagnostics
        What was run, and counts of every row the look-through could not use.
    """

    stocks: pl.DataFrame
    groups: pl.DataFrame
    coverage: pl.DataFrame
    params: dict
    diagnostics: dict = field(default_factory=dict)

    @property
    def industries(self) -> pl.DataFrame:
        return self.groups.filter(pl.col("level").is_in(["industry_l1", "industry_l2"]))


def _read(ds: Dataset, mode: Mode) -> dict[str, pl.DataFrame]:
    """Collect the tables of a run together (one parallel read)."""
    lazy = {
        "stocks": ds.frame("stocks"),
        # weights mode needs no prices
        "stock_daily": ds.frame("stock_daily").select(
            "date", "code", *(("close",) if mode == "pcf" else ()), "float_mcap"
        ),
        "stock_industry": ds.frame("stock_industry"),
        "etfs": ds.frame("etfs"),
        "etf_daily": ds.frame("etf_daily").select("date", "etf_code", "shares", "nav"),
    }
    if mode == "weights":
        lf = ds.frame("holding_weights")
        names = lf.collect_schema().names()
        cols = ["date", "code", "weight"] + [c for c in ("etf_code", "index_code") if c in names]
        lazy["holding_weights"] = lf.select(cols)
    return dict(zip(lazy, pl.collect_all(list(lazy.values()), engine="in-memory"), strict=True))


#: Codes of the ETFs left out for want of a creation unit shown in a note (all are counted).
SHOWN_CODES = 8


def _without_unit(frames: dict[str, pl.DataFrame], pool: Pool) -> tuple[Pool, list[str], int]:
    """Basket valuation divides by ``etfs.creation_unit``: the pool without its ETFs whose
    unit is null (unknown), their codes and their ``etf_daily`` rows (ETF-days).

    The pool keeps its other criteria and its label; the ETFs left out take no part at all,
    as if they were not in the dataset. Raises when no ETF of the pool has a unit."""
    chosen = pool.select(frames["etfs"])
    missing = chosen.filter(pl.col("creation_unit").is_null())["etf_code"].sort().to_list()
    if not missing:
        return pool, [], 0
    if len(missing) == chosen.height:
        raise DataContractError(
            f"valuation 'basket' divides by the creation unit, which is null (unknown) for "
            f"every ETF of pool {pool.label!r}",
            table="etfs",
            column="creation_unit",
            rule="null_value",
            examples=chosen.select("etf_code", "name", "creation_unit").head(5),
            n_rows=chosen.height,
            hint="use valuation 'nav' (it needs no creation unit), or give the units "
            "(etfflow import tushare --creation-units FILE, or etfflow import pcf)",
        )
    gone = set(missing)
    kept = tuple(c for c in chosen["etf_code"].to_list() if c not in gone)
    narrowed = Pool(pool.categories, kept, pool.enhanced, pool.predicate, pool.split, pool.label)
    days = int(frames["etf_daily"]["etf_code"].cast(pl.String).is_in(missing).sum())
    return narrowed, missing, days


def counted_not_used(diagnostics: dict) -> dict[str, int]:
    """The look-through's nonzero counts of rows it could not use (ETF-days without a basket
    or shares, unpriced basket rows, stock-days without an industry). The ETF-days left out
    for want of a creation unit are not among them: :func:`unit_note` names those."""
    return {
        k: v
        for k, v in diagnostics.items()
        if k.startswith(("etf_days_", "basket_rows_unpriced", "stock_days_without"))
        and k != "etf_days_without_creation_unit"
        and v
    }


def unit_note(diagnostics: dict) -> str | None:
    """The note on the ETFs a basket-valued PCF look-through left out for want of a creation
    unit (None when it left out none)."""
    codes = diagnostics.get("etfs_without_creation_unit") or []
    if not codes:
        return None
    shown = ", ".join(codes[:SHOWN_CODES]) + (", ..." if len(codes) > SHOWN_CODES else "")
    return (
        f"left out of the PCF look-through (valuation basket divides by etfs.creation_unit, "
        f"which is null): {len(codes)} ETFs, "
        f"{diagnostics['etf_days_without_creation_unit']:,} ETF-days: {shown}"
    )


def _minor_faults() -> int:
    """Minor page faults of the process so far (all threads; 0 where ``resource`` is missing)."""
    if resource is None:
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


class _Stages:
    """Wall seconds and minor page faults per stage of a run (``diagnostics["stage_seconds"]``,
    ``diagnostics["stage_minor_faults"]``); ``numba_setup`` overlaps ``read`` (the Parquet read
    runs in a background thread), and faults are the whole process's, so a stage's count
    includes what the background thread touched meanwhile."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.faults: dict[str, int] = {}
        self._t = time.perf_counter()
        self._f = _minor_faults()

    def lap(self, name: str) -> None:
        now, faults = time.perf_counter(), _minor_faults()
        self.seconds[name] = round(now - self._t, 3)
        self.faults[name] = faults - self._f
        if name != "numba_setup":  # the read started with the set-up
            self._t, self._f = now, faults


def _warm_up_numba() -> None:
    """First kernel call of the process: numba builds its typing and target contexts (≈0.3 s,
    mostly object creation, so the cyclic garbage collector is paused meanwhile)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        nb.warm_up()
    finally:
        if was_enabled:
            gc.enable()


def penetrate(
    ds: Dataset,
    *,
    pool: Pool | str | None = None,
    mode: Mode = "pcf",
    valuation: Valuation = "nav",
    chunk_days: int = DEFAULT_CHUNK_DAYS,
    progress: Progress | None = None,
) -> LookThrough:
    """Look through the ETFs of ``pool`` to their stocks, every trading day.

    Definition: docs/methodology.md#2-look-through.

    Parameters
    ----------
    ds
        An opened dataset (:func:`etfflow.engine.loading.open_dataset`); validate it first
        (:func:`etfflow.engine.validation.validate`): the look-through trusts the contract.
    pool
        The ETFs to count: a :class:`~etfflow.engine.pools.Pool`, a name
        (:data:`~etfflow.engine.pools.POOL_NAMES`: ``"all"``, a category, ``"nonbroad"``,
        ``"concentration:high"``, ``"turnover:low"``, ...) or None (all ETFs). A split pool
        counts an ETF-day only when the ETF is a member that day
        (:func:`~etfflow.engine.pools.split_members`; its concentration from ``mode``'s
        baskets, :mod:`etfflow.engine.etf_measures`).
    mode
        ``"pcf"``: daily baskets from ``etf_pcf``; ``"weights"``: weight snapshots from
        ``holding_weights`` in force as-of each day.
    valuation
        ``"nav"``: ``h = S·N·w``; ``"basket"``: ``h = q·S/U·close`` (PCF only;
        docs/methodology.md#24-valuation).
        Both agree when ``N·U`` equals the basket value. ``"basket"`` leaves out the pool's
        ETFs whose ``etfs.creation_unit`` ``U`` is null (unknown), as if they were not in the
        dataset: ``diagnostics["etfs_without_creation_unit"]`` lists them and
        ``diagnostics["etf_days_without_creation_unit"]`` counts their ``etf_daily`` rows
        (:func:`unit_note`). ``"nav"`` and the weights mode do not use ``U`` and keep them.
    chunk_days
        Trading days of baskets read at a time (PCF; bounds memory).
    progress
        ``progress(stage, done, total)`` callback.

    Returns
    -------
    LookThrough
        The daily stock table, the daily group table and the coverage statistics.

    Notes
    -----
    ``w[e,s,t] = q·close / Σ q·close`` (PCF) or the snapshot weight; ``mv_passive = Σ_e
    S·N·w`` (CNY), ``w_passive = mv_passive / float_mcap``, ``share_passive = Σ_e S·w``,
    ``share_passive_fund = Σ_e S`` over the ETFs holding the stock, ``inflow = Σ_e
    (S[t]-S[t-1])·N[t]·w`` (creations minus redemptions, CNY). Groups use 整体法: sums over
    the group's stocks, then ratios of the sums.

    PCF mode scatter-adds every basket row into (day × stock) panels. Weights mode uses that
    snapshots are constant between snapshot dates: per block of days it is a sparse product
    ``(S·N | S | dS·N)[days × ETF] @ W[ETF × stock]`` written straight to the output rows
    (:func:`etfflow.engine.lookthrough.weights_nb.weights_flows`).

    Raises
    ------
    DataContractError
        When a required table is missing or a row cannot be placed on the calendar; with
        valuation ``"basket"``, when no ETF of the pool has a creation unit.
    """
    pool = Pool.of(pool)
    if chunk_days < 1:
        raise EtfflowError("chunk_days must be at least 1")
    if mode not in ("pcf", "weights"):
        raise EtfflowError(f"unknown mode {mode!r}: choose 'pcf' or 'weights'")
    if valuation not in ("nav", "basket"):
        raise EtfflowError(f"unknown valuation {valuation!r}: choose 'nav' or 'basket'")
    if mode == "weights" and valuation == "basket":
        raise EtfflowError("valuation 'basket' needs quantities: use it with mode 'pcf'")
    table = "etf_pcf" if mode == "pcf" else "holding_weights"
    if not ds.has(table):
        raise DatasetNotFoundError(
            f"mode {mode!r} needs table '{table}', which is not in {ds.root}"
        )
    t0 = time.perf_counter()
    stages = _Stages()
    if progress:
        progress("load panels", 0, 1)
    # a background thread reads Parquet while numba sets up, then builds the output's code
    # column while the look-through runs (both are Polars work that releases the GIL)
    with ThreadPoolExecutor(max_workers=1) as background:
        reading = background.submit(_read, ds, mode)
        _warm_up_numba()
        stages.lap("numba_setup")
        frames = reading.result()
        stages.lap("read")
        run_pool, no_unit, no_unit_days = pool, list[str](), 0
        if mode == "pcf" and valuation == "basket":
            run_pool, no_unit, no_unit_days = _without_unit(frames, pool)
        if mode == "weights":  # snapshot columns to arrays meanwhile
            _, etf_codes, index_codes = pool_etfs(frames["etfs"], run_pool)
            stock_codes = sorted(frames["stocks"]["code"].cast(pl.String).to_list())
            weights_future = background.submit(
                weight_columns,
                frames.pop("holding_weights"),  # freed once converted
                stock_codes,
                etf_codes,
                index_codes,
            )
        panel = stock_panel_from(
            frames.pop("stocks"), frames.pop("stock_daily"), frames.pop("stock_industry")
        )
        if mode == "weights":  # (PCF: later, not to add to the basket chunks' peak memory)
            code_column = background.submit(panel.row_codes)
        stages.lap("stock_panel")
        member = None
        if pool.split is not None:  # a time-varying pool: its members on each day
            _, base_codes, _ = pool_etfs(frames["etfs"], run_pool)
            names = ds.frame("etf_daily").collect_schema().names()
            if pool.split.measure == "turnover" and "amount" not in names:
                raise DataContractError(
                    f"pool {pool.label!r} splits ETFs by turnover, which needs column 'amount'",
                    table="etf_daily",
                    column="amount",
                    rule="missing_column",
                    hint=f"available columns: {', '.join(names)}",
                )
            measures = etf_measures(
                ds,
                mode=mode,
                etf_codes=base_codes,
                concentration=pool.split.measure == "concentration",
            )
            member = member_panel(measures, run_pool, base_codes, panel.calendar)
            if not member.any():
                log.warning("pool %r has no member on any day (no decision yet?)", pool.label)
            stages.lap("pool_members")
        etf = load_etf_panel(frames.pop("etfs"), frames.pop("etf_daily"), run_pool, panel, member)
        stages.lap("etf_panel")
        if progress:
            progress("load panels", 1, 1)
        if mode == "pcf":
            fl, info = penetrate_pcf(
                ds, panel, etf, valuation=valuation, chunk_days=chunk_days, progress=progress
            )
            code_column = background.submit(panel.row_codes)
        else:
            fl, info = run_weights(weights_future.result(), panel, etf, progress)
            del weights_future
        stages.lap("look_through")
        codes = code_column.result()
    t = len(panel.calendar)
    if info["rows_off_calendar"]:
        raise DataContractError(
            "has basket dates that are not trading days (not in stock_daily)",
            table=table,
            column="date",
            rule="date_not_in_calendar",
            n_rows=info["rows_off_calendar"],
            hint="run `etfflow validate` for example rows",
        )
    c = fl.counters.sum(axis=0)
    if c[nb.C_UNKNOWN]:
        raise DataContractError(
            "names stocks that are not in table 'stocks'",
            table=table,
            column="code",
            rule="unknown_stock",
            n_rows=int(c[nb.C_UNKNOWN]),
            hint="run `etfflow validate` for example rows",
        )
    stocks = stock_table(panel, fl, codes)
    groups = group_table(panel, fl)
    coverage = coverage_stats(groups)
    stages.lap("tables")
    diagnostics = {
        "pool_etfs": len(etf.codes),
        "basket_rows_read": info["basket_rows"],
        "etf_days": int(c[nb.C_ETF_DAYS]),
        "etf_days_without_basket": int(c[nb.C_NO_BASKET]),
        "etf_days_with_carried_basket": int(c[nb.C_CARRIED]),
        "etf_days_empty_basket": int(c[nb.C_EMPTY_BASKET]),
        "basket_rows_unpriced": int(c[nb.C_UNPRICED]),
        "etfs_without_creation_unit": no_unit,
        "etf_days_without_creation_unit": no_unit_days,
        "stock_days_without_industry": panel.n_no_industry,
        "non_contiguous_chunks": info["non_contiguous_chunks"],
        "chunk_buffer_allocations": info.get("buffer_allocations", 0),
        "seconds": round(time.perf_counter() - t0, 3),
        "stage_seconds": stages.seconds,
        "stage_minor_faults": stages.faults,
    }
    if member is not None:  # ETF-days of the split pool's members with an etf_daily row
        diagnostics["pool_member_days"] = int(etf.present.sum())
    for k, v in counted_not_used(diagnostics).items():
        log.warning("look-through: %s = %d", k, v)
    if note := unit_note(diagnostics):
        log.warning("look-through: %s", note)
    params = {
        "pool": pool.describe(),
        "mode": mode,
        "valuation": valuation,
        "start": str(panel.calendar.dates[0]) if t else None,
        "end": str(panel.calendar.dates[-1]) if t else None,
    }
    return LookThrough(stocks, groups, coverage, params, diagnostics)

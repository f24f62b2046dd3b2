"""Compute registered factors on dense inputs, process them, and tabulate them wide.

Definition: docs/methodology.md#4-cross-sectional-processing.

The hot path is array code (numba kernels, NumPy); Polars only builds the final wide table,
one row per present (date, asset) cell: ``date, code`` then one Float64 column per factor
(``code`` is the industry name at industry level), nulls where a factor is undefined.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from etfflow._common import Progress
from etfflow._jit import kernel
from etfflow.engine.market import Market
from etfflow.exceptions import EtfflowError
from etfflow.factors.inputs import FactorInputs
from etfflow.factors.registry import FactorInstance, resolve


@kernel
def _finalize(v: np.ndarray, present: np.ndarray) -> None:  # pragma: no cover - numba
    """In place: NaN outside ``present`` and for ±inf (one pass)."""
    t, m = v.shape
    for i in range(t):
        for j in range(m):
            if not present[i, j] or not np.isfinite(v[i, j]):
                v[i, j] = np.nan


@dataclass
class FactorSet:
    """Computed factor panels at one level.

    Attributes
    ----------
    inputs
        What they were computed from (calendar, asset names, presence mask).
    instances
        The factors, in column order.
    values
        ``name -> (T, M) float64`` (NaN = null).
    processing
        Description of the processing steps applied (``"none"`` for raw factors;
        docs/methodology.md#4-cross-sectional-processing).
    timings
        Seconds spent per factor.
    """

    inputs: FactorInputs
    instances: list[FactorInstance]
    values: dict[str, np.ndarray]
    processing: str = "none"
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def level(self) -> str:
        return self.inputs.level

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.instances]

    def frame(self) -> pl.DataFrame:
        """The wide table: ``date, code`` then one column per factor, rows in date, code order."""
        x = self.inputs
        d, m = np.nonzero(x.present)
        cols: dict[str, pl.Series] = {
            "date": x.calendar.dates.gather(d).alias("date"),
            "code": pl.Series("code", x.names, dtype=pl.String).gather(m),
        }
        flat = d.astype(np.int64) * x.shape[1] + m
        for name in self.names:
            v = np.take(self.values[name].reshape(-1), flat)
            cols[name] = pl.Series(name, v, dtype=pl.Float64, nan_to_null=True)
        return pl.DataFrame(cols)


def compute_factors(
    inputs: FactorInputs,
    factors: str | Sequence[str] = "all",
    *,
    windows: Sequence[int] | None = None,
    progress: Progress | None = None,
) -> FactorSet:
    """Compute factors (docs/methodology.md#32-the-factor-families) on one level's inputs.

    Parameters
    ----------
    inputs
        :func:`~etfflow.factors.inputs.stock_inputs` or
        :func:`~etfflow.factors.inputs.industry_inputs`.
    factors
        ``"all"`` (every factor of the level whose inputs ``inputs`` has: ``turnover_n`` only
        with the optional ``stock_daily.turnover``), or names / families
        (``"w_passive_zs_20,revs"``).
    windows
        Windows for the windowed factors (default 20, 40, 60).
    progress
        ``progress(stage, done, total)`` callback.

    Returns
    -------
    FactorSet
        Values are NaN outside ``inputs.present`` and where a window is incomplete.

    Examples
    --------
    >>> import datetime as dt
    >>> import numpy as np, polars as pl
    >>> from etfflow.engine.panel import Calendar
    >>> from etfflow.factors.inputs import FactorInputs
    >>> cal = Calendar(pl.date_range(dt.date(2024, 1, 2), dt.date(2024, 1, 5), eager=True))
    >>> mv = np.array([[1.0], [2.0], [4.0], [8.0]])
    >>> x = FactorInputs("stock", cal, ["600000.SH"], np.ones((4, 1), bool),
    ...                  {"mv_passive": mv})
    >>> compute_factors(x, "mv_passive_diff_2").values["mv_passive_diff_2"].ravel().tolist()
    [nan, nan, 3.0, 6.0]
    """
    instances = resolve(factors, windows=windows, level=inputs.level)
    if isinstance(factors, str) and factors.strip() == "all":
        instances = [i for i in instances if set(i.definition.inputs) <= set(inputs.series)]
    values: dict[str, np.ndarray] = {}
    timings: dict[str, float] = {}
    for i, inst in enumerate(instances):
        if progress:
            progress(f"factors ({inputs.level})", i, len(instances))
        t0 = time.perf_counter()
        v = np.asarray(inst.definition.compute(inputs, inst.n), dtype=np.float64)
        if v.shape != inputs.shape:
            raise EtfflowError(
                f"factor {inst.name!r} returned shape {v.shape}, expected {inputs.shape}"
            )
        if not v.flags.writeable or not v.flags.c_contiguous:
            v = np.ascontiguousarray(v).copy()
        _finalize(v, inputs.present)
        values[inst.name] = v
        timings[inst.name] = time.perf_counter() - t0
    if progress:
        progress(f"factors ({inputs.level})", len(instances), len(instances))
    return FactorSet(inputs, instances, values, "none", timings)


def replace_values(fs: FactorSet, values: Mapping[str, np.ndarray], processing: str) -> FactorSet:
    """A copy of ``fs`` with processed values."""
    return FactorSet(fs.inputs, fs.instances, dict(values), processing, dict(fs.timings))


def check_steps_at_level(plan: Sequence[Any], level: str) -> None:
    """Raise :class:`EtfflowError` for a step an industry level cannot run (neutralising
    industries on anything but ``log_cap``); ``plan`` holds parsed steps."""
    if level == "stock":
        return
    for s in plan:
        regs = set(s.params.get("regressors", ()))
        if regs - {"log_cap"}:
            raise EtfflowError(
                f"step {s.describe()!r} is not defined at level {level!r}: industries "
                "can only be neutralised on log_cap"
            )


def process(
    fs: FactorSet,
    steps: str | Sequence[str],
    *,
    market: Market,
    universe: np.ndarray | None = None,
) -> FactorSet:
    """Apply the processing steps to every factor of ``fs`` (per date, vectorised).

    Definition: docs/methodology.md#4-cross-sectional-processing.

    Stock level: ``fill`` and ``neutralize`` use CITIC level-1 industries, ``log_cap`` the
    stock's log float cap and ``board`` its board; ``universe`` the universe of
    docs/methodology.md#51-universe-and-trading-rules
    (:func:`etfflow.engine.universe.stock_rules`) unless given. Industry level: one group
    (``fill`` uses the cross-sectional median; ``neutralize`` may use ``log_cap`` — the
    industry's log float cap — only). A control named by ``strip`` (e.g. ``revs_20``) is
    computed from the same inputs and put through the same earlier steps.

    Raises
    ------
    EtfflowError
        On unknown or misordered steps, or a regressor that does not exist at the level.
    """
    from etfflow.factors.processing_pipeline import Step, apply_steps, describe, parse_steps

    plan = parse_steps(steps)
    if not plan:
        return fs
    x = fs.inputs
    stock = x.level == "stock"
    if stock:
        groups, _ = market.group_ids("industry_l1")
        boards = np.where(x.present, market.board[None, :], -1).astype(np.int16)
        if universe is None and any(s.name == "universe" for s in plan):
            from etfflow.engine.universe import stock_rules

            universe = stock_rules(market).universe
    else:
        check_steps_at_level(plan, x.level)
        groups = np.where(x.present, 0, -1).astype(np.int16)
        boards = None
        universe = x.present if universe is None else universe
    with np.errstate(divide="ignore", invalid="ignore"):
        fmc = x["float_mcap"]
        log_cap = np.where(fmc > 0, np.log(fmc), np.nan)
    before_strip: list[Step] = [s for s in plan if s.name != "strip"]
    controls: dict[str, np.ndarray] = {}
    for s in plan:
        if s.name != "strip":
            continue
        for c in s.params["controls"]:
            raw = fs.values.get(c)
            if raw is None:
                raw = compute_factors(x, c).values[c]
            controls[c] = (
                apply_steps(
                    raw,
                    before_strip,
                    universe=universe,
                    groups=groups,
                    log_cap=log_cap,
                    boards=boards,
                )
                if before_strip
                else raw
            )
    out = {}
    for inst in fs.instances:
        out[inst.name] = apply_steps(
            fs.values[inst.name],
            plan,
            universe=universe,
            groups=groups,
            log_cap=log_cap,
            boards=boards,
            controls=controls,
        )
        out[inst.name][~x.present] = np.nan
    return replace_values(fs, out, describe(plan))

"""Evaluate a :class:`~etfflow.factors.FactorSet` directly: the arrays, calendar, returns and
trading rules :func:`~etfflow.backtest.engine.evaluate` needs are taken from the objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

from etfflow._common import Progress
from etfflow.backtest.engine import Direction, Evaluation, evaluate
from etfflow.engine.market import Market
from etfflow.engine.universe import (
    UNIVERSES,
    min_passive_mask,
    no_rules,
    restrict,
    universe_rules,
)
from etfflow.exceptions import EtfflowError
from etfflow.factors.compute import FactorSet

#: Default number of groups per level (deciles for stocks, quintiles for industries).
DEFAULT_GROUPS = {"stock": 10, "industry_l1": 5, "industry_l2": 5}


def evaluate_factors(
    factors: FactorSet,
    market: Market | None = None,
    *,
    groups: int | None = None,
    universe: str = "default",
    direction: Direction | Literal["default"] | Mapping[str, Direction] = "auto",
    rebalance: int | Literal["month"] = 20,
    lag: int = 1,
    cost_bps: float = 0.0,
    min_passive: float | None = None,
    benchmark: np.ndarray | None = None,
    benchmark_name: str | None = None,
    members: bool = False,
    progress: Progress | None = None,
) -> Evaluation:
    """Backtest every factor of ``factors`` (docs/methodology.md#5-backtests).

    Parameters
    ----------
    factors
        A factor set (:func:`etfflow.factors.compute_factors`, possibly processed).
    market
        The market the factors were computed on; needed at stock level with the default
        universe (its trading rules), ignored otherwise.
    groups
        Quantile groups (default 10 for stocks, 5 for industries).
    universe
        ``"default"``: the universe and trading rules of
        docs/methodology.md#51-universe-and-trading-rules at stock level; ``"none"``: every
        asset with a return, no trading rules; ``"industry_cap_top25"``,
        ``"industry_cap_top50"``, ``"market_cap_top25"``: the default rules inside a float-cap
        sub-universe (:data:`etfflow.engine.universe.CAP_UNIVERSES`). Industries have no rules.
    direction
        ``"auto"`` (sign of the whole-sample mean Rank IC), ``"rolling"`` (per period, the
        sign of the mean Rank IC of the periods already completed), ``"default"`` (each
        factor's registered direction), ``+1``/``-1`` or a mapping ``name -> direction``.
    rebalance, lag, cost_bps, progress
        As for :func:`etfflow.backtest.engine.evaluate`.
    min_passive
        A quantile ``q`` in [0, 1): on each signal day, drop the stocks whose passive holding
        share (the factor set's ``w_passive`` input) is below that day's ``q``-quantile among
        the universe, from the universe and the benchmark (stock level only).
    benchmark, benchmark_name
        Daily returns of an index to measure excess against instead of the equal weight
        (``etfflow.engine.market.index_returns(ds, market.calendar, "000300.SH")``) and its
        label in ``summary.benchmark``.
    members
        Also list the long and short groups' stocks (or industries) of every rebalance
        (``Evaluation.members``).

    Returns
    -------
    Evaluation
        The tables of :func:`etfflow.backtest.engine.evaluate`.

    Raises
    ------
    EtfflowError
        Bad options, a stock-level default universe without ``market``, or a market whose
        stocks are not those of the factor set.

    Notes
    -----
    The returns are the factor set's own ``ret`` input (stock returns, or the float-cap
    weighted industry returns) on its full calendar, so the result equals a call of
    :func:`~etfflow.backtest.engine.evaluate` with those arrays.

    Examples
    --------
    >>> import tempfile
    >>> import etfflow as ef
    >>> folder = tempfile.mkdtemp()
    >>> ds = ef.open_dataset(ef.generate_market(folder, size="tiny", seed=1))
    >>> lt, market = ef.look_through(ds), ef.load_market(ds)
    >>> fs = ef.compute_factors(ef.stock_inputs(market, lt.stocks), "revs_20")
    >>> ev = ef.evaluate(fs, market, groups=10)
    >>> ev.summary.select("factor", "groups", "direction").row(0)
    ('revs_20', 10, 1)
    """
    if not isinstance(factors, FactorSet):
        raise EtfflowError(
            f"evaluate: expected a FactorSet (etfflow.compute_factors), got "
            f"{type(factors).__name__}; for raw arrays use etfflow.backtest.engine.evaluate"
        )
    level = factors.level
    if universe not in UNIVERSES:
        raise EtfflowError(
            f"evaluate: unknown universe {universe!r}: choose one of {', '.join(UNIVERSES)}"
        )
    inputs = factors.inputs
    rules = None
    if level == "stock" and universe != "none":
        if market is None:
            raise EtfflowError(
                "evaluate: the stock universe and trading rules need the market "
                "(pass market=..., or universe='none')"
            )
        if list(market.codes) != list(inputs.names) or len(market.calendar) != inputs.shape[0]:
            raise EtfflowError(
                "evaluate: the market's stocks or calendar differ from the factor set's; pass "
                "the market the factors were computed on"
            )
        rules = universe_rules(market, universe)
    if min_passive is not None:
        if level != "stock" or "w_passive" not in inputs.series:
            raise EtfflowError(
                "evaluate: min_passive drops stocks by their w_passive: it needs a stock-level "
                "factor set (etfflow.stock_inputs)"
            )
        base = rules if rules is not None else no_rules(inputs.shape)
        rules = restrict(base, min_passive_mask(inputs["w_passive"], base.universe, min_passive))
    dirs: Direction | Mapping[str, Direction]
    if direction == "default":
        dirs = {f.name: int(f.direction) for f in factors.instances}
    else:
        dirs = direction
    return evaluate(
        factors.values,
        inputs["ret"],
        np.asarray(inputs.calendar.dates.to_numpy()),
        rules=rules,
        groups=groups or DEFAULT_GROUPS.get(level, 5),
        direction=dirs,
        rebalance=rebalance,
        lag=lag,
        cost_bps=cost_bps,
        benchmark=benchmark,
        benchmark_name=benchmark_name,
        members=members,
        assets=list(inputs.names),
        progress=progress,
    )

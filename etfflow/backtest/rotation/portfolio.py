"""Daily NAV of an industry portfolio rebalanced on given days
(docs/methodology.md#8-industry-rotation).

:func:`simulate_nav` turns target weights decided on rebalance days into a daily NAV: a
target decided at the close of day ``p`` is traded at the close of ``p + trade_lag`` (its
*effective day*) and then held without trading (buy and hold: the weights drift with the
industries' returns) until the next effective day. :func:`equal_weight_targets` gives the
industry equal-weight benchmark rebalanced on the same days, and :func:`period_returns` the
compounded return of every industry and of the portfolio over each holding period (the
holdings tables of the report).

Conventions (shared by the three functions and by the reference twins in
:mod:`etfflow.backtest.rotation.portfolio_ref`):

- ``ret`` is ``(T, I)`` decimal daily industry returns, close to close; a NaN return counts as
  0 (the industry's value is unchanged that day); ±inf is an error.
- ``rebalance_pos`` are positions in the ``T`` trading days, strictly increasing, each in
  ``[0, T)``; a decision whose effective day ``p + trade_lag`` falls at or after ``T`` never
  trades inside the data and is ignored.
- A weight row is the fraction of the NAV put in each industry at the effective day's close;
  the rest, ``1 - sum(w)``, is cash at zero return (a row of zeros holds only cash).
- The NAV is NaN before the first effective day, 1.0 on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from etfflow.exceptions import EtfflowError


@dataclass(frozen=True)
class HoldingPeriods:
    """Holding periods of a rebalanced portfolio, one per decision that trades in the data.

    Attributes
    ----------
    decision
        ``(P,)`` rebalance positions (decision days) of the periods; the first ``P`` entries
        of ``rebalance_pos``.
    start
        ``(P,)`` effective days ``decision + trade_lag`` (the trade's close).
    end
        ``(P,)`` next effective day, or ``T - 1`` for the last period.
    industry
        ``(P, I)`` compounded return of each industry from the close of ``start`` to the close
        of ``end`` (NaN daily returns count as 0); all NaN for a period without a day
        (``start == end``: the last decision trades on the last day).
    portfolio
        ``(P,)`` the portfolio's return over the period, ``sum_i w_i * industry_i`` (buy and
        hold: exactly ``nav[end] / nav[start] - 1``); NaN for a period without a day.
    """

    decision: np.ndarray
    start: np.ndarray
    end: np.ndarray
    industry: np.ndarray
    portfolio: np.ndarray


def check_schedule(
    n_days: int, rebalance_pos: np.ndarray | list[int], trade_lag: int
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a rebalance schedule; return ``(positions, effective days inside the data)``.

    Raises :class:`EtfflowError` naming the first bad position: not an integer, outside
    ``[0, n_days)``, not strictly increasing (unsorted or duplicate); or a bad ``trade_lag``.
    """
    if isinstance(trade_lag, bool) or not isinstance(trade_lag, int | np.integer) or trade_lag < 0:
        raise EtfflowError(f"trade_lag must be an integer >= 0, got {trade_lag!r}")
    pos = np.asarray(rebalance_pos)
    if pos.ndim != 1:
        raise EtfflowError(f"rebalance_pos must be one-dimensional, got shape {pos.shape}")
    if len(pos) and not np.issubdtype(pos.dtype, np.integer):
        raise EtfflowError(
            f"rebalance_pos must hold integer day positions, got dtype {pos.dtype} "
            f"(first value {pos[0]})"
        )
    pos = pos.astype(np.int64)
    bad = np.flatnonzero((pos < 0) | (pos >= n_days))
    if len(bad):
        k = int(bad[0])
        raise EtfflowError(
            f"rebalance_pos[{k}] = {pos[k]} lies outside the {n_days} trading days "
            f"(positions 0..{n_days - 1}); {len(bad)} position(s) out of range"
        )
    back = np.flatnonzero(np.diff(pos) <= 0)
    if len(back):
        k = int(back[0]) + 1
        what = "repeats" if pos[k] == pos[k - 1] else "is before"
        raise EtfflowError(
            f"rebalance_pos must be strictly increasing: rebalance_pos[{k}] = {pos[k]} {what} "
            f"rebalance_pos[{k - 1}] = {pos[k - 1]}; sort the rebalance days and drop duplicates"
        )
    eff = pos + int(trade_lag)
    return pos, eff[eff < n_days]


def _check_returns(ret: np.ndarray) -> np.ndarray:
    r = np.asarray(ret, dtype=np.float64)
    if r.ndim != 2:
        raise EtfflowError(f"ret must be a (days, industries) array, got shape {r.shape}")
    inf = np.argwhere(np.isinf(r))
    if len(inf):
        t, i = (int(v) for v in inf[0])
        raise EtfflowError(
            f"ret holds {len(inf)} infinite return(s), e.g. day {t}, industry column {i}: "
            f"{float(r[t, i])}; returns must be finite decimals (NaN where missing)"
        )
    return r


def _check_weights(weights: np.ndarray, n_rebalances: int, n_industries: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n_rebalances, n_industries):
        raise EtfflowError(
            f"weights must have shape (rebalances, industries) = ({n_rebalances}, "
            f"{n_industries}), got {w.shape}"
        )
    bad = np.argwhere(~np.isfinite(w))
    if len(bad):
        k, i = (int(v) for v in bad[0])
        raise EtfflowError(
            f"weights hold {len(bad)} non-finite value(s), e.g. rebalance {k}, industry "
            f"column {i}: {float(w[k, i])}; use 0 for an industry not held"
        )
    return w


def _growth(r: np.ndarray) -> np.ndarray:
    """``1 + r`` with NaN returns as 0."""
    return 1.0 + np.where(np.isnan(r), 0.0, r)


def _cumprod_days(x: np.ndarray) -> np.ndarray:
    """Cumulative product of ``(n, L, I)`` along its days axis, in place, one ``(n, I)`` slab
    at a time (``np.cumprod`` along a middle axis is several times slower)."""
    for j in range(1, x.shape[1]):
        np.multiply(x[:, j], x[:, j - 1], out=x[:, j])
    return x


def _blocks(eff: np.ndarray, ends: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Holding periods grouped by their number of days ``L = end - start`` (``L > 0``):
    ``(ks, days)`` with ``ks`` the ``(n,)`` periods of that length and ``days`` their ``(n, L)``
    day positions ``start + 1 .. end``.

    Each group is compounded at once over ``growth[days]`` (``(n, L, I)``, ``L`` slab
    products): the groups together hold every day once (``T I`` values, whatever the
    schedule) and a regular schedule has few distinct lengths (every ``h`` days: one or two;
    week-ends: up to five), so the work is a few dozen NumPy calls instead of a few per period
    (a cumulative product over all days divided at each start would fail on a -100% return
    or overflow).
    """
    lengths = ends - eff
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for n_days in np.unique(lengths[lengths > 0]):
        ks = np.flatnonzero(lengths == n_days)
        out.append((ks, eff[ks, None] + np.arange(1, n_days + 1)))
    return out


def simulate_nav(
    ret: np.ndarray,
    rebalance_pos: np.ndarray | list[int],
    weights: np.ndarray,
    trade_lag: int = 1,
) -> np.ndarray:
    """Daily NAV of target weights traded ``trade_lag`` days after each decision, held between.

    Parameters
    ----------
    ret
        ``(T, I)`` decimal daily industry returns (close to close); NaN counts as 0.
    rebalance_pos
        ``(R,)`` strictly increasing decision days (positions in ``0..T-1``).
    weights
        ``(R, I)`` finite target weights (fractions of the NAV) decided on those days.
    trade_lag
        Trading days from the decision (close of ``p``) to the trade (close of
        ``p + trade_lag``); 0 trades at the decision's own close.

    Returns
    -------
    numpy.ndarray
        ``(T,)`` NAV: NaN before the first effective day, 1.0 on it; all NaN when no decision
        trades inside the data.

    Raises
    ------
    EtfflowError
        Unsorted, duplicate or out-of-range positions, a bad ``trade_lag``, weights of the
        wrong shape or not finite, infinite returns.

    Notes
    -----
    With effective days ``e_r = p_r + trade_lag`` (those ``< T``), the NAV over holding period
    ``r`` (days ``e_r < t <= e_{r+1}``, the last period running to ``T - 1``) is

    ``nav[t] = nav[e_r] * (1 - sum_i w_ri + sum_i w_ri * prod_{s=e_r+1..t} (1 + ret[s, i]))``:

    each industry's holding grows with its own returns and is not traded back to target
    until the next effective day (buy and hold; weights drift), cash earns nothing. On an
    effective day the portfolio is traded at the close, so that day's return still belongs to
    the previous holdings. Periods of equal length are compounded together (``O(T I)``
    work, a few dozen NumPy calls for a regular schedule) and chained by the product of the
    periods' growth; the reference twin is
    :func:`etfflow.backtest.rotation.portfolio_ref.simulate_nav_ref`, a per-day loop over
    holding values.

    Examples
    --------
    >>> import numpy as np
    >>> ret = np.array([[0.1, 0.0], [0.1, -0.5], [0.0, 0.5], [np.nan, 0.0]])

    Half in each industry at the close of day 0; after day 1 the holdings are 0.55 and 0.25
    and are not traded back to halves, so day 2's +50% applies to 0.25 (0.8 -> 0.925, not
    the 1.0 of daily rebalancing); day 3's NaN counts as 0:

    >>> simulate_nav(ret, [0], np.array([[0.5, 0.5]]), trade_lag=0).round(4).tolist()
    [1.0, 0.8, 0.925, 0.925]

    Decided on days 0 and 1, traded a day later; the second target is all cash:

    >>> simulate_nav(ret, [0, 1], np.array([[0.5, 0.5], [0.0, 0.0]])).tolist()
    [nan, 1.0, 1.25, 1.25]
    """
    r = _check_returns(ret)
    n_days, n_ind = r.shape
    pos, eff = check_schedule(n_days, rebalance_pos, trade_lag)
    w = _check_weights(weights, len(pos), n_ind)
    nav = np.full(n_days, np.nan)
    if not len(eff):
        return nav
    growth = _growth(r)
    ends = np.append(eff[1:], n_days - 1)
    w = w[: len(eff)]
    cash = 1.0 - w.sum(axis=1)
    ratio = np.ones(len(eff))  # nav[end] / nav[start] of each period
    paths = []
    for ks, days in _blocks(eff, ends):
        g = _cumprod_days(growth[days])  # (n, L, I) growth since each period's start
        path = (g @ w[ks][:, :, None])[:, :, 0] + cash[ks, None]  # (n, L) nav / nav[start]
        ratio[ks] = path[:, -1]
        paths.append((ks, days, path))
    start_value = np.cumprod(np.r_[1.0, ratio[:-1]])  # nav on each effective day
    nav[eff[0]] = 1.0
    for ks, days, path in paths:
        nav[days] = start_value[ks, None] * path
    return nav


def equal_weight_targets(
    ret: np.ndarray, rebalance_pos: np.ndarray | list[int], trade_lag: int = 1
) -> np.ndarray:
    """Equal weights over the industries with a return on each effective day (the benchmark).

    Parameters
    ----------
    ret
        ``(T, I)`` decimal daily industry returns, NaN where an industry has no return.
    rebalance_pos
        ``(R,)`` strictly increasing decision days.
    trade_lag
        Days from decision to trade, as in :func:`simulate_nav`.

    Returns
    -------
    numpy.ndarray
        ``(R, I)`` weights: ``1 / n`` on the ``n`` industries whose return on the effective
        day ``p + trade_lag`` is finite, 0 elsewhere; a row of zeros (cash) when no industry
        has a return that day or the effective day falls after the data.

    Raises
    ------
    EtfflowError
        As :func:`simulate_nav` for the schedule and the returns.

    Notes
    -----
    An industry "exists" on the trade day when it has a return that day (it has stocks
    trading), known at that day's close when the trade is made, so the row uses nothing
    after its effective day. Passed to :func:`simulate_nav` with the same schedule it gives
    the industry equal-weight benchmark, rebalanced on the strategy's days.

    Examples
    --------
    >>> import numpy as np
    >>> ret = np.array([[0.01, np.nan, 0.02], [0.0, 0.01, np.nan]])
    >>> equal_weight_targets(ret, [0, 1], trade_lag=0).round(3).tolist()
    [[0.5, 0.0, 0.5], [0.5, 0.5, 0.0]]
    >>> equal_weight_targets(ret, [0, 1]).round(3).tolist()  # the second trades after the data
    [[0.5, 0.5, 0.0], [0.0, 0.0, 0.0]]
    """
    r = _check_returns(ret)
    n_days, n_ind = r.shape
    pos, eff = check_schedule(n_days, rebalance_pos, trade_lag)
    w = np.zeros((len(pos), n_ind))
    have = np.isfinite(r[eff])
    n = have.sum(axis=1, keepdims=True)
    w[: len(eff)] = np.divide(have, n, out=np.zeros(have.shape), where=n > 0)
    return w


def period_returns(
    ret: np.ndarray,
    rebalance_pos: np.ndarray | list[int],
    weights: np.ndarray,
    trade_lag: int = 1,
) -> HoldingPeriods:
    """Each holding period's compounded return per industry and of the portfolio.

    Parameters
    ----------
    ret, rebalance_pos, weights, trade_lag
        As in :func:`simulate_nav`.

    Returns
    -------
    HoldingPeriods
        One period per decision that trades inside the data (``P <= R``): decision, start
        (effective day) and end (next effective day, or ``T - 1``) positions, the ``(P, I)``
        industry returns and the ``(P,)`` portfolio returns.

    Raises
    ------
    EtfflowError
        As :func:`simulate_nav`.

    Notes
    -----
    ``industry[r, i] = prod_{t=start_r+1..end_r} (1 + ret[t, i]) - 1`` with NaN daily returns
    as 0, the return an industry held in period ``r`` earns in :func:`simulate_nav`; and
    ``portfolio[r] = sum_i w_ri * industry[r, i] = nav[end_r] / nav[start_r] - 1`` (buy and
    hold, cash at 0). The excess of a held industry over the benchmark is
    ``industry[r, i] - bench.portfolio[r]`` with ``bench`` the periods of
    :func:`equal_weight_targets`. A last period with no day after its start (decision
    effective on the last day) has NaN returns: nothing is realised yet, though its holdings
    are known.

    Examples
    --------
    >>> import numpy as np
    >>> ret = np.array([[0.0, 0.0], [0.1, -0.1], [0.1, np.nan], [0.0, 0.2]])
    >>> hp = period_returns(ret, [0, 2], np.array([[1.0, 0.0], [0.5, 0.5]]), trade_lag=0)
    >>> hp.start.tolist(), hp.end.tolist()
    ([0, 2], [2, 3])
    >>> hp.industry.round(4).tolist(), hp.portfolio.round(4).tolist()
    ([[0.21, -0.1], [0.0, 0.2]], [0.21, 0.1])
    """
    r = _check_returns(ret)
    n_days, n_ind = r.shape
    pos, eff = check_schedule(n_days, rebalance_pos, trade_lag)
    w = _check_weights(weights, len(pos), n_ind)[: len(eff)]
    ends = np.append(eff[1:], n_days - 1) if len(eff) else eff.copy()
    ind = np.full((len(eff), n_ind), np.nan)
    growth = _growth(r)
    for ks, days in _blocks(eff, ends):
        ind[ks] = _cumprod_days(growth[days])[:, -1] - 1.0
    port = np.einsum("pi,pi->p", w, ind)
    return HoldingPeriods(
        decision=pos[: len(eff)], start=eff, end=ends, industry=ind, portfolio=port
    )

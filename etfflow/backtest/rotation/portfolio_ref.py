"""Reference twins of :mod:`etfflow.backtest.rotation.portfolio`, used only by tests.

Slow and obviously correct: one day and one industry at a time, the portfolio as a list of
holding values plus cash. Schedule checks raise the same :class:`EtfflowError` (their wording
is the fast module's business; the tests only compare outcomes).
"""

from __future__ import annotations

import math

import numpy as np

from etfflow.exceptions import EtfflowError


def _targets(n_days: int, rebalance_pos, weights, trade_lag: int) -> dict[int, list[float]]:
    """Effective day -> weight row, for the decisions that trade inside the data."""
    pos = [int(p) for p in rebalance_pos]
    for k in range(1, len(pos)):
        if pos[k] <= pos[k - 1]:
            raise EtfflowError("rebalance positions must be strictly increasing")
    for p in pos:
        if p < 0 or p >= n_days:
            raise EtfflowError("rebalance position outside the data")
    out = {}
    for k, p in enumerate(pos):
        if p + trade_lag < n_days:
            out[p + trade_lag] = [float(x) for x in weights[k]]
    return out


def simulate_nav_ref(ret, rebalance_pos, weights, trade_lag: int = 1) -> np.ndarray:
    """Per-day loop: each day every holding grows by its return (NaN as 0), the NAV is cash
    plus holdings; on an effective day, after that day's growth, the NAV is split anew into
    ``w * nav`` per industry and ``nav - sum`` cash. NaN before the first effective day."""
    n_days = len(ret)
    n_ind = len(ret[0]) if n_days else 0
    targets = _targets(n_days, rebalance_pos, weights, trade_lag)
    nav = [math.nan] * n_days
    holdings: list[float] | None = None
    cash = 0.0
    for t in range(n_days):
        if holdings is not None:
            for i in range(n_ind):
                x = float(ret[t][i])
                if not math.isnan(x):
                    holdings[i] = holdings[i] * (1.0 + x)
            nav[t] = cash + sum(holdings)
        if t in targets:
            value = 1.0 if holdings is None else nav[t]
            nav[t] = value
            holdings = [value * w for w in targets[t]]
            cash = value - sum(holdings)
    return np.array(nav, dtype=np.float64)


def equal_weight_targets_ref(ret, rebalance_pos, trade_lag: int = 1) -> np.ndarray:
    """Per decision: 1/n on the n industries with a non-NaN return on its effective day."""
    n_days = len(ret)
    n_ind = np.shape(ret)[1]
    rows = []
    for p in rebalance_pos:
        row = [0.0] * n_ind
        e = int(p) + trade_lag
        if e < n_days:
            have = [i for i in range(n_ind) if not math.isnan(float(ret[e][i]))]
            for i in have:
                row[i] = 1.0 / len(have)
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(len(rows), n_ind)


def period_returns_ref(ret, rebalance_pos, weights, trade_lag: int = 1):
    """``(start, end, industry (P, I), portfolio (P,))`` by compounding day by day; the
    portfolio's return is the change of cash plus holdings over the period."""
    n_days = len(ret)
    n_ind = np.shape(ret)[1]
    targets = _targets(n_days, rebalance_pos, weights, trade_lag)
    starts = sorted(targets)
    ends = [*starts[1:], n_days - 1] if starts else []
    ind, port = [], []
    for s, e in zip(starts, ends, strict=True):
        if e == s:
            ind.append([math.nan] * n_ind)
            port.append(math.nan)
            continue
        g = [1.0] * n_ind
        for t in range(s + 1, e + 1):
            for i in range(n_ind):
                x = float(ret[t][i])
                if not math.isnan(x):
                    g[i] *= 1.0 + x
        ind.append([x - 1.0 for x in g])
        w = targets[s]
        port.append((1.0 - sum(w)) + sum(wi * gi for wi, gi in zip(w, g, strict=True)) - 1.0)
    return (
        np.array(starts, dtype=np.int64),
        np.array(ends, dtype=np.int64),
        np.array(ind, dtype=np.float64).reshape(len(starts), n_ind),
        np.array(port, dtype=np.float64),
    )

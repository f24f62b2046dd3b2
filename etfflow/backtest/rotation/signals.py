"""The four industry signals, their composite and the strategies' target weights
(docs/methodology.md#85-composite-and-strategies).

At a rebalance day ``d`` every signal takes its latest value published by ``d``:

- short-term flow: ``F`` of the latest week-end ``≤ d``;
- style-adjusted level: ``L`` of the latest month-end week, ranked high-to-good in the
  large-cap regime (size regime 1 of the latest week) and low-to-good in the small-cap one;
- style-adjusted change: ``ΔL`` likewise with the growth (1) / value (0) regime;
- divergence: ETF minus active-fund share of the latest month-end, ranked high-to-good when
  ETF issuance is hotter than active issuance that month, low-to-good otherwise.

A score is the percentile rank ``rank / n`` (average ranks for ties) among the industries with
a value, in the favoured direction; the composite is the mean of the scores an industry has.
A flag is 1 when the score is in the top quantile (``score > 1 − 1/q``); the divergence flag is
1 when the industry is overweighted by the favoured side (ETFs when issuance is hot, active
funds otherwise).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from etfflow.backtest.engine import qcut_groups
from etfflow.backtest.engine_nb import _average_ranks as average_ranks


def pct_rank(x: np.ndarray) -> np.ndarray:
    """Row-wise percentile rank ``rank / n`` of the finite values (average ranks), NaN elsewhere.

    >>> pct_rank(np.array([[3.0, 1.0, np.nan, 1.0]])).tolist()
    [[1.0, 0.5, nan, 0.5]]
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    out = np.full(x.shape, np.nan)
    for r in range(x.shape[0]):
        ok = np.flatnonzero(np.isfinite(x[r]))
        if not len(ok):
            continue
        ranks, _ = average_ranks(np.ascontiguousarray(x[r, ok]))
        out[r, ok] = ranks / len(ok)
    return out


def quantile_groups(x: np.ndarray, q: int) -> np.ndarray:
    """Row-wise quantile groups ``1..q`` (``q`` = highest), 0 where NaN: the stock backtests'
    rule (:func:`etfflow.backtest.engine.qcut_groups`, pandas ``qcut``).

    >>> quantile_groups(np.array([[5.0, 1.0, 3.0, 2.0, 4.0]]), 5).tolist()
    [[5, 1, 3, 2, 4]]
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    return np.stack([qcut_groups(row, q) for row in x]).astype(np.int8).reshape(x.shape)


def latest_index(events: np.ndarray, days: np.ndarray) -> np.ndarray:
    """For each of ``days``, the index of the latest of ``events`` on or before it (-1: none).

    Both are sorted day numbers (or datetime64).

    >>> latest_index(np.array([3, 7]), np.array([1, 3, 6, 9])).tolist()
    [-1, 0, 0, 1]
    """
    return np.searchsorted(events, days, side="right") - 1


def take_rows(panel: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``panel[idx]`` with NaN rows where ``idx < 0``."""
    out = np.full((len(idx), panel.shape[1]), np.nan)
    ok = idx >= 0
    out[ok] = panel[idx[ok]]
    return out


def take_values(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``values[idx]`` as float with NaN where ``idx < 0`` or the value is missing."""
    out = np.full(len(idx), np.nan)
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    return out


def directed(x: np.ndarray, favour_high: np.ndarray) -> np.ndarray:
    """Percentile scores of ``x`` per row, of ``-x`` where ``favour_high`` is 0; NaN rows where
    ``favour_high`` is NaN (the direction is not known yet)."""
    sign = np.where(favour_high == 1, 1.0, np.where(favour_high == 0, -1.0, np.nan))
    return pct_rank(x * sign[:, None])


def mean_scores(*scores: np.ndarray) -> np.ndarray:
    """The mean of the finite scores per cell (NaN when none)."""
    s = np.stack(scores)
    n = np.isfinite(s).sum(axis=0)
    with np.errstate(invalid="ignore"):
        return np.where(n > 0, np.nansum(s, axis=0) / np.maximum(n, 1), np.nan)


def top_k(score: np.ndarray, k: int) -> np.ndarray:
    """Boolean rows selecting the ``k`` highest finite scores (ties: the earlier column).

    >>> top_k(np.array([[0.2, 0.9, np.nan, 0.9]]), 2).tolist()
    [[False, True, False, True]]
    """
    out = np.zeros(score.shape, dtype=bool)
    for r in range(score.shape[0]):
        ok = np.flatnonzero(np.isfinite(score[r]))
        if not len(ok):
            continue
        order = ok[np.argsort(-score[r, ok], kind="stable")]
        out[r, order[:k]] = True
    return out


def group_weights(groups: np.ndarray, g: int) -> np.ndarray:
    """Equal weights over the cells of group ``g`` per row (rows without one: all zero)."""
    m = (groups == g).astype(np.float64)
    n = m.sum(axis=1, keepdims=True)
    return np.divide(m, n, out=np.zeros_like(m), where=n > 0)


def flags_frame(
    dates: pl.Series,
    industries: list[str],
    scores: dict[str, np.ndarray],
    composite: np.ndarray,
    selected: np.ndarray,
    flags: dict[str, np.ndarray],
) -> pl.DataFrame:
    """The ``signals`` table (long: one row per rebalance day and industry)."""
    r, n = composite.shape
    data: dict[str, pl.Series] = {
        "date": pl.Series("date", dates.cast(pl.Date).to_list()).gather(np.repeat(np.arange(r), n)),
        "industry": pl.Series("industry", industries * r, dtype=pl.String),
    }
    for name in ("flow", "level", "change", "divergence"):
        data[f"{name}_score"] = pl.Series(scores[name].ravel()).fill_nan(None)
    data["composite"] = pl.Series(composite.ravel()).fill_nan(None)
    data["selected"] = pl.Series(selected.ravel())
    for name in ("flow", "style", "divergence"):
        data[f"{name}_flag"] = pl.Series(flags[name].ravel(), dtype=pl.Int8)
    return pl.DataFrame(data)

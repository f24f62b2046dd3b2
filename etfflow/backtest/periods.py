"""The rebalance calendar: month ends and holding periods as day indices.

Definition: docs/methodology.md#52-calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from etfflow.exceptions import EtfflowError


@dataclass(frozen=True)
class Periods:
    """Holding periods as day indices: signal ``rebal[k]``, held over ``(start[k], end[k]]``."""

    rebal: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.rebal)


def month_ends(dates: np.ndarray) -> np.ndarray:
    """Positions of the last trading day of each calendar month in ``dates``.

    The final date counts only when no weekday of its month follows it (otherwise the month
    may not be complete in the data).
    """
    d = np.asarray(dates, dtype="datetime64[D]")
    if len(d) == 0:
        return np.zeros(0, dtype=np.int64)
    m = d.astype("datetime64[M]")
    ends = np.flatnonzero(m[1:] != m[:-1])
    nxt = (m[-1] + 1).astype("datetime64[D]")
    if np.busday_count(d[-1] + 1, nxt) == 0:
        ends = np.append(ends, len(d) - 1)
    return ends.astype(np.int64)


def make_periods(
    dates: np.ndarray, first: int = 0, *, rebalance: int | Literal["month"], lag: int
) -> Periods:
    """The rebalance calendar (docs/methodology.md#52-calendar).

    Signal days are ``first, first+h, first+2h, ...`` (``rebalance=h``) or the month ends
    (:func:`month_ends`) on or after ``first``. Period ``k`` trades at ``rebal[k] + lag`` and
    ends at ``rebal[k+1] + lag``; a period whose end is past the data is dropped, and so is
    the last signal day (no next rebalance). :func:`~etfflow.backtest.engine.evaluate`
    anchors the calendar on the data (``first = 0``), never on the factors.
    """
    t = len(dates)
    if rebalance == "month":
        cand = month_ends(dates)
        cand = cand[cand >= first]
    else:
        cand = np.arange(first, t, int(rebalance), dtype=np.int64)
    if len(cand) >= 2 and np.diff(cand).min() <= lag:
        raise EtfflowError(
            f"evaluate: lag={lag} is not shorter than the shortest rebalance interval "
            f"({int(np.diff(cand).min())} trading days); periods would overlap"
        )
    ok = cand[1:] + lag <= t - 1
    k = int(ok.sum())
    rebal = cand[:k]
    return Periods(rebal=rebal, start=rebal + lag, end=cand[1 : k + 1] + lag)

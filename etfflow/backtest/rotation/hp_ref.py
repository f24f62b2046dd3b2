"""Reference twin of :mod:`etfflow.backtest.rotation.hp`: for tests only.

Slow and obviously correct: for every t, take the finite values of ``y[0..t]``, build the
dense HP system ``(I + λ D'D) τ = y`` and solve it with :func:`numpy.linalg.solve`; keep the
last point. O(T^4) time; fine for the short series the tests use.
"""

from __future__ import annotations

import numpy as np

__all__ = ["one_sided_hp_ref"]


def second_difference(n: int) -> np.ndarray:
    """The ``(max(n - 2, 0), n)`` matrix ``D`` with ``(D τ)_i = τ_i - 2 τ_{i+1} + τ_{i+2}``."""
    d = np.zeros((max(n - 2, 0), n))
    for i in range(n - 2):
        d[i, i : i + 3] = (1.0, -2.0, 1.0)
    return d


def one_sided_hp_ref(y: np.ndarray, lam: float) -> np.ndarray:
    """Same contract as :func:`etfflow.backtest.rotation.hp.one_sided_hp`, by dense solves.

    Examples
    --------
    >>> import numpy as np
    >>> one_sided_hp_ref(np.array([1.0, 2.0, np.nan, 4.0, 3.0]), 1.0).round(4).tolist()
    [1.0, 2.0, nan, 3.8571, 3.5152]
    """
    ys = np.asarray(y, dtype=np.float64)
    tau = np.full(ys.shape, np.nan)
    for t in range(ys.shape[0]):
        if not np.isfinite(ys[t]):
            continue
        window = ys[: t + 1]
        obs = window[np.isfinite(window)]
        d = second_difference(obs.shape[0])
        a = np.eye(obs.shape[0]) + lam * (d.T @ d)
        tau[t] = np.linalg.solve(a, obs)[-1]
    return tau

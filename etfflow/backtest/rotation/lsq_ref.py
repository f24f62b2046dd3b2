"""Reference twin of :mod:`etfflow.backtest.rotation.lsq` (tests only): brute force."""

from __future__ import annotations

from itertools import combinations

import numpy as np

#: Largest ``k`` the brute force accepts (``2^k - 1`` supports).
MAX_K = 8
#: A support's solution counts as feasible when every weight is at least this.
FEASIBLE_TOL = -1e-12


def simplex_lstsq_ref(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``argmin ||X w - y||²`` over ``w >= 0, sum w = 1``, by trying every support.

    For each non-empty support ``S`` the equality-constrained least squares
    ``min ||X_S v - y||²`` s.t. ``sum v = 1`` is solved from its KKT system
    ``[[2 X_S'X_S, 1], [1', 0]] [v; mu] = [2 X_S'y; 1]`` (``lstsq``: minimum norm when
    singular); solutions with ``v >= -1e-12`` are feasible and the one of least objective
    (first found on ties: supports in order of size, then lexicographic) is returned, its
    weights clipped at 0. ``X`` and ``y`` are first divided by the root mean square column
    norm (the argmin is unchanged) to keep the KKT matrix well scaled. An extreme point of
    the optimal set has a non-singular KKT system on its support, so the true optimum is
    among the candidates.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    k = X.shape[1]
    if not 1 <= k <= MAX_K:
        raise ValueError(f"simplex_lstsq_ref handles 1 <= k <= {MAX_K}, got k={k}")
    # scale X and y alike (same argmin) so the KKT matrix mixes blocks of similar size
    c = float(np.sqrt((X * X).sum() / k)) or 1.0
    X, y = X / c, y / c
    best, best_f = None, np.inf
    for m in range(1, k + 1):
        for s in combinations(range(k), m):
            xs = X[:, list(s)]
            kkt = np.zeros((m + 1, m + 1))
            kkt[:m, :m] = 2.0 * xs.T @ xs
            kkt[:m, m] = 1.0
            kkt[m, :m] = 1.0
            rhs = np.concatenate([2.0 * xs.T @ y, [1.0]])
            v = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:m]
            if v.min() < FEASIBLE_TOL or abs(v.sum() - 1.0) > 1e-9:
                continue
            w = np.zeros(k)
            w[list(s)] = np.clip(v, 0.0, None)
            r = X @ w - y
            f = float(r @ r)
            if f < best_f:
                best, best_f = w, f
    assert best is not None  # every single-column support is feasible
    return best

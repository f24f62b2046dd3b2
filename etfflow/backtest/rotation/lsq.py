"""Least squares on the simplex: the regression that simulates active funds' industry weights.

:func:`simplex_lstsq` solves ``min ||X w - y||²`` subject to ``w >= 0`` and ``sum w = 1``
exactly, as a quadratic program (``quadprog``, Goldfarb-Idnani dual active set), then polishes
the answer on its support. Its reference twin, used only by the tests, is
:func:`etfflow.backtest.rotation.lsq_ref.simplex_lstsq_ref` (brute force over supports).
"""

from __future__ import annotations

import numpy as np
import quadprog

from etfflow.exceptions import EtfflowError

__all__ = ["RIDGE", "SUPPORT_TOL", "simplex_lstsq", "simplex_objective"]

#: Ridge added to the scaled Gram matrix ``X'X / (trace(X'X)/k)`` so that it is positive
#: definite (quadprog needs a strictly convex problem). Relative to the mean eigenvalue, so the
#: bias in the objective is at most ``RIDGE * trace(X'X)/k * ||w||² <= RIDGE * mean ||x_j||²``;
#: the support polish then removes it whenever the solution on the support is unique.
RIDGE = 1e-10
#: Weights above this count as the support of the QP answer in the polish step.
SUPPORT_TOL = 1e-10


def simplex_objective(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Residual sum of squares ``||X w - y||²`` (the objective of :func:`simplex_lstsq`).

    Examples
    --------
    >>> import numpy as np
    >>> simplex_objective(np.eye(2), np.array([1.0, 0.0]), np.array([0.5, 0.5]))
    0.5
    """
    r = np.asarray(X, dtype=np.float64) @ np.asarray(w, dtype=np.float64) - y
    return float(r @ r)


def _check(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise EtfflowError(
            f"simplex_lstsq needs X (n, k) and y (n,) with the same n, got X {X.shape} and "
            f"y {y.shape}"
        )
    if X.shape[1] == 0:
        raise EtfflowError("simplex_lstsq needs at least one column in X (k = 0)")
    bad = ~np.isfinite(X).all(axis=1) | ~np.isfinite(y)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise EtfflowError(
            f"simplex_lstsq needs finite X and y: {int(bad.sum())} row(s) have NaN/inf, "
            f"e.g. row {row}: X={X[row].tolist()[:6]}, y={y[row]!r}; drop or fill them first"
        )
    return X, y


def _support_polish(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The equality-constrained least squares on ``w``'s support, when feasible and no worse.

    Null-space method: on the support ``S`` (``m`` columns) write ``v = 1/m + Z z`` with ``Z``
    an orthonormal basis of ``{sum v = 0}`` and solve ``min ||X_S Z z - (y - X_S 1/m)||`` by
    ``lstsq`` (minimum norm, so a rank-deficient ``X_S`` is fine; no squared condition
    number). ``v`` replaces ``w`` when ``v >= 0`` and its objective is no worse.
    """
    s = np.flatnonzero(w > SUPPORT_TOL)
    m = len(s)
    if m <= 1:
        return w
    xs = X[:, s]
    z = np.linalg.qr(np.ones((m, 1)), mode="complete")[0][:, 1:]
    v0 = np.full(m, 1.0 / m)
    sol = v0 + z @ np.linalg.lstsq(xs @ z, y - xs @ v0, rcond=None)[0]
    if not np.all(np.isfinite(sol)) or sol.min() < 0.0:
        return w
    out = np.zeros_like(w)
    out[s] = sol / sol.sum()
    return out if simplex_objective(X, y, out) <= simplex_objective(X, y, w) else w


def simplex_lstsq(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Weights on the simplex that best fit ``y`` by ``X w``: exact constrained least squares.

    Parameters
    ----------
    X
        ``(n, k)`` regressors (e.g. daily industry returns, decimal), finite.
    y
        ``(n,)`` target (e.g. the active-fund index's daily return, decimal), finite.

    Returns
    -------
    numpy.ndarray
        ``(k,)`` weights, ``w >= 0``, ``sum(w) == 1`` (to rounding).

    Raises
    ------
    EtfflowError
        Shapes that do not match, no column, or a NaN/inf in ``X`` or ``y``.

    Notes
    -----
    Solves ``min_w ||X w - y||²`` s.t. ``w_j >= 0``, ``Σ_j w_j = 1`` (Huafu 2026-02: "non-negative
    weights summing to 1"), not non-negative least squares followed by renormalisation,
    which is a different (biased) estimator.

    As a quadratic program ``min ½ w'G w - a'w`` with ``G = X'X / s + ε I``, ``a = X'y / s``,
    ``s = trace(X'X) / k`` (1 when ``X = 0``) and ``ε =`` :data:`RIDGE` ``= 1e-10``, solved by
    ``quadprog.solve_qp`` (one equality, ``k`` bounds). ``X'X`` is singular when ``n < k``,
    a column is constant zero or columns are collinear; the ridge makes the problem strictly
    convex and, among equally good fits, prefers the one of least norm (the uniform weights
    when ``X = 0``). Its bias is at most ``ε s ||w||² <= ε s`` in the objective. The answer is
    then polished: the equality-constrained least squares on the support ``S = {w_j > 1e-10}``
    (null-space method: ``v = 1/m + Z z``, ``Z`` orthonormal with ``1'Z = 0``, minimum-norm
    ``lstsq`` for ``z``) replaces it when it is non-negative and its objective is no worse;
    so a unique optimum is returned to rounding.
    Tiny negative round-off is clipped to 0 and the weights rescaled to sum 1.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> w = simplex_lstsq(X, X @ np.array([0.25, 0.75]))
    >>> np.round(w, 12).tolist()
    [0.25, 0.75]
    >>> simplex_lstsq(X, np.array([5.0, -5.0, 0.0])).round(12).tolist()  # bound active
    [1.0, 0.0]
    """
    X, y = _check(X, y)
    k = X.shape[1]
    if k == 1:
        return np.ones(1)
    g = X.T @ X
    tr = float(np.trace(g))
    s = tr / k if tr > 0 else 1.0
    G = g / s + RIDGE * np.eye(k)
    a = X.T @ y / s
    C = np.hstack([np.ones((k, 1)), np.eye(k)])
    b = np.concatenate([[1.0], np.zeros(k)])
    try:
        w = quadprog.solve_qp(G, a, C, b, 1)[0]
    except ValueError as e:  # not expected after the ridge; say what was being solved
        raise EtfflowError(
            f"simplex_lstsq: quadprog failed on X {X.shape} (trace(X'X)={tr:.3g}): {e}"
        ) from e
    w = np.clip(w, 0.0, None)
    w /= w.sum()
    return _support_polish(X, y, w)

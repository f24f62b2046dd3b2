"""Least squares on the simplex (etfflow.backtest.rotation.lsq) against its brute-force twin."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etfflow.backtest.rotation.lsq import simplex_lstsq, simplex_objective
from etfflow.backtest.rotation.lsq_ref import simplex_lstsq_ref
from etfflow.exceptions import EtfflowError
from tests.helpers import examples

#: Objective gap allowed vs the brute force: relative, plus a round-off floor for optima ~0.
REL_GAP = 1e-9
FLOOR = 1e-15


def _problem(seed: int, n: int, k: int, kind: str, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """A random problem, possibly rank deficient (duplicate / zero / constant columns, n < k)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.0, (n, k)) * 10.0**scale
    y = rng.normal(0.0, 1.0, n) * 10.0**scale
    if kind == "duplicate" and k > 1:
        X[:, 1] = X[:, 0]
    elif kind == "zero":
        X[:, 0] = 0.0
    elif kind == "constant":
        X[:, -1] = X[0, -1]
    elif kind == "exact":
        y = X @ rng.dirichlet(np.ones(k))
    return X, y


def _gap_ok(X: np.ndarray, y: np.ndarray, w: np.ndarray, w_ref: np.ndarray) -> bool:
    f, f_ref = simplex_objective(X, y, w), simplex_objective(X, y, w_ref)
    return f <= f_ref * (1.0 + REL_GAP) + FLOOR * (float(y @ y) + float((X * X).sum()))


def _on_simplex(w: np.ndarray) -> None:
    assert (w >= 0).all()
    assert abs(w.sum() - 1.0) < 1e-12


@settings(max_examples=examples(300))
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    k=st.integers(1, 6),
    kind=st.sampled_from(["plain", "duplicate", "zero", "constant", "exact"]),
    scale=st.integers(-3, 1),
)
def test_matches_the_brute_force_optimum(seed, n, k, kind, scale) -> None:
    X, y = _problem(seed, n, k, kind, scale)
    w = simplex_lstsq(X, y)
    w_ref = simplex_lstsq_ref(X, y)
    _on_simplex(w)
    assert _gap_ok(X, y, w, w_ref)
    # the optimum is unique when X is injective on {sum w = 0}: then the weights agree too
    z = np.linalg.qr(np.ones((k, 1)), mode="complete")[0][:, 1:]
    sv = np.linalg.svd(X @ z, compute_uv=False) if k > 1 else np.ones(1)
    if len(sv) == k - 1 and sv.min() > 1e-3 * np.linalg.norm(X, 2):
        np.testing.assert_allclose(w, w_ref, atol=1e-7)


@pytest.mark.parametrize("support", [30, 5, 1])
def test_known_answer_recovers_w0(support: int) -> None:
    rng = np.random.default_rng(support)
    X = rng.normal(0.0, 0.015, (60, 30))  # 60 days of 30 industry returns
    w0 = np.zeros(30)
    w0[rng.choice(30, support, replace=False)] = rng.dirichlet(np.ones(support))
    w = simplex_lstsq(X, X @ w0)
    np.testing.assert_allclose(w, w0, rtol=0, atol=1e-8)


def test_identity_design_is_the_euclidean_projection_on_the_simplex() -> None:
    # X = I: min ||w - y||² on the simplex = (y - tau)_+ with tau such that the sum is 1
    y = np.array([0.9, 0.3, -0.4])
    np.testing.assert_allclose(simplex_lstsq(np.eye(3), y), [0.8, 0.2, 0.0], atol=1e-12)


def _nnls_brute(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative least squares by trying every support (small k)."""
    k = X.shape[1]
    best, best_f = np.zeros(k), float(y @ y)
    for m in range(1, k + 1):
        for s in combinations(range(k), m):
            v = np.linalg.lstsq(X[:, list(s)], y, rcond=None)[0]
            if v.min() < 0:
                continue
            w = np.zeros(k)
            w[list(s)] = v
            if simplex_objective(X, y, w) < best_f:
                best, best_f = w, simplex_objective(X, y, w)
    return best


def test_nnls_then_renormalise_is_biased() -> None:
    X = np.eye(2)
    y = np.array([0.9, 0.3])
    nnls = _nnls_brute(X, y)
    renorm = nnls / nnls.sum()
    np.testing.assert_allclose(renorm, [0.75, 0.25])
    w, w_ref = simplex_lstsq(X, y), simplex_lstsq_ref(X, y)
    np.testing.assert_allclose(w, w_ref, atol=1e-12)
    np.testing.assert_allclose(w, [0.8, 0.2], atol=1e-12)
    assert simplex_objective(X, y, w) < simplex_objective(X, y, renorm) - 1e-3
    # and on a return-like problem with an intercept-like shift the two differ as well
    rng = np.random.default_rng(7)
    R = rng.normal(0.0, 0.01, (60, 4))
    r = 0.9 * R @ np.array([0.5, 0.3, 0.2, 0.0]) + 0.0005  # 10% cash and a drift
    nn = _nnls_brute(R, r)
    assert np.abs(nn / nn.sum() - simplex_lstsq(R, r)).max() > 1e-3
    assert _gap_ok(R, r, simplex_lstsq(R, r), simplex_lstsq_ref(R, r))


def test_rank_deficient_designs() -> None:
    # all-zero X: every w fits equally; the ridge picks the least-norm (uniform) weights
    np.testing.assert_allclose(simplex_lstsq(np.zeros((5, 4)), np.ones(5)), np.full(4, 0.25))
    # duplicate columns: their total is identified, the split is the least-norm one
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 30))
    X = np.column_stack([a, a, b])
    w = simplex_lstsq(X, 0.6 * a + 0.4 * b)
    np.testing.assert_allclose([w[0] + w[1], w[2]], [0.6, 0.4], atol=1e-9)
    np.testing.assert_allclose(w[0], w[1], atol=1e-6)
    # fewer rows than columns: the fit is exact and the weights stay on the simplex
    X = rng.normal(size=(2, 6))
    w = simplex_lstsq(X, X @ np.full(6, 1 / 6))
    _on_simplex(w)
    assert simplex_objective(X, X @ np.full(6, 1 / 6), w) < 1e-20


def test_one_column_and_large_offsets() -> None:
    np.testing.assert_allclose(simplex_lstsq(np.array([[3.0], [4.0]]), np.zeros(2)), [1.0])
    rng = np.random.default_rng(11)
    X = 1e8 + rng.normal(size=(40, 4))  # a huge common level does not change the argmin
    w0 = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(simplex_lstsq(X, X @ w0), w0, atol=1e-6)


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (np.ones((3, 2)), np.ones(4), "same n"),
        (np.ones((3, 0)), np.ones(3), "at least one column"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), np.ones(2), "NaN/inf"),
        (np.eye(2), np.array([1.0, np.inf]), "NaN/inf"),
    ],
)
def test_bad_input_is_an_error(X, y, match) -> None:
    with pytest.raises(EtfflowError, match=match):
        simplex_lstsq(X, y)


def test_reference_refuses_large_k() -> None:
    with pytest.raises(ValueError, match="k <= 8"):
        simplex_lstsq_ref(np.ones((3, 9)), np.ones(3))

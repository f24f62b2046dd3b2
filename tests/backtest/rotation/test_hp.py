"""One-sided HP filter (Huafu 2026-02): Kalman form vs the dense twin, known answers, stability.

Tolerance. The filter and the twin agree to ~2e-16 at λ = 1, ~2e-13 at λ = 1e3 and ~2e-11
at λ = 1e5 on ratios around 1 (300 points); the difference is the dense solve's (condition
number ~16λ), see :func:`test_exact_on_lines_where_dense_solve_drifts`. We assert
``|got - ref| <= 1e-8 · (1 + |ref|)``: a 500x margin at λ = 1e5, while a wrong
initialisation, a skipped NaN handled as a zero or a missing process-noise term is off by
1e-3 or more.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etfflow.backtest.rotation.hp import one_sided_hp
from etfflow.backtest.rotation.hp_ref import one_sided_hp_ref
from etfflow.exceptions import EtfflowError
from tests.helpers import examples

TOL = 1e-8
SETTINGS = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LAMBDAS = st.floats(0.0, 5.0).map(lambda e: float(10.0**e))  # 1 .. 1e5, log-uniform


def assert_matches_ref(got: np.ndarray, ref: np.ndarray) -> None:
    assert got.dtype == np.float64 and got.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg="NaN pattern")
    m = ~np.isnan(ref)
    err = np.abs(got[m] - ref[m])
    tol = TOL * (1.0 + np.abs(ref[m]))
    assert (err <= tol).all(), f"max error {err.max() if err.size else 0:.3e}"


@st.composite
def series(draw: st.DrawFn, max_len: int = 40) -> np.ndarray:
    """A ratio-like series around 1: random walk, noisy linear trend or constant, with NaNs
    scattered and/or a leading run of NaNs."""
    n = draw(st.integers(0, max_len))
    kind = draw(st.sampled_from(["walk", "trend", "constant"]))
    level = draw(st.floats(0.2, 5.0))
    if kind == "walk":
        steps = draw(st.lists(st.floats(-0.05, 0.05), min_size=n, max_size=n))
        y = level + np.cumsum(np.asarray(steps, dtype=np.float64))
    elif kind == "trend":
        slope = draw(st.floats(-0.02, 0.02))
        noise = draw(st.lists(st.floats(-0.01, 0.01), min_size=n, max_size=n))
        y = level + slope * np.arange(n) + np.asarray(noise, dtype=np.float64)
    else:
        y = np.full(n, level)
    nan = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    y[np.asarray(nan, dtype=bool)] = np.nan
    lead = draw(st.integers(0, n)) if draw(st.booleans()) else 0
    y[:lead] = np.nan
    return y


@SETTINGS
@given(y=series(), lam=LAMBDAS)
def test_matches_dense_reference(y: np.ndarray, lam: float) -> None:
    assert_matches_ref(one_sided_hp(y, lam), one_sided_hp_ref(y, lam))


@SETTINGS
@given(y=series(max_len=5), lam=LAMBDAS)
def test_short_series_match_reference(y: np.ndarray, lam: float) -> None:
    assert_matches_ref(one_sided_hp(y, lam), one_sided_hp_ref(y, lam))


@pytest.mark.parametrize("lam", [1.0, 300.0, 1e5])
def test_long_random_walk_matches_reference(lam: float) -> None:
    rng = np.random.default_rng(20260201)
    y = 1.0 + np.cumsum(rng.normal(0.0, 0.02, 300))
    y[rng.random(300) < 0.05] = np.nan
    y[:7] = np.nan
    assert_matches_ref(one_sided_hp(y, lam), one_sided_hp_ref(y, lam))


def test_three_points_by_hand() -> None:
    # (I + D'D) tau = (1, 2, 4) with D = [1, -2, 1]: tau = (15, 19, 27) / 7
    tau = one_sided_hp(np.array([1.0, 2.0, 4.0]), 1.0)
    np.testing.assert_allclose(tau, [1.0, 2.0, 27.0 / 7.0], rtol=0, atol=1e-15)


def test_first_two_points_are_the_data_and_nans_are_skipped() -> None:
    y = np.array([np.nan, 1.0, np.nan, np.nan, 2.0, 4.0, np.nan])
    tau = one_sided_hp(y, 1.0)
    assert tau[1] == 1.0 and tau[4] == 2.0
    assert tau[5] == pytest.approx(27.0 / 7.0, abs=1e-15)  # the skipped weeks do not count
    np.testing.assert_array_equal(np.isnan(tau), np.isnan(y))


def test_empty_and_all_nan() -> None:
    assert one_sided_hp(np.array([]), 10.0).shape == (0,)
    assert np.isnan(one_sided_hp(np.full(4, np.nan), 10.0)).all()


def test_infinite_values_are_missing() -> None:
    y = np.array([1.0, np.inf, 2.0, -np.inf, 4.0])
    tau = one_sided_hp(y, 1.0)
    np.testing.assert_array_equal(np.isnan(tau), [False, True, False, True, False])
    assert tau[4] == pytest.approx(27.0 / 7.0, abs=1e-15)


@pytest.mark.parametrize("lam", [1.0, 1e3, 1e5, 1e8])
def test_exact_on_lines_where_dense_solve_drifts(lam: float) -> None:
    """A constant or a straight line is its own HP trend: the filter returns it to ~1e-15 for
    any λ, whereas the dense solve loses digits as λ grows (the tolerance's source)."""
    line = 1.0 + 0.003 * np.arange(300)
    const = np.full(300, 1.1)
    assert np.abs(one_sided_hp(line, lam) - line).max() <= 1e-14
    assert np.abs(one_sided_hp(const, lam) - 1.1).max() <= 1e-14


def test_large_lambda_tends_to_the_least_squares_line() -> None:
    """λ → ∞ forces a straight line: tau[t] → the OLS fit's value at t on y[..t] (error
    O(1/λ)). At λ = 1e14 the filter stays stable (no covariance blow-up)."""
    rng = np.random.default_rng(7)
    y = 1.0 + np.cumsum(rng.normal(0.0, 0.02, 300))
    tau = one_sided_hp(y, 1e14)
    ols = [y[0]] + [
        np.polyval(np.polyfit(np.arange(t + 1), y[: t + 1], 1), t) for t in range(1, 300)
    ]
    assert np.abs(tau - np.asarray(ols)).max() <= 1e-6


def test_point_in_time() -> None:
    """Changing y after position k leaves tau[..k] bit-for-bit unchanged."""
    rng = np.random.default_rng(3)
    y = 1.0 + np.cumsum(rng.normal(0.0, 0.02, 80))
    y[rng.random(80) < 0.1] = np.nan
    base = one_sided_hp(y, 300.0)
    for k in (0, 1, 2, 10, 41, 78):
        z = y.copy()
        z[k + 1 :] = rng.normal(5.0, 3.0, 80 - k - 1)
        got = one_sided_hp(z, 300.0)
        np.testing.assert_array_equal(got[: k + 1], base[: k + 1])
        assert not np.array_equal(got[k + 1 :], base[k + 1 :])


@pytest.mark.parametrize(
    ("y", "lam", "match"),
    [
        (np.ones((3, 2)), 1.0, "1-D"),
        (np.array(["a", "b"]), 1.0, "real"),
        (np.ones(3), 0.0, "lam"),
        (np.ones(3), -1.0, "lam"),
        (np.ones(3), float("nan"), "lam"),
        (np.ones(3), float("inf"), "lam"),
        (np.ones(3), True, "lam"),
        (np.ones(3), "300", "lam"),
    ],
)
def test_bad_arguments(y: np.ndarray, lam: float, match: str) -> None:
    with pytest.raises(EtfflowError, match=match):
        one_sided_hp(y, lam)


def test_numpy_scalar_lambda() -> None:
    y = np.array([1.0, 2.0, 4.0])
    np.testing.assert_array_equal(one_sided_hp(y, np.float32(1.0)), one_sided_hp(y, 1.0))
    np.testing.assert_array_equal(one_sided_hp(y, np.int64(1)), one_sided_hp(y, 1.0))

"""Rolling kernels (SPEC §3): hand-checked cases, hypothesis vs the loop twins, point in time.

Tolerances. The fast kernels work on anchored, compensated sums (see the kernels module), so
their error is a few ulps *of the de-offset scale*: measured worst cases on random panels are
~1e-12 relative. The twins centre every window after shifting it by its first value and use
``math.fsum``, so they are at least as accurate. We compare with

* sum / mean: ``|got - ref| <= 1e-12 · Σ|x|`` (mean: ``Σ|x| / n``) over the window (the
  rounding of the result itself is ~1e-16 of that; a plain running sum that keeps the error
  of a large value that has left the window fails this by orders of magnitude);
* shift-invariant statistics: ``|got - ref| <= RTOL · (|ref| + scale)`` with ``RTOL = 1e-9``
  and ``scale`` the natural unit of the result on the *de-offset* data: the largest
  ``|x - offset|`` in the window for std / slope / residual, ``scale_y / scale_x`` for beta,
  1 for z-score and correlation. With a 1e8 offset a textbook ``Σx² - (Σx)²/n`` is off by
  ~1e8² · 1e-16 = O(1) in the variance, ten orders of magnitude beyond the tolerance, while
  the 1000x margin over the measured error keeps hypothesis from flagging ulps.

NaN patterns must match exactly. Test data are multiples of ``scale / 8`` around the offset,
so a non-constant window is at least ~1e-9 (relative) away from the constant threshold
``CONSTANT_RTOL = 1e-10`` and kernel and twin never disagree on "constant" by rounding.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etfflow.exceptions import EtfflowError
from etfflow.factors import kernels as K
from etfflow.factors import kernels_nb as NB
from etfflow.factors import kernels_ref as R
from tests.helpers import examples

EXAMPLES = examples(40)  # the thorough profile's count under ETFFLOW_HYPOTHESIS=thorough
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

RTOL = 1e-9
SUM_RTOL = 1e-12
UNIVARIATE = ("rolling_sum", "rolling_mean", "rolling_std", "rolling_zscore", "rolling_slope")
BIVARIATE = ("rolling_beta", "rolling_corr", "rolling_residual")
NAN = np.nan


# --------------------------------------------------------------------------- helpers
def _window_max_abs(a: np.ndarray, window: int) -> np.ndarray:
    """Largest finite |a| in each window (0 when none), by loops."""
    a2 = a.reshape(a.shape[0], -1)
    out = np.zeros(a2.shape)
    for t in range(a2.shape[0]):
        w = a2[max(0, t - window + 1) : t + 1]
        w = np.where(np.isfinite(w), np.abs(w), 0.0)
        out[t] = w.max(axis=0) if w.size else 0.0
    return out.reshape(a.shape)


def assert_close(
    got: np.ndarray, ref: np.ndarray, scale: np.ndarray | float, rtol: float, what: str
) -> None:
    assert got.dtype == np.float64 and got.shape == ref.shape, what
    nan_g, nan_r = np.isnan(got), np.isnan(ref)
    if not np.array_equal(nan_g, nan_r):
        bad = np.argwhere(nan_g != nan_r)[:5]
        rows = [(tuple(i), got[tuple(i)], ref[tuple(i)]) for i in bad]
        pytest.fail(f"{what}: NaN pattern differs at (index, got, ref) {rows}")
    assert not np.isinf(got).any(), f"{what}: infinite output"
    scale = np.broadcast_to(scale, ref.shape)
    m = ~nan_r
    err = np.abs(got[m] - ref[m])
    tol = rtol * (np.abs(ref[m]) + scale[m])
    if (err > tol).any():
        k = int(np.argmax(err - tol))
        idx = tuple(np.argwhere(m)[k])
        pytest.fail(
            f"{what}: |got - ref| = {err[k]:.3g} > tol {tol[k]:.3g} at {idx}: "
            f"got {got[idx]!r}, ref {ref[idx]!r}"
        )


def check_univariate(
    name: str, x: np.ndarray, offset: float, window: int, min_periods: int | None, ddof: int = 1
) -> None:
    kw: dict = {"min_periods": min_periods}
    if name in ("rolling_std", "rolling_zscore"):
        kw["ddof"] = ddof
    got = getattr(K, name)(x, window, **kw)
    ref = getattr(R, name)(x, window, **kw)
    what = f"{name}(window={window}, min_periods={min_periods}, offset={offset:g})"
    if name in ("rolling_sum", "rolling_mean"):
        absx = np.where(np.isfinite(x), np.abs(x), NAN)
        agg = getattr(R, name)(absx, window, min_periods=1)
        assert_close(got, ref, 0.0, 1.0, what + " [shape]")  # NaN pattern first
        m = np.isfinite(ref)
        err = np.abs(got - ref)[m]
        tol = SUM_RTOL * agg[m]
        assert (err <= tol).all(), f"{what}: max err {err.max():.3g} vs tol {tol.max():.3g}"
        return
    scale = 1.0 if name == "rolling_zscore" else _window_max_abs(x - offset, window)
    assert_close(got, ref, scale, RTOL, what)


def check_bivariate(
    name: str,
    y: np.ndarray,
    x: np.ndarray,
    offsets: tuple[float, float],
    window: int,
    min_periods: int | None,
) -> None:
    args = (x, y) if name == "rolling_corr" else (y, x)
    got = getattr(K, name)(*args, window, min_periods=min_periods)
    ref = getattr(R, name)(*args, window, min_periods=min_periods)
    sy = _window_max_abs(y - offsets[0], window)
    sx = _window_max_abs(x - offsets[1], window)
    if name == "rolling_corr":
        scale: np.ndarray | float = 1.0
    elif name == "rolling_beta":
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(sx > 0, sy / np.where(sx > 0, sx, 1.0), 0.0)
    else:
        scale = sy
    assert_close(got, ref, scale, RTOL, f"{name}(window={window}, min_periods={min_periods})")


# --------------------------------------------------------------------------- strategies
KINDS = ("noise", "constant", "steps", "trend", "spike", "walk")
HOLES = ("none", "random", "runs", "late", "early_end", "all_nan", "inf")


def make_column(
    rng: np.random.Generator, t: int, kind: str, holes: str, offset: float, scale: float
) -> np.ndarray:
    """One column: ``offset + scale * k / 8`` with integer ``k`` (see module docstring)."""
    if kind == "noise":
        k = rng.integers(-1000, 1001, t).astype(float)
    elif kind == "constant":
        k = np.full(t, float(rng.integers(-1000, 1001)))
    elif kind == "steps":  # piecewise constant: windows turn constant after moving
        k = np.repeat(rng.integers(-1000, 1001, t), rng.integers(1, 25, t))[:t].astype(float)
    elif kind == "trend":
        k = np.arange(t) * float(rng.integers(-40, 41)) + rng.integers(-2, 3, t)
    elif kind == "spike":  # calm series with rare huge values that enter and leave windows
        k = rng.integers(-3, 4, t).astype(float)
        k[rng.random(t) < 0.05] = 8.0e6
    else:  # random walk with a volatility regime change (x1000 calmer in the second half)
        steps = rng.integers(-8000, 8001, t).astype(float)
        steps[t // 2 :] = np.round(steps[t // 2 :] / 1000)
        k = np.cumsum(steps)
    col = offset + scale * k / 8.0
    if holes == "random":
        col[rng.random(t) < 0.25] = NAN
    elif holes == "runs":
        for _ in range(3):
            s = int(rng.integers(0, max(t, 1)))
            col[s : s + int(rng.integers(1, 15))] = NAN
    elif holes == "late":  # listed later: leading NaN
        col[: int(rng.integers(0, t + 1))] = NAN
    elif holes == "early_end":  # delisted: trailing NaN
        col[int(rng.integers(0, t + 1)) :] = NAN
    elif holes == "all_nan":
        col[:] = NAN
    elif holes == "inf":  # ±inf is treated as missing, like NaN
        col[rng.random(t) < 0.15] = NAN
        col[rng.random(t) < 0.1] = np.inf
        col[rng.random(t) < 0.05] = -np.inf
    return col


@st.composite
def panel_cases(draw: st.DrawFn, *, max_t: int = 70, max_n: int = 4) -> dict:
    t = draw(st.integers(1, max_t))
    n = draw(st.integers(1, max_n))
    window = draw(st.integers(1, 40))  # often > t: short histories
    min_periods = draw(st.one_of(st.none(), st.integers(1, window)))
    offset, scale = draw(
        st.sampled_from(
            [
                (0.0, 1.0),
                (0.0, 1e-3),
                (0.0, 1e3),
                (1e8, 8.0),
                (1e8, 800.0),
                (-1e8, 8.0),
                (3.5e5, 0.5),
            ]
        )
    )
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=n, max_size=n))
    holes = draw(st.lists(st.sampled_from(HOLES), min_size=n, max_size=n))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [make_column(rng, t, k, h, offset, scale) for k, h in zip(kinds, holes, strict=True)]
    )
    return {
        "x": x,
        "window": window,
        "min_periods": min_periods,
        "offset": offset,
        "scale": scale,
        "rng_seed": seed,
        "ddof": draw(st.sampled_from([1, 1, 0, 2])),
    }


# --------------------------------------------------------------------------- hand cases
def test_sum_of_ones() -> None:
    x = np.ones((6, 2))
    np.testing.assert_array_equal(K.rolling_sum(x, 3)[:, 0], [NAN, NAN, 3, 3, 3, 3])
    np.testing.assert_array_equal(K.rolling_sum(x, 3, min_periods=1)[:, 1], [1, 2, 3, 3, 3, 3])
    np.testing.assert_array_equal(K.rolling_mean(x, 4, min_periods=2)[:, 0], [NAN, 1, 1, 1, 1, 1])


def test_sum_and_mean_skip_missing() -> None:
    x = np.array([1.0, 2.0, NAN, 4.0, np.inf, 6.0])
    np.testing.assert_array_equal(K.rolling_sum(x, 3, min_periods=2), [NAN, 3, 3, 6, NAN, 10])
    np.testing.assert_array_equal(K.rolling_mean(x, 3, min_periods=2), [NAN, 1.5, 1.5, 3, NAN, 5])
    np.testing.assert_array_equal(K.rolling_sum(x, 3), [NAN] * 6)  # no complete window


def test_sum_exact_after_a_huge_value_leaves() -> None:
    x = np.array([1e20, 1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(K.rolling_sum(x, 2), [NAN, 1e20 + 1.0, 3.0, 5.0, 7.0])


def test_std_known_numbers() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 6.0])
    np.testing.assert_allclose(
        K.rolling_std(x, 3), [NAN, NAN, 1.0, 1.0, np.sqrt(7 / 3)], rtol=1e-15
    )
    np.testing.assert_allclose(K.rolling_std(x, 3, ddof=0)[2], np.sqrt(2 / 3), rtol=1e-15)
    assert np.isnan(K.rolling_std(x, 3, min_periods=1)[0])  # one value, ddof=1
    assert K.rolling_std(x, 3, min_periods=1, ddof=0)[0] == 0.0


def test_zscore_known_numbers() -> None:
    x = np.array([1.0, 2.0, 3.0, 3.0, 3.0, 3.0, NAN, 9.0])
    z = K.rolling_zscore(x, 3, min_periods=2)
    # [1,2]: (2-1.5)/0.7071; [1,2,3]: (3-2)/1; [2,3,3]: (1/3)/sqrt(1/3); constant -> NaN;
    # x[t] missing -> NaN; [3, 9] with the NaN skipped: (9-6)/sqrt(18)
    expected = [NAN, 0.5 / np.sqrt(0.5), 1.0, np.sqrt(1 / 3), NAN, NAN, NAN, 3 / np.sqrt(18)]
    np.testing.assert_allclose(z, expected, rtol=1e-14)


@pytest.mark.parametrize("offset", [0.0, 1e8, -1e8, 1e-300, 123.456])
def test_constant_window_gives_nan_never_inf(offset: float) -> None:
    # moves, then stays constant: the running sums must land exactly on a zero variance
    x = offset + np.array([0.3, 0.7, 0.1, 0.9] + [0.7] * 12)
    x[0] = offset + 5.0
    y = 2.0 * np.arange(x.size) + 1.0
    n = 4
    const = np.arange(x.size) >= 3 + n
    z = K.rolling_zscore(x, n)
    assert np.isnan(z[const]).all() and not np.isinf(z).any()
    assert (K.rolling_std(x, n)[const] == 0.0).all()
    assert np.isnan(K.rolling_corr(x, y, n)[const]).all()
    assert np.isnan(K.rolling_corr(y, x, n)[const]).all()
    assert np.isnan(K.rolling_beta(y, x, n)[const]).all()
    assert np.isnan(K.rolling_residual(y, x, n)[const]).all()
    assert (K.rolling_slope(x, n)[const] == 0.0).all()
    assert np.isfinite(z[n - 1 : 3 + n]).all()


def test_exact_zero_after_inexact_values() -> None:
    """Decimals are inexact in binary: adding then removing them must land on exactly 0."""
    rng = np.random.default_rng(5)
    for w in (2, 3, 5, 8):
        for _ in range(20):
            x = np.concatenate([[0.0], rng.integers(-9, 10, 12) / 10.0, np.zeros(10)])
            y = np.arange(x.size, dtype=float) ** 1.5
            zero = np.arange(x.size) >= 13 + w - 1  # windows of zeros only
            assert (K.rolling_sum(x, w)[zero] == 0.0).all()
            assert (K.rolling_mean(x, w)[zero] == 0.0).all()
            assert (K.rolling_std(x, w)[zero] == 0.0).all()
            assert np.isnan(K.rolling_zscore(x, w)[zero]).all()
            assert (K.rolling_slope(x, w)[zero] == 0.0).all()
            assert np.isnan(K.rolling_beta(y, x, w)[zero]).all()
            assert np.isnan(K.rolling_corr(x, y, w)[zero]).all()
            assert np.isnan(K.rolling_residual(y, x, w)[zero]).all()
            assert (K.rolling_beta(x, y, w)[zero] == 0.0).all()


def test_exact_zero_after_values_of_wild_magnitudes() -> None:
    """Values from 1e-20 to 1e18 enter and leave: a window of zeros still sums to exactly 0."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(3, 40))
        x = np.concatenate(
            [rng.standard_normal(n) * 10.0 ** rng.integers(-20, 19, n), np.zeros(12)]
        )
        w = int(rng.integers(2, 12))
        zero = np.arange(x.size) >= n + w - 1
        assert (K.rolling_sum(x, w, min_periods=1)[zero] == 0.0).all()
        assert (K.rolling_std(x, w, min_periods=2)[zero] == 0.0).all()
        assert np.isnan(K.rolling_zscore(x, w, min_periods=2)[zero]).all()


def test_overflowing_values_give_nan_not_inf() -> None:
    """Deviations beyond ~1e154 overflow the sums of squares: NaN there, exact again after."""
    x = np.array([1.0, 2.0, 1e200, 3.0, 4.0, 5.0, 6.0, 7.0])
    y = np.arange(8.0)
    outs = [getattr(K, name)(x, 3) for name in UNIVARIATE if name != "rolling_slope"]
    outs += [getattr(K, name)(y, x, 3) for name in BIVARIATE]
    for out in outs:
        assert not np.isinf(out).any()
    assert np.isnan(K.rolling_std(x, 3)[2:5]).all()
    np.testing.assert_array_equal(K.rolling_std(x, 3)[5:], 1.0)
    np.testing.assert_array_equal(K.rolling_sum(x, 3)[5:], [12.0, 15.0, 18.0])
    np.testing.assert_array_equal(K.rolling_corr(y, x, 3)[5:], 1.0)


def test_near_constant_threshold() -> None:
    base = 1e8 + np.zeros(10)
    tiny = base.copy()
    tiny[-1] += 2e-8  # 1 ulp of 1e8: std/rms ~ 1e-16, below CONSTANT_RTOL -> constant
    assert np.isnan(K.rolling_zscore(tiny, 10)[-1])
    small = base.copy()
    small[-1] += 1.0  # std/rms ~ 3e-9 -> a real move
    np.testing.assert_allclose(K.rolling_zscore(small, 10)[-1], 9 / np.sqrt(10), rtol=1e-12)


def test_zscore_with_1e8_offset_matches_de_offset_numbers() -> None:
    rng = np.random.default_rng(7)
    d = rng.integers(-50, 51, 400) / 4.0
    np.testing.assert_allclose(
        K.rolling_zscore(1e8 + d, 20), K.rolling_zscore(d, 20), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(K.rolling_std(1e8 + d, 20), K.rolling_std(d, 20), rtol=1e-12)


def test_slope_of_a_line() -> None:
    t = np.arange(30, dtype=float)
    y = 3.0 + 2.5 * t
    np.testing.assert_allclose(K.rolling_slope(y, 5)[4:], 2.5, rtol=1e-14)
    assert np.isnan(K.rolling_slope(y, 5)[:4]).all()
    # missing rows keep their place in time
    yh = y.copy()
    yh[[6, 7, 12]] = NAN
    np.testing.assert_allclose(K.rolling_slope(yh, 5, min_periods=2)[1:], 2.5, rtol=1e-14)
    # SPEC: slope on k = 1..n of the last n values
    v = np.array([4.0, 1.0, 7.0, 9.0])  # slope 10.5 / 5 = 2.1
    expected = np.polyfit(np.arange(1, 5), v, 1)[0]
    np.testing.assert_allclose(K.rolling_slope(v, 4)[-1], expected, rtol=1e-13)
    # 1e8 offset and a 1e8-scale line
    np.testing.assert_allclose(K.rolling_slope(1e8 + y, 7)[6:], 2.5, rtol=1e-12)
    np.testing.assert_allclose(K.rolling_slope(1e8 * t, 7)[6:], 1e8, rtol=1e-14)


def test_slope_needs_two_points() -> None:
    y = np.array([1.0, NAN, NAN, 5.0, NAN])
    out = K.rolling_slope(y, 3, min_periods=1)
    np.testing.assert_array_equal(np.isnan(out), [True, True, True, True, True])
    out = K.rolling_slope(y, 4, min_periods=1)
    np.testing.assert_allclose(out[3], 4.0 / 3.0)


def test_beta_corr_residual_known_numbers() -> None:
    x = np.array([1.0, 2.0, 4.0, 3.0, 5.0])
    y = 2.0 * x + 1.0
    np.testing.assert_allclose(K.rolling_beta(y, x, 3)[2:], 2.0, rtol=1e-14)
    np.testing.assert_allclose(K.rolling_corr(x, y, 3)[2:], 1.0, rtol=1e-14)
    np.testing.assert_allclose(K.rolling_corr(x, -y, 3)[2:], -1.0, rtol=1e-14)
    np.testing.assert_allclose(K.rolling_residual(y, x, 3)[2:], 0.0, atol=1e-13)
    # window (x, y) = (0,0), (1,1), (2,2), (3,6): fit at t=3 over the last 3 points
    xs = np.array([0.0, 1.0, 2.0, 3.0])
    ys = np.array([0.0, 1.0, 2.0, 6.0])
    np.testing.assert_allclose(K.rolling_beta(ys, xs, 3)[-1], 2.5)
    np.testing.assert_allclose(K.rolling_residual(ys, xs, 3)[-1], 0.5)
    np.testing.assert_allclose(
        K.rolling_corr(xs, ys, 3)[-1], np.corrcoef(xs[1:], ys[1:])[0, 1], rtol=1e-14
    )
    # pairs: a row counts only where both are valid; residual needs both at t
    yh = ys.copy()
    yh[1] = NAN
    np.testing.assert_allclose(K.rolling_beta(yh, xs, 3, min_periods=2)[-1], 4.0)
    xh = xs.copy()
    xh[-1] = NAN
    assert np.isnan(K.rolling_residual(ys, xh, 3, min_periods=2)[-1])


def test_corr_constant_either_side_is_nan() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    c = np.full(4, 7.0)
    assert np.isnan(K.rolling_corr(x, c, 3)[2:]).all()
    assert np.isnan(K.rolling_corr(c, x, 3)[2:]).all()
    assert np.isnan(K.rolling_beta(x, c, 3)[2:]).all()
    np.testing.assert_array_equal(K.rolling_beta(c, x, 3)[2:], 0.0)


def test_one_d_in_one_d_out_and_1d_kernels() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(50)
    x[[3, 17, 18]] = NAN
    y = rng.standard_normal(50)
    for name in UNIVARIATE:
        out = getattr(K, name)(x, 7, min_periods=4)
        assert out.shape == (50,)
        panel = getattr(K, name)(np.column_stack([y, x]), 7, min_periods=4)
        np.testing.assert_array_equal(out, panel[:, 1])
    for name in BIVARIATE:
        out = getattr(K, name)(y, x, 7, min_periods=4)
        assert out.shape == (50,)
        np.testing.assert_array_equal(
            out, getattr(K, name)(y[:, None], x[:, None], 7, min_periods=4)[:, 0]
        )
    np.testing.assert_array_equal(NB.rolling_sum_1d_nb(x, 7, 4), K.rolling_sum(x, 7, min_periods=4))
    np.testing.assert_array_equal(
        NB.rolling_mean_1d_nb(x, 7, 4), K.rolling_mean(x, 7, min_periods=4)
    )
    np.testing.assert_array_equal(
        NB.rolling_std_1d_nb(x, 7, 4, 1), K.rolling_std(x, 7, min_periods=4)
    )
    np.testing.assert_array_equal(
        NB.rolling_zscore_1d_nb(x, 7, 4, 0), K.rolling_zscore(x, 7, min_periods=4, ddof=0)
    )
    np.testing.assert_array_equal(
        NB.rolling_slope_1d_nb(x, 7, 4), K.rolling_slope(x, 7, min_periods=4)
    )
    np.testing.assert_array_equal(
        NB.rolling_beta_1d_nb(y, x, 7, 4), K.rolling_beta(y, x, 7, min_periods=4)
    )
    np.testing.assert_array_equal(
        NB.rolling_corr_1d_nb(x, y, 7, 4), K.rolling_corr(x, y, 7, min_periods=4)
    )
    np.testing.assert_array_equal(
        NB.rolling_residual_1d_nb(y, x, 7, 4), K.rolling_residual(y, x, 7, min_periods=4)
    )


def test_block_size_does_not_change_results() -> None:
    rng = np.random.default_rng(11)
    x = 1e8 + rng.integers(-100, 101, (700, 37)).astype(float)
    x[rng.random(x.shape) < 0.1] = NAN
    x[:, 5] = 1e8
    y = rng.standard_normal(x.shape)
    for block in (8, 16, 40):
        for fn, args in [
            (NB.rolling_sum_nb, (x,)),
            (NB.rolling_mean_nb, (x,)),
            (NB.rolling_slope_nb, (x,)),
            (NB.rolling_beta_nb, (y, x)),
            (NB.rolling_corr_nb, (x, y)),
            (NB.rolling_residual_nb, (y, x)),
        ]:
            a, b = np.empty_like(x), np.empty_like(x)
            fn(*args, a, 20, 15, block)
            fn(*args, b, 20, 15, 512)
            np.testing.assert_array_equal(a, b)
        for fn in (NB.rolling_std_nb, NB.rolling_zscore_nb):
            a, b = np.empty_like(x), np.empty_like(x)
            fn(x, a, 20, 15, 1, block)
            fn(x, b, 20, 15, 1, 512)
            np.testing.assert_array_equal(a, b)


def test_empty_and_degenerate_shapes() -> None:
    for shape in [(0,), (0, 3), (5, 0)]:
        x = np.zeros(shape)
        for name in UNIVARIATE:
            assert getattr(K, name)(x, 3).shape == shape
        for name in BIVARIATE:
            assert getattr(K, name)(x, x, 3).shape == shape
    # window longer than the history: all NaN unless min_periods allows it
    x = np.arange(4.0)
    assert np.isnan(K.rolling_mean(x, 10)).all()
    np.testing.assert_array_equal(K.rolling_mean(x, 10, min_periods=2), [NAN, 0.5, 1.0, 1.5])


def test_inputs_are_coerced_and_not_modified() -> None:
    x = np.arange(12, dtype=np.int32).reshape(6, 2)
    out = K.rolling_sum(x, 2)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out[1:, 0], [2, 6, 10, 14, 18])
    f = np.asfortranarray(np.arange(12.0).reshape(6, 2))
    before = f.copy()
    np.testing.assert_array_equal(K.rolling_mean(f, 2), K.rolling_mean(before, 2))
    np.testing.assert_array_equal(f, before)
    lst = [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(K.rolling_sum(lst, 2), [NAN, 3.0, 5.0])


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window": 0}, "window must be an int >= 1"),
        ({"window": -3}, "window must be an int >= 1"),
        ({"window": 2.5}, "window must be an int >= 1"),
        ({"window": True}, "window must be an int >= 1"),
        ({"window": "5"}, "window must be an int >= 1"),
        ({"window": 5, "min_periods": 0}, r"1 <= min_periods <= window \(5\)"),
        ({"window": 5, "min_periods": 6}, r"1 <= min_periods <= window \(5\)"),
        ({"window": 5, "min_periods": 2.0}, "min_periods must be an int or None"),
    ],
)
@pytest.mark.parametrize("name", UNIVARIATE + BIVARIATE)
def test_argument_validation(name: str, kwargs: dict, match: str) -> None:
    x = np.ones((8, 2))
    args = (x,) if name in UNIVARIATE else (x, x)
    kwargs = dict(kwargs)  # the parametrised dict is shared between cases
    window = kwargs.pop("window")
    with pytest.raises(EtfflowError, match=match):
        getattr(K, name)(*args, window, **kwargs)


def test_array_validation() -> None:
    with pytest.raises(EtfflowError, match=r"y has shape \(8, 2\) but x has shape \(8, 3\)"):
        K.rolling_corr(np.ones((8, 3)), np.ones((8, 2)), 3)
    with pytest.raises(EtfflowError, match=r"x has shape \(8,\) but y has shape \(8, 1\)"):
        K.rolling_beta(np.ones((8, 1)), np.ones(8), 3)
    with pytest.raises(EtfflowError, match=r"must be 1-D .* got 3-D"):
        K.rolling_mean(np.ones((4, 2, 2)), 2)
    with pytest.raises(EtfflowError, match=r"must be 1-D .* got 0-D"):
        K.rolling_mean(np.float64(3.0), 2)
    with pytest.raises(EtfflowError, match="x must be a numeric array"):
        K.rolling_sum(np.array(["a", "b"]), 2)
    for bad in (-1, 1.0, True):
        with pytest.raises(EtfflowError, match="ddof must be an int >= 0"):
            K.rolling_std(np.ones(5), 2, ddof=bad)
    assert issubclass(EtfflowError, ValueError)


# --------------------------------------------------------------------------- properties
@SETTINGS
@given(case=panel_cases())
def test_univariate_kernels_match_twins(case: dict) -> None:
    for name in UNIVARIATE:
        check_univariate(
            name, case["x"], case["offset"], case["window"], case["min_periods"], ddof=case["ddof"]
        )


@SETTINGS
@given(case=panel_cases(), other=panel_cases(), flip=st.booleans())
def test_bivariate_kernels_match_twins(case: dict, other: dict, flip: bool) -> None:
    x = case["x"]
    t, n = x.shape
    rng = np.random.default_rng(other["rng_seed"])
    # y: its own kind/holes/offset, same grid; sometimes an exact linear function of x
    ycols = [
        make_column(
            rng, t, str(rng.choice(KINDS)), str(rng.choice(HOLES)), other["offset"], other["scale"]
        )
        for _ in range(n)
    ]
    y = np.column_stack(ycols)
    if flip:
        y = other["offset"] + 3.0 * (x - case["offset"]) / case["scale"] * other["scale"]
    for name in BIVARIATE:
        check_bivariate(
            name, y, x, (other["offset"], case["offset"]), case["window"], case["min_periods"]
        )


@settings(
    max_examples=max(EXAMPLES // 4, 8), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(case=panel_cases(max_t=900, max_n=2), window=st.integers(1, 12))
def test_long_histories_cross_rebuilds(case: dict, window: int) -> None:
    """T up to 900 > the full-rebuild period (256 rows for short windows)."""
    for name in ("rolling_std", "rolling_zscore", "rolling_slope"):
        check_univariate(name, case["x"], case["offset"], window, None)
    x = case["x"]
    y = np.roll(x, 3, axis=0) * 0.5 + np.arange(x.shape[0])[:, None]
    check_bivariate("rolling_corr", y, x, (case["offset"] * 0.5, case["offset"]), window, None)


@SETTINGS
@given(case=panel_cases(max_t=60, max_n=3), data=st.data())
def test_point_in_time(case: dict, data: st.DataObject) -> None:
    """Changing rows > t never changes any output at rows <= t (bit for bit)."""
    x = case["x"]
    t0 = data.draw(st.integers(0, x.shape[0] - 1))
    rng = np.random.default_rng(case["rng_seed"] + 1)
    x2 = x.copy()
    tail = x2[t0 + 1 :]
    tail[:] = rng.standard_normal(tail.shape) * 1e9
    tail[rng.random(tail.shape) < 0.3] = NAN
    y = np.sin(np.arange(x.size, dtype=float)).reshape(x.shape)
    w, mp = case["window"], case["min_periods"]
    for name in UNIVARIATE:
        a = getattr(K, name)(x, w, min_periods=mp)[: t0 + 1]
        b = getattr(K, name)(x2, w, min_periods=mp)[: t0 + 1]
        np.testing.assert_array_equal(a, b, err_msg=name)
    for name in BIVARIATE:
        a = getattr(K, name)(y, x, w, min_periods=mp)[: t0 + 1]
        b = getattr(K, name)(y, x2, w, min_periods=mp)[: t0 + 1]
        np.testing.assert_array_equal(a, b, err_msg=name)


def _ref_at_rows(
    fn: Callable, arrays: tuple[np.ndarray, ...], window: int, rows: np.ndarray
) -> np.ndarray:
    """Twin evaluated only at ``rows`` (on the window slice ending there): long series."""
    out = []
    for t in rows:
        sl = tuple(a[max(0, t - window + 1) : t + 1] for a in arrays)
        out.append(fn(*sl, window)[-1])
    return np.array(out)


def test_long_series_regime_changes() -> None:
    """5,000 days: 1e8 level, variance collapsing x1e6, 1e9 outliers, a constant stretch."""
    rng = np.random.default_rng(20240607)
    t = 5000
    d = rng.standard_normal(t) * 1e3
    d[1500:3000] *= 1e-3
    x = 1e8 + np.round(np.cumsum(d) * 8) / 8
    x[rng.random(t) < 0.002] += 1e9
    x[3200:3400] = x[3199]
    x[rng.random(t) < 0.03] = NAN
    y = np.where(np.isfinite(x), 0.25 * (x - 1e8) + rng.standard_normal(t), NAN)
    rows = np.unique(
        np.concatenate([np.arange(0, t, 97), np.arange(1490, 1600), np.arange(3190, 3420, 3)])
    )
    w = 60
    sx = _window_max_abs(x - 1e8, w)[rows]
    for name in ("rolling_std", "rolling_zscore", "rolling_slope"):
        got = getattr(K, name)(x, w)[rows]
        ref = _ref_at_rows(getattr(R, name), (x,), w, rows)
        scale = 1.0 if name == "rolling_zscore" else sx
        assert_close(got, ref, scale, RTOL, name)
    for name in BIVARIATE:
        args = (x, y) if name == "rolling_corr" else (y, x)
        got = getattr(K, name)(*args, w)[rows]
        ref = _ref_at_rows(getattr(R, name), args, w, rows)
        scale = 1.0 if name == "rolling_corr" else _window_max_abs(y, w)[rows]
        if name == "rolling_beta":
            scale = _window_max_abs(y, w)[rows] / np.where(sx > 0, sx, 1.0)
        assert_close(got, ref, scale, RTOL, name)


@pytest.mark.parametrize("threads", [2, 3, 7])
def test_thread_count_does_not_change_results(
    monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    # the public API splits column blocks over threads; a result must not depend on how many
    rng = np.random.default_rng(12)
    x = 1e8 + rng.integers(-100, 101, (300, 53)).astype(float)
    x[rng.random(x.shape) < 0.1] = NAN
    y = rng.standard_normal(x.shape)
    monkeypatch.setattr(K, "n_threads", lambda: 1)
    one = {n: getattr(K, n)(x, 20, min_periods=15) for n in UNIVARIATE}
    one |= {n: getattr(K, n)(y, x, 20, min_periods=15) for n in BIVARIATE}
    monkeypatch.setattr(K, "n_threads", lambda: threads)
    assert K._block_size(x.shape[1]) < x.shape[1]  # several blocks, several parts
    for n in UNIVARIATE:
        np.testing.assert_array_equal(getattr(K, n)(x, 20, min_periods=15), one[n])
    for n in BIVARIATE:
        np.testing.assert_array_equal(getattr(K, n)(y, x, 20, min_periods=15), one[n])


# A fresh process calls every public rolling function and processing step with the arrays a
# caller may hold: writeable and read-only (a Polars / Arrow panel), 1-D, one block, strided,
# float32; window / min_periods / ddof as int, np.int32 and np.int64; group ids as int16,
# int32, int64 and int8, per stock or per cell; one or two controls.
_SPECIALISATION_CHILD = """
import json

import numpy as np
from numba.core.registry import CPUDispatcher

from etfflow.factors import kernels as K
from etfflow.factors import kernels_nb as KNB
from etfflow.factors import processing as P
from etfflow.factors import processing_nb as PNB
from etfflow.factors import processing_pipeline as PP


def frozen(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


rng = np.random.default_rng(5)
x = rng.standard_normal((40, 50))
y = rng.standard_normal(x.shape)
x[rng.random(x.shape) < 0.1] = np.nan
pairs = [(x, y), (frozen(x), frozen(y)), (x[:, 0], y[:, 0]), (x[:, :3], y[:, :3])]
pairs += [(x[:, ::2], y[:, ::2]), (x.astype(np.float32), frozen(y))]
for a, b in pairs:
    for w in (5, np.int32(5), np.int64(5)):
        K.rolling_sum(a, w)
        K.rolling_mean(a, w, min_periods=np.int32(2))
        K.rolling_std(a, w, ddof=np.int32(1))
        K.rolling_zscore(a, w, min_periods=3, ddof=0)
        K.rolling_slope(a, w)
        K.rolling_beta(b, a, w)
        K.rolling_corr(a, b, w, min_periods=np.int64(4))
        K.rolling_residual(b, a, w)
g16 = rng.integers(0, 4, x.shape).astype(np.int16)
for f, g, lc, u, brd in (
    (x, g16, y, x > 0, g16 % 2),
    (frozen(x), frozen(g16.astype(np.int64)), frozen(y), frozen(x > 0), frozen(g16[0] % 2)),
    (x.astype(np.float32), g16[0].astype(np.int32), y[:, ::-1], x < 0, (g16 % 2).astype(np.int8)),
):
    P.mask_universe(f, u)
    P.winsorize_mad(f, k=3, scaled=True)
    P.fill_group_median(f, g)
    P.fill_group_median(f, g, universe=u)
    P.zscore(f)
    P.neutralize(f, groups=g, log_cap=lc)
    P.neutralize(f, groups=None, log_cap=None, boards=brd)
    P.strip(f, lc)
    P.strip(f, {"a": lc, "b": y})
    kw = {"universe": u, "groups": g, "log_cap": lc, "boards": brd}
    PP.apply_steps(f, "universe,winsor,fill,zscore,neutralize(industry,log_cap,board)", **kw)
    PP.apply_steps(f, "winsor(k=2),fill(drop),strip(a,b)", controls={"a": lc, "b": frozen(y)})
    PP.apply_steps(f, "fill,zscore,strip(a)", groups=g, controls={"a": lc})
out = {}
for mod in (KNB, PNB):
    for name, d in vars(mod).items():
        if isinstance(d, CPUDispatcher) and d.py_func.__module__ == mod.__name__:
            out[f"{mod.__name__.rsplit('.', 1)[1]}.{name}"] = [str(s) for s in d.signatures]
print(json.dumps(out))
"""
# The kernels the wrappers call: exactly one specialisation each, whatever the inputs.
_ENTRY_POINTS = (
    *(f"kernels_nb.rolling_{s}_nb" for s in ("sum", "mean", "std", "zscore", "slope")),
    "kernels_nb.rolling_pair_nb",  # beta, corr and residual: Python calls of this one kernel
    *(f"processing_nb.{k}_2d" for k in ("winsorize_mad", "fill_group_median", "zscore")),
    "processing_nb.ols_residual_2d",
    "processing_nb.pipeline_2d",
)
# Helpers specialised on purpose: the statistic of a one-series family is a compile-time
# constant (sum / mean; std / z-score) and ``_store`` takes the state tuple of 5, 6 or 10
# arrays. The pair family (beta / corr / residual) takes its statistic at run time: one
# specialisation for all three (a cold demo compiles it once, not twice). Every other helper:
# one specialisation.
_PER_STATISTIC = {"_sum": 2, "_moments": 2, "_pair": 1, "_store": 3}


def test_one_specialisation_per_kernel() -> None:
    # issue 8 §3: a read-only panel, a np.int32 window or int32 group ids must not compile
    # another copy of a kernel. Entry points record their signature also when loaded from
    # the on-disk cache; helpers only when compiled in this process (a cold cache): both
    # are checked, the helpers whenever they were compiled.
    res = subprocess.run(
        [sys.executable, "-c", _SPECIALISATION_CHILD], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stderr[-3000:]
    sigs = json.loads(res.stdout.strip().splitlines()[-1])
    for name in _ENTRY_POINTS:
        assert len(sigs[name]) == 1, (name, sigs[name])
    for name, found in sigs.items():
        short = name.split(".", 1)[1]
        limit = next((n for p, n in _PER_STATISTIC.items() if short.startswith(p + "_")), 1)
        limit = _PER_STATISTIC.get(short, limit)
        assert len(found) <= limit, (name, found)

"""Fused factor operations vs their plain-NumPy twins."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from etfflow.factors import ops, ops_ref

values = st.one_of(
    st.just(np.nan), st.just(0.0), st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
)


@st.composite
def panels(draw):
    t = draw(st.integers(1, 12))
    m = draw(st.integers(1, 4))
    a = draw(arrays(np.float64, (t, m), elements=values))
    b = draw(arrays(np.float64, (t, m), elements=values))
    return a, b, draw(st.integers(1, 14))


def same(x, y):
    np.testing.assert_array_equal(np.isnan(x), np.isnan(y))
    ok = ~np.isnan(x)
    np.testing.assert_allclose(x[ok], y[ok], rtol=1e-15, atol=0)


@settings(max_examples=200, deadline=None)
@given(panels())
def test_ops_match_twins(p):
    a, b, n = p
    with np.errstate(all="ignore"):
        same(ops.diff(a, n), ops_ref.diff(a, n))
        same(ops.change(a, n), ops_ref.change(a, n))
        same(ops.diff_over(a, n, b), ops_ref.diff_over(a, n, b))
        same(ops.ratio(a, b), ops_ref.ratio(a, b))


def test_hand_case():
    a = np.array([[1.0], [0.0], [4.0], [8.0]])
    np.testing.assert_array_equal(ops.diff(a, 1)[:, 0], [np.nan, -1, 4, 4])
    np.testing.assert_array_equal(ops.change(a, 1)[:, 0], [np.nan, -1, np.nan, 1])
    np.testing.assert_array_equal(ops.diff_over(a, 2, a)[:, 0], [np.nan, np.nan, 0.75, 1.0])
    np.testing.assert_array_equal(ops.ratio(a, a - 1)[:, 0], [np.nan, 0, 4 / 3, 8 / 7])

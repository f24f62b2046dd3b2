"""Signal helpers by hand and against plain references (Polars ranks)."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from etfflow.backtest.rotation import signals as sg
from tests.helpers import examples

rows = st.lists(
    st.one_of(st.just(float("nan")), st.integers(-3, 3).map(float), st.floats(-1, 1)),
    min_size=0,
    max_size=12,
)


@settings(max_examples=examples(200))
@given(rows)
def test_pct_rank_equals_polars_average_rank(xs: list[float]) -> None:
    x = np.array(xs, dtype=float)
    got = sg.pct_rank(x[None, :])[0] if len(x) else np.zeros(0)
    ok = np.isfinite(x)
    ref = np.full(len(x), np.nan)
    if ok.any():
        ref[ok] = pl.Series(x[ok]).rank("average").to_numpy() / ok.sum()
    assert np.allclose(got, ref, equal_nan=True)


def test_quantile_groups_and_top_k_by_hand() -> None:
    x = np.array([[0.1, 0.5, np.nan, 0.3, 0.9, 0.7, 0.2, 0.8, 0.4, 0.6, 0.0]])
    g = sg.quantile_groups(x, 5)[0]
    # 10 values: two per group, NaN -> 0
    assert g.tolist() == [1, 3, 0, 2, 5, 4, 2, 5, 3, 4, 1]
    assert sg.top_k(x, 3)[0].nonzero()[0].tolist() == [4, 5, 7]  # 0.9, 0.8, 0.7


def test_directed_flips_and_waits_for_the_regime() -> None:
    x = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    s = sg.directed(x, np.array([1.0, 0.0, np.nan]))
    assert s[0].tolist() == [1 / 3, 2 / 3, 1.0]
    assert s[1].tolist() == [1.0, 2 / 3, 1 / 3]
    assert np.isnan(s[2]).all()


def test_mean_scores_skips_missing_signals() -> None:
    a = np.array([[1.0, np.nan, np.nan]])
    b = np.array([[0.0, 0.5, np.nan]])
    assert np.allclose(sg.mean_scores(a, b), [[0.5, 0.5, np.nan]], equal_nan=True)


def test_latest_index_is_as_of() -> None:
    assert sg.latest_index(np.array([10, 20, 30]), np.array([5, 10, 25, 30, 99])).tolist() == [
        -1,
        0,
        1,
        2,
        2,
    ]


def test_group_weights_equal_within_group() -> None:
    g = np.array([[1, 2, 2, 0], [0, 0, 0, 0]], dtype=np.int8)
    w = sg.group_weights(g, 2)
    assert w.tolist() == [[0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0]]

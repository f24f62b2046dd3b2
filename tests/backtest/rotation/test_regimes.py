"""Style regimes (Huafu 2026-02): factor momentum and regimes by hand, the output schema, as-of
index closes and their errors, point in time."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etfflow.backtest.rotation.hp_ref import one_sided_hp_ref
from etfflow.backtest.rotation.regimes import (
    factor_momentum,
    regime_table,
    weekly_index_closes,
)
from etfflow.backtest.rotation.result import SCHEMAS
from etfflow.exceptions import DataContractError, EtfflowError
from tests.helpers import examples, weekdays

NAN = np.nan


def fridays(n: int, start: dt.date = dt.date(2024, 1, 5)) -> pl.Series:
    return pl.Series("date", [start + dt.timedelta(weeks=k) for k in range(n)], dtype=pl.Date)


# --------------------------------------------------------------------------- factor momentum
def test_factor_momentum_by_hand() -> None:
    tau = np.array([1.0, 2.0, 4.0, 3.0, NAN, 5.0, 6.0, 8.0])
    # 4 - (2+1)/2, 3 - (4+2)/2, NaN, NaN (tau[4] NaN), NaN (tau[4] NaN), 8 - (6+5)/2
    expected = [NAN, NAN, 2.5, 0.0, NAN, NAN, NAN, 2.5]
    np.testing.assert_array_equal(factor_momentum(tau), expected)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_factor_momentum_short(n: int) -> None:
    out = factor_momentum(np.arange(float(n)))
    assert out.shape == (n,) and np.isnan(out).all()


def test_factor_momentum_rejects_2d() -> None:
    with pytest.raises(EtfflowError, match="1-D"):
        factor_momentum(np.ones((3, 2)))


# --------------------------------------------------------------------------- regime table
def test_regimes_by_hand_on_a_line_with_a_gap() -> None:
    """Finite ratios on a straight line (in observation order) are their own HP trend, so the
    six weeks can be checked by hand: ratio = a / b, trend = ratio, signal and regime."""
    a = np.array([200.0, 220.0, NAN, 240.0, 260.0, 280.0])
    b = np.full(6, 200.0)
    got = regime_table(fridays(6), {"size": (a, b)}, 300.0)
    assert got.schema == SCHEMAS["regimes"]
    assert got["pair"].to_list() == ["size"] * 6
    assert got["ratio"].to_list() == pytest.approx([1.0, 1.1, None, 1.2, 1.3, 1.4], nan_ok=False)
    trend = got["trend"].to_list()
    assert trend[2] is None
    np.testing.assert_allclose([trend[i] for i in (0, 1, 3, 4, 5)], [1.0, 1.1, 1.2, 1.3, 1.4])
    signal = got["signal"].to_list()
    assert signal[:5] == [None] * 5  # t < 2, or a NaN among trend[t-2..t]
    assert signal[5] == pytest.approx(1.4 - (1.3 + 1.2) / 2, abs=1e-12)
    assert got["regime"].to_list() == [None, None, None, None, None, 1]


def test_regimes_by_hand_wiggly_ratio() -> None:
    """Trend from the dense twin; signal and regime from the report's formula by hand."""
    ratio = np.array([1.00, 0.96, 0.98, 1.05, 1.02, 0.94])
    got = regime_table(fridays(6), {"style": (ratio * 1000.0, np.full(6, 1000.0))}, 2.0)
    tau = one_sided_hp_ref(ratio, 2.0)
    np.testing.assert_allclose(got["trend"].to_numpy(), tau, rtol=1e-10)
    signal = [tau[t] - (tau[t - 1] + tau[t - 2]) / 2 for t in range(2, 6)]
    np.testing.assert_allclose(got["signal"].to_numpy()[2:], signal, rtol=1e-9)
    assert got["regime"].to_list() == [None, None] + [1 if s > 0 else 0 for s in signal]
    # signal ~ (-0.009, 0.063, 0.031, -0.059): both regimes occur
    assert got["regime"].to_list() == [None, None, 0, 1, 1, 0]


@pytest.mark.parametrize(
    ("a", "regime"),
    [
        (np.array([100.0, 101.0, 102.0, 103.0]), 1),  # rising ratio: large-cap / growth
        (np.array([103.0, 102.0, 101.0, 100.0]), 0),  # falling
        (np.full(4, 100.0), 0),  # flat: signal exactly 0 -> 0
    ],
)
def test_regime_sign(a: np.ndarray, regime: int) -> None:
    got = regime_table(fridays(4), {"size": (a, np.full(4, 50.0))}, 10.0)
    assert got["regime"].to_list() == [None, None, regime, regime]


def test_two_pairs_sorted_by_date_then_pair() -> None:
    n = 5
    closes = {
        "style": (np.linspace(10, 11, n), np.full(n, 10.0)),
        "size": (np.linspace(11, 10, n), np.full(n, 10.0)),
    }
    got = regime_table(fridays(n), closes, 100.0)
    assert got.schema == SCHEMAS["regimes"]
    assert got.height == 2 * n
    assert got["pair"].to_list() == ["size", "style"] * n
    assert got["date"].to_list() == [d for d in fridays(n).to_list() for _ in range(2)]
    assert got.filter(pl.col("pair") == "size")["regime"].to_list()[2:] == [0, 0, 0]
    assert got.filter(pl.col("pair") == "style")["regime"].to_list()[2:] == [1, 1, 1]


def test_empty_inputs_keep_the_schema() -> None:
    assert regime_table(fridays(0), {}, 1.0).schema == SCHEMAS["regimes"]
    empty = regime_table(fridays(0), {"size": (np.array([]), np.array([]))}, 1.0)
    assert empty.schema == SCHEMAS["regimes"] and empty.height == 0


def test_bad_closes_and_dates() -> None:
    weeks = fridays(3)
    with pytest.raises(EtfflowError, match=r"pair 'size' \(b\).*positive") as err:
        regime_table(weeks, {"size": (np.ones(3), np.array([1.0, 0.0, 2.0]))}, 1.0)
    assert "2024-01-12" in str(err.value)
    with pytest.raises(EtfflowError, match="shape"):
        regime_table(weeks, {"size": (np.ones(2), np.ones(2))}, 1.0)
    with pytest.raises(EtfflowError, match="strictly increasing"):
        regime_table(weeks.reverse(), {"size": (np.ones(3), np.ones(3))}, 1.0)
    with pytest.raises(EtfflowError, match="dtype Date"):
        regime_table(pl.Series([1, 2, 3]), {"size": (np.ones(3), np.ones(3))}, 1.0)


# --------------------------------------------------------------------------- as-of closes
def index_daily(rows: list[tuple[dt.date, str, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"date": pl.Date, "index_code": pl.String, "close": pl.Float64},
        orient="row",
    )


def test_weekly_index_closes_as_of() -> None:
    d = dt.date
    daily = index_daily(
        [
            (d(2024, 1, 9), "000300.SH", 3300.0),  # out of order on purpose
            (d(2024, 1, 2), "000300.SH", 3400.0),
            (d(2024, 1, 5), "000300.SH", 3380.0),
            (d(2024, 1, 4), "000852.SH", 5600.0),
            (d(2024, 1, 12), "000852.SH", None),
            (d(2024, 1, 19), "000852.SH", 5500.0),
        ]
    )
    weeks = pl.Series([d(2024, 1, 1), d(2024, 1, 5), d(2024, 1, 12), d(2024, 1, 19)])
    got = weekly_index_closes(daily, ["000852.SH", "000300.SH"], weeks)
    assert list(got) == ["000852.SH", "000300.SH"]
    # before the first row: NaN; on a trading day: that day; later: the last close <= week
    np.testing.assert_array_equal(got["000300.SH"], [NAN, 3380.0, 3300.0, 3300.0])
    # the latest row of week 3 has a null close: unknown, not the older 5600
    np.testing.assert_array_equal(got["000852.SH"], [NAN, 5600.0, NAN, 5500.0])


def test_weekly_index_closes_categorical_codes() -> None:
    days = weekdays(10)
    daily = index_daily([(x, "399370.SZ", float(i + 1)) for i, x in enumerate(days)]).with_columns(
        pl.col("index_code").cast(pl.Categorical)
    )
    weeks = pl.Series([days[4], days[9]])
    got = weekly_index_closes(daily, ["399370.SZ"], weeks)
    np.testing.assert_array_equal(got["399370.SZ"], [5.0, 10.0])


def test_weekly_index_closes_missing_code() -> None:
    daily = index_daily(
        [(dt.date(2024, 1, 2), "000300.SH", 1.0), (dt.date(2024, 1, 2), "000852.SH", 2.0)]
    )
    with pytest.raises(DataContractError) as err:
        weekly_index_closes(daily, ["000300.SH", "399371.SZ"], fridays(2))
    text = str(err.value)
    assert isinstance(err.value, EtfflowError)
    assert "index_daily.index_code" in text
    assert "399371.SZ" in text
    assert "codes present: 000300.SH, 000852.SH" in text


def test_weekly_index_closes_missing_column_and_duplicates() -> None:
    daily = index_daily([(dt.date(2024, 1, 2), "000300.SH", 1.0)])
    with pytest.raises(DataContractError, match="close"):
        weekly_index_closes(daily.drop("close"), ["000300.SH"], fridays(1))
    dup = pl.concat([daily, daily])
    with pytest.raises(DataContractError, match="duplicate"):
        weekly_index_closes(dup, ["000300.SH"], fridays(1))


# --------------------------------------------------------------------------- point in time
@settings(max_examples=examples(25), deadline=None)
@given(
    steps=st.lists(st.floats(-0.03, 0.03), min_size=3, max_size=40),
    cut=st.integers(0, 39),
    lam=st.sampled_from([1.0, 300.0, 1e5]),
    seed=st.integers(0, 2**32 - 1),
)
def test_regimes_point_in_time(steps: list[float], cut: int, lam: float, seed: int) -> None:
    """Closes after week k changed at random: ratio, trend, signal and regime up to k are
    unchanged (bit for bit)."""
    n = len(steps)
    k = min(cut, n - 1)
    a = 100.0 * np.exp(np.cumsum(steps))
    b = np.full(n, 100.0)
    rng = np.random.default_rng(seed)
    a2, b2 = a.copy(), b.copy()
    a2[k + 1 :] *= rng.uniform(0.5, 2.0, n - k - 1)
    b2[k + 1 :] = np.where(rng.random(n - k - 1) < 0.2, NAN, b2[k + 1 :])
    weeks = fridays(n)
    base = regime_table(weeks, {"size": (a, b)}, lam)
    moved = regime_table(weeks, {"size": (a2, b2)}, lam)
    assert moved.head(k + 1).equals(base.head(k + 1))


def test_weekly_index_closes_point_in_time() -> None:
    """Rows dated after week k (new rows, changed closes) leave closes up to week k unchanged."""
    days = weekdays(30)
    rng = np.random.default_rng(11)
    daily = index_daily(
        [(x, "000300.SH", float(v)) for x, v in zip(days, rng.uniform(1, 2, 30), strict=True)]
    )
    weeks = pl.Series(days[4::5])
    base = weekly_index_closes(daily, ["000300.SH"], weeks)["000300.SH"]
    for k in range(len(weeks) - 1):
        later = pl.col("date") > weeks[k]
        moved = daily.with_columns(pl.when(later).then(pl.col("close") * 3.0).otherwise("close"))
        got = weekly_index_closes(moved, ["000300.SH"], weeks)["000300.SH"]
        np.testing.assert_array_equal(got[: k + 1], base[: k + 1])
        assert not np.array_equal(got[k + 1 :], base[k + 1 :])

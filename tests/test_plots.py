"""etfflow.plots: matplotlib figures of an evaluation and the tear-sheet statistics."""

from __future__ import annotations

import io
import math
import re
import warnings

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from etfflow import plots
from etfflow.backtest.engine import evaluate
from etfflow.exceptions import EtfflowError
from etfflow.plots import stats as plot_stats
from etfflow.plots import style as plot_style

CJK = re.compile(r"[\u2e80-\u9fff]")


@pytest.fixture(scope="module")
def ev():
    rng = np.random.default_rng(11)
    t, m = 160, 50
    ret = rng.normal(0.0003, 0.015, (t, m))
    d = np.arange(np.datetime64("2023-10-02"), np.datetime64("2024-12-31"))
    dates = d[np.is_busday(d)][:t]
    good = np.full_like(ret, np.nan)
    good[:-5] = np.stack([np.prod(1 + ret[i + 2 : i + 7], axis=0) for i in range(t - 5)])
    good += rng.normal(0, 0.02, good.shape)
    return evaluate(
        {"signal": good, "noise": rng.normal(size=(t, m)), "empty": np.full_like(ret, np.nan)},
        ret,
        dates,
        groups=5,
        rebalance=10,
    )


@pytest.fixture(autouse=True)
def _english(monkeypatch):
    """Figures are tested with English labels unless a test asks otherwise (no CJK font in CI)."""
    monkeypatch.setattr(plot_style, "_installed_fonts", lambda: frozenset({"DejaVu Sans"}))


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(match=lambda a: hasattr(a, "get_text"))]


def render(fig: Figure, fmt: str = "svg") -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph warns: fail instead
        fig.savefig(buf, format=fmt)
    return buf.getvalue()


FIGURES = [
    plots.nav,
    plots.group_returns,
    plots.group_navs,
    plots.rank_ic,
    plots.ic_histogram,
    plots.turnover,
    plots.tear_sheet,
]


@pytest.mark.parametrize("fn", FIGURES, ids=lambda f: f.__name__)
def test_every_figure_renders_to_svg_and_png(ev, fn) -> None:
    fig = fn(ev, "signal")
    assert isinstance(fig, Figure)
    assert render(fig, "svg").lstrip().startswith(b"<?xml")
    assert render(fig, "png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert "signal" in texts(fig)


def test_nav_lines_are_the_evaluation_navs(ev) -> None:
    fig = plots.nav(ev, "signal")
    ax = fig.axes[0]
    lines = {ln.get_label(): np.asarray(ln.get_ydata(), dtype=float) for ln in ax.get_lines()}
    want = (
        ev.nav.filter(pl.col("factor") == "signal", pl.col("series") == "long_short")
        .sort("date")["nav"]
        .to_numpy()
    )
    np.testing.assert_array_equal(lines["long-short"], want)
    assert {"long", "benchmark", "excess"} <= set(lines)
    # the drawdown panel is nav / running max - 1
    dd = np.asarray(fig.axes[1].get_lines()[0].get_ydata(), dtype=float)
    np.testing.assert_allclose(dd, want / np.maximum.accumulate(want) - 1.0, rtol=0, atol=1e-15)


def test_group_bars_are_the_annualised_group_returns(ev) -> None:
    fig = plots.group_returns(ev, "signal")
    heights = [p.get_height() for p in fig.axes[0].patches]
    want = ev.group_summary.filter(pl.col("factor") == "signal").sort("group")["ann_return"]
    np.testing.assert_allclose(heights, want.to_numpy(), rtol=0, atol=0)
    d = ev.summary.filter(pl.col("factor") == "signal")["direction"].item()
    long_bar = fig.axes[0].patches[4 if d == 1 else 0]
    assert long_bar.get_facecolor()[:3] == pytest.approx((0x1F / 255, 0x3B / 255, 0x63 / 255))


def test_rank_ic_bars_and_histogram_use_every_period(ev) -> None:
    ric = ev.ic.filter(pl.col("factor") == "signal").sort("date")["rank_ic"].to_numpy()
    fig = plots.rank_ic(ev, "signal")
    np.testing.assert_allclose([p.get_height() for p in fig.axes[0].patches], ric, atol=0)
    hist = plots.ic_histogram(ev, "signal")
    assert sum(p.get_height() for p in hist.axes[0].patches) == np.isfinite(ric).sum()
    t = ric.mean() / ric.std(ddof=1) * math.sqrt(len(ric))
    assert any(f"t {t:.2f}" in s for s in texts(hist))


def test_group_navs_compound_the_period_returns(ev) -> None:
    fig = plots.group_navs(ev, "signal")
    ax = fig.axes[0]
    lines = {ln.get_label(): np.asarray(ln.get_ydata(), dtype=float) for ln in ax.get_lines()}
    r = ev.groups.filter(pl.col("factor") == "signal", pl.col("group") == 3).sort("date")["ret"]
    want = np.concatenate(([0.0], np.cumprod(1 + r.fill_null(0.0).to_numpy()) - 1))
    np.testing.assert_allclose(lines["3"], want, rtol=1e-15)
    assert sorted(k for k in lines if k.isdigit()) == ["1", "2", "3", "4", "5"]
    x = fig.axes[0].get_lines()[0].get_xdata()
    assert len(x) == ev.periods.height + 1


def test_turnover_starts_at_the_second_period(ev) -> None:
    fig = plots.turnover(ev, "signal")
    line = fig.axes[0].get_lines()[0]
    assert len(line.get_ydata()) == ev.periods.height - 1
    assert 0.0 <= np.nanmin(line.get_ydata()) and np.nanmax(line.get_ydata()) <= 1.0


@pytest.mark.parametrize("fn", FIGURES, ids=lambda f: f.__name__)
def test_a_factor_without_values_says_so(ev, fn) -> None:
    fig = fn(ev, "empty")
    assert "no values" in texts(fig)
    render(fig)


def test_unknown_factor_is_refused(ev) -> None:
    with pytest.raises(EtfflowError, match=r"no factor 'nope'.*signal"):
        plots.nav(ev, "nope")


def test_labels_are_english_without_a_cjk_font(ev) -> None:
    assert plots.cjk_font() is None
    fig = plots.tear_sheet(ev, "signal")
    assert not [s for s in texts(fig) if CJK.search(s)]
    with pytest.raises(EtfflowError, match="no CJK font is installed"):
        plots.nav(ev, "signal", cjk=True)


def test_labels_are_bilingual_with_a_cjk_font(ev, monkeypatch) -> None:
    fonts = frozenset({"DejaVu Sans", "SimHei"})
    monkeypatch.setattr(plot_style, "_installed_fonts", lambda: fonts)
    assert plots.cjk_font() == "SimHei"
    fig = plots.nav(ev, "signal")
    assert "多空 long-short" in [ln.get_label() for ln in fig.axes[0].get_lines()]
    title = fig.axes[0].get_title(loc="left")
    assert title.startswith("多空净值 Long-short NAV")
    assert fig.axes[0].title.get_fontfamily()[0] == "SimHei"
    monkeypatch.setenv("ETFFLOW_PLOT_LANG", "en")
    assert plots.cjk_font() is None


# --------------------------------------------------------------------------- statistics


def stats_ref(nav: np.ndarray) -> tuple[float, float, float, float]:
    """Plain loop twin of the daily-series statistics."""
    x = [v for v in nav.tolist() if math.isfinite(v)]
    r = [x[i] / x[i - 1] - 1 for i in range(1, len(x))]
    n = len(r)
    ann = (x[-1] / x[0]) ** (242 / n) - 1
    mu = sum(r) / n
    var = sum((v - mu) ** 2 for v in r) / (n - 1)
    vol = math.sqrt(var) * math.sqrt(242)
    peak, mdd = -math.inf, 0.0
    for v in x:
        peak = max(peak, v)
        mdd = min(mdd, v / peak - 1)
    return ann, vol, (mu * 242 / vol if vol > 0 else math.nan), mdd


@settings(max_examples=60)
@given(
    st.lists(st.floats(-0.09, 0.09, allow_nan=False), min_size=2, max_size=80),
    st.integers(0, 5),
)
def test_daily_stats_match_a_loop(rets: list[float], lead_nan: int) -> None:
    nav = np.concatenate((np.full(lead_nan, np.nan), np.cumprod(np.r_[1.0, 1 + np.array(rets)])))
    got = plot_stats._daily_stats(nav)
    want = stats_ref(nav)
    for g, w in zip(got[:4], want, strict=True):
        if math.isnan(w):
            assert math.isnan(g)
        else:
            assert g == pytest.approx(w, rel=1e-9, abs=1e-12)
    assert got[4] == len(rets)


def test_series_stats_hand_case() -> None:
    nav = np.cumprod(np.r_[1.0, np.full(242, 2 ** (1 / 242))])  # doubles over a year
    ann, vol, sharpe, mdd, n = plot_stats._daily_stats(nav)
    assert ann == pytest.approx(1.0, rel=1e-12) and n == 242 and mdd == 0.0
    assert vol == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(sharpe) or sharpe > 1e6  # zero volatility up to rounding


def test_series_stats_table(ev) -> None:
    df = plots.series_stats(ev)
    assert df.schema == plots.STATS_SCHEMA
    per_factor = ["long", "short", "long_short", "benchmark", "excess"] + [
        f"group_{g}" for g in range(1, 6)
    ]
    assert df.filter(pl.col("factor") == "signal")["series"].to_list() == per_factor
    row = df.filter(pl.col("factor") == "signal", pl.col("series") == "long_short").row(
        0, named=True
    )
    s = ev.summary.filter(pl.col("factor") == "signal").row(0, named=True)
    assert row["max_drawdown"] == pytest.approx(s["long_short_max_drawdown"], abs=1e-12)
    assert row["ann_return"] == pytest.approx(s["long_short_ann_return"], rel=1e-9)
    empty = df.filter(pl.col("factor") == "empty")
    assert empty.height == 10
    undefined = empty.select(pl.col("ann_return", "ann_volatility", "sharpe").is_null().all())
    assert undefined.row(0) == (True, True, True)


@settings(max_examples=60)
@given(
    st.floats(-5, 5, allow_nan=False),
    st.sampled_from([0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.25]),
    st.integers(2, 9),
)
def test_percent_ticks_are_exact_and_distinct(start: float, step: float, n: int) -> None:
    ticks = (round(start / step) + np.arange(n)) * step  # a tick locator's values
    labels = plot_style.PercentTicks().format_ticks(list(ticks))
    assert len(set(labels)) == n and all(s.endswith("%") and s != "-0%" for s in labels)
    back = np.array([float(s[:-1]) / 100 for s in labels])
    np.testing.assert_allclose(back, ticks, rtol=0, atol=1e-9)  # every label is exact
    decimals = {len(s[:-1].partition(".")[2]) for s in labels}
    assert len(decimals) == 1  # one format per axis
    if decimals != {0}:  # the fewest decimals: one fewer would merge or round a label
        d = decimals.pop() - 1
        fewer = [f"{x * 100:.{d}f}" for x in ticks]
        assert not np.allclose([float(f) / 100 for f in fewer], ticks, rtol=0, atol=1e-9)


def test_percent_axis_labels_ticks_half_a_percent_apart() -> None:
    fig = Figure()
    ax = fig.add_subplot()
    ax.set_ylim(-0.021, 0.021)  # the locator puts ticks 0.5% apart
    plot_style.pct_axis(ax)
    render(fig)
    ticks = zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)
    labels = [t.get_text() for v, t in ticks if -0.021 <= v <= 0.021]
    assert labels == ["-2.0%", "-1.5%", "-1.0%", "-0.5%", "0.0%", "0.5%", "1.0%", "1.5%", "2.0%"]
    # (PercentFormatter(decimals=0) labelled them -2%, -2%, -1%, -0%, 0%, 0%, 1%, 2%, 2%)

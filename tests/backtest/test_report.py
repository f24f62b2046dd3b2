"""HTML report of an evaluation: numbers, escaping, self-containment, charts, printing, fonts,
PNG, and the notebook view of an Evaluation."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import struct
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib import dates as mdates

from etfflow.backtest import report
from etfflow.backtest.engine import (
    GROUP_SUMMARY_SCHEMA,
    GROUPS_SCHEMA,
    IC_SCHEMA,
    NAV_SCHEMA,
    NO_VALUES,
    PERIODS_SCHEMA,
    SERIES,
    SUMMARY_SCHEMA,
    YEARLY_SCHEMA,
    Evaluation,
    evaluate,
)
from etfflow.backtest.metrics import rolling_mean
from etfflow.backtest.report import render_html, write_html, write_png
from etfflow.exceptions import EtfflowError
from etfflow.plots import COLORS, PAGE_FIGURES, page_figures, series_stats
from etfflow.plots import style as plot_style

WHEN = dt.datetime(2024, 11, 1, 9, 30)
CJK = re.compile(r"[\u2e80-\u9fff]")
#: Charts of one factor section, in page order.
CHARTS = ["nav", "group_returns", "rank_ic", "ic_histogram", "turnover", "group_navs"]


@pytest.fixture(autouse=True)
def _no_cjk_font(monkeypatch):
    """Charts are tested with English labels unless a test asks otherwise (no CJK font in CI)."""
    monkeypatch.setattr(plot_style, "_installed_fonts", lambda: frozenset({"DejaVu Sans"}))


# Huaan 2024-12 table 47, row mv_passive_chg_20d (plus the columns the table does not show)
TABLE47_ROW = {
    "direction": -1,
    "n_periods": 3,
    "rank_ic": -0.0205,
    "ic": -0.018,
    "rank_ic_std": 0.027,
    "ic_std": 0.03,
    "rank_icir": -0.76,
    "icir": -0.6,
    "rank_icir_annual": -2.63,
    "icir_annual": -2.08,
    "rank_ic_t_nw": -1.87,
    "rank_ic_win_rate": 0.593,
    "ic_win_rate": 0.55,
    "long_ann_return": 0.105,
    "benchmark_ann_return": 0.083,
    "long_excess_ann": 0.022,
    "long_max_drawdown": -0.21,
    "excess_max_drawdown": -0.052,
    "information_ratio": 0.41,
    "win_rate_vs_benchmark": 0.5,
    "win_rate_absolute": 0.6,
    "mean_period_excess": 0.0021,
    "long_short_ann_return": 0.08,
    "long_short_max_drawdown": -0.119,
    "monotonicity": -0.9,
    "turnover": 0.42,
    "groups": 3,
    "rebalance": "20",
    "lag": 1,
    "cost_bps": 0.0,
}
#: Summary cells of TABLE47_ROW in the order of the report's columns.
TABLE47_CELLS = [
    "-1", "3", "-2.05%", "-0.76", "-2.63", "-1.87", "59.3%", "10.5%", "2.2%", "50.0%", "60.0%",
    "0.21%", "8.0%", "-11.9%", "42.0%",
]  # fmt: skip

D = dt.date
PERIODS = pl.DataFrame(
    {
        "period": [0, 1, 2],
        "date": [D(2023, 11, 30), D(2023, 12, 29), D(2024, 1, 31)],
        "start": [D(2023, 12, 1), D(2024, 1, 2), D(2024, 2, 1)],
        "end": [D(2024, 1, 2), D(2024, 2, 1), D(2024, 3, 1)],
        "benchmark": [0.01, -0.02, 0.03],
        "n_benchmark": [100, 100, 100],
    },
    schema=PERIODS_SCHEMA,
)
# group 1 (the long group when direction = -1): excess vs benchmark = 0.02, 0.01, -0.01
GROUP_RET = {1: [0.03, -0.01, 0.02], 2: [0.0, 0.0, 0.01], 3: [-0.01, 0.02, None]}


def toy_evaluation(names: list[str], **summary: object) -> Evaluation:
    """An Evaluation with hand-picked numbers (three periods, three groups)."""
    days = pl.date_range(D(2023, 12, 1), D(2024, 3, 1), eager=True)
    days = days.filter(days.dt.weekday() <= 5)
    n = len(days)
    base = 1.0 + 0.05 * np.sin(np.arange(n) / 9.0)
    ic, groups, nav, summ, yearly, gs = [], [], [], [], [], []
    for f in names:
        ic.append(
            pl.DataFrame(
                {
                    "date": PERIODS["date"],
                    "factor": [f] * 3,
                    "ic": [0.04, -0.02, 0.01],
                    "rank_ic": [0.05, -0.01, 0.03],
                    "n": [100, 100, 100],
                    "direction": [summary.get("direction", TABLE47_ROW["direction"])] * 3,
                },
                schema=IC_SCHEMA,
            )
        )
        for g, rets in GROUP_RET.items():
            groups.append(
                pl.DataFrame(
                    {
                        "date": PERIODS["date"],
                        "factor": [f] * 3,
                        "group": [g] * 3,
                        "ret": rets,
                        "n": [30, 30, 30],
                        "turnover": [1.0, 0.4, 0.5],
                    },
                    schema=GROUPS_SCHEMA,
                )
            )
        for k, s in enumerate(SERIES):
            nav.append(
                pl.DataFrame(
                    {"date": days, "factor": [f] * n, "series": [s] * n, "nav": base + 0.01 * k},
                    schema=NAV_SCHEMA,
                )
            )
        summ.append(pl.DataFrame([{"factor": f, **TABLE47_ROW, **summary}], schema=SUMMARY_SCHEMA))
        yearly.append(
            pl.DataFrame(
                [
                    {
                        "factor": f,
                        "year": 2023,
                        "n_periods": 2,
                        "rank_ic": 0.012,
                        "excess_compounded": 0.056,
                    },
                    {
                        "factor": f,
                        "year": 2024,
                        "n_periods": 1,
                        "rank_ic": -0.0355,
                        "excess_compounded": -0.05,
                    },
                ],
                schema=YEARLY_SCHEMA,
            )
        )
        gs.append(
            pl.DataFrame(
                {
                    "factor": [f] * 3,
                    "group": [1, 2, 3],
                    "ann_return": [0.12, 0.05, -0.03],
                    "mean_return": [0.01, 0.004, -0.002],
                    "n_periods": [3, 3, 2],
                },
                schema=GROUP_SUMMARY_SCHEMA,
            )
        )

    def cat(parts: list[pl.DataFrame], schema: pl.Schema) -> pl.DataFrame:
        return pl.concat(parts) if parts else pl.DataFrame(schema=schema)

    return Evaluation(
        ic=cat(ic, IC_SCHEMA),
        groups=cat(groups, GROUPS_SCHEMA),
        nav=cat(nav, NAV_SCHEMA),
        summary=cat(summ, SUMMARY_SCHEMA),
        yearly=cat(yearly, YEARLY_SCHEMA),
        group_summary=cat(gs, GROUP_SUMMARY_SCHEMA),
        periods=PERIODS,
    )


def cells(row_html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row_html)]


def factor_rows(page: str, i: int) -> list[str]:
    """Every table row that links to factor section ``i`` (summary, then the two pivots)."""
    return re.findall(rf'<tr><td class="name"><a href="#f{i}">.*?</tr>', page)


def svgs(page: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", page, flags=re.S)


def assert_self_contained(page: str) -> None:
    low = page.lower()
    for bad in ("http://", "https://", "<script src", "<link", "@import", "<img"):
        assert bad not in low, bad
    assert not re.search(r"url\((?!#)", low)  # only references inside the page (clip paths)
    assert not re.search(r'href="(?!#)', low)


def assert_well_formed(page: str) -> None:
    for s in svgs(page):
        ET.fromstring(s)  # raises on broken markup or bad escaping


@pytest.fixture(scope="module")
def random_market() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    t, m = 130, 40
    ret = rng.normal(0.0003, 0.015, (t, m))
    d = np.arange(np.datetime64("2023-10-02"), np.datetime64("2024-12-31"))
    dates = d[np.is_busday(d)][:t]
    return ret, dates, rng.normal(size=(t, m))


# --------------------------------------------------------------------------- numbers


def test_summary_row_has_the_huaan_table_47_columns_formatted() -> None:
    page = render_html(toy_evaluation(["mv_passive_chg_20d"]), title="t", generated_at=WHEN)
    summary_row = factor_rows(page, 0)[0]
    assert cells(summary_row) == ["mv_passive_chg_20d", *TABLE47_CELLS]
    assert '<td class="num neg">-2.05%</td>' in summary_row
    assert '<td class="num pos">2.2%</td>' in summary_row
    assert '<td class="num">59.3%</td>' in summary_row  # win rates are not coloured
    for label in ("Rank IC", "RankIC IR", "IC胜率", "多头年化收益率", "多头年化超额", "多头胜率"):
        assert label in page
    for label in ("多头调仓超额均值", "多空年化收益", "多空最大回撤", "因子方向"):
        assert label in page


def test_page_cites_the_methodology_and_reports_not_the_internal_spec() -> None:
    page = render_html(toy_evaluation(["a"]), title="t", generated_at=WHEN)
    assert "docs/methodology.md#5-backtests" in page
    assert "基准 = 等权全市场 (Huaan 2024-12 §3.3; docs/methodology.md#57-benchmark)" in page
    assert "SPEC" not in page and "seed 000" not in page


def test_per_year_pivots_across_factors() -> None:
    page = render_html(toy_evaluation(["a", "b"]), title="t", generated_at=WHEN)
    rows = factor_rows(page, 1)
    assert len(rows) == 3  # summary, Rank IC by year, long excess by year
    assert cells(rows[1]) == ["b", "1.20%", "-3.55%", "-2.05%"]
    assert cells(rows[2]) == ["b", "5.6%", "-5.0%", "2.2%"]
    # first year starts in December, the last one ends in March: both are labelled
    assert "from 12-01" in page and "to 03-01" in page


def test_factor_yearly_table_and_whole_period_row() -> None:
    page = render_html(toy_evaluation(["a"]), title="t", generated_at=WHEN)
    whole = re.search(r'<tr class="whole">.*?</tr>', page).group(0)
    # n, return, bench, excess arithmetic (annualised long - bench) and compounded, mdd,
    # excess mdd, IR, win absolute and vs benchmark, mean excess, gain/loss, IC, L-S
    assert cells(whole)[1:] == [
        "3", "10.5%", "8.3%", "2.2%", "2.2%", "-21.0%", "-5.2%", "0.41", "60.0%", "50.0%",
        "0.21%", "1.50", "-2.05%", "8.0%",
    ]  # fmt: skip
    # gain/loss from groups/periods: long group 1, excess 0.02, 0.01, -0.01 -> 0.015 / 0.01
    # with direction +1 the long group is 3: excess -0.02, 0.04 (third is null) -> 2.00
    page_up = render_html(toy_evaluation(["a"], direction=1), title="t", generated_at=WHEN)
    whole_up = re.search(r'<tr class="whole">.*?</tr>', page_up).group(0)
    assert cells(whole_up)[12] == "2.00"


def test_header_meta_and_derived_entries() -> None:
    meta = {"run id": "r-42", "pool": "broad", "level": "stock", "cost": "5 bps"}
    page = render_html(toy_evaluation(["a"]), title="My run", meta=meta, generated_at=WHEN)
    assert "<title>My run</title>" in page
    for k, v in meta.items():
        assert f"<dt>{k}</dt><dd>{v}</dd>" in page
    assert "<dt>cost</dt><dd>0.00 bps/side</dd>" not in page  # the caller's entry wins
    assert "<dt>dates covered</dt><dd>2023-12-01 → 2024-03-01</dd>" in page
    assert "<dt>rebalance</dt><dd>every 20 trading days</dd>" in page
    assert "<dt>groups</dt><dd>3</dd>" in page
    assert "2024-11-01 09:30" in page


# --------------------------------------------------------------------------- structure


def test_self_contained_with_the_plots_figures_per_factor() -> None:
    names = ["a", "b"]
    page = render_html(toy_evaluation(names), title="t", generated_at=WHEN)
    assert_self_contained(page)
    assert_well_formed(page)
    charts = svgs(page)
    assert len(charts) == len(CHARTS) * len(names)
    assert re.findall(r'data-chart="(\w+)"', page) == CHARTS * len(names)
    assert list(PAGE_FIGURES) == sorted(CHARTS, key=CHARTS.index)
    # matplotlib's text stays text: the panel titles of etfflow.plots
    assert ">Long-short NAV" in charts[0] and "Annualised return by group" in charts[1]
    assert "Rank IC per period" in charts[2] and "Rank IC distribution" in charts[3]
    assert "Turnover" in charts[4] and "Cumulative return of every group" in charts[5]
    for k in ("long", "benchmark", "excess", "long-short"):
        assert f">{k}</text>" in charts[0]
    assert f"fill: {COLORS['drawdown']}" in charts[0]  # drawdown shading
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # figures share one page without colliding ids
    assert page.count("<details") == 2 and page.count(" open>") == 1
    assert page.count("<script") == 1  # the inline expand/collapse/print helper only


def test_escaping_of_names_title_and_meta() -> None:
    evil = "<b>x</b>"
    page = render_html(
        toy_evaluation([evil, "a&b"]),
        title="t <i>&",
        meta={"pool": "<script>alert(1)</script>", "<k>": "v"},
        generated_at=WHEN,
    )
    assert evil not in page and "<script>alert" not in page and "<k>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "a&amp;b" in page
    assert "<title>t &lt;i&gt;&amp;</title>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert_well_formed(page)


def test_missing_values_render_as_dashes() -> None:
    nan_cols = ("rank_ic", "rank_icir", "long_excess_ann", "long_short_max_drawdown", "turnover")
    ev = toy_evaluation(["a"], **{c: math.nan for c in nan_cols}, rank_icir_annual=None)
    nav = ev.nav.with_columns(
        pl.when(pl.col("date").dt.month() == 1).then(None).otherwise(pl.col("nav")).alias("nav")
    )
    ic = ev.ic.with_columns(pl.lit(None, dtype=pl.Float64).alias("rank_ic"))
    ev = Evaluation(**{**ev.__dict__, "nav": nav, "ic": ic})
    page = render_html(ev, title="t", generated_at=WHEN)
    got = cells(factor_rows(page, 0)[0])[1:]
    assert got == [c if i not in (2, 3, 4, 8, 13, 14) else "–" for i, c in enumerate(TABLE47_CELLS)]
    assert "nan" not in page.lower().replace("financ", "")
    charts = svgs(page)
    assert ">no values</text>" in charts[2]  # no Rank IC at all
    ls = COLORS["long_short"]
    paths = re.findall(rf'<path d="([^"]+)"[^>]*stroke: {ls}; stroke-width: 2', charts[0])
    assert max(d.count("M") for d in paths) == 2  # the January gap splits the line
    assert_well_formed(page)


def test_no_factors() -> None:
    page = render_html(toy_evaluation([]), title="empty", generated_at=WHEN)
    assert "no factors" in page and svgs(page) == []
    assert_self_contained(page)


def test_rejects_non_evaluation() -> None:
    with pytest.raises(EtfflowError, match="expected an Evaluation"):
        render_html({"summary": None}, title="t")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- real evaluations


def test_single_period(random_market) -> None:
    ret, dates, f = random_market
    ev = evaluate({"one": f[:25]}, ret[:25], dates[:25], groups=5, rebalance=20)
    assert ev.periods.height == 1
    page = render_html(ev, title="t", generated_at=WHEN)
    assert len(svgs(page)) == len(CHARTS) and "one" in page
    assert_well_formed(page)
    # the single Rank IC bar stands at its own signal date
    bars = page_figures(ev, "one")["rank_ic"].axes[0].patches
    assert len(bars) == 1
    centre = bars[0].get_x() + bars[0].get_width() / 2
    assert np.datetime64(mdates.num2date(centre).date()) == dates[0]


def test_factor_without_valid_periods(random_market) -> None:
    ret, dates, f = random_market
    ev = evaluate({"empty": np.full_like(f, np.nan), "ok": f}, ret, dates, groups=5, rebalance=10)
    page = render_html(ev, title="t", generated_at=WHEN)
    charts = svgs(page)
    assert len(charts) == len(CHARTS)  # the empty factor shows its note instead of charts
    assert ">no values</text>" not in "".join(charts)
    empty = re.search(r'<details class="factor" id="f0".*?</details>', page, re.S).group(0)
    assert "<svg" not in empty and NO_VALUES in empty
    assert f"<li><b>empty</b>: {NO_VALUES}</li>" in page  # listed under the summary
    ok = re.search(r'<details class="factor" id="f1".*?</details>', page, re.S).group(0)
    assert ok.count("<svg") == len(CHARTS)
    # its summary row: periods 0, every number a dash
    row = cells(factor_rows(page, 0)[0])
    assert row[2] == "0" and set(row[3:]) == {"–"}, row
    assert_well_formed(page)


def test_many_factors_stay_collapsed(monkeypatch) -> None:
    names = [f"factor_{i:02d}" for i in range(45)]
    drawn: list[str] = []

    def one_svg_per_chart(i: int, ev: Evaluation, name: str, *, cjk: bool = False) -> str:
        # 270 real figures take a minute: the structure is what this test is about (every
        # factor's real charts: test_every_factor_prints_with_its_charts)
        drawn.append(name)
        return "".join(f'<div class="chart" data-chart="{k}"><svg></svg></div>' for k in CHARTS)

    monkeypatch.setattr(report, "_figures_html", one_svg_per_chart)
    page = render_html(toy_evaluation(names), title="t", generated_at=WHEN, workers=1)
    assert drawn == names
    assert page.count("<details") == 45 and page.count(" open>") == 1
    assert re.search(r'<details class="factor" id="f0" open>', page)
    for i, n in enumerate(names):
        assert f'<a href="#f{i}">{n}</a>' in page and f'id="f{i}"' in page
        assert len(factor_rows(page, i)) == 3
    assert len(svgs(page)) == len(CHARTS) * 45
    assert_self_contained(page)


# --------------------------------------------------------------------------- helpers


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.floats(-1, 1), st.just(math.nan)), min_size=0, max_size=40),
    st.integers(1, 12),
)
def test_rolling_mean_matches_a_loop(xs: list[float], window: int) -> None:
    x = np.array(xs, dtype=np.float64)
    min_valid = max(1, window // 2)
    got = rolling_mean(x, window, min_valid)
    for k in range(len(x)):
        w = x[max(0, k - window + 1) : k + 1]
        w = w[np.isfinite(w)]
        if k < window - 1 or len(w) < min_valid:
            assert math.isnan(got[k])
        else:
            assert got[k] == pytest.approx(w.mean(), abs=1e-12)


# --------------------------------------------------------------------------- files


def test_write_html_is_atomic_and_matches_render(tmp_path: Path) -> None:
    ev = toy_evaluation(["a"])
    out = write_html(ev, tmp_path / "sub" / "r.html", title="t", generated_at=WHEN)
    assert out == tmp_path / "sub" / "r.html"
    assert out.read_text("utf-8") == render_html(ev, title="t", generated_at=WHEN)
    assert [p.name for p in out.parent.iterdir()] == ["r.html"]  # no temporary file left
    umask = os.umask(0o022)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # like open(), not mkstemp's 0600
    write_html(toy_evaluation(["b"]), out, title="t2", generated_at=WHEN)  # replaces
    assert "<title>t2</title>" in out.read_text("utf-8")
    assert [p.name for p in out.parent.iterdir()] == ["r.html"]


def test_write_png_saves_the_tear_sheet_atomically(tmp_path: Path, random_market) -> None:
    ret, dates, f = random_market
    ev = evaluate({"empty": np.full_like(f, np.nan), "ok": f}, ret, dates, groups=5, rebalance=10)
    out = write_png(ev, tmp_path / "sub" / "r.png")  # default: the first factor with values
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 1200 and height == 1740  # tear_sheet: 12 in × 17.4 in at 100 dpi
    assert [p.name for p in out.parent.iterdir()] == ["r.png"]  # no temporary file left
    write_png(ev, out, factor="empty", dpi=50)  # replaces
    assert struct.unpack(">II", out.read_bytes()[16:24]) == (600, 870)
    with pytest.raises(EtfflowError, match=r"no factor 'nope'"):
        write_png(ev, out, factor="nope")
    with pytest.raises(EtfflowError, match="no factors"):
        write_png(toy_evaluation([]), tmp_path / "x.png")
    assert sorted(p.name for p in out.parent.iterdir()) == ["r.png"]
    assert not (tmp_path / "x.png").exists()


def test_render_png_and_the_browser_are_gone() -> None:
    assert not hasattr(report, "render_png") and not hasattr(report, "find_chromium")
    assert not hasattr(report, "_temp_name") and not hasattr(report, "_C")
    source = Path(report.__file__).read_text("utf-8")
    assert "subprocess" not in source and "chromium" not in source.lower()


# --------------------------------------------------------------------------- printing, colours


def test_every_factor_prints_with_its_charts() -> None:
    names = ["a", "b", "c"]
    page = render_html(toy_evaluation(names), title="t", generated_at=WHEN)
    for i in range(len(names)):
        section = re.search(rf'<details class="factor" id="f{i}".*?</details>', page, re.S)
        charts = svgs(section.group(0))
        assert len(charts) == len(CHARTS)
        assert [re.search(r'id="([^"]+)"', c).group(1) for c in charts] == [
            f"f{i}-{k}" for k in CHARTS
        ]
    assert page.count(" open>") == 1  # on screen only the first section is open
    css = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    printing = css[css.index("@media print{") :]
    assert "details.factor>.body{display:block}" in printing
    assert "details.factor::details-content{content-visibility:visible" in printing
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    assert "'beforeprint'" in script and "d.open=true" in script and "'afterprint'" in script


def test_one_colour_table_for_figures_and_page() -> None:
    page = render_html(toy_evaluation(["a"]), title="t", generated_at=WHEN)
    root = re.search(r":root\{([^}]*)\}", page).group(1)
    assert f"--brand:{COLORS['long_short']}" in root
    assert f"--pos:{COLORS['pos']}" in root and f"--neg:{COLORS['neg']}" in root
    r, g, b = (int(COLORS["neg"][k : k + 2], 16) for k in (1, 3, 5))
    assert f"background:rgba({r},{g},{b}," in page  # tinted negative per-year cells


def test_series_statistics_table_has_volatility_and_sharpe() -> None:
    ev = toy_evaluation(["a"], direction=1)
    page = render_html(ev, title="t", generated_at=WHEN)
    table = re.search(r'<table class="t stats">.*?</table>', page, re.S).group(0)
    for label in ("年化波动", "ann. volatility", "夏普比率", "Sharpe"):
        assert label in table
    rows = re.findall(r"<tr><td.*?</tr>", table)
    want = series_stats(ev, "a")
    assert len(rows) == want.height == 8  # 5 daily series + 3 groups

    def pct(x):
        return "–" if x is None else f"{x * 100:.1f}%"

    for row, r in zip(rows, want.iter_rows(named=True), strict=True):
        got = cells(row)
        assert got[1:] == [
            pct(r["ann_return"]),
            pct(r["ann_volatility"]),
            "–" if r["sharpe"] is None else f"{r['sharpe']:.2f}",
            pct(r["max_drawdown"]),
        ]
    assert cells(rows[2])[0] == "多空long-short" and cells(rows[5])[0] == "第 1 组group 1"


# --------------------------------------------------------------------------- fonts


def test_charts_fall_back_to_english_without_a_cjk_font() -> None:
    assert plot_style.cjk_font() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph warns: fail instead
        page = render_html(toy_evaluation(["a"]), title="t", generated_at=WHEN)
    charts = svgs(page)
    assert charts and not [c for c in charts if CJK.search(c)]  # no tofu boxes
    assert "多头年化收益率" in page and "IC胜率" in page  # the tables stay bilingual
    assert "font-family" not in "".join(charts)  # the page's font (and CJK fallbacks) draw it


def test_charts_are_bilingual_with_a_cjk_font(monkeypatch) -> None:
    fonts = frozenset({"DejaVu Sans", "Noto Sans CJK SC"})
    monkeypatch.setattr(plot_style, "_installed_fonts", lambda: fonts)
    figs = page_figures(toy_evaluation(["a"]), "a")
    assert figs["nav"].axes[0].get_title(loc="left").startswith("多空净值 Long-short NAV")
    assert figs["nav"].axes[0].title.get_fontfamily()[0] == "Noto Sans CJK SC"
    monkeypatch.setenv("ETFFLOW_PLOT_LANG", "en")
    figs = page_figures(toy_evaluation(["a"]), "a")
    assert figs["nav"].axes[0].get_title(loc="left").startswith("Long-short NAV")


# --------------------------------------------------------------------------- notebook


def test_page_does_not_depend_on_the_number_of_workers() -> None:
    names = [f"f{k}" for k in range(report.PARALLEL_MIN_FACTORS)]
    ev = toy_evaluation(names)
    serial = render_html(ev, title="t", generated_at=WHEN, workers=1)
    assert render_html(ev, title="t", generated_at=WHEN, workers=2) == serial  # 2 processes
    assert len(svgs(serial)) == len(CHARTS) * len(names)
    one = render_html(toy_evaluation(names[:1]), title="t", generated_at=WHEN)
    first = re.search(r'<details class="factor" id="f0".*?</details>', serial, re.S).group(0)
    assert first in one  # a factor's section is the same alone or with others


def test_evaluation_repr_html_is_a_light_summary() -> None:
    ev = toy_evaluation(["a", "b"])
    view = ev._repr_html_()
    assert view.startswith('<div class="etfflow-ev">') and view.endswith("</div>")
    rows = re.findall(r'<tr><td class="name">(.*?)</tr>', view)
    assert [cells(f"<td>{r}")[0] for r in rows] == ["a", "b"]
    assert cells(f"<td>{rows[0]}")[1:] == TABLE47_CELLS  # the report's summary row
    assert len(svgs(view)) == 1 and "Long-short NAV" in svgs(view)[0]  # one key figure
    assert "<details" not in view and 'href="#' not in view.replace('href="#m', "")
    assert "2 factors" in view and "3 periods" in view
    assert_self_contained(view)
    assert_well_formed(view)
    empty = toy_evaluation([])._repr_html_()
    assert "0 factors" in empty and svgs(empty) == []


def test_evaluation_to_html_writes_the_full_report(tmp_path: Path) -> None:
    ev = toy_evaluation(["a"])
    out = ev.to_html(tmp_path / "r.html", title="nb", generated_at=WHEN)
    assert out == tmp_path / "r.html"
    assert out.read_text("utf-8") == render_html(ev, title="nb", generated_at=WHEN)
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_detail_draws_only_the_chosen_factors_and_says_how_to_draw_all() -> None:
    names = ["a", "b", "c"]
    ev = toy_evaluation(names)
    page = render_html(ev, title="t", meta={"run": "bt-1"}, generated_at=WHEN, detail=["b"])
    sections = re.findall(r'<details class="factor" id="f(\d+)".*?</details>', page, re.S)
    assert len(sections) == 1
    section = re.search(r'<details class="factor".*?</details>', page, re.S).group(0)
    assert ">b<" in section and len(svgs(section)) == len(CHARTS)
    assert "sections for 1 of 3 factors" in page
    assert "etfflow report --run bt-1 --html FILE" in page
    summary = page[: page.index('<div class="bar">')]
    assert all(f">{n}<" in summary for n in names)  # the tables still list every factor
    full = render_html(ev, title="t", meta={"run": "bt-1"}, generated_at=WHEN)
    assert "sections for" not in full and len(svgs(full)) == 3 * len(CHARTS)

"""HTML report of an industry rotation run (etfflow.backtest.rotation.report) and its figures
(etfflow.plots.rotation), on a small hand-made RotationResult that follows SCHEMAS."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from matplotlib.figure import Figure

from etfflow.backtest.rotation import report as R
from etfflow.backtest.rotation.params import RotationParams
from etfflow.backtest.rotation.result import METRICS, SCHEMAS, SIGNALS, RotationResult, empty
from etfflow.exceptions import EtfflowError
from etfflow.plots import rotation as RP

INDUSTRIES = ["医药", "有色金属", "煤炭", "电子", "计算机", "银行"]
STRATEGIES = [
    "composite",
    "style",
    "divergence",
    *[f"flow_q{g}" for g in range(1, 6)],
    "flow_ls",
    "equal_weight",
]
WHEN = dt.datetime(2024, 2, 1, 9, 30)


def _days(n: int = 60, start: dt.date = dt.date(2023, 11, 1)) -> list[dt.date]:
    out, d = [], start
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def _frame(name: str, data: dict) -> pl.DataFrame:
    return pl.DataFrame(data, schema=SCHEMAS[name])


def build_result(n_days: int = 60, seed: int = 0) -> RotationResult:
    """A small result: 6 industries, ``n_days`` trading days from 2023-11-01, every table."""
    rng = np.random.default_rng(seed)
    days = _days(n_days)
    weeks = [d for i, d in enumerate(days) if i + 1 == len(days) or days[i + 1].weekday() == 0]
    months = [d for i, d in enumerate(days) if i + 1 == len(days) or days[i + 1].month != d.month]
    n_i, n_w, n_m = len(INDUSTRIES), len(weeks), len(months)

    # nav: every strategy from day 0, benchmark shared
    bench = np.cumprod(1 + rng.normal(0, 0.01, n_days))
    nav = {"date": [], "strategy": [], "nav": [], "benchmark_nav": []}
    for s in STRATEGIES:
        v = bench if s == "equal_weight" else np.cumprod(1 + rng.normal(0.0005, 0.012, n_days))
        nav["date"] += days
        nav["strategy"] += [s] * n_days
        nav["nav"] += list(v / v[0])
        nav["benchmark_nav"] += list(bench / bench[0])

    summary: dict[str, list] = {c: [] for c in SCHEMAS["summary"].names()}
    for k, s in enumerate(STRATEGIES):
        for period in ("2023", "2024", "all"):
            summary["strategy"].append(s)
            summary["period"].append(period)
            for j, m in enumerate(METRICS):
                summary[m].append(round(0.01 * (k + 1) + 0.001 * j, 6))
            summary["n_days"].append(n_days)
    # recognisable numbers
    i_all = STRATEGIES.index("composite") * 3 + 2
    summary["annual_return"][i_all] = 0.1234
    summary["excess_return"][i_all] = -0.0567
    summary["annual_return"][i_all - 2] = 0.0421  # composite 2023
    summary["excess_return"][STRATEGIES.index("flow_q5") * 3] = 0.0789  # flow_q5 2023

    weekly = {
        "date": [w for w in weeks for _ in INDUSTRIES],
        "industry": INDUSTRIES * n_w,
        "holding": list(rng.uniform(1e9, 5e9, n_w * n_i)),
        "holding_share": list(rng.uniform(0.05, 0.3, n_w * n_i)),
        "flow": [None] * n_i + list(rng.normal(0, 0.01, (n_w - 1) * n_i)),
    }
    lg = [int(x) for x in rng.integers(1, 6, n_m * n_i)]
    cg = [None] * n_i + [int(x) for x in rng.integers(1, 6, (n_m - 1) * n_i)]
    monthly = {
        "date": [m for m in months for _ in INDUSTRIES],
        "industry": INDUSTRIES * n_m,
        "holding_share": list(rng.uniform(0.05, 0.3, n_m * n_i)),
        "change": [None if g is None else float(g) / 100 for g in cg],
        "level_group": lg,
        "change_group": cg,
    }
    ratio = {"size": 1.3 + np.cumsum(rng.normal(0, 0.01, n_w)), "style": 0.9 + np.zeros(n_w)}
    regimes: dict[str, list] = {c: [] for c in SCHEMAS["regimes"].names()}
    for pair in ("size", "style"):
        sig = [None, None, *rng.normal(0, 0.01, n_w - 2)]
        regimes["date"] += weeks
        regimes["pair"] += [pair] * n_w
        regimes["ratio"] += list(ratio[pair])
        regimes["trend"] += list(ratio[pair] + 0.001)
        regimes["signal"] += sig
        regimes["regime"] += [None if x is None else int(x > 0) for x in sig]
    etf = rng.uniform(0.05, 0.3, (n_m, n_i))
    act = rng.uniform(0.05, 0.3, (n_m, n_i))
    active = {
        "date": [m for m in months for _ in INDUSTRIES],
        "industry": INDUSTRIES * n_m,
        "etf_share": list(etf.ravel()),
        "active_share": list(act.ravel()),
        "source": ["simulated"] * (n_m * n_i),
        "divergence": list((etf - act).ravel()),
    }
    heat = [None, 0.12, -0.05][:n_m] + [0.02] * max(n_m - 3, 0)
    issuance = {
        "month": [dt.date(m.year, m.month, 1) for m in months],
        "etf_new": [10.0] * n_m,
        "active_new": [20.0] * n_m,
        "etf_change": heat,
        "active_change": [0.0] * n_m,
        "heat": heat,
        "hot": [None if h is None else h > 0 for h in heat],
    }
    rb = days[::10][:-1]
    n_r = len(rb)
    signals = {
        "date": [d for d in rb for _ in INDUSTRIES],
        "industry": INDUSTRIES * n_r,
        **{
            f"{s}_score": list(rng.uniform(0, 1, n_r * n_i))
            for s in ("flow", "level", "change", "divergence")
        },
        "composite": list(rng.uniform(0, 1, n_r * n_i)),
        "selected": [j < 3 for _ in rb for j in range(n_i)],
        "flow_flag": [int(x) for x in rng.integers(0, 2, n_r * n_i)],
        "style_flag": [int(x) for x in rng.integers(0, 2, n_r * n_i)],
        "divergence_flag": [int(x) for x in rng.integers(0, 2, n_r * n_i)],
    }
    held = [(r, INDUSTRIES[(r + j) % n_i]) for r in range(n_r) for j in range(3)]
    holdings = {
        "date": [rb[r] for r, _ in held],
        "start": [days[10 * r + 1] for r, _ in held],
        "end": [days[min(10 * r + 11, n_days - 1)] for r, _ in held],
        "industry": [x for _, x in held],
        "flow_flag": [int(x) for x in rng.integers(0, 2, len(held))],
        "style_flag": [1] * len(held),
        "divergence_flag": [0] * len(held),
        "period_return": list(rng.normal(0, 0.03, len(held))),
        "excess_return": list(rng.normal(0, 0.02, len(held))),
    }
    holdings["period_return"][-1] = 0.0321  # the last holding, shown in the table
    corr = np.array(
        [
            [1.0, 0.12, -0.3, 0.05],
            [0.12, 1.0, 0.4, -0.1],
            [-0.3, 0.4, 1.0, 0.2],
            [0.05, -0.1, 0.2, 1.0],
        ]
    )
    correlation = {"signal": list(SIGNALS), **{s: list(corr[:, j]) for j, s in enumerate(SIGNALS)}}
    div_groups = {
        "side": ["positive"] * 3 + ["negative"] * 3,
        "tercile": [1, 2, 3] * 2,
        "mean_return": [0.01, 0.005, -0.002, 0.003, 0.0, -0.01],
        "annual_return": [0.127, 0.06, -0.024, 0.037, 0.0, -0.114],
        "excess_return": [0.02, 0.01, -0.01, 0.0, -0.01, -0.03],
        "win_rate": [0.6, 0.5, 0.4, 0.5, 0.5, 0.3],
        "n_months": [2] * 6,
    }
    sector_mix = {"sector": ["科技", "消费", "周期", "金融"], "share": [0.4, 0.3, 0.2, 0.1]}
    hits = {
        "industry": INDUSTRIES,
        "sector": ["消费", "周期", "周期", "科技", "科技", "金融"],
        "n_held": [3, 3, 3, 3, 3, 3],
        "hit_rate": [0.6667, 0.3333, 0.5, 1.0, 0.0, 0.6667],
        "mean_excess": [0.01, -0.02, 0.0, 0.03, -0.01, 0.005],
    }
    data = {
        "industry_weekly": weekly,
        "industry_monthly": monthly,
        "regimes": regimes,
        "active_shares": active,
        "issuance": issuance,
        "signals": signals,
        "holdings": holdings,
        "nav": nav,
        "summary": summary,
        "correlation": correlation,
        "divergence_groups": div_groups,
        "sector_mix": sector_mix,
        "industry_hits": hits,
    }
    tables = {k: _frame(k, v) for k, v in data.items()}
    return RotationResult(RotationParams(top=3), tables, {"industries": INDUSTRIES}).check()


@pytest.fixture(scope="module")
def result() -> RotationResult:
    return build_result()


@pytest.fixture(scope="module")
def page(result: RotationResult) -> str:
    return R.render_html(result, generated_at=WHEN, cjk=False)


def section(page: str, key: str) -> str:
    """The HTML of section ``key`` (up to the next section)."""
    m = re.search(rf'<section class="card" id="{key}">(.*?)</section>', page, re.S)
    assert m, f"no section {key}"
    return m.group(1)


def row_of(html_text: str, marker: str) -> str:
    """The first table row (``<tr …>…</tr>``) containing ``marker``."""
    at = html_text.find(marker)
    assert at >= 0, f"no row with {marker!r}"
    start = html_text.rfind("<tr", 0, at + 3)
    return html_text[start : html_text.index("</tr>", at) + 5]


# --------------------------------------------------------------------------- the page


def test_the_fixture_follows_the_schemas(result: RotationResult) -> None:
    assert set(result.tables) == set(SCHEMAS)
    assert result.check() is result


def test_page_has_every_section_and_the_header(page: str, result: RotationResult) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert R.DEFAULT_TITLE in page
    for key, (zh, en) in R.SECTIONS.items():
        assert f'id="{key}"' in page and f'href="#{key}"' in page
        assert zh in section(page, key) and en in section(page, key)
    head = page[: page.index("</header>")]
    for k, v in {
        "pool": "all",
        "top": "3",
        "rebalance": "every 10 trading days",
        "hp_lambda": "300",
        "size": "000300.SH / 000852.SH",
        "style": "399370.SZ / 399371.SZ",
        "start": "first signal day",
    }.items():
        assert f"<dt>{k}</dt><dd>{v}</dd>" in head
    assert "<dt>dates covered</dt><dd>2023-11-01 → 2024-01-23</dd>" in head
    assert "generated 2024-02-01 09:30" in head


def test_summary_shows_every_strategy_with_its_numbers_and_colours(page: str) -> None:
    s = section(page, "summary")
    for name in STRATEGIES:
        assert f'data-strategy="{name}"' in s
    comp = row_of(s, 'data-strategy="composite"')
    assert '<td class="num pos">12.34%</td>' in comp  # annual return
    assert '<td class="num neg">-5.67%</td>' in comp  # excess, negative -> red class
    # strategy order: composite first, flow groups by number, long-short after them
    order = re.findall(r'data-strategy="([^"]+)"', s)
    assert order[:4] == ["composite", "style", "divergence", "equal_weight"]
    assert order[4:] == [f"flow_q{g}" for g in range(1, 6)] + ["flow_ls"]


def test_yearly_table_has_years_then_the_whole_period(page: str) -> None:
    y = section(page, "yearly")
    labels = re.findall(r'<td class="name">([^<]+)', y)
    assert labels == ["2023", "2024", "全区间"]
    assert "4.21%" in row_of(y, ">2023<")
    assert "12.34%" in row_of(y, "全区间")


def test_flow_section_tables(page: str) -> None:
    f = section(page, "flow")
    for g in range(1, 6):
        assert f"资金流第{g}组" in f
    assert "Q5 excess" in f
    assert '<td class="num pos">7.89%</td>' in row_of(f.split("分年度")[1], ">2023<")


def test_figures_are_inline_svg_and_nothing_is_fetched(page: str) -> None:
    assert page.count("<svg") == len(RP.REPORT_FIGURES)
    for key in RP.REPORT_FIGURES:
        assert f'data-chart="{key}"' in page
        assert f'id="rot-{key}"' in page
    assert "<script" not in page
    assert "http://" not in page and "https://" not in page
    # only in-page anchors and inline data (the divergence heat map is an embedded PNG)
    assert not re.search(r"\b(?:src|href)=\"(?!#|data:)", page)


def test_level_tables_show_the_recent_months_as_coloured_groups(
    page: str, result: RotationResult
) -> None:
    lv = section(page, "levels")
    months = sorted(result["industry_monthly"]["date"].unique().to_list())
    for d in months[-R.RECENT_MONTHS :]:
        assert lv.count(f"<th>{d:%Y-%m}</th>") == 2  # one L column, one dL column
    m = result["industry_monthly"].filter(
        (pl.col("industry") == "电子") & (pl.col("date") == months[-1])
    )
    g = int(m["level_group"][0])
    cells = re.findall(r'<td class="grp"[^>]*>([^<]+)</td>', row_of(lv, ">电子<"))
    assert len(cells) == 2 * len(months)
    assert cells[len(months) - 1] == str(g)
    assert cells[len(months)] == "–"  # no dL in the first month
    assert "background:rgba(" in row_of(lv, ">电子<")


def test_level_tables_keep_only_the_last_months() -> None:
    r = build_result(n_days=200)
    lv = section(R.render_html(r, generated_at=WHEN, cjk=False), "levels")
    months = sorted(r["industry_monthly"]["date"].unique().to_list())
    assert len(months) > R.RECENT_MONTHS
    heads = re.findall(r"<th>(\d{4}-\d\d)</th>", lv)
    assert heads == [f"{d:%Y-%m}" for d in months[-R.RECENT_MONTHS :]] * 2


def test_holdings_show_the_last_rebalances_with_flags(page: str, result: RotationResult) -> None:
    h = section(page, "holdings")
    dates = sorted(result["holdings"]["date"].unique().to_list())
    shown = dates[-R.RECENT_REBALANCES :]
    for d in shown:
        assert f"decided {d}" in h
    for d in dates[: -R.RECENT_REBALANCES]:
        assert f"decided {d}" not in h
    assert h.count('<tr class="span">') == len(shown)
    assert "3.21%" in h  # the last holding's period return
    assert '<td class="flag1">1</td>' in h and '<td class="flag0">0</td>' in h
    # hit rates, best first
    hits = h.split("行业持仓胜率")[1]
    assert hits.index(">电子<") < hits.index(">计算机<")
    assert "100.0%" in row_of(hits, ">电子<")


def test_regimes_show_the_last_weeks(page: str, result: RotationResult) -> None:
    g = section(page, "regimes")
    weeks = sorted(result["regimes"]["date"].unique().to_list())
    for w in weeks[-R.RECENT_WEEKS :]:
        assert f">{w}<" in g
    for w in weeks[: -R.RECENT_WEEKS]:
        assert f">{w}<" not in g


def test_correlation_and_tercile_tables(page: str) -> None:
    c = section(page, "correlation")
    assert "-0.30" in row_of(c, '<td class="name">短期资金流') and "1.00" in c
    assert re.findall(r'<td class="name">([^<]+)', c) == [
        "短期资金流",
        "持仓程度",
        "持仓边际变化",
        "持仓分歧度",
    ]
    d = section(page, "divergence")
    assert "12.70%" in row_of(d, "正向")
    assert d.index("正向") < d.index("负向")


def test_empty_and_all_null_tables_show_no_data(result: RotationResult) -> None:
    t = dict(result.tables)
    t["active_shares"] = result["active_shares"].with_columns(
        pl.lit(None, dtype=pl.Float64).alias("divergence")
    )
    t["issuance"] = empty("issuance")
    t["divergence_groups"] = result["divergence_groups"].with_columns(
        pl.lit(None, dtype=pl.Float64).alias(c)
        for c in ("mean_return", "annual_return", "excess_return", "win_rate")
    )
    t["holdings"] = empty("holdings")
    t["industry_hits"] = empty("industry_hits")
    t["sector_mix"] = empty("sector_mix")
    t["correlation"] = result["correlation"].with_columns(
        pl.lit(None, dtype=pl.Float64).alias(s) for s in SIGNALS
    )
    t["industry_monthly"] = result["industry_monthly"].with_columns(
        pl.lit(None, dtype=pl.Int8).alias(c) for c in ("level_group", "change_group")
    )
    page = R.render_html(RotationResult(result.params, t), generated_at=WHEN, cjk=False)
    for key in ("divergence", "correlation", "holdings", "levels"):
        assert "no data" in section(page, key), key
    assert "no values" in section(page, "divergence")  # both charts
    assert "no data" not in section(page, "summary")
    assert page.count("<svg") == len(RP.REPORT_FIGURES)


def test_an_all_empty_result_renders() -> None:
    r = RotationResult(RotationParams(), {k: empty(k) for k in SCHEMAS})
    page = R.render_html(r, generated_at=WHEN, cjk=False)
    for key in R.SECTIONS:
        if key not in ("nav",):
            assert "no data" in section(page, key) or "no values" in section(page, key), key
    assert "<dt>dates covered</dt><dd>–</dd>" in page


def test_title_and_meta_are_escaped(result: RotationResult) -> None:
    page = R.render_html(
        result, title="<b>x</b>", meta={"run": "<r1>"}, generated_at=WHEN, cjk=False
    )
    assert "<title>&lt;b&gt;x&lt;/b&gt;</title>" in page
    assert "<dt>run</dt><dd>&lt;r1&gt;</dd>" in page
    assert "<b>x</b>" not in page


def test_bad_input_is_refused(result: RotationResult) -> None:
    with pytest.raises(EtfflowError, match="expected a RotationResult"):
        R.render_html(result.tables)  # type: ignore[arg-type]
    t = dict(result.tables)
    t["nav"] = t["nav"].drop("benchmark_nav")
    with pytest.raises(EtfflowError, match="rotation table nav has schema"):
        R.render_html(RotationResult(result.params, t))


def test_metric_columns_are_the_summary_metrics() -> None:
    assert tuple(c for c, *_ in R._METRIC_COLS) == (*METRICS, "n_days")


# --------------------------------------------------------------------------- write_html


def test_write_html_writes_the_page(tmp_path: Path, result: RotationResult) -> None:
    out = R.write_html(result, tmp_path / "sub" / "r.html", generated_at=WHEN, cjk=False)
    assert out == tmp_path / "sub" / "r.html"
    assert out.read_text(encoding="utf-8") == R.render_html(result, generated_at=WHEN, cjk=False)
    assert [p.name for p in out.parent.iterdir()] == ["r.html"]


def test_write_html_leaves_no_temp_file_on_error(
    tmp_path: Path, result: RotationResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "r.html"
    target.write_text("old", encoding="utf-8")
    t = dict(result.tables)
    del t["summary"]
    with pytest.raises(EtfflowError, match="lacks the summary table"):
        R.write_html(RotationResult(result.params, t), target)
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]

    def boom(self: Path, *a: object, **k: object) -> int:
        self.open("w").write("half")
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", boom)
    with pytest.raises(OSError, match="disk full"):
        R.write_html(result, target, cjk=False)
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]
    assert target.read_bytes() == b"old"


# --------------------------------------------------------------------------- figures


def test_report_figures_are_figures_with_the_expected_axes(result: RotationResult) -> None:
    figs = RP.report_figures(result, cjk=False)
    assert list(figs) == list(RP.REPORT_FIGURES)
    assert all(isinstance(f, Figure) for f in figs.values())
    # divergence: latest month, issuance heat, the month x industry map and its colour bar
    assert [len(f.axes) for f in figs.values()] == [2, 1, 2, 4, 2]
    nav_ax = figs["nav"].axes[0]
    labels = [t.get_text() for t in nav_ax.get_legend().get_texts()]
    assert labels == ["equal weight", "relative", "strategy"]
    flow_labels = [t.get_text() for t in figs["flow"].axes[0].get_legend().get_texts()]
    assert flow_labels == [f"Q{g}" for g in range(1, 6)] + ["equal weight", "long-short"]


def test_nav_figure_draws_the_relative_nav(result: RotationResult) -> None:
    fig = RP.nav(result, cjk=False)
    ax, dd = fig.axes
    df = RP.strategy_nav(result, "composite")
    rel = (df["nav"] / df["benchmark_nav"]).to_numpy()
    line = next(x for x in ax.get_lines() if x.get_label() == "relative")
    np.testing.assert_allclose(np.asarray(line.get_ydata(), dtype=float), rel)
    ddline = dd.get_lines()[0]
    np.testing.assert_allclose(
        np.asarray(ddline.get_ydata(), dtype=float), rel / np.maximum.accumulate(rel) - 1
    )


def test_relative_drawdown_by_hand() -> None:
    x = np.array([np.nan, 1.0, 1.2, 0.9, 1.5, np.nan, 1.2])
    np.testing.assert_allclose(
        RP.relative_drawdown(x), [np.nan, 0.0, 0.0, -0.25, 0.0, np.nan, -0.2]
    )


def test_regime_shading_covers_regime_one_weeks(result: RotationResult) -> None:
    fig = RP.regimes(result, cjk=False)
    size = result["regimes"].filter(pl.col("pair") == "size")
    assert (
        fig.axes[0]
        .get_title(loc="left")
        .endswith("large" if size["regime"].drop_nulls()[-1] == 1 else "small")
    )
    shade = [c for c in fig.axes[0].collections if "regime" in str(c.get_label())]
    assert len(shade) == 1
    reg = size["regime"].fill_null(0).to_numpy()
    runs = int(reg[0] == 1) + int(((reg[1:] == 1) & (reg[:-1] != 1)).sum())
    assert runs > 0 and len(shade[0].get_paths()) == runs  # one shaded span per regime-1 run


def test_header_reads_the_run_meta(result: RotationResult) -> None:
    meta = {"first_signal_day": "2023-11-15", "rebalance_days": 5}
    page = R.render_html(RotationResult(result.params, result.tables, meta), generated_at=WHEN)
    assert "<dt>start</dt><dd>2023-11-15 (first signal day)</dd>" in page
    assert "<dt>rebalances</dt><dd>5</dd>" in page
    page = R.render_html(
        RotationResult(RotationParams(start=dt.date(2023, 12, 1)), result.tables, meta),
        generated_at=WHEN,
    )
    assert "<dt>start</dt><dd>2023-12-01</dd>" in page


def test_latest_divergence_picks_the_last_month_with_values(result: RotationResult) -> None:
    when, df = RP.latest_divergence(result)
    assert when == result["active_shares"]["date"].max()
    assert df["industry"].len() == len(INDUSTRIES)
    assert df["divergence"].is_sorted(descending=True)
    t = result["active_shares"].with_columns(
        pl.when(pl.col("date") == when)
        .then(None)
        .otherwise(pl.col("divergence"))
        .alias("divergence")
    )
    r2 = RotationResult(result.params, {**result.tables, "active_shares": t})
    when2, _ = RP.latest_divergence(r2)
    assert when2 < when


def test_figures_of_an_empty_result_say_no_values() -> None:
    r = RotationResult(RotationParams(), {k: empty(k) for k in SCHEMAS})
    for fig in RP.report_figures(r, cjk=False).values():
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert texts and all(t == "no values" for t in texts)


def test_industry_names_are_english_without_a_cjk_font(result: RotationResult) -> None:
    fig = RP.divergence(result, cjk=False)
    labels = {t.get_text() for t in fig.axes[0].get_yticklabels()}
    assert labels == {
        "Healthcare",
        "Non-ferrous metals",
        "Coal",
        "Electronics",
        "Computers",
        "Banks",
    }
    mix = RP.holdings_mix(result, cjk=False)
    assert [t.get_text() for t in mix.axes[0].get_xticklabels()] == [
        "Technology",
        "Consumer",
        "Cyclicals",
        "Financials",
    ]
    assert "Electronics" in {t.get_text() for t in mix.axes[1].get_xticklabels()}


def test_divergence_map_is_the_industry_by_month_table(result: RotationResult) -> None:
    fig = RP.divergence(result, cjk=False)
    img = fig.axes[2].images[0].get_array()
    df = result["active_shares"].filter(pl.col("divergence").is_not_null())
    want = (
        df.pivot(on="date", index="industry", values="divergence", sort_columns=True)
        .sort("industry")
        .drop("industry")
        .to_numpy()
    )
    assert np.allclose(np.ma.filled(img, np.nan), want, equal_nan=True)
    lo, hi = fig.axes[2].images[0].get_clim()
    assert lo == -hi > -1  # centred on 0: green ETFs heavier, red active funds heavier

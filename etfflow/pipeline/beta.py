"""``passive_beta`` profile runs (Huaan 2024-12 table 55): look through a pool, build the stock
inputs, profile the beta and its R² on one day; optionally export the per-stock table and
write a self-contained HTML page. Definition: :mod:`etfflow.factors.beta_profile`."""

from __future__ import annotations

import datetime as dt
import html as _html
import time
from dataclasses import dataclass
from pathlib import Path

from etfflow._common import Progress, atomic_path
from etfflow.backtest import report_tables as T
from etfflow.backtest.report_style import page_start
from etfflow.engine.loading import open_dataset
from etfflow.engine.lookthrough import Mode, penetrate
from etfflow.engine.market import load_market
from etfflow.engine.pools import Pool
from etfflow.factors.beta_profile import BetaProfile, passive_beta_profile
from etfflow.factors.inputs import stock_inputs

__all__ = ["BetaRun", "render_html", "run_beta_profile"]


@dataclass
class BetaRun:
    profile: BetaProfile
    pool: str
    export: Path | None
    html: Path | None
    seconds: float


def run_beta_profile(
    data_dir: str | Path,
    *,
    pool: str | Pool = "all",
    mode: Mode = "pcf",
    window: int = 20,
    date: dt.date | None = None,
    export: str | Path | None = None,
    html: str | Path | None = None,
    progress: Progress | None = None,
) -> BetaRun:
    t0 = time.perf_counter()
    ds = open_dataset(data_dir)
    p = Pool.of(pool)
    lt = penetrate(ds, pool=p, mode=mode, progress=progress)
    profile = passive_beta_profile(stock_inputs(load_market(ds), lt.stocks), window, date)
    out = None
    if export:
        out = Path(export)
        with atomic_path(out) as tmp:
            profile.table.write_parquet(tmp)
    page = None
    if html:
        page = Path(html)
        text = render_html(profile, meta={"dataset": str(data_dir), "pool": p.label})
        with atomic_path(page) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return BetaRun(profile, p.label, out, page, time.perf_counter() - t0)


def render_html(
    profile: BetaProfile,
    *,
    meta: dict[str, str] | None = None,
    generated_at: dt.datetime | None = None,
    cjk: bool | None = None,
) -> str:
    """The histogram and the summary as one self-contained page (inline SVG, no script)."""
    from etfflow.plots.beta import beta_histogram
    from etfflow.plots.style import Style, to_svg

    esc = _html.escape
    fig = to_svg(beta_histogram(profile, Style(cjk)), uid="beta")
    s = profile.summary
    rows = "".join(
        f'<tr><td class="name">{esc(k)}</td>'
        + (T._td(v, T.PCT1, signed=False) if k == "share_positive" else f"<td>{_num(v)}</td>")
        + "</tr>"
        for k, v in s.items()
    )
    when = (generated_at or dt.datetime.now()).strftime("%Y-%m-%d %H:%M")
    info = {**(meta or {}), "date": str(profile.date), "window": str(profile.window)}
    meta_html = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in info.items())
    return "\n".join(
        [
            page_start("passive_beta 截面分布 / passive beta across stocks", meta_html, when),
            f'<section id="beta"><h2>被动资金 Beta <small>passive beta and R²</small></h2>'
            f'<div class="fig">{fig}</div><div class="wrap"><table class="t"><tbody>{rows}'
            "</tbody></table></div></section>",
            "<footer>Beta = OLS 斜率 (个股日收益 对 被动持股市值日变化率, 截面5倍MAD缩尾), "
            "R² = 相关系数平方. Definitions: docs/methodology.md#32-the-factor-families "
            "(passive_beta).</footer>",
            "</div></body></html>",
        ]
    )


def _num(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return "–" if v is None else str(v)

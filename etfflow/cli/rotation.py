"""``etfflow rotation``: the industry rotation of Huafu 2026-02 on a dataset.

What is computed: docs/methodology.md#8-industry-rotation.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from etfflow.backtest.rotation.params import DEFAULT_HP_LAMBDA, RotationParams
from etfflow.backtest.rotation.result import RotationResult
from etfflow.cli._ui import CheckOption, compute_session, console, print_table
from etfflow.engine.pools import POOL_NAMES
from etfflow.engine.store import DEFAULT_STORE, check_store_path
from etfflow.pipeline.rotation import run_rotation

#: (metric, header, percent?) in the report's column order.
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("annual_return", "年化收益 ann. return", True),
    ("volatility", "年化波动 vol.", True),
    ("sharpe", "夏普 Sharpe", False),
    ("max_drawdown", "最大回撤 MDD", True),
    ("excess_return", "超额 excess", True),
    ("tracking_error", "跟踪误差 TE", True),
    ("information_ratio", "信息比 IR", False),
    ("relative_max_drawdown", "相对回撤 rel. MDD", True),
    ("monthly_win_rate", "月胜率 win", True),
    ("gain_loss_ratio", "赔率 gain/loss", False),
)


def _cell(v: float | None, pct: bool) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    s = f"{100 * v:.2f}%" if pct else f"{v:.2f}"
    return f"[{'red' if v < 0 else 'green'}]{s}[/]"


def metrics_table(rows: pl.DataFrame, key: str, *, title: str) -> Table:
    """One row per ``key`` value (strategy or period) with the report's metric columns."""
    table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column(key, no_wrap=True)
    for _, head, _ in COLUMNS:
        table.add_column(head, justify="right")
    for row in rows.iter_rows(named=True):
        table.add_row(escape(str(row[key])), *[_cell(row[c], p) for c, _, p in COLUMNS])
    return table


def print_rotation(result: RotationResult, *, holdings: int = 2) -> None:
    """The terminal summary in the report's layout: strategies, the composite per year, flow
    quintiles, the latest regimes and the latest holdings with their flags."""
    s = result["summary"]
    stored = result.meta.get("strategies")
    order: list[str] = (
        [str(x) for x in stored]
        if isinstance(stored, list)
        else s["strategy"].unique(maintain_order=True).to_list()
    )
    rank = {name: i for i, name in enumerate(order)}
    whole = s.filter(pl.col("period") == "all").sort(
        pl.col("strategy").replace_strict(rank, default=len(rank), return_dtype=pl.Int32)
    )
    p = result.params
    print_table(
        metrics_table(
            whole,
            "strategy",
            title=f"Industry rotation (Huafu 2026-02): pool {p.pool}, top {p.top}, rebalance "
            f"every {p.rebalance} days, HP λ {p.hp_lambda:g}; benchmark = industries equal weight",
        )
    )
    comp = s.filter(pl.col("strategy") == "composite").sort(pl.col("period") == "all", "period")
    comp = comp.with_columns(
        pl.when(pl.col("period") == "all")
        .then(pl.lit("全区间 all"))
        .otherwise("period")
        .alias("period")
    )
    print_table(metrics_table(comp, "period", title="Composite strategy per year (策略分年表现)"))
    reg = result["regimes"]
    if reg.height:
        last = reg.filter(pl.col("date") == reg["date"].max())
        parts = []
        for pair, big, small in (
            ("size", "large-cap 大盘", "small-cap 小盘"),
            ("style", "growth 成长", "value 价值"),
        ):
            row = last.filter(pl.col("pair") == pair)
            if row.height and row["regime"][0] is not None:
                parts.append(f"{pair}: {big if row['regime'][0] == 1 else small}")
        console.print(f"regimes on {last['date'][0]}: " + ", ".join(parts))
    h = result["holdings"]
    if h.height:
        dates = h["date"].unique().sort().tail(holdings).to_list()
        for d in dates:
            rows = h.filter(pl.col("date") == d)
            t = Table(
                title=f"holdings decided {d}: {rows['start'][0]} → {rows['end'][0]}",
                title_justify="left",
                box=box.SIMPLE_HEAD,
                pad_edge=False,
            )
            for c in (
                "industry",
                "flow in 短期流入",
                "style 风格持仓",
                "vs active 分歧",
                "return",
                "excess",
            ):
                t.add_column(c, justify="left" if c == "industry" else "right")
            for r in rows.iter_rows(named=True):
                t.add_row(
                    escape(r["industry"]),
                    str(r["flow_flag"]),
                    str(r["style_flag"]),
                    str(r["divergence_flag"]),
                    _cell(r["period_return"], True),
                    _cell(r["excess_return"], True),
                )
            print_table(t)


def _pair(text: str, option: str) -> tuple[str, str]:
    parts = [x.strip() for x in text.split(",") if x.strip()]
    if len(parts) != 2:
        raise typer.BadParameter(
            f"give two comma-separated index codes, got {text!r}", param_hint=option
        )
    return parts[0], parts[1]


def rotation_cmd(
    data_dir: Annotated[Path, typer.Argument(help="Dataset folder.", exists=True, file_okay=False)],
    pool: Annotated[str, typer.Option(help=f"ETF pool: {', '.join(POOL_NAMES)}.")] = "all",
    start: Annotated[
        str | None,
        typer.Option(
            help="First day of the NAVs (YYYY-MM-DD; default: when every signal is ready)."
        ),
    ] = None,
    top: Annotated[int, typer.Option(help="Industries held.")] = 6,
    rebalance: Annotated[int, typer.Option(help="Trading days between rebalances.")] = 10,
    hp_lambda: Annotated[
        float, typer.Option(help="λ of the one-sided HP filter (weekly data).")
    ] = (DEFAULT_HP_LAMBDA),
    size_indices: Annotated[str, typer.Option(help="Large-cap,small-cap index codes.")] = (
        "000300.SH,000852.SH"
    ),
    style_indices: Annotated[str, typer.Option(help="Growth,value index codes.")] = (
        "399370.SZ,399371.SZ"
    ),
    mode: Annotated[
        str, typer.Option(help="Holdings: auto, weights (snapshots) or pcf (month-end baskets).")
    ] = "auto",
    store: Annotated[Path, typer.Option(help="DuckDB result store.", dir_okay=False)] = Path(
        DEFAULT_STORE
    ),
    export: Annotated[
        Path | None,
        typer.Option(help="Also write every table as Parquet into this folder.", file_okay=False),
    ] = None,
    html: Annotated[
        Path | None, typer.Option(help="Also write the HTML report here.", dir_okay=False)
    ] = None,
    check: CheckOption = True,
) -> None:
    """Industry rotation from ETF flows (Huafu 2026-02): weekly look-through to industries,
    style regimes, divergence from active funds and the composite top-k strategy.

    Definitions: docs/methodology.md#8-industry-rotation.
    """
    try:
        first = dt.date.fromisoformat(start) if start else None
    except ValueError as e:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {start!r}", param_hint="--start") from e
    params = RotationParams(
        pool=pool,
        start=first,
        top=top,
        rebalance=rebalance,
        hp_lambda=hp_lambda,
        size_indices=_pair(size_indices, "--size-indices"),
        style_indices=_pair(style_indices, "--style-indices"),
        mode=mode,
    ).check()
    check_store_path(store, create=True)
    with compute_session() as progress:
        run = run_rotation(
            data_dir, params, store=store, export=export, html=html, check=check, progress=progress
        )
    print_rotation(run.result)
    console.print(f"stored run [bold]{run.run_id}[/] in {escape(str(run.store))} (tables rot_*)")
    if run.export:
        console.print(f"exported the tables to {escape(str(run.export))}")
    if run.html:
        console.print(f"wrote the HTML report {escape(str(run.html))}")

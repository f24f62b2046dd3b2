"""``etfflow backtest`` and ``etfflow report``: backtests of stored factors.

What is computed: docs/methodology.md#5-backtests.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from etfflow.cli._ui import WIDE_HELP, compute_session, console, print_table, set_wide
from etfflow.engine.store import DEFAULT_STORE, check_store_path, open_store
from etfflow.factors.inputs import LEVELS
from etfflow.pipeline.backtest import (
    BacktestRun,
    load_evaluation,
    run_backtest,
    run_ts_corr,
    write_report,
)

#: (summary column, header, percent?) — the columns of Huaan 2024-12 table 47
#: (docs/methodology.md#59-whole-period-metrics); its 多头胜率 is the win rate against the
#: benchmark, shown next to the absolute one (long > 0, Huaan table 59's 调仓胜率).
SUMMARY_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("direction", "dir", False),
    ("rank_ic", "Rank IC", True),
    ("rank_icir", "Rank ICIR", False),
    ("rank_ic_t_nw", "t (NW)", False),
    ("rank_ic_win_rate", "IC win", True),
    ("long_ann_return", "long ann.", True),
    ("long_excess_ann", "long excess ann. (compounded)", True),
    ("win_rate_vs_benchmark", "win vs bench", True),
    ("win_rate_absolute", "win abs. (>0)", True),
    ("mean_period_excess", "mean excess/period", True),
    ("long_short_ann_return", "L-S ann.", True),
    ("long_short_max_drawdown", "L-S max DD", True),
)


def _cell(v: float | int | None, pct: bool, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if pct:
        s = f"{100 * v:.{digits}f}%"
    elif isinstance(v, int):
        return f"{v:+d}"
    else:
        s = f"{v:.{digits}f}"
    color = "red" if v < 0 else "green"
    return f"[{color}]{s}[/]"


def summary_table(summary: pl.DataFrame, *, title: str) -> Table:
    table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("factor", no_wrap=True)
    for _, head, _ in SUMMARY_COLUMNS:
        table.add_column(head, justify="right")
    for row in summary.iter_rows(named=True):
        table.add_row(escape(row["factor"]), *[_cell(row[c], p) for c, _, p in SUMMARY_COLUMNS])
    return table


def yearly_table(yearly: pl.DataFrame, column: str, *, title: str) -> Table:
    """Factors × calendar years of one per-year metric (Huaan 2024-12 tables 48–49;
    docs/methodology.md#510-per-year-table)."""
    wide = yearly.select("factor", "year", column).pivot(
        on="year", index="factor", values=column, sort_columns=True
    )
    factors_order = {f: i for i, f in enumerate(yearly["factor"].unique(maintain_order=True))}
    wide = wide.sort(pl.col("factor").replace_strict(factors_order, return_dtype=pl.Int32))
    table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("factor", no_wrap=True)
    years = wide.columns[1:]
    for y in years:
        table.add_column(str(y), justify="right")
    for row in wide.iter_rows(named=True):
        table.add_row(escape(row["factor"]), *[_cell(row[y], True) for y in years])
    return table


def print_notes(summary: pl.DataFrame, *, detail: bool = False) -> None:
    """Notes of factors with periods (or the whole sample) without values.

    A factor without any value gets its note in full. Factors that only start later than the
    first rebalance date (their warm-up) are listed in one line unless ``detail``; their
    notes are in ``bt_summary.note``.
    """
    noted = summary.filter(pl.col("note").is_not_null())
    if not noted.height:
        return
    empty = noted.filter(pl.col("n_periods") == 0)
    late = noted.filter(pl.col("n_periods") > 0)
    console.print("notes:")
    for f, note in empty.select("factor", "note").iter_rows():
        console.print(f"  {f}: {note}", markup=False, highlight=False)
    if detail or late.height <= 3:
        for f, note in late.select("factor", "note").iter_rows():
            console.print(f"  {f}: {note}", markup=False, highlight=False)
    elif late.height:
        console.print(
            f"  {late.height} factors start after the first rebalance date (warm-up); their "
            "periods without values are left out of every metric (column note of bt_summary)",
            markup=False,
            highlight=False,
        )


def print_long_groups(ev, factors: list[str], last: int = 6) -> None:
    """The long group's assets at the last rebalances (industry runs; Huaan table 16)."""
    m = ev.members.filter(pl.col("leg") == "long")
    if m.height == 0 or m.group_by("date", "factor").len()["len"].max() > 12:
        return
    table = Table(
        title=f"Long group at the last {last} rebalances (cf. Huaan 2024-12 table 16)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("rebalance", no_wrap=True)
    dates = sorted(set(m["date"].to_list()))[-last:]
    for f in factors:
        table.add_column(escape(f))
    cells = {
        (d, f): "、".join(sorted(a))
        for d, f, a in m.group_by("date", "factor").agg(pl.col("asset")).iter_rows()
    }
    for d in dates:
        table.add_row(str(d), *[escape(cells.get((d, f), "")) for f in factors])
    print_table(table)


def min_passive_note(params: dict) -> str:
    q = params.get("min_passive")
    return "" if q is None else f" (w_passive ≥ its {q:g} quantile)"


def print_backtest(
    ev, params: dict, run_id: str, *, max_factors: int = 60, yearly_filter=None
) -> None:
    summary = ev.summary.head(max_factors)
    print_table(
        summary_table(
            summary,
            title=f"{params.get('level')} factors: {params.get('groups')} groups, rebalance "
            f"{params.get('rebalance')}, lag {params.get('lag')}, universe "
            f"{params.get('universe')}{min_passive_note(params)}, benchmark "
            f"{params.get('benchmark', 'equal_weight')}, direction "
            f"{params.get('direction', 'auto')}, processing {params.get('processing') or 'none'}",
        )
    )
    print_notes(summary)
    print_long_groups(ev, summary["factor"].to_list()[:3])
    keep = summary["factor"].to_list()
    if yearly_filter is not None:
        keep = [f for f in keep if f in set(yearly_filter)] or keep
    yearly = ev.yearly.filter(pl.col("factor").is_in(keep))
    print_table(yearly_table(yearly, "rank_ic", title="Rank IC per year"))
    print_table(
        yearly_table(
            yearly,
            "excess_compounded",
            title="Long excess per year, compounded (超额 复利: per-period excess compounded)",
        )
    )
    print_table(
        yearly_table(
            yearly,
            "excess_arithmetic",
            title="Long excess per year, arithmetic (超额收益率 算术: long return − benchmark "
            "return, cf. Huaan 2024-12, table 59)",
        )
    )
    if ev.summary.height > max_factors:
        console.print(f"... and {ev.summary.height - max_factors} more factors in the store")


def print_run(run: BacktestRun) -> None:
    print_backtest(run.evaluation, run.params, run.run_id)
    s = run.seconds
    console.print(
        f"evaluated {run.evaluation.summary.height} factors in {s.get('evaluate', 0):.2f} s; "
        f"stored run [bold]{run.run_id}[/] in {escape(str(run.store))} (tables bt_summary, "
        "bt_yearly, bt_ic, bt_groups, bt_nav, bt_group_summary, bt_periods)"
    )
    if run.export:
        console.print(
            f"exported ic.parquet, groups.parquet, summary.parquet to {escape(str(run.export))}"
        )
    if run.html:
        console.print(f"HTML report: {escape(str(run.html))}")


def backtest_cmd(
    store: Annotated[Path, typer.Option(help="DuckDB store with a factor run.", dir_okay=False)] = (
        Path(DEFAULT_STORE)
    ),
    factors: Annotated[str, typer.Option(help="all, or comma-separated factor names.")] = "all",
    level: Annotated[str, typer.Option(help=f"Level: {', '.join(LEVELS)}.")] = "stock",
    run: Annotated[
        str | None, typer.Option(help="Factor run id (default: the latest at --level).")
    ] = None,
    groups: Annotated[
        int | None, typer.Option(help="Quantile groups (default 10 stocks, 5 industries).")
    ] = None,
    direction: Annotated[
        str,
        typer.Option(
            help="auto (sign of the whole-sample mean Rank IC, in sample), rolling (each "
            "period: sign of the mean Rank IC of the periods already completed, out of "
            "sample), default (registry), 1 or -1."
        ),
    ] = "auto",
    rebalance: Annotated[str, typer.Option(help="Trading days between rebalances, or month.")] = (
        "20"
    ),
    lag: Annotated[int, typer.Option(help="Days from signal to trade (0 or 1).")] = 1,
    universe: Annotated[
        str,
        typer.Option(
            help="default (listing age, ST, suspension and price limits; "
            "docs/methodology.md#51-universe-and-trading-rules), none (every stock, no rules), "
            "industry_cap_top25 / industry_cap_top50 (largest quarter / half of each level-1 "
            "industry by float cap, default rules inside) or market_cap_top25."
        ),
    ] = "default",
    cost: Annotated[float, typer.Option(help="Cost in bps per side on turnover.")] = 0.0,
    min_passive: Annotated[
        float | None,
        typer.Option(
            "--min-passive",
            help="Quantile Q in [0, 1): on each signal day drop the stocks whose passive "
            "holding share w_passive is below the day's Q-quantile (universe and benchmark; "
            "stock level).",
        ),
    ] = None,
    benchmark: Annotated[
        str,
        typer.Option(
            help="equal_weight (the universe's equal weight) or an index code of the "
            "dataset's index_daily, e.g. 000300.SH (CSI 300), 000905.SH (CSI 500).",
        ),
    ] = "equal_weight",
    members: Annotated[
        bool,
        typer.Option(
            "--members",
            help="Store the long and short groups' stocks of every rebalance (bt_members); "
            "industry runs always store them.",
        ),
    ] = False,
    export: Annotated[
        Path | None, typer.Option(help="Folder for ic/groups/summary Parquet files.")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Write an HTML report here.")] = None,
    wide: Annotated[bool, typer.Option("--wide", help=WIDE_HELP)] = False,
) -> None:
    """Decile / quintile backtests and the IC suite of stored factors.

    Definitions: docs/methodology.md#5-backtests.
    """
    set_wide(wide)
    if rebalance != "month" and not rebalance.isdigit():
        raise typer.BadParameter("a number of trading days or 'month'", param_hint="--rebalance")
    if direction not in ("auto", "rolling", "default", "1", "-1", "+1"):
        raise typer.BadParameter("auto, rolling, default, 1 or -1", param_hint="--direction")
    check_store_path(store, create=False)  # reads a factor run first: never creates a store
    # the backtest's kernels: trading-rule masks, then the backtest engine (no look-through)
    with compute_session(needs=("etfflow.engine.universe", "etfflow.backtest")) as progress:
        result = run_backtest(
            store,
            factor_run=run,
            level=level,
            factors=factors,
            groups=groups,
            direction=(
                direction if direction in ("auto", "rolling", "default") else int(direction)
            ),
            rebalance="month" if rebalance == "month" else int(rebalance),
            lag=lag,
            universe=universe,
            cost_bps=cost,
            min_passive=min_passive,
            benchmark=benchmark,
            members=True if members else None,
            export=export,
            html=html,
            progress=progress,
        )
    print_run(result)


def report_cmd(
    run: Annotated[str, typer.Option(help="Backtest run id (see the runs table).")],
    store: Annotated[Path, typer.Option(help="DuckDB store.", dir_okay=False)] = (
        Path(DEFAULT_STORE)
    ),
    html: Annotated[Path | None, typer.Option(help="Write an HTML report here.")] = None,
    png: Annotated[
        Path | None,
        typer.Option(help="Save one factor's tear sheet (matplotlib) to this PNG.", dir_okay=False),
    ] = None,
    factor: Annotated[
        str | None,
        typer.Option(help="Factor of the --png tear sheet (default: the first with values)."),
    ] = None,
    wide: Annotated[bool, typer.Option("--wide", help=WIDE_HELP)] = False,
) -> None:
    """Print a stored backtest's tables; optionally write its HTML report and a PNG tear sheet."""
    set_wide(wide)
    with open_store(store, read_only=True, create=False) as st:
        ev, row = load_evaluation(st, run)
    print_backtest(ev, row["params"], run)
    if html:
        page = write_report(ev, html, run_id=run, params=row["params"], pool=row["pool"])
        console.print(f"HTML report: {escape(str(page))}")
    if png:
        from etfflow.backtest.report import write_png

        console.print(f"PNG: {escape(str(write_png(ev, png, factor=factor)))}")


def ts_corr_table(df: pl.DataFrame, *, title: str) -> Table:
    """Metric × year cells ``mean ρ (share positive)`` of a time-series rank correlation
    (docs/methodology.md#512-time-series-rank-correlation-of-industry-flows)."""
    table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("metric", no_wrap=True)
    years: list[int | None] = sorted(y for y in df["year"].unique().to_list() if y is not None)
    if df["year"].null_count():
        years.append(None)  # the whole period
    for y in years:
        table.add_column("whole" if y is None else str(y), justify="right")
    for metric in df["metric"].unique(maintain_order=True).to_list():
        rows = {r["year"]: r for r in df.filter(pl.col("metric") == metric).iter_rows(named=True)}
        cells = []
        for y in years:
            r = rows.get(y)
            if r is None or r["mean_corr"] is None or math.isnan(r["mean_corr"]):
                cells.append("—")
            else:
                cells.append(f"{_cell(r['mean_corr'], True, 1)} ({100 * r['share_positive']:.0f}%)")
        table.add_row(escape(metric), *cells)
    return table


def tscorr_cmd(
    store: Annotated[Path, typer.Option(help="DuckDB store.", dir_okay=False)] = (
        Path(DEFAULT_STORE)
    ),
    run: Annotated[
        str | None, typer.Option(help="Factor run id (default: the latest at --level).")
    ] = None,
    level: Annotated[
        str,
        typer.Option(
            help="industry_l1 or industry_l2 (one series per industry), or stock (one per "
            "stock, summarised within each board: Huaan table 43)."
        ),
    ] = "industry_l1",
    horizon: Annotated[int, typer.Option(help="Trading days of the forward return.")] = 20,
    metrics: Annotated[
        str | None,
        typer.Option(help="Comma-separated flow metrics (default: Huaan table 10's six)."),
    ] = None,
    merge_main: Annotated[
        bool,
        typer.Option(
            "--merge-main", help="Stock level: count the SH and SZ main boards as one (MAIN)."
        ),
    ] = False,
    export: Annotated[
        Path | None, typer.Option(help="Also write the table to this Parquet file.", dir_okay=False)
    ] = None,
) -> None:
    """Flows vs the next HORIZON-day return: per metric, year and the whole period, the mean
    time-series Rank IC across industries (or across the stocks of each board) and the share
    positive (docs/methodology.md#512-time-series-rank-correlation-of-industry-flows)."""
    from etfflow.pipeline.runs import write_parquet_atomic

    names = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    df, row = run_ts_corr(
        store, factor_run=run, level=level, horizon=horizon, metrics=names, merge_main=merge_main
    )
    where = f"factor run {row['run_id']}, pool {row['pool']}"
    if "board" not in df.columns:
        title = (
            f"Industry flows vs the next {horizon}-day return ({where}): mean time-series "
            "Rank IC across industries (share positive)"
        )
        print_table(ts_corr_table(df, title=title))
    for board in df["board"].unique(maintain_order=True).to_list() if "board" in df.columns else []:
        title = (
            f"Board {board}: stock flows vs the next {horizon}-day return ({where}): mean "
            "time-series Rank IC across the board's stocks (share positive; Huaan table 43)"
        )
        print_table(ts_corr_table(df.filter(pl.col("board") == board).drop("board"), title=title))
    if export is not None:
        console.print(f"exported {escape(str(write_parquet_atomic(df, export)))}")

"""``etfflow demo``: the main job end to end on the embedded synthetic market."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from etfflow.cli._ui import (
    WIDE_HELP,
    compute_session,
    console,
    coverage_table,
    print_table,
    set_wide,
)
from etfflow.cli.backtest import print_backtest, ts_corr_table
from etfflow.cli.factors import print_factor_run
from etfflow.cli.lookthrough import print_summary
from etfflow.cli.rotation import print_rotation
from etfflow.data_samples import SIZES
from etfflow.engine.pools import POOL_NAMES
from etfflow.engine.store import DEFAULT_STORE, check_store_path
from etfflow.pipeline.demo import HEADLINE, default_market_dir, run_demo


def demo(
    size: Annotated[str, typer.Option(help=f"Market size: {', '.join(SIZES)}.")] = "small",
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic market.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Market folder (default etfflow_data/<size>_seed<seed>).", file_okay=False
        ),
    ] = None,
    store: Annotated[Path, typer.Option(help="DuckDB result store.", dir_okay=False)] = Path(
        DEFAULT_STORE
    ),
    pool: Annotated[
        str,
        typer.Option(help=f"ETF pool of the look-through and factors: {', '.join(POOL_NAMES)}."),
    ] = "all",
    wide: Annotated[bool, typer.Option("--wide", help=WIDE_HELP)] = False,
) -> None:
    """Synthetic market end to end: look-through, factors, decile and quintile backtests, report."""
    set_wide(wide)
    if size not in SIZES:
        raise typer.BadParameter(f"choose one of {', '.join(SIZES)}", param_hint="--size")
    out = out or default_market_dir(size, seed)
    check_store_path(store, create=True)  # before the progress bar: a clean error
    with compute_session() as progress:
        d = run_demo(size=size, seed=seed, out=out, store=store, pool=pool, progress=progress)
    verb = "generated" if d.generated else "using"
    console.print(f"{verb} the {size} market (seed {seed}) at {escape(str(out))}")
    run, frun, irun = d.lookthrough, d.stock, d.industry
    bt, ibt = d.stock_backtest, d.industry_backtest
    rep = run.validation
    if rep is not None:
        console.print(f"validation: {len(rep.errors)} errors, {len(rep.warnings)} warning(s)")
    print_summary(run.result)
    cov = run.result.coverage
    print_table(
        coverage_table(
            cov,
            "industry_l1",
            title="Passive coverage of CITIC level-1 industries (cf. Huaan 2024-12, table 9)",
        )
    )
    print_table(coverage_table(cov, "board", title="By board (cf. Huaan 2024-12, tables 41–42)"))
    print_table(
        coverage_table(
            cov,
            "cap_quintile",
            title="By float-cap quintile (Q1 smallest; cf. Huaan 2024-12, tables 32–33)",
        )
    )
    print_factor_run(frun)
    console.print(
        f"industry factor run {irun.run_id}: {len(irun.factors.names)} factors at level "
        f"{irun.factors.level}, processing: {escape(irun.factors.processing)}"
        + (" (raw factor values)" if irun.factors.processing == "none" else ""),
        highlight=False,
    )
    console.print(
        "\n[bold]Decile backtests of the stock factors[/] (docs/methodology.md#5-backtests)"
    )
    print_backtest(bt.evaluation, bt.params, bt.run_id, yearly_filter=HEADLINE)
    console.print("\n[bold]Quintile backtests of the CITIC level-1 industry factors[/]")
    print_backtest(ibt.evaluation, ibt.params, ibt.run_id, yearly_filter=HEADLINE)
    print_table(
        ts_corr_table(
            d.flow_ts_corr,
            title="Industry flows vs the next 20-day return: mean time-series Rank IC across "
            "industries (share positive), per year (cf. Huaan 2024-12, table 10)",
        )
    )
    console.print(
        "\n[bold]Industry rotation from ETF flows[/] (Huafu 2026-02; "
        "docs/methodology.md#8-industry-rotation)"
    )
    print_rotation(d.rotation.result)
    if d.compacted is not None:
        before, after = d.compacted
        console.print(
            f"compacted {escape(str(store))} (replaced runs): {before / 1e6:,.1f} MB -> "
            f"{after / 1e6:,.1f} MB"
        )
    console.print(
        f"\nresults in {escape(str(run.store))}: look-through run [bold]{run.run_id}[/] "
        f"(tables stock_flow, group_flow, coverage), factor runs [bold]{frun.run_id}[/] "
        f"(stock) and [bold]{irun.run_id}[/] (industry; tables factor_values, factor_defs), "
        f"backtest runs [bold]{bt.run_id}[/] and [bold]{ibt.run_id}[/] (tables bt_*), rotation "
        f"run [bold]{d.rotation.run_id}[/] (tables rot_*); "
        "every run is listed in table runs. Query them with SQL (`etfflow sql`, or the "
        "duckdb shell >= 1.0), e.g.\n"
        f'  etfflow sql --store {escape(str(run.store))} "SELECT factor, rank_ic, '
        f"long_excess_ann FROM bt_summary WHERE run_id = '{bt.run_id}' ORDER BY rank_ic\"\n"
        f"HTML reports: {escape(str(bt.html))} and {escape(str(ibt.html))} (charts of the "
        f"{len(HEADLINE)} headline factors, tables of all; every factor's charts: etfflow report "
        f"--store {escape(str(run.store))} --run {bt.run_id} --html FILE); rotation report: "
        f"{escape(str(d.rotation.html))}\n"
        f"done in {d.seconds:.1f} s"
    )

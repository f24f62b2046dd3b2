"""``etfflow demo``: the main job end to end on the embedded synthetic market."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from etfflow.cli._ui import WIDE_HELP, console, coverage_table, print_table, progress_bar, set_wide
from etfflow.cli.backtest import print_backtest, ts_corr_table
from etfflow.cli.factors import STANDARD_PROCESSING, print_factor_run
from etfflow.cli.lookthrough import print_summary
from etfflow.data_samples import SIZES, generate_market
from etfflow.engine.loading import MANIFEST, open_dataset
from etfflow.engine.market import load_market
from etfflow.engine.pools import Pool
from etfflow.engine.store import DEFAULT_STORE, check_store_path, compact_store
from etfflow.pipeline.backtest import flow_ts_corr, run_backtest
from etfflow.pipeline.runs import run_factors, run_lookthrough

#: Processing of the demo's stock factors (Huaan 2024-12 §3.3's standard: winsorise, fill,
#: z-score, industry + size neutralisation; docs/methodology.md#4-cross-sectional-processing),
#: the default of ``etfflow factors compute`` too.
DEMO_PROCESSING = STANDARD_PROCESSING["stock"]
#: Factors whose per-year tables the demo prints (all factors are in the store and reports).
HEADLINE = (
    "w_passive",
    "w_passive_chg_20",
    "w_passive_zs_20",
    "w_passive_inflow_20",
    "mv_passive_chg_20",
    "passive_slope_20",
    "passive_beta_20",
    "revs_20",
    "mom_12m",
)


def _have_market(out: Path, size: str, seed: int) -> bool:
    if not (out / MANIFEST).is_file():
        return False
    m = open_dataset(out, require_holdings=False).manifest
    return m.get("size") == size and m.get("seed") == seed


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
    wide: Annotated[bool, typer.Option("--wide", help=WIDE_HELP)] = False,
) -> None:
    """Synthetic market end to end: look-through, factors, decile and quintile backtests, report."""
    set_wide(wide)
    if size not in SIZES:
        raise typer.BadParameter(f"choose one of {', '.join(SIZES)}", param_hint="--size")
    out = out or Path("etfflow_data") / f"{size}_seed{seed}"
    check_store_path(store, create=True)  # before any work: a Parquet --store is refused
    # a re-run replaces its runs' rows, and DuckDB keeps the space of deleted rows: compact
    rerun = Path(store).is_file() and Path(store).stat().st_size > 0
    t0 = time.perf_counter()
    with progress_bar() as progress:
        if _have_market(out, size, seed):
            console.print(f"using the {size} market (seed {seed}) at {escape(str(out))}")
        else:
            generate_market(out, size=size, seed=seed, progress=progress)
            console.print(f"generated the {size} market (seed {seed}) at {escape(str(out))}")
        run = run_lookthrough(out, pool=Pool.all(), store=store, progress=progress)
        market = load_market(open_dataset(out))
        common = {"pool": Pool.all(), "store": store, "lookthrough": run, "market": market}
        frun = run_factors(out, process=DEMO_PROCESSING, progress=progress, **common)
        irun = run_factors(
            out,
            level="industry_l1",
            process=STANDARD_PROCESSING["industry_l1"],
            progress=progress,
            **common,
        )
        html = Path(store).parent / "etfflow_report_stock.html"
        ihtml = Path(store).parent / "etfflow_report_industry.html"
        bt = run_backtest(
            store, factor_run=frun.run_id, market=market, html=html, progress=progress
        )
        ibt = run_backtest(
            store, factor_run=irun.run_id, market=market, html=ihtml, progress=progress
        )
        if rerun:
            progress("compact store", 0, 1)
            size_before, size_after = compact_store(store)
            progress("compact store", 1, 1)
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
            flow_ts_corr(irun.factors),
            title="Industry flows vs the next 20-day return: mean time-series Rank IC across "
            "industries (share positive), per year (cf. Huaan 2024-12, table 10)",
        )
    )
    if rerun:
        console.print(
            f"compacted {escape(str(store))} (replaced runs): {size_before / 1e6:,.1f} MB -> "
            f"{size_after / 1e6:,.1f} MB"
        )
    console.print(
        f"\nresults in {escape(str(run.store))}: look-through run [bold]{run.run_id}[/] "
        f"(tables stock_flow, group_flow, coverage), factor runs [bold]{frun.run_id}[/] "
        f"(stock) and [bold]{irun.run_id}[/] (industry; tables factor_values, factor_defs), "
        f"backtest runs [bold]{bt.run_id}[/] and [bold]{ibt.run_id}[/] (tables bt_*); "
        "every run is listed in table runs. Query them with SQL (`etfflow sql`, or the "
        "duckdb shell >= 1.0), e.g.\n"
        f'  etfflow sql --store {escape(str(run.store))} "SELECT factor, rank_ic, '
        f"long_excess_ann FROM bt_summary WHERE run_id = '{bt.run_id}' ORDER BY rank_ic\"\n"
        f"HTML reports: {escape(str(bt.html))} and {escape(str(ibt.html))}\n"
        f"done in {time.perf_counter() - t0:.1f} s"
    )

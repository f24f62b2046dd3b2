"""``etfflow factors list|compute``: the factor registry and factor runs into the store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import numpy as np
import polars as pl
import typer
from rich.markup import escape
from rich.table import Table

from etfflow.cli._ui import CheckOption, HtmlOption, compute_session, console, print_table, render
from etfflow.cli.lookthrough import make_pool
from etfflow.engine.pools import POOL_NAMES
from etfflow.engine.store import DEFAULT_STORE, check_store_path
from etfflow.factors.compute import FactorSet
from etfflow.factors.inputs import LEVELS
from etfflow.factors.registry import registry
from etfflow.pipeline.runs import FactorRun, processing_for, run_factors

app = typer.Typer(
    no_args_is_help=True, help="List and compute the factors (docs/methodology.md#3-factors)."
)


@app.command("list")
def list_cmd() -> None:
    """Every registered factor: name, formula, default direction, windows and warm-up."""
    table = Table(
        title="etfflow factors (definitions: docs/methodology.md#32-the-factor-families)",
        title_justify="left",
    )
    for col in ("factor", "formula", "dir", "windows", "lookback", "source"):
        table.add_column(col, justify="right" if col in ("dir", "lookback") else "left")
    for d in registry().values():
        ws = ",".join(map(str, d.windows)) if d.windows else "-"
        n0 = d.windows[0] if d.windows else None
        lb = f"{d.warmup(n0)}" + (f" (n={n0})" if n0 else "")
        table.add_row(
            escape(d.template), escape(d.formula), f"{d.direction:+d}", ws, lb, escape(d.source)
        )
    print_table(table)


def factor_summary(fs: FactorSet, *, max_rows: int = 60) -> Table:
    """Per factor: share of cells with a value, cross-sectional mean/std on the last date."""
    x = fs.inputs
    last = int(np.flatnonzero(x.present.any(axis=1))[-1]) if x.present.any() else 0
    table = Table(
        title=escape(
            f"{len(fs.names)} factors at level {fs.level} ({fs.processing}); "
            f"last date {x.calendar.dates[last]}"
        ),
        title_justify="left",
    )
    for col in ("factor", "filled", "last: mean", "last: std", "last: n", "ms"):
        table.add_column(col, justify="left" if col == "factor" else "right")
    n_present = max(int(x.present.sum()), 1)
    for name in fs.names[:max_rows]:
        v = fs.values[name]
        row = v[last]
        ok = np.isfinite(row)
        filled = np.isfinite(v).sum() / n_present
        table.add_row(
            escape(name),
            f"{filled:.1%}",
            f"{row[ok].mean():.4g}" if ok.any() else "",
            f"{row[ok].std(ddof=1):.4g}" if ok.sum() > 1 else "",
            f"{int(ok.sum()):,}",
            f"{1000 * fs.timings.get(name, 0.0):.0f}",
        )
    if len(fs.names) > max_rows:
        table.add_row(f"... {len(fs.names) - max_rows} more", "", "", "", "", "")
    return table


def print_factor_run(run: FactorRun) -> None:
    fs = run.factors
    print_table(factor_summary(fs))
    s = run.seconds
    console.print(
        f"computed {len(fs.names)} factors × {int(fs.inputs.present.sum()):,} "
        f"{'stock' if fs.level == 'stock' else 'industry'}-days in {s.get('compute', 0):.2f} s"
        + (f", processed in {s['process']:.2f} s" if "process" in s else "")
        + f", stored in {s.get('store', 0):.2f} s"
    )
    console.print(
        f"processing: {escape(fs.processing or 'none')}"
        + (" (raw factor values)" if fs.processing in (None, "none") else ""),
        highlight=False,
    )
    console.print(
        f"stored run [bold]{run.run_id}[/] in {escape(str(run.store))} "
        "(tables factor_values, factor_defs)"
    )
    if run.export:
        console.print(f"exported the wide factor table to {escape(str(run.export))}")


@app.command("compute")
def compute_cmd(
    data_dir: Annotated[Path, typer.Argument(help="Dataset folder.", exists=True, file_okay=False)],
    pool: Annotated[str, typer.Option(help=f"ETF pool: {', '.join(POOL_NAMES)}.")] = "all",
    etfs: Annotated[
        str | None, typer.Option(help="Comma-separated ETF codes (pool subset).")
    ] = None,
    level: Annotated[str, typer.Option(help=f"Level: {', '.join(LEVELS)}.")] = "stock",
    factors: Annotated[
        str, typer.Option(help="all, or comma-separated names or families (w_passive_zs).")
    ] = "all",
    windows: Annotated[
        str | None, typer.Option(help="Windows of the windowed factors, e.g. 20,40,60 (default).")
    ] = None,
    process: Annotated[
        str,
        typer.Option(
            help="Processing steps in order (docs/methodology.md#4-cross-sectional-processing): "
            "'standard' (the default, as in the demo: winsor,fill,zscore,neutralize for stocks, "
            "raw for industries), 'none' (raw values), or steps such as "
            "winsor,fill,zscore,neutralize (universe, winsor(k=5), fill(drop), "
            "neutralize(industry,log_cap,board), strip(revs_20))."
        ),
    ] = "standard",
    mode: Annotated[str, typer.Option(help="Look-through mode: pcf or weights.")] = "pcf",
    store: Annotated[Path, typer.Option(help="DuckDB result store.", dir_okay=False)] = Path(
        DEFAULT_STORE
    ),
    export: Annotated[
        Path | None,
        typer.Option(help="Also write the wide factor table to this Parquet file.", dir_okay=False),
    ] = None,
    check: CheckOption = True,
    min_passive: Annotated[
        float | None,
        typer.Option(
            "--min-passive",
            help="Industry levels: sum the industries over the stocks whose w_passive is at "
            "least the day's Q-quantile (Kaiyuan figure 16).",
        ),
    ] = None,
) -> None:
    """Look through a pool and compute factors at one level into the store."""
    if level not in LEVELS:
        raise typer.BadParameter(f"choose one of {', '.join(LEVELS)}", param_hint="--level")
    if mode not in ("pcf", "weights"):
        raise typer.BadParameter("choose pcf or weights", param_hint="--mode")
    try:
        ws = [int(w) for w in windows.split(",")] if windows else None
    except ValueError:
        raise typer.BadParameter("comma-separated integers", param_hint="--windows") from None
    check_store_path(store, create=True)  # before any work: a Parquet --store is refused
    with compute_session() as progress:
        run = run_factors(
            data_dir,
            pool=make_pool(pool, etfs, None),
            level=level,  # type: ignore[arg-type]
            factors=factors,
            windows=ws,
            process=processing_for(level, process),
            mode=mode,  # type: ignore[arg-type]
            store=store,
            export=export,
            check=check,
            min_passive=min_passive,
            progress=progress,
        )
    print_factor_run(run)


@app.command("beta")
def beta_cmd(
    data_dir: Annotated[Path, typer.Argument(help="Dataset folder.", exists=True, file_okay=False)],
    pool: Annotated[str, typer.Option(help=f"ETF pool: {', '.join(POOL_NAMES)}.")] = "all",
    mode: Annotated[str, typer.Option(help="Look-through mode: pcf or weights.")] = "pcf",
    window: Annotated[int, typer.Option(help="Regression window in trading days.", min=3)] = 20,
    date: Annotated[
        str | None, typer.Option(help="Day (YYYY-MM-DD; default: the last of the data).")
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(help="Write code, beta, r2 per stock to this Parquet file.", dir_okay=False),
    ] = None,
    html: HtmlOption = None,
) -> None:
    """passive_beta across stocks on one day: distribution and mean R² (Huaan table 55)."""
    from etfflow.pipeline.beta import run_beta_profile

    if mode not in ("pcf", "weights"):
        raise typer.BadParameter("choose pcf or weights", param_hint="--mode")
    try:
        day = dt.date.fromisoformat(date.strip()) if date else None
    except ValueError:
        raise typer.BadParameter(
            "a date YYYY-MM-DD, e.g. 2024-05-31", param_hint="--date"
        ) from None
    with compute_session() as progress:
        run = run_beta_profile(
            data_dir,
            pool=pool,
            mode=mode,  # type: ignore[arg-type]
            window=window,
            date=day,
            export=export,
            html=html,
            progress=progress,
        )
    p = run.profile
    s = p.summary
    print_table(
        render(
            pl.DataFrame({"statistic": list(s), "value": [_stat(k, v) for k, v in s.items()]}),
            title=f"passive_beta_{p.window} on {p.date}, pool {run.pool} "
            "(cf. Huaan 2024-12 table 55)",
        )
    )
    print_table(
        render(
            p.histogram(12),
            title="stocks per beta bin (tails in the end bins)",
            formats={"lo": lambda x: f"{x:.2f}", "hi": lambda x: f"{x:.2f}"},
        )
    )
    if run.export:
        console.print(f"exported {p.table.height:,} stocks to {escape(str(run.export))}")
    if run.html:
        console.print(f"wrote {escape(str(run.html))}")


def _stat(key: str, v: object) -> str:
    if v is None:
        return "–"
    if key == "share_positive":
        return f"{100 * float(v):.1f}%"  # type: ignore[arg-type]
    return f"{v:.3f}" if isinstance(v, float) else str(v)

"""``etfflow etfs``: the per ETF-day measures (AUM, HHI, top-10 weight, 20-day turnover)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from etfflow.cli._ui import (
    CheckOption,
    compute_session,
    console,
    fmt_num,
    fmt_pct,
    print_table,
    render,
)
from etfflow.pipeline.etfs import run_etfs


def _yi(x: float | None) -> str:
    return fmt_num(None if x is None else x / 1e8, 1)


def _ratio(x: float | None) -> str:
    return fmt_num(x, 4)


def etfs_cmd(
    data_dir: Annotated[Path, typer.Argument(help="Dataset folder.", exists=True, file_okay=False)],
    mode: Annotated[
        str, typer.Option(help="Basket weights of the concentration: pcf or weights.")
    ] = "pcf",
    export: Annotated[
        Path | None,
        typer.Option(
            help="Write the per ETF-day measures (date, etf_code, category, aum, hhi, "
            "top10_weight, turnover_20) to this Parquet file.",
            dir_okay=False,
        ),
    ] = None,
    quantile: Annotated[
        float, typer.Option(help="Quantile of the split thresholds shown (0.5: median).")
    ] = 0.5,
    check: CheckOption = True,
) -> None:
    """Per ETF and day: AUM, basket concentration (HHI, top-10 weight) and 20-day turnover.

    The measures that split the sub-pools concentration:high|low, turnover:high|low and
    aum:high|low (Kaiyuan 2024-09 §3, tables 7–9; docs/methodology.md, "ETF sub-pools").
    """
    if mode not in ("pcf", "weights"):
        raise typer.BadParameter("choose pcf or weights", param_hint="--mode")
    with compute_session() as progress:
        run = run_etfs(
            data_dir,
            mode=mode,  # type: ignore[arg-type]
            export=export,
            quantile=quantile,
            check=check,
            progress=progress,
        )
    s = run.summary
    fmts: dict[str, Any] = {
        "aum": _yi,
        "hhi": _ratio,
        "top10_weight": fmt_pct,
        "turnover_20": lambda x: fmt_pct(x, 2),
    }
    print_table(
        render(
            s.drop("date"),
            title=f"ETFs on {s['date'][0]}: count and medians (AUM 亿 CNY; {run.mode} baskets)",
            formats=fmts,
        )
    )
    t = run.thresholds
    print_table(
        render(
            t.select("split", "column", "threshold", "n_high", "n_low"),
            title=f"Sub-pool split at the {t['quantile'][0]:g} quantile on {s['date'][0]}",
            formats={"threshold": lambda x: "" if x is None else f"{x:.4g}"},
        )
    )
    console.print(f"{run.measures.height:,} ETF-days in {run.seconds:.2f} s")
    if run.export:
        console.print(f"exported the per ETF-day measures to {escape(str(run.export))}")

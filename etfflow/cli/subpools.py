"""``etfflow subpools``: the stock and industry flow factors of each ETF sub-pool side by side
(Kaiyuan 2024-09 tables 7–9)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from etfflow.cli._ui import (
    CheckOption,
    HtmlOption,
    compute_session,
    console,
    fmt_num,
    fmt_pct,
    print_table,
    render,
)
from etfflow.engine.pools import POOL_NAMES
from etfflow.engine.store import DEFAULT_STORE, check_store_path
from etfflow.pipeline.subpools import DEFAULT_POOLS, compare_pools, wide


def subpools_cmd(
    data_dir: Annotated[Path, typer.Argument(help="Dataset folder.", exists=True, file_okay=False)],
    pools: Annotated[
        str, typer.Option(help=f"Comma-separated pools among {', '.join(POOL_NAMES)}.")
    ] = ",".join(DEFAULT_POOLS),
    mode: Annotated[str, typer.Option(help="Look-through mode: pcf or weights.")] = "pcf",
    store: Annotated[Path, typer.Option(help="DuckDB result store.", dir_okay=False)] = Path(
        DEFAULT_STORE
    ),
    export: Annotated[
        Path | None,
        typer.Option(help="Write the comparison table to this Parquet file.", dir_okay=False),
    ] = None,
    html: HtmlOption = None,
    check: CheckOption = True,
) -> None:
    """Flow factors by ETF sub-pool: Rank IC, RankICIR and long-short side by side.

    For each pool: the stock factor w_passive_chg_20 (standard processing, deciles) and the
    level-1 industry factor w_passive_inflow_20 (raw, terciles), monthly, registered direction
    (Kaiyuan 2024-09 §3, tables 7–9; docs/methodology.md, "ETF sub-pools").
    """
    if mode not in ("pcf", "weights"):
        raise typer.BadParameter("choose pcf or weights", param_hint="--mode")
    check_store_path(store, create=True)
    with compute_session() as progress:
        run = compare_pools(
            data_dir,
            pools=pools,
            mode=mode,  # type: ignore[arg-type]
            store=store,
            export=export,
            html=html,
            check=check,
            progress=progress,
        )
    w = wide(run.table)
    pct = {c: (lambda x: fmt_pct(x, 2)) for c in ("stock_rank_ic", "industry_rank_ic")}
    icir = {c: (lambda x: fmt_num(x, 2)) for c in ("stock_rank_icir", "industry_rank_icir")}
    ls = {c: fmt_pct for c in ("stock_long_short", "industry_long_short")}
    print_table(
        render(
            w,
            title="ETF sub-pools: w_passive_chg_20 (stock, deciles) and w_passive_inflow_20 "
            "(level-1 industry, terciles); RankICIR annualised (cf. Kaiyuan 2024-09, tables 7–9)",
            formats={**pct, **icir, **ls},
            headers=[
                "pool",
                "stock Rank IC",
                "stock RankICIR",
                "stock L-S ann.",
                "industry Rank IC",
                "industry RankICIR",
                "industry L-S ann.",
            ],
        )
    )
    console.print(
        f"{w.height} pools, {run.table.height} backtests stored in {escape(str(run.store))} "
        f"in {run.seconds:.1f} s"
    )
    if run.export:
        console.print(f"exported the comparison to {escape(str(run.export))}")
    if run.html:
        console.print(f"wrote {escape(str(run.html))}")

"""``etfflow fetch``: download a provider's raw tables into a raw folder (one command per
source); ``etfflow import <source>`` then converts the raw folder into a dataset."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from etfflow.cli._ui import console, print_table, progress_bar, render
from etfflow.engine.adapters.tushare.client import DEFAULT_API_URL
from etfflow.engine.adapters.tushare.endpoints import BENCHMARK_INDICES, CATALOGUE, STYLE_INDICES

app = typer.Typer(no_args_is_help=True, help="Download raw provider data into a raw folder.")

TOKEN_ENV = "TUSHARE_TOKEN"


@app.command("tushare")
def tushare_cmd(
    start: Annotated[str, typer.Option(help="First day, YYYYMMDD.")],
    end: Annotated[str, typer.Option(help="Last day, YYYYMMDD (inclusive).")],
    raw: Annotated[
        Path,
        typer.Option(
            help="Raw folder (created; a re-run fetches only what is missing).", file_okay=False
        ),
    ],
    token: Annotated[
        str | None,
        typer.Option(help=f"Tushare token (default: the {TOKEN_ENV} environment variable)."),
    ] = None,
    api_url: Annotated[str, typer.Option(help="Tushare's HTTP API.")] = DEFAULT_API_URL,
    endpoints: Annotated[
        str | None,
        typer.Option(help=f"Comma-separated endpoints (default all): {', '.join(CATALOGUE)}."),
    ] = None,
    indices: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated index codes whose index_daily is fetched besides "
            f"{', '.join(dict.fromkeys((*STYLE_INDICES, *BENCHMARK_INDICES)))} (Tushare codes "
            "with suffix); 'tracked' adds every index tracked by an ETF.",
        ),
    ] = None,
) -> None:
    """Download Tushare Pro's endpoint tables for START..END into RAW (one Parquet file per
    request, in Tushare's fields and units), resumable and incremental."""
    from etfflow.engine.adapters.tushare.fetch import fetch_tushare

    tok = token or os.environ.get(TOKEN_ENV, "")  # missing: fetch_tushare says how to set it
    names = [n.strip() for n in endpoints.split(",") if n.strip()] if endpoints else None
    with progress_bar() as progress:
        s = fetch_tushare(
            raw,
            start=start,
            end=end,
            token=tok,
            api_url=api_url,
            progress=progress,
            endpoints=names,
            indices=[c for c in indices.split(",") if c.strip()] if indices else (),
        )
    print_table(render(s.table(), title=f"tushare {start}..{end}"))
    console.print(
        f"fetched {s.requests:,} requests ({s.skipped:,} already in the raw folder), "
        f"{s.calls:,} HTTP calls, {s.retries:,} retries, {s.trading_days:,} trading days, "
        f"into {escape(str(raw))}",
        highlight=False,
    )
    if s.deferred:
        console.print(
            f"not fetched per day: {', '.join(s.deferred)} (today: Tushare fills a day's "
            "tables in its evening; fetch it again tomorrow)",
            highlight=False,
        )

"""``etfflow study run|presets``: a grid of backtests from one study file (docs/studies.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from etfflow.cli import study_report
from etfflow.cli._ui import compute_session, console, print_table
from etfflow.cli.backtest import _cell
from etfflow.engine.store import DEFAULT_STORE, check_store_path
from etfflow.pipeline.study.presets import PRESETS, preset_study
from etfflow.pipeline.study.run import StudyRun, run_study
from etfflow.pipeline.study.spec import StudySpec, load_study

app = typer.Typer(
    no_args_is_help=True,
    help="Studies: a grid of backtests in one TOML file, run and stored (docs/studies.md).",
)

#: (bt_summary column, header, percent?) of the printed summary.
METRICS: tuple[tuple[str, str, bool], ...] = (
    ("rank_ic", "Rank IC", True),
    ("rank_icir", "Rank ICIR", False),
    ("long_short_ann_return", "L-S ann.", True),
)


def summary_table(run: StudyRun) -> Table:
    """One row per cell: the options that vary and the headline metrics."""
    keys = [c for c in run.summary.columns if c not in ("cell", *(m for m, _, _ in METRICS))]
    title = f"study {run.spec.name} ({run.study_id}): {len(run.cells)} cells" + (
        f" — {run.spec.description}" if run.spec.description else ""
    )
    table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("cell", justify="right", no_wrap=True)
    for k in keys:
        table.add_column(k)
    for _, head, _ in METRICS:
        table.add_column(head, justify="right")
    for row in run.summary.iter_rows(named=True):
        table.add_row(
            str(row["cell"]),
            *[escape(str(row[k])) for k in keys],
            *[_cell(row[m], pct) for m, _, pct in METRICS],
        )
    return table


def _spec(study: Path | None, preset: str | None, data: Path | None) -> StudySpec:
    if preset is not None:
        if study is not None:
            raise typer.BadParameter("give a STUDY.toml file or --preset NAME, not both")
        if data is None:
            raise typer.BadParameter("a preset needs --data DIR", param_hint="--data")
        return preset_study(preset, data=data)
    if study is None:
        raise typer.BadParameter("give a STUDY.toml file or --preset NAME")
    return load_study(study, data=data)


@app.command("run")
def run_cmd(
    study: Annotated[
        Path | None, typer.Argument(help="Study file (TOML).", exists=True, dir_okay=False)
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help=f"Run a preset instead: {', '.join(PRESETS)}.")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Dataset folder (a preset's data; overrides the file's data).", file_okay=False
        ),
    ] = None,
    store: Annotated[Path, typer.Option(help="DuckDB result store.", dir_okay=False)] = Path(
        DEFAULT_STORE
    ),
    executor: Annotated[
        str,
        typer.Option(
            help="Where cells run: local (a process pool on this machine, the default), "
            "serial (this process) or dask (a LocalCluster, or --cluster)."
        ),
    ] = "local",
    cluster: Annotated[
        str | None, typer.Option(help="Dask scheduler address tcp://HOST:PORT (dask executor).")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.", min=1)] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            help="Also write the comparison page (etfflow study report --html).", dir_okay=False
        ),
    ] = None,
) -> None:
    """Run every cell of a study (or a preset) and store it; print one row per cell."""
    spec = _spec(study, preset, data)  # every check of the file before any work
    check_store_path(store, create=True)
    with compute_session() as progress:
        run = run_study(
            spec,
            store=store,
            executor=executor,
            workers=workers,
            cluster=cluster,
            progress=progress,
        )
    print_table(summary_table(run))
    console.print(
        f"stored study [bold]{run.study_id}[/] in {escape(str(run.store))}: {len(run.cells)} "
        "backtest runs (tables bt_*, linked by study_cells)"
        + (f", rotation run {run.rotation_run}" if run.rotation_run else "")
    )
    if html is not None:
        page = study_report.add_html(html, store, study_id=run.study_id)
        console.print(f"wrote {escape(str(page))}")


@app.command("presets")
def presets_cmd() -> None:
    """The preset studies and the report tables each regenerates."""
    table = Table(title="etfflow study presets (docs/studies.md)", title_justify="left")
    table.add_column("preset", no_wrap=True)
    table.add_column("what it regenerates")
    for p in PRESETS.values():
        table.add_row(escape(p.name), escape(p.description))
    print_table(table)


app.command("report")(study_report.report_cmd)

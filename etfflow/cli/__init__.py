"""The ``etfflow`` command line (typer). Each command parses, calls one library function,
renders. Every user error (data contract, store, usage) goes to stderr with exit code 1."""

from __future__ import annotations

import logging

import typer

from etfflow.cli import (
    backtest,
    compare,
    coverage,
    data,
    demo,
    etfs,
    factors,
    fetch,
    importing,
    lookthrough,
    market,
    rotation,
    store,
    study,
    subpools,
    top,
)
from etfflow.cli._ui import EtfflowGroup

app = typer.Typer(
    name="etfflow",
    cls=EtfflowGroup,
    no_args_is_help=True,
    add_completion=False,
    help="ETF fund-flow look-through, factors and backtests for China A-shares.",
)
app.command("generate")(data.generate)
app.command("validate")(data.validate_cmd)
app.add_typer(fetch.app, name="fetch")
app.add_typer(importing.app, name="import")
app.command("penetrate")(lookthrough.penetrate_cmd)
app.command("demo")(demo.demo)
app.add_typer(factors.app, name="factors")
app.command("backtest")(backtest.backtest_cmd)
app.command("report")(backtest.report_cmd)
app.command("tscorr")(backtest.tscorr_cmd)
app.command("top")(top.top_cmd)
app.command("rotation")(rotation.rotation_cmd)
app.command("market")(market.market_cmd)
app.command("coverage")(coverage.coverage_cmd)
app.command("compare")(compare.compare_cmd)
app.command("etfs")(etfs.etfs_cmd)
app.command("subpools")(subpools.subpools_cmd)
app.command("sql")(store.sql_cmd)
app.add_typer(store.app, name="store")
app.add_typer(study.app, name="study")


def main() -> None:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    app()

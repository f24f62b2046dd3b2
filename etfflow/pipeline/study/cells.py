"""The cells of a study: one backtest of one factor with every option filled, and the schema of
the store table ``study_cells`` that links each cell to its ordinary ``bt_*`` rows
(docs/studies.md, "Store layout")."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import polars as pl

#: ``study_cells``: one row per cell of a study, written in the same transaction as the cell's
#: backtest run (column ``run_id``).
STUDY_CELLS_SCHEMA: dict[str, pl.DataType] = {
    "study_id": pl.String(),
    "cell": pl.Int32(),
    "run_id": pl.String(),
    "factor": pl.String(),
    "pool": pl.String(),
    "mode": pl.String(),
    "level": pl.String(),
    "process": pl.String(),
    "groups": pl.Int32(),
    "rebalance": pl.String(),
    "direction": pl.String(),
    "lag": pl.Int32(),
    "universe": pl.String(),
    "cost_bps": pl.Float64(),
    "benchmark": pl.String(),
    "min_passive": pl.Float64(),
}

#: Options of a cell, in the order the grid is crossed (the first varies slowest).
CELL_FIELDS: tuple[str, ...] = (
    "pool",
    "mode",
    "level",
    "process",
    "factor",
    "groups",
    "rebalance",
    "direction",
    "lag",
    "universe",
    "cost_bps",
    "benchmark",
    "min_passive",
)


@dataclass(frozen=True)
class Cell:
    """One backtest of one factor, every option filled with its effective value.

    ``process`` is the processing actually applied (``describe`` of its steps, as stored in a
    factor run's ``processing``) or ``"none"``; ``universe`` is ``"all industries"`` at an
    industry level (the backtest applies no stock universe there); ``direction`` is
    ``auto``, ``default``, ``1`` or ``-1``.
    """

    pool: str
    mode: str
    level: str
    process: str
    factor: str
    groups: int
    rebalance: int | str
    direction: str
    lag: int
    universe: str
    cost_bps: float
    benchmark: str = "equal_weight"
    min_passive: float | None = None

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    def show(self, key: str) -> str:
        """An option as printed: the standard stock processing is ``standard``."""
        std = key == "process" and self.process == standard_processing(self.level)
        if std and self.process != "none":
            return "standard"
        return str(getattr(self, key))

    def label(self, keys: tuple[str, ...] | list[str]) -> str:
        """``pool=broad, factor=revs_20`` for the options named in ``keys``."""
        return ", ".join(f"{k}={self.show(k)}" for k in keys)


def standard_processing(level: str) -> str:
    """``describe`` of the standard processing at ``level`` (``none`` for industries)."""
    from etfflow.factors.processing_pipeline import describe
    from etfflow.pipeline.runs import STANDARD_PROCESSING

    return describe(STANDARD_PROCESSING.get(level) or "none")


def cell_row(study_id: str, i: int, cell: Cell, run_id: str) -> pl.DataFrame:
    """The ``study_cells`` row of cell ``i`` (numbered from 0 in the study's order)."""
    d = cell.as_dict()
    d.update(rebalance=str(cell.rebalance), direction=str(cell.direction))
    row = {"study_id": study_id, "cell": i, "run_id": run_id, **d}
    return pl.DataFrame([row], schema=STUDY_CELLS_SCHEMA)

"""The ``study_cells`` store table: one row per cell of a study, linking the cell's grid values
to its ordinary ``kind = 'backtest'`` run (``bt_*`` rows with the same ``run_id``)."""

from __future__ import annotations

import polars as pl

#: Columns of ``study_cells``: every option holds its effective value (defaults included);
#: ``process`` is the processing string actually applied or ``'none'``; ``rebalance`` is
#: e.g. ``'20'`` or ``'month'``.
STUDY_CELLS_SCHEMA = pl.Schema(
    {
        "study_id": pl.String,
        "cell": pl.Int32,
        "run_id": pl.String,
        "factor": pl.String,
        "pool": pl.String,
        "mode": pl.String,
        "level": pl.String,
        "process": pl.String,
        "groups": pl.Int32,
        "rebalance": pl.String,
        "direction": pl.String,
        "lag": pl.Int32,
        "universe": pl.String,
        "cost_bps": pl.Float64,
    }
)

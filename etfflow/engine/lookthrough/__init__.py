"""Look-through (penetration) of ETF holdings to stocks, daily, for a pool.

Definition: docs/methodology.md#2-look-through.

:func:`penetrate` reads the dataset lazily (projection and date-range predicate push-down on
``etf_pcf``, one chunk of days at a time), turns codes and dates into integer indices, and
scatter-adds every basket row into dense (day × stock) panels with a numba kernel
(:mod:`etfflow.engine.lookthrough.pcf_nb`). Each chunk's columns are copied Arrow chunk by Arrow
chunk into one set of NumPy buffers reused for every chunk
(:class:`~etfflow.engine.lookthrough.pcf.ChunkBuffers`): fresh
arrays per chunk would page-fault on every first touch, which costs more than the copy.
``diagnostics["stage_minor_faults"]`` counts the minor page faults of each stage beside
``diagnostics["stage_seconds"]``. A join-based formulation is what DuckDB and Polars
would run; the scatter-add reads each basket row once and needs no hash table (see
``benchmarks/bench_lookthrough.py`` for the measured comparison).

Weights mode uses that snapshots stay in force between snapshot dates: over a block of days
with the same snapshots, the stock panels are the sparse product ``(S·N | S | dS·N)[days ×
ETF] @ W[ETF × stock]`` (``W`` ≈ 150 stocks per ETF), summed per stock as vectors over the
block's days and written straight to the output rows (no dense panels, no scatter per ETF-day).
Outputs are built in (date, code) row order: when ``stock_daily`` is stored in that order
(checked), its ``date`` and ``float_mcap`` columns are the output's as they are.

Choices where the reports are silent, stated here once (the full list:
docs/methodology.md#7-choices-where-the-reports-are-silent):

- PCF mode: an ETF with an ``etf_daily`` row on ``t`` but no basket dated ``t`` carries its
  latest earlier basket (as-of, never back-filled); the count is in ``diagnostics``.
- Basket rows of a stock without a ``stock_daily`` row on ``t`` cannot be priced and are left
  out of the weights (counted). Weight snapshots are used as published (not renormalised).
- ``inflow`` uses the ETF's previous *row* as ``S[e,t-1]``: an ETF whose row is missing for
  a day compares with its last known shares rather than with zero.
- Weights mode: an ETF's own snapshot (``etf_code`` set) wins over its index's snapshot
  (``etf_code`` null, ``index_code`` set).
- An ETF whose ``etfs.creation_unit`` is null (unknown) is left out of the PCF look-through
  at basket valuation (``q·S/U·close`` divides by it), named and counted in ``diagnostics``;
  NAV valuation (``S·N·w``, ``w`` the basket's value shares) and the weights mode keep it.

Modules: :mod:`~etfflow.engine.lookthrough.api` (:func:`penetrate`, :class:`LookThrough`),
:mod:`~etfflow.engine.lookthrough.pcf` and :mod:`~etfflow.engine.lookthrough.weights` (the two
modes), :mod:`~etfflow.engine.lookthrough.tables` (output tables, :func:`coverage_stats`),
:mod:`~etfflow.engine.lookthrough.common` (ETF panels, output buffers); their numba kernels in
``common_nb``, ``pcf_nb`` and ``weights_nb``; the loop reference twin is
:mod:`etfflow.engine.lookthrough_ref`.
"""

from __future__ import annotations

from etfflow._common import Progress
from etfflow.engine.lookthrough.api import (
    DEFAULT_CHUNK_DAYS,
    LookThrough,
    Mode,
    counted_not_used,
    penetrate,
    unit_note,
)
from etfflow.engine.lookthrough.pcf import Valuation
from etfflow.engine.lookthrough.tables import COVERAGE_METRICS, coverage_stats
from etfflow.engine.lookthrough.weights import WEIGHTS_BLOCK_DAYS

look_through = penetrate

__all__ = [
    "COVERAGE_METRICS",
    "DEFAULT_CHUNK_DAYS",
    "WEIGHTS_BLOCK_DAYS",
    "LookThrough",
    "Mode",
    "Progress",
    "Valuation",
    "counted_not_used",
    "coverage_stats",
    "look_through",
    "penetrate",
    "unit_note",
]

"""Validate a dataset against the data contract (``schemas.TABLES``).

:func:`validate` checks every table of a :class:`~etfflow.engine.loading.Dataset` and returns a
:class:`ValidationReport`: errors (:class:`~etfflow.exceptions.DataContractError`, the data
breaks the contract) and warnings (:class:`ValidationIssue`, recoverable oddities that later
stages handle in a documented way). Nothing is dropped or fixed here: every offending row is
counted and up to five are shown.

The rules come from the declarations of :mod:`etfflow.engine.schemas` (one
:class:`~etfflow.engine.contract.Column` per column) and their names, messages and hints from
the catalogue :data:`etfflow.engine.contract.RULES`. Modules: ``report`` (public types and
the tally), ``lookups`` (code ranks, calendar, bitmaps), ``rules`` (row and key rules derived
from the declarations), ``tables`` (structure and table-level rules), this one (the pass).

One pass per table: a table is read once, in date ranges of about ``CHUNK_ROWS`` rows (only
its contract columns; the integer rank columns of its codes and dates are derived once per
chunk), and every rule's count is one boolean aggregate of a single ``select``. Example rows
are fetched only for rules that fail. Duplicate keys cost one comparison of each row's packed
integer key with the previous one when the chunk is in key order (as the synthetic market
writes it), a group-by otherwise.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from etfflow._common import Progress
from etfflow.engine import schemas as sc
from etfflow.engine.loading import Dataset
from etfflow.engine.validation import kernels
from etfflow.engine.validation.kernels import unsorted_keys
from etfflow.engine.validation.lookups import Context
from etfflow.engine.validation.report import Tally, ValidationIssue, ValidationReport
from etfflow.engine.validation.rules import Plan, duplicates, fmt_list, unsorted_count
from etfflow.engine.validation.tables import check_structure, plan
from etfflow.exceptions import EtfflowError

__all__ = ["ValidationIssue", "ValidationReport", "validate"]

log = logging.getLogger(__name__)

#: Rows per chunk when a table is read in date ranges (bounds memory: a chunk is held in
#: memory with its derived integer columns).
CHUNK_ROWS = 12_000_000
#: Below this many rows duplicate keys are found with a plain group-by (no sorted fast path).
SMALL_ROWS = 2_000_000


def _row_groups(files: list[Path], column: str) -> list[tuple[Any, Any, int, int]] | None:
    """(min, max, rows, nulls) of ``column`` per Parquet row group, from the footers only;
    None when a file lacks the column or its statistics."""
    out = []
    for f in files:
        md = pq.ParquetFile(f).metadata
        names = [md.schema.column(i).path for i in range(md.num_columns)]
        if column not in names:
            return None
        i = names.index(column)
        for j in range(md.num_row_groups):
            rg = md.row_group(j)
            st = rg.column(i).statistics
            if st is None or not st.has_null_count:
                return None
            if st.null_count == rg.num_rows:
                out.append((None, None, rg.num_rows, st.null_count))
            elif not st.has_min_max:
                return None
            else:
                out.append((st.min, st.max, rg.num_rows, st.null_count))
    return out


def _footer_chunks(lf: pl.LazyFrame, files: list[Path], column: str) -> list[pl.LazyFrame] | None:
    """Date ranges of about CHUNK_ROWS rows from the row-group statistics (no read), or None
    when the footers cannot bound them: statistics missing, row groups larger than a chunk,
    or row groups whose date ranges overlap (a file not in date order)."""
    groups = _row_groups(files, column)
    if groups is None or any(g[2] > CHUNK_ROWS for g in groups):
        return None
    dated = sorted((g for g in groups if g[0] is not None), key=lambda g: g[0])
    if any(b[0] < a[1] for a, b in itertools.pairwise(dated)):
        return None
    starts: list[Any] = []
    rows = 0
    for lo, _hi, n, _nulls in dated:
        if not starts or (rows + n > CHUNK_ROWS and lo > starts[-1]):
            starts.append(lo)
            rows = 0
        rows += n
    c = pl.col(column)
    out = [
        lf.filter((c >= lo) if i else c.is_not_null()).filter(
            (c < starts[i + 1]) if i + 1 < len(starts) else True
        )
        for i, lo in enumerate(starts)
    ]
    if any(g[3] for g in groups):
        out.append(lf.filter(c.is_null()))
    return out


def _chunks(
    lf: pl.LazyFrame, column: str | None, n_rows: int, files: list[Path]
) -> list[pl.LazyFrame]:
    """The table in date ranges of about CHUNK_ROWS rows (one chunk when small).

    Bounds come from the Parquet footers when they can (sorted files, the usual case), else
    from one pass counting the rows of each date."""
    if n_rows <= CHUNK_ROWS or column is None:
        return [lf]
    from_footers = _footer_chunks(lf, files, column)
    if from_footers is not None:
        return from_footers
    counts = lf.group_by(column).agg(pl.len().alias("n")).collect(engine="streaming")
    bounds = (
        counts.drop_nulls(column)
        .sort(column)
        .with_columns(g=(pl.col("n").cum_sum() - pl.col("n")) // CHUNK_ROWS)
        .group_by("g")
        .agg(pl.col(column).min().alias("lo"), pl.col(column).max().alias("hi"))
        .sort("g")
    )
    out = [lf.filter(pl.col(column).is_between(lo, hi)) for _, lo, hi in bounds.iter_rows()]
    if counts.filter(pl.col(column).is_null()).height:
        out.append(lf.filter(pl.col(column).is_null()))
    return out


def _unsorted(prepared: pl.DataFrame, p: Plan) -> int:
    """Rows not strictly after the previous one in key order (0 = sorted, unique keys)."""
    if p.packed is not None and len(p.packed) in (2, 3):  # key columns are rank arrays
        cols = [prepared[name].to_numpy() for name, _ in p.packed]
        sizes = [size for _, size in p.packed]
        if len(cols) == 2:
            cols.append(np.zeros(0, dtype=np.int32))
            sizes.append(1)
        return unsorted_keys(cols[0], cols[1], cols[2], sizes[1], sizes[2])
    assert p.order is not None
    return int(prepared.select(unsorted_count(p.order)).item())


def _validate_table(ctx: Context, table: str, tally: Tally, progress: Progress | None) -> None:
    t0 = time.perf_counter()
    if not check_structure(ctx, table, tally):
        return
    schema = ctx.structure(table).schema
    lf = ctx.ds.raw(table).select([c for c in sc.TABLES[table].columns if c in schema])
    n_rows = lf.select(pl.len()).collect().item()
    p, outcomes = plan(ctx, table, tally, big=n_rows > SMALL_ROWS)
    chunk_col = sc.TABLES[table].key[0]
    usable = sc.TABLES[table].columns[chunk_col] == pl.Date and ctx.usable(table, chunk_col)
    chunks = _chunks(lf, chunk_col if usable else None, n_rows, ctx.ds.files(table)) or [lf]
    if progress is not None:
        progress(table, 0, len(chunks))
    # the next chunk is read in a background thread while this one is checked (Polars and
    # the nogil kernels release the GIL): two chunks in memory at most
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = reader.submit(chunks[0].collect)
        for i in range(len(chunks)):
            df = pending.result()  # read once; every rule below runs on this frame
            if i + 1 < len(chunks):
                pending = reader.submit(chunks[i + 1].collect)
            arrays: dict[str, np.ndarray] = {}
            for name, fn in p.arrays.items():
                arrays[name] = fn(df, arrays)
            prepared = df.with_columns([pl.Series(n, a) for n, a in arrays.items()])
            if p.derived:
                prepared = prepared.with_columns(**p.derived)
            del df, arrays
            # one select of every rule's count; a null count is the column's metadata
            aggs = [
                r.flag.fill_null(False).sum().alias(f"__r{j}")
                for j, r in enumerate(p.rules)
                if r.null_of is None
            ]
            agg_counts = iter(prepared.select(aggs).row(0) if aggs else ())
            counts = [
                prepared[r.null_of].null_count() if r.null_of is not None else next(agg_counts)
                for r in p.rules
            ]
            for r, out, n in zip(p.rules, outcomes, counts, strict=True):
                if n and out.need() > 0:
                    out.add(
                        n, prepared.filter(r.flag.fill_null(False)).select(r.show).head(out.need())
                    )
                elif n:
                    out.add(n)
            if p.duplicates is not None:
                if p.order is None or _unsorted(prepared, p) > 0:  # not in key order: group by key
                    duplicates(prepared.lazy(), p, p.duplicates)
            for hook in p.chunk_hooks:
                hook(prepared)
            del prepared
            if progress is not None:
                progress(table, i + 1, len(chunks))
    for post in p.post_hooks:
        post()
    log.info("validated %s (%d rows) in %.2fs", table, n_rows, time.perf_counter() - t0)


def _check_arguments(dataset: Dataset, tables: Iterable[str] | None) -> list[str]:
    if not isinstance(dataset, Dataset):
        raise EtfflowError(
            f"validate() expects a Dataset (etfflow.engine.loading.open_dataset), got "
            f"{type(dataset).__name__}"
        )
    if tables is None:
        return [t for t in sc.TABLES if dataset.has(t)]
    wanted = [tables] if isinstance(tables, str) else list(tables)
    unknown = [t for t in wanted if t not in sc.TABLES]
    if unknown:
        raise EtfflowError(
            f"unknown table(s) {fmt_list(unknown)}; the contract has {fmt_list(sc.TABLES)}"
        )
    absent = [t for t in wanted if not dataset.has(t)]
    if absent:
        log.info("tables not in the dataset, not validated: %s", fmt_list(absent))
    return [t for t in sc.TABLES if t in wanted and dataset.has(t)]


def validate(
    dataset: Dataset,
    *,
    tables: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> ValidationReport:
    """Check a dataset against the data contract.

    Parameters
    ----------
    dataset
        From :func:`etfflow.engine.loading.open_dataset`.
    tables
        Validate only these tables (default: every contract table present). Reference data
        (``stocks`` codes, the ``stock_daily`` calendar, ...) is still read to check the
        selected tables.
    progress
        Called as ``progress(table, done, total)`` before and after each chunk of each table.

    Returns
    -------
    ValidationReport
        ``errors`` (:class:`~etfflow.exceptions.DataContractError`), ``warnings``
        (:class:`ValidationIssue`) and ``summary()``; call ``raise_for_errors()`` to fail.

    Raises
    ------
    EtfflowError
        When ``tables`` names a table that is not part of the contract.

    Notes
    -----
    Errors: missing required column (for ``holding_weights`` one of etf_code/index_code), wrong
    dtype, files of a folder table with different schemas, nulls in required columns
    (``etfs.creation_unit`` may be null: unknown), duplicate keys, negative or non-finite
    prices/money/shares/quantities/weights (``creation_unit`` null or > 0, ``ret`` finite),
    weight snapshots not summing to 1 within ``WEIGHT_SUM_TOL``, codes unknown to
    ``stocks``/``etfs``/``active_funds``, stock_daily dates on weekends, dates of ``etf_daily``,
    ``etf_pcf``, ``holding_weights``, ``index_daily``, ``fund_nav`` that are not ``stock_daily``
    dates, ``delist_date < list_date``, ``end_date < start_date`` and overlapping industry
    intervals, values outside the enumerations (board, category, kind, cash_substitute),
    ``fund_issuance.month`` not a month start, ``disclose_date < report_date``.

    Warnings: stock-day with no industry in force, stock-day or ETF-day outside the listing
    dates, ETF-day with zero shares, zero-quantity / zero-weight components, PCF component
    with no stock_daily row that day, etf_daily ETF-day without a basket and basket without
    an etf_daily row.

    Each table is read once, in date ranges of about ``CHUNK_ROWS`` rows; codes and dates
    become integer ranks through the Categorical physical ids (no string join), and every
    rule's count is one boolean aggregate of a single ``select``. Duplicate keys cost one
    comparison of consecutive packed keys when a chunk is sorted by its key (as the
    synthetic market writes it) and a group-by otherwise. ``benchmarks/bench_validation.py``
    times it against the look-through on the same files.

    Examples
    --------
    >>> import tempfile
    >>> from etfflow.data_samples import generate_market
    >>> from etfflow.engine.loading import open_dataset
    >>> root = generate_market(tempfile.mkdtemp(), size="tiny", seed=0)
    >>> report = validate(open_dataset(root))
    >>> report.ok, len(report.warnings)
    (True, 0)
    >>> report.summary().columns
    ['table', 'column', 'rule', 'severity', 'count']
    >>> report.raise_for_errors()  # no error: returns None
    """
    names = _check_arguments(dataset, tables)
    ctx = Context(dataset)
    tally = Tally()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as background:
        warming = background.submit(kernels.warm_up)  # overlaps numba's set-up with reads
        for table in names:
            _validate_table(ctx, table, tally, progress)
        warming.result()
    report = tally.report()
    log.info(
        "validation of %s: %d errors, %d warnings in %.1fs",
        dataset.root,
        len(report.errors),
        len(report.warnings),
        time.perf_counter() - t0,
    )
    return report

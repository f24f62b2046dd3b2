"""Comparison tables of a stored study (``etfflow study report``; docs/studies.md).

A study is one ``kind = 'study'`` row of ``runs`` and one ``study_cells`` row per cell, each
cell an ordinary ``kind = 'backtest'`` run of ONE factor (:mod:`etfflow.pipeline.study.cells`).
:func:`read_study` reads the cells joined with their ``bt_summary`` row (by ``run_id`` and
``factor``) and their ``bt_yearly`` rows; the tables are built from that:

- :func:`metric_pivot`: a ``bt_summary`` metric by grid value, rows × columns among the keys
  that vary (RankICIR by pool × factor is Kaiyuan 2024-09 table 7);
- :func:`best_cells`: the top cells by a metric, with their grid values;
- :func:`year_stability`: per cell, a yearly metric (Rank IC, long-short return ...) per
  calendar year and the share of years whose sign matches the whole-period value.

Every function takes a store path (and a study id; default: the latest study) or what
:func:`read_study` returned, and returns a polars DataFrame; :func:`study_report` builds the
three at once for ``etfflow study report`` and its HTML page. Values are read, never
recomputed: a pivot cell is exactly the stored ``bt_summary`` value of its cell.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from etfflow.backtest.schemas import SUMMARY_SCHEMA, YEARLY_SCHEMA
from etfflow.engine.store import DEFAULT_STORE, Store, open_store
from etfflow.exceptions import EtfflowError, StoreError
from etfflow.pipeline.study.cells import STUDY_CELLS_SCHEMA, standard_processing

__all__ = [
    "CELL_KEYS",
    "METRICS",
    "STABILITY_METRICS",
    "YEARLY_METRICS",
    "StudyReport",
    "StudyResults",
    "best_cells",
    "list_studies",
    "metric_pivot",
    "pivot_keys",
    "read_study",
    "study_report",
    "year_stability",
]

#: The grid values of a cell (columns of ``study_cells`` besides its ids), in table order.
CELL_KEYS: tuple[str, ...] = tuple(
    c for c in STUDY_CELLS_SCHEMA if c not in ("study_id", "cell", "run_id")
)
#: Grid-file spellings of cell columns (``[grid] factors = [...]``, one factor per cell).
KEY_ALIASES: dict[str, str] = {"factors": "factor"}
#: ``bt_summary`` metrics a report can compare (:data:`~etfflow.backtest.schemas.SUMMARY_SCHEMA`).
METRICS: tuple[str, ...] = (
    *(c for c, t in SUMMARY_SCHEMA.items() if t == pl.Float64 and c != "cost_bps"),
    "n_periods",
)
#: IC statistics: their sign is the factor's direction, so the best cells are those with the
#: largest absolute value (the strongest signal either way).
SIGNED_STRENGTH: frozenset[str] = frozenset(
    {"rank_ic", "ic", "rank_icir", "icir", "rank_icir_annual", "icir_annual", "rank_ic_t_nw"}
)
#: Metrics where less is better (turnover costs). Drawdowns are stored as negative numbers
#: (``-0.12`` for a 12% fall): the largest, nearest 0, is the best as for other metrics.
LOWER_IS_BETTER: frozenset[str] = frozenset({"turnover"})
#: ``bt_yearly`` metric -> the ``bt_summary`` whole-period value its yearly signs are compared to.
YEARLY_METRICS: dict[str, str] = {
    "rank_ic": "rank_ic",
    "ic": "ic",
    "long_short_return": "long_short_ann_return",
    "excess_compounded": "long_excess_ann",
    "return": "long_ann_return",
}
DEFAULT_METRIC = "rank_icir"
#: The yearly metrics of a report's stability tables (Rank IC, long-short return).
STABILITY_METRICS: tuple[str, ...] = ("rank_ic", "long_short_return")


@dataclass(frozen=True)
class StudyResults:
    """A stored study: its ``runs`` row and its cells with their backtest results."""

    study_id: str
    run: dict  # the study's row of ``runs`` (``params`` decoded)
    cells: pl.DataFrame  # cell, run_id, CELL_KEYS, then the bt_summary columns; by cell
    yearly: pl.DataFrame  # cell, then the bt_yearly columns; by cell and year
    varying: tuple[str, ...]  # cell keys with more than one value, grid order first

    # ``process`` is ``standard`` where the cell used its level's standard processing

    @property
    def name(self) -> str:
        return str(self.run["params"].get("name") or self.study_id)


StudySource = str | Path | StudyResults


def list_studies(store: str | Path = DEFAULT_STORE) -> pl.DataFrame:
    """The studies of a store, oldest first: ``study_id, created_at, name, n_cells``."""
    with open_store(store, read_only=True, create=False) as st:
        return _studies(st)


def _studies(st: Store) -> pl.DataFrame:
    runs = st.runs().filter(pl.col("kind") == "study")
    params = [json.loads(p or "{}") for p in runs["params"].to_list()]
    return pl.DataFrame(
        {
            "study_id": runs["run_id"],
            "created_at": runs["created_at"],
            "name": [str(p.get("name") or "") for p in params],
            "n_cells": [p.get("n_cells") for p in params],
        },
        schema={
            "study_id": pl.String,
            "created_at": pl.Datetime("us"),
            "name": pl.String,
            "n_cells": pl.Int64,
        },
    )


def _unknown_study(study_id: str, studies: pl.DataFrame, path: object) -> EtfflowError:
    listed = ", ".join(
        f"{r['study_id']} ({r['name'] or 'unnamed'}, {r['n_cells']} cells)"
        for r in studies.iter_rows(named=True)
    )
    return EtfflowError(f"no study {study_id!r} in {path}: the store's studies are {listed}")


def read_study(store: str | Path = DEFAULT_STORE, *, study_id: str | None = None) -> StudyResults:
    """Read a study (``study_id``, default the latest) with its cells' results.

    Raises
    ------
    EtfflowError
        ``no store at ...`` (a reader never creates one), a store without studies, an unknown
        ``study_id`` (the message lists the store's studies), or a cell whose backtest rows
        are missing (the message names the cell and its run).
    """
    with open_store(store, read_only=True, create=False) as st:
        studies = _studies(st)
        if studies.height == 0:
            raise EtfflowError(
                f"no study in {st.path}: run one with `etfflow study run STUDY.toml --store "
                f"{st.path}`"
            )
        if study_id is None:
            study_id = studies["study_id"][-1]
        elif study_id not in studies["study_id"].to_list():
            raise _unknown_study(study_id, studies, st.path)
        run = st.run(study_id)
        if "study_cells" not in st.row_counts():
            raise StoreError(f"study {study_id} has no table study_cells in {st.path}")
        cells = st.table("study_cells")
        missing = [c for c in STUDY_CELLS_SCHEMA if c not in cells.columns]
        if missing:
            raise StoreError(
                f"table study_cells in {st.path} has no column {', '.join(missing)}: it was "
                "written by another etfflow version; re-run the study into a new --store"
            )
        cells = (
            cells.filter(pl.col("study_id") == study_id)
            .select(list(STUDY_CELLS_SCHEMA))
            .sort("cell")
        )
        ids = cells["run_id"].unique().to_list()
        summary = st.table("bt_summary").filter(pl.col("run_id").is_in(ids))
        yearly = st.table("bt_yearly").filter(pl.col("run_id").is_in(ids))
        where = st.path
    if cells.height == 0:
        raise StoreError(f"study {study_id} has no rows in table study_cells of {where}")
    keys = ["run_id", "factor"]
    joined = cells.join(summary, on=keys, how="left", coalesce=True)
    lost = joined.filter(pl.col("n_periods").is_null())
    if lost.height:
        r = lost.row(0, named=True)
        raise StoreError(
            f"table bt_summary of {where} has no row for {lost.height} cell(s) of study "
            f"{study_id}, e.g. cell {r['cell']} (run_id={r['run_id']!r}, factor={r['factor']!r})"
        )
    joined = _show_standard(joined.drop("study_id").sort("cell"))
    yr = (
        cells.select("cell", *keys)
        .join(yearly, on=keys, how="inner")
        .select("cell", *YEARLY_SCHEMA)
        .sort("cell", "year")
    )
    return StudyResults(study_id, run, joined, yr, _varying(joined, run["params"]))


def _show_standard(cells: pl.DataFrame) -> pl.DataFrame:
    """``process`` reads ``standard`` where it is the standard processing of the cell's level
    (as ``etfflow study run`` prints it), the stored steps otherwise."""
    std = {lv: standard_processing(lv) for lv in cells["level"].unique().to_list()}
    is_std = (pl.col("process") == pl.col("level").replace_strict(std)) & (
        pl.col("process") != "none"
    )
    return cells.with_columns(
        pl.when(is_std).then(pl.lit("standard")).otherwise(pl.col("process")).alias("process")
    )


def _varying(cells: pl.DataFrame, params: dict) -> tuple[str, ...]:
    """Keys with more than one value among the cells: the grid's order, then table order."""
    grid = [KEY_ALIASES.get(k, k) for k in params.get("grid_keys") or []]
    order = [k for k in grid if k in CELL_KEYS] + [k for k in CELL_KEYS if k not in grid]
    return tuple(k for k in order if cells[k].n_unique() > 1)


def _results(source: StudySource, study_id: str | None) -> StudyResults:
    if isinstance(source, StudyResults):
        if study_id is not None and study_id != source.study_id:
            raise EtfflowError(f"study {study_id!r} asked, {source.study_id!r} given")
        return source
    return read_study(Path(source), study_id=study_id)


def check_metric(metric: str, choices: Sequence[str] = METRICS) -> str:
    if metric not in choices:
        raise EtfflowError(f"unknown metric {metric!r}: choose one of {', '.join(choices)}")
    return metric


def check_key(key: str, res: StudyResults, *, option: str) -> str:
    """A row/column key: one of the keys that vary in this study (``factors`` = ``factor``)."""
    k = KEY_ALIASES.get(key, key)
    if k not in res.varying:
        vary = ", ".join(res.varying) or "none (the study has one cell)"
        raise EtfflowError(
            f"{option} {key!r} is not a key that varies in study {res.study_id}: choose one "
            f"of {vary}"
        )
    return k


def pivot_keys(
    res: StudyResults, rows: str | None = None, cols: str | None = None
) -> tuple[str | None, str | None]:
    """The row and column keys of :func:`metric_pivot` (each checked by :func:`check_key`).

    Defaults: rows are the first varying key other than ``factor`` and ``cols`` (else any
    other varying key); columns are ``factor`` when it varies and is not the row key, else the
    next varying key. None when nothing (more) varies.
    """
    c = check_key(cols, res, option="--cols") if cols else None
    r = check_key(rows, res, option="--rows") if rows else None
    if r is not None and r == c:
        raise EtfflowError(f"--rows and --cols are both {r!r}: choose two different keys")
    vary = res.varying
    if r is None:
        others = [k for k in vary if k != c]
        r = next((k for k in others if k != "factor"), others[0] if others else None)
    if c is None and cols is None:
        if "factor" in vary and r != "factor":
            c = "factor"
        else:
            c = next((k for k in vary if k != r), None)
    return r, c


def pivot_index(res: StudyResults, rows: str | None, cols: str | None) -> list[str]:
    """The row-key columns of a pivot: ``rows`` then the other varying keys; ``["cell"]``
    when nothing varies, ``["metric"]`` when only ``cols`` varies."""
    index = ([rows] if rows else []) + [k for k in res.varying if k not in (rows, cols)]
    if index:
        return index
    return ["cell"] if cols is None else ["metric"]


def _label(values: pl.Series) -> list[str]:
    return ["–" if v is None else (f"{v:g}" if isinstance(v, float) else str(v)) for v in values]


def metric_pivot(
    source: StudySource = DEFAULT_STORE,
    *,
    study_id: str | None = None,
    metric: str = DEFAULT_METRIC,
    rows: str | None = None,
    cols: str | None = None,
) -> pl.DataFrame:
    """A ``bt_summary`` metric by grid value: one row per value of ``rows`` (and of every
    other varying key, as extra row keys), one column per value of ``cols``.

    Rows and columns follow the cells' order (the grid's); a combination without a cell is
    null. Defaults: :func:`pivot_keys`. Grid values are shown as text. Each cell's value is
    its stored ``bt_summary`` value, unchanged.

    Raises
    ------
    EtfflowError
        An unknown metric or a key that does not vary (the message lists the choices), the
        same key for rows and columns, or two cells with the same grid values.

    Examples
    --------
    >>> cells = pl.DataFrame({"cell": [0, 1, 2, 3], "pool": ["all", "all", "broad", "broad"],
    ...                       "factor": ["a", "b", "a", "b"], "rank_icir": [0.1, 0.2, 0.3, 0.4]})
    >>> res = StudyResults("st-1", {"params": {}}, cells, pl.DataFrame(), ("pool", "factor"))
    >>> metric_pivot(res).rows()
    [('all', 0.1, 0.2), ('broad', 0.3, 0.4)]
    >>> metric_pivot(res, rows="factor").columns
    ['factor', 'all', 'broad']
    """
    res = _results(source, study_id)
    check_metric(metric)
    r, c = pivot_keys(res, rows, cols)
    index = pivot_index(res, r, c)
    df = res.cells
    keys = [k for k in [*index, c] if k in CELL_KEYS]
    labelled = df.select(
        "cell",
        *[pl.Series(k, _label(df[k]), dtype=pl.String) for k in keys],
        pl.col(metric).cast(pl.Float64),
    )
    dup = labelled.filter(pl.struct(keys).is_duplicated()) if keys else labelled.clear()
    if dup.height:
        raise EtfflowError(
            f"cells {', '.join(map(str, dup['cell'].head(5)))} of study {res.study_id} have the "
            "same grid values: their results cannot share a table cell"
        )
    if c is None:  # only the rows vary (or nothing: one row per cell)
        return labelled.select(*index, metric)
    if index == ["metric"]:  # only the columns vary: one row named after the metric
        labelled = labelled.with_columns(pl.lit(metric).alias("metric"))
    wide = labelled.drop("cell").pivot(on=c, index=index, values=metric, sort_columns=False)
    # rows grouped by the row keys, each key's values in the order the cells first have them
    order = [
        pl.col(k).replace_strict(
            {v: i for i, v in enumerate(labelled[k].unique(maintain_order=True))}
        )
        for k in index
    ]
    return wide.sort(order, maintain_order=True)


def uplift(pivot: pl.DataFrame, key: str) -> pl.DataFrame:
    """The uplift rows of a :func:`metric_pivot` whose row key ``key`` has exactly two
    values (e.g. ``process``: industry + size vs + board, Huaan 2024-12 table 45's 提升 row):
    for every combination of the other row keys, the second value's row minus the first's,
    labelled ``"<second> − <first>"``. Raises :class:`EtfflowError` when ``key`` is not a row
    key of the pivot or does not have two values.

    Examples
    --------
    >>> p = pl.DataFrame({"process": ["a", "b"], "f": [0.1, 0.25], "g": [0.3, 0.2]})
    >>> uplift(p, "process").rows()
    [('b − a', 0.15, -0.09999999999999998)]
    """
    if key not in pivot.columns:
        raise EtfflowError(f"uplift: {key!r} is not a row key of the table ({pivot.columns})")
    values = pivot[key].unique(maintain_order=True).to_list()
    if len(values) != 2:
        raise EtfflowError(
            f"uplift needs exactly two values of {key!r}, the study has {len(values)}: {values}"
        )
    first, second = values
    others = [c for c in pivot.columns if c != key and pivot.schema[c] == pl.String]
    numbers = [c for c in pivot.columns if c not in others and c != key]
    a = pivot.filter(pl.col(key) == first).drop(key)
    b = pivot.filter(pl.col(key) == second).drop(key)
    joined = (
        b.join(a, on=others, how="left", suffix="__first")
        if others
        else b.hstack(a.rename({c: f"{c}__first" for c in numbers}))
    )
    return joined.select(
        pl.lit(f"{second} − {first}").alias(key),
        *others,
        *[(pl.col(c) - pl.col(f"{c}__first")).alias(c) for c in numbers],
    )


def _best_order(metric: str, values: pl.Expr) -> tuple[pl.Expr, bool]:
    if metric in SIGNED_STRENGTH:
        return values.abs(), True
    return values, metric not in LOWER_IS_BETTER


#: Headline metrics shown beside the ranking metric in :func:`best_cells`.
HEADLINE: tuple[str, ...] = ("rank_ic", "rank_icir", "long_short_ann_return", "long_excess_ann")


def best_cells(
    source: StudySource = DEFAULT_STORE,
    *,
    study_id: str | None = None,
    metric: str = DEFAULT_METRIC,
    top: int = 10,
) -> pl.DataFrame:
    """The ``top`` cells by ``metric``: ``rank, cell, <varying keys>, <metric>`` then the
    headline metrics (:data:`HEADLINE`) and ``run_id``.

    Best is the largest value, except IC statistics (:data:`SIGNED_STRENGTH`: the largest
    absolute value, the factor's direction being its sign) and turnover
    (:data:`LOWER_IS_BETTER`: the smallest); drawdowns are negative, so the largest (nearest
    0) is the best. Cells without a value come last; equal values
    keep the cells' order.
    """
    res = _results(source, study_id)
    check_metric(metric)
    if top < 1:
        raise EtfflowError(f"--top must be at least 1, got {top}")
    key, descending = _best_order(metric, pl.col(metric).cast(pl.Float64))
    keys = list(res.varying) or ["factor"]
    extra = [m for m in HEADLINE if m != metric]
    out = (
        res.cells.with_columns(key.alias("_key"))
        .sort("_key", "cell", descending=[descending, False], nulls_last=True)
        .head(top)
        .select("cell", *keys, metric, *extra, "run_id")
    )
    return out.with_row_index("rank", offset=1).with_columns(pl.col("rank").cast(pl.Int32))


def year_stability(
    source: StudySource = DEFAULT_STORE,
    *,
    study_id: str | None = None,
    metric: str = "rank_ic",
) -> pl.DataFrame:
    """Per cell, a ``bt_yearly`` metric per calendar year and its sign stability.

    Columns: ``cell``, the varying keys, ``whole`` (the whole-period ``bt_summary`` value of
    :data:`YEARLY_METRICS`: the mean Rank IC, the annualised long-short return ...),
    ``n_years`` (years with a value), ``same_sign`` (share of those years whose value has
    the sign of ``whole``; null when ``whole`` is null or zero or no year has a value), then
    one column per year (``"2021"``, ...), null for a year without periods.
    """
    res = _results(source, study_id)
    check_metric(metric, tuple(YEARLY_METRICS))
    whole = YEARLY_METRICS[metric]
    keys = list(res.varying) or ["factor"]
    y = res.yearly.select("cell", "year", pl.col(metric).cast(pl.Float64).alias("v"))
    y = y.with_columns(pl.when(pl.col("v").is_nan()).then(None).otherwise(pl.col("v")).alias("v"))
    base = res.cells.select("cell", *keys, pl.col(whole).cast(pl.Float64).alias("whole"))
    sign = pl.col("whole").sign()
    stats = (
        y.join(base.select("cell", "whole"), on="cell")
        .group_by("cell")
        .agg(
            pl.col("v").count().cast(pl.Int32).alias("n_years"),
            (pl.col("v").sign() == sign).sum().cast(pl.Int32).alias("_same"),
        )
    )
    years = sorted(set(y["year"].to_list()))
    wide = (
        y.with_columns(pl.col("year").cast(pl.String))
        .pivot(on="year", index="cell", values="v", sort_columns=True)
        .select("cell", *[pl.col(str(yy)) for yy in years])
        if years
        else pl.DataFrame({"cell": res.cells["cell"]})
    )
    ok = pl.col("whole").is_not_null() & ~pl.col("whole").is_nan() & (pl.col("whole") != 0)
    share = pl.when(ok & (pl.col("n_years") > 0)).then(pl.col("_same") / pl.col("n_years"))
    return (
        base.join(stats, on="cell", how="left")
        .with_columns(pl.col("n_years").fill_null(0), share.otherwise(None).alias("same_sign"))
        .with_columns(pl.when(ok).then(pl.col("whole")).otherwise(None).alias("whole"))
        .drop("_same")
        .join(wide, on="cell", how="left")
        .sort("cell")
        .select("cell", *keys, "whole", "n_years", "same_sign", *[str(yy) for yy in years])
    )


@dataclass(frozen=True)
class StudyReport:
    """The three tables of a study report, as :func:`study_report` built them."""

    results: StudyResults
    metric: str
    index: list[str]  # row-key columns of ``pivot``
    cols: str | None  # the key whose values are the pivot's other columns (None: the metric)
    pivot: pl.DataFrame
    best: pl.DataFrame
    stability: dict[str, pl.DataFrame]  # yearly metric -> year_stability, STABILITY_METRICS


def study_report(
    source: StudySource = DEFAULT_STORE,
    *,
    study_id: str | None = None,
    metric: str = DEFAULT_METRIC,
    rows: str | None = None,
    cols: str | None = None,
    top: int = 10,
) -> StudyReport:
    """:func:`metric_pivot`, :func:`best_cells` (``top``) and :func:`year_stability` of the
    yearly Rank IC and long-short return (:data:`STABILITY_METRICS`) of one study, read once."""
    res = _results(source, study_id)
    pivot = metric_pivot(res, metric=metric, rows=rows, cols=cols)
    r, c = pivot_keys(res, rows, cols)
    best = best_cells(res, metric=metric, top=top)
    stab = {m: year_stability(res, metric=m) for m in STABILITY_METRICS}
    return StudyReport(res, metric, pivot_index(res, r, c), c, pivot, best, stab)

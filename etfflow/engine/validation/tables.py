"""Checks of one table: structure (columns, dtypes, files) and the table-level rules.

Table-level rules are named in ``TableSpec.checks``; :data:`TABLE_HOOKS` builds the ones that
look at groups of rows (``weight_sum``, ``overlapping_interval``) or at two tables
(``no_basket``, ``basket_without_daily``). Row-by-row table rules live in
:mod:`etfflow.engine.validation.rules`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from etfflow.engine import schemas as sc
from etfflow.engine.validation.kernels import ids32, pair_starts
from etfflow.engine.validation.lookups import Context, isin_sorted, sorted_unique
from etfflow.engine.validation.report import Outcome, Tally
from etfflow.engine.validation.rules import Plan, key_plan, row_rules
from etfflow.exceptions import MAX_EXAMPLES, DataContractError


def check_structure(ctx: Context, table: str, tally: Tally) -> bool:
    """Columns and dtypes; True when the value rules can run."""
    spec = sc.TABLES[table]
    st = ctx.structure(table)
    files = tally.rule(table, None, "file_schema")
    if not st.readable:
        files.add(st.file_mismatches.height, st.file_mismatches)
    for c in spec.required:
        missing = c not in st.schema
        avail = st.schema.names() if missing else ()
        err = DataContractError.missing_column(table=table, column=c, available=avail)
        tally.structural(err, passed=not missing)
    for group in spec.one_of:
        err = DataContractError(
            f"none of the columns {', '.join(group)} is present",
            table=table,
            column="/".join(group),
            rule="missing_column",
            hint="weight snapshots are per ETF (etf_code) or per tracked index (index_code)",
        )
        tally.structural(err, passed=any(c in st.schema for c in group))
    for c, dtype in spec.columns.items():
        if c in st.schema:
            expected = "String (or Categorical/Enum)" if dtype == pl.String else str(dtype)
            err = DataContractError.wrong_type(
                table=table, column=c, expected=expected, actual=st.schema[c]
            )
            tally.structural(err, passed=sc.dtype_matches(dtype, st.schema[c]))
    return st.readable


Hooks = tuple[Callable[[pl.DataFrame], None] | None, Callable[[], None] | None]


def _weight_sums(ctx: Context, table: str, plan: Plan, tally: Tally) -> Hooks | None:
    """Snapshots (date x etf_code, or date x index_code when etf_code is null) summing != 1."""
    sch = ctx.structure(table).schema
    if not ctx.usable(table, "date", "weight") or not ("etf_code" in sch or "index_code" in sch):
        return None
    out = tally.rule(table, "weight", "weight_sum", tol=sc.WEIGHT_SUM_TOL)
    owners = [pl.col("etf_code")] if "etf_code" in sch else []
    if "index_code" in sch:
        idx = pl.col("__index") if "__index" in plan.derived else pl.col("index_code")
        owners.append(idx.alias("index_code"))
    snap = [pl.col("date"), *owners]
    names = [e.meta.output_name() for e in snap]

    def chunk(prepared: pl.DataFrame) -> None:
        bad = (
            prepared.lazy()
            .filter(
                pl.col("date").is_not_null() & pl.any_horizontal([o.is_not_null() for o in owners])
            )
            .group_by(snap)
            .agg(pl.col("weight").sum().alias("weight_sum"), pl.len().alias("n_components"))
            .filter((pl.col("weight_sum") - 1.0).abs() > sc.WEIGHT_SUM_TOL)
            .collect()
        )
        if bad.height:
            out.add(bad.height, bad.sort(names).head(out.need()))

    return chunk, None


def _industry_overlaps(ctx: Context, table: str, plan: Plan, tally: Tally) -> Hooks | None:
    """Intervals of one stock starting before the previous one ended (null end = open)."""
    if not ctx.usable(table, "code", "start_date"):
        return None
    out = tally.rule(table, "start_date", "overlapping_interval")
    sch = ctx.structure(table).schema

    def post() -> None:
        end = pl.col("end_date") if "end_date" in sch else pl.lit(None, pl.Date)
        prev_end = pl.col("end_date").shift(1)
        iv = (
            ctx.ds.raw(table)
            .select("code", "start_date", end.alias("end_date"))
            .drop_nulls(["code", "start_date"])
            .sort("code", "start_date")
            .with_columns(
                pl.col("start_date").shift(1).alias("prev_start"), prev_end.alias("prev_end")
            )
            .filter(
                (pl.col("code") == pl.col("code").shift(1))
                & (pl.col("prev_end").is_null() | (pl.col("start_date") <= pl.col("prev_end")))
            )
            .collect()
        )
        out.add(iv.height, iv)

    return None, post


def _baskets(ctx: Context, table: str, plan: Plan, tally: Tally) -> Hooks | None:
    """ETF-days of etf_daily without a basket, and baskets without an etf_daily row.

    Per chunk, the (etf rank, day index) of each row where the pair changes (rows of one
    basket are adjacent when the file is in key order; otherwise more starts, same set).
    """
    etfs, cal, daily = ctx.etfs(), ctx.calendar(), ctx.etf_day_keys()
    if etfs is None or cal is None or daily is None:
        return None
    if "__day" not in plan.arrays or "__etf" not in plan.arrays:
        return None
    no_basket = tally.rule(table, "etf_code", "no_basket")
    orphan = tally.rule(table, "etf_code", "basket_without_daily")
    parts: list[np.ndarray] = []

    def chunk(prepared: pl.DataFrame) -> None:
        starts = pair_starts(
            ids32(prepared["__day"].to_numpy()), ids32(prepared["__etf"].to_numpy()), cal.n
        )
        parts.append(np.unique(starts))

    def decode(keys: np.ndarray) -> pl.DataFrame:
        return pl.DataFrame(
            {"date": cal.dates.gather(keys % cal.n), "etf_code": etfs.values.gather(keys // cal.n)}
        )

    def post() -> None:
        baskets = sorted_unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        missing = daily[~isin_sorted(daily, baskets)]
        extra = baskets[~isin_sorted(baskets, daily)]
        no_basket.add(missing.size, decode(missing[:MAX_EXAMPLES]))
        orphan.add(extra.size, decode(extra[:MAX_EXAMPLES]))

    return chunk, post


#: Builders of the table-level rules not checked row by row (keyed by the first rule).
TABLE_HOOKS: dict[str, Callable[[Context, str, Plan, Tally], Hooks | None]] = {
    "weight_sum": _weight_sums,
    "overlapping_interval": _industry_overlaps,
    "no_basket": _baskets,
}
#: Rules a hook of :data:`TABLE_HOOKS` reports, besides its key.
HOOK_ALSO: dict[str, tuple[str, ...]] = {"no_basket": ("basket_without_daily",)}


def plan(ctx: Context, table: str, tally: Tally, big: bool) -> tuple[Plan, list[Outcome]]:
    """Row rules, key and table-level hooks of ``table``, registered in ``tally``."""
    sch = ctx.structure(table).schema
    p = Plan()
    row_rules(ctx, table, p, sch)
    outcomes = [tally.rule(table, r.column, r.rule, **dict(r.fmt)) for r in p.rules]
    if key_plan(ctx, table, p, sch, big):
        names = ", ".join(e.meta.output_name() for e in p.key)
        p.duplicates = tally.rule(table, names, "duplicate_key")
    for rule in sc.TABLES[table].checks:
        build = TABLE_HOOKS.get(rule)
        hooks = build(ctx, table, p, tally) if build is not None else None
        if hooks is not None:
            if hooks[0] is not None:
                p.chunk_hooks.append(hooks[0])
            if hooks[1] is not None:
                p.post_hooks.append(hooks[1])
    return p, outcomes

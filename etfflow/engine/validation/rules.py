"""Row rules and key rules of one table, derived from its column declarations.

Each :class:`~etfflow.engine.contract.Column` of :mod:`etfflow.engine.schemas` turns into
row rules here: ``nullable`` into ``null_value``, each check into its catalogue rule (a
boolean expression true on an offending row), ``ref`` into an integer rank column
(``__stock``, ``__etf``, ``__fund``, ``__day``) whose null marks an unknown value. The
table-level rules over other tables that are checked row by row (``no_industry``,
``unpriced_component``, ``outside_listing``) are built from the table's ``checks``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from etfflow.engine import schemas as sc
from etfflow.engine.contract import REF_RULES, Check, Column
from etfflow.engine.validation.lookups import Codes, Context
from etfflow.engine.validation.report import Outcome

#: Derived rank column of each reference.
REF_COLUMNS: dict[tuple[str, str], str] = {
    ("stocks", "code"): "__stock",
    ("etfs", "etf_code"): "__etf",
    ("active_funds", "fund_code"): "__fund",
    ("stock_daily", "date"): "__day",
}


ArrayFn = Callable[[pl.DataFrame, dict[str, np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class RowRule:
    """A rule checked row by row: ``flag`` is true on an offending row."""

    column: str
    rule: str
    flag: pl.Expr
    show: tuple[pl.Expr, ...]  # example columns: the key and the offending value
    fmt: tuple[tuple[str, str], ...] = ()  # message parameters
    null_of: str | None = None  # the rule is "column is null": count = its null_count()


@dataclass
class Plan:
    """Everything checked on one table, chunk by chunk."""

    derived: dict[str, pl.Expr] = field(default_factory=dict)
    #: Integer columns computed with NumPy from the chunk and the arrays before them (code
    #: and date ranks, -1 = unknown or null; per-day lookups)
    arrays: dict[str, ArrayFn] = field(default_factory=dict)
    rules: list[RowRule] = field(default_factory=list)
    key: list[pl.Expr] = field(default_factory=list)  # aliased key expressions
    key_ok: pl.Expr | None = None  # rows whose key is complete (others are null errors)
    order: list[pl.Expr] | None = None  # key as sortable integers (sorted fast path)
    packed: list[tuple[str, int]] | None = None  # the order as (array, size): NumPy packing
    bucket: pl.Expr | None = None  # the order packed into one Int64 (coarse: nulls share 0)
    duplicates: Outcome | None = None  # set when the key can be checked
    chunk_hooks: list[Callable[[pl.DataFrame], None]] = field(default_factory=list)
    post_hooks: list[Callable[[], None]] = field(default_factory=list)


def fmt_list(values: object) -> str:
    return ", ".join(values)  # type: ignore[arg-type]


def _check_flag(
    col: Column, check: Check, dtype: pl.DataType
) -> tuple[pl.Expr, tuple[str, ...], dict[str, str]]:
    """The offending-row flag of one declared check, the columns shown, message parameters."""
    c, v = col.name, pl.col(col.name)
    rule = check.rule
    if rule == "negative":
        return (v < 0) & v.is_finite(), (c,), {}
    if rule == "non_positive":
        return (v <= 0) & v.is_finite(), (c,), {}
    if rule == "non_finite":
        return ~v.is_finite(), (c,), {}
    if rule == "invalid_value":
        allowed = list(check.arg)  # type: ignore[call-overload]
        s = v.cast(pl.String) if isinstance(dtype, pl.Enum) else v  # Categorical: no strings
        return v.is_not_null() & ~s.is_in(allowed), (c,), {"allowed": fmt_list(allowed)}
    if rule in ("delist_before_list", "end_before_start", "disclose_before_report"):
        other = str(check.arg)
        return v < pl.col(other), (other, c), {}
    if rule == "weekend_date":
        return v.dt.weekday() >= 6, (), {}
    if rule == "not_month_start":
        return v.dt.day() != 1, (), {}
    if rule in ("zero_shares", "zero_quantity", "zero_weight"):
        return v == 0, (c,), {}
    raise KeyError(f"no row check for rule {rule!r}")  # pragma: no cover - declarations


#: Rules :func:`_check_flag` builds (the catalogue test checks declarations use only these).
ROW_CHECK_RULES: frozenset[str] = frozenset(
    {
        "negative",
        "non_positive",
        "non_finite",
        "invalid_value",
        "delist_before_list",
        "end_before_start",
        "disclose_before_report",
        "weekend_date",
        "not_month_start",
        "zero_shares",
        "zero_quantity",
        "zero_weight",
    }
)


def row_rules(ctx: Context, table: str, plan: Plan, sch: pl.Schema) -> None:
    """Fill ``plan`` with the derived columns and the row rules of ``table``."""
    spec = sc.TABLES[table]
    key_cols = [k for k in spec.key if k in sch]
    has = plan.arrays

    def ok(*cols: str) -> bool:
        return all(c in sch and sc.dtype_matches(spec.columns[c], sch[c]) for c in cols)

    def add(
        column: str,
        rule: str,
        flag: pl.Expr,
        *shown: str | pl.Expr,
        null_of: str | None = None,
        **fmt: str,
    ) -> None:
        show = [pl.col(k) for k in key_cols]
        show += [
            pl.col(c) if isinstance(c, str) else c
            for c in shown
            if not (isinstance(c, str) and c in key_cols)
        ]
        plan.rules.append(RowRule(column, rule, flag, tuple(show), tuple(fmt.items()), null_of))

    for col in spec.declared:  # nulls first: every other rule skips null values
        if col.name in sch and not col.nullable:
            add(col.name, "null_value", pl.col(col.name).is_null(), col.name, null_of=col.name)
    for group in spec.one_of:
        present = [c for c in group if c in sch]
        if present:
            flag = pl.all_horizontal(pl.col(present).is_null())
            add("/".join(present), "null_value", flag, *present)

    cal = ctx.calendar()
    if cal is not None and ok("date"):
        has["__day"] = lambda df, cols: cal.ranks(df["date"])
    for col in spec.declared:
        if not ok(col.name):
            continue
        for check in col.checks:
            if isinstance(check.arg, str) and not ok(check.arg):  # compared with another column
                continue
            flag, shown, fmt = _check_flag(col, check, sch[col.name])
            add(col.name, check.rule, flag, *shown, **fmt)
        if any(c.rule in ("negative", "non_positive") for c in col.checks):
            flag, shown, _ = _check_flag(col, Check("non_finite"), sch[col.name])
            add(col.name, "non_finite", flag, *shown)
        if col.ref is not None:
            _reference(ctx, col, plan, sch, add)

    if "no_industry" in spec.checks and "__stock" in has and "__day" in has:
        ind = ctx.in_industry()
        if ind is not None:
            has["__no_industry"] = lambda df, cols: ind.missing(cols["__stock"], cols["__day"])
            add("code", "no_industry", pl.col("__no_industry"))
    if "unpriced_component" in spec.checks and "__stock" in has and "__day" in has:
        priced = ctx.priced()
        if priced is not None:
            has["__unpriced"] = lambda df, cols: priced.missing(cols["__stock"], cols["__day"])
            add("code", "unpriced_component", pl.col("__unpriced"))
    if "outside_listing" in spec.checks and ok("date"):
        ref = ("stocks", "code") if "code" in spec.key else ("etfs", "etf_code")
        listing = ctx.listing(*ref)
        name = REF_COLUMNS[ref]
        if listing is not None and name in has:
            rank = pl.when(pl.col(name) >= 0).then(pl.col(name))
            lst = pl.lit(listing[0]).gather(rank).alias("list_date")
            dl = pl.lit(listing[1]).gather(rank).alias("delist_date")
            flag = (pl.col("date") < lst) | (pl.col("date") > dl)
            add("date", "outside_listing", flag, lst, dl, ref=ref[0])


def _reference(ctx: Context, col: Column, plan: Plan, sch: pl.Schema, add: Callable) -> None:
    """The rank column of a referenced value and the unknown-value rule."""
    assert col.ref is not None
    name = REF_COLUMNS[col.ref]
    if col.ref == ("stock_daily", "date"):
        if name not in plan.arrays:  # no calendar
            return
    else:
        codes = ctx.codes(*col.ref)
        if codes is None:
            return
        plan.arrays[name] = lambda df, cols: codes.ranks(df[col.name])
    flag = pl.col(col.name).is_not_null() & (pl.col(name) < 0)
    add(col.name, REF_RULES[col.ref], flag)


# ----------------------------------------------------------------------------- key rules


def key_plan(ctx: Context, table: str, plan: Plan, sch: pl.Schema, big: bool) -> bool:
    """Key expressions (and sortable values for the fast path); False when not checkable."""
    spec = sc.TABLES[table]
    if spec.one_of:  # holding_weights: the snapshot owner is etf_code, else index_code
        owners = [c for g in spec.one_of for c in g if c in sch]
        others = [k for k in spec.key if k not in {c for g in spec.one_of for c in g}]
        if not owners or not all(k in sch for k in others):
            return False
        plan.key = [pl.col(k) for k in spec.key if k in sch]
        plan.key_ok = pl.all_horizontal([pl.col(k).is_not_null() for k in others]) & (
            pl.any_horizontal([pl.col(c).is_not_null() for c in owners])
        )
        if len(owners) == 2:  # the index names the snapshot only when etf_code is null
            idx = pl.when(pl.col("etf_code").is_null()).then(pl.col("index_code"))
            plan.derived["__index"] = idx
            plan.key = [
                pl.col("__index").alias("index_code") if k == "index_code" else pl.col(k)
                for k in spec.key
            ]
    else:
        if not all(k in sch for k in spec.key):
            return False
        plan.key = [pl.col(k) for k in spec.key]
        plan.key_ok = pl.all_horizontal([pl.col(k).is_not_null() for k in spec.key])
    if not big:
        return True
    # each key column as an integer in [0, size): rank + 1, 0 for null or unknown
    stocks, etfs, cal = ctx.stocks(), ctx.etfs(), ctx.calendar()
    order: list[pl.Expr] = []
    sizes: list[int | None] = []
    packed: list[tuple[str, int]] | None = []
    for e in plan.key:
        name = e.meta.output_name()
        src = plan.derived.get("__index", pl.col(name)) if name == "index_code" else pl.col(name)
        dtype = sch[name]
        arr = None
        if name == "date" and "__day" in plan.arrays and cal is not None:
            arr, n = "__day", cal.n
        elif not sc.is_string_like(dtype):
            order.append(src)
            sizes.append(None)
            packed = None
            continue
        elif name == "code" and "__stock" in plan.arrays and stocks is not None:
            arr, n = "__stock", stocks.n
        elif name == "etf_code" and "__etf" in plan.arrays and etfs is not None:
            arr, n = "__etf", etfs.n
        if arr is not None:
            rank = pl.col(arr)
            if packed is not None:
                packed.append((arr, n + 1))
        else:
            codes = Codes.from_frame(ctx.ds.raw(table), name)
            rank, n = codes.rank(src, dtype), codes.n
            packed = None
        order.append(rank.cast(pl.Int64).fill_null(-1) + 1)
        sizes.append(n + 1)
    plan.order = order
    plan.packed = packed
    known = [n for n in sizes if n is not None]
    if len(known) == len(sizes) and math.prod(known) < 2**62:
        k: pl.Expr = pl.lit(0, pl.Int64)
        for v, n in zip(order, known, strict=True):
            k = k * n + v
        plan.bucket = k.alias("__k")
    return True


def unsorted_count(order: list[pl.Expr]) -> pl.Expr:
    """Rows not strictly after the previous one in key order (0 = sorted, unique keys)."""
    gt: pl.Expr = pl.lit(False)
    eq: pl.Expr = pl.lit(True)
    for v in order:
        prev = v.shift(1)
        gt = gt | (eq & (v > prev))
        eq = eq & (v == prev)
    return ((~gt).fill_null(True).sum() - 1).alias("__unsorted")


def duplicates(prepared: pl.LazyFrame, plan: Plan, out: Outcome) -> None:
    """Duplicate keys by group-by; with an integer bucket, only rows of shared buckets."""
    names = [e.meta.output_name() for e in plan.key]
    rows = prepared.filter(plan.key_ok if plan.key_ok is not None else True)
    if plan.bucket is not None:
        shared = (
            rows.group_by(plan.bucket)
            .agg(pl.len().alias("n"))
            .filter(pl.col("n") > 1)
            .collect()
            .get_column("__k")
        )
        if not shared.len():
            return
        rows = rows.filter(plan.bucket.is_in(shared.implode()))
    dup = (
        rows.select(plan.key)
        .group_by(names)
        .agg(pl.len().alias("n_rows"))
        .filter(pl.col("n_rows") > 1)
        .collect()
    )
    if dup.height:
        out.add(int(dup["n_rows"].sum()), dup.sort(names).head(out.need()))

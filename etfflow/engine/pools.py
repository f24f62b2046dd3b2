"""ETF pools: which ETFs a look-through counts (the set ``P`` of
docs/methodology.md#21-pools; Huaan 2024-12 §2.2.2–2.2.3; Kaiyuan 2024-09 §3).

A pool is chosen by category (``all``, ``broad``, ``sector``, ``style``, ``nonbroad``), by an
explicit list of ETF codes, by the enhanced flag, or by any Polars predicate on the ``etfs``
table; the criteria combine with AND. A pool may also change over time: a :class:`Split` keeps,
on each day, the ETFs whose concentration (``hhi``), turnover (``turnover_20``) or size
(``aum``) was above (``high``) or at most (``low``) the cross-sectional quantile of the last
decision day (:func:`split_members`); ``Pool.of("concentration:high")`` etc.

Examples
--------
>>> import polars as pl
>>> from etfflow.engine.pools import Pool
>>> Pool.category("broad").label
'broad'
>>> Pool(categories=("sector", "style"), enhanced=False).label
'sector+style,enhanced=False'
>>> Pool.where(pl.col("creation_unit") >= 1e6, name="big_units").label
'big_units'
>>> Pool.of("turnover:low").split
Split(measure='turnover', side='low', quantile=0.5, refresh='month')
>>> Pool.split_by("aum", "high", quantile=0.3, refresh="day").label
'aum:high(q=0.3,refresh=day)'
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from etfflow.engine.schemas import ETF_CATEGORIES
from etfflow.exceptions import PoolError

#: Every ETF category but ``broad`` (Kaiyuan 2024-09 table 1: 非宽基).
NONBROAD: tuple[str, ...] = tuple(c for c in ETF_CATEGORIES if c != "broad")
#: Split name -> column of :data:`etfflow.engine.etf_measures.ETF_MEASURES_SCHEMA` it ranks.
SPLIT_MEASURES: dict[str, str] = {
    "concentration": "hhi",
    "turnover": "turnover_20",
    "aum": "aum",
}
SIDES: tuple[str, ...] = ("high", "low")
REFRESH: tuple[str, ...] = ("month", "day")
SPLIT_NAMES: tuple[str, ...] = tuple(f"{m}:{s}" for m in SPLIT_MEASURES for s in SIDES)
#: Names of the pools that do not change over time.
STATIC_POOL_NAMES: tuple[str, ...] = ("all", *ETF_CATEGORIES, "nonbroad")
#: Every pool name :meth:`Pool.of` takes.
POOL_NAMES: tuple[str, ...] = (*STATIC_POOL_NAMES, *SPLIT_NAMES)


@dataclass(frozen=True)
class Split:
    """A time-varying pool: on each decision day, the base pool's ETFs with a value of
    ``measure`` are split at that day's cross-sectional ``quantile``; ``high`` keeps those
    strictly above it, ``low`` those at or below it, from the next trading day to the next
    decision (docs/methodology.md, "ETF sub-pools").

    Parameters
    ----------
    measure
        ``"concentration"`` (``hhi``), ``"turnover"`` (``turnover_20``) or ``"aum"``.
    side
        ``"high"`` or ``"low"``.
    quantile
        In (0, 1); 0.5 is the median.
    refresh
        ``"month"``: decided on each month's last trading day; ``"day"``: every day.
    """

    measure: str
    side: str
    quantile: float = 0.5
    refresh: str = "month"

    def __post_init__(self) -> None:
        if self.measure not in SPLIT_MEASURES:
            raise PoolError(
                f"unknown split measure {self.measure!r}: choose from {', '.join(SPLIT_MEASURES)}"
            )
        if self.side not in SIDES:
            raise PoolError(f"unknown split side {self.side!r}: choose high or low")
        if not 0.0 < self.quantile < 1.0:
            raise PoolError(f"split quantile must be in (0, 1), got {self.quantile!r}")
        if self.refresh not in REFRESH:
            raise PoolError(f"unknown refresh {self.refresh!r}: choose month or day")

    @property
    def column(self) -> str:
        """The measure's column in the per ETF-day measures."""
        return SPLIT_MEASURES[self.measure]

    @property
    def label(self) -> str:
        base = f"{self.measure}:{self.side}"
        extra = [
            *([f"q={self.quantile:g}"] if self.quantile != 0.5 else []),
            *([f"refresh={self.refresh}"] if self.refresh != "month" else []),
        ]
        return f"{base}({','.join(extra)})" if extra else base

    def describe(self) -> dict:
        return {
            "measure": self.measure,
            "column": self.column,
            "side": self.side,
            "quantile": self.quantile,
            "refresh": self.refresh,
        }


def decision_days(dates: list[dt.date], refresh: str) -> list[dt.date]:
    """The days a split is decided on: every trading day but the last (``day``) or each
    month's last trading day, i.e. a day whose next trading day is in another month
    (``month``; the calendar is known in advance). The last day of ``dates`` is never one:
    its decision would apply after the data."""
    if refresh == "day":
        return list(dates[:-1])
    return [d for d, nxt in itertools.pairwise(dates) if (d.year, d.month) != (nxt.year, nxt.month)]


def split_thresholds(measures: pl.DataFrame, split: Split, days: list[dt.date]) -> pl.DataFrame:
    """``(date, threshold, n)``: the ``quantile`` of the finite values of the split's column
    on each of ``days`` (linear interpolation; null when no ETF has a value)."""
    col = pl.col(split.column)
    vals = measures.filter(pl.col("date").is_in(days) & col.is_not_null() & col.is_finite())
    return (
        pl.DataFrame({"date": days}, schema={"date": pl.Date})
        .join(
            vals.group_by("date").agg(
                col.quantile(split.quantile, "linear").alias("threshold"), pl.len().alias("n")
            ),
            on="date",
            how="left",
        )
        .with_columns(pl.col("n").fill_null(0).cast(pl.Int64))
        .sort("date")
    )


def split_members(measures: pl.DataFrame, split: Split, dates: list[dt.date]) -> pl.DataFrame:
    """The ``(date, etf_code)`` members of a split pool on each trading day of ``dates``.

    ``measures`` holds the base pool's per ETF-day measures (columns ``date``, ``etf_code``
    and the split's column). On each decision day (:func:`decision_days`) the ETFs with a
    finite value are compared with that day's threshold (:func:`split_thresholds`); the
    choice holds from the next trading day up to and including the next decision day. Before
    the first decision takes effect the pool is empty. Membership on day ``t`` uses measures
    dated before ``t`` only.
    """
    days = decision_days(dates, split.refresh)
    col = pl.col(split.column)
    thr = split_thresholds(measures, split, days)
    chosen = (
        measures.select("date", pl.col("etf_code").cast(pl.String), split.column)
        .join(thr, on="date")
        .filter(col.is_not_null() & col.is_finite() & pl.col("threshold").is_not_null())
        .filter(col > pl.col("threshold") if split.side == "high" else col <= pl.col("threshold"))
        .select(pl.col("date").alias("decided"), "etf_code")
    )
    nxt = dict(itertools.pairwise(dates))
    effect = pl.DataFrame(
        {"decided": days, "from": [nxt[d] for d in days]},
        schema={"decided": pl.Date, "from": pl.Date},
    )
    cal = pl.DataFrame({"date": dates}, schema={"date": pl.Date}).sort("date")
    link = cal.join_asof(
        effect.sort("from"), left_on="date", right_on="from", strategy="backward"
    ).drop_nulls("decided")
    return link.join(chosen, on="decided").select("date", "etf_code").sort("date", "etf_code")


@dataclass(frozen=True)
class Pool:
    """A set of ETFs. ``None`` fields do not restrict.

    Parameters
    ----------
    categories
        Keep ETFs whose ``category`` is one of these.
    etf_codes
        Keep exactly these ETFs (unknown codes raise :class:`PoolError`).
    enhanced
        Keep only enhanced (True) or only plain index (False) ETFs.
    predicate
        Any boolean Polars expression over the ``etfs`` columns; a row where it is null
        is left out (``pl.col("creation_unit") >= 1e6`` leaves out the ETFs whose unit is
        unknown).
    split
        Makes the pool change over time: on each day, the ETFs of the pool the other
        criteria select that the :class:`Split` keeps (applied by the look-through).
    name
        A label for the store and reports; derived from the criteria when omitted.
    """

    categories: tuple[str, ...] | None = None
    etf_codes: tuple[str, ...] | None = None
    enhanced: bool | None = None
    predicate: pl.Expr | None = None
    split: Split | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.categories is not None:
            bad = [c for c in self.categories if c not in ETF_CATEGORIES]
            if bad:
                raise PoolError(
                    f"unknown ETF category {bad[0]!r}: choose from {', '.join(ETF_CATEGORIES)}"
                )

    @classmethod
    def all(cls) -> Pool:
        return cls(name="all")

    @classmethod
    def category(cls, name: str) -> Pool:
        """``all``, one ETF category (``broad``, ``sector``, ``style``) or ``nonbroad``
        (every category but ``broad``)."""
        if name == "all":
            return cls.all()
        if name == "nonbroad":
            return cls(categories=NONBROAD, name=name)
        if name not in ETF_CATEGORIES:
            raise PoolError(f"unknown pool {name!r}: choose from {', '.join(POOL_NAMES)}")
        return cls(categories=(name,), name=name)

    @classmethod
    def split_by(
        cls,
        measure: str,
        side: str,
        *,
        quantile: float = 0.5,
        refresh: str = "month",
        base: Pool | None = None,
    ) -> Pool:
        """The ETFs of ``base`` (default all) on the ``side`` of the ``measure`` split
        (:class:`Split`), labelled ``measure:side`` (plus non-default parameters)."""
        sp = Split(measure, side, quantile, refresh)
        b = base or cls.all()
        if b.split is not None:
            raise PoolError(f"pool {b.label!r} is already split: a pool takes one split")
        label = sp.label if b.label == "all" else f"{b.label}&{sp.label}"
        return cls(b.categories, b.etf_codes, b.enhanced, b.predicate, sp, label)

    @classmethod
    def of(cls, pool: Pool | str | Iterable[str] | None) -> Pool:
        """A pool from what a caller may pass: a :class:`Pool`, ``None`` (all ETFs), a
        name (one of :data:`POOL_NAMES`: ``"all"``, a category, ``"nonbroad"``,
        ``"concentration:high"``, ``"turnover:low"``, ``"aum:high"``, ...) or ETF codes."""
        if pool is None:
            return cls.all()
        if isinstance(pool, Pool):
            return pool
        if isinstance(pool, str):
            if ":" in pool:
                measure, _, side = pool.partition(":")
                if pool not in SPLIT_NAMES:
                    raise PoolError(f"unknown pool {pool!r}: choose from {', '.join(POOL_NAMES)}")
                return cls.split_by(measure, side)
            return cls.category(pool)
        return cls.codes(pool)

    @classmethod
    def codes(cls, codes: Iterable[str], *, name: str | None = None) -> Pool:
        return cls(etf_codes=tuple(codes), name=name)

    @classmethod
    def where(cls, predicate: pl.Expr, *, name: str) -> Pool:
        return cls(predicate=predicate, name=name)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        parts = []
        if self.categories is not None:
            parts.append("+".join(self.categories))
        if self.etf_codes is not None:
            parts.append(f"codes[{len(self.etf_codes)}]")
        if self.enhanced is not None:
            parts.append(f"enhanced={self.enhanced}")
        if self.predicate is not None:
            parts.append("where")
        if self.split is not None:
            parts.append(self.split.label)
        return ",".join(parts) or "all"

    def describe(self) -> dict:
        """JSON-friendly description recorded with stored results (``split``: only for a
        time-varying pool, so static pools describe themselves as before)."""
        out: dict[str, object] = {
            "label": self.label,
            "categories": list(self.categories) if self.categories is not None else None,
            "etf_codes": list(self.etf_codes) if self.etf_codes is not None else None,
            "enhanced": self.enhanced,
            "predicate": str(self.predicate) if self.predicate is not None else None,
        }
        if self.split is not None:
            out["split"] = self.split.describe()
        return out

    @property
    def static(self) -> Pool:
        """The pool without its split: the ETFs that may ever be members (the base)."""
        if self.split is None:
            return self
        return Pool(self.categories, self.etf_codes, self.enhanced, self.predicate, None, None)

    def select(self, etfs: pl.DataFrame) -> pl.DataFrame:
        """The rows of the ``etfs`` table in the pool (codes as strings); for a split pool,
        the ETFs its other criteria select (its members on each day are a subset:
        :func:`split_members`).

        Raises
        ------
        PoolError
            When explicit codes are unknown, or when the pool selects no ETF.
        """
        df = etfs.with_columns(
            pl.col("etf_code").cast(pl.String),
            pl.col("category").cast(pl.String),
            pl.col("index_code").cast(pl.String),
        )
        if self.etf_codes is not None:
            known = set(df["etf_code"].to_list())
            unknown = [c for c in self.etf_codes if c not in known]
            if unknown:
                raise PoolError(
                    f"pool {self.label!r} names ETF(s) not in table 'etfs': "
                    f"{', '.join(unknown[:5])}"
                )
            df = df.filter(pl.col("etf_code").is_in(list(self.etf_codes)))
        if self.categories is not None:
            df = df.filter(pl.col("category").is_in(list(self.categories)))
        if self.enhanced is not None:
            df = df.filter(pl.col("is_enhanced") == self.enhanced)
        if self.predicate is not None:
            df = df.filter(self.predicate)
        if df.height == 0:
            raise PoolError(f"pool {self.label!r} selects no ETF from table 'etfs'")
        return df

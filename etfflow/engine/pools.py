"""ETF pools: which ETFs a look-through counts (the set ``P`` of
docs/methodology.md#21-pools; Huaan 2024-12 §2.2.2–2.2.3).

A pool is chosen by category (``all``, ``broad``, ``sector``, ``style``), by an explicit list
of ETF codes, by the enhanced flag, or by any Polars predicate on the ``etfs`` table; the
criteria combine with AND.

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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from etfflow.engine.schemas import ETF_CATEGORIES
from etfflow.exceptions import PoolError

POOL_NAMES: tuple[str, ...] = ("all", *ETF_CATEGORIES)


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
        Any boolean Polars expression over the ``etfs`` columns.
    name
        A label for the store and reports; derived from the criteria when omitted.
    """

    categories: tuple[str, ...] | None = None
    etf_codes: tuple[str, ...] | None = None
    enhanced: bool | None = None
    predicate: pl.Expr | None = None
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
        """``all`` or one ETF category (``broad``, ``sector``, ``style``)."""
        if name == "all":
            return cls.all()
        if name not in ETF_CATEGORIES:
            raise PoolError(f"unknown pool {name!r}: choose from {', '.join(POOL_NAMES)}")
        return cls(categories=(name,), name=name)

    @classmethod
    def of(cls, pool: Pool | str | Iterable[str] | None) -> Pool:
        """A pool from what a caller may pass: a :class:`Pool`, ``None`` (all ETFs), a
        name (``"all"``, ``"broad"``, ``"sector"``, ``"style"``) or ETF codes."""
        if pool is None:
            return cls.all()
        if isinstance(pool, Pool):
            return pool
        if isinstance(pool, str):
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
        return ",".join(parts) or "all"

    def describe(self) -> dict:
        """JSON-friendly description recorded with stored results."""
        return {
            "label": self.label,
            "categories": list(self.categories) if self.categories is not None else None,
            "etf_codes": list(self.etf_codes) if self.etf_codes is not None else None,
            "enhanced": self.enhanced,
            "predicate": str(self.predicate) if self.predicate is not None else None,
        }

    def select(self, etfs: pl.DataFrame) -> pl.DataFrame:
        """The rows of the ``etfs`` table in the pool (codes as strings).

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

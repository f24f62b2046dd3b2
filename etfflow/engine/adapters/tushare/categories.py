"""ETF category (``broad`` / ``sector`` / ``style``) from the tracked index.

The contract's ``etfs.category`` is not a Tushare field: it is derived from the ETF's tracked
index (``etf_basic.index_code`` and ``index_name``), in this order:

1. the user file's ``[codes]`` table (index code -> category);
2. the user file's ``[patterns]`` table (a substring of the index name -> category; the
   longest matching pattern wins);
3. :data:`BROAD_INDICES`, the built-in table of broad market indices (by code);
4. :data:`STYLE_WORDS`: an index name containing 红利, 价值, 成长, 低波 or 质量 is ``style``;
5. any other index with a name is ``sector`` (industry and theme indices).

An index found by none of the rules and without a name cannot be classified: an error asks
for a ``--categories`` file. The user file (TOML)::

    [codes]
    "931201.CSI" = "sector"
    "000510.CSI" = "broad"

    [patterns]
    "科创" = "broad"
    "自由现金流" = "style"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from etfflow.engine.schemas import ETF_CATEGORIES
from etfflow.exceptions import EtfflowError

#: Broad market indices by Tushare code (several codes of one index where the exchange and
#: the index company both publish it). Names as the index companies write them.
BROAD_INDICES: Final[dict[str, str]] = {
    "000300.SH": "沪深300",
    "399300.SZ": "沪深300",
    "000905.SH": "中证500",
    "399905.SZ": "中证500",
    "000852.SH": "中证1000",
    "932000.CSI": "中证2000",
    "000016.SH": "上证50",
    "000010.SH": "上证180",
    "000009.SH": "上证380",
    "000001.SH": "上证指数",
    "000688.SH": "科创50",
    "000698.SH": "科创100",
    "399006.SZ": "创业板指",
    "399673.SZ": "创业板50",
    "399001.SZ": "深证成指",
    "399330.SZ": "深证100",
    "000510.CSI": "中证A500",
    "000510.SH": "中证A500",
    "930050.CSI": "中证A50",
    "000903.SH": "中证100",
    "000906.SH": "中证800",
    "000985.CSI": "中证全指",
    "000680.SH": "科创综指",
}
#: Words of an index name that make it a style index.
STYLE_WORDS: Final[tuple[str, ...]] = ("红利", "价值", "成长", "低波", "质量")


@dataclass(frozen=True)
class CategoryRules:
    """The rules in force: user codes and name patterns first, then the defaults."""

    codes: Mapping[str, str] = field(default_factory=dict)
    patterns: Mapping[str, str] = field(default_factory=dict)

    def category(self, index_code: str, index_name: str | None) -> str | None:
        """The category of one tracked index, or None when no rule decides (no name)."""
        if index_code in self.codes:
            return self.codes[index_code]
        name = index_name or ""
        hits = [p for p in self.patterns if p and p in name]
        if hits:
            return self.patterns[max(hits, key=len)]
        if index_code in BROAD_INDICES:
            return "broad"
        if not name:
            return None
        if any(w in name for w in STYLE_WORDS):
            return "style"
        return "sector"


def _check(value: object, where: str, path: Path) -> str:
    if not isinstance(value, str) or value not in ETF_CATEGORIES:
        raise EtfflowError(
            f"categories file {path}: {where} = {value!r} is not a category "
            f"(choose one of {', '.join(ETF_CATEGORIES)})"
        )
    return value


def load_categories(path: str | Path | None) -> CategoryRules:
    """The rules of a user TOML file (``[codes]``, ``[patterns]``); None: the defaults."""
    if path is None:
        return CategoryRules()
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise EtfflowError(f"categories file {path} cannot be read: {exc}") from None
    unknown = [k for k in doc if k not in ("codes", "patterns")]
    if unknown:
        raise EtfflowError(
            f"categories file {path}: unknown section [{unknown[0]}] (allowed: [codes], [patterns])"
        )
    tables: dict[str, dict[str, str]] = {}
    for section in ("codes", "patterns"):
        raw = doc.get(section, {})
        if not isinstance(raw, dict):
            raise EtfflowError(f"categories file {path}: [{section}] must be a table")
        tables[section] = {str(k): _check(v, f"[{section}] {k!r}", path) for k, v in raw.items()}
    return CategoryRules(codes=tables["codes"], patterns=tables["patterns"])

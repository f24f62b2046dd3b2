"""Preset studies: the grid of each source report, runnable on any dataset
(``etfflow study run --preset NAME --data DIR``; docs/studies.md, "Presets").

Each preset is a study file without ``data`` and a note on the report tables it regenerates
(the mapping of docs/methodology.md#6-report-tables-and-the-etfflow-output-that-produces-them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from etfflow.exceptions import EtfflowError
from etfflow.pipeline.study.spec import StudySpec, load_study
from etfflow.pipeline.subpools import DEFAULT_POOLS as SUBPOOLS


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    text: str


def _cells(rows: Sequence[Mapping[str, object]]) -> str:
    """``[[cells]]`` tables in TOML."""

    def value(v: object) -> str:
        return f'"{v}"' if isinstance(v, str) else str(v)

    return "".join(
        "\n[[cells]]\n" + "".join(f"{k} = {value(v)}\n" for k, v in row.items()) for row in rows
    )


#: Huaan 2024-12 stock factors (tables 46–47, 52, 56, 60) and industry factors (tables 11–12).
_HUAAN_STOCK = [
    "w_passive",
    "w_passive_zs_20",
    "mv_passive_chg_20",
    "w_passive_diff_20",
    "w_passive_inflow_20",
    "passive_slope_20",
    "passive_beta_20",
    "revs_20",
]
_HUAAN_INDUSTRY = ["w_passive", "w_passive_zs_20", "mv_passive_chg_20", "w_passive_inflow_20"]
_HUAAN_POOLS = ["all", "sector", "broad"]

HUAAN = Preset(
    "huaan2024",
    "Huaan 2024-12: every flow factor over all, sector and broad ETFs. Stocks: deciles, raw "
    "and with the standard processing (tables 46-47, 49-52, 56, 60; sector/broad: 19-28). "
    "Industries (CITIC L1): quintiles, raw and after stripping Revs20, and Revs20 itself "
    "(tables 12-14, 17-18; sector 20-24, broad 26-28).",
    f"""name = "huaan2024"
description = "Huaan 2024-12 flow factors by ETF category, raw / neutralised / Revs20 stripped"

[grid]
pool = {_HUAAN_POOLS!r}
level = ["stock"]
process = ["none", "standard"]
factors = {_HUAAN_STOCK!r}
"""
    + _cells(
        [
            {"pool": p, "level": "industry_l1", "process": proc, "factors": f}
            for p in _HUAAN_POOLS
            for proc in ("none", "zscore,strip(revs_20)")
            for f in _HUAAN_INDUSTRY
        ]
        + [
            {"pool": p, "level": "industry_l1", "process": "none", "factors": "revs_20"}
            for p in _HUAAN_POOLS
        ]
    ),
)

#: Kaiyuan's non-broad pool is sector + style; add "style" to the grid on a dataset with style
#: ETFs (the tiny synthetic market has none).
_KAIYUAN_POOLS = list(SUBPOOLS)  # the report's seven sub-pools, as `etfflow subpools`
KAIYUAN = Preset(
    "kaiyuan2024",
    "Kaiyuan 2024-09: monthly tests by ETF sub-pool (all, broad, non-broad, high/low basket "
    "concentration, high/low ETF turnover). Stocks: w_passive_chg_20 in deciles, raw and "
    "neutralised (figures 6-7, 18-23). Industries: w_passive_inflow_20 in terciles at CITIC "
    "L1 and L2 (tables 5-6); RankICIR by pool (tables 7-9).",
    f"""name = "kaiyuan2024"
description = "Kaiyuan 2024-09 ETF-category pools: stock and industry flow factors, monthly"

[defaults]
rebalance = "month"

[grid]
pool = {_KAIYUAN_POOLS!r}
level = ["stock"]
process = ["none", "standard"]
factors = ["w_passive_chg_20"]
"""
    + _cells(
        [
            {"pool": p, "level": lv, "factors": "w_passive_inflow_20", "groups": 3}
            for p in _KAIYUAN_POOLS
            for lv in ("industry_l1", "industry_l2")
        ]
    ),
)

HUAFU = Preset(
    "huafu2026",
    "Huafu 2026-02: the industry rotation (every table of the report: weekly industry holding, "
    "flow quintiles, style regimes, divergence, the composite top-6 strategy and its per-year "
    "table; stored as a rotation run linked from the study) and, as backtests, the weekly "
    "industry flow quintiles of CITIC L1 (5-day flow and 20-day flow, rebalanced weekly).",
    """name = "huafu2026"
description = "Huafu 2026-02 industry rotation and weekly industry flow quintiles"

[grid]
pool = ["all"]
level = ["industry_l1"]
factors = ["w_passive_inflow_5", "w_passive_inflow_20", "mv_passive_inflow_5"]
groups = [5]
rebalance = [5]

[rotation]
pool = "all"
top = 6
rebalance = 10
""",
)

PRESETS: dict[str, Preset] = {p.name: p for p in (HUAAN, KAIYUAN, HUAFU)}


def preset_study(name: str, *, data: str | Path) -> StudySpec:
    """The preset ``name`` on the dataset ``data`` (validated like a study file)."""
    if name not in PRESETS:
        raise EtfflowError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return load_study(PRESETS[name].text, data=data, preset=name, source=f"preset {name}")

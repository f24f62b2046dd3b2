"""Hypothesis strategies: small random markets that follow the data contract.

They exercise what the synthetic market rarely does: listings and delistings mid-window,
suspended stocks, ETFs with zero shares or missing days, baskets missing on some days
(as-of carry), baskets naming stocks that are not listed that day, stocks no ETF holds,
index-level weight snapshots, and codes stored as String or Categorical.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
from hypothesis import strategies as st

from etfflow.engine.schemas import BOARDS, TABLES
from tests.helpers import weekdays

CODE_COLUMNS = ("code", "etf_code", "index_code")


def write_market(tables: dict[str, pl.DataFrame], root: Path, *, categorical: bool) -> Path:
    """Write tables as ``<root>/<name>.parquet`` with contract dtypes."""
    root.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        spec = TABLES[name].columns
        df = df.with_columns(
            [pl.col(c).cast(spec[c]) for c in df.columns if c in spec and c not in CODE_COLUMNS]
        )
        code_dtype = pl.Categorical if categorical else pl.String
        df = df.with_columns([pl.col(c).cast(code_dtype) for c in CODE_COLUMNS if c in df.columns])
        df.write_parquet(root / f"{name}.parquet")
    return root


@st.composite
def markets(draw, *, max_stocks: int = 6, max_etfs: int = 4, max_days: int = 9):
    """A random market as a dict of DataFrames (``etf_pcf`` and ``holding_weights`` both)."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_s = draw(st.integers(1, max_stocks))
    n_e = draw(st.integers(1, max_etfs))
    n_d = draw(st.integers(2, max_days))
    days = weekdays(n_d)
    codes = [f"{600000 + i:06d}.SH" for i in range(n_s)]

    stocks, daily, industry = [], [], []
    for i, code in enumerate(codes):
        lo = int(rng.integers(0, n_d)) if rng.random() < 0.3 else 0
        hi = int(rng.integers(lo, n_d)) if rng.random() < 0.3 else n_d - 1
        if i == 0:  # one stock lists every day, so every day is on the calendar
            lo, hi = 0, n_d - 1
        stocks.append(
            {
                "code": code,
                "name": f"S{i}",
                "board": BOARDS[int(rng.integers(0, len(BOARDS)))],
                "list_date": days[lo],
                "delist_date": days[hi] + dt.timedelta(days=1) if hi < n_d - 1 else None,
            }
        )
        c = float(rng.uniform(1, 100))
        for d in range(lo, hi + 1):
            susp = bool(rng.random() < 0.15)
            if not susp:
                c = float(c * rng.uniform(0.9, 1.1))
            daily.append(
                {
                    "date": days[d],
                    "code": code,
                    "close": c,
                    "ret": 0.0,
                    "float_mcap": float(rng.uniform(1e8, 1e10)),
                    "is_st": False,
                    "is_suspended": susp,
                }
            )
        r = rng.random()
        if r < 0.15:
            continue  # no industry at all
        if r < 0.35 and n_d > 2:
            cut = days[int(rng.integers(1, n_d))]
            industry.append(
                {
                    "code": code,
                    "start_date": dt.date(2020, 1, 1),
                    "end_date": cut - dt.timedelta(days=1),
                    "industry_l1": "银行",
                    "industry_l2": "银行-1",
                }
            )
            industry.append(
                {
                    "code": code,
                    "start_date": cut,
                    "end_date": None,
                    "industry_l1": "电子",
                    "industry_l2": "电子-1",
                }
            )
        else:
            l1 = ["银行", "电子", "医药"][int(rng.integers(0, 3))]
            industry.append(
                {
                    "code": code,
                    "start_date": dt.date(2020, 1, 1),
                    "end_date": None,
                    "industry_l1": l1,
                    "industry_l2": f"{l1}-1",
                }
            )

    n_idx = int(rng.integers(1, 4))
    etfs, etf_daily, pcf, weights = [], [], [], []
    for j in range(n_e):
        etf = f"{510000 + j:06d}.SH"
        unit = float(rng.choice([1e5, 5e5, 1e6]))
        etfs.append(
            {
                "etf_code": etf,
                "name": f"E{j}",
                "category": ["broad", "sector", "style"][j % 3],
                "index_code": f"{900000 + int(rng.integers(0, n_idx)):06d}.CSI",
                "is_enhanced": bool(rng.random() < 0.3),
                "creation_unit": unit,
                "list_date": days[0],
            }
        )
        shares = float(rng.uniform(1e6, 1e9))
        for d in range(n_d):
            if rng.random() < 0.2:
                continue  # no row today (not yet listed, or a gap)
            r = rng.random()
            if r < 0.1:
                shares = 0.0
            elif r < 0.7:
                shares = float(max(0.0, shares + rng.normal(0, 1e7)))
            etf_daily.append(
                {
                    "date": days[d],
                    "etf_code": etf,
                    "shares": shares,
                    "nav": float(rng.uniform(0.5, 5.0)),
                }
            )
        for d in range(n_d):
            if rng.random() < 0.35:
                continue  # no basket today: the latest earlier one stays in force
            k = int(rng.integers(1, n_s + 1))
            members = rng.choice(n_s, size=k, replace=False)
            for s in sorted(members.tolist()):
                q = 0.0 if rng.random() < 0.1 else float(rng.integers(1, 50) * 100)
                pcf.append({"date": days[d], "etf_code": etf, "code": codes[s], "quantity": q})
            if rng.random() < 0.5:
                w = rng.dirichlet(np.ones(k))
                for s, wi in zip(sorted(members.tolist()), w.tolist(), strict=True):
                    weights.append(
                        {
                            "date": days[d],
                            "etf_code": etf,
                            "index_code": None,
                            "code": codes[s],
                            "weight": wi,
                        }
                    )
    index_codes = sorted({e["index_code"] for e in etfs})
    for ic in index_codes:
        for d in range(n_d):
            if rng.random() < 0.6:
                continue
            k = int(rng.integers(1, n_s + 1))
            members = sorted(rng.choice(n_s, size=k, replace=False).tolist())
            w = rng.dirichlet(np.ones(k))
            for s, wi in zip(members, w.tolist(), strict=True):
                weights.append(
                    {
                        "date": days[d],
                        "etf_code": None,
                        "index_code": ic,
                        "code": codes[s],
                        "weight": wi,
                    }
                )

    tables = {
        "stocks": pl.DataFrame(stocks, schema_overrides={"delist_date": pl.Date}),
        "stock_daily": pl.DataFrame(daily),
        "stock_industry": pl.DataFrame(
            industry
            or [
                {
                    "code": codes[0],
                    "start_date": dt.date(2020, 1, 1),
                    "end_date": None,
                    "industry_l1": "银行",
                    "industry_l2": "银行-1",
                }
            ],
            schema_overrides={"end_date": pl.Date},
        ),
        "etfs": pl.DataFrame(etfs),
        "etf_daily": pl.DataFrame(
            etf_daily,
            schema={
                "date": pl.Date,
                "etf_code": pl.String,
                "shares": pl.Float64,
                "nav": pl.Float64,
            },
        ),
        "etf_pcf": pl.DataFrame(
            pcf,
            schema={
                "date": pl.Date,
                "etf_code": pl.String,
                "code": pl.String,
                "quantity": pl.Float64,
            },
        ),
        "holding_weights": pl.DataFrame(
            weights,
            schema={
                "date": pl.Date,
                "etf_code": pl.String,
                "index_code": pl.String,
                "code": pl.String,
                "weight": pl.Float64,
            },
        ),
    }
    return tables

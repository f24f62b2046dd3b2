"""Reference twin of :func:`etfflow.backtest.rotation.holdings.weekly_holdings` (tests only):
plain Python over the rows of the tables, one week-end at a time, weights mode."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import polars as pl


def industry_holdings_ref(
    tables: dict[str, pl.DataFrame], day: dt.date, month_end: dt.date, level: str
) -> dict[str, float]:
    """``{industry: H}`` on ``day`` with the weights in force on ``month_end``.

    ``tables`` holds ``etfs`` (the pool), ``etf_daily``, ``holding_weights`` and
    ``stock_industry`` with string codes.
    """
    scale: dict[str, float] = {}
    for r in tables["etf_daily"].iter_rows(named=True):
        if r["date"] == day and r["shares"] is not None and r["nav"] is not None:
            scale[r["etf_code"]] = r["shares"] * r["nav"]
    own: dict[str, dict[dt.date, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    idx: dict[str, dict[dt.date, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in tables["holding_weights"].iter_rows(named=True):
        if r.get("etf_code") is not None:
            own[r["etf_code"]][r["date"]][r["code"]] = r["weight"]
        else:
            idx[r["index_code"]][r["date"]][r["code"]] = r["weight"]
    industry: dict[str, str] = {}
    for r in tables["stock_industry"].iter_rows(named=True):
        end = r.get("end_date")
        if r["start_date"] <= month_end and (end is None or end >= month_end):
            industry[r["code"]] = r[level]
    out: dict[str, float] = defaultdict(float)
    for r in tables["etfs"].iter_rows(named=True):
        e = r["etf_code"]
        if e not in scale:
            continue
        snaps = {d: w for d, w in own[e].items() if d <= month_end}
        if not snaps:
            snaps = {d: w for d, w in idx[r["index_code"]].items() if d <= month_end}
        if not snaps:
            continue
        weights = snaps[max(snaps)]
        for code, w in weights.items():
            if code in industry:
                out[industry[code]] += scale[e] * w
    return dict(out)

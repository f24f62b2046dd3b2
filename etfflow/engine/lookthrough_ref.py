"""Reference twin of the look-through: plain Python loops over the definitions, for tests only.

Definitions: docs/methodology.md#2-look-through.
Slow and obviously correct: dictionaries keyed by (date, code), one ETF-day at a time.
:func:`etfflow.engine.lookthrough.penetrate` must agree with it.
"""

from __future__ import annotations

import math
from collections import defaultdict

import polars as pl


def _s(df: pl.DataFrame, cols: list[str]) -> pl.DataFrame:
    return df.with_columns([pl.col(c).cast(pl.String) for c in cols if c in df.columns])


def lookthrough_reference(
    tables: dict[str, pl.DataFrame],
    *,
    etf_codes: list[str] | None = None,
    mode: str = "pcf",
    valuation: str = "nav",
    members: set[tuple] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Stock table and industry level-1 table of the look-through, by loops.

    ``tables`` maps table names to DataFrames; ``etf_codes`` is the pool (None = all ETFs;
    with ``valuation="basket"`` an ETF whose ``creation_unit`` is null takes no part);
    ``members`` (``(date, etf_code)`` pairs), when given, keeps only those ETF-days (a
    time-varying pool; the previous shares still come from the ETF's previous row).
    Returns ``(stocks, industry_l1)`` with the columns of the fast path's tables.
    """
    daily = _s(tables["stock_daily"], ["code"])
    etfs = _s(tables["etfs"], ["etf_code", "index_code"])
    etf_daily = _s(tables["etf_daily"], ["etf_code"])
    pool = set(etfs["etf_code"].to_list()) if etf_codes is None else set(etf_codes)
    index_of_etf = dict(zip(etfs["etf_code"], etfs["index_code"], strict=True))
    unit = dict(zip(etfs["etf_code"], etfs["creation_unit"], strict=True))

    calendar = sorted(set(daily["date"].to_list()))
    close = {(r["date"], r["code"]): r["close"] for r in daily.iter_rows(named=True)}

    rows_by_etf: dict[str, list[tuple]] = defaultdict(list)
    for r in etf_daily.sort("date").iter_rows(named=True):
        rows_by_etf[r["etf_code"]].append((r["date"], r["shares"], r["nav"]))

    # baskets[owner][date] = list of (code, value); owner = etf code or ("index", code)
    baskets: dict[object, dict] = defaultdict(lambda: defaultdict(list))
    if mode == "pcf":
        pcf = _s(tables["etf_pcf"], ["etf_code", "code"])
        for r in pcf.iter_rows(named=True):
            baskets[r["etf_code"]][r["date"]].append((r["code"], r["quantity"]))
    else:
        hw = _s(tables["holding_weights"], ["etf_code", "index_code", "code"])
        for r in hw.iter_rows(named=True):
            etf = r.get("etf_code")
            owner = etf if etf is not None else ("index", r.get("index_code"))
            # a snapshot dated on a non-trading day is in force from the next trading day
            start = next((d for d in calendar if d >= r["date"]), None)
            if start is not None:
                baskets[owner][start].append((r["code"], r["weight"]))

    def basket_in_force(owner: object, t: object) -> list | None:
        dates = [d for d in baskets.get(owner, {}) if d <= t]
        return baskets[owner][max(dates)] if dates else None

    acc: dict[tuple, dict] = defaultdict(
        lambda: {"n_etf": 0, "indices": set(), "fund": 0.0, "share": 0.0, "mv": 0.0, "inflow": 0.0}
    )
    ind_etfs: dict[tuple, set] = defaultdict(set)
    ind_idx: dict[tuple, set] = defaultdict(set)
    ind_fund: dict[tuple, float] = defaultdict(float)
    industry = _industry_lookup(tables["stock_industry"])

    for etf in sorted(pool):
        if valuation == "basket" and unit[etf] is None:
            continue  # unknown creation unit: left out of the basket valuation
        rows = rows_by_etf.get(etf, [])
        for i, (t, s_t, n_t) in enumerate(rows):
            s_prev = rows[i - 1][1] if i > 0 else 0.0
            if members is not None and (t, etf) not in members:
                continue
            basket = basket_in_force(etf, t)
            if basket is None and mode == "weights":
                basket = basket_in_force(("index", index_of_etf[etf]), t)
            if basket is None:
                continue
            values = {}
            for code, v in basket:
                if v <= 0:
                    continue
                if mode == "pcf":
                    c = close.get((t, code))
                    if c is None or not math.isfinite(c):
                        continue
                    values[code] = v * c
                else:
                    values[code] = v
            total = sum(values.values()) if mode == "pcf" else 1.0
            if total <= 0:
                continue
            for code, x in values.items():
                w = x / total
                if valuation == "basket":
                    h = s_t / unit[etf] * x
                    inflow = (s_t - s_prev) / unit[etf] * x
                else:
                    h = s_t * n_t * w
                    inflow = (s_t - s_prev) * n_t * w
                a = acc[(t, code)]
                a["n_etf"] += 1
                a["indices"].add(index_of_etf[etf])
                a["fund"] += s_t
                a["share"] += s_t * w
                a["mv"] += h
                a["inflow"] += inflow
                ind = industry(code, t)
                if ind is not None and (t, code) in close:
                    if etf not in ind_etfs[(t, ind)]:
                        ind_fund[(t, ind)] += s_t
                    ind_etfs[(t, ind)].add(etf)
                    ind_idx[(t, ind)].add(index_of_etf[etf])

    first = calendar[0] if calendar else None
    out = []
    for r in daily.sort("date", "code").iter_rows(named=True):
        t, code = r["date"], r["code"]
        held = acc.get((t, code))
        mv = held["mv"] if held else 0.0
        out.append(
            {
                "date": t,
                "code": code,
                "n_etf": held["n_etf"] if held else 0,
                "n_index": len(held["indices"]) if held else 0,
                "share_passive_fund": held["fund"] if held else 0.0,
                "share_passive": held["share"] if held else 0.0,
                "mv_passive": mv,
                "w_passive": mv / r["float_mcap"] if r["float_mcap"] > 0 else None,
                "inflow": None if t == first else (held["inflow"] if held else 0.0),
                "float_mcap": r["float_mcap"],
            }
        )
    stocks = pl.DataFrame(out)

    groups: dict[tuple, dict] = {}
    for row in out:
        ind = industry(row["code"], row["date"])
        if ind is None:
            continue
        key = (row["date"], ind)
        g = groups.setdefault(
            key,
            {"n_stock": 0, "n_held": 0, "mv": 0.0, "share": 0.0, "inflow": 0.0, "f": 0.0},
        )
        g["n_stock"] += 1
        g["n_held"] += row["n_etf"] > 0
        g["mv"] += row["mv_passive"]
        g["share"] += row["share_passive"]
        g["inflow"] += row["inflow"] or 0.0
        g["f"] += row["float_mcap"]
    ind_rows = [
        {
            "date": t,
            "group_name": ind,
            "n_stock": g["n_stock"],
            "n_held": g["n_held"],
            "coverage": g["n_held"] / g["n_stock"],
            "n_etf": len(ind_etfs.get((t, ind), ())),
            "n_index": len(ind_idx.get((t, ind), ())),
            "share_passive_fund": ind_fund.get((t, ind), 0.0),
            "share_passive": g["share"],
            "mv_passive": g["mv"],
            "float_mcap": g["f"],
            "w_passive": g["mv"] / g["f"] if g["f"] > 0 else None,
            "inflow": None if t == first else g["inflow"],
        }
        for (t, ind), g in sorted(groups.items())
    ]
    return stocks, pl.DataFrame(ind_rows)


def _industry_lookup(ind: pl.DataFrame):
    ind = _s(ind, ["code", "industry_l1"])
    spans: dict[str, list[tuple]] = defaultdict(list)
    has_end = "end_date" in ind.columns
    for r in ind.iter_rows(named=True):
        spans[r["code"]].append(
            (r["start_date"], r["end_date"] if has_end else None, r["industry_l1"])
        )

    def lookup(code: str, t: object) -> str | None:
        for start, end, l1 in spans.get(code, []):
            if start <= t and (end is None or t <= end):
                return l1
        return None

    return lookup

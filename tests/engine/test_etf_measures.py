"""Per ETF-day measures (etfflow.engine.etf_measures): hand cases, the loop reference twin on
random markets, and point in time."""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from etfflow.engine.etf_measures import ETF_MEASURES_SCHEMA, etf_measures
from etfflow.engine.loading import open_dataset
from etfflow.exceptions import DatasetNotFoundError, EtfflowError
from tests.engine.test_lookthrough import _perturb_after, hand_market
from tests.helpers import examples
from tests.market_strategies import markets, write_market


def _ok(w: float | None) -> bool:
    return w is not None and math.isfinite(w) and w > 0


def _conc(weights: list[float]) -> tuple[float | None, float | None]:
    ws = [w for w in weights if _ok(w)]
    if not ws:
        return None, None
    return sum(w * w for w in ws), sum(sorted(ws, reverse=True)[:10])


def measures_reference(tables: dict[str, pl.DataFrame], mode: str) -> pl.DataFrame:
    """The measures by plain loops over the rows (the definitions of the module docstring)."""
    etfs = {r["etf_code"]: r for r in tables["etfs"].iter_rows(named=True)}
    close = {
        (r["date"], r["code"]): r["close"] for r in tables["stock_daily"].iter_rows(named=True)
    }
    baskets: dict[object, dict] = defaultdict(lambda: defaultdict(list))
    if mode == "pcf":
        for r in tables["etf_pcf"].iter_rows(named=True):
            baskets[r["etf_code"]][r["date"]].append((r["code"], r["quantity"]))
    else:
        for r in tables["holding_weights"].iter_rows(named=True):
            owner = r["etf_code"] if r["etf_code"] is not None else ("index", r["index_code"])
            baskets[owner][r["date"]].append((r["code"], r["weight"]))

    def in_force(owner: object, t: dt.date) -> list | None:
        dates = [d for d in baskets.get(owner, {}) if d <= t]
        return baskets[owner][max(dates)] if dates else None

    by_etf: dict[str, list[dict]] = defaultdict(list)
    for r in tables["etf_daily"].sort("date").iter_rows(named=True):
        by_etf[r["etf_code"]].append(r)
    out = []
    for code, rows in by_etf.items():
        aums: list[float | None] = []
        amounts: list[float | None] = []
        for r in rows:
            t = r["date"]
            s, n = r["shares"], r["nav"]
            aum = s * n if s is not None and n is not None and not math.isnan(s * n) else None
            amt = r.get("amount")
            amt = None if amt is None or math.isnan(amt) else amt
            aums.append(aum)
            amounts.append(amt)
            turnover = None
            if len(aums) >= 20:
                wa, wm = aums[-20:], amounts[-20:]
                if all(x is not None for x in wa + wm):
                    mean_aum = sum(wa) / 20  # type: ignore[arg-type]
                    if mean_aum > 0:
                        turnover = (sum(wm) / 20) / mean_aum  # type: ignore[arg-type]
            basket = in_force(code, t)
            if basket is None and mode == "weights":
                basket = in_force(("index", etfs[code]["index_code"]), t)
            hhi = top10 = None
            if basket is not None:
                if mode == "pcf":
                    xs = []
                    for c, q in basket:
                        px = close.get((t, c))
                        if _ok(q) and px is not None and _ok(q * px):
                            xs.append(q * px)
                    tot = sum(xs)
                    hhi, top10 = _conc([x / tot for x in xs]) if xs else (None, None)
                else:
                    hhi, top10 = _conc([w for _, w in basket])
            out.append(
                {
                    "date": t,
                    "etf_code": code,
                    "category": etfs[code]["category"],
                    "aum": aum,
                    "hhi": hhi,
                    "top10_weight": top10,
                    "turnover_20": turnover,
                }
            )
    return pl.DataFrame(out, schema=ETF_MEASURES_SCHEMA).sort("date", "etf_code")


def _with_amount(tables: dict[str, pl.DataFrame], seed: int) -> dict[str, pl.DataFrame]:
    """``etf_daily`` with an ``amount`` (some NaN, some zero) and long histories."""
    rng = np.random.default_rng(seed)
    ed = tables["etf_daily"]
    amount = rng.uniform(0, 1e8, ed.height)
    amount[rng.random(ed.height) < 0.05] = np.nan
    amount[rng.random(ed.height) < 0.05] = 0.0
    return {**tables, "etf_daily": ed.with_columns(pl.Series("amount", amount))}


def _measures(tables: dict[str, pl.DataFrame], mode: str) -> pl.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        ds = open_dataset(write_market(tables, Path(tmp) / "m", categorical=True))
        return etf_measures(ds, mode=mode)  # type: ignore[arg-type]


def _close(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert_frame_equal(a, b, check_exact=False, rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets(max_days=30), st.integers(0, 2**31 - 1), st.sampled_from(["pcf", "weights"]))
def test_matches_reference(tables, seed, mode):
    t = _with_amount(tables, seed)
    _close(_measures(t, mode), measures_reference(t, mode))


@settings(max_examples=examples(15), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets(max_days=30), st.integers(0, 2**31 - 1), st.sampled_from(["pcf", "weights"]))
def test_point_in_time(tables, seed, mode):
    """Perturbing every value dated after a cut (and dropping rows) changes nothing up to it."""
    rng = np.random.default_rng(seed)
    t = _with_amount(tables, seed)
    days = sorted(t["stock_daily"]["date"].unique().to_list())
    cut = days[int(rng.integers(0, len(days)))]
    early = pl.col("date") <= cut
    a = _measures(t, mode).filter(early)
    b = _measures(_perturb_after(t, cut, rng), mode).filter(early)
    assert_frame_equal(a, b)


def test_hand_case(tmp_path):
    """X holds A 100 and B 50, Y holds A 200 (carried to D2): hand-checked weights."""
    t = hand_market()
    t["etf_daily"] = t["etf_daily"].with_columns(pl.lit(1e5).alias("amount"))
    ds = open_dataset(write_market(t, tmp_path / "m", categorical=False))
    m = etf_measures(ds, mode="pcf")
    x1 = m.row(0, named=True)
    # D1: A 100·10 = 1000, B 50·20 = 1000 -> w = (0.5, 0.5)
    assert x1["etf_code"] == "510300.SH" and x1["aum"] == pytest.approx(2e6)
    assert x1["hhi"] == pytest.approx(0.5) and x1["top10_weight"] == pytest.approx(1.0)
    # D2: A 100·11 = 1100, B 1000 -> w = (11/21, 10/21)
    x2 = m.filter((pl.col("etf_code") == "510300.SH") & (pl.col("date") == dt.date(2024, 1, 3)))
    assert x2["hhi"][0] == pytest.approx((11 / 21) ** 2 + (10 / 21) ** 2)
    # Y's D1 basket (one stock) carried to D2
    y2 = m.filter((pl.col("etf_code") == "510500.SH") & (pl.col("date") == dt.date(2024, 1, 3)))
    assert y2["hhi"][0] == pytest.approx(1.0)
    assert m["turnover_20"].null_count() == m.height  # 2 rows < 20
    with pytest.raises(DatasetNotFoundError, match="holding_weights"):
        etf_measures(ds, mode="weights")
    with pytest.raises(EtfflowError, match="unknown mode"):
        etf_measures(ds, mode="basket")  # type: ignore[arg-type]


def test_turnover_and_top10_by_hand(tmp_path):
    """25 days of constant AUM 100 and amount 5 then 15: turnover 0.05 from the 20th row,
    and a 12-stock index snapshot whose top 10 are counted."""
    days = [
        d for d in (dt.date(2024, 1, 1) + dt.timedelta(i) for i in range(40)) if d.weekday() < 5
    ]
    days = days[:25]
    t = hand_market()
    codes = [f"{600000 + i:06d}.SH" for i in range(12)]
    t["stocks"] = pl.DataFrame(
        {"code": codes, "name": codes, "board": ["SH_MAIN"] * 12, "list_date": [days[0]] * 12}
    )
    t["stock_industry"] = t["stocks"].select(
        "code", pl.lit(days[0]).alias("start_date"), pl.lit("银行").alias("industry_l1"),
        pl.lit("银行-1").alias("industry_l2"),
    )  # fmt: skip
    t["stock_daily"] = pl.DataFrame(
        {
            "date": [d for d in days for _ in codes],
            "code": codes * len(days),
            "close": 1.0,
            "ret": 0.0,
            "float_mcap": 1e9,
            "is_st": False,
            "is_suspended": False,
        }
    )
    t["etfs"] = t["etfs"].head(1)
    t["etf_daily"] = pl.DataFrame(
        {
            "date": days,
            "etf_code": "510300.SH",
            "shares": 50.0,
            "nav": 2.0,
            "amount": [5.0] * 20 + [15.0] * 5,
        }
    )
    w = np.array([3.0] * 2 + [1.0] * 10)
    w = w / w.sum()  # 2 stocks at 3/16, 10 at 1/16
    t["holding_weights"] = pl.DataFrame(
        {"date": days[0], "index_code": "000300.SH", "code": codes, "weight": w},
        schema_overrides={"date": pl.Date},
    )
    del t["etf_pcf"]
    m = etf_measures(
        open_dataset(write_market(t, tmp_path / "m", categorical=False)), mode="weights"
    )
    assert m["turnover_20"][:19].null_count() == 19
    assert m["turnover_20"][19] == pytest.approx(5 / 100)
    assert m["turnover_20"][24] == pytest.approx((15 * 5 + 5 * 15) / 20 / 100)
    assert m["top10_weight"][0] == pytest.approx(14 / 16)
    assert m["hhi"][0] == pytest.approx(2 * (3 / 16) ** 2 + 10 / 256)

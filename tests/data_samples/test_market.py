"""The synthetic market follows the data contract and carries the documented effects."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from etfflow.data_samples import SIZES, MarketConfig, generate_market
from etfflow.data_samples.calendar import HOLIDAYS, trading_days
from etfflow.engine import lookthrough, validation
from etfflow.engine.loading import open_dataset
from etfflow.engine.schemas import TABLES
from etfflow.exceptions import EtfflowError

from .conftest import TINY_SEED, read
from .effects import flow_slopes, rank_ic_by_year, stock_inflow

CODE_COLUMNS = ("code", "etf_code", "index_code", "fund_code")
PREFIXES = {
    "SH_MAIN": (("600", "601", "603", "605"), ".SH"),
    "SZ_MAIN": (("000", "001", "002", "003"), ".SZ"),
    "CHINEXT": (("300", "301"), ".SZ"),
    "STAR": (("688",), ".SH"),
}


def _hashes(path: Path) -> dict[str, str]:
    return {
        f.relative_to(path).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(path.rglob("*.parquet"))
    }


# --------------------------------------------------------------------------- API, determinism


def test_same_seed_is_byte_identical(tiny_market: Path, tmp_path: Path) -> None:
    again = generate_market(tmp_path / "again", size="tiny", seed=TINY_SEED)
    first = _hashes(tiny_market)
    assert len(first) == len(TABLES) - 1 + 2  # etf_pcf: one file per year (2023, 2024)
    assert _hashes(again) == first


def test_other_seed_differs(tiny_market: Path, tmp_path: Path) -> None:
    other = _hashes(generate_market(tmp_path / "other", size="tiny", seed=TINY_SEED + 1))
    same = [k for k, v in _hashes(tiny_market).items() if other.get(k) == v]
    assert same == []


def test_progress_and_errors(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    cfg = dataclasses.replace(SIZES["tiny"], n_stocks=40, n_etfs_end=6, impact_gamma={2024: 0.0})
    generate_market(tmp_path / "p", config=cfg, seed=3, progress=lambda *a: seen.append(a))
    stages = {s for s, _, _ in seen}
    assert {"stocks", "simulate", "etf_pcf", "write"} <= stages
    assert all(0 <= d <= t for _, d, t in seen)
    assert (
        "simulate",
        len(trading_days(cfg.start, cfg.end)),
        len(trading_days(cfg.start, cfg.end)),
    ) in seen
    with pytest.raises(EtfflowError, match="unknown market size"):
        generate_market(tmp_path / "x", size="huge")
    with pytest.raises(EtfflowError, match="not after start"):
        generate_market(tmp_path / "x", config=dataclasses.replace(cfg, end=cfg.start))


def test_sizes_and_config() -> None:
    assert set(SIZES) == {"tiny", "small", "full"}
    assert all(isinstance(c, MarketConfig) for c in SIZES.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        SIZES["tiny"].n_stocks = 3  # type: ignore[misc]
    small = SIZES["small"]
    assert small.end.year == 2024 and small.start.year == 2023
    json.dumps(SIZES["full"].to_json())


def test_manifest(tiny_market: Path) -> None:
    m = json.loads((tiny_market / "manifest.json").read_text(encoding="utf-8"))
    assert m["size"] == "tiny" and m["seed"] == TINY_SEED
    assert set(m["row_counts"]) == set(TABLES)
    for t, n in m["row_counts"].items():
        assert read(tiny_market, t).height == n, t
    assert m["config"]["n_stocks"] == SIZES["tiny"].n_stocks
    eff = m["planted_effects"]
    assert eff["flow_rule"]["sign"] == {"2023": "contrarian", "2024": "trend-following"}
    assert eff["price_impact"]["expected_rank_ic_sign"] == {"2023": -1, "2024": 1}
    assert "generation_seconds" not in m  # no timing: same seed, byte-identical manifest
    assert open_dataset(tiny_market).manifest["seed"] == TINY_SEED


# --------------------------------------------------------------------------- schema and keys


def test_every_table_has_the_contract_schema(tiny_market: Path) -> None:
    ds = open_dataset(tiny_market)
    assert set(ds.paths) == set(TABLES)
    assert ds.paths["etf_pcf"].is_dir()
    for name, spec in TABLES.items():
        schema = ds.frame(name).collect_schema()
        assert schema.names() == spec.columns.names(), name
        for col, want in spec.columns.items():
            got = schema[col]
            if col in CODE_COLUMNS:
                assert got == pl.Categorical, (name, col, got)
            elif want == pl.String:
                assert got in (pl.String, pl.Categorical), (name, col, got)
            else:
                assert got == want, (name, col, got)


@pytest.mark.parametrize("table", list(TABLES))
def test_sorted_by_key_without_duplicates(tiny_market: Path, table: str) -> None:
    df = read(tiny_market, table)
    key = [c for c in TABLES[table].key if c in df.columns]
    if table == "holding_weights":
        key = ["date", "etf_code", "code"]  # one snapshot per ETF; index_code follows etf_code
    assert df.height > 0
    assert df.select(key).is_duplicated().sum() == 0
    assert df.select(key).equals(df.select(key).sort(key)), table


# --------------------------------------------------------------------------- stocks


def test_board_prefixes(tiny_market: Path) -> None:
    small = read(tiny_market, "stocks")
    for code, board in small.select("code", "board").iter_rows():
        prefixes, suffix = PREFIXES[board]
        assert code.endswith(suffix) and code[:3] in prefixes, (code, board)
    assert set(small["board"]) == set(PREFIXES)


def test_calendar_has_no_weekends_or_holidays(tiny_market: Path) -> None:
    days = read(tiny_market, "stock_daily")["date"].unique().sort()
    assert all(d.weekday() < 5 for d in days)
    hol = set()
    for a, b in HOLIDAYS:
        d = dt.date.fromisoformat(a)
        while d <= dt.date.fromisoformat(b):
            hol.add(d)
            d += dt.timedelta(days=1)
    assert not hol & set(days)
    cfg = SIZES["tiny"]
    assert days.to_list() == trading_days(cfg.start, cfg.end).astype(dt.date).tolist()
    for t in ("etf_daily", "etf_pcf", "holding_weights", "index_daily", "fund_nav"):
        assert set(read(tiny_market, t)["date"].unique()) <= set(days), t


def test_price_limits(tiny_market: Path) -> None:
    sd = read(tiny_market, "stock_daily").sort("code", "date")
    st = read(tiny_market, "stocks")
    df = (
        sd.join(st.select("code", "board", "list_date"), on="code")
        .with_columns(prev=pl.col("close").shift(1).over("code"))
        .filter(pl.col("date") != pl.col("list_date"), pl.col("prev").is_not_null())
        .with_columns(
            lim=pl.when(pl.col("is_st"))
            .then(0.05)
            .when(pl.col("board").is_in(["CHINEXT", "STAR"]))
            .then(0.20)
            .otherwise(0.10)
        )
    )
    tol = 0.005 / df["prev"] + 1e-12
    assert ((df["ret"].abs() - df["lim"]) <= tol).all()
    assert (df["close"] <= df["up_limit"] + 1e-9).all() and (
        df["close"] >= df["down_limit"] - 1e-9
    ).all()
    exp_up = (df["prev"] * (1 + df["lim"]) * 100 + 0.5).floor() / 100
    assert (df["up_limit"] - exp_up).abs().max() < 1e-9
    assert (df["ret"] - (df["close"] / df["prev"] - 1)).abs().max() < 1e-12
    assert (df["float_mcap"] > 0).all() and (df["total_mcap"] >= df["float_mcap"]).all()
    assert 1e7 < sd["float_mcap"].min() and sd["float_mcap"].max() < 5e12


def test_suspensions_carry_the_close(tiny_market: Path) -> None:
    sd = (
        read(tiny_market, "stock_daily")
        .sort("code", "date")
        .with_columns(prev=pl.col("close").shift(1).over("code"))
    )
    s = sd.filter(pl.col("is_suspended"))
    assert s.height > 0
    assert (s["ret"] == 0).all() and (s["amount"] == 0).all()
    s = s.drop_nulls("prev")
    assert (s["close"] == s["prev"]).all()


def test_ipos_and_delistings(tiny_market: Path) -> None:
    st = read(tiny_market, "stocks")
    sd = read(tiny_market, "stock_daily")
    first, last = sd["date"].min(), sd["date"].max()
    span = sd.group_by("code").agg(a=pl.col("date").min(), b=pl.col("date").max(), n=pl.len())
    df = st.join(span, on="code")
    ipo = df.filter(pl.col("list_date") > first)
    assert ipo.height > 0 and (ipo["a"] == ipo["list_date"]).all()
    gone = df.filter(pl.col("delist_date").is_not_null())
    assert gone.height > 0 and (gone["delist_date"] <= last).all()
    assert (gone["b"] < gone["delist_date"]).all() and (
        gone["delist_date"] >= gone["list_date"]
    ).all()
    # one row per trading day between the first and the last row
    days = sd["date"].unique().sort().to_list()
    pos = {d: i for i, d in enumerate(days)}
    assert all(pos[b] - pos[a] + 1 == n for a, b, n in df.select("a", "b", "n").iter_rows())
    assert df.filter(pl.col("list_date") <= first)["a"].eq(first).all()


def test_industries_point_in_time(tiny_market: Path) -> None:
    ind = read(tiny_market, "stock_industry").sort("code", "start_date")
    assert ind["industry_l1"].n_unique() >= 15
    assert set(read(tiny_market, "stocks")["code"]) == set(ind["code"])
    changed = ind.filter(pl.col("code").is_duplicated())
    assert changed.height >= 2
    chk = ind.with_columns(next_start=pl.col("start_date").shift(-1).over("code")).drop_nulls(
        "next_start"
    )
    assert (chk["end_date"] < chk["next_start"]).all()


# --------------------------------------------------------------------------- ETFs and baskets


def test_etf_universe(tiny_market: Path) -> None:
    e = read(tiny_market, "etfs")
    first = read(tiny_market, "stock_daily")["date"].min()
    assert e["is_enhanced"].any()
    assert (e["list_date"] > first).any() and e["delist_date"].is_not_null().any()
    assert e["creation_unit"].is_between(500_000, 1_000_000).all()
    for code in e["etf_code"]:
        assert (code.endswith(".SH") and code[:2] in ("51", "56", "58")) or (
            code.endswith(".SZ") and code.startswith("159")
        ), code
    assert set(e["index_code"]) <= set(read(tiny_market, "index_daily")["index_code"])
    assert {"broad", "sector"} <= set(e["category"])
    ed = read(tiny_market, "etf_daily")
    span = ed.group_by("etf_code").agg(a=pl.col("date").min(), b=pl.col("date").max())
    j = e.join(span, on="etf_code")
    assert (
        j.filter(pl.col("list_date") > first)["a"]
        == j.filter(pl.col("list_date") > first)["list_date"]
    ).all()
    dl = j.filter(pl.col("delist_date").is_not_null())
    assert (dl["b"] < dl["delist_date"]).all()
    assert (ed["shares"] > 0).all() and (ed["nav"] > 0).all()
    ed = ed.join(e.select("etf_code", "creation_unit"), on="etf_code")
    m = ed["shares"] / ed["creation_unit"]
    assert (m == m.round(0)).all()  # whole creation units


def test_nav_is_the_basket_value(tiny_market: Path) -> None:
    pcf = read(tiny_market, "etf_pcf")
    sd = read(tiny_market, "stock_daily").select("date", "code", "close")
    val = (
        pcf.join(sd, on=["date", "code"], how="left")
        .group_by("date", "etf_code")
        .agg(
            v=(pl.col("quantity") * pl.col("close")).sum(), missing=pl.col("close").is_null().sum()
        )
    )
    assert val["missing"].sum() == 0  # only stocks with a stock_daily row that day
    units = read(tiny_market, "etfs").select("etf_code", "creation_unit")
    ed = (
        read(tiny_market, "etf_daily")
        .join(val, on=["date", "etf_code"], how="left")
        .join(units, on="etf_code")
    )
    assert ed["v"].null_count() == 0  # every ETF-day has a basket
    rel = (ed["nav"] * ed["creation_unit"] / ed["v"] - 1).abs()
    assert rel.max() < 1e-9
    assert val.height == ed.height  # and no basket without an etf_daily row
    assert ((pcf["quantity"] / 100) % 1 == 0).all() and (pcf["quantity"] > 0).all()
    assert set(pcf["cash_substitute"]) <= {"forbidden", "allowed", "required"}


def test_pcf_baskets_are_contiguous_and_fixed_between_rebalances(tiny_market: Path) -> None:
    pcf = read(tiny_market, "etf_pcf")
    runs = pcf.select(k=pl.concat_str("date", "etf_code")).with_columns(
        new=(pl.col("k") != pl.col("k").shift(1)).fill_null(True)
    )
    assert runs["new"].sum() == pcf.select("date", "etf_code").n_unique()
    # the basket of most ETF-days equals the previous day's basket
    sig = pcf.group_by("etf_code", "date").agg(
        h=(pl.col("code") + pl.col("quantity").cast(pl.String)).sort().str.join(",")
    )
    sig = sig.sort("etf_code", "date").with_columns(
        same=pl.col("h") == pl.col("h").shift(1).over("etf_code")
    )
    assert sig["same"].mean() > 0.9


def test_holding_weight_snapshots(tiny_market: Path) -> None:
    hw = read(tiny_market, "holding_weights")
    sums = hw.group_by("date", "etf_code").agg(pl.col("weight").sum())
    assert (sums["weight"] - 1).abs().max() < 1e-9
    assert hw["index_code"].null_count() == 0 and hw["etf_code"].null_count() == 0
    days = read(tiny_market, "stock_daily")["date"].unique().sort()
    month_ends = (
        days.to_frame()
        .group_by(pl.col("date").dt.truncate("1mo").alias("m"))
        .agg(pl.col("date").max())["date"]
    )
    assert set(hw["date"]) == set(month_ends)
    # snapshot weights = PCF weights on the snapshot day
    pcf = read(tiny_market, "etf_pcf").filter(pl.col("date").is_in(hw["date"].unique().implode()))
    sd = read(tiny_market, "stock_daily").select("date", "code", "close")
    w = (
        pcf.join(sd, on=["date", "code"])
        .with_columns(v=pl.col("quantity") * pl.col("close"))
        .with_columns(w=pl.col("v") / pl.col("v").sum().over("date", "etf_code"))
        .join(hw, on=["date", "etf_code", "code"], how="full", coalesce=True)
    )
    assert w["w"].null_count() == 0 and w["weight"].null_count() == 0
    assert (w["w"] - w["weight"]).abs().max() < 1e-12


def test_flow_regimes_on_tiny(tiny_market: Path) -> None:
    slopes = flow_slopes(tiny_market)
    assert slopes[2023] < 0 < slopes[2024]


# ---------------------------------------------------------------- Huafu 2026-02 rotation tables


def test_rotation_tables(tiny_market: Path) -> None:
    idx = read(tiny_market, "index_daily")
    assert {"000300.SH", "000852.SH", "000918.CSI", "000919.CSI"} <= set(idx["index_code"])
    days = read(tiny_market, "stock_daily")["date"].n_unique()
    assert idx.group_by("index_code").len()["len"].eq(days).all()
    funds = read(tiny_market, "active_funds")
    assert funds.height == SIZES["tiny"].n_active_funds
    nav = read(tiny_market, "fund_nav")
    assert nav.height == funds.height * days and (nav["nav"] > 0).all()
    h = read(tiny_market, "active_holdings")
    assert (h["disclose_date"] > h["report_date"]).all() and (h["mv"] > 0).all()
    assert h["is_full"].any() and (~h["is_full"]).any()
    top = h.filter(~pl.col("is_full")).group_by("report_date", "fund_code").len()
    assert top["len"].max() == 10
    full = h.filter(pl.col("is_full"))
    assert set(full["report_date"].dt.month()) <= {6, 12}
    # the top-10 rows are the ten largest of a semi-annual report
    semi = h.filter(pl.col("report_date").is_in(full["report_date"].unique().implode()))
    worst_top = (
        semi.filter(~pl.col("is_full")).group_by("report_date", "fund_code").agg(pl.col("mv").min())
    )
    best_rest = full.group_by("report_date", "fund_code").agg(pl.col("mv").max().alias("rest"))
    chk = worst_top.join(best_rest, on=["report_date", "fund_code"])
    assert (chk["mv"] >= chk["rest"]).all()
    iss = read(tiny_market, "fund_issuance")
    assert (iss["month"].dt.day() == 1).all() and set(iss["kind"]) == {"etf", "active"}
    assert iss.group_by("month").len()["len"].eq(2).all() and (iss["new_shares"] >= 0).all()


def test_fund_nav_follows_holdings(tiny_market: Path) -> None:
    """Between two quarter ends the NAV return is the buy-and-hold return of the holdings."""
    h = read(tiny_market, "active_holdings")
    semi = h.filter(pl.col("report_date").dt.month() == 12)
    if semi.is_empty():
        pytest.skip("no semi-annual report inside the tiny window")
    rd = semi["report_date"][0]
    sd = read(tiny_market, "stock_daily").select("date", "code", "close")
    days = sd["date"].unique().sort()
    q = days.filter(days <= rd).max()
    nxt = days.filter(days > q).head(20).to_list()
    nav = read(tiny_market, "fund_nav")
    fund = semi["fund_code"][0]
    port = semi.filter(pl.col("fund_code") == fund).select("code", "mv")
    px0 = sd.filter(pl.col("date") == q).select("code", pl.col("close").alias("c0"))
    n0 = nav.filter((pl.col("fund_code") == fund) & (pl.col("date") == q))["nav"][0]
    for d in (nxt[5], nxt[19]):
        pxd = sd.filter(pl.col("date") == d).select("code", pl.col("close").alias("cd"))
        v = (
            port.join(px0, on="code")
            .join(pxd, on="code")
            .select((pl.col("mv") * pl.col("cd") / pl.col("c0")).sum())[0, 0]
        )
        v0 = port["mv"].sum()
        cash = v0 * SIZES["tiny"].active_cash / (1 - SIZES["tiny"].active_cash)
        nd = nav.filter((pl.col("fund_code") == fund) & (pl.col("date") == d))["nav"][0]
        k = nxt.index(d) + 1
        fee = (1 - SIZES["tiny"].active_fee / 242) ** k
        assert nd / n0 == pytest.approx((v + cash) / (v0 + cash) * fee, rel=1e-9)


# --------------------------------------------------------------------------- validator


def test_tiny_market_validates(tiny_market: Path) -> None:
    report = validation.validate(open_dataset(tiny_market))
    assert report.errors == [], [e.message for e in report.errors]
    assert report.warnings == [], [w.message for w in report.warnings]


def test_engine_lookthrough_recovers_the_inflow(tiny_market: Path) -> None:
    """The engine's look-through inflow equals the one recomputed here; nav = basket valuation."""
    ds = open_dataset(tiny_market)
    nav = lookthrough.penetrate(ds).stocks.with_columns(pl.col("code").cast(pl.String))
    basket = lookthrough.penetrate(ds, valuation="basket").stocks
    rel = (nav["mv_passive"] - basket["mv_passive"]).abs() / (nav["mv_passive"].abs() + 1.0)
    assert rel.max() < 1e-9
    days, codes, inflow, _fcap, _ret = stock_inflow(tiny_market)
    d_idx = {d: i for i, d in enumerate(days)}
    c_idx = {c: i for i, c in enumerate(codes)}
    ti = np.array([d_idx[d] for d in nav["date"].to_list()])
    ci = np.array([c_idx[c] for c in nav["code"].to_list()])
    mine = inflow[ti, ci]
    eng = nav["inflow"].to_numpy()
    first = ti == 0
    assert np.isnan(eng[first]).all() and np.isnan(mine[first]).all()
    scale = np.abs(mine[~first]).max()
    assert scale > 0 and np.abs(mine[~first] - eng[~first]).max() < 1e-9 * scale


# --------------------------------------------------------------------------- planted effects (slow)


@pytest.mark.slow
def test_small_market_flows_and_price_impact(small_market: Path) -> None:
    """On ``small`` (seed 0): contrarian flows and a negative Rank IC in 2023, trend-following
    flows and a positive Rank IC in 2024 (the planted effect; docs/synthetic_market.md)."""
    slopes = flow_slopes(small_market)
    assert slopes[2023] < 0 < slopes[2024]
    ic = rank_ic_by_year(small_market)
    assert ic[2023][0] < -0.02 and ic[2023][1] >= 10
    assert ic[2024][0] > 0.02 and ic[2024][1] >= 10


@pytest.mark.slow
def test_no_price_impact_gives_a_weaker_ic(small_market: Path, tmp_path: Path) -> None:
    """Switching the impact off moves both years' Rank IC towards zero (same seed)."""
    cfg = dataclasses.replace(SIZES["small"], impact_gamma={2023: 0.0})
    off = rank_ic_by_year(generate_market(tmp_path / "m", config=cfg, seed=0))
    on = rank_ic_by_year(small_market)
    assert off[2023][0] > on[2023][0] + 0.02 and off[2024][0] < on[2024][0] - 0.02
    assert np.isfinite([v for v, _ in off.values()]).all()

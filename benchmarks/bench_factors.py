"""Benchmark: every factor × windows 20/40/60 for one pool, and storing them.

Times, in one process on the same look-through result:

- etfflow ``compute_factors(inputs, "all")`` (dense panels + numba kernels), best of N;
- a Polars peer computing the subset of factors that are plain window expressions
  (differences, change rates, rolling sums, z-scores, past returns) the way one would in
  lazy Polars: a long frame sorted by code, date, ``shift``/``rolling_*`` ``.over("code")``;
  etfflow is timed on the same subset too, and the ratio printed;
- cross-sectional processing of one factor (winsor, fill, zscore, neutralize with board);
- the wide table build and the DuckDB insert, wide (one column per factor) vs long
  (``date, code, factor, value``).

Usage::

    python benchmarks/bench_factors.py --data bench_data/full_seed0 [--repeat 3]

(generate the data first: ``etfflow generate --size full --out bench_data/full_seed0``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from etfflow.engine.loading import open_dataset
from etfflow.engine.lookthrough import penetrate
from etfflow.engine.market import load_market
from etfflow.factors import compute_factors, process, stock_inputs

SUBSET_FAMILIES = (
    "share_passive_fund_diff",
    "share_passive_diff",
    "mv_passive_diff",
    "mv_passive_chg",
    "w_passive_diff",
    "w_passive_chg",
    "w_passive_zs",
    "mv_passive_inflow",
    "w_passive_inflow",
    "revs",
)


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def polars_subset(stocks: pl.DataFrame, ret: pl.DataFrame, windows=(20, 40, 60)) -> pl.DataFrame:
    """The subset factors as lazy Polars window expressions over ``code``.

    Rows are listed stock-days, so ``shift(n)`` is n rows of the same stock (the same as n
    trading days while a stock is listed without gaps, as in the synthetic market).
    """
    lf = stocks.lazy().join(ret.lazy(), on=["date", "code"], how="left").sort("code", "date")
    exprs = []
    for n in windows:
        for col, fam in (
            ("share_passive_fund", "share_passive_fund_diff"),
            ("share_passive", "share_passive_diff"),
            ("mv_passive", "mv_passive_diff"),
        ):
            exprs.append((pl.col(col) - pl.col(col).shift(n)).over("code").alias(f"{fam}_{n}"))
        mvd = (pl.col("mv_passive") - pl.col("mv_passive").shift(n)).over("code")
        lag = pl.col("mv_passive").shift(n).over("code")
        exprs += [
            pl.when(lag != 0).then(mvd / lag).alias(f"mv_passive_chg_{n}"),
            (mvd / pl.col("float_mcap")).alias(f"w_passive_diff_{n}"),
            (pl.col("w_passive") - pl.col("w_passive").shift(n))
            .over("code")
            .alias(f"w_passive_chg_{n}"),
            (
                (pl.col("w_passive") - pl.col("w_passive").rolling_mean(n))
                / pl.col("w_passive").rolling_std(n)
            )
            .over("code")
            .alias(f"w_passive_zs_{n}"),
            pl.col("inflow").rolling_sum(n).over("code").alias(f"mv_passive_inflow_{n}"),
            (pl.col("inflow").rolling_sum(n).over("code") / pl.col("float_mcap")).alias(
                f"w_passive_inflow_{n}"
            ),
            (pl.col("ret").log1p().rolling_sum(n).exp() - 1).over("code").alias(f"revs_{n}"),
        ]
    return lf.select("date", "code", *exprs).collect()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", default="bench_data/full_seed0")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-store", action="store_true")
    args = ap.parse_args()
    ds = open_dataset(args.data)
    t0 = time.perf_counter()
    lt = penetrate(ds)
    market = load_market(ds)
    print(
        f"look-through + market: {time.perf_counter() - t0:.2f} s ({lt.stocks.height:,} stock-days)"
    )
    t_in, x = best(lambda: stock_inputs(market, lt.stocks), args.repeat)
    print(f"dense inputs:            {t_in:7.3f} s")
    compute_factors(x, "all")  # warm-up: JIT compile
    x._cache.clear()

    def all_factors():
        x._cache.clear()
        return compute_factors(x, "all")

    t_all, fs = best(all_factors, args.repeat)
    n_all = len(fs.names)
    print(f"etfflow, all {n_all} factors: {t_all:7.3f} s  (target <= 3 s)")
    slow = sorted(fs.timings.items(), key=lambda kv: -kv[1])[:5]
    print("  slowest: " + ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in slow))

    subset = ",".join(SUBSET_FAMILIES)

    def ours_subset():
        x._cache.clear()
        return compute_factors(x, subset)

    t_sub, sub = best(ours_subset, args.repeat)
    ret = pl.DataFrame(
        {
            "date": market.calendar.dates.gather(market.panel.row_day),
            "code": pl.Series(market.codes).gather(market.panel.row_stock),
            "ret": market.ret[market.listed],
        }
    )
    t_pl, pl_out = best(lambda: polars_subset(lt.stocks, ret), max(1, args.repeat - 1))
    ours_frame = sub.frame().sort("code", "date")
    name = "w_passive_zs_20"
    a = ours_frame[name].to_numpy()
    b = pl_out.sort("code", "date")[name].to_numpy()
    ok = np.isfinite(a) & np.isfinite(b)
    diff = float(np.max(np.abs(a[ok] - b[ok]))) if ok.any() else float("nan")
    print(
        f"subset of {len(sub.names)} window factors: etfflow {t_sub:.3f} s, Polars .over(code) "
        f"{t_pl:.3f} s -> ratio {t_pl / t_sub:.1f}x  (max |diff| {name}: {diff:.2e})"
    )

    one = fs.values["w_passive_inflow_20"]
    from etfflow.factors.compute import FactorSet

    single = FactorSet(
        x,
        [i for i in fs.instances if i.name == "w_passive_inflow_20"],
        {"w_passive_inflow_20": one},
    )
    steps = "winsor,fill,zscore,neutralize(industry,log_cap,board)"
    process(single, steps, market=market)
    t_proc, _ = best(lambda: process(single, steps, market=market), args.repeat)
    print(f"processing one factor ({steps}): {t_proc:.3f} s  (target <= 0.3 s)")

    del sub, pl_out, ours_frame
    t_frame, wide = best(fs.frame, 1)
    print(f"wide table build ({wide.height:,} rows × {wide.width - 2} factors): {t_frame:.2f} s")
    if args.skip_store:
        return
    with tempfile.TemporaryDirectory() as tmp:
        from etfflow.engine.store import open_store

        t0 = time.perf_counter()
        with open_store(Path(tmp) / "s.duckdb") as st:
            st.write_run(
                "factors",
                {"factor_values": wide},
                dataset_path=args.data,
                fingerprint="bench",
                pool="all",
                params={},
                wide={"factor_values"},
            )
        t_store = time.perf_counter() - t0
        print(f"store.write_run of the wide table (one transaction): {t_store:.2f} s")
        # wide vs long on the same 10 factors (the long form of all 46 needs > 20 GB here)
        ten = wide.select("date", "code", *wide.columns[2:12])
        long = ten.unpivot(index=["date", "code"], variable_name="factor", value_name="value")
        con = duckdb.connect(str(Path(tmp) / "w.duckdb"))
        t0 = time.perf_counter()
        con.register("w", ten)
        con.execute("CREATE TABLE wide AS SELECT * FROM w")
        con.complete()
        t_wide = time.perf_counter() - t0
        t0 = time.perf_counter()
        con.register("l", long)
        con.execute("CREATE TABLE long AS SELECT * FROM l")
        con.complete()
        t_long = time.perf_counter() - t0
        con.close()
    print(
        f"DuckDB insert of 10 factors: wide {t_wide:.2f} s vs long {t_long:.2f} s "
        f"({long.height:,} rows) -> ratio {t_long / t_wide:.1f}x"
    )


if __name__ == "__main__":
    main()

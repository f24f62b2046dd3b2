"""Look-through benchmark: etfflow vs DuckDB SQL vs a Polars streaming join, same run.

Usage::

    python benchmarks/bench_lookthrough.py                    # full market, both modes
    python benchmarks/bench_lookthrough.py --size small --mode pcf
    python benchmarks/bench_lookthrough.py --data DIR --mode pcf --contenders etfflow \
        --baseline-python /tmp/basevenv/bin/python --breakdown   # before/after, same run

The market is generated into ``bench_data/<size>_seed0`` when absent. Each contender runs in
its own subprocess (so its peak RSS and minor page faults are its own), computes the daily
stock table for all ETFs from the same Parquet files, and reports the median
seconds (and range) of ``--repeat`` runs (default 3, contenders interleaved), peak RSS, minor
page faults and a checksum; the parent checks the checksums agree and prints ratios against
etfflow. Planning targets (issue 2): PCF no slower than DuckDB SQL with peak RSS ≤ 3 GB;
snapshot mode ≤ 1 s. Issue 8 §3: ≤ 1M minor faults for the full PCF look-through.

Seconds are end to end in a fresh process: imports included (for etfflow: Polars, NumPy and
numba ≈ 0.4 s, plus numba's one-off set-up at the first kernel call ≈ 0.3 s, which overlaps the
Parquet read). ``--breakdown`` prints etfflow's stages: seconds and minor faults
(``diagnostics["stage_seconds"]``, ``diagnostics["stage_minor_faults"]``).

On the shared VMs first-touch memory is slow (≈ 1–2 s per fresh GB) and wall time swings with
the load, so minor faults and peak RSS (far steadier) are printed beside the seconds.
``--baseline-python`` runs the etfflow installed in another environment as contender
``baseline`` in the same run, e.g. ``git archive main | tar -x -C /tmp/base && python -m venv
/tmp/basevenv && /tmp/basevenv/bin/pip install "/tmp/base[bench]"``.

Measured (issue 8 §3; full market, same run, median of 3, fresh process): copying each
chunk's basket columns into one set of reused NumPy buffers instead of fresh ``to_numpy()``
copies took the PCF look-through from 0.97M to 0.42M minor faults (0.44×), peak RSS from
2.19 to 1.79 GB and 8.03 s to 7.51 s (0.94×) at load ≈ 2; at load ≈ 10, from 1.12M to 0.64M
faults and 2.07 to 1.75 GB, 29.3 s to 22.8 s. Weights mode is unchanged (2.47 s vs 2.55 s,
0.26M faults, 1.1 GB). Faults grow with wall time: Polars' allocator returns freed pages to
the OS on a timer, so the slower the run, the more of its Parquet decode buffers fault again.
Of the remaining PCF faults, ≈ 0.3–0.5M are Polars decoding ``etf_pcf``, ≈ 0.05M reading the
other tables, ≈ 0.06M the stock panel and ≈ 0.04M the output table. ``--chunk-days 63`` (or
42) lowers peak RSS to 1.35 (1.18) GB with about as many faults (not yet the default: its
speed was not compared in one run).

Issue 9 (the look-through split into ``etfflow/engine/lookthrough/``, ``weights_flows`` in
named stages, read-only kernel inputs; full market, same run, median of 5 at load ≈ 7 on 2
cores, ``--baseline-python`` at the previous commit): PCF 24.9 s vs 28.2 s (0.88×), 0.67M vs
0.71M minor faults, 1.75 GB peak RSS both; weights 7.6 s vs 8.3 s (0.92×; its look-through
stage 2.4 s vs 3.1 s), 0.26M vs 0.27M faults, 1.05 GB both; same checksums. In the warm-up
run before it, the previous code recompiled the weights kernels for the full market (32 s
against 7 s): its small-market cache held read-only specialisations and the full market's
multi-chunk columns arrive writeable.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

CONTENDERS = ("etfflow", "duckdb", "polars")


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _checksum(df) -> dict:
    import polars as pl

    s = df.select(
        pl.col("n_etf").cast(pl.Int64).sum().alias("n_etf"),
        pl.col("n_index").cast(pl.Int64).sum().alias("n_index"),
        pl.col("mv_passive").sum().alias("mv"),
        pl.col("share_passive").sum().alias("share"),
        pl.col("inflow").sum().alias("inflow"),
        pl.len().alias("rows"),
    ).row(0, named=True)
    return {k: float(v) for k, v in s.items()}


STAGES: dict = {}
STAGE_FAULTS: dict = {}
CHUNK_DAYS: list[int] = []


def run_etfflow(data: Path, mode: str):
    t0, f0 = time.perf_counter(), _minor_faults()
    from etfflow.engine.loading import open_dataset
    from etfflow.engine.lookthrough import penetrate

    STAGES["import"] = round(time.perf_counter() - t0, 3)
    STAGE_FAULTS["import"] = _minor_faults() - f0
    opts = {"chunk_days": CHUNK_DAYS[0]} if CHUNK_DAYS else {}
    lt = penetrate(open_dataset(data), mode=mode, **opts)
    STAGES.update(lt.diagnostics.get("stage_seconds", {}))
    STAGE_FAULTS.update(lt.diagnostics.get("stage_minor_faults", {}))
    return lt.stocks


def _duckdb_sql(data: Path, mode: str) -> str:
    d = data.as_posix()
    common = f"""
    px AS (SELECT date, code::VARCHAR AS code, float_mcap, close
           FROM read_parquet('{d}/stock_daily.parquet')),
    ed AS (SELECT date, etf_code::VARCHAR AS etf_code, shares, nav,
                  shares - coalesce(lag(shares) OVER (PARTITION BY etf_code ORDER BY date), 0) AS ds
           FROM read_parquet('{d}/etf_daily.parquet')),
    ix AS (SELECT etf_code::VARCHAR AS etf_code, index_code::VARCHAR AS index_code
           FROM read_parquet('{d}/etfs.parquet')),
    """
    if mode == "pcf":
        body = f"""
    pcf AS (SELECT date, etf_code::VARCHAR AS etf_code, code::VARCHAR AS code, quantity
            FROM read_parquet('{d}/etf_pcf/**/*.parquet', hive_partitioning = false)
            WHERE quantity > 0),
    val AS (SELECT p.date, p.etf_code, p.code, p.quantity * x.close AS x
            FROM pcf p JOIN px x ON p.date = x.date AND p.code = x.code),
    tot AS (SELECT date, etf_code, sum(x) AS v FROM val GROUP BY ALL),
    h AS (SELECT v.date, v.code, e.shares, e.nav, e.ds, ix.index_code, v.x / t.v AS w
          FROM val v JOIN tot t USING (date, etf_code) JOIN ed e USING (date, etf_code)
          JOIN ix USING (etf_code)),
    """
    else:
        body = f"""
    hw AS (SELECT date AS sdate, etf_code::VARCHAR AS etf_code, code::VARCHAR AS code, weight
           FROM read_parquet('{d}/holding_weights.parquet') WHERE weight > 0),
    snaps AS (SELECT DISTINCT etf_code, sdate FROM hw),
    link AS (SELECT e.date, e.etf_code, e.shares, e.nav, e.ds, s.sdate
             FROM ed e ASOF JOIN snaps s ON e.etf_code = s.etf_code AND e.date >= s.sdate),
    h AS (SELECT l.date, hw.code, l.shares, l.nav, l.ds, ix.index_code, hw.weight AS w
          FROM link l JOIN hw ON hw.etf_code = l.etf_code AND hw.sdate = l.sdate
          JOIN ix ON ix.etf_code = l.etf_code),
    """
    return f"""
    WITH {common} {body}
    agg AS (SELECT date, code, count(*) AS n_etf, count(DISTINCT index_code) AS n_index,
                   sum(shares) AS fund, sum(shares * w) AS share, sum(shares * nav * w) AS mv,
                   sum(ds * nav * w) AS inflow
            FROM h GROUP BY ALL)
    SELECT px.date, px.code, coalesce(n_etf, 0) AS n_etf, coalesce(n_index, 0) AS n_index,
           coalesce(fund, 0) AS share_passive_fund, coalesce(share, 0) AS share_passive,
           coalesce(mv, 0) AS mv_passive, coalesce(mv, 0) / px.float_mcap AS w_passive,
           CASE WHEN px.date = (SELECT min(date) FROM px) THEN NULL
                ELSE coalesce(inflow, 0) END AS inflow
    FROM px LEFT JOIN agg USING (date, code)
    """


def run_duckdb(data: Path, mode: str):
    import duckdb

    con = duckdb.connect()
    return con.sql(_duckdb_sql(data, mode)).pl()


def run_polars(data: Path, mode: str):
    import polars as pl

    s = pl.String
    px = pl.scan_parquet(data / "stock_daily.parquet").select(
        "date", pl.col("code").cast(s), "close", "float_mcap"
    )
    ed = (
        pl.scan_parquet(data / "etf_daily.parquet")
        .select("date", pl.col("etf_code").cast(s), "shares", "nav")
        .sort("etf_code", "date")
        .with_columns(
            (pl.col("shares") - pl.col("shares").shift(1).over("etf_code").fill_null(0.0)).alias(
                "ds"
            )
        )
    )
    ix = pl.scan_parquet(data / "etfs.parquet").select(
        pl.col("etf_code").cast(s), pl.col("index_code").cast(s)
    )
    if mode == "pcf":
        pcf = (
            pl.scan_parquet(data / "etf_pcf" / "**" / "*.parquet", hive_partitioning=False)
            .select("date", pl.col("etf_code").cast(s), pl.col("code").cast(s), "quantity")
            .filter(pl.col("quantity") > 0)
        )
        val = pcf.join(px.select("date", "code", "close"), on=["date", "code"]).select(
            "date", "etf_code", "code", (pl.col("quantity") * pl.col("close")).alias("x")
        )
        w = val.with_columns((pl.col("x") / pl.col("x").sum().over("date", "etf_code")).alias("w"))
    else:
        hw = (
            pl.scan_parquet(data / "holding_weights.parquet")
            .select(
                pl.col("date").alias("sdate"),
                pl.col("etf_code").cast(s),
                pl.col("code").cast(s),
                "weight",
            )
            .filter(pl.col("weight") > 0)
        )
        snaps = hw.select("etf_code", "sdate").unique().sort("sdate")
        link = (
            ed.select("date", "etf_code")
            .sort("date")
            .join_asof(
                snaps,
                left_on="date",
                right_on="sdate",
                by="etf_code",
                strategy="backward",
                check_sortedness=False,
            )
        )
        w = link.join(hw, on=["etf_code", "sdate"]).select(
            "date", "etf_code", "code", pl.col("weight").alias("w")
        )
    h = w.join(ed, on=["date", "etf_code"]).join(ix, on="etf_code")
    agg = h.group_by("date", "code").agg(
        pl.len().cast(pl.Int32).alias("n_etf"),
        pl.col("index_code").n_unique().cast(pl.Int32).alias("n_index"),
        pl.col("shares").sum().alias("share_passive_fund"),
        (pl.col("shares") * pl.col("w")).sum().alias("share_passive"),
        (pl.col("shares") * pl.col("nav") * pl.col("w")).sum().alias("mv_passive"),
        (pl.col("ds") * pl.col("nav") * pl.col("w")).sum().alias("inflow"),
    )
    first = px.select(pl.col("date").min()).collect().item()
    out = px.join(agg, on=["date", "code"], how="left").with_columns(
        pl.col("n_etf", "n_index").fill_null(0),
        pl.col("share_passive_fund", "share_passive", "mv_passive").fill_null(0.0),
        pl.when(pl.col("date") == first)
        .then(None)
        .otherwise(pl.col("inflow").fill_null(0.0))
        .alias("inflow"),
    )
    return out.collect(engine="streaming")


RUNNERS = {
    "etfflow": run_etfflow,
    "baseline": run_etfflow,  # the etfflow installed for --baseline-python
    "duckdb": run_duckdb,
    "polars": run_polars,
}


def child(name: str, data: Path, mode: str) -> None:
    t0 = time.perf_counter()
    df = RUNNERS[name](data, mode)
    secs = time.perf_counter() - t0
    # peak RSS and minor faults before the checksum (its own work is not the contender's)
    out = {"seconds": secs, "rss_gb": _peak_rss_gb(), "minflt": _minor_faults()}
    out["checksum"] = _checksum(df)
    if STAGES:
        out |= {"stages": STAGES, "stage_faults": STAGE_FAULTS}
    print(json.dumps(out))


def _agree(a: dict, b: dict) -> bool:
    return all(abs(a[k] - b[k]) <= 1e-6 * max(1.0, abs(a[k])) for k in a)


def _median_run(runs: list[dict]) -> dict:
    """Median seconds, peak RSS and minor faults of the runs; stages of the median-time run."""
    by_time = sorted(runs, key=lambda r: r["seconds"])
    mid = by_time[(len(runs) - 1) // 2]
    out = dict(mid)
    for k in ("seconds", "rss_gb", "minflt"):
        out[k] = statistics.median(r[k] for r in runs)
    out["seconds_range"] = (by_time[0]["seconds"], by_time[-1]["seconds"])
    return out


def _child_cmd(python: str, name: str, data: Path, mode: str, chunk_days: int | None) -> list[str]:
    cmd = [python, __file__, "--data", str(data), "--mode", mode, "--child", name]
    return cmd + (["--chunk-days", str(chunk_days)] if chunk_days else [])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="full")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--mode", choices=("pcf", "weights", "both"), default="both")
    ap.add_argument("--repeat", type=int, default=3, help="runs per contender (median kept)")
    ap.add_argument("--contenders", default=",".join(CONTENDERS))
    ap.add_argument(
        "--breakdown",
        action="store_true",
        help="print etfflow's stage seconds and minor faults (median run)",
    )
    ap.add_argument(
        "--baseline-python",
        default=None,
        help="an interpreter whose environment has another etfflow installed (e.g. a venv with "
        "`pip install <checkout of main>`), run as contender 'baseline' in the same run",
    )
    ap.add_argument("--chunk-days", type=int, default=None, help="etfflow's PCF chunk_days")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    data = args.data or Path("bench_data") / f"{args.size}_seed{args.seed}"
    if args.chunk_days:
        CHUNK_DAYS.append(args.chunk_days)
    if args.child:
        child(args.child, data, args.mode)
        return
    contenders = args.contenders.split(",")
    python_of = {name: sys.executable for name in contenders}
    if args.baseline_python:
        if "baseline" not in contenders:
            contenders.insert(1, "baseline")
        python_of["baseline"] = args.baseline_python
    if not (data / "manifest.json").is_file():
        from etfflow.data_samples import generate_market

        print(f"generating the {args.size} market into {data} ...", flush=True)
        t0 = time.perf_counter()
        generate_market(data, size=args.size, seed=args.seed)
        print(f"  generated in {time.perf_counter() - t0:.1f} s", flush=True)
    # warm the numba caches and the page cache once, untimed
    for name in ("etfflow", "baseline") if args.baseline_python else ("etfflow",):
        subprocess.run(
            _child_cmd(python_of[name], name, data, "pcf", args.chunk_days),
            check=True,
            capture_output=True,
        )
    modes = ("pcf", "weights") if args.mode == "both" else (args.mode,)
    for mode in modes:
        runs: dict[str, list[dict]] = {name: [] for name in contenders}
        for _ in range(args.repeat):  # interleaved: each round runs every contender once
            for name in contenders:
                if runs[name] is None:
                    continue
                out = subprocess.run(
                    _child_cmd(python_of[name], name, data, mode, args.chunk_days),
                    capture_output=True,
                    text=True,
                )
                if out.returncode != 0:
                    print(f"{name} failed:\n{out.stderr[-2000:]}")
                    runs[name] = None
                    continue
                runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
        results = {name: _median_run(r) for name, r in runs.items() if r}
        ref = results.get("etfflow")
        print(f"\nlook-through, mode={mode}, data={data} (median of {args.repeat})")
        print(
            f"{'contender':<10} {'seconds':>9} {'(min-max)':>13} {'peak RSS GB':>12} "
            f"{'minor faults':>13} {'x etfflow':>10}  same result"
        )
        for name, r in results.items():
            ratio = r["seconds"] / ref["seconds"] if ref else float("nan")
            same = _agree(ref["checksum"], r["checksum"]) if ref else None
            lo, hi = r["seconds_range"]
            print(
                f"{name:<10} {r['seconds']:>9.2f} {f'({lo:.1f}-{hi:.1f})':>13} "
                f"{r['rss_gb']:>12.2f} {r['minflt']:>13,.0f} {ratio:>10.2f}  {same}"
            )
        if args.breakdown:
            for name in ("etfflow", "baseline"):
                r = results.get(name)
                if not r or "stages" not in r:
                    continue
                parts = ", ".join(
                    f"{k} {v:.2f} s / {r['stage_faults'].get(k, 0):,}"
                    for k, v in r["stages"].items()
                )
                print(f"{name} stages (seconds / minor faults; numba_setup runs during read):")
                print(f"  {parts}")


if __name__ == "__main__":
    main()

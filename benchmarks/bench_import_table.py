"""`etfflow import table` benchmark: a Wind daily-quote CSV into stock_daily vs plain Polars.

Usage::

    python benchmarks/bench_import_table.py                 # 5,300 stocks x 250 days, 3 runs
    python benchmarks/bench_import_table.py --stocks 800 --days 500 --runs 5

A seeded generator writes one CSV in the layout of ``docs/maps/wind_stock_daily.toml`` (GB18030,
Chinese headers, 千元 / 万元 / % units, 停牌 rows). Two contenders run alternately, each run in a
fresh subprocess (so peak RSS and page faults are its own), in the same benchmark run:

- ``import``: :func:`etfflow.engine.adapters.table.import_table` into a new folder (map checks,
  every value checked to parse, the contract's validation, atomic move, manifest);
- ``polars``: the hand-written Polars a researcher would write for the same conversion
  (``read_csv`` + rename + multiply + ``strptime`` + suffix ``when/then`` + ``write_parquet``),
  with no checks.

Reported: median seconds inside the subprocess (after imports), median peak RSS, median minor
page faults, and the ratio import / polars of the medians. Both outputs are compared once.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "docs" / "maps" / "wind_stock_daily.toml"
CONTENDERS = ("import", "polars")


def make_csv(path: Path, n_stocks: int, n_days: int, seed: int = 0) -> int:
    import datetime as dt

    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    prefixes = np.array(["600", "601", "000", "002", "300", "688", "830"])
    codes = [f"{prefixes[i % len(prefixes)]}{i // len(prefixes):03d}" for i in range(n_stocks)]
    days, d = [], dt.date(2020, 1, 2)
    while len(days) < n_days:
        if d.weekday() < 5:
            days.append(d.strftime("%Y%m%d"))
        d += dt.timedelta(days=1)
    n = n_stocks * n_days
    close = np.round(rng.lognormal(2.5, 0.8, n), 2)
    susp = rng.random(n) < 0.01
    df = pl.DataFrame(
        {
            "证券代码": np.tile(codes, n_days),
            "证券简称": "某股份",
            "交易日期": np.repeat(days, n_stocks),
            "开盘价": close,
            "最高价": close,
            "最低价": close,
            "收盘价": close,
            "涨跌幅(%)": np.where(susp, 0.0, np.round(rng.normal(0, 2, n), 4)),
            "成交量(手)": rng.integers(0, 10**6, n),
            "成交额(千元)": np.round(rng.lognormal(10, 1, n), 1),
            "流通市值(万元)": np.round(rng.lognormal(13, 1, n), 1),
            "总市值(万元)": np.round(rng.lognormal(13.5, 1, n), 1),
            "换手率(%)": np.round(rng.lognormal(0, 1, n), 4),
            "涨停价": np.round(close * 1.1, 2),
            "跌停价": np.round(close * 0.9, 2),
            "是否ST": "否",
            "交易状态": np.where(susp, "停牌", "交易"),
        }
    )
    path.write_bytes(df.write_csv().encode("gb18030"))
    return n


def polars_plain(src: Path, out: Path) -> None:
    """The conversion written by hand, without checks."""
    import io

    import polars as pl

    text = src.read_bytes().decode("gb18030")
    df = pl.read_csv(
        io.StringIO(text), schema_overrides={"证券代码": pl.String, "交易日期": pl.String}
    )
    c = pl.col("证券代码")
    suffix = (
        pl.when(c.str.starts_with("6") | c.str.starts_with("9") | c.str.starts_with("5"))
        .then(c + ".SH")
        .when(c.str.starts_with("0") | c.str.starts_with("3") | c.str.starts_with("1"))
        .then(c + ".SZ")
        .otherwise(c + ".BJ")
    )
    out.mkdir()
    df.select(
        pl.col("交易日期").str.strptime(pl.Date, "%Y%m%d").alias("date"),
        suffix.alias("code"),
        pl.col("收盘价").cast(pl.Float64).alias("close"),
        (pl.col("涨跌幅(%)") * 0.01).alias("ret"),
        (pl.col("流通市值(万元)") * 1e4).alias("float_mcap"),
        (pl.col("是否ST") == "是").alias("is_st"),
        (pl.col("交易状态") == "停牌").alias("is_suspended"),
        (pl.col("总市值(万元)") * 1e4).alias("total_mcap"),
        (pl.col("成交额(千元)") * 1e3).alias("amount"),
        (pl.col("换手率(%)") * 0.01).alias("turnover"),
        pl.col("涨停价").cast(pl.Float64).alias("up_limit"),
        pl.col("跌停价").cast(pl.Float64).alias("down_limit"),
    ).sort("date", "code").write_parquet(out / "stock_daily.parquet", compression="zstd")


def child(which: str, src: Path, out: Path) -> None:
    if which == "import":
        from etfflow.engine.adapters.table import import_table

        t0 = time.perf_counter()
        import_table(src, table="stock_daily", map_file=MAP, out=out)
    else:
        import polars  # noqa: F401

        t0 = time.perf_counter()
        polars_plain(src, out)
    seconds = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "rss_mb": ru.ru_maxrss / 1024, "minflt": ru.ru_minflt}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stocks", type=int, default=5300)
    ap.add_argument("--days", type=int, default=250)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], Path(a.child[1]), Path(a.child[2]))
        return
    import polars as pl

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "wind.csv"
        rows = make_csv(src, a.stocks, a.days)
        print(f"{rows:,} rows, {src.stat().st_size / 1e6:.0f} MB CSV (GB18030)")
        res: dict[str, list[dict[str, float]]] = {c: [] for c in CONTENDERS}
        for r in range(a.runs):
            for c in CONTENDERS:
                out = Path(tmp) / f"{c}{r}"
                p = subprocess.run(
                    [sys.executable, __file__, "--child", c, str(src), str(out)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                res[c].append(json.loads(p.stdout.strip().splitlines()[-1]))
        a0 = pl.read_parquet(Path(tmp) / "import0" / "stock_daily.parquet")
        b0 = pl.read_parquet(Path(tmp) / "polars0" / "stock_daily.parquet")
        same = a0.equals(b0)
    med = {c: {k: statistics.median(x[k] for x in res[c]) for k in res[c][0]} for c in res}
    for c in CONTENDERS:
        m = med[c]
        print(
            f"{c:>7}: {m['seconds']:.2f} s, peak RSS {m['rss_mb']:.0f} MB, "
            f"{m['minflt'] / 1e3:.0f}k minor faults (median of {a.runs})"
        )
    ratio = med["import"]["seconds"] / med["polars"]["seconds"]
    print(f"import / polars: {ratio:.2f}x time; outputs identical: {same}")


if __name__ == "__main__":
    main()

"""`etfflow import tushare` benchmark: the cost of ``fund_daily`` (``etf_daily.amount``).

Usage::

    python benchmarks/bench_import_tushare.py                  # the small market, 3 runs
    python benchmarks/bench_import_tushare.py --size tiny --runs 5

The synthetic market (``generate_market``) is re-expressed in Tushare's endpoints, fields and
units (``tests/tushare_market.py``) and written as a raw folder. Two contenders run
alternately, each run in a fresh subprocess (so peak RSS and page faults are its own):

- ``with``: the raw folder as ``etfflow fetch tushare`` now leaves it, ``fund_daily`` included
  (its unit check against ``close × vol``, the join, the not-traded fill);
- ``without``: the same folder without ``fund_daily`` (``etf_daily.amount`` absent), as before.

Reported: median seconds of :func:`import_tushare` inside the subprocess (after imports),
median peak RSS, median minor page faults, the ratio with / without of the medians, and the
rows of ``fund_daily``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CONTENDERS = ("with", "without")


def child(raw: Path, out: Path) -> None:
    from etfflow.engine.adapters.tushare.convert import import_tushare

    t0 = time.perf_counter()
    import_tushare(raw, out)
    seconds = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "rss_mb": ru.ru_maxrss / 1024, "minflt": ru.ru_minflt}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="small")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(Path(a.child[0]), Path(a.child[1]))
        return
    import polars as pl

    from etfflow import generate_market
    from tests.tushare_market import market_as_tushare, write_raw

    with tempfile.TemporaryDirectory() as tmp:
        market = generate_market(Path(tmp) / "m", size=a.size, seed=1)
        tables = market_as_tushare(market)
        raws = {"with": write_raw(tables, Path(tmp) / "raw_with")}
        raws["without"] = Path(tmp) / "raw_without"
        shutil.copytree(raws["with"], raws["without"])
        shutil.rmtree(raws["without"] / "fund_daily")
        size = sum(f.stat().st_size for f in raws["with"].rglob("*.parquet"))
        print(
            f"{a.size}: {tables['daily'].height:,} daily rows, {tables['fund_daily'].height:,} "
            f"fund_daily rows, raw folder {size / 1e6:.0f} MB"
        )
        res: dict[str, list[dict[str, float]]] = {c: [] for c in CONTENDERS}
        for r in range(a.runs):
            for c in CONTENDERS:
                out = Path(tmp) / f"{c}{r}"
                p = subprocess.run(
                    [sys.executable, __file__, "--child", str(raws[c]), str(out)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                res[c].append(json.loads(p.stdout.strip().splitlines()[-1]))
        amount = pl.read_parquet(Path(tmp) / "with0" / "etf_daily.parquet")["amount"]
    med = {c: {k: statistics.median(x[k] for x in res[c]) for k in res[c][0]} for c in res}
    for c in CONTENDERS:
        m = med[c]
        print(
            f"{c:>8}: {m['seconds']:.2f} s, peak RSS {m['rss_mb']:.0f} MB, "
            f"{m['minflt'] / 1e3:.0f}k minor faults (median of {a.runs})"
        )
    ratio = med["with"]["seconds"] / med["without"]["seconds"]
    print(f"with / without fund_daily: {ratio:.2f}x time; etf_daily.amount nulls: "
          f"{amount.null_count()} of {amount.len():,}")  # fmt: skip


if __name__ == "__main__":
    main()

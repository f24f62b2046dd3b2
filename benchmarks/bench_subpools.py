"""ETF sub-pool comparison benchmark: :func:`etfflow.pipeline.subpools.compare_pools` over all
default pools (both factors) vs the same pools run one by one as separate runs would do them
(each pool validates the dataset, loads the market and runs its look-through, two factor runs
and two backtests), on the same dataset in the same benchmark.

Usage::

    python benchmarks/bench_subpools.py --data etfflow_data/full_seed0      # 3 runs each
    python benchmarks/bench_subpools.py --data DIR --runs 1 --pools all,broad

Each run is a fresh subprocess with its own store in a temporary folder (peak RSS is its own;
numba kernels are compiled once before timing). Reported: median seconds inside the subprocess,
median peak RSS, and the ratio one-by-one / together.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

CONTENDERS = ("together", "one_by_one")

CHILD = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
what, data, pools = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
with tempfile.TemporaryDirectory() as tmp:
    store = Path(tmp) / "s.duckdb"
    t0 = time.perf_counter()
    if what == "together":
        from etfflow.pipeline.subpools import compare_pools
        rows = compare_pools(data, pools=pools, store=store).table.height
    else:
        from etfflow.engine.pools import Pool
        from etfflow.pipeline.backtest import run_backtest
        from etfflow.pipeline.runs import run_factors
        from etfflow.pipeline.subpools import DIRECTION, REBALANCE, TESTS
        rows = 0
        for name in pools:
            for level, factor, process, groups in TESTS:
                fr = run_factors(data, pool=Pool.of(name), level=level, factors=[factor],
                                 process=process, store=store)
                run_backtest(store, factor_run=fr.run_id, level=level, factors=[factor],
                             groups=groups, direction=DIRECTION, rebalance=REBALANCE)
                rows += 1
    dt = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": dt, "rss_mb": ru.ru_maxrss / 1024, "rows": rows}))
"""


def run_once(what: str, data: str, pools: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, what, data, pools], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from etfflow.pipeline.subpools import DEFAULT_POOLS

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="dataset folder (e.g. the full market)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pools", default=",".join(DEFAULT_POOLS))
    a = ap.parse_args()
    if not Path(a.data).is_dir():
        sys.exit(f"no dataset at {a.data}: etfflow generate --size full --out {a.data}")
    run_once("together", a.data, a.pools.split(",")[0])  # warm numba and the page cache
    res: dict[str, list[dict]] = {c: [] for c in CONTENDERS}
    for i in range(a.runs):
        for what in CONTENDERS if i % 2 == 0 else CONTENDERS[::-1]:
            res[what].append(run_once(what, a.data, a.pools))
    med = {
        c: {k: statistics.median(r[k] for r in runs) for k in ("seconds", "rss_mb")}
        for c, runs in res.items()
    }
    print(f"dataset {a.data}, pools {a.pools}, {a.runs} runs each (medians)")
    print(f"{'contender':<12} {'seconds':>8} {'min':>8} {'max':>8} {'peak RSS MB':>11}")
    for c, runs in res.items():
        s = [r["seconds"] for r in runs]
        print(
            f"{c:<12} {med[c]['seconds']:8.2f} {min(s):8.2f} {max(s):8.2f} {med[c]['rss_mb']:11.0f}"
        )
    ratio = med["one_by_one"]["seconds"] / med["together"]["seconds"]
    print(f"ratio one-by-one / together (median seconds): {ratio:.2f}")


if __name__ == "__main__":
    main()

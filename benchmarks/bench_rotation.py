"""Industry rotation benchmark: the whole rotation vs the weights-mode look-through of the same
pool, on the same dataset, in the same run (goal: rotation <= 2x that look-through).

Usage::

    python benchmarks/bench_rotation.py --data etfflow_data/full_seed0      # 3 runs each
    python benchmarks/bench_rotation.py --data DIR --runs 5 --pool broad

Make the full market once with ``etfflow generate --size full --out etfflow_data/full_seed0``.
Two contenders run alternately, each run in a fresh subprocess (so peak RSS and page faults are
its own; numba kernels are compiled once before timing):

- ``rotation``: :func:`etfflow.backtest.rotation.run.rotate` (weekly look-through to
  industries, regimes, active-fund regressions, signals, NAVs and metrics of 10 strategies);
- ``lookthrough``: :func:`etfflow.engine.lookthrough.penetrate` with ``mode="weights"``: the
  daily stock-level look-through of the same pool.

Reported: median seconds inside the subprocess (after imports, including reading the tables),
median peak RSS, median minor page faults, and the ratio rotation / look-through.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

CONTENDERS = ("rotation", "lookthrough")

CHILD = r"""
import json, resource, sys, time
from etfflow.engine.loading import open_dataset
what, data, pool = sys.argv[1], sys.argv[2], sys.argv[3]
ds = open_dataset(data)
t0 = time.perf_counter()
if what == "rotation":
    from etfflow.backtest.rotation.run import rotate
    r = rotate(ds, pool=pool)
    rows = sum(df.height for df in r.tables.values())
else:
    from etfflow.engine.lookthrough import penetrate
    r = penetrate(ds, pool=pool, mode="weights")
    rows = r.stocks.height
dt = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
res = {"seconds": dt, "rss_mb": ru.ru_maxrss / 1024, "minflt": ru.ru_minflt, "rows": rows}
print(json.dumps(res))
"""


def run_once(what: str, data: str, pool: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, what, data, pool], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="dataset folder (e.g. the full market)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pool", default="all")
    a = ap.parse_args()
    if not Path(a.data).is_dir():
        sys.exit(f"no dataset at {a.data}: etfflow generate --size full --out {a.data}")
    for what in CONTENDERS:  # warm the numba cache and the page cache, untimed
        run_once(what, a.data, a.pool)
    res: dict[str, list[dict]] = {c: [] for c in CONTENDERS}
    for i in range(a.runs):
        for what in CONTENDERS if i % 2 == 0 else CONTENDERS[::-1]:
            res[what].append(run_once(what, a.data, a.pool))
    med = {
        c: {k: statistics.median(r[k] for r in runs) for k in ("seconds", "rss_mb", "minflt")}
        for c, runs in res.items()
    }
    print(f"dataset {a.data}, pool {a.pool}, {a.runs} runs each (medians)")
    head = ("seconds", "min", "max", "peak RSS MB", "minor faults")
    print(f"{'contender':<12} " + " ".join(f"{h:>{max(8, len(h))}}" for h in head))
    for c, runs in res.items():
        s = [r["seconds"] for r in runs]
        print(
            f"{c:<12} {med[c]['seconds']:8.2f} {min(s):8.2f} {max(s):8.2f} "
            f"{med[c]['rss_mb']:11.0f} {med[c]['minflt']:12,.0f}"
        )
    ratio = med["rotation"]["seconds"] / med["lookthrough"]["seconds"]
    print(f"ratio rotation / look-through (median seconds): {ratio:.2f} (goal <= 2)")


if __name__ == "__main__":
    main()

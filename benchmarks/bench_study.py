"""Study executors benchmark: one 48-cell study on the full market, run serially, with the
local process pool and with a Dask LocalCluster, in the same run (issue 13).

Usage::

    python benchmarks/bench_study.py --data etfflow_data/full_seed0            # 2 workers
    python benchmarks/bench_study.py --data DIR --workers 2 --runs 3 --json out.json

Make the full market once with ``etfflow generate --size full --out etfflow_data/full_seed0``.
The study (:data:`STUDY`): one pool and mode, 4 stock factors x groups [5, 10] x rebalance
[5, 10, 20] x cost_bps [0, 10] = 48 cells, so the shared work (one look-through, one factor
computation, one processing) is the same for every contender and the cells dominate.

Each contender runs in a fresh subprocess (its own store in a temporary folder; numba kernels
are compiled once before timing by a serial warm-up study of the 4 factors on the same data):

- ``serial``: every cell in the client process;
- ``local``: ``--workers`` processes (forked from a fork server), the shared panels
  memory-mapped from ``.npy`` files;
- ``dask``: a ``LocalCluster`` of ``--workers`` single-threaded processes on 127.0.0.1, the
  shared panels scattered to every worker.

Reported per contender (medians over ``--runs``): seconds of the whole ``run_study`` and of
its phases (``prepare``: dataset checks and market; ``executor``: start-up (the Dask
cluster; a local pool starts inside ``cells``); ``shared``: the look-through, factors and
processing in the client; ``cells``: evaluation and store writes; ``ship``: writing (local)
or scattering (Dask) the shared arrays once, part of ``cells``),
``1st``: from the start of the map to its first result (pool or worker start-up, loading the
kernels), the speed-up of ``cells`` over serial, the per-cell overhead ``(workers * cells_s -
serial_cells_s) / n_cells`` (worker-seconds a cell costs beyond its serial compute: start-up,
shipping panels and results, idle tails), the client's peak RSS, the largest worker's peak RSS
and USS (memory private to it: RSS counts the memory-mapped panels each local worker reads,
which the page cache holds once; sampled every 0.2 s with psutil), minor page faults of the
client, ``write``: seconds the client spent writing cells to the store (part of ``cells``),
``res``: pickled size of one cell's result. The stored ``bt_summary`` of every contender must
equal the serial one (checked).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CONTENDERS = ("serial", "local", "dask")
FACTORS = ("w_passive_inflow_20", "revs_20", "w_passive_chg_20", "passive_slope_20")

STUDY = """\
name = "bench48"
description = "executor benchmark: 4 factors x 2 group counts x 3 rebalances x 2 costs"
data = {data!r}
[grid]
pool = ["all"]
factors = {factors}
groups = [5, 10]
rebalance = [5, 10, 20]
cost_bps = [0.0, 10.0]
"""

WARM = """\
name = "warm"
data = {data!r}
[grid]
pool = ["all"]
factors = {factors}
groups = [5]
rebalance = [20]
cost_bps = [10.0]
"""

CHILD = r"""
import json, resource, sys, threading, time
import duckdb, psutil
import pickle
from etfflow.pipeline.study import run as run_mod
from etfflow.pipeline.study.executors import make_executor
from etfflow.pipeline.study.run import run_study
# the client's store writes and the size of what a cell sends back (its Evaluation)
writes = {"s": 0.0, "n": 0, "bytes": 0}
_write = getattr(run_mod, "_write_cell", None)
def timed_write(st, spec, study_id, i, cell, ev, fp):
    writes["bytes"] += len(pickle.dumps(ev, protocol=5))
    t = time.perf_counter()
    out = _write(st, spec, study_id, i, cell, ev, fp)
    writes["s"] += time.perf_counter() - t
    writes["n"] += 1
    return out
kind, study, warm, store, workers = sys.argv[1:6]
workers = int(workers) if kind != "serial" else 0
# compile (or load) every numba kernel in the client before timing; workers load them from
# the same on-disk cache
run_study(warm, store=store + ".warm", executor="serial")
peak = {}  # child pid -> (max RSS, max USS) in bytes, sampled every 0.2 s
stop = threading.Event()
def sample():
    me = psutil.Process()
    while not stop.is_set():
        for c in me.children(recursive=True):
            try:
                m = c.memory_full_info()
            except psutil.Error:
                continue
            r, u = peak.get(c.pid, (0, 0))
            peak[c.pid] = (max(r, m.rss), max(u, m.uss))
        stop.wait(0.2)
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
if _write is not None:
    run_mod._write_cell = timed_write
ru0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
ex = make_executor(kind, workers=workers or None)
t_start = time.perf_counter() - t0
r = run_study(study, store=store, executor=ex)  # run_study closes the executor
dt = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
stop.set()
sampler.join()
with duckdb.connect(store, read_only=True) as con:
    summary = con.execute(
        "select c.cell, s.* exclude (run_id) from study_cells c join bt_summary s using (run_id) "
        "order by c.cell"
    ).fetchall()
print(json.dumps({
    "seconds": dt,
    "phases": {**r.seconds, "executor": t_start},
    "stats": dict(ex.stats),
    "cells": len(r.cells),
    "rss_mb": ru.ru_maxrss / 1024,
    "worker_rss_mb": max((r for r, u in peak.values()), default=0) / 2**20 if workers else None,
    "worker_uss_mb": max((u for r, u in peak.values()), default=0) / 2**20 if workers else None,
    "minflt": ru.ru_minflt - ru0.ru_minflt,
    "summary": repr(summary),
    "write_s": writes["s"] if writes["n"] else None,
    "result_kb": writes["bytes"] / writes["n"] / 1e3 if writes["n"] else None,
}))
"""


def run_once(kind: str, study: Path, warm: Path, store: Path, workers: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(study), str(warm), str(store), str(workers)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="full market folder (etfflow generate)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args()
    data = str(Path(a.data).resolve())
    factors = json.dumps(list(FACTORS))
    results: dict[str, list[dict]] = {k: [] for k in CONTENDERS}
    with tempfile.TemporaryDirectory(prefix="etfflow_bench_study_") as tmp:
        study = Path(tmp) / "bench48.toml"
        study.write_text(STUDY.format(data=data, factors=factors), encoding="utf-8")
        warm = Path(tmp) / "warm.toml"
        warm.write_text(WARM.format(data=data, factors=factors))
        for r in range(a.runs):
            for kind in CONTENDERS:  # alternate, so drift in machine load hits all alike
                store = Path(tmp) / f"{kind}_{r}.duckdb"
                res = run_once(kind, study, warm, store, a.workers)
                results[kind].append(res)
                print(f"run {r + 1} {kind:6s} {res['seconds']:7.1f} s", flush=True)
    base = results["serial"][0]["summary"]
    for kind in CONTENDERS:
        for res in results[kind]:
            if res["summary"] != base:
                raise SystemExit(f"{kind}: stored bt_summary differs from serial")

    def med(kind: str, f) -> float:
        return statistics.median(f(x) for x in results[kind])

    n = results["serial"][0]["cells"]
    serial_cells = med("serial", lambda x: x["phases"]["cells"])
    rows = []
    print(
        f"\n48-cell study, {a.workers} workers, median of {a.runs} run(s); bt_summary identical; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"{'executor':8s} {'total s':>8s} {'prepare':>8s} {'start':>7s} {'shared':>7s} "
        f"{'cells':>7s} {'speed-up':>8s} {'ovh/cell':>9s} {'client MB':>9s} "
        f"{'worker MB':>9s} {'wrk USS':>8s} {'minflt':>9s} {'ship s':>7s} {'ship MB':>8s} "
        f"{'1st s':>6s} {'write s':>7s} {'res kB':>7s}"
    )
    for kind in CONTENDERS:
        w = 1 if kind == "serial" else a.workers
        cells = med(kind, lambda x: x["phases"]["cells"])
        row = {
            "executor": kind,
            "seconds": med(kind, lambda x: x["seconds"]),
            "prepare": med(kind, lambda x: x["phases"].get("prepare", 0.0)),
            "start": med(kind, lambda x: x["phases"].get("executor", 0.0)),
            "shared": med(kind, lambda x: x["phases"].get("shared", 0.0)),
            "cells": cells,
            "speedup": serial_cells / cells,
            "overhead_per_cell": (w * cells - serial_cells) / n,
            "rss_mb": med(kind, lambda x: x["rss_mb"]),
            "worker_rss_mb": None if kind == "serial" else med(kind, lambda x: x["worker_rss_mb"]),
            "minflt": med(kind, lambda x: x["minflt"]),
            "share_s": med(kind, lambda x: x["stats"].get("share_s", 0.0)),
            "first_s": med(kind, lambda x: x["stats"].get("first_s", 0.0)),
            "write_s": med(kind, lambda x: x["write_s"] or 0.0),
            "result_kb": med(kind, lambda x: x["result_kb"] or 0.0),
            "worker_uss_mb": None if kind == "serial" else med(kind, lambda x: x["worker_uss_mb"]),
            "share_mb": med(kind, lambda x: x["stats"].get("share_mb", 0.0)),
        }
        rows.append(row)
        wk = "-" if row["worker_rss_mb"] is None else f"{row['worker_rss_mb']:.0f}"
        wu = "-" if row["worker_uss_mb"] is None else f"{row['worker_uss_mb']:.0f}"
        print(
            f"{kind:8s} {row['seconds']:8.1f} {row['prepare']:8.1f} {row['start']:7.1f} "
            f"{row['shared']:7.1f} {row['cells']:7.1f} {row['speedup']:7.2f}x "
            f"{row['overhead_per_cell']:8.3f}s {row['rss_mb']:9.0f} {wk:>9s} {wu:>8s} "
            f"{row['minflt']:9.0f} {row['share_s']:7.2f} {row['share_mb']:8.0f} "
            f"{row['first_s']:6.1f} {row['write_s']:7.1f} {row['result_kb']:7.0f}"
        )
    if a.json:
        a.json.write_text(
            json.dumps({"workers": a.workers, "load": os.getloadavg(), "rows": rows}, indent=2)
        )


if __name__ == "__main__":
    main()

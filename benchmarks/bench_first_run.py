"""First-run benchmark: ``etfflow demo`` with an empty numba cache vs warm runs, same run.

The first ``etfflow demo`` after an install compiles every numba kernel the run needs (the
``cache=True`` on-disk cache is keyed on the source file's path and mtime, so a fresh install
starts cold); later runs load the machine code from the cache. This benchmark times, in one
invocation and on the same market folder:

1. a cold run: ``etfflow demo`` in a child process with ``NUMBA_CACHE_DIR`` set to a new
   empty folder (what a fresh install sees), with the first-run helper process that compiles
   kernels meanwhile (``etfflow.pipeline.warm``; the CLI's default);
2. with ``--ab``, also a cold run without the helper (``ETFFLOW_BACKGROUND_COMPILE=0``, its own
   empty cache folder), so the helper's gain is a ratio of the same benchmark run;
3. ``--warm`` warm runs reusing the first cache folder.

The market is generated first (timed apart, with its own cache folder) unless ``--data``
names an existing one; every run writes a fresh DuckDB store in a temporary folder. For each
run it prints wall time, CPU time, peak RSS and minor page faults of the child (``os.wait4``:
the child and the helper it waited for), then the cold / median-warm ratio and a lower bound
on it: the cold run's CPU seconds divided by the usable cores, over the median warm run (no
scheduling of the compile work can beat it). ``--kernels`` also records the numba compile
events of the cold run (``numba.core.event``, exclusive seconds per dispatcher, number of
specialisations) and prints the most expensive ones. The machine is shared: read the ratio of
this run, not the absolute times.

Usage::

    python benchmarks/bench_first_run.py [--size small] [--warm 3] [--data DIR] [--kernels 30]

Target (issue 8 §3): cold <= 2x the median warm run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = "--child-demo"


def _child(argv: list[str]) -> None:
    """Inside the child process: run ``etfflow demo`` (optionally recording compile events)."""
    record = os.environ.get("BENCH_FIRST_RUN_EVENTS")
    if record:
        from numba.core import event

        stack: list[list[float]] = []
        rows: dict[str, list] = {}

        class _Timer(event.Listener):
            def on_start(self, ev: event.Event) -> None:
                stack.append([time.perf_counter(), 0.0])

            def on_end(self, ev: event.Event) -> None:
                t0, inner = stack.pop()
                dt = time.perf_counter() - t0
                if stack:
                    stack[-1][1] += dt
                f = ev.data["dispatcher"].py_func
                row = rows.setdefault(f"{f.__module__}.{f.__qualname__}", [0, 0.0])
                row[0] += 1
                row[1] += dt - inner

        event.register("numba:compile", _Timer())
    from etfflow.cli import app

    try:
        app(["demo", *argv], standalone_mode=False)
    finally:
        if record:
            Path(record).write_text(json.dumps(rows))


def _run(args: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``python bench_first_run.py --child-demo args`` and measure it with ``os.wait4``."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(
            [sys.executable, __file__, _CHILD, *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-3000:]
            raise SystemExit(f"etfflow demo failed (exit {p.returncode}):\n{tail}")
    cpu = ru.ru_utime + ru.ru_stime  # the child and the children it waited for (the helper)
    return {"wall": wall, "cpu": cpu, "rss_mb": ru.ru_maxrss / 1024, "minflt": ru.ru_minflt}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warm", type=int, default=3, help="number of warm runs")
    ap.add_argument("--data", type=Path, help="existing market folder (else generated)")
    ap.add_argument("--kernels", type=int, default=0, help="print the N costliest compiles")
    ap.add_argument("--ab", action="store_true", help="also a cold run without the helper")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_first_run_") as tmp:
        tmp_path = Path(tmp)
        base = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE_DIR")}
        data = a.data
        if data is None:
            data = tmp_path / f"{a.size}_seed{a.seed}"
            t0 = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "from etfflow.cli import main; main()",
                    "generate",
                    *("--size", a.size, "--seed", str(a.seed), "--out", str(data)),
                ],
                env={**base, "NUMBA_CACHE_DIR": str(tmp_path / "gen_cache")},
                check=True,
                stdout=subprocess.DEVNULL,
            )
            print(f"generated the {a.size} market in {time.perf_counter() - t0:.1f} s (not timed)")
        cache = tmp_path / "numba_cache"
        cache.mkdir()
        env = {**base, "NUMBA_CACHE_DIR": str(cache)}
        events = tmp_path / "events.json"

        def demo_args(i: int) -> list[str]:
            store = tmp_path / f"run{i}" / "etfflow.duckdb"
            return [
                "--size",
                a.size,
                "--seed",
                str(a.seed),
                "--out",
                str(data),
                "--store",
                str(store),
            ]

        for i in range(a.warm + 1):
            (tmp_path / f"run{i}").mkdir()
        env["ETFFLOW_BACKGROUND_COMPILE"] = "force"  # even if the machine looks busy
        runs = [_run(demo_args(0), {**env, "BENCH_FIRST_RUN_EVENTS": str(events)})]
        runs += [_run(demo_args(i), env) for i in range(1, a.warm + 1)]
        if a.ab:
            (tmp_path / "run_ab").mkdir()
            (tmp_path / "cache_ab").mkdir()
            off = {**env, "NUMBA_CACHE_DIR": str(tmp_path / "cache_ab")}
            off["ETFFLOW_BACKGROUND_COMPILE"] = "0"
            store = tmp_path / "run_ab" / "etfflow.duckdb"
            ab = _run([*demo_args(0)[:-1], str(store)], off)

        print(f"{'run':<16}{'wall s':>9}{'CPU s':>9}{'peak RSS MB':>13}{'minor faults':>14}")
        named = [("cold" if i == 0 else f"warm {i}", r) for i, r in enumerate(runs)]
        if a.ab:
            named.append(("cold, no helper", ab))
        for name, r in named:
            print(
                f"{name:<16}{r['wall']:>9.1f}{r['cpu']:>9.1f}{r['rss_mb']:>13.0f}{r['minflt']:>14,}"
            )
        warm = [r["wall"] for r in runs[1:]]
        med = statistics.median(warm) if warm else float("nan")
        print(
            f"cold {runs[0]['wall']:.1f} s, median warm {med:.1f} s: cold/warm = "
            f"{runs[0]['wall'] / med:.2f} (target <= 2)"
        )
        ncpu = len(os.sched_getaffinity(0))
        floor = runs[0]["cpu"] / ncpu
        print(
            f"lower bound on {ncpu} cores: the cold run's {runs[0]['cpu']:.1f} CPU s (compiling "
            f"and working, both processes) take at least {floor:.1f} s, cold/warm >= "
            f"{floor / med:.2f} however well the work overlaps"
        )
        if a.ab:
            print(
                f"cold without the helper {ab['wall']:.1f} s: cold/warm = {ab['wall'] / med:.2f}; "
                f"helper speed-up of the cold run {ab['wall'] / runs[0]['wall']:.2f}x"
            )

        rows = json.loads(events.read_text())
        total = sum(v[1] for v in rows.values())
        n_spec = sum(v[0] for v in rows.values())
        print(
            f"cold run (main process) compiled {len(rows)} dispatchers, {n_spec} specialisations, "
            f"{total:.1f} s exclusive compile time"
        )
        if a.kernels:
            print(f"{'exclusive s':>12}{'specs':>7}  dispatcher")
            top = sorted(rows.items(), key=lambda kv: -kv[1][1])[: a.kernels]
            for name, (n, sec) in top:
                print(f"{sec:>12.2f}{n:>7}  {name}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == _CHILD:
        _child(sys.argv[2:])
    else:
        main()

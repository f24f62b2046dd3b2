"""Validation benchmark: validating the tables the look-through reads vs the look-through itself.

Usage::

    python benchmarks/bench_validation.py                          # full market, 3 runs each
    python benchmarks/bench_validation.py --data bench_data/small_seed0 --runs 5
    python benchmarks/bench_validation.py --only validate --breakdown

Both contenders run in the same benchmark run, alternating, each run in a fresh subprocess (so
peak RSS and page faults are its own): ``lookthrough`` is
:func:`etfflow.engine.lookthrough.penetrate` (PCF mode; it does not validate), ``validate`` is
:func:`etfflow.engine.validation.validate` on the tables ``etfflow lookthrough`` validates
(``CORE_TABLES`` + ``etf_pcf``). Seconds are end to end in the subprocess (imports included).
Reported: median seconds, median peak RSS, median minor page faults, median CPU seconds
(user + system: steadier than wall time on a shared machine), and the ratio validate /
look-through of the medians. Goal (issue 8 §3): ratio ≤ 1.0.

``--baseline FILE`` times a third contender, ``baseline``: an earlier validation module
(``git show <rev>:etfflow/engine/validation.py > /tmp/validation_before.py``) run the same
way, for before/after numbers in the same run.

``--breakdown`` adds, per validated table, seconds, growth of peak RSS and minor page faults
(``getrusage`` deltas from the table's first progress callback to the next table's; the
callback comes after a table's reference data and chunk bounds are built, so that
preparation counts toward the table before it).
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

CONTENDERS = ("lookthrough", "validate", "baseline")


def _usage() -> tuple[float, int]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_maxrss / 1e6, ru.ru_minflt


def _cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _load_validate(contender: str, baseline: Path | None):
    if contender == "validate":
        from etfflow.engine.validation import validate

        return validate
    import importlib.util

    assert baseline is not None
    spec = importlib.util.spec_from_file_location("validation_baseline", baseline)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod.validate


def run_child(contender: str, data: Path, breakdown: bool, baseline: Path | None) -> dict:
    t0 = time.perf_counter()
    from etfflow.engine.loading import open_dataset

    ds = open_dataset(data)
    tables: dict[str, dict] = {}
    if contender == "lookthrough":
        from etfflow.engine.lookthrough import penetrate

        result = penetrate(ds, mode="pcf")
        check = result.stocks.height
    else:
        from etfflow.engine.schemas import CORE_TABLES

        validate = _load_validate(contender, baseline)

        state: dict = {"table": None, "t": time.perf_counter(), "u": _usage()}

        def progress(table: str, done: int, total: int) -> None:
            if table == state["table"]:
                return
            _close(state, tables)
            state.update(table=table, t=time.perf_counter(), u=_usage())

        report = validate(
            ds, tables=[*CORE_TABLES, "etf_pcf"], progress=progress if breakdown else None
        )
        _close(state, tables)
        check = len(report.checks)
        if report.errors:
            raise SystemExit(f"the benchmark market does not validate: {report.errors[0]}")
    rss, minflt = _usage()
    return {
        "seconds": round(time.perf_counter() - t0, 3),
        "peak_rss_gb": round(rss, 3),
        "minor_faults": minflt,
        "cpu_seconds": round(_cpu_seconds(), 3),
        "check": check,
        "tables": tables,
    }


def _close(state: dict, tables: dict) -> None:
    if state["table"] is None:
        return
    rss, flt = _usage()
    rss0, flt0 = state["u"]
    tables[state["table"]] = {
        "seconds": round(time.perf_counter() - state["t"], 3),
        "rss_growth_gb": round(rss - rss0, 3),
        "minor_faults": flt - flt0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("/work/bench_data/full_seed0"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=CONTENDERS)
    ap.add_argument("--baseline", type=Path, help="an earlier validation module to time too")
    ap.add_argument("--breakdown", action="store_true")
    ap.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, args.data, args.breakdown, args.baseline)))
        return
    if not args.data.exists():
        raise SystemExit(f"no dataset at {args.data}: generate one with `etfflow generate`")
    contenders = (args.only,) if args.only else CONTENDERS[: 3 if args.baseline else 2]
    results: dict[str, list[dict]] = {c: [] for c in contenders}
    for i in range(args.runs):
        for c in contenders:
            cmd = [sys.executable, __file__, "--child", c, "--data", str(args.data)]
            if args.breakdown:
                cmd.append("--breakdown")
            if args.baseline:
                cmd += ["--baseline", str(args.baseline.resolve())]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode:
                raise SystemExit(f"{c} failed:\n{out.stderr[-3000:]}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results[c].append(r)
            print(
                f"run {i + 1} {c:<12} {r['seconds']:7.2f} s  {r['peak_rss_gb']:5.2f} GB  "
                f"{r['minor_faults']:>10,d} minor faults  {r['cpu_seconds']:7.2f} s CPU",
                flush=True,
            )
            for t, s in r["tables"].items():
                print(
                    f"    {t:<16} {s['seconds']:7.2f} s  +{s['rss_growth_gb']:5.2f} GB peak  "
                    f"{s['minor_faults']:>10,d} minor faults"
                )
    med = {
        c: {
            k: statistics.median(r[k] for r in rs)
            for k in ("seconds", "peak_rss_gb", "minor_faults", "cpu_seconds")
        }
        for c, rs in results.items()
    }
    print(f"\nmedians over {args.runs} runs ({args.data}):")
    for c, m in med.items():
        print(
            f"  {c:<12} {m['seconds']:7.2f} s  {m['peak_rss_gb']:5.2f} GB  "
            f"{m['minor_faults']:>12,.0f} minor faults  {m['cpu_seconds']:7.2f} s CPU"
        )
    if "lookthrough" in med:
        for c in ("validate", "baseline"):
            if c in med:
                ratio = med[c]["seconds"] / med["lookthrough"]["seconds"]
                cpu = med[c]["cpu_seconds"] / med["lookthrough"]["cpu_seconds"]
                print(f"  ratio {c} / look-through: {ratio:.2f} (goal <= 1.0); CPU {cpu:.2f}")
    if "validate" in med and "baseline" in med:
        ratio = med["baseline"]["seconds"] / med["validate"]["seconds"]
        print(f"  speed-up baseline / validate: {ratio:.2f}x")


if __name__ == "__main__":
    main()

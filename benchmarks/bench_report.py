"""HTML report benchmark: the report writer now (matplotlib figures inlined as SVG) vs an
earlier report module, on a stored backtest, in the same run.

Usage::

    etfflow demo --out bench_data/demo          # makes etfflow.duckdb with two backtest runs
    git show ebcce08:etfflow/backtest/report.py > /tmp/report_before.py
    python benchmarks/bench_report.py --store etfflow.duckdb --baseline /tmp/report_before.py
    python benchmarks/bench_report.py --store etfflow.duckdb --factors 10 --runs 5

Contenders, alternating, each run in a fresh subprocess: ``now`` is
:func:`etfflow.backtest.report.write_html` (default: figures drawn in the calling process),
``now-2`` the same with ``workers=2`` (two worker processes), ``baseline`` the
``write_html`` of the module given by ``--baseline`` (the hand-drawn SVG report before
issue 9). Each subprocess loads the
backtest run from the store (not timed), then times one ``write_html`` call (imports of the
report module and matplotlib included, as a CLI call pays them). Reported per contender:
median seconds, CPU seconds (workers included), peak RSS of the main process, minor page
faults and the page's size in bytes, and the
ratio now / baseline of the medians.
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


def _child(store: str, run: str | None, contender: str, baseline: str | None, k: int) -> dict:
    import importlib.util

    import polars as pl

    from etfflow.engine.store import open_store
    from etfflow.pipeline.backtest import load_evaluation

    with open_store(store, read_only=True, create=False) as st:
        if run is None:
            runs = st.runs().filter(pl.col("kind") == "backtest").sort("created_at")
            run = runs["run_id"][0]
        ev, _ = load_evaluation(st, run)
    if k:
        from etfflow.backtest.engine import Evaluation

        keep = ev.summary["factor"].head(k).to_list()
        ev = Evaluation(
            **{
                name: df.filter(pl.col("factor").is_in(keep)) if "factor" in df.columns else df
                for name, df in ev.__dict__.items()
            }
        )

    def cpu() -> float:  # this process and its finished children (the report's workers)
        a, b = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    ru0, cpu0 = resource.getrusage(resource.RUSAGE_SELF), cpu()
    t0 = time.perf_counter()
    if contender.startswith("now"):
        from functools import partial

        from etfflow.backtest.report import write_html

        write_html = partial(write_html, workers=2 if contender == "now-2" else 1)
    else:
        spec = importlib.util.spec_from_file_location("report_baseline", baseline)
        mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules["report_baseline"] = mod  # its dataclasses look their module up
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
        write_html = mod.write_html
    with tempfile.TemporaryDirectory() as d:
        out = write_html(ev, Path(d) / "r.html", title="bench", meta={"run": run})
        size = out.stat().st_size
    seconds = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": seconds,
        "cpu": cpu() - cpu0,
        "rss_gb": ru.ru_maxrss / 1e6,
        "minflt": ru.ru_minflt - ru0.ru_minflt,
        "bytes": size,
        "factors": ev.summary.height,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default="etfflow.duckdb")
    ap.add_argument("--run", default=None, help="backtest run id (default: the oldest)")
    ap.add_argument("--baseline", default=None, help="an earlier etfflow/backtest/report.py")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--factors", type=int, default=0, help="only the first N factors (0: all)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(_child(a.store, a.run, a.child, a.baseline, a.factors)))
        return
    contenders = ["now", "now-2"] + (["baseline"] if a.baseline else [])
    results: dict[str, list[dict]] = {c: [] for c in contenders}
    for _ in range(a.runs):
        for c in contenders:
            cmd = [sys.executable, __file__, "--store", a.store, "--child", c]
            cmd += ["--factors", str(a.factors)]
            cmd += ["--run", a.run] if a.run else []
            cmd += ["--baseline", a.baseline] if a.baseline else []
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results[c].append(json.loads(out.stdout.strip().splitlines()[-1]))
    med = {}
    for c, rs in results.items():
        m = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        med[c] = m
        each = ", ".join(f"{r['seconds']:.2f}" for r in rs)
        print(
            f"{c:9s} {int(m['factors'])} factors: {m['seconds']:.2f} s (runs {each}), "
            f"CPU {m['cpu']:.2f} s, "
            f"peak RSS {m['rss_gb']:.2f} GB, {m['minflt'] / 1e3:.0f}k minor faults, "
            f"{int(m['bytes']):,} bytes"
        )
    if "baseline" in med:
        b = med["baseline"]
        for c in ("now", "now-2"):
            n = med[c]
            print(
                f"ratio {c} / baseline: time {n['seconds'] / b['seconds']:.1f}, CPU "
                f"{n['cpu'] / b['cpu']:.1f}, size {n['bytes'] / b['bytes']:.2f}"
            )


if __name__ == "__main__":
    main()

"""numba specialisations compiled by a cold ``etfflow demo``, per dispatcher of a package.

A fresh install compiles every specialisation a run needs (issue 8 §3). This script runs
``etfflow demo`` in a child process with an empty ``NUMBA_CACHE_DIR`` (a callee loaded with its
caller from the cache records no signature, so only a cold process shows them all), then
lists ``len(dispatcher.signatures)`` for every numba dispatcher defined in the modules under
``--package`` (default ``etfflow.factors``).

Usage::

    python benchmarks/bench_specialisations.py [--size small] [--package etfflow.factors]
    PYTHONPATH=/path/to/other/checkout python benchmarks/bench_specialisations.py  # A/B
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = "--child"


def _child(package: str, argv: list[str]) -> None:
    import importlib
    import pkgutil

    from numba.core.registry import CPUDispatcher

    from etfflow.cli import app

    app(["demo", *argv], standalone_mode=False)
    pkg = importlib.import_module(package)
    out: dict[str, list[str]] = {}
    for info in pkgutil.walk_packages(pkg.__path__, package + "."):
        mod = importlib.import_module(info.name)
        for name, obj in vars(mod).items():
            if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == info.name:
                out[f"{info.name}.{name}"] = [str(s) for s in obj.signatures]
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--package", default="etfflow.factors")
    ap.add_argument("--signatures", action="store_true", help="print every signature")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_specs_") as tmp:
        t = Path(tmp)
        env = {**os.environ, "NUMBA_CACHE_DIR": str(t / "numba_cache")}
        args = ["--size", a.size, "--seed", str(a.seed), "--out", str(t / "market")]
        args += ["--store", str(t / "etfflow.duckdb")]
        res = subprocess.run(
            [sys.executable, __file__, _CHILD, a.package, *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode != 0:
            raise SystemExit(f"etfflow demo failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
        sigs = json.loads(res.stdout.strip().splitlines()[-1])
    used = {k: v for k, v in sigs.items() if v}
    print(
        f"{a.package}: {len(sigs)} dispatchers, {len(used)} compiled in the demo, "
        f"{sum(len(v) for v in used.values())} specialisations"
    )
    for name, s in sorted(used.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print(f"{len(s):>4}  {name}")
        if a.signatures:
            for sig in s:
                print(f"        {sig}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == _CHILD:
        _child(sys.argv[2], sys.argv[3:])
    else:
        main()

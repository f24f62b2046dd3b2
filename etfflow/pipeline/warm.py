"""Compile the demo's numba kernels in a second process while the first one works.

The first run after an install spends most of its time compiling numba kernels: the on-disk
cache (``cache=True``) is keyed on each source file's path and modification time, so a fresh
install starts empty, and numba compiles one kernel at a time under a process-wide lock. This
module lets a second process share that work on a multi-core machine:

- :data:`SIGNATURES` lists every kernel a demo run calls from Python, with its argument types,
  in the order of first use (``python -m etfflow.pipeline.warm --record`` regenerates it; a test
  fails when it is stale);
- :func:`background_compile` starts ``python -m etfflow.pipeline.warm`` when the cache of those
  kernels is cold and a core is idle. That process compiles the list from the end (the
  backtest's kernels first) while the main process compiles from the start as it reaches each
  stage; every kernel the helper finished is loaded from the cache instead of being compiled
  again;
- the helper is stopped when the main work ends (numba writes cache files atomically, so a
  stop mid-way leaves no partial entry). Results never depend on it: a kernel loaded from the
  cache is the same machine code the main process would have compiled.

Only the CLI starts the helper (``ETFFLOW_BACKGROUND_COMPILE=0`` turns it off); library calls
never spawn processes.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: ``module<TAB>qualname<TAB>argument types`` per line, in the order of first use by a demo.
SIGNATURES = Path(__file__).with_name("kernel_signatures.txt")
#: Environment switch: ``0`` disables the background compile, ``force`` starts it even when
#: no core looks idle (benchmarks), anything else leaves the decision to :func:`idle_core`.
ENV_SWITCH = "ETFFLOW_BACKGROUND_COMPILE"

Entry = tuple[str, str, str]


def read_signatures(path: str | Path = SIGNATURES) -> list[Entry]:
    """The recorded ``(module, qualname, types)`` entries (empty when the file is missing)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out: list[Entry] = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            module, qualname, sig = line.split("\t")
            out.append((module, qualname, sig))
    return out


def _namespace() -> dict[str, Any]:
    from numba.core import types

    ns = {k: v for k, v in vars(types).items() if not k.startswith("_")}
    # names numba's reprs use that are not attribute names of numba.core.types
    ns.update(bool=types.boolean, none=types.none, omitted=lambda default: types.Omitted(default))
    return ns


def parse_signature(text: str) -> tuple:
    """Argument types from their ``repr``, e.g. ``(Array(float64, 2, 'C', False), int64)``."""
    value = eval(text, {"__builtins__": {}}, _namespace())  # the text is our own recorded file
    return value if isinstance(value, tuple) else (value,)


def dispatcher(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _index_exists(module: str, qualname: str) -> bool:
    """Whether numba's cache index of this kernel exists (``False`` when it cannot tell)."""
    try:
        return Path(dispatcher(module, qualname)._cache._cache_file._index_path).is_file()
    except (AttributeError, ImportError):
        return False


def cache_is_cold(entries: Sequence[Entry]) -> bool:
    """True when the first or the last listed kernel has no cache index yet."""
    if not entries:
        return False
    first, last = entries[0], entries[-1]
    return not (_index_exists(*first[:2]) and _index_exists(*last[:2]))


def idle_core() -> bool:
    """A core is free for the helper: 2+ usable CPUs and a 1-minute load below CPUs - 0.5.

    On a machine already busy the helper only competes with the main process (measured: the
    cold run 1.4x slower at load 8 on 2 cores), so it is not started.
    """
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        ncpu = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return ncpu >= 2 and load < ncpu - 0.5


def compile_entries(entries: Sequence[Entry]) -> int:
    """Compile (or load from the cache) every entry; returns how many succeeded."""
    done = 0
    for module, qualname, sig in entries:
        try:
            dispatcher(module, qualname).compile(parse_signature(sig))
            done += 1
        except Exception as exc:  # a stale entry only costs the main process a compile
            log.debug("background compile of %s.%s%s failed: %s", module, qualname, sig, exc)
    return done


@contextmanager
def background_compile(
    enabled: bool = True, signatures: str | Path = SIGNATURES
) -> Iterator[subprocess.Popen | None]:
    """Run the body while a helper process compiles the listed kernels (cold cache only)."""
    proc = None
    switch = os.environ.get(ENV_SWITCH, "1")
    if enabled and switch != "0":
        entries = read_signatures(signatures)
        if cache_is_cold(entries) and (switch == "force" or idle_core()):
            proc = subprocess.Popen(
                [sys.executable, "-m", "etfflow.pipeline.warm", "--signatures", str(signatures)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
    try:
        yield proc
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _record_child(out: Path) -> None:
    """Inside a fresh process: run the tiny demo and write every top-level kernel call."""
    from numba.core.dispatcher import Dispatcher

    seen: dict[tuple[str, str, str], None] = {}
    depth = [0]
    original = Dispatcher.compile

    def compile_and_record(self: Any, sig: Any) -> Any:
        if depth[0] == 0:
            f = self.py_func
            if f.__module__.startswith("etfflow."):
                args = tuple(sig) if isinstance(sig, tuple) else (sig,)
                seen.setdefault((f.__module__, f.__qualname__, repr(args)), None)
        depth[0] += 1
        try:
            return original(self, sig)
        finally:
            depth[0] -= 1

    Dispatcher.compile = compile_and_record  # type: ignore[method-assign]
    from etfflow.pipeline.demo import run_demo

    with tempfile.TemporaryDirectory(prefix="etfflow_record_") as tmp:
        run_demo(size="tiny", out=Path(tmp) / "m", store=Path(tmp) / "r.duckdb")
    lines = [
        "# numba kernels a demo run calls, in order of first use: module, qualname, argument",
        "# types. Regenerate with `python -m etfflow.pipeline.warm --record`.",
        *("\t".join(e) for e in seen),
    ]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def record(out: str | Path = SIGNATURES) -> list[Entry]:
    """Regenerate the signature list in a fresh process (so every first call is seen)."""
    subprocess.run(
        [sys.executable, "-m", "etfflow.pipeline.warm", "--record-to", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return read_signatures(out)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m etfflow.pipeline.warm", description=__doc__)
    ap.add_argument("--signatures", type=Path, default=SIGNATURES)
    ap.add_argument("--record", action="store_true", help=f"regenerate {SIGNATURES.name}")
    ap.add_argument("--record-to", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.record_to is not None:
        _record_child(a.record_to)
    elif a.record:
        print(f"{len(record(a.signatures))} kernel signatures written to {a.signatures}")
    else:
        compile_entries(read_signatures(a.signatures)[::-1])


if __name__ == "__main__":
    main()

"""Compile the demo's numba kernels in a second process while the first one works.

The first run after an install spends most of its time compiling numba kernels: the on-disk
cache (``cache=True``) is keyed on each source file's path and modification time, so a fresh
install starts empty, and numba compiles one kernel at a time under a process-wide lock. This
module lets a second process share that work on a multi-core machine:

- :data:`SIGNATURES` lists every kernel a demo run calls from Python, with its argument types
  and compile seconds, in the order of first use (``python -m etfflow.pipeline.warm --record``
  regenerates it; a test fails when it is stale);
- :func:`background_compile` starts ``python -m etfflow.pipeline.warm`` when the cache of those
  kernels is cold and a core is idle. The helper works through :func:`plan`: the main process
  compiles from the start as it reaches each stage and keeps the kernels that make up the first
  half of the compile time; the helper compiles the rest in the order they will be needed,
  then the first half from its end;
- the main process *claims* every kernel it starts compiling (a file named after the kernel in
  a folder shared with the helper, written from numba's compile event), and the helper skips
  claimed kernels, so where the two meet neither compiles what the other did; every kernel
  the helper finished is loaded from the cache instead of being compiled again;
- the helper is stopped when the main work ends (numba writes cache files atomically, so a
  stop mid-way leaves no partial entry). Results never depend on it: a kernel loaded from the
  cache is the same machine code the main process would have compiled.

Only the CLI starts the helper (``ETFFLOW_BACKGROUND_COMPILE=0`` turns it off); library calls
never spawn processes. The synthetic market's kernels (``etfflow.data_samples``) are left to
the main process: most runs find the market already generated.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
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

#: Kernels the helper leaves to the main process (see the module docstring).
SKIP: tuple[str, ...] = ("etfflow.data_samples",)


def _rows(path: str | Path) -> list[list[str]]:
    """The tab-separated fields of each entry line of a signature file (none when missing)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [ln.split("\t") for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def read_signatures(path: str | Path = SIGNATURES) -> list[Entry]:
    """The recorded ``(module, qualname, types)`` entries (empty when the file is missing)."""
    return [(f[0], f[1], f[2]) for f in _rows(path)]


def read_costs(path: str | Path = SIGNATURES) -> dict[Entry, float]:
    """The recorded compile seconds of each entry (its 4th column; entries without one are
    left out). Measured by ``--record`` in a cold process, exclusive of the other listed
    kernels it compiled as callees; only their proportions matter (:func:`plan`)."""
    return {(f[0], f[1], f[2]): float(f[3]) for f in _rows(path) if len(f) >= 4}


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


def first_run(needs: Sequence[str] | None = None, signatures: str | Path = SIGNATURES) -> bool:
    """Whether the kernels a command needs are not in numba's cache yet (a first run)."""
    return cache_is_cold(plan(read_signatures(signatures), needs))


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


def plan(
    entries: Sequence[Entry],
    needs: Sequence[str] | None = None,
    skip: Sequence[str] = SKIP,
    costs: dict[Entry, float] | None = None,
) -> list[Entry]:
    """The helper's order of the needed entries.

    ``needs`` keeps the entries whose module starts with one of its prefixes (all when
    ``None``); ``skip`` drops those starting with one of its prefixes. The main process
    compiles from the first kernel as it reaches each stage. Without ``costs`` (or with an
    entry missing from them) the helper goes from the last entry to the first, and the two
    meet in the middle. With ``costs`` (compile seconds per entry, :func:`read_costs`) the list
    is split before the kernel that takes the first part past half of the compile time: the
    main process keeps the first part, and the helper compiles the second part in the order the
    main process will need it (so a long kernel at the split is ready first instead of being
    the one the two meet in), then the first part from its end; claims (:class:`Claims`) stop
    it from compiling what the main process has done or is doing.
    """
    kept = [
        e
        for e in entries
        if (needs is None or e[0].startswith(tuple(needs))) and not e[0].startswith(tuple(skip))
    ]
    if not costs or any(e not in costs for e in kept):
        return kept[::-1]
    half = sum(costs[e] for e in kept) / 2.0
    done = 0.0
    split = len(kept)
    for i, e in enumerate(kept):
        done += costs[e]
        if done >= half:
            split = i  # the kernel across the half goes to the helper: the main process also
            break  # does its stages' own work between its compiles
    return kept[split:] + kept[:split][::-1]


def claim_name(module: str, qualname: str) -> str:
    """The claim file's name of a kernel (see :class:`Claims`)."""
    return f"{module}:{qualname}"


class Claims:
    """Write a claim file for every etfflow kernel this process starts compiling.

    A numba compile-event listener (:mod:`numba.core.event`, numba's public event API):
    ``on_start`` of a ``numba:compile`` event touches ``folder/<module>:<qualname>``. The
    helper process skips claimed kernels. Use as a context manager (registers and removes the
    listener).
    """

    def __init__(self, folder: Path) -> None:
        from numba.core import event

        self.folder = folder

        class _Listener(event.Listener):
            def on_start(self, ev: event.Event) -> None:
                f = ev.data["dispatcher"].py_func
                if f.__module__.startswith("etfflow."):
                    try:
                        (folder / claim_name(f.__module__, f.__qualname__)).touch()
                    except OSError:  # the claim only saves the helper some work
                        pass

            def on_end(self, ev: event.Event) -> None:
                pass

        self._listener = _Listener()

    def __enter__(self) -> Claims:
        from numba.core import event

        event.register("numba:compile", self._listener)
        return self

    def __exit__(self, *exc: object) -> None:
        from numba.core import event

        event.unregister("numba:compile", self._listener)


def compile_entries(entries: Sequence[Entry], claims: Path | None = None) -> int:
    """Compile (or load from the cache) every entry; returns how many succeeded.

    With ``claims``, an entry whose claim file exists there (the main process compiles or
    compiled it) is skipped and not counted.
    """
    done = 0
    for module, qualname, sig in entries:
        if claims is not None and (claims / claim_name(module, qualname)).exists():
            continue
        try:
            dispatcher(module, qualname).compile(parse_signature(sig))
            done += 1
        except Exception as exc:  # a stale entry only costs the main process a compile
            log.debug("background compile of %s.%s%s failed: %s", module, qualname, sig, exc)
    return done


@contextmanager
def background_compile(
    enabled: bool = True,
    signatures: str | Path = SIGNATURES,
    needs: Sequence[str] | None = None,
) -> Iterator[subprocess.Popen | None]:
    """Run the body while a helper process compiles the listed kernels (cold cache only).

    ``needs``: module prefixes of the kernels the command runs (all listed kernels when
    ``None``); the helper compiles those in :func:`plan` order and skips every kernel this
    process has claimed (:class:`Claims`).
    """
    proc = None
    switch = os.environ.get(ENV_SWITCH, "1")
    entries = plan(read_signatures(signatures), needs) if enabled and switch != "0" else []
    if entries and cache_is_cold(entries) and (switch == "force" or idle_core()):
        with tempfile.TemporaryDirectory(prefix="etfflow_claims_") as tmp, Claims(Path(tmp)):
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "etfflow.pipeline.warm",
                    "--signatures",
                    str(signatures),
                    "--claims",
                    tmp,
                    *(a for n in needs or () for a in ("--needs", n)),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                yield proc
            finally:
                _stop(proc)
    else:
        yield None


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _record_child(out: Path) -> None:
    """Inside a fresh process: run the tiny demo and write every top-level kernel call."""
    from numba.core.dispatcher import Dispatcher

    from etfflow._jit import InnerDispatcher

    seen: dict[tuple[str, str, str], float] = {}  # entry -> compile seconds
    # per thread: validation warms its kernels up in a thread while the main thread reads
    # tables, and a kernel called from Python in one thread is top level whatever the other does
    local = threading.local()
    original = Dispatcher.compile

    def compile_and_record(self: Any, sig: Any) -> Any:
        stack = local.__dict__.setdefault("stack", [])  # [start, nested seconds] per entry
        key = None
        # every etfflow kernel, also one compiled as another kernel's callee (later Python
        # calls of it find it compiled and are not seen; with the cold cache :func:`record`
        # uses, the list is the same whatever the order of first calls); ``inner`` helpers,
        # never called from Python, are not listed
        f = self.py_func
        if f.__module__.startswith("etfflow.") and not isinstance(self, InnerDispatcher):
            args = tuple(sig) if isinstance(sig, tuple) else (sig,)
            key = (f.__module__, f.__qualname__, repr(args))
            if key in seen:
                key = None  # compiled (or loaded) already: no new cost
            else:
                seen[key] = 0.0
                stack.append([time.perf_counter(), 0.0])
        try:
            return original(self, sig)
        finally:
            if key is not None:
                start, nested = stack.pop()
                spent = time.perf_counter() - start
                seen[key] = spent - nested  # exclusive of the listed kernels it compiled
                if stack:
                    stack[-1][1] += spent

    Dispatcher.compile = compile_and_record  # type: ignore[method-assign]
    from etfflow.pipeline.demo import run_demo

    with tempfile.TemporaryDirectory(prefix="etfflow_record_") as tmp:
        run_demo(size="tiny", out=Path(tmp) / "m", store=Path(tmp) / "r.duckdb")
    lines = [
        "# numba kernels a demo run calls, in order of first use: module, qualname, argument",
        "# types, compile seconds (cold cache, this machine; the helper's plan uses their",
        "# proportions). Regenerate with `python -m etfflow.pipeline.warm --record`.",
        *("\t".join((*e, f"{s:.2f}")) for e, s in seen.items()),
    ]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def record(out: str | Path = SIGNATURES) -> list[Entry]:
    """Regenerate the signature list in a fresh process with an empty numba cache (so every
    kernel the demo uses is compiled, and seen, whatever the cache holds)."""
    with tempfile.TemporaryDirectory(prefix="etfflow_record_cache_") as cache:
        subprocess.run(
            [sys.executable, "-m", "etfflow.pipeline.warm", "--record-to", str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "NUMBA_CACHE_DIR": cache},
        )
    return read_signatures(out)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m etfflow.pipeline.warm", description=__doc__)
    ap.add_argument("--signatures", type=Path, default=SIGNATURES)
    ap.add_argument("--record", action="store_true", help=f"regenerate {SIGNATURES.name}")
    ap.add_argument("--record-to", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--claims", type=Path, help="skip kernels claimed in this folder")
    ap.add_argument("--needs", action="append", help="module prefix of the needed kernels")
    a = ap.parse_args(argv)
    if a.record_to is not None:
        _record_child(a.record_to)
    elif a.record:
        print(f"{len(record(a.signatures))} kernel signatures written to {a.signatures}")
    else:
        entries = read_signatures(a.signatures)
        compile_entries(plan(entries, a.needs, costs=read_costs(a.signatures)), a.claims)


if __name__ == "__main__":
    main()

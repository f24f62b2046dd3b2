"""Task functions of tests/pipeline/test_study_executors.py, in a module of their own: worker
processes import it by name (a spawned or Dask worker unpickles ``fn`` by reference), so it
imports only what the tasks need, not pytest or hypothesis."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def evaluate_task(shared: Mapping[str, np.ndarray], payload: dict[str, Any]) -> dict[str, Any]:
    """One backtest cell: etfflow's numba evaluation of one shared factor panel."""
    from etfflow.backtest.engine import evaluate

    name = payload["factor"]
    ev = evaluate(
        {name: shared[name]},
        shared["returns"],
        shared["dates"],
        groups=payload["groups"],
        rebalance=payload["rebalance"],
        cost_bps=payload["cost_bps"],
    )
    return {t: getattr(ev, t) for t in ("ic", "groups", "nav", "summary", "yearly")}


def sum_task(shared: Mapping[str, np.ndarray], payload: int) -> float:
    return float(np.nansum(shared["x"]) * payload)


def fail_task(shared: Mapping[str, np.ndarray], payload: dict[str, Any]) -> int:
    """Records that it started (a file in ``payload["folder"]``), sleeps, and raises when
    ``payload["fail"]``."""
    Path(payload["folder"], f"started-{payload['i']}").touch()
    if payload["fail"]:
        raise ValueError(f"bad cell {payload['i']}")
    time.sleep(payload["sleep"])
    return int(payload["i"])


def die_once_task(shared: Mapping[str, np.ndarray], payload: dict[str, Any]) -> float:
    """Kills its own process the first time any task with ``payload["die"]`` runs (a marker
    file created atomically decides which run is first), then computes normally."""
    if payload["die"]:
        try:
            fd = os.open(payload["marker"], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pass
        else:
            os.close(fd)
            os._exit(17)
    time.sleep(payload.get("sleep", 0.0))
    return float(np.nansum(shared["x"]) * payload["i"])


def always_die_task(shared: Mapping[str, np.ndarray], payload: int) -> int:
    os._exit(17)


def write_task(shared: Mapping[str, np.ndarray], payload: str) -> None:
    shared[payload][0] = 99.0


def env_task(shared: Mapping[str, np.ndarray], payload: str) -> tuple[int, str | None]:
    """This process's id and the environment variable ``payload``."""
    return os.getpid(), os.environ.get(payload)


def threads_task(shared: Mapping[str, np.ndarray], payload: int) -> tuple[int, int]:
    """This process's id and numba's thread count in it."""
    import numba

    return os.getpid(), int(numba.get_num_threads())


def mmap_task(shared: Mapping[str, np.ndarray], payload: str) -> bool:
    """Whether the shared array ``payload`` is a view of a memory-mapped file."""
    import mmap

    base: Any = shared[payload]
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    return base is not None


def pid_then_sleep_task(shared: Mapping[str, np.ndarray], payload: dict[str, Any]) -> int:
    """Writes this process's id to ``payload["folder"]/pid-<i>``, then sleeps ``sleep`` s."""
    Path(payload["folder"], f"pid-{payload['i']}").write_text(str(os.getpid()))
    time.sleep(payload["sleep"])
    return int(payload["i"])

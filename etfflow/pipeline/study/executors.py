"""Executors of a study's tasks: the same function over many payloads, with large read-only
arrays shared once.

Every executor has one method, :meth:`Executor.map`: ``fn(shared, payload)`` for each
``(key, payload)`` task, yielding ``(key, result)`` pairs as tasks complete (in any order; the
caller orders them). ``fn`` must be a module-level function and payloads and results
picklable. ``shared`` maps names to NumPy arrays that every task may read and none may write.
A task that raises stops the map with :class:`~etfflow.exceptions.StudyTaskError` naming the
task's key; results already yielded stay valid.

- ``serial``: in this process, in order (the reference every other executor must equal).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar

import numpy as np

from etfflow._common import Progress
from etfflow.exceptions import EtfflowError, StudyTaskError

R = TypeVar("R")
Shared = Mapping[str, np.ndarray]
TaskFn = Callable[[Shared, Any], R]
ExecutorKind = Literal["serial", "local", "dask"]
EXECUTORS: tuple[str, ...] = ("serial",)


class Executor:
    """Runs tasks; a context manager (``close`` releases workers and temporary files)."""

    kind: str = "serial"
    workers: int = 1

    def map(
        self,
        fn: TaskFn[R],
        tasks: Sequence[tuple[str, Any]],
        shared: Shared,
        *,
        progress: Progress | None = None,
    ) -> Iterator[tuple[str, R]]:
        raise NotImplementedError  # pragma: no cover - abstract

    def close(self) -> None:
        return None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(Executor):
    """In this process, in task order."""

    kind = "serial"
    workers = 1

    def map(
        self,
        fn: TaskFn[R],
        tasks: Sequence[tuple[str, Any]],
        shared: Shared,
        *,
        progress: Progress | None = None,
    ) -> Iterator[tuple[str, R]]:
        view = {k: _read_only(v) for k, v in shared.items()}
        for i, (key, payload) in enumerate(tasks):
            try:
                result = fn(view, payload)
            except Exception as exc:  # any failure of a task names the task
                raise StudyTaskError(key, exc) from exc
            if progress is not None:
                progress("cells", i + 1, len(tasks))
            yield key, result


def _read_only(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


def make_executor(
    kind: str = "serial", *, workers: int | None = None, cluster: str | None = None
) -> Executor:
    """The executor ``kind`` (one of :data:`EXECUTORS`)."""
    if kind == "serial":
        return SerialExecutor()
    raise EtfflowError(f"unknown executor {kind!r}: choose one of {', '.join(EXECUTORS)}")

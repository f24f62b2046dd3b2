"""Executors of a study's tasks: the same function over many payloads, with large read-only
arrays shared once.

Every executor has one method, :meth:`Executor.map`: ``fn(shared, payload)`` for each
``(key, payload)`` task, yielding ``(key, result)`` pairs as tasks complete (in any order; the
caller orders them). ``fn`` must be a module-level function and payloads and results
picklable. ``shared`` maps names to NumPy arrays (not of dtype ``object``) that every task may
read and none may write: a write raises ``ValueError`` on every executor. A task that raises
stops the map with :class:`~etfflow.exceptions.StudyTaskError` naming the task's key; results
already yielded stay valid. Tasks must be idempotent (they only compute; only the caller
writes results), so an executor may run a task again after a worker died.

- ``serial``: in this process, in order (the reference every other executor must equal).
- ``local``: a pool of ``workers`` processes on this machine (default: one per CPU), forked
  from a ``forkserver`` that imported the kernels once (``spawn`` where there is none; never
  ``fork``: numba's threads do not survive it), one pool per map. The shared arrays are
  written once to a temporary folder as ``.npy`` files that every worker memory-maps read-only
  in its initializer (no per-task copies; the page cache holds one copy for all workers); the
  folder is removed when the map ends, also on an error or an interrupt (the workers still
  running are then terminated, not awaited). When a worker process dies
  (killed, out of memory) the pool is restarted and the unfinished tasks run again, at most
  ``retries`` times; past that the map fails naming the unfinished tasks.
- ``dask``: a Dask ``distributed`` cluster (``pip install "etfflow[dask]"``): a
  ``LocalCluster`` of ``workers`` single-threaded processes on 127.0.0.1 started for the
  executor (and closed with it), or a running scheduler at ``cluster="tcp://HOST:PORT"``
  (left running). The shared arrays are scattered once to every worker
  (``broadcast=True``: no shared file system needed, as on Kubernetes); tasks are submitted
  with ``retries``, and the scheduler runs a task again when its worker dies.

Worker processes on this machine (``local``, a Dask ``LocalCluster``) use ``max(1, CPUs //
workers)`` numba threads (no oversubscription; results do not depend on the thread count, see
:mod:`etfflow._threads`; workers of a cluster started elsewhere keep their own
``NUMBA_NUM_THREADS``) and a writable numba cache:
the caller's ``NUMBA_CACHE_DIR`` when set, else numba's own cache beside the package when that
folder is writable (shared with the caller, so kernels it compiled load from disk), else a
per-user folder under the system's temporary folder (:func:`worker_environment`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing.context
import multiprocessing.process
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeVar

import numpy as np

from etfflow._common import Progress
from etfflow.exceptions import EtfflowError, StudyTaskError

log = logging.getLogger(__name__)

R = TypeVar("R")
Shared = Mapping[str, np.ndarray]
TaskFn = Callable[[Shared, Any], R]
ExecutorKind = Literal["serial", "local", "dask"]
EXECUTORS: tuple[str, ...] = ("serial", "local", "dask")
#: Times a task runs again after its worker died (local: restarts of the pool).
DEFAULT_RETRIES = 1
#: Seconds to wait for a LocalCluster to start or close, or for ``workers`` to join.
DASK_TIMEOUT = 60.0
#: Seconds to wait for the scheduler at ``cluster`` to answer (a wrong address fails fast).
DASK_CONNECT_TIMEOUT = 20.0
DASK_HINT = 'pip install "etfflow[dask]"'


class Executor:
    """Runs tasks; a context manager (``close`` releases workers and temporary files)."""

    kind: str = "serial"
    workers: int = 1
    #: Measurements of the last map (seconds, MB), for benchmarks and logs: ``start_s``
    #: (cluster start-up, Dask), ``share_s`` and ``share_mb`` (writing or scattering the
    #: shared arrays once), ``first_s`` (from the start of the map to its first result),
    #: ``restarts`` (local pools restarted after a worker died).
    stats: Mapping[str, float] = MappingProxyType({})

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
        _check_tasks(tasks)
        view = MappingProxyType({k: _read_only(v) for k, v in _check_shared(shared).items()})
        t0 = time.perf_counter()
        self.stats = {}
        for i, (key, payload) in enumerate(tasks):
            try:
                result = fn(view, payload)
            except Exception as exc:  # any failure of a task names the task
                raise StudyTaskError(key, exc) from exc
            _mark_first(self, t0)
            if progress is not None:
                progress("cells", i + 1, len(tasks))
            yield key, result


# --------------------------------------------------------------------------- shared helpers


def _mark_first(ex: Executor, t0: float) -> None:
    """Record ``first_s``: seconds from the start of the map to its first result (start-up)."""
    if "first_s" not in ex.stats:
        ex.stats = {**ex.stats, "first_s": time.perf_counter() - t0}


def _read_only(a: np.ndarray) -> np.ndarray:
    v = np.asarray(a).view()
    v.flags.writeable = False
    return v


def _check_shared(shared: Shared) -> dict[str, np.ndarray]:
    """``shared`` as a dict of arrays; object arrays cannot be memory-mapped or sent as buffers."""
    out: dict[str, np.ndarray] = {}
    for name, a in shared.items():
        if not isinstance(name, str) or not isinstance(a, np.ndarray):
            raise EtfflowError(
                f"shared input {name!r}: expected a NumPy array under a string name, "
                f"got {type(a).__name__}"
            )
        if a.dtype.hasobject:
            raise EtfflowError(
                f"shared input {name!r}: dtype {a.dtype} holds Python objects; "
                "share numeric, boolean, datetime or fixed-width string arrays"
            )
        out[name] = a
    return out


def _check_tasks(tasks: Sequence[tuple[str, Any]]) -> None:
    seen: set[str] = set()
    for task in tasks:
        key = task[0]
        if key in seen:
            raise EtfflowError(f"task key {key!r} is used twice: every task needs its own key")
        seen.add(key)


def _check_workers(workers: int | None) -> None:
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise EtfflowError(f"workers: expected a whole number >= 1, got {workers!r}")


def _cpus() -> int:
    return os.cpu_count() or 1


def _numba_threads(workers: int) -> int:
    return max(1, _cpus() // max(workers, 1))


def _default_cache_writable() -> bool:
    """Whether numba can write its cache beside the package's kernels (``__pycache__``)."""
    folder = Path(__file__).resolve().parents[2] / "backtest"
    cache = folder / "__pycache__"
    return os.access(cache if cache.is_dir() else folder, os.W_OK)


def worker_environment() -> dict[str, str]:
    """Environment variables a worker process needs before it imports numba.

    ``NUMBA_CACHE_DIR`` only when the caller has none and numba's default cache beside the
    package is not writable (a read-only install): a per-user folder in the temporary folder.
    (Numba's thread count is set in each worker, :func:`_set_numba_threads`.)
    """
    if os.environ.get("NUMBA_CACHE_DIR") or _default_cache_writable():
        return {}
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return {"NUMBA_CACHE_DIR": str(Path(tempfile.gettempdir()) / f"etfflow-numba-{uid}")}


def _set_numba_threads(n: int) -> None:
    """Inside a worker: use ``n`` numba threads (at most the size of numba's thread pool)."""
    import numba

    # the size of numba's thread pool (set_num_threads cannot exceed it)
    want = max(1, min(n, int(getattr(numba.config, "NUMBA_NUM_THREADS", n))))
    if numba.get_num_threads() != want:
        numba.set_num_threads(want)


# --------------------------------------------------------------------------- local executor

#: The shared arrays of this worker process, set by :func:`_init_local_worker`.
_WORKER_SHARED: Mapping[str, np.ndarray] = MappingProxyType({})
#: Why this worker could not open the shared arrays (None: it could).
_WORKER_ERROR: str | None = None
_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def _environ(env: Mapping[str, str]) -> Iterator[None]:
    """Set ``env`` in ``os.environ`` for the block (a spawned child inherits it), then restore."""
    with _ENV_LOCK:
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


#: Modules the ``forkserver`` imports once (missing ones are skipped): every worker forks from
#: it with NumPy, Polars, numba and the backtest kernels already imported.
PRELOAD: tuple[str, ...] = (
    "etfflow.pipeline.study.executors",
    "etfflow.backtest.engine",
    "etfflow.pipeline.study.run",
)


class _EnvProcess(multiprocessing.process.BaseProcess):
    """A process started (``spawn``, or the fork server's first start) with ``_env`` set."""

    _env: Mapping[str, str] = MappingProxyType({})
    _base: Any = multiprocessing.context.SpawnProcess
    _start_method: str | None = None

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        with _environ(process_obj._env):
            return process_obj._base._Popen(process_obj)


class _EnvSpawnContext(multiprocessing.context.SpawnContext):
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)

    def Process(self, *args: Any, **kwargs: Any) -> _EnvProcess:  # type: ignore[override]
        return _env_process(self, multiprocessing.context.SpawnProcess, args, kwargs)


class _EnvForkServerContext(multiprocessing.context.ForkServerContext):
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)

    def Process(self, *args: Any, **kwargs: Any) -> _EnvProcess:  # type: ignore[override]
        return _env_process(self, multiprocessing.context.ForkServerProcess, args, kwargs)


def _env_process(ctx: Any, base: Any, args: Any, kwargs: Any) -> _EnvProcess:
    p = _EnvProcess(*args, **kwargs)
    p._env, p._base, p._start_method = ctx._env, base, base._start_method
    return p


def _pool_context(env: Mapping[str, str]) -> multiprocessing.context.BaseContext:
    """``forkserver`` where available (Linux, macOS): the server starts once per client
    process with ``env`` and :data:`PRELOAD` imported (it then waits, idle, until the process
    ends), and each worker forks from it (measured: a 2-worker pool's first backtest result
    4-5x sooner than with ``spawn``); else ``spawn`` with ``env`` (Windows). Never ``fork``:
    numba's and Polars' threads do not survive it."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = _EnvForkServerContext(env)
        ctx.set_forkserver_preload(list(PRELOAD))  # effective when the server starts
        return ctx
    return _EnvSpawnContext(env)


def _megabytes(arrays: Mapping[str, np.ndarray]) -> float:
    return sum(a.nbytes for a in arrays.values()) / 1e6


def _write_shared(folder: Path, arrays: Mapping[str, np.ndarray]) -> dict[str, str]:
    """Each array to ``folder/<i>.npy`` (names may hold any character); name -> file."""
    files: dict[str, str] = {}
    for i, (name, a) in enumerate(arrays.items()):
        path = folder / f"{i}.npy"
        np.save(path, a, allow_pickle=False)
        files[name] = str(path)
    return files


def _init_local_worker(files: Mapping[str, str], threads: int) -> None:
    """Pool initializer: memory-map every shared array read-only (once per worker). A failure
    is kept for the tasks to report (an initializer that raises only breaks the pool, its
    cause printed by the worker and lost to the caller)."""
    global _WORKER_SHARED, _WORKER_ERROR
    arrays: dict[str, np.ndarray] = {}
    _WORKER_ERROR = None
    try:
        for name, path in files.items():
            a = np.load(path, mmap_mode="r", allow_pickle=False)
            arrays[name] = _read_only(a)
        _set_numba_threads(threads)
    except Exception as exc:
        _WORKER_ERROR = (
            f"a worker could not open the shared arrays ({type(exc).__name__}: {exc}); "
            "is the temporary folder (TMPDIR) on a disk with room for them?"
        )
    _WORKER_SHARED = MappingProxyType(arrays)


def _run_local_task(fn: TaskFn[R], payload: Any) -> R:
    if _WORKER_ERROR is not None:
        raise EtfflowError(_WORKER_ERROR)
    return fn(_WORKER_SHARED, payload)


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """Stop the pool's worker processes now (Python 3.14 has ``terminate_workers``)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            proc.terminate()


def _name_keys(keys: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


class LocalExecutor(Executor):
    """A pool of ``workers`` processes on this machine (see the module docstring)."""

    kind = "local"

    def __init__(self, workers: int | None = None, *, retries: int = DEFAULT_RETRIES) -> None:
        _check_workers(workers)
        self.workers = workers or _cpus()
        self.retries = retries
        self._folders: set[Path] = set()

    def map(
        self,
        fn: TaskFn[R],
        tasks: Sequence[tuple[str, Any]],
        shared: Shared,
        *,
        progress: Progress | None = None,
    ) -> Iterator[tuple[str, R]]:
        _check_tasks(tasks)
        arrays = _check_shared(shared)
        if not tasks:
            return
        folder = Path(tempfile.mkdtemp(prefix="etfflow-study-"))
        self._folders.add(folder)
        try:
            t0 = time.perf_counter()
            files = _write_shared(folder, arrays)
            self.stats = {
                "share_s": time.perf_counter() - t0,
                "share_mb": _megabytes(arrays),
                "restarts": 0,
            }
            yield from self._run(fn, list(tasks), files, progress, t0)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            self._folders.discard(folder)

    def _run(
        self,
        fn: TaskFn[R],
        tasks: list[tuple[str, Any]],
        files: Mapping[str, str],
        progress: Progress | None,
        t0: float,
    ) -> Iterator[tuple[str, R]]:
        pending = dict(tasks)
        n_workers = min(self.workers, len(tasks))
        threads = _numba_threads(n_workers)
        context = _pool_context(worker_environment())
        done, restarts = 0, 0
        while pending:
            broken: BrokenProcessPool | None = None
            pool = ProcessPoolExecutor(
                max_workers=min(n_workers, len(pending)),
                mp_context=context,
                initializer=_init_local_worker,
                initargs=(dict(files), threads),
            )
            try:
                futures: dict[Future[R], str] = {}
                try:
                    for key, payload in pending.items():
                        futures[pool.submit(_run_local_task, fn, payload)] = key
                except BrokenProcessPool as exc:  # a worker died before all were submitted
                    broken = exc
                for fut in as_completed(futures) if broken is None else ():
                    key = futures[fut]
                    try:
                        result = fut.result()
                    except BrokenProcessPool as exc:
                        broken = exc
                        break
                    except Exception as exc:  # the task raised: stop the map, name the task
                        raise StudyTaskError(key, exc) from exc
                    del pending[key]
                    done += 1
                    _mark_first(self, t0)
                    if progress is not None:
                        progress("cells", done, len(tasks))
                    yield key, result
            except BaseException:
                # a failed task, an interrupt or a caller that stopped reading: the tasks
                # still running are of no use, stop them instead of waiting for them
                _terminate_workers(pool)
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
            if broken is not None:
                restarts += 1
                self.stats = {**self.stats, "restarts": restarts}
                keys = list(pending)
                if restarts > self.retries:
                    raise StudyTaskError(
                        f"one of {len(keys)} unfinished tasks ({_name_keys(keys)})",
                        f"a worker process died ({broken}); the pool was restarted "
                        f"{self.retries} time(s) and died again: a task that kills its "
                        "process (out of memory, a crash in compiled code) is among these",
                    )
                log.warning(
                    "a worker process died; restarting the pool for %d unfinished tasks",
                    len(keys),
                )

    def close(self) -> None:
        for folder in list(self._folders):
            shutil.rmtree(folder, ignore_errors=True)
        self._folders.clear()


# --------------------------------------------------------------------------- dask executor

_ADDRESS = re.compile(r"^(tcp|tls|ucx|inproc|ws|wss)://[^\s/]+(:\d+)?/?$")


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise EtfflowError(
            f"executor 'dask' needs Dask distributed, which is not installed: {DASK_HINT}"
        ) from exc
    return distributed


def _run_dask_task(
    fn: TaskFn[R], shared: Mapping[str, np.ndarray], payload: Any, threads: int
) -> R:
    if threads > 0:  # 0: a cluster started elsewhere, its workers' own setting
        _set_numba_threads(threads)
    view = MappingProxyType({k: _read_only(v) for k, v in shared.items()})
    return fn(view, payload)


class DaskExecutor(Executor):
    """Tasks on a Dask ``distributed`` cluster (see the module docstring)."""

    kind = "dask"

    def __init__(
        self,
        workers: int | None = None,
        *,
        cluster: str | None = None,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        _check_workers(workers)
        distributed = _import_distributed()
        self.retries = retries
        self._cluster: Any = None
        self.address = cluster
        t0 = time.perf_counter()
        if cluster is None:
            n = workers or _cpus()
            self._cluster = distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",  # None still serves it on :8787
                silence_logs=logging.ERROR,
                env={**worker_environment(), "NUMBA_NUM_THREADS": str(_numba_threads(n))},
            )
            self.address = self._cluster.scheduler_address
            try:
                self._client = distributed.Client(self._cluster, timeout=DASK_TIMEOUT)
            except BaseException:
                self._cluster.close(timeout=DASK_TIMEOUT)
                raise
        else:
            if not _ADDRESS.match(cluster):
                raise EtfflowError(
                    f"cluster {cluster!r}: expected a Dask scheduler address such as "
                    "tcp://10.0.0.5:8786"
                )
            try:
                self._client = distributed.Client(cluster, timeout=DASK_CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                raise EtfflowError(
                    f"cannot connect to the Dask scheduler at {cluster}: {exc}; "
                    "start one with `dask scheduler` (and workers with `dask worker ADDRESS`)"
                ) from exc
        try:
            if workers is not None:
                self._client.wait_for_workers(workers, timeout=DASK_TIMEOUT)
            self.workers = max(1, len(self._client.scheduler_info(n_workers=-1)["workers"]))
            self.stats = {"start_s": time.perf_counter() - t0}
        except BaseException:
            self.close()
            raise

    def map(
        self,
        fn: TaskFn[R],
        tasks: Sequence[tuple[str, Any]],
        shared: Shared,
        *,
        progress: Progress | None = None,
    ) -> Iterator[tuple[str, R]]:
        distributed = _import_distributed()
        _check_tasks(tasks)
        arrays = _check_shared(shared)
        if not tasks:
            return
        client = self._client
        threads = _numba_threads(self.workers) if self._cluster is not None else 0
        token = uuid.uuid4().hex[:12]
        # one copy per worker, sent up front; the tasks refer to the futures. A list, not the
        # dict: the dict's names would become the data's keys, shared by consecutive maps
        names = list(arrays)
        t0 = time.perf_counter()
        self.stats = {k: v for k, v in self.stats.items() if k == "start_s"}
        sent = (
            client.scatter([arrays[n] for n in names], broadcast=True, hash=False) if names else []
        )
        self.stats = {
            **self.stats,
            "share_s": time.perf_counter() - t0,
            "share_mb": _megabytes(arrays),
        }
        scattered = dict(zip(names, sent, strict=True))
        futures: dict[str, str] = {}
        submitted = []
        try:
            for i, (key, payload) in enumerate(tasks):
                fut = client.submit(
                    _run_dask_task,
                    fn,
                    scattered,
                    payload,
                    threads,
                    key=f"etfflow-task-{token}-{i}",
                    retries=self.retries,
                    pure=False,
                )
                futures[fut.key] = key
                submitted.append(fut)
            done = 0
            for fut in distributed.as_completed(submitted):
                key = futures[fut.key]
                if fut.status != "finished":
                    exc = fut.exception() if fut.status == "error" else None
                    error = exc if exc is not None else f"task {fut.status}"
                    raise StudyTaskError(key, error) from exc
                result = fut.result()
                fut.release()
                done += 1
                _mark_first(self, t0)
                if progress is not None:
                    progress("cells", done, len(tasks))
                yield key, result
        finally:
            leftover = [f for f in submitted if f.status not in ("finished",)]
            if leftover:
                client.cancel(leftover)
            if scattered:
                client.cancel(list(scattered.values()))

    def close(self) -> None:
        client, cluster = getattr(self, "_client", None), self._cluster
        self._client, self._cluster = None, None
        if client is not None:
            client.close(timeout=DASK_TIMEOUT)
        if cluster is not None:
            cluster.close(timeout=DASK_TIMEOUT)


def make_executor(
    kind: str = "serial", *, workers: int | None = None, cluster: str | None = None
) -> Executor:
    """The executor ``kind`` (one of :data:`EXECUTORS`).

    Parameters
    ----------
    kind
        ``serial``, ``local`` or ``dask``.
    workers
        Worker processes (``local``: default one per CPU; ``dask`` without ``cluster``: the
        LocalCluster's workers, default one per CPU; ``dask`` with ``cluster``: wait until at
        least this many workers joined). Ignored by ``serial``.
    cluster
        ``dask`` only: the address of a running scheduler (``tcp://HOST:PORT``); None starts
        a LocalCluster on 127.0.0.1.

    Raises
    ------
    EtfflowError
        Unknown kind, bad ``workers``, ``cluster`` without ``dask``, Dask not installed or the
        scheduler unreachable.
    """
    _check_workers(workers)
    if cluster is not None and kind != "dask":
        raise EtfflowError(f"cluster {cluster!r} needs executor 'dask', not {kind!r}")
    if kind == "serial":
        return SerialExecutor()
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(workers, cluster=cluster)
    raise EtfflowError(f"unknown executor {kind!r}: choose one of {', '.join(EXECUTORS)}")

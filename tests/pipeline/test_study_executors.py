"""Study executors (issue 13 §2): serial, a local process pool and Dask give the same results.

The serial executor is the reference: every other executor must yield bit-identical results
for the same tasks, stop on a failing task naming its key, survive a worker that dies, keep the
shared arrays read-only and leave no temporary files. Dask runs on a real
``distributed.LocalCluster`` (2 worker processes on 127.0.0.1, one per test session).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st_h
from hypothesis.extra import numpy as hnp
from polars.testing import assert_frame_equal

from etfflow.exceptions import EtfflowError, StudyTaskError
from etfflow.pipeline.study import executors as ex
from etfflow.pipeline.study.executors import EXECUTORS, Executor, make_executor
from tests.helpers import examples
from tests.pipeline import study_tasks as st

distributed = pytest.importorskip(
    "distributed", reason='Dask executor tests need the dev extra (pip install -e ".[dev]")'
)

#: Seconds the test cluster may take to start or close.
CLUSTER_TIMEOUT = 60


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[Any]:
    """A LocalCluster of 2 single-threaded worker processes on 127.0.0.1, no dashboard."""
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": f"{CLUSTER_TIMEOUT}s"}):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # loopback, any free port
            silence_logs=50,  # CRITICAL: the killed-worker test makes the nanny complain
            death_timeout=CLUSTER_TIMEOUT,
        )
    try:
        yield cluster
    finally:
        cluster.close(timeout=CLUSTER_TIMEOUT)


def _host(address: str) -> str:
    return urlparse(address).hostname or ""


def executor(kind: str, cluster: Any) -> Executor:
    """``serial``, ``local1``/``local2`` (workers) or ``dask`` (the session cluster via its
    tcp:// address)."""
    if kind.startswith("local"):
        return make_executor("local", workers=int(kind[-1]))
    if kind == "dask":
        return make_executor("dask", cluster=cluster.scheduler_address)
    return make_executor(kind)


def run(e: Executor, fn: Any, tasks: list[tuple[str, Any]], shared: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, result in e.map(fn, tasks, shared):
        assert key not in out
        out[key] = result
    return out


def panels(seed: int = 3, t: int = 150, m: int = 40) -> dict[str, np.ndarray]:
    """Random factor panels and returns with NaNs, a stock listed late (short history) and a
    factor that is NaN before day 60."""
    rng = np.random.default_rng(seed)
    d = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-12-31"))
    dates = d[np.is_busday(d)][:t]
    returns = rng.normal(0.0, 0.02, (t, m))
    returns[rng.random((t, m)) < 0.05] = np.nan
    returns[:100, 0] = np.nan  # listed late
    f0 = rng.normal(size=(t, m))
    f0[rng.random((t, m)) < 0.1] = np.nan
    f1 = np.round(rng.normal(size=(t, m)), 1)  # ties
    f1[:60] = np.nan
    return {"f0": f0, "f1": f1, "returns": returns, "dates": dates}


CELLS = [
    (
        f"cell {i} (factor={f}, groups={g}, rebalance={r})",
        {"factor": f, "groups": g, "rebalance": r, "cost_bps": c},
    )
    for i, (f, g, r, c) in enumerate(
        [("f0", 5, 20, 0.0), ("f1", 5, 20, 10.0), ("f0", 3, "month", 5.0), ("f1", 10, 10, 0.0)]
    )
]


def test_executors_listed() -> None:
    assert EXECUTORS == ("serial", "local", "dask")


def test_dask_cluster_on_loopback(dask_cluster: Any) -> None:
    assert _host(dask_cluster.scheduler_address) == "127.0.0.1"
    workers = dask_cluster.scheduler_info["workers"]
    assert len(workers) == 2
    assert {_host(a) for a in workers} == {"127.0.0.1"}


@pytest.mark.parametrize("kind", ["local1", "local2", "dask"])
def test_evaluate_cells_bit_identical(kind: str, dask_cluster: Any) -> None:
    """A real numba kernel (the backtest's evaluate) on shared panels: every table equal to
    the serial executor's, exactly."""
    shared = panels()
    with make_executor("serial") as e:
        want = run(e, st.evaluate_task, CELLS, shared)
    with executor(kind, dask_cluster) as e:
        got = run(e, st.evaluate_task, CELLS, shared)
    assert set(got) == {k for k, _ in CELLS}
    assert want["cell 0 (factor=f0, groups=5, rebalance=20)"]["ic"].height > 0
    for key, tables in want.items():
        for name, frame in tables.items():
            assert_frame_equal(got[key][name], frame, check_exact=True)


def test_dask_own_local_cluster() -> None:
    """Without ``cluster`` the executor starts a LocalCluster on 127.0.0.1 and closes it."""
    shared = {"x": np.array([0.5, np.nan, 2.0])}
    tasks = [(f"cell {i}", i) for i in range(5)]
    with make_executor("dask", workers=2) as e:
        assert isinstance(e, ex.DaskExecutor)
        assert e.workers == 2
        assert _host(e.address) == "127.0.0.1"
        got = run(e, st.sum_task, tasks, shared)
        client = e._client
    assert got == {f"cell {i}": 2.5 * i for i in range(5)}
    assert client.status == "closed"


@pytest.mark.parametrize("kind", ["serial", "local2", "dask"])
def test_failing_task_names_key_and_stops(kind: str, dask_cluster: Any, tmp_path: Path) -> None:
    n = 16
    tasks = [
        (f"cell {i}", {"i": i, "fail": i == 0, "sleep": 0.3, "folder": str(tmp_path)})
        for i in range(n)
    ]
    yielded = []
    with executor(kind, dask_cluster) as e, pytest.raises(StudyTaskError) as info:
        for key, _ in e.map(st.fail_task, tasks, {}):
            yielded.append(key)
    assert info.value.key == "cell 0"
    assert "cell 0 failed: ValueError: bad cell 0" in str(info.value)
    assert isinstance(info.value, EtfflowError)
    time.sleep(0.5)  # tasks already running when the map stopped may still start others
    started = len(list(tmp_path.glob("started-*")))
    assert started < n, "the map went on after a task failed"
    assert len(yielded) < n


@pytest.mark.parametrize("kind", ["serial", "local1", "dask"])
def test_shared_arrays_read_only(kind: str, dask_cluster: Any) -> None:
    x = np.arange(6.0)
    with executor(kind, dask_cluster) as e, pytest.raises(StudyTaskError, match="read-only"):
        list(e.map(st.write_task, [("cell w", "x")], {"x": x}))
    assert x[0] == 0.0


@pytest.mark.parametrize("kind", ["local2", "dask"])
def test_killed_worker_same_results(kind: str, dask_cluster: Any, tmp_path: Path) -> None:
    """A task kills its worker process the first time it runs: the map still ends with every
    result equal to the serial executor's (Dask reschedules the task; the local pool is
    restarted and the unfinished tasks run again)."""
    shared = {"x": np.linspace(0.0, 1.0, 11)}
    marker = str(tmp_path / "died")
    tasks = [
        (f"cell {i}", {"i": i, "die": i == 3, "marker": marker, "sleep": 0.05}) for i in range(8)
    ]
    with make_executor("serial") as e:
        want = run(e, st.die_once_task, [(k, {**p, "die": False}) for k, p in tasks], shared)
    with executor(kind, dask_cluster) as e:
        got = run(e, st.die_once_task, tasks, shared)
    assert Path(marker).exists(), "no worker was killed"
    assert got == want


def test_dask_worker_always_dying_names_cell(dask_cluster: Any) -> None:
    """A cell that kills every worker it runs on fails the map naming it, once the scheduler
    gave up on it (``distributed.scheduler.allowed-failures``: 3 deaths); the cluster stays
    usable."""
    with executor("dask", dask_cluster) as e, pytest.raises(StudyTaskError) as info:
        list(e.map(st.always_die_task, [("cell 7 (pool=broad)", 0)], {}))
    assert info.value.key == "cell 7 (pool=broad)"
    assert "KilledWorker" in str(info.value)
    with executor("dask", dask_cluster) as e:
        assert run(e, st.sum_task, [("after", 2)], {"x": np.ones(3)}) == {"after": 6.0}


def test_local_worker_always_dying_names_cells() -> None:
    with make_executor("local", workers=1) as e, pytest.raises(StudyTaskError) as info:
        list(e.map(st.always_die_task, [("cell 0 (pool=broad)", 0), ("cell 1", 1)], {}))
    assert "cell 0 (pool=broad)" in str(info.value)
    assert "worker process died" in str(info.value)


def test_local_worker_that_cannot_open_shared_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that cannot open the shared arrays (here: a file that is gone) fails its first
    task with the cause, naming the cell, instead of breaking the pool."""
    monkeypatch.setattr(ex, "_write_shared", lambda folder, arrays: {"x": str(folder / "gone")})
    with make_executor("local", workers=1) as e, pytest.raises(StudyTaskError) as info:
        list(e.map(st.sum_task, [("cell 0", 1), ("cell 1", 2)], {"x": np.ones(2)}))
    assert info.value.key == "cell 0"
    assert "could not open the shared arrays (FileNotFoundError" in str(info.value)
    assert "gone" in str(info.value)
    assert e.stats["restarts"] == 0


def _study_folders(root: Path) -> list[Path]:
    return sorted(root.glob("etfflow-study-*"))


def test_local_temporary_folder_removed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    shared = {"x": np.arange(4.0)}
    tasks = [(f"cell {i}", i) for i in range(3)]
    with make_executor("local", workers=1) as e:
        it = e.map(st.sum_task, tasks, shared)
        first = next(it)
        assert first[1] == 6.0 * int(first[0].split()[-1])
        assert len(_study_folders(tmp_path)) == 1  # the shared arrays live there meanwhile
        assert sorted(p.name for p in _study_folders(tmp_path)[0].iterdir()) == ["0.npy"]
        rest = list(it)
        assert len(rest) == 2
        assert _study_folders(tmp_path) == []
        # the workers read the arrays from that folder's memory-mapped files, not copies
        assert run(e, st.mmap_task, [("m", "x")], shared) == {"m": True}
        assert _study_folders(tmp_path) == []
        # a failing map
        with pytest.raises(StudyTaskError):
            list(e.map(st.write_task, [("cell w", "x")], shared))
        assert _study_folders(tmp_path) == []
        # an abandoned map (an interrupt raised in the caller's loop closes the generator)
        it = e.map(st.sum_task, tasks, shared)
        next(it)
        assert len(_study_folders(tmp_path)) == 1
        it.close()
        assert _study_folders(tmp_path) == []


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_local_interrupted_map_stops_running_tasks(tmp_path: Path) -> None:
    """A caller that stops reading (an interrupt in its loop closes the generator) stops the
    tasks still running: their worker processes are gone when ``close`` returns."""
    tasks = [
        ("fast", {"i": 0, "folder": str(tmp_path), "sleep": 0.0}),
        ("slow", {"i": 1, "folder": str(tmp_path), "sleep": 600.0}),
    ]
    with make_executor("local", workers=2) as e:
        it = e.map(st.pid_then_sleep_task, tasks, {})
        assert next(it) == ("fast", 0)
        slow = tmp_path / "pid-1"
        for _ in range(600):  # the slow task has started (it writes its pid first)
            if slow.exists() and slow.read_text():
                break
            time.sleep(0.05)
        pid = int(slow.read_text())
        assert _alive(pid)
        # without stopping the task, close would wait the 600 s it sleeps
        closer = threading.Thread(target=it.close, daemon=True)
        closer.start()
        closer.join(timeout=60)
        assert not closer.is_alive(), "closing the map waited for the running task"
        assert not _alive(pid)


def test_worker_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A writable numba cache: numba's own beside the package when writable, the caller's
    NUMBA_CACHE_DIR when set, else a per-user temporary folder."""
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    assert ex._default_cache_writable()  # an editable install in a writable checkout
    assert ex.worker_environment() == {}
    monkeypatch.setattr(ex, "_default_cache_writable", lambda: False)
    env = ex.worker_environment()
    assert env["NUMBA_CACHE_DIR"].startswith(tempfile.gettempdir())
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/somewhere")
    assert ex.worker_environment() == {}


@pytest.mark.parametrize("make", [ex._EnvSpawnContext, ex._EnvForkServerContext])
def test_pool_context_environment(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process of the pool's context starts with the extra environment (before it imports
    anything) while the caller's own environment stays as it was."""
    from concurrent.futures import ProcessPoolExecutor

    monkeypatch.setenv("ETFFLOW_PROBE", "caller")
    ctx = make({"ETFFLOW_PROBE": "worker"})
    if make is ex._EnvForkServerContext:
        # the fork server is shared by the whole test process: its environment is the one it
        # started with, so only a fresh server shows the variable; check the process class
        p = ctx.Process(target=print)
        assert p._env == {"ETFFLOW_PROBE": "worker"} and p._start_method == "forkserver"
        return
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:
        pid, value = pool.submit(st.env_task, {}, "ETFFLOW_PROBE").result()
    assert (value, os.environ["ETFFLOW_PROBE"]) == ("worker", "caller")
    assert pid != os.getpid()


def test_local_progress_and_threads() -> None:
    """Tasks run in other processes, each with CPUs // workers numba threads; progress counts
    completed tasks."""
    calls: list[tuple[str, int, int]] = []
    with make_executor("local", workers=2) as e:
        assert list(e.map(st.threads_task, [], {"x": np.ones(2)})) == []
        out = dict(
            e.map(
                st.threads_task,
                [("a", 0), ("b", 0)],
                {"x": np.ones(2)},
                progress=lambda *a: calls.append(a),
            )
        )
    assert {v[1] for v in out.values()} == {max(1, (os.cpu_count() or 1) // 2)}
    assert os.getpid() not in {v[0] for v in out.values()}
    assert calls == [("cells", 1, 2), ("cells", 2, 2)]


def test_bad_arguments(monkeypatch: pytest.MonkeyPatch, dask_cluster: Any) -> None:
    with pytest.raises(EtfflowError, match="unknown executor 'threads'"):
        make_executor("threads")
    with pytest.raises(EtfflowError, match="workers: expected a whole number >= 1, got 0"):
        make_executor("local", workers=0)
    with pytest.raises(EtfflowError, match="needs executor 'dask'"):
        make_executor("local", cluster="tcp://127.0.0.1:8786")
    with pytest.raises(EtfflowError, match="expected a Dask scheduler address"):
        make_executor("dask", cluster="127.0.0.1 8786")
    with make_executor("serial") as e:
        assert run(e, st.mmap_task, [("m", "x")], {"x": np.ones(2)}) == {"m": False}
        with pytest.raises(EtfflowError, match="task key 'a' is used twice"):
            list(e.map(st.sum_task, [("a", 1), ("a", 2)], {"x": np.ones(2)}))
        with pytest.raises(EtfflowError, match="shared input 'x': dtype object"):
            list(e.map(st.sum_task, [("a", 1)], {"x": np.array([None, 1])}))
    monkeypatch.setattr(ex, "DASK_CONNECT_TIMEOUT", 1.0)
    closed = _free_port()
    with pytest.raises(
        EtfflowError, match=f"cannot connect to the Dask scheduler at tcp://127.0.0.1:{closed}"
    ):
        make_executor("dask", cluster=f"tcp://127.0.0.1:{closed}")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dask_missing_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(EtfflowError, match=r'pip install "etfflow\[dask\]"'):
        make_executor("dask")


# --------------------------------------------------------------------------- whole studies

STUDY = """
name = "executors"
[grid]
pool = ["all"]
factors = ["w_passive_inflow_20", "revs_20", "w_passive_chg_20"]
groups = [5, 10]
[[cells]]
level = "industry_l1"
factors = "revs_20"
rebalance = "month"
"""


def _stored(store: Path) -> dict[str, Any]:
    """Every table of a store, rows sorted; ``runs`` without its timestamps and timings."""
    import duckdb

    with duckdb.connect(str(store), read_only=True) as con:
        names = sorted(r[0] for r in con.execute("show tables").fetchall())
        out = {
            t: con.sql(f'select * from "{t}" order by all').pl()
            for t in names
            if t not in ("runs", "etfflow_meta")
        }
        out["runs"] = con.sql(
            "select run_id, kind, dataset_fingerprint, pool, params from runs order by all"
        ).pl()
    return out


def test_study_bit_identical_across_executors(
    dask_cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The same study (7 cells, tiny market) stored with serial, local (2 workers) and Dask
    (the session cluster): every stored table equal, row for row."""
    from etfflow.data_samples import generate_market
    from etfflow.pipeline.study.run import run_study

    root = tmp_path_factory.mktemp("study_executors")
    market = generate_market(root / "m", size="tiny", seed=1)
    path = root / "s.toml"
    path.write_text(f'data = "{market}"\n{STUDY}', encoding="utf-8")
    stored = {}
    for kind, workers, cluster in [
        ("serial", None, None),
        ("local", 2, None),
        ("dask", None, dask_cluster.scheduler_address),
    ]:
        store = root / f"{kind}.duckdb"
        run = run_study(path, store=store, executor=kind, workers=workers, cluster=cluster)
        assert len(run.cells) == 7
        stored[kind] = _stored(store)
    want = stored["serial"]
    assert want["study_cells"].height == 7
    assert want["bt_summary"].height == 7
    assert {t for t in want if t.startswith("bt_")} >= {"bt_ic", "bt_nav", "bt_summary"}
    for kind in ("local", "dask"):
        assert set(stored[kind]) == set(want)
        for table, frame in want.items():
            assert_frame_equal(stored[kind][table], frame, check_exact=True)


# --------------------------------------------------------------------------- shared arrays


@st_h.composite
def shared_arrays(draw: Any) -> np.ndarray:
    """Arrays as studies share them: floats with NaN/inf, ints, bools, dates; empty, 0-d,
    Fortran-ordered and strided ones."""
    dtype = draw(
        st_h.sampled_from(["float64", "float32", "int64", "int8", "bool", "datetime64[D]"])
    )
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    if dtype == "datetime64[D]":
        a = draw(hnp.arrays("int64", shape, elements=st_h.integers(-50_000, 50_000)))
        a = a.astype("datetime64[D]")
    else:
        a = draw(hnp.arrays(dtype, shape))
    layout = draw(st_h.sampled_from(["c", "f", "strided"]))
    if layout == "f":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim:
        a = a[::2]
    return a


@settings(max_examples=examples(40), deadline=None)
@given(arrays=st_h.lists(shared_arrays(), min_size=1, max_size=4))
def test_shared_files_round_trip(arrays: list[np.ndarray]) -> None:
    """What a local worker reads (``.npy`` memory-mapped read-only) equals, bit for bit, what
    the caller shared: same dtype, shape and bytes (NaN payloads included), read-only."""
    import numba

    shared = {f"a/{i} {a.dtype}": a for i, a in enumerate(arrays)}
    threads = numba.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        files = ex._write_shared(Path(tmp), shared)
        try:
            ex._init_local_worker(files, threads)  # what each worker runs first
            got = dict(ex._WORKER_SHARED)
            assert ex._WORKER_ERROR is None
            assert set(got) == set(shared)
            for name, a in shared.items():
                b = got[name]
                assert (b.dtype, b.shape) == (a.dtype, a.shape)
                assert np.ascontiguousarray(b).tobytes() == np.ascontiguousarray(a).tobytes()
                assert not b.flags.writeable
        finally:
            ex._init_local_worker({}, threads)

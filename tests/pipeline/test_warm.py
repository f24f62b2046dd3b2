"""The first-run helper process that compiles the demo's kernels (etfflow.pipeline.warm)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from etfflow.pipeline import warm
from etfflow.pipeline.warm import (
    ENV_SWITCH,
    SIGNATURES,
    background_compile,
    parse_signature,
    plan,
    read_costs,
    read_signatures,
    record,
)


def test_the_recorded_kernel_list_is_current(tmp_path):
    fresh = record(tmp_path / "sigs.txt")
    # the same entries; their order (which only steers the helper) may differ where two
    # threads reach kernels at the same time (validation warms its kernels up in a thread)
    assert sorted(fresh) == sorted(read_signatures()), (
        "the demo calls other numba kernels or argument types than "
        f"{SIGNATURES.name} lists: run `python -m etfflow.pipeline.warm --record`"
    )


def test_every_recorded_signature_parses_back_to_itself():
    entries = read_signatures()
    assert len(entries) >= 20
    for _, _, sig in entries:
        assert repr(parse_signature(sig)) == sig


def _entries(*names: str) -> list[str]:
    rows = [e for e in read_signatures() if e[1] in names]
    assert {e[1] for e in rows} == set(names)
    return ["\t".join(e) for e in rows]


CHILD = textwrap.dedent(
    """
    import sys
    from etfflow.pipeline import warm
    from etfflow.pipeline.warm import background_compile, dispatcher, read_signatures

    warm.idle_core = lambda: True  # the test machine may be busy

    sigs = sys.argv[1]
    entries = read_signatures(sigs)
    with background_compile(signatures=sigs) as helper:
        assert helper is not None, "cold cache: a helper must start"
        assert helper.wait(timeout=600) == 0
    for module, qualname, sig in entries:
        d = dispatcher(module, qualname)
        assert not d.signatures, "nothing compiled in this process yet"
    from etfflow.pipeline.warm import compile_entries
    assert compile_entries(entries) == len(entries)
    for module, qualname, sig in entries:
        st = dispatcher(module, qualname).stats
        assert st.cache_hits and not st.cache_misses, (qualname, st)
    with background_compile(signatures=sigs) as helper:
        assert helper is None, "warm cache: no helper"
    print("ok")
    """
)


def test_the_helper_fills_the_cache_the_main_process_loads_from(tmp_path):
    sigs = tmp_path / "sigs.txt"
    sigs.write_text("\n".join(_entries("max_drawdown", "pair_starts")) + "\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), ENV_SWITCH: "1"}
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(sigs)], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]


@pytest.fixture
def idle(monkeypatch):
    """The machine running the tests may be busy: the helper's start must not depend on it."""
    monkeypatch.setattr(warm, "idle_core", lambda: True)


def test_the_helper_waits_for_an_idle_core(monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (7.9, 7.0, 6.0))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert not warm.idle_core()
    monkeypatch.setattr(os, "getloadavg", lambda: (0.4, 0.5, 0.6))
    assert warm.idle_core()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert not warm.idle_core()


def test_the_helper_is_stopped_when_the_work_ends(tmp_path, monkeypatch, idle):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(ENV_SWITCH, "1")
    empty = tmp_path / "none.txt"
    with background_compile(signatures=empty) as helper:
        assert helper is None  # nothing listed: nothing to start
    # cache_is_cold reads this process's dispatchers, whose cache may be warm: force a start
    # through a list whose kernels have no index in any cache (a qualname that does not exist)
    sigs = tmp_path / "sigs.txt"
    sigs.write_text("etfflow.backtest.engine_nb\tno_such_kernel\t(int64,)\n")
    with background_compile(signatures=sigs) as helper:
        assert helper is not None
    assert helper.poll() is not None  # finished or terminated, never left running
    monkeypatch.setenv(ENV_SWITCH, "0")
    with background_compile(signatures=sigs) as helper:
        assert helper is None
    monkeypatch.setattr(warm, "idle_core", lambda: False)  # a busy machine
    monkeypatch.setenv(ENV_SWITCH, "1")
    with background_compile(signatures=sigs) as helper:
        assert helper is None
    monkeypatch.setenv(ENV_SWITCH, "force")
    with background_compile(signatures=sigs) as helper:
        assert helper is not None


def test_the_helper_plan_runs_backwards_over_the_needed_kernels_without_the_market_ones():
    entries = [
        ("etfflow.data_samples.kernels", "simulate", "()"),
        ("etfflow.engine.panel_nb", "a", "()"),
        ("etfflow.factors.kernels_nb", "b", "()"),
        ("etfflow.engine.universe", "c", "()"),
        ("etfflow.backtest.engine_nb", "d", "()"),
    ]
    assert [e[1] for e in plan(entries)] == ["d", "c", "b", "a"]
    needs = ("etfflow.engine.universe", "etfflow.backtest")
    assert [e[1] for e in plan(entries, needs)] == ["d", "c"]
    assert [e[1] for e in plan(entries, skip=())] == ["d", "c", "b", "a", "simulate"]
    assert plan([], needs) == []
    # the demo's list: the generator's kernels are left to the main process
    demo = plan(read_signatures())
    assert demo and not any(m.startswith("etfflow.data_samples") for m, _, _ in demo)


CLAIMS_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from etfflow.pipeline import warm
    from etfflow.pipeline.warm import Claims, claim_name, dispatcher, read_signatures

    sigs, claims = sys.argv[1], Path(sys.argv[2])
    (a_mod, a_name, a_sig), (b_mod, b_name, b_sig) = read_signatures(sigs)
    with Claims(claims):  # this process claims what it compiles while registered
        dispatcher(a_mod, a_name).compile(warm.parse_signature(a_sig))
    dispatcher(b_mod, b_name).compile(warm.parse_signature(b_sig))
    assert sorted(p.name for p in claims.iterdir()) == [claim_name(a_mod, a_name)]
    print("ok")
    """
)

INDEX_CHILD = textwrap.dedent(
    """
    import sys
    from etfflow.pipeline import warm
    print(" ".join(str(warm._index_exists(m, q)) for m, q, _ in warm.read_signatures(sys.argv[1])))
    """
)


def _child(code: str, *args: object, cache: object) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    r = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout.strip()


def test_the_main_process_claims_the_kernels_it_compiles(tmp_path):
    sigs = tmp_path / "sigs.txt"
    sigs.write_text("\n".join(_entries("max_drawdown", "pair_starts")) + "\n")
    claims = tmp_path / "claims"
    claims.mkdir()
    assert _child(CLAIMS_CHILD, sigs, claims, cache=tmp_path / "cache") == "ok"


def test_the_helper_skips_kernels_the_main_process_claimed(tmp_path):
    sigs = tmp_path / "sigs.txt"
    sigs.write_text("\n".join(_entries("max_drawdown", "pair_starts")) + "\n")
    _, (b_mod, b_name, _) = read_signatures(sigs)
    claims = tmp_path / "claims"
    claims.mkdir()
    (claims / warm.claim_name(b_mod, b_name)).touch()
    cache = tmp_path / "cache"
    assert _child(INDEX_CHILD, sigs, cache=cache) == "False False"
    helper = "from etfflow.pipeline.warm import main; import sys; main(sys.argv[1:])"
    _child(helper, "--signatures", sigs, "--claims", claims, cache=cache)
    # the unclaimed kernel was compiled into the cache, the claimed one left alone
    assert _child(INDEX_CHILD, sigs, cache=cache) == "True False"


def test_first_run_reads_the_cache_of_the_needed_kernels(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        from etfflow.pipeline import warm
        sigs = sys.argv[1]
        before = warm.first_run(signatures=sigs)
        warm.compile_entries(warm.read_signatures(sigs))
        print(before, warm.first_run(signatures=sigs))
        """
    )
    sigs = tmp_path / "sigs.txt"
    sigs.write_text("\n".join(_entries("max_drawdown", "pair_starts")) + "\n")
    assert _child(code, sigs, cache=tmp_path / "cache") == "True False"


def test_with_costs_the_helper_takes_the_kernel_across_the_half_first(tmp_path):
    names = ["a", "b", "c", "d", "e"]
    entries = [("etfflow.engine.panel_nb", n, "()") for n in names]
    costs = dict(zip(entries, [1.0, 1.0, 5.0, 1.0, 1.0], strict=True))
    # total 9: a + b = 2 < 4.5 <= a + b + c, so the main process keeps a, b and the helper
    # compiles c (the long one the main process needs next), d, e, then b, a if unclaimed
    assert [e[1] for e in plan(entries, costs=costs)] == ["c", "d", "e", "b", "a"]
    even = dict(zip(entries, [1.0] * 5, strict=True))
    assert [e[1] for e in plan(entries, costs=even)] == ["c", "d", "e", "b", "a"]
    front = dict(zip(entries, [6.0, 1.0, 1.0, 1.0, 1.0], strict=True))
    assert [e[1] for e in plan(entries, costs=front)] == names
    # a cost missing (a stale list): the plain backwards order
    del costs[entries[3]]
    assert [e[1] for e in plan(entries, costs=costs)] == ["e", "d", "c", "b", "a"]
    # the file: a 4th column of seconds, ignored by read_signatures
    f = tmp_path / "sigs.txt"
    f.write_text("# comment\nm\tq\t()\t1.25\nm\tr\t(int64,)\n", encoding="utf-8")
    assert read_signatures(f) == [("m", "q", "()"), ("m", "r", "(int64,)")]
    assert read_costs(f) == {("m", "q", "()"): 1.25}


def test_the_recorded_list_has_a_cost_for_every_kernel():
    costs = read_costs()
    entries = read_signatures()
    assert set(costs) == set(entries)
    assert all(c >= 0.0 for c in costs.values())

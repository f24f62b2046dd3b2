"""etfflow._threads: the row / block split of the nogil kernels."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etfflow._threads import run_parts, split


@given(st.integers(0, 200), st.integers(1, 9))
def test_split_covers_the_range_once(n: int, parts: int) -> None:
    ranges = split(n, parts)
    assert len(ranges) == min(n, parts)
    covered = [i for lo, hi in ranges for i in range(lo, hi)]
    assert covered == list(range(n))
    sizes = [hi - lo for lo, hi in ranges]
    assert not sizes or max(sizes) - min(sizes) <= 1


def test_run_parts_calls_each_part_once_on_threads() -> None:
    seen: list[tuple[int, str]] = []
    lock = threading.Lock()

    def part(p: int) -> None:
        with lock:
            seen.append((p, threading.current_thread().name))

    run_parts(part, 3)
    assert sorted(p for p, _ in seen) == [0, 1, 2]
    assert all(name.startswith("etfflow-nb") for _, name in seen)
    seen.clear()
    run_parts(part, 1)  # one part runs inline
    assert seen == [(0, threading.current_thread().name)]
    run_parts(part, 0)
    assert len(seen) == 1


def test_run_parts_reraises_a_failed_part() -> None:
    done: list[int] = []

    def part(p: int) -> None:
        if p == 1:
            raise ValueError("part 1 failed")
        done.append(p)

    with pytest.raises(ValueError, match="part 1 failed"):
        run_parts(part, 3)
    assert sorted(done) == [0, 2]  # the other parts still ran to the end

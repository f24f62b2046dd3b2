"""Run a ``nogil`` numba kernel on several threads, one part of the work each.

``parallel=True`` kernels (parfors) cost several times more to compile than serial ones (the
first ``etfflow demo`` after an install spent most of its time there), and on a 2-core machine
they gain at most 2x. A serial ``@njit(nogil=True, cache=True)`` kernel that takes the part it
owns as arguments compiles like any serial kernel; :func:`run_parts` calls it from a few
Python threads so the parts still run on every core (the kernel releases the GIL). Parts must
write disjoint outputs; the result does not depend on the number of parts.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba

__all__ = ["n_threads", "run_parts", "split"]


def n_threads() -> int:
    """Worker threads to use: numba's thread count (``NUMBA_NUM_THREADS``), at least 1."""
    return max(int(numba.get_num_threads()), 1)


def split(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous ranges ``(lo, hi)`` covering ``range(n)``, sizes differing by <= 1
    (fewer when ``n < parts``; none when ``n == 0``)."""
    parts = max(1, min(parts, n))
    q, r = divmod(n, parts)
    out, lo = [], 0
    for p in range(parts if n else 0):
        hi = lo + q + (p < r)
        out.append((lo, hi))
        lo = hi
    return out


def run_parts(fn: Callable[[int], object], parts: int) -> None:
    """Call ``fn(p)`` for ``p in range(parts)``: inline when ``parts <= 1``, else on ``parts``
    threads; the first exception raised by a part is re-raised after all parts finished."""
    if parts <= 1:
        if parts == 1:
            fn(0)
        return
    with ThreadPoolExecutor(max_workers=parts, thread_name_prefix="etfflow-nb") as ex:
        futures = [ex.submit(fn, p) for p in range(parts)]
    for f in futures:
        f.result()

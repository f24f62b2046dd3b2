"""The numba options of every etfflow kernel: two decorators, one set of compile flags.

numba compiles the NumPy functions a kernel calls (``np.empty``, ``np.zeros``, sorts ...) once
per *set of compile flags* of the calling kernel: a kernel with ``nogil`` and one without, or
one with ``error_model="numpy"`` and one with the default, each get their own copy. Every
kernel therefore uses the same flags:

* ``cache=True``: machine code is kept on disk (the first run compiles, later runs load);
* ``nogil=True``: a kernel called from Python releases the GIL (row or column blocks run on
  threads, :mod:`etfflow._threads`);
* ``error_model="numpy"``: a float division by zero gives ±inf / NaN like NumPy instead of
  raising (no kernel relies on the exception; every division whose divisor can be 0 is
  guarded where it is written), so no exception path is compiled per division.

:func:`inner` is for helpers that only other kernels call: numba builds no Python-callable
wrapper (argument unboxing) and no C callback for them (about 7 % of a cold demo's compile
time; README, "Performance"). An :func:`inner` helper cannot be called from Python: use a
:func:`kernel` for anything Python calls (tests included).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numba import njit
from numba.core.registry import CPUDispatcher

__all__ = ["INNER_OPTIONS", "KERNEL_OPTIONS", "InnerDispatcher", "inner", "kernel"]

KERNEL_OPTIONS: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}
INNER_OPTIONS: dict[str, Any] = {
    **KERNEL_OPTIONS,
    "no_cpython_wrapper": True,
    "no_cfunc_wrapper": True,
}


def kernel(fn: Callable[..., Any] | None = None, *, locals: Any = None) -> Any:
    """``@kernel`` / ``@kernel(locals={...})``: a numba kernel callable from Python."""
    decorate = njit(**KERNEL_OPTIONS, **({"locals": locals} if locals else {}))
    return decorate if fn is None else decorate(fn)


class InnerDispatcher(CPUDispatcher):
    """The dispatcher of an :func:`inner` helper: it compiles (and caches) like any kernel
    when another kernel calls it, but a call from Python raises instead of jumping into the
    Python entry point numba did not build."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        f = self.py_func
        raise TypeError(
            f"{f.__module__}.{f.__qualname__} is an etfflow.inner numba helper, callable only "
            "from other kernels (it has no Python entry point); call the kernel that uses it"
        )


def inner(fn: Callable[..., Any] | None = None, *, locals: Any = None) -> Any:
    """``@inner``: a numba helper called only by other kernels (no Python wrapper)."""

    def wrap(func: Callable[..., Any]) -> InnerDispatcher:
        options = {k: v for k, v in INNER_OPTIONS.items() if k != "cache"}
        disp = InnerDispatcher(py_func=func, locals=locals or {}, targetoptions=options)
        disp.enable_caching()
        return disp

    return wrap if fn is None else wrap(fn)

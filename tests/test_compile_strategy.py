"""Compile strategy of the numba kernels (issue 8 §3: the first run after an install).

``parallel=True`` (parfors) kernels compiled several times slower than serial ones for at
most 2x on the 2-core target machine; every kernel is serial and ``nogil`` and the Python
wrappers run parts on threads. Kernels called with a literal argument (``0``, ``False``)
besides a typed one compile twice; the hot helpers keep one specialisation per statistic.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
from numba.core.registry import CPUDispatcher

import etfflow
from etfflow.factors import kernels as K


def _dispatchers() -> dict[str, CPUDispatcher]:
    out = {}
    for info in pkgutil.walk_packages(etfflow.__path__, "etfflow."):
        if ".cli" in info.name:
            continue
        mod = importlib.import_module(info.name)
        for name, obj in vars(mod).items():
            if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == info.name:
                out[f"{info.name}.{name}"] = obj
    return out


def test_no_kernel_is_compiled_with_parfors() -> None:
    kernels = _dispatchers()
    assert len(kernels) > 50
    parallel = sorted(n for n, d in kernels.items() if d.targetoptions.get("parallel"))
    assert parallel == []


# Run in a child with an empty numba cache: a callee loaded with its caller from the cache
# records no signature, so only a cold process shows every specialisation.
_CHILD = """
import json
import numpy as np
from etfflow.factors import kernels as K
from etfflow.factors import kernels_nb as KNB
from etfflow.factors import processing as P
from etfflow.factors import processing_nb as PNB
from etfflow.factors import processing_pipeline as PP

rng = np.random.default_rng(3)
wide = rng.standard_normal((60, 70))
y = rng.standard_normal(wide.shape)
# several blocks, one block, 1-D
for x, yy in ((wide, y), (wide[:, :5].copy(), y[:, :5].copy()), (wide[:, 0], y[:, 0])):
    K.rolling_sum(x, 5)
    K.rolling_std(x, 5)
    K.rolling_slope(x, 5)
    K.rolling_beta(yy, x, 5)
x = rng.standard_normal((12, 40))
x[rng.random(x.shape) < 0.1] = np.nan
groups = rng.integers(0, 4, x.shape).astype(np.int16)
cap = rng.standard_normal(x.shape)
PP.apply_steps(
    x,
    "winsor,fill,zscore,neutralize(industry,log_cap),strip(c)",
    groups=groups,
    log_cap=cap,
    controls={"c": cap},
)
P.winsorize_mad(x)
out = {}
for name, d in [
    ("_sum_block", KNB._sum_block),
    ("_moments_block", KNB._moments_block),
    ("_pair_block", KNB._pair_block),
    ("_slope_block", KNB._slope_block),
    ("ols_residual_1d", PNB.ols_residual_1d),
    ("median_inplace", PNB.median_inplace),
    ("select_pair", PNB.select_pair),
    ("_insertion_sort", PNB._insertion_sort),
]:
    out[name] = [str(sig) for sig in d.signatures]
print(json.dumps(out))
"""


def test_hot_helpers_compile_once_per_statistic(tmp_path: Path) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba_cache")}
    res = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stderr[-3000:]
    sigs = json.loads(res.stdout.strip().splitlines()[-1])
    # one statistic of each family is used: one specialisation each (before: also a literal j0)
    assert len(sigs["_sum_block"]) == 1, sigs["_sum_block"]
    assert len(sigs["_moments_block"]) == 1, sigs["_moments_block"]
    assert len(sigs["_pair_block"]) == 1, sigs["_pair_block"]
    assert len(sigs["_slope_block"]) == 1, sigs["_slope_block"]
    for name in ("ols_residual_1d", "median_inplace", "select_pair", "_insertion_sort"):
        assert len(sigs[name]) == 1, (name, sigs[name])


def test_numba_threads_are_left_alone() -> None:
    # the wrappers size their parts with numba's thread count but never change it
    before = numba.get_num_threads()
    K.rolling_mean(np.ones((30, 20)), 3)
    assert numba.get_num_threads() == before


def test_every_kernel_uses_one_of_the_two_flag_sets() -> None:
    # numba compiles the NumPy functions a kernel calls (np.empty, np.zeros ...) once per set
    # of compile flags of the caller: a kernel declared with other flags (a plain
    # ``@njit(cache=True)``) would compile its own copies on every first run.
    from etfflow._jit import INNER_OPTIONS, KERNEL_OPTIONS

    allowed = [
        {k: v for k, v in opts.items() if k != "cache"} for opts in (KERNEL_OPTIONS, INNER_OPTIONS)
    ]
    kernels = _dispatchers()
    odd = {}
    for name, d in kernels.items():
        flags = {k: v for k, v in d.targetoptions.items() if k not in ("locals", "boundscheck")}
        flags.pop("nopython", None)
        if flags not in allowed:
            odd[name] = flags
    assert odd == {}
    # and the helpers really have no Python wrapper (the point of ``inner``)
    inner = [n for n, d in kernels.items() if d.targetoptions.get("no_cpython_wrapper")]
    assert "etfflow.factors.kernels_nb._pair_block" in inner
    assert "etfflow.factors.kernels_nb.rolling_pair_nb" not in inner


def test_an_inner_helper_called_from_python_raises_instead_of_crashing() -> None:
    # ``inner`` helpers have no Python entry point: a plain numba dispatcher would jump into
    # nothing (a segfault); InnerDispatcher raises a TypeError naming the helper. Checked in a
    # child so that a regression crashes the child, not the test session.
    child = """
from etfflow.factors import kernels_nb as N
try:
    N._two_sum(1.0, 0.0, 2.0)
except TypeError as e:
    print("TypeError:", e)
"""
    res = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=False)
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])
    assert "TypeError: etfflow.factors.kernels_nb._two_sum is an etfflow.inner" in res.stdout

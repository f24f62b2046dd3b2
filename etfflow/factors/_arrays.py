"""How the Python wrappers hand arrays to the numba kernels of :mod:`etfflow.factors`.

numba compiles one specialisation per argument type, and a read-only array
(``Array(float64, 2, 'C', readonly)``: a panel from Polars / Arrow, a broadcast view) is a
different type from a writeable one. The wrappers pass every input array through
:func:`readonly` (a view, no copy) and allocate the output writeable, so a kernel compiles
once per genuinely different dtype whatever the caller holds.
"""

from __future__ import annotations

import numpy as np

__all__ = ["readonly"]


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (no copy; ``a`` itself is left writeable).

    Examples
    --------
    >>> a = np.zeros(3)
    >>> readonly(a).flags.writeable, a.flags.writeable
    (False, True)
    """
    v = a.view()
    v.flags.writeable = False
    return v

"""Rolling-window statistics of the factor engine (docs/methodology.md#32-the-factor-families).

Every function takes a float64 panel of shape ``(T, N)`` = (trading days, stocks), time on
axis 0 and C-contiguous (how etfflow lays out its panels), or a 1-D series (one column). NaN
(and ±inf) mark a missing observation. The value at row ``t`` uses the valid observations of
rows ``t - window + 1 .. t`` (for two inputs: the rows where both are valid); fewer than
``min_periods`` of them (default: ``window``, a complete window) give NaN, never a number from
a partial window unless the caller asks. Results are NaN where undefined, never ±inf.

This module is the public API: argument checks (:func:`_validate_rolling_arguments`), one
input normalisation and one way of running a kernel on column blocks (:func:`_apply`). The
numba kernels, and how their running sums stay exact (anchored, compensated, rebuilt on
drift), are in :mod:`etfflow.factors.kernels_nb`; their plain-NumPy reference twins in
:mod:`etfflow.factors.kernels_ref` (tests only).

"Constant" means: population standard deviation ``<= CONSTANT_RTOL · rms`` where ``rms`` is
the root mean square of the window's values, ``sqrt(mean² + var)``. ``CONSTANT_RTOL = 1e-10``
sits far above the floating-point noise that upstream arithmetic leaves in a "constant" series
(~1e-16 relative per operation, ~1e-14 after a few hundred) and far below any real variation
of daily holdings, prices or flows (a 1e8 CNY holding moving by 1 CNY is 1e-8). z-score,
correlation (either input), beta and residual (the regressor) are NaN on a constant window;
rolling_std returns its (exactly zero) value.

Inputs are expected to be finite values below ~1e150 in magnitude: larger deviations overflow
the sums of squares and the statistics that need them return NaN (sum and mean do not).

Parallelism (measured, see ``benchmarks/bench_kernels.py``): blocks of columns run on threads
(serial ``nogil`` kernels, :func:`etfflow._threads.run_parts`: a parfors ``prange`` wrapper
compiled several times slower for the same speed), one block of ``ceil(N / threads)``
columns per thread (capped at ``_MAX_BLOCK``): wide blocks stream whole row segments from
memory; narrow ones (64-256 columns) were 1.3-2.5x slower, a kernel per column (vectorbt's
layout, stride ``N``) slower still. A panel that fits one block runs without a thread. The
result is bit-identical whatever the block size or thread count.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from etfflow._threads import n_threads, run_parts
from etfflow.exceptions import EtfflowError
from etfflow.factors import kernels_nb as nb
from etfflow.factors._arrays import readonly
from etfflow.factors.kernels_nb import CONSTANT_RTOL

__all__ = [
    "CONSTANT_RTOL",
    "rolling_beta",
    "rolling_corr",
    "rolling_mean",
    "rolling_residual",
    "rolling_slope",
    "rolling_std",
    "rolling_sum",
    "rolling_zscore",
]

_MAX_BLOCK = 4096


def _validate_rolling_arguments(
    window: object,
    min_periods: object,
    arrays: dict[str, object],
    *,
    ddof: object = None,
) -> tuple[list[np.ndarray], tuple[int, ...], bool]:
    """Check the arguments of a rolling kernel.

    Returns the inputs as 2-D float64 C arrays, the int arguments of the kernel
    (``window, min_periods`` and ``ddof`` when given) and whether the input was 1-D.

    Raises :class:`~etfflow.exceptions.EtfflowError` naming the offending argument.
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise EtfflowError(f"window must be an int >= 1, got {window!r} ({type(window).__name__})")
    window = int(window)
    if window < 1:
        raise EtfflowError(f"window must be an int >= 1, got {window}")
    if min_periods is None:
        minp = window
    elif isinstance(min_periods, bool) or not isinstance(min_periods, (int, np.integer)):
        raise EtfflowError(
            f"min_periods must be an int or None, got {min_periods!r} "
            f"({type(min_periods).__name__})"
        )
    else:
        minp = int(min_periods)
        if not 1 <= minp <= window:
            raise EtfflowError(
                f"min_periods must satisfy 1 <= min_periods <= window ({window}), got {minp}"
            )
    if ddof is not None and (
        isinstance(ddof, bool) or not isinstance(ddof, (int, np.integer)) or ddof < 0
    ):
        raise EtfflowError(f"ddof must be an int >= 0, got {ddof!r}")
    out: list[np.ndarray] = []
    shape: tuple[int, ...] | None = None
    first = ""
    ndim = 0
    for name, value in arrays.items():
        try:
            a = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise EtfflowError(
                f"{name} must be a numeric array convertible to float64: {exc}"
            ) from exc
        if a.ndim not in (1, 2):
            raise EtfflowError(
                f"{name} must be 1-D (one series) or 2-D (days, stocks), got {a.ndim}-D "
                f"with shape {a.shape}"
            )
        if shape is None:
            shape, first, ndim = a.shape, name, a.ndim
        elif a.shape != shape:
            raise EtfflowError(
                f"{name} has shape {a.shape} but {first} has shape {shape}; "
                "both panels must be aligned on the same (days, stocks) grid"
            )
        out.append(np.ascontiguousarray(a.reshape(a.shape[0], 1) if a.ndim == 1 else a))
    ints = (window, minp) if ddof is None else (window, minp, int(ddof))
    return out, ints, ndim == 1


def _block_size(n_cols: int) -> int:
    threads = n_threads()
    b = -(-n_cols // threads)
    b = -(-b // 8) * 8
    return max(8, min(b, _MAX_BLOCK))


def _run_blocks(kernel: Callable[..., object], *args: object) -> None:
    """``kernel(*args, block, part, nparts)`` on every column block, parts on threads.

    ``args[0]`` is the first (T, N) panel. Blocks of :func:`_block_size` columns, one part per
    thread (a panel of one block runs inline, without a thread).
    """
    ncol = args[0].shape[1]  # type: ignore[attr-defined]
    block = _block_size(ncol)
    nparts = min(n_threads(), -(-ncol // block))
    run_parts(lambda p: kernel(*args, block, p, nparts), nparts)


def _apply(
    kernel: Callable[..., object],
    arrays: dict[str, object],
    window: object,
    min_periods: object,
    *,
    ddof: object = None,
) -> np.ndarray:
    """Check the arguments, run a 2-D ``rolling_*_nb`` kernel on column blocks, shape back.

    The one path of every public rolling function. The kernel sees one type per argument
    whatever the caller passes: input panels as read-only C-contiguous float64 ``(T, N)``
    (a 1-D series is a one-column panel), a new writeable float64 output, ``window``,
    ``min_periods`` (and ``ddof``) as int64 (``int``), then the block / part ints of
    :func:`_run_blocks`, so a run compiles one specialisation per kernel
    (``tests/factors/test_kernels.py::test_one_specialisation_per_kernel``).
    """
    panels, ints, one_d = _validate_rolling_arguments(window, min_periods, arrays, ddof=ddof)
    out = np.empty(panels[0].shape)
    if out.size:
        _run_blocks(kernel, *map(readonly, panels), out, *ints)
    return out.reshape(-1) if one_d else out


def rolling_sum(x: np.ndarray, window: int, *, min_periods: int | None = None) -> np.ndarray:
    """Rolling sum over the last ``window`` rows, per column.

    Parameters
    ----------
    x : numpy.ndarray
        Panel ``(T, N)`` (days, stocks) or series ``(T,)``; NaN / ±inf = missing.
    window : int
        Window length in rows (trading days), >= 1.
    min_periods : int, optional
        Least number of valid observations in the window for a value; default ``window``.

    Returns
    -------
    numpy.ndarray
        float64, same shape as ``x``; NaN where the window has fewer than ``min_periods``
        valid observations.

    Raises
    ------
    EtfflowError
        Bad ``window`` / ``min_periods`` or an input that is not a 1-D/2-D numeric array.

    Notes
    -----
    ``out[t] = Σ_{k=t-window+1..t, x[k] valid} x[k]`` (``mv_passive_inflow_n``,
    docs/methodology.md#32-the-factor-families);
    same units as ``x`` (e.g. CNY). Compensated (TwoSum) running sum: the error is about one
    rounding of the result, also when large values have left the window.

    Examples
    --------
    >>> import numpy as np
    >>> rolling_sum(np.array([1.0, 2.0, np.nan, 4.0]), 2, min_periods=1)
    array([1., 3., 2., 4.])
    """
    return _apply(nb.rolling_sum_nb, {"x": x}, window, min_periods)


def rolling_mean(x: np.ndarray, window: int, *, min_periods: int | None = None) -> np.ndarray:
    """Rolling mean of the valid observations in the last ``window`` rows, per column.

    Parameters
    ----------
    x : numpy.ndarray
        Panel ``(T, N)`` (days, stocks) or series ``(T,)``; NaN / ±inf = missing.
    window : int
        Window length in rows (trading days), >= 1.
    min_periods : int, optional
        Least number of valid observations in the window for a value; default ``window``.

    Returns
    -------
    numpy.ndarray
        float64, same shape as ``x``, same units.

    Raises
    ------
    EtfflowError
        Bad arguments (see :func:`rolling_sum`).

    Notes
    -----
    ``out[t] = Σ x[k] / n`` over the ``n`` valid rows ``k`` of the window
    (docs/methodology.md#32-the-factor-families).

    Examples
    --------
    >>> import numpy as np
    >>> rolling_mean(np.array([1.0, 2.0, np.nan, 4.0]), 2, min_periods=1)
    array([1. , 1.5, 2. , 4. ])
    """
    return _apply(nb.rolling_mean_nb, {"x": x}, window, min_periods)


def rolling_std(
    x: np.ndarray, window: int, *, min_periods: int | None = None, ddof: int = 1
) -> np.ndarray:
    """Rolling standard deviation (``ddof=1``: sample std), per column.

    Parameters
    ----------
    x : numpy.ndarray
        Panel ``(T, N)`` (days, stocks) or series ``(T,)``; NaN / ±inf = missing.
    window : int
        Window length in rows (trading days), >= 1.
    min_periods : int, optional
        Least number of valid observations in the window for a value; default ``window``.
    ddof : int, default 1
        Delta degrees of freedom: divisor ``n - ddof``; NaN when ``n <= ddof``.

    Returns
    -------
    numpy.ndarray
        float64, same shape and units as ``x``; a constant window gives 0.

    Raises
    ------
    EtfflowError
        Bad arguments (see :func:`rolling_sum`) or ``ddof`` not an int >= 0.

    Notes
    -----
    ``sqrt(Σ (x[k] - mean)² / (n - ddof))`` over the ``n`` valid rows of the window
    (``w_passive_zs_n`` denominator, docs/methodology.md#32-the-factor-families). Computed
    from anchored compensated sums, so
    a 1e8 offset costs no accuracy (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> rolling_std(np.array([1.0, 2.0, 3.0, 5.0]), 3).round(6)
    array([     nan,      nan, 1.      , 1.527525])
    """
    return _apply(nb.rolling_std_nb, {"x": x}, window, min_periods, ddof=ddof)


def rolling_zscore(
    x: np.ndarray, window: int, *, min_periods: int | None = None, ddof: int = 1
) -> np.ndarray:
    """Rolling z-score of the current value against its own window, per column.

    Parameters
    ----------
    x : numpy.ndarray
        Panel ``(T, N)`` (days, stocks) or series ``(T,)``; NaN / ±inf = missing.
    window : int
        Window length in rows (trading days), >= 1; the window includes row ``t``.
    min_periods : int, optional
        Least number of valid observations in the window for a value; default ``window``.
    ddof : int, default 1
        Delta degrees of freedom of the std (sample std, as in the reports).

    Returns
    -------
    numpy.ndarray
        float64, same shape as ``x``, unitless. NaN when ``x[t]`` is missing, the window has
        fewer than ``min_periods`` (or ``<= ddof``) valid values, or the window is constant
        (std ``<= CONSTANT_RTOL ×`` rms of the window): never ±inf.

    Raises
    ------
    EtfflowError
        Bad arguments (see :func:`rolling_std`).

    Notes
    -----
    ``(x[t] - mean(x[t-n+1..t])) / std(x[t-n+1..t])`` (``w_passive_zs_n``,
    docs/methodology.md#32-the-factor-families), mean and
    std over the valid rows of the window.

    Examples
    --------
    >>> import numpy as np
    >>> rolling_zscore(np.array([1.0, 2.0, 3.0, 3.0, 3.0, 3.0]), 3).round(6)  # constant: NaN
    array([    nan,     nan, 1.     , 0.57735,     nan,     nan])
    """
    return _apply(nb.rolling_zscore_nb, {"x": x}, window, min_periods, ddof=ddof)


def rolling_slope(y: np.ndarray, window: int, *, min_periods: int | None = None) -> np.ndarray:
    """Rolling OLS slope of ``y`` on time (the row index), per column.

    Parameters
    ----------
    y : numpy.ndarray
        Panel ``(T, N)`` (days, stocks) or series ``(T,)``; NaN / ±inf = missing.
    window : int
        Window length in rows (trading days), >= 1.
    min_periods : int, optional
        Least number of valid observations in the window for a value; default ``window``.

    Returns
    -------
    numpy.ndarray
        float64, same shape as ``y``, in units of ``y`` per trading day. NaN with fewer than
        ``min_periods`` or fewer than 2 valid points.

    Raises
    ------
    EtfflowError
        Bad arguments (see :func:`rolling_sum`).

    Notes
    -----
    ``Σ (k - k̄)(y[k] - ȳ) / Σ (k - k̄)²`` over the valid rows ``k`` of the window
    (docs/methodology.md#32-the-factor-families;
    ``passive_slope_n``: on a complete window this is the slope on ``k = 1..n``). Missing rows
    keep their place in time: the regressor is the row position, not a renumbering.

    Examples
    --------
    >>> import numpy as np
    >>> rolling_slope(np.array([1.0, 3.0, 5.0, np.nan, 9.0]), 3, min_periods=2)
    array([nan,  2.,  2.,  2.,  2.])
    """
    return _apply(nb.rolling_slope_nb, {"y": y}, window, min_periods)


def rolling_beta(
    y: np.ndarray, x: np.ndarray, window: int, *, min_periods: int | None = None
) -> np.ndarray:
    """Rolling OLS beta of ``y`` on ``x`` (with intercept), per column.

    Parameters
    ----------
    y : numpy.ndarray
        Dependent panel ``(T, N)`` or series ``(T,)``; NaN / ±inf = missing.
    x : numpy.ndarray
        Regressor, same shape as ``y``.
    window : int
        Window length in rows (trading days), >= 1.
    min_periods : int, optional
        Least number of rows where both are valid; default ``window``.

    Returns
    -------
    numpy.ndarray
        float64, same shape, units of ``y`` per unit of ``x``. NaN when ``x`` is constant over
        the window's valid pairs (see ``CONSTANT_RTOL``).

    Raises
    ------
    EtfflowError
        Bad arguments or ``x`` and ``y`` of different shapes.

    Notes
    -----
    ``cov(x, y) / var(x)`` over the rows where both are valid (``passive_beta_n``:
    ``y`` = daily stock return, ``x`` = passive holding growth, decimals,
    docs/methodology.md#32-the-factor-families).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([1.0, 2.0, 3.0, 4.0])
    >>> rolling_beta(3.0 * x + 1.0, x, 3)
    array([nan, nan,  3.,  3.])
    """
    return _apply(nb.rolling_beta_nb, {"y": y, "x": x}, window, min_periods)


def rolling_corr(
    x: np.ndarray, y: np.ndarray, window: int, *, min_periods: int | None = None
) -> np.ndarray:
    """Rolling Pearson correlation of ``x`` and ``y``, per column.

    Parameters
    ----------
    x, y : numpy.ndarray
        Panels ``(T, N)`` or series ``(T,)`` of the same shape; NaN / ±inf = missing.
    window : int
        Window length in rows, >= 1.
    min_periods : int, optional
        Least number of rows where both are valid; default ``window``.

    Returns
    -------
    numpy.ndarray
        float64 in ``[-1, 1]``, same shape; NaN when either input is constant over the
        window's valid pairs.

    Raises
    ------
    EtfflowError
        Bad arguments or inputs of different shapes.

    Notes
    -----
    ``cov(x, y) / (std(x) std(y))`` over the rows where both are valid
    (docs/methodology.md#32-the-factor-families;
    ``passive_inflow_corr_*``, there on weekly / monthly rows).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([1.0, 2.0, 3.0, 4.0])
    >>> rolling_corr(x, -2.0 * x, 3)
    array([nan, nan, -1., -1.])
    """
    return _apply(nb.rolling_corr_nb, {"x": x, "y": y}, window, min_periods)


def rolling_residual(
    y: np.ndarray, x: np.ndarray, window: int, *, min_periods: int | None = None
) -> np.ndarray:
    """Residual of the current row from the window's OLS fit of ``y`` on ``x``.

    Parameters
    ----------
    y : numpy.ndarray
        Dependent panel ``(T, N)`` or series ``(T,)``; NaN / ±inf = missing.
    x : numpy.ndarray
        Regressor, same shape as ``y``.
    window : int
        Window length in rows, >= 1; the fit includes row ``t``.
    min_periods : int, optional
        Least number of rows where both are valid; default ``window``.

    Returns
    -------
    numpy.ndarray
        float64, same shape and units as ``y``. NaN when ``y[t]`` or ``x[t]`` is missing or
        ``x`` is constant over the window.

    Raises
    ------
    EtfflowError
        Bad arguments or inputs of different shapes.

    Notes
    -----
    ``y[t] - (a + b·x[t])`` with ``b = cov(x, y) / var(x)``, ``a = ȳ - b·x̄`` over the rows
    where both are valid (docs/methodology.md#32-the-factor-families: rolling OLS residual, e.g.
    stripping a control factor in time series).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([0.0, 1.0, 2.0, 3.0])
    >>> rolling_residual(np.array([0.0, 1.0, 2.0, 6.0]), x, 3)
    array([nan, nan, 0. , 0.5])
    """
    return _apply(nb.rolling_residual_nb, {"y": y, "x": x}, window, min_periods)

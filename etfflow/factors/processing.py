"""Cross-sectional processing steps of a factor, one date at a time.

Definition: docs/methodology.md#4-cross-sectional-processing.

A factor is a dense float ``(dates, stocks)`` array (time on axis 0, NaN = missing; ±inf is
treated as missing too). Each step is a separate function that returns a new array:

===============  ===========================================================================
step             function
===============  ===========================================================================
``universe``     :func:`mask_universe` — cells outside a bool universe -> NaN
``winsor``       :func:`winsorize_mad` — clip to median ± k·MAD
``fill``         :func:`fill_group_median` — missing -> industry median (or ``drop``: keep NaN)
``zscore``       :func:`zscore` — (x - mean) / std, ddof=1
``neutralize``   :func:`neutralize` — OLS residual on industry dummies, log cap, board dummies
``strip``        :func:`strip` — OLS residual on control factors (剥离, e.g. ``revs_20``)
===============  ===========================================================================

A pipeline of steps written as a string (``"winsor,fill,zscore,neutralize"``) is read,
recorded and run in one pass per date by :mod:`etfflow.factors.processing_pipeline`
(``parse_steps``, ``describe``, ``apply_steps``), which uses the input checks of this module;
its result equals these functions applied one after the other, bit for bit.

Choices where the reports are silent, stated here once (the full list:
docs/methodology.md#7-choices-where-the-reports-are-silent):

- ``winsor`` leaves a date unchanged when its MAD is 0 (more than half of the values equal,
  e.g. an inflow factor where most stocks have no ETF holder): clipping to the median would
  erase the factor.
- ``zscore`` uses the sample std (ddof=1); a date with fewer than 2 values or all values
  equal is all NaN (never inf).
- ``fill`` after ``universe`` never fills a cell outside the universe, and its medians use
  universe cells only; ``fill(drop)`` keeps missing cells NaN, so they take no part in the
  later steps.
- ``neutralize`` / ``strip``: a date with fewer valid cells than the number of regressors
  + 1 is all NaN; collinear regressors are dropped (the residual is the projection on the
  orthogonal complement of the regressors' span either way). Full-size timing (1,250 × 5,300,
  30 industries, 4 boards): ``benchmarks/bench_processing.py``.

The numba kernels are in :mod:`etfflow.factors.processing_nb`; their plain-NumPy twins in
:mod:`etfflow.factors.processing_ref` (tests only). Every kernel call goes through
:func:`_by_rows`, which passes the input arrays as read-only views and the output writeable,
so a kernel compiles one specialisation whichever arrays the caller holds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from etfflow._threads import n_threads, run_parts, split
from etfflow.exceptions import EtfflowError
from etfflow.factors import processing_nb as nb
from etfflow.factors._arrays import readonly

__all__ = [
    "MAX_GROUP_ID",
    "ProcessingError",
    "fill_group_median",
    "mask_universe",
    "neutralize",
    "strip",
    "winsorize_mad",
    "zscore",
]

#: Largest group id accepted (ids are stored as int16).
MAX_GROUP_ID = np.iinfo(np.int16).max


class ProcessingError(EtfflowError):
    """Bad input to a cross-sectional processing step or a bad pipeline description."""


# --------------------------------------------------------------------------- checks


def _panel(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 2:
        raise ProcessingError(
            f"'{name}' must be a 2-D (dates, stocks) array, got shape {a.shape}",
        )
    if not np.issubdtype(a.dtype, np.floating) and not np.issubdtype(a.dtype, np.integer):
        raise ProcessingError(f"'{name}' must be numeric, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float64)


def _ids(ids: Any, name: str, shape: tuple[int, int]) -> tuple[np.ndarray, int]:
    """Group ids as a C-contiguous (dates, stocks) int16 array (a per-stock ``(stocks,)``
    array is repeated over dates) and the number of groups (max id + 1).

    One dtype and layout for every caller means one compiled kernel (a copy only when the
    ids come in another form; :meth:`etfflow.engine.market.Market.group_ids` gives int16).
    """
    a = np.asarray(ids)
    if not np.issubdtype(a.dtype, np.integer):
        raise ProcessingError(
            f"'{name}' must hold integer group ids (-1 = none), got dtype {a.dtype}",
        )
    if a.ndim == 1 and a.shape[0] == shape[1]:
        a = np.broadcast_to(a, shape)
    if a.shape != shape:
        raise ProcessingError(
            f"'{name}' has shape {a.shape}, expected {shape} (dates, stocks) or "
            f"({shape[1]},) per stock"
        )
    if a.size == 0:
        return np.zeros(shape, dtype=np.int16), 0
    lo, hi = int(a.min()), int(a.max())
    if lo < -1:
        raise ProcessingError(
            f"'{name}' holds id {lo}; ids must be >= 0, or -1 for no group",
        )
    if hi > MAX_GROUP_ID:
        raise ProcessingError(
            f"'{name}' holds id {hi}; ids must be <= {MAX_GROUP_ID:,} (number the groups "
            "0, 1, 2, ... e.g. with np.unique(..., return_inverse=True))"
        )
    return np.ascontiguousarray(a, dtype=np.int16), hi + 1


def _values(v: Any, name: str, shape: tuple[int, int]) -> np.ndarray:
    a = _panel(v, name)
    if a.shape != shape:
        raise ProcessingError(f"'{name}' has shape {a.shape}, expected {shape} like the factor")
    return a


def _mask(u: Any, name: str, shape: tuple[int, int]) -> np.ndarray:
    a = np.asarray(u)
    if a.dtype != np.bool_:
        raise ProcessingError(f"'{name}' must be a bool array, got dtype {a.dtype}")
    if a.shape != shape:
        raise ProcessingError(f"'{name}' has shape {a.shape}, expected {shape} like the factor")
    return np.ascontiguousarray(a)


_NO_IDS = np.zeros((1, 1), dtype=np.int16)
_NO_MASK = np.zeros((1, 1), dtype=np.bool_)


# --------------------------------------------------------------------------- steps


def mask_universe(x: Any, universe: Any) -> np.ndarray:
    """Cells outside ``universe`` set to NaN (docs/methodology.md#41-universe).

    Parameters
    ----------
    x
        Factor, float ``(dates, stocks)``.
    universe
        Bool ``(dates, stocks)``, True = in the universe (computed by the backtest's
        universe rules, docs/methodology.md#51-universe-and-trading-rules).

    Returns
    -------
    numpy.ndarray
        float64 copy of ``x`` with NaN outside the universe.

    Examples
    --------
    >>> mask_universe(np.array([[1.0, 2.0]]), np.array([[True, False]]))
    array([[ 1., nan]])
    """
    a = _panel(x, "x")
    u = _mask(universe, "universe", a.shape)
    return np.where(u, a, np.nan)


def winsorize_mad(x: Any, *, k: float = 5.0, scaled: bool = False) -> np.ndarray:
    """Clip each date to its median ± ``k`` × MAD (docs/methodology.md#42-winsorise).

    Parameters
    ----------
    x
        Factor, float ``(dates, stocks)``; non-finite = missing.
    k
        Width of the band in MADs (> 0).
    scaled
        Multiply the MAD by 1.4826 (a standard-deviation estimate for normal data).

    Returns
    -------
    numpy.ndarray
        float64 ``(dates, stocks)``; missing cells stay NaN.

    Notes
    -----
    Per date ``t`` over the finite values: ``m = median(x)``, ``MAD = median(|x - m|)``
    (× 1.4826 if ``scaled``), ``x' = clip(x, m - k·MAD, m + k·MAD)``. A date whose MAD is 0
    is returned unchanged. Units are those of ``x``.

    Examples
    --------
    >>> winsorize_mad(np.array([[1.0, 2.0, 3.0, 4.0, 100.0]]), k=2.0)
    array([[1., 2., 3., 4., 5.]])
    """
    a = _panel(x, "x")
    k = _check_k(k)
    out = np.empty_like(a)
    _by_rows(nb.winsorize_mad_2d, a, k, bool(scaled), out)
    return out


def _by_rows(kernel: Any, *args: Any) -> None:
    """``kernel(*args, lo, hi)`` over the rows of ``args[0]``, one contiguous range per thread
    (rows are independent dates, so the result does not depend on the split).

    ``args[-1]`` is the output; every other array is passed as a read-only view, so the
    kernel compiles one specialisation whether the caller's arrays are writeable or not.
    """
    *ins, out = args
    call = [readonly(a) if isinstance(a, np.ndarray) else a for a in ins]
    ranges = split(args[0].shape[0], n_threads())
    run_parts(lambda p: kernel(*call, out, *ranges[p]), len(ranges))


def _check_k(k: Any) -> float:
    try:
        kf = float(k)
    except (TypeError, ValueError):
        raise ProcessingError(f"winsor k must be a positive number, got {k!r}") from None
    if not math.isfinite(kf) or kf <= 0:
        raise ProcessingError(f"winsor k must be a positive number, got {k!r}")
    return kf


def fill_group_median(x: Any, groups: Any, *, universe: Any | None = None) -> np.ndarray:
    """Fill missing cells with the median of their group that date (docs/methodology.md#43-fill).

    Parameters
    ----------
    x
        Factor, float ``(dates, stocks)``; non-finite = missing.
    groups
        Integer industry ids, ``(dates, stocks)`` (point in time) or ``(stocks,)``;
        -1 = no industry (such a missing cell stays NaN).
    universe
        Optional bool ``(dates, stocks)``: cells outside become NaN and do not enter the
        medians.

    Returns
    -------
    numpy.ndarray
        float64 ``(dates, stocks)``.

    Notes
    -----
    ``x'[t,s] = median{x[t,s'] : g[t,s'] = g[t,s], x[t,s'] finite, s' in universe}`` for a
    missing ``x[t,s]``; NaN when the group has no value that date. Units of ``x``.

    Examples
    --------
    >>> x = np.array([[1.0, 3.0, np.nan, 10.0, np.nan]])
    >>> fill_group_median(x, np.array([0, 0, 0, 1, 2]))
    array([[ 1.,  3.,  2., 10., nan]])
    """
    a = _panel(x, "x")
    g, n_groups = _ids(groups, "groups", a.shape)
    u = _NO_MASK if universe is None else _mask(universe, "universe", a.shape)
    out = np.empty_like(a)
    _by_rows(nb.fill_group_median_2d, a, g, max(n_groups, 1), u, universe is not None, out)
    return out


def zscore(x: Any) -> np.ndarray:
    """Standardise each date: ``(x - mean) / std`` with the sample std.

    Definition: docs/methodology.md#44-z-score.

    Parameters
    ----------
    x
        Factor, float ``(dates, stocks)``; non-finite = missing.

    Returns
    -------
    numpy.ndarray
        float64 ``(dates, stocks)``, unitless; a date with fewer than 2 values or a
        constant date is all NaN.

    Notes
    -----
    ``z = (x - mean_t(x)) / std_t(x)``, ``std`` with ddof=1, over the finite values of date
    ``t``.

    Examples
    --------
    >>> zscore(np.array([[1.0, 2.0, 3.0, np.nan], [5.0, 5.0, 5.0, 5.0]]))
    array([[-1.,  0.,  1., nan],
           [nan, nan, nan, nan]])
    """
    a = _panel(x, "x")
    out = np.empty_like(a)
    _by_rows(nb.zscore_2d, a, out)
    return out


def neutralize(
    x: Any,
    *,
    groups: Any | None,
    log_cap: Any | None,
    boards: Any | None = None,
) -> np.ndarray:
    """Residual of the per-date OLS on industry dummies, log float cap and boards.

    Definition: docs/methodology.md#45-neutralise.

    Parameters
    ----------
    x
        Factor, float ``(dates, stocks)``; non-finite = missing.
    groups
        Integer industry ids ``(dates, stocks)`` or ``(stocks,)``, -1 = none; None = no
        industry dummies (intercept only).
    log_cap
        ``log(F)``, the natural log of float market cap (CNY), ``(dates, stocks)``; None =
        no size term.
    boards
        Optional integer board ids ``(dates, stocks)`` or ``(stocks,)``, -1 = none.

    Returns
    -------
    numpy.ndarray
        float64 residuals ``e``; NaN where ``x`` or ``log_cap`` is missing or an id is -1,
        and on dates with too few valid cells.

    Notes
    -----
    Per date: ``x = a + sum_i d_i·1[industry=i] + b·log(F) + sum_k c_k·1[board=k] + e``
    (Huaan 2024-12 §3.3), fitted over the valid cells. One dummy of each kind is redundant with
    the intercept; industries and boards with no valid cell that date contribute nothing;
    exactly collinear regressors are dropped. With ``k`` regressors (intercept + present
    industries - 1 + 1 + present boards - 1), a date needs at least ``k + 1`` valid cells,
    else it is all NaN. The residual is orthogonal to every regressor.

    Examples
    --------
    >>> x = np.array([[1.0, 2.0, 4.0, 8.0]])
    >>> neutralize(x, groups=np.array([0, 0, 1, 1]), log_cap=None)
    array([[-0.5,  0.5, -2. ,  2. ]])
    """
    a = _panel(x, "x")
    conts = [] if log_cap is None else [_values(log_cap, "log_cap", a.shape)]
    return _residual(a, groups, conts, boards)


def strip(x: Any, control: Any | Mapping[str, Any] | Iterable[Any]) -> np.ndarray:
    """Residual of the per-date OLS of ``x`` on control factors (剥离).

    Definition: docs/methodology.md#46-strip-a-control.

    Parameters
    ----------
    x
        Factor, float ``(dates, stocks)``; non-finite = missing.
    control
        One control factor ``(dates, stocks)`` (e.g. ``revs_20``), or several (a list, or a
        mapping name -> array) stripped together in one regression.

    Returns
    -------
    numpy.ndarray
        float64 residuals; NaN where ``x`` or a control is missing, and on dates with fewer
        than (number of controls + 2) valid cells.

    Notes
    -----
    Per date: ``x = a + sum_j b_j·control_j + e``; returns ``e``. A control constant on a
    date is dropped from that date's regression (the residual is then ``x - mean(x)``).

    Examples
    --------
    >>> x = np.array([[1.0, 3.0, 2.0, 5.0]])
    >>> strip(x, 2.0 * x + 1.0)
    array([[0., 0., 0., 0.]])
    """
    a = _panel(x, "x")
    if isinstance(control, Mapping):
        items = list(control.items())
    elif isinstance(control, np.ndarray) and control.ndim == 2:
        items = [("control", control)]
    else:
        items = [(f"control[{i}]", c) for i, c in enumerate(control)]
    if not items:
        raise ProcessingError("strip needs at least one control factor")
    return _residual(a, None, [_values(c, name, a.shape) for name, c in items], None)


def _residual(
    a: np.ndarray, groups: Any | None, conts: list[np.ndarray], boards: Any | None
) -> np.ndarray:
    ids = None if groups is None else _ids(groups, "groups", a.shape)
    brd = None if boards is None else _ids(boards, "boards", a.shape)
    out = np.empty_like(a)
    _ols_into(a, ids, conts, brd, out)
    return out


def _ols_into(
    a: np.ndarray,
    ids: tuple[np.ndarray, int] | None,
    conts: list[np.ndarray],
    boards: tuple[np.ndarray, int] | None,
    out: np.ndarray,
) -> None:
    """Checked inputs -> :func:`~etfflow.factors.processing_nb.ols_residual_2d`."""
    t, n = a.shape
    g, ng = ids if ids is not None else (_NO_IDS, 1)
    b, nbd = boards if boards is not None else (_NO_IDS, 1)
    if len(conts) == 0:
        c = np.empty((0, t, n))
    elif len(conts) == 1:
        c = conts[0][None]
    else:
        c = np.stack(conts)
    _by_rows(
        nb.ols_residual_2d,
        a,
        g,
        ids is not None,
        max(ng, 1),
        c,
        b,
        boards is not None,
        max(nbd, 1),
        out,
    )

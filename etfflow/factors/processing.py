"""Cross-sectional processing of a factor, one date at a time.

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

A pipeline is a tuple of :class:`Step` (from :func:`parse_steps`), run by
:func:`apply_steps` and recorded with results as the string of :func:`describe`, e.g.
``"winsor(k=5,scaled=False)>fill(industry_median)>zscore>neutralize(industry,log_cap)"``.
:func:`apply_steps` runs all steps of one date back to back while the row is in cache
(numba, date ranges on threads); its result equals the single-step functions applied one
after the other, bit for bit.

Choices where the reports are silent, stated here once (the full list:
docs/methodology.md#7-choices-where-the-reports-are-silent):

- Steps must come in the order of docs/methodology.md#4-cross-sectional-processing (universe,
  winsor, fill, zscore, neutralize, strip), each at most once: :func:`parse_steps` rejects
  any other order instead of silently reordering,
  so the recorded description is always what was asked for.
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
:mod:`etfflow.factors.processing_ref` (tests only).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from etfflow._threads import n_threads, run_parts, split
from etfflow.exceptions import EtfflowError
from etfflow.factors import processing_nb as nb

__all__ = [
    "STEP_ORDER",
    "ProcessingError",
    "Step",
    "apply_steps",
    "describe",
    "fill_group_median",
    "mask_universe",
    "neutralize",
    "parse_steps",
    "strip",
    "winsorize_mad",
    "zscore",
]

#: Step names in the order they run in (docs/methodology.md#4-cross-sectional-processing).
STEP_ORDER = ("universe", "winsor", "fill", "zscore", "neutralize", "strip")
#: Other spellings accepted by :func:`parse_steps`.
ALIASES = {"winsorize": "winsor", "winsorise": "winsor", "neutralise": "neutralize"}
FILL_METHODS = ("industry_median", "drop")
#: Largest group id accepted (ids are stored as int16).
MAX_GROUP_ID = np.iinfo(np.int16).max
NEUTRALIZE_REGRESSORS = ("industry", "log_cap", "board")


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
    (rows are independent dates, so the result does not depend on the split)."""
    ranges = split(args[0].shape[0], n_threads())
    run_parts(lambda p: kernel(*args, *ranges[p]), len(ranges))


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


# --------------------------------------------------------------------------- pipelines


@dataclass(frozen=True)
class Step:
    """One processing step of a pipeline: a name of :data:`STEP_ORDER` and its parameters.

    Parameters are checked and completed with their defaults on construction, so
    ``Step("winsor", {})`` equals ``Step("winsor", {"k": 5.0, "scaled": False})``.

    ==============  ==========================================================  ===========
    name            params                                                      default
    ==============  ==========================================================  ===========
    ``universe``    —
    ``winsor``      ``k`` (float > 0), ``scaled`` (bool)                        5.0, False
    ``fill``        ``method``: ``"industry_median"`` or ``"drop"``             median
    ``zscore``      —
    ``neutralize``  ``regressors``: subset of ``("industry", "log_cap",         industry,
                    "board")``                                                  log_cap
    ``strip``       ``controls``: tuple of control names (keys of ``controls``) (required)
    ==============  ==========================================================  ===========

    Examples
    --------
    >>> Step("winsor", {"k": 3})
    Step(name='winsor', params={'k': 3.0, 'scaled': False})
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        name = ALIASES.get(self.name, self.name)
        if name not in STEP_ORDER:
            raise ProcessingError(
                f"unknown processing step {self.name!r}; valid steps (in order): "
                + ", ".join(STEP_ORDER)
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "params", _check_params(name, dict(self.params)))

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.params.items()))))

    def describe(self) -> str:
        """This step as it appears in :func:`describe`."""
        p = self.params
        if self.name == "winsor":
            return f"winsor(k={_fmt_float(p['k'])},scaled={p['scaled']})"
        if self.name == "fill":
            return f"fill({p['method']})"
        if self.name == "neutralize":
            return f"neutralize({','.join(p['regressors'])})"
        if self.name == "strip":
            return f"strip({','.join(p['controls'])})"
        return self.name


def _fmt_float(v: float) -> str:
    s = repr(float(v))
    return s[:-2] if s.endswith(".0") else s


def _unknown_keys(name: str, keys: Iterable[str], valid: tuple[str, ...]) -> None:
    bad = sorted(set(keys) - set(valid))
    if bad:
        raise ProcessingError(
            f"step {name!r} has no parameter {', '.join(map(repr, bad))}; valid: "
            + (", ".join(valid) or "(none)")
        )


def _check_params(name: str, p: dict[str, Any]) -> dict[str, Any]:
    if name in ("universe", "zscore"):
        _unknown_keys(name, p, ())
        return {}
    if name == "winsor":
        _unknown_keys(name, p, ("k", "scaled"))
        scaled = p.get("scaled", False)
        if not isinstance(scaled, bool | np.bool_):
            raise ProcessingError(f"winsor scaled must be True or False, got {scaled!r}")
        return {"k": _check_k(p.get("k", 5.0)), "scaled": bool(scaled)}
    if name == "fill":
        _unknown_keys(name, p, ("method",))
        method = p.get("method", "industry_median")
        if method not in FILL_METHODS:
            raise ProcessingError(
                f"fill method {method!r} is unknown; valid: {', '.join(FILL_METHODS)}"
            )
        return {"method": method}
    if name == "neutralize":
        _unknown_keys(name, p, ("regressors",))
        regs = p.get("regressors", ("industry", "log_cap"))
        regs = (regs,) if isinstance(regs, str) else tuple(regs)
        bad = [r for r in regs if r not in NEUTRALIZE_REGRESSORS]
        if bad or not regs or len(set(regs)) != len(regs):
            raise ProcessingError(
                f"neutralize regressors {regs!r} are invalid; choose one or more of "
                + ", ".join(NEUTRALIZE_REGRESSORS)
                + ", each once"
            )
        return {"regressors": tuple(r for r in NEUTRALIZE_REGRESSORS if r in regs)}
    # strip
    _unknown_keys(name, p, ("controls",))
    ctl = p.get("controls", ())
    ctl = (ctl,) if isinstance(ctl, str) else tuple(ctl)
    if not ctl:
        raise ProcessingError(
            "strip needs the name of at least one control factor, e.g. 'strip(revs_20)'"
        )
    for c in ctl:
        if not isinstance(c, str) or not _NAME.fullmatch(c):
            raise ProcessingError(
                f"strip control name {c!r} is invalid (letters, digits, '_' and '.' only)"
            )
    if len(set(ctl)) != len(ctl):
        raise ProcessingError(f"strip controls {ctl!r} name a control twice")
    return {"controls": ctl}


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_STEP = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*", re.DOTALL)
_BOOL = {"true": True, "false": False, "1": True, "0": False}


def _split_top(text: str) -> list[str]:
    """Split on ',' and '>' outside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ProcessingError(f"unbalanced ')' in pipeline {text!r}")
        if ch in ",>" and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise ProcessingError(f"unbalanced '(' in pipeline {text!r}")
    parts.append("".join(cur))
    return parts


def _parse_one(text: str) -> Step:
    m = _STEP.fullmatch(text)
    if m is None:
        raise ProcessingError(
            f"cannot read step {text.strip()!r}; write name or name(arg,...), e.g. "
            "'winsor(k=3,scaled=True)', 'fill(drop)', 'neutralize(industry,log_cap,board)'"
        )
    raw_name, args = m.group(1).lower(), m.group(2)
    name = ALIASES.get(raw_name, raw_name)
    if name not in STEP_ORDER:
        raise ProcessingError(
            f"unknown processing step {raw_name!r}; valid steps (in order): "
            + ", ".join(STEP_ORDER)
        )
    items = [] if args is None or not args.strip() else [s.strip() for s in args.split(",")]
    keyed = dict(s.split("=", 1) for s in items if "=" in s)
    keyed = {k.strip(): v.strip() for k, v in keyed.items()}
    flags = [s for s in items if "=" not in s]
    params: dict[str, Any] = {}
    if name == "winsor":
        if flags:
            raise ProcessingError(f"winsor takes k=<number>,scaled=<bool>, got {args!r}")
        params = dict(keyed)
        if "scaled" in params:
            v = params["scaled"].lower()
            if v not in _BOOL:
                raise ProcessingError(f"winsor scaled must be True or False, got {v!r}")
            params["scaled"] = _BOOL[v]
    elif name == "fill":
        params = {"method": flags[0]} if len(flags) == 1 and not keyed else dict(keyed)
        if len(flags) > 1:
            raise ProcessingError(f"fill takes one method ({', '.join(FILL_METHODS)})")
    elif name == "neutralize":
        params = {"regressors": tuple(flags)} if flags else dict(keyed)
    elif name == "strip":
        params = {"controls": tuple(flags)} if flags else dict(keyed)
    elif items:
        raise ProcessingError(f"step {name!r} takes no arguments, got {args!r}")
    return Step(name, params)


def parse_steps(spec: str | Step | Iterable[str | Step]) -> tuple[Step, ...]:
    """Read a pipeline description into checked :class:`Step` objects.

    Parameters
    ----------
    spec
        A string of steps separated by ``,`` or ``>`` (the output of :func:`describe` reads
        back to the same steps; ``""`` or ``"none"`` is the empty pipeline), a
        :class:`Step`, or a sequence of steps / step strings.
        Names are case-insensitive; ``winsorize``/``winsorise``/``neutralise`` are aliases.

    Returns
    -------
    tuple of Step

    Raises
    ------
    ProcessingError
        Unknown step or parameter (the message lists the valid ones), a step twice, or
        steps out of order (universe, winsor, fill, zscore, neutralize, strip;
        docs/methodology.md#4-cross-sectional-processing).

    Examples
    --------
    >>> describe(parse_steps("winsor,fill,zscore,neutralize"))
    'winsor(k=5,scaled=False)>fill(industry_median)>zscore>neutralize(industry,log_cap)'
    >>> [s.name for s in parse_steps("winsor(k=3),fill(drop)>strip(revs_20)")]
    ['winsor', 'fill', 'strip']
    """
    if isinstance(spec, Step):
        items: list[str | Step] = [spec]
    elif isinstance(spec, str):
        empty = not spec.strip() or spec.strip().lower() == "none"
        items = [] if empty else list(_split_top(spec))
    else:
        items = list(spec)
    steps: list[Step] = []
    for it in items:
        if isinstance(it, Step):
            steps.append(it)
        elif isinstance(it, str):
            if not it.strip():
                raise ProcessingError(f"empty step in pipeline {spec!r}")
            steps.extend(_parse_one(part) for part in _split_top(it))
        else:
            raise ProcessingError(f"a step must be a str or Step, got {type(it).__name__}")
    names = [s.name for s in steps]
    twice = sorted({n for n in names if names.count(n) > 1}, key=STEP_ORDER.index)
    if twice:
        raise ProcessingError(f"step {twice[0]!r} appears twice; each step runs at most once")
    pos = [STEP_ORDER.index(n) for n in names]
    for a, b, sa, sb in zip(pos, pos[1:], steps, steps[1:], strict=False):
        if a > b:
            fixed = ">".join(
                st.describe() for st in sorted(steps, key=lambda st: STEP_ORDER.index(st.name))
            )
            raise ProcessingError(
                f"step {sb.name!r} comes after {sa.name!r}; steps run in the order "
                + " > ".join(STEP_ORDER)
                + f" (write {fixed!r})"
            )
    return tuple(steps)


def describe(steps: str | Step | Iterable[str | Step]) -> str:
    """The stable one-line description of a pipeline recorded with results.

    ``parse_steps(describe(steps)) == parse_steps(steps)``; an empty pipeline is ``"none"``.

    Examples
    --------
    >>> describe([Step("winsor", {"k": 3.5, "scaled": True}), Step("neutralize",
    ...     {"regressors": ("board", "industry", "log_cap")})])
    'winsor(k=3.5,scaled=True)>neutralize(industry,log_cap,board)'
    """
    return ">".join(s.describe() for s in parse_steps(steps)) or "none"


def apply_steps(
    x: Any,
    steps: str | Step | Iterable[str | Step],
    *,
    universe: Any | None = None,
    groups: Any | None = None,
    log_cap: Any | None = None,
    boards: Any | None = None,
    controls: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Run a pipeline of processing steps on a factor.

    Definition: docs/methodology.md#4-cross-sectional-processing.

    Parameters
    ----------
    x
        Factor, float ``(dates, stocks)``; non-finite = missing.
    steps
        Steps (see :func:`parse_steps`), in the order of
        docs/methodology.md#4-cross-sectional-processing.
    universe
        Bool ``(dates, stocks)``; needed by the ``universe`` step (and then ``fill`` never
        fills a cell outside it). Unused without that step.
    groups
        Industry ids ``(dates, stocks)`` or ``(stocks,)``; needed by ``fill(industry_median)``
        and ``neutralize(industry,...)``.
    log_cap
        ``log(F)`` ``(dates, stocks)``; needed by ``neutralize(...,log_cap)``.
    boards
        Board ids; needed by ``neutralize(...,board)``.
    controls
        Control factors by name; ``strip(revs_20)`` needs ``controls["revs_20"]``.

    Returns
    -------
    numpy.ndarray
        float64 ``(dates, stocks)`` (a new array; ``x`` is not modified).

    Raises
    ------
    ProcessingError
        Bad steps, or an input a step needs is missing or has the wrong shape (checked
        before any work is done).

    Examples
    --------
    >>> x = np.array([[1.0, 2.0, np.nan, 4.0, 100.0]])
    >>> apply_steps(x, "winsor(k=1)>fill>zscore", groups=np.zeros(5, dtype=np.int16))
    array([[-1.17669681, -0.78446454,  0.        ,  0.78446454,  1.17669681]])
    """
    plan = parse_steps(steps)
    a = _panel(x, "x")
    shape = a.shape
    need = {
        "universe": universe,
        "groups": groups,
        "log_cap": log_cap,
        "boards": boards,
    }

    def require(key: str, step: Step) -> Any:
        if need[key] is None:
            raise ProcessingError(
                f"step {step.describe()!r} needs {key}=...; pass it to apply_steps"
            )
        return need[key]

    # check every input before computing anything
    u = g = bd = lc = None
    ng = nbd = 0
    ctl: list[np.ndarray] = []
    for s in plan:
        regs = s.params.get("regressors", ())
        if s.name == "universe":
            u = _mask(require("universe", s), "universe", shape)
        if (s.name == "fill" and s.params["method"] == "industry_median") or "industry" in regs:
            if g is None:
                g, ng = _ids(require("groups", s), "groups", shape)
        if "log_cap" in regs:
            lc = _values(require("log_cap", s), "log_cap", shape)
        if "board" in regs:
            bd, nbd = _ids(require("boards", s), "boards", shape)
        if s.name == "strip":
            names = s.params["controls"]
            missing = [c for c in names if controls is None or c not in controls]
            if missing or controls is None:
                have = ", ".join(sorted(controls)) if controls else "(none)"
                raise ProcessingError(
                    f"step {s.describe()!r} needs controls[{missing[0]!r}]; controls given: {have}"
                )
            ctl = [_values(controls[c], f"controls[{c!r}]", shape) for c in names]

    code = {
        "universe": nb.UNIVERSE,
        "winsor": nb.WINSOR,
        "fill": nb.FILL,
        "zscore": nb.ZSCORE,
        "neutralize": nb.NEUTRALIZE,
        "strip": nb.STRIP,
    }
    codes = np.array(
        [code[s.name] for s in plan if not (s.name == "fill" and s.params["method"] == "drop")],
        dtype=np.int64,
    )
    win = next((s.params for s in plan if s.name == "winsor"), {"k": 5.0, "scaled": False})
    regs = next((s.params["regressors"] for s in plan if s.name == "neutralize"), ())
    t, n = shape
    cn = lc[None] if lc is not None and "log_cap" in regs else np.empty((0, t, n))
    if len(ctl) == 0:
        cs = np.empty((0, t, n))
    elif len(ctl) == 1:
        cs = ctl[0][None]
    else:
        cs = np.stack(ctl)
    out = np.empty_like(a)
    _by_rows(
        nb.pipeline_2d,
        a,
        codes,
        win["k"],
        win["scaled"],
        _NO_MASK if u is None else u,
        u is not None,
        _NO_IDS if g is None else g,
        g is not None,
        max(ng, 1),
        cn,
        "industry" in regs,
        _NO_IDS if bd is None else bd,
        "board" in regs,
        max(nbd, 1),
        cs,
        out,
    )
    return out

"""Processing pipelines: steps written as a string, checked, recorded and run in one pass.

Definition: docs/methodology.md#4-cross-sectional-processing. The steps themselves (one
function each, with their input checks) are in :mod:`etfflow.factors.processing`.

A pipeline is a tuple of :class:`Step` (from :func:`parse_steps`), run by
:func:`apply_steps` and recorded with results as the string of :func:`describe`, e.g.
``"winsor(k=5,scaled=False)>fill(industry_median)>zscore>neutralize(industry,log_cap)"``.
:func:`apply_steps` runs all steps of one date back to back while the row is in cache
(numba, date ranges on threads); its result equals the single-step functions applied one
after the other, bit for bit.

Steps must come in the order of docs/methodology.md#4-cross-sectional-processing (universe,
winsor, fill, zscore, neutralize, strip), each at most once: :func:`parse_steps` rejects any
other order instead of silently reordering, so the recorded description is always what was
asked for (docs/methodology.md#7-choices-where-the-reports-are-silent).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from etfflow.engine.schemas import BOARDS
from etfflow.factors import processing_nb as nb
from etfflow.factors.processing import (
    _NO_IDS,
    _NO_MASK,
    ProcessingError,
    _by_rows,
    _check_k,
    _ids,
    _mask,
    _panel,
    _values,
)

__all__ = [
    "ALIASES",
    "FILL_METHODS",
    "NEUTRALIZE_REGRESSORS",
    "STEP_ORDER",
    "Step",
    "apply_steps",
    "describe",
    "parse_steps",
]

#: Step names in the order they run in (docs/methodology.md#4-cross-sectional-processing).
STEP_ORDER = ("universe", "winsor", "fill", "zscore", "neutralize", "strip")
#: Other spellings accepted by :func:`parse_steps`.
ALIASES = {"winsorize": "winsor", "winsorise": "winsor", "neutralise": "neutralize"}
FILL_METHODS = ("industry_median", "drop")
NEUTRALIZE_REGRESSORS = ("industry", "log_cap", "board", "board_main")
#: ``board_main``: board dummies with the Shanghai and Shenzhen main boards as one board
#: (Huaan 2024-12 table 45 groups them so); the two spellings exclude each other.
_SH_MAIN, _SZ_MAIN = BOARDS.index("SH_MAIN"), BOARDS.index("SZ_MAIN")


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
                    "board")``, or ``board_main`` (main boards merged)          log_cap
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
        if {"board", "board_main"} <= set(regs):
            raise ProcessingError(
                "neutralize takes board or board_main (main boards merged), not both"
            )
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
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
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
        if "board" in regs or "board_main" in regs:
            bd, nbd = _ids(require("boards", s), "boards", shape)
            if "board_main" in regs:  # the SZ main board counts as the SH main board
                bd = np.ascontiguousarray(np.where(bd == _SZ_MAIN, _SH_MAIN, bd).astype(bd.dtype))
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
        "board" in regs or "board_main" in regs,
        max(nbd, 1),
        cs,
        out,
    )
    return out

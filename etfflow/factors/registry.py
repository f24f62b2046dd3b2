"""The factor registry: every factor declared once, with its formula, inputs and warm-up.

A factor is a function ``(inputs, n) -> (T, M) float64 array`` registered with
:func:`factor`. Its name is a template with ``{n}`` for the window (``w_passive_zs_{n}``);
``windows`` lists the windows it is computed for by default (20, 40, 60;
docs/methodology.md#32-the-factor-families). A factor value dated ``t`` may only use inputs
dated ``<= t`` (the point-in-time tests check every registered factor).

Adding a factor takes a few lines::

    import numpy as np
    from etfflow.factors import factor, kernels

    @factor("w_passive_ma_{n}", formula="mean(w_passive[t-n+1..t])",
            inputs=("w_passive",), direction=1, lookback=lambda n: n - 1)
    def w_passive_ma(x, n):
        return kernels.rolling_mean(x["w_passive"], n)

It is then listed by ``etfflow factors list`` and computed by ``--factors all`` (as long as
the module defining it is imported first).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

import numpy as np

from etfflow.exceptions import EtfflowError
from etfflow.factors.inputs import LEVELS, FactorInputs

#: A windowed factor's computation: ``(inputs, n) -> (T, M) float64`` for a window ``n``.
WindowedFn = Callable[[FactorInputs, int], np.ndarray]
#: A factor without window is called with ``n=None``.
PlainFn = Callable[[FactorInputs, None], np.ndarray]
FactorFn = WindowedFn | PlainFn
#: Warm-up in trading days: a number, or a function of the window for a windowed factor.
Lookback = Callable[[int], int] | int
F = TypeVar("F", bound=FactorFn)

#: Default windows of a windowed factor (docs/methodology.md#32-the-factor-families).
DEFAULT_WINDOWS: tuple[int, ...] = (20, 40, 60)


@dataclass(frozen=True)
class FactorDef:
    """One factor family.

    Attributes
    ----------
    template
        Name, with ``{n}`` standing for the window when the factor has one.
    formula
        The definition in words/symbols (shown by ``etfflow factors list``).
    source
        The research report and table that define it, e.g. ``"Huaan 2024-12 table 8"`` (short
        names as in docs/methodology.md#source-reports); ``"user"`` for a user's factor.
    inputs
        Input series it reads (``FactorInputs`` names).
    direction
        Default direction: +1 when high values are expected to outperform, -1 otherwise
        (what the reports found over 2020–2023; the backtest can also pick it from the data).
    windows
        Windows computed by default (empty for a factor without window).
    lookback
        Warm-up in trading days (a function of the window ``n`` for a windowed factor, see
        :meth:`warmup`): the row of the first value when every
        input has a value from the first row on (``inflow`` has none on the first row, as
        the look-through makes it); rows before it are null. A window of ``n`` rows ending on
        ``t`` needs ``n - 1``, a difference with ``t - n`` needs ``n``. For weekly and monthly
        factors it assumes 5-day weeks and 21-day months (a real calendar can start a few
        rows later).
    fn
        The computation.
    levels
        Levels it is defined at.
    """

    template: str
    formula: str
    source: str
    inputs: tuple[str, ...]
    direction: int
    windows: tuple[int, ...]
    lookback: Lookback
    fn: FactorFn
    levels: tuple[str, ...] = LEVELS

    @property
    def windowed(self) -> bool:
        return "{n}" in self.template

    def name(self, n: int | None) -> str:
        return self.template.format(n=n) if self.windowed else self.template

    def warmup(self, n: int | None) -> int:
        """The warm-up for window ``n`` (``None`` for a factor without window)."""
        if not callable(self.lookback):
            return int(self.lookback)
        if n is None:
            raise EtfflowError(f"factor {self.template!r}: its lookback depends on a window")
        return int(self.lookback(n))

    def compute(self, x: FactorInputs, n: int | None) -> np.ndarray:
        """The factor for window ``n`` (``None`` for a factor without window)."""
        if not self.windowed:
            return cast(PlainFn, self.fn)(x, None)
        if n is None:
            raise EtfflowError(f"factor {self.template!r} needs a window")
        return cast(WindowedFn, self.fn)(x, n)

    def instances(self, windows: Sequence[int] | None = None) -> list[tuple[str, int | None]]:
        """``(name, n)`` pairs computed for ``windows`` (default: the factor's own)."""
        if not self.windowed:
            return [(self.template, None)]
        ws = self.windows if windows is None or not self.follows_default_windows else windows
        return [(self.name(n), n) for n in ws]

    @property
    def follows_default_windows(self) -> bool:
        """Whether ``--windows`` applies (factors with their own period lists ignore it)."""
        return self.windows == DEFAULT_WINDOWS


_REGISTRY: dict[str, FactorDef] = {}


def factor(
    template: str,
    *,
    formula: str,
    inputs: Iterable[str],
    direction: int,
    lookback: Lookback,
    windows: Iterable[int] | None = None,
    source: str = "user",
    levels: Iterable[str] = LEVELS,
    replace: bool = False,
) -> Callable[[F], F]:
    """Register a factor (decorator). See the module docstring for an example.

    ``lookback`` is a number, or a function of the window for a factor with ``{n}`` in its name.

    ``replace=True`` redefines a factor registered earlier by the user (a notebook cell run
    again); a built-in factor is never replaced.

    Raises
    ------
    EtfflowError
        On a duplicate name (without ``replace``), a bad direction, an unknown level or a
        window-dependent lookback for a factor without window.
    """
    old = _REGISTRY.get(template)
    if old is not None and not (replace and old.source == "user"):
        hint = (
            "built-in factors cannot be replaced: choose another name"
            if old.source != "user"
            else "pass replace=True to redefine it (e.g. when a notebook cell runs again)"
        )
        raise EtfflowError(f"factor {template!r} is already registered; {hint}")
    if direction not in (1, -1):
        raise EtfflowError(f"factor {template!r}: direction must be +1 or -1, got {direction}")
    levels = tuple(levels)
    unknown = set(levels) - set(LEVELS)
    if unknown:
        raise EtfflowError(f"factor {template!r}: unknown levels {sorted(unknown)}")
    windowed = "{n}" in template
    if callable(lookback) and not windowed:
        raise EtfflowError(
            f"factor {template!r} has no window ({{n}} in its name): lookback must be a number"
        )
    ws = tuple(windows) if windows is not None else (DEFAULT_WINDOWS if windowed else ())
    lb = lookback if callable(lookback) else int(lookback)

    def deco(fn: F) -> F:
        _REGISTRY[template] = FactorDef(
            template=template,
            formula=formula,
            source=source,
            inputs=tuple(inputs),
            direction=direction,
            windows=ws,
            lookback=lb,
            fn=fn,
            levels=levels,
        )
        return fn

    return deco


def unregister(template: str) -> None:
    """Remove a factor (for tests and notebooks that redefine one)."""
    _REGISTRY.pop(template, None)


def registry() -> dict[str, FactorDef]:
    """All registered factor families, by template."""
    from etfflow.factors import definitions  # noqa: F401  (registers the built-in factors)

    return dict(_REGISTRY)


@dataclass(frozen=True)
class FactorInstance:
    """One concrete factor: a family and a window."""

    name: str
    n: int | None
    definition: FactorDef

    @property
    def direction(self) -> int:
        return self.definition.direction

    @property
    def lookback(self) -> int:
        return self.definition.warmup(self.n)


def resolve(
    names: str | Sequence[str] = "all",
    *,
    windows: Sequence[int] | None = None,
    level: str = "stock",
) -> list[FactorInstance]:
    """Turn ``"all"`` or a list of factor names / templates into concrete factors.

    A name may be concrete (``w_passive_zs_20``) or a template (``w_passive_zs_{n}``, or its
    stem ``w_passive_zs``, meaning every window).

    Raises
    ------
    EtfflowError
        Naming the unknown factor and the closest known names.
    """
    reg = registry()
    if windows is not None:
        bad = [w for w in windows if int(w) < 2]
        if bad:
            raise EtfflowError(f"windows must be at least 2 trading days, got {bad}")
    all_instances: list[FactorInstance] = []
    by_name: dict[str, FactorInstance] = {}
    by_stem: dict[str, list[FactorInstance]] = {}
    for d in reg.values():
        if level not in d.levels:
            continue
        for nm, n in d.instances(windows):
            inst = FactorInstance(nm, n, d)
            all_instances.append(inst)
            by_name[nm] = inst
            by_stem.setdefault(d.template, []).append(inst)
            by_stem.setdefault(d.template.replace("_{n}", ""), []).append(inst)
    if isinstance(names, str):
        names = [x.strip() for x in names.split(",") if x.strip()]
    if list(names) == ["all"]:
        return all_instances
    out: list[FactorInstance] = []
    for nm in names:
        if nm in by_name:
            picked = [by_name[nm]]
        elif nm in by_stem:
            picked = by_stem[nm]
        else:
            unlisted = _resolve_unlisted_window(nm, reg, level)
            if unlisted is None:
                import difflib

                near = difflib.get_close_matches(nm, list(by_name) + list(by_stem), n=3)
                hint = f"; did you mean {', '.join(near)}?" if near else ""
                raise EtfflowError(
                    f"unknown factor {nm!r} at level {level!r}{hint} "
                    "(`etfflow factors list` shows them all)"
                )
            picked = unlisted
        for inst in picked:
            if inst.name not in {o.name for o in out}:
                out.append(inst)
    if not out:
        raise EtfflowError("no factors selected")
    return out


def _resolve_unlisted_window(
    name: str, reg: dict[str, FactorDef], level: str
) -> list[FactorInstance] | None:
    """``w_passive_zs_30`` for a window that is not a default one."""
    stem, _, tail = name.rpartition("_")
    if not tail.isdigit():
        return None
    d = reg.get(f"{stem}_{{n}}")
    if d is None or level not in d.levels:
        return None
    n = int(tail)
    if n < 2:
        raise EtfflowError(f"factor {name!r}: window must be at least 2")
    return [FactorInstance(name, n, d)]

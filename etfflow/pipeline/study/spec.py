"""Study files: a grid of backtest cells in one TOML file (docs/studies.md).

:func:`load_study` reads and validates a study before any work starts: an unknown key, an
unknown factor, pool, level, mode, direction or universe, a value of the wrong type, an empty
grid list, a study without cells or a missing data folder is an :class:`EtfflowError` naming the
file, the key and its line. :meth:`StudySpec.cells` expands the grid (keys crossed, in the
order of :data:`GRID_KEYS`) followed by the explicit ``[[cells]]``, each over ``[defaults]``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etfflow.backtest.rotation.params import RotationParams
from etfflow.engine.pools import Pool
from etfflow.engine.universe import UNIVERSES
from etfflow.exceptions import EtfflowError
from etfflow.factors.compute import check_steps_at_level
from etfflow.factors.inputs import LEVELS
from etfflow.factors.processing_pipeline import describe, parse_steps
from etfflow.factors.registry import resolve
from etfflow.pipeline.backtest import DEFAULT_GROUPS
from etfflow.pipeline.runs import _default_strip, processing_for
from etfflow.pipeline.study.cells import CELL_FIELDS, Cell

#: Keys of ``[grid]`` (lists), ``[defaults]`` and ``[[cells]]`` (scalars). ``factors`` gives
#: the cell's one factor (column ``factor``); a family stem (``revs``) or ``all`` expands to
#: every factor it names at the cell's level.
GRID_KEYS: tuple[str, ...] = tuple("factors" if k == "factor" else k for k in CELL_FIELDS)
TOP_KEYS: tuple[str, ...] = ("data", "name", "description", "grid", "defaults", "cells", "rotation")
MODES: tuple[str, ...] = ("weights", "pcf")
DIRECTIONS: tuple[str, ...] = ("auto", "rolling", "default", "1", "-1")
#: Defaults of a cell (those of ``etfflow factors compute`` / ``etfflow backtest``; groups
#: depend on the level: :data:`etfflow.pipeline.backtest.DEFAULT_GROUPS`).
DEFAULTS: dict[str, Any] = {
    "pool": "all",
    "mode": "weights",
    "level": "stock",
    "process": "standard",
    "rebalance": 20,
    "direction": "auto",
    "lag": 1,
    "universe": "default",
    "cost_bps": 0.0,
    "benchmark": "equal_weight",
    "min_passive": None,
}
ROTATION_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RotationParams))
INDUSTRY_UNIVERSE = "all industries"


@dataclass(frozen=True)
class Where:
    """Where a value comes from: ``section`` (``grid``, ``defaults``, ``cells[2]``, ``""`` for
    the top level) and ``key``, for error messages."""

    section: str
    key: str


@dataclass
class StudySpec:
    """A validated study (:func:`load_study`)."""

    source: str
    text: str
    data: Path
    name: str
    description: str
    preset: str | None
    grid: dict[str, list[Any]]
    defaults: dict[str, Any]
    explicit: list[dict[str, Any]]
    rotation: RotationParams | None
    _cells: list[Cell] = field(default_factory=list, repr=False)

    def cells(self) -> list[Cell]:
        """Every cell, in order: the grid crossed (the first of :data:`GRID_KEYS` varies
        slowest), then the ``[[cells]]``; a cell identical to an earlier one is dropped."""
        return list(self._cells)

    @property
    def grid_keys(self) -> list[str]:
        """The cell options (``study_cells`` columns) that vary across the cells."""
        cells = self._cells
        return [k for k in CELL_FIELDS if len({getattr(c, k) for c in cells}) > 1]

    def normalised(self) -> dict[str, Any]:
        """The study as a JSON-friendly dict (hashed into the study id, stored in ``runs``)."""
        from etfflow.pipeline.rotation import rotation_params

        return {
            "grid": self.grid,
            "defaults": self.defaults,
            "cells": self.explicit,
            "rotation": rotation_params(self.rotation) if self.rotation else None,
        }

    def err(self, where: Where | None, message: str) -> EtfflowError:
        return _error(self.source, self.text, where, message)


def _line_of(text: str, where: Where) -> int | None:
    """1-based line of ``where.key`` in its section of the TOML ``text`` (None if not found)."""
    lines = text.splitlines()
    start, occurrence = 0, 0
    sec = where.section
    m = re.fullmatch(r"cells\[(\d+)\]", sec)
    if m:
        occurrence = int(m.group(1))
    header = (
        re.compile(r"^\s*\[\[\s*cells\s*\]\]")
        if m
        else (re.compile(rf"^\s*\[\s*{re.escape(sec)}\s*\]") if sec else None)
    )
    if header is not None:
        hits = [i for i, ln in enumerate(lines) if header.match(ln)]
        if len(hits) <= occurrence:
            return None
        start = hits[occurrence] + 1
        if not where.key:
            return start
    key = re.compile(rf'^\s*["\']?{re.escape(where.key)}["\']?\s*=')
    for i in range(start, len(lines)):
        if re.match(r"^\s*\[", lines[i]):  # the next section: the key is not in this one
            return None
        if key.match(lines[i]):
            return i + 1
    return None


def _error(source: str, text: str, where: Where | None, message: str) -> EtfflowError:
    if where is None:
        return EtfflowError(f"study {source}: {message}")
    line = _line_of(text, where)
    sec, key = where.section, where.key
    label = (f"[{sec}] {key}" if key else f"[{sec}]") if sec else key
    at = f", line {line}" if line else ""
    return EtfflowError(f"study {source}{at}: {label}: {message}")


def _check_keys(spec: StudySpec, table: Mapping[str, Any], valid: tuple[str, ...], sec: str):
    for k in table:
        if k not in valid:
            raise spec.err(Where(sec, k), f"unknown key; valid keys: {', '.join(valid)}")


def _scalar(spec: StudySpec, where: Where, v: Any) -> Any:
    """One value of a grid key, checked and normalised (the factor stays a name)."""
    k = where.key

    def bad(expected: str) -> EtfflowError:
        return spec.err(where, f"expected {expected}, got {v!r}")

    def is_int(x: Any) -> bool:
        return isinstance(x, int) and not isinstance(x, bool)

    if k in ("pool", "mode", "level", "universe", "factors", "process"):
        if not isinstance(v, str) or not v.strip():
            raise bad("a non-empty string")
        v = v.strip()
        if k == "pool":  # the one parser of pool names (every command accepts the same)
            try:
                Pool.of(v)
            except EtfflowError as exc:
                raise spec.err(where, str(exc)) from None
        choices = {"mode": MODES, "level": LEVELS, "universe": UNIVERSES}
        if k in choices and v not in choices[k]:
            raise spec.err(where, f"unknown {k} {v!r}: choose one of {', '.join(choices[k])}")
        return v
    if k == "groups":
        if not is_int(v) or v < 2:
            raise bad("an integer >= 2")
        return v
    if k == "lag":
        if not is_int(v) or v < 0:
            raise bad("an integer >= 0")
        return v
    if k == "rebalance":
        if v == "month":
            return v
        if not is_int(v) or v < 1:
            raise bad('an integer >= 1 or "month"')
        return v
    if k == "direction":
        s = str(v) if is_int(v) or isinstance(v, str) else None
        if s not in DIRECTIONS:
            raise spec.err(where, f"unknown direction {v!r}: choose one of {', '.join(DIRECTIONS)}")
        return s
    if k == "benchmark":
        if not isinstance(v, str) or not v.strip():
            raise bad('"equal_weight" or an index code of index_daily (e.g. "000300.SH")')
        return v.strip()
    if k == "min_passive":
        if v == "none":
            return None
        if not (is_int(v) or isinstance(v, float)) or not 0 <= v < 1:
            raise bad('a quantile in [0, 1) or "none"')
        return float(v)
    if k == "cost_bps":
        if not (is_int(v) or isinstance(v, float)) or not v >= 0:
            raise bad("a number >= 0 (basis points per side)")
        return float(v)
    raise spec.err(where, f"unknown key; valid keys: {', '.join(GRID_KEYS)}")  # pragma: no cover


def _processing(spec: StudySpec, where: Where, level: str, process: str) -> str:
    """The processing a cell applies (``describe`` of the steps, or ``none``)."""
    try:
        steps = _default_strip(processing_for(level, process))
        plan = parse_steps(steps or "none")
        check_steps_at_level(plan, level)
    except EtfflowError as exc:
        raise spec.err(where, str(exc)) from None
    return describe(plan)


def _factors(spec: StudySpec, where: Where, name: str, level: str) -> list[str]:
    try:
        return [f.name for f in resolve(name, level=level)]
    except EtfflowError as exc:
        raise spec.err(where, str(exc)) from None


def _expand(spec: StudySpec) -> list[Cell]:
    out: list[Cell] = []
    seen: set[Cell] = set()

    def add(values: dict[str, tuple[Any, Where]]) -> None:
        level = values["level"][0]
        process = _processing(spec, values["process"][1], level, values["process"][0])
        groups = values["groups"][0] if "groups" in values else DEFAULT_GROUPS[level]
        universe = values["universe"][0] if level == "stock" else INDUSTRY_UNIVERSE
        for factor in _factors(spec, values["factors"][1], values["factors"][0], level):
            c = Cell(
                pool=values["pool"][0],
                mode=values["mode"][0],
                level=level,
                process=process,
                factor=factor,
                groups=groups,
                rebalance=values["rebalance"][0],
                direction=values["direction"][0],
                lag=values["lag"][0],
                universe=universe,
                cost_bps=values["cost_bps"][0],
                benchmark=values["benchmark"][0],
                # stocks only: an industry cell has no stock universe to filter
                min_passive=values["min_passive"][0] if level == "stock" else None,
            )
            if c not in seen:
                seen.add(c)
                out.append(c)

    base: dict[str, tuple[Any, Where]] = {k: (v, Where("defaults", k)) for k, v in DEFAULTS.items()}
    base.update({k: (v, Where("defaults", k)) for k, v in spec.defaults.items()})
    if spec.grid:
        keys = [k for k in GRID_KEYS if k in spec.grid]
        for combo in itertools.product(*(spec.grid[k] for k in keys)):
            values = dict(base)
            values.update({k: (v, Where("grid", k)) for k, v in zip(keys, combo, strict=True)})
            if "factors" not in values:
                raise spec.err(None, "no factor: give [grid] factors or [defaults] factors")
            add(values)
    for i, cell in enumerate(spec.explicit):
        values = dict(base)
        values.update({k: (v, Where(f"cells[{i}]", k)) for k, v in cell.items()})
        if "factors" not in values:
            raise spec.err(Where(f"cells[{i}]", ""), "this cell names no factor (key factors)")
        add(values)
    return out


def _table(spec: StudySpec, raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    v = raw.get(key, {})
    if not isinstance(v, dict):
        raise spec.err(Where("", key), f"expected a table ([{key}]), got {v!r}")
    return v


def _rotation(spec: StudySpec, table: Mapping[str, Any]) -> RotationParams:
    _check_keys(spec, table, ROTATION_KEYS, "rotation")
    kw: dict[str, Any] = {}
    for k, v in table.items():
        where = Where("rotation", k)
        default = getattr(RotationParams, k, None)
        if k == "start":
            try:
                kw[k] = v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))
            except ValueError:
                raise spec.err(where, f"expected a date (2021-01-04), got {v!r}") from None
        elif k in ("size_indices", "style_indices"):
            if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)):
                raise spec.err(where, f"expected two index codes, got {v!r}")
            kw[k] = tuple(v)
        elif isinstance(default, float):
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise spec.err(where, f"expected a number, got {v!r}")
            kw[k] = float(v)
        elif isinstance(default, int):
            if isinstance(v, bool) or not isinstance(v, int):
                raise spec.err(where, f"expected an integer, got {v!r}")
            kw[k] = v
        else:
            if not isinstance(v, str):
                raise spec.err(where, f"expected a string, got {v!r}")
            if k == "pool":
                try:
                    Pool.of(v)
                except EtfflowError as exc:
                    raise spec.err(where, str(exc)) from None
            kw[k] = v
    try:
        return RotationParams(**kw).check()
    except EtfflowError as exc:
        raise spec.err(Where("rotation", ""), str(exc)) from None


def load_study(
    path_or_text: str | Path,
    *,
    data: str | Path | None = None,
    preset: str | None = None,
    source: str | None = None,
) -> StudySpec:
    """Read and validate a study file (or its TOML text).

    Parameters
    ----------
    path_or_text
        A ``.toml`` file, or the TOML text itself (a string with a newline).
    data
        Dataset folder, overriding the file's ``data`` (required when the text has none).
    preset
        Name of the preset the text comes from (recorded with the study).
    source
        Name used in error messages (default: the file path, or ``<text>``).

    Raises
    ------
    EtfflowError
        Naming the file, the key and its line, on any bad key or value (module docstring).
    """
    if isinstance(path_or_text, Path) or "\n" not in str(path_or_text):
        path = Path(path_or_text)
        if not path.is_file():
            raise EtfflowError(f"no study file {path}")
        text = path.read_text(encoding="utf-8")
        folder = path.resolve().parent
        source = source or str(path)
    else:
        text = str(path_or_text)
        folder = Path.cwd()
        source = source or "<text>"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EtfflowError(f"study {source}: not valid TOML: {exc}") from None
    spec = StudySpec(
        source=source,
        text=text,
        data=Path(),
        name="",
        description="",
        preset=preset,
        grid={},
        defaults={},
        explicit=[],
        rotation=None,
    )
    _check_keys(spec, raw, TOP_KEYS, "")
    for k in ("data", "name", "description"):
        if k in raw and not isinstance(raw[k], str):
            raise spec.err(Where("", k), f"expected a string, got {raw[k]!r}")
    if data is not None:
        spec.data = Path(data)
    elif "data" in raw:
        spec.data = folder / raw["data"]
    else:
        raise spec.err(None, 'no dataset: give data = "FOLDER" (relative to the study file)')
    if not spec.data.is_dir():
        where = None if data is not None else Where("", "data")
        raise spec.err(where, f"data folder {spec.data} does not exist")
    spec.name = raw.get("name") or (Path(source).stem if source != "<text>" else "study")
    spec.description = raw.get("description", "")
    grid = _table(spec, raw, "grid")
    _check_keys(spec, grid, GRID_KEYS, "grid")
    for k, vs in grid.items():
        where = Where("grid", k)
        if not isinstance(vs, list):
            raise spec.err(where, f"a grid key takes a list of values, got {vs!r}")
        if not vs:
            raise spec.err(where, "empty list: give at least one value")
        spec.grid[k] = list(dict.fromkeys(_scalar(spec, where, v) for v in vs))
    defaults = _table(spec, raw, "defaults")
    _check_keys(spec, defaults, GRID_KEYS, "defaults")
    spec.defaults = {k: _scalar(spec, Where("defaults", k), v) for k, v in defaults.items()}
    cells = raw.get("cells", [])
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise spec.err(Where("", "cells"), "expected [[cells]] tables")
    for i, c in enumerate(cells):
        sec = f"cells[{i}]"
        _check_keys(spec, c, GRID_KEYS, sec)
        spec.explicit.append({k: _scalar(spec, Where(sec, k), v) for k, v in c.items()})
    if "rotation" in raw:
        spec.rotation = _rotation(spec, _table(spec, raw, "rotation"))
    if not spec.grid and not spec.explicit:
        raise spec.err(None, "no cells: give a [grid] with factors or [[cells]] tables")
    spec._cells = _expand(spec)
    return spec

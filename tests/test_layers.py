"""Layers import downward only: engine <- factors <- backtest <- pipeline <- cli.

Every ``import`` / ``from ... import`` of an ``etfflow`` module anywhere in the package (module
level or inside a function; ``TYPE_CHECKING`` blocks included) is read from the AST and its
layer compared with the importing module's layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "etfflow"

#: Layer of each top-level part of the package; a module may import its own layer or lower.
#: Layer 0 holds what every layer may use (errors, the version, shared helpers); the package
#: root ``etfflow/__init__.py`` is the public facade on top of everything, so no module of the
#: package may import from it.
LAYERS: dict[str, int] = {
    "__init__": 9,
    "_version": 0,
    "exceptions": 0,
    "_threads": 0,
    "_jit": 0,
    "_common": 0,
    "engine": 1,
    "data_samples": 1,
    "factors": 2,
    "backtest": 3,
    "plots": 3,
    "pipeline": 4,
    "cli": 5,
}


def part_of(module: str) -> str:
    """``etfflow.engine.store`` -> ``engine``; ``etfflow`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every etfflow import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "etfflow"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "etfflow":
                continue
            if mod == "etfflow":  # `from etfflow import engine` imports the submodule
                for a in node.names:
                    sub = (root / a.name).is_dir() or (root / f"{a.name}.py").is_file()
                    out.append((node.lineno, f"etfflow.{a.name}" if sub else "etfflow"))
            else:
                out.append((node.lineno, mod))
    return out


def upward_imports(root: Path = PACKAGE) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        here = module_name(path, root)
        src = part_of(here)
        assert src in LAYERS, f"{path}: add its part {src!r} to LAYERS"
        for line, mod in imported_modules(path, root):
            dst = part_of(mod)
            if dst not in LAYERS:
                bad.append(f"{path.relative_to(root.parent)}:{line}: unknown part {mod}")
            elif LAYERS[dst] > LAYERS[src]:
                bad.append(f"{path.relative_to(root.parent)}:{line}: {src} imports {mod} ({dst})")
    return bad


def test_no_upward_imports() -> None:
    assert upward_imports() == []


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()
    }
    assert parts <= set(LAYERS), sorted(parts - set(LAYERS))
    assert {"engine", "factors", "backtest", "pipeline", "cli"} <= parts


@pytest.mark.parametrize(
    ("source", "importer", "expect_bad"),
    [
        ("from etfflow.factors.compute import compute_factors\n", "engine/x.py", True),
        ("import etfflow.cli\n", "backtest/x.py", True),
        ("def f():\n    from etfflow.backtest.engine import evaluate\n", "factors/x.py", True),
        ("from ..backtest import engine\n", "factors/x.py", True),
        ("from etfflow import cli\n", "pipeline/x.py", True),
        ("from etfflow.engine.store import Store\n", "pipeline/x.py", False),
        ("from etfflow.exceptions import EtfflowError\n", "engine/x.py", False),
        ("from etfflow import __version__\n", "engine/x.py", True),
        ("from etfflow._version import __version__\n", "engine/x.py", False),
        ("from . import kernels\n", "factors/x.py", False),
    ],
)
def test_the_check_catches_upward_imports(tmp_path, source, importer, expect_bad) -> None:
    root = tmp_path / "etfflow"
    target = root / importer
    target.parent.mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (target.parent / "__init__.py").write_text("")
    target.write_text(source)
    for sub in ("engine", "factors", "backtest", "pipeline", "cli"):
        (root / sub).mkdir(exist_ok=True)
        (root / sub / "__init__.py").write_text("")
    assert bool(upward_imports(root)) is expect_bad

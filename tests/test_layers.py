"""The package's layers import one way: tooling > lessons > mini > core.

core (examples, training, evaluation, experiment, counting, profiles, paths, hub, progress)
imports nothing else of the course; mini (the mini world) imports the core; the lessons (one
module per notebook concept, at the top of the package) import the core, the mini world and
each other; tooling (runner, command line, catalogue, stand-ins, the scripts' plumbing) may import
everything. Every import counts, at module level or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from course_utils.core import paths

PACKAGE = paths.PACKAGE_DIR
LAYERS = ("core", "mini", "lessons", "tooling")


def layer_of(module: str) -> str:
    """The layer of a dotted module name inside course_utils."""
    parts = module.split(".")
    if len(parts) == 1:  # the package itself imports the tooling (setup, record)
        return "tooling"
    return parts[1] if parts[1] in ("core", "mini", "tooling") else "lessons"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    relative = path.relative_to(package.parent).with_suffix("")
    parts = list(relative.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path = PACKAGE) -> list[tuple[int, str]]:
    """Every course_utils name ``path`` imports: (line, dotted name)."""
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            for alias in node.names:  # ``from course_utils import lora``: the module lora
                submodule = f"{stem}.{alias.name}"
                found.append((node.lineno, submodule if is_module(submodule, root) else stem))
    return [(line, name) for line, name in found if name.split(".")[0] == "course_utils"]


def is_module(name: str, root: Path = PACKAGE) -> bool:
    target = root.parent / Path(*name.split("."))
    return target.with_suffix(".py").is_file() or (target / "__init__.py").is_file()


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_module_imports_a_layer_above_its_own(path):
    own = layer_of(module_name(path))
    if module_name(path) in ("course_utils", "course_utils.__main__"):
        return  # the package's front door: it exports the tooling's setup() and record()
    upward = [
        f"line {line}: {name} ({layer_of(name)})"
        for line, name in imported_modules(path)
        if LAYERS.index(layer_of(name)) > LAYERS.index(own)
    ]
    assert not upward, f"{module_name(path)} ({own}) imports upwards: {upward}"


def test_the_check_sees_an_upward_import(tmp_path):
    """The rule itself: a core module importing a lesson, relatively, is caught."""
    copy = tmp_path / "course_utils" / "core" / "training.py"
    copy.parent.mkdir(parents=True)
    (copy.parent / "paths.py").write_text("")
    (tmp_path / "course_utils" / "lora.py").write_text("")
    copy.write_text("from ..lora import LoRALinear\nfrom . import paths\n")
    names = [name for _, name in imported_modules(copy, tmp_path / "course_utils")]
    assert names == ["course_utils.lora", "course_utils.core.paths"]
    assert LAYERS.index(layer_of("course_utils.lora")) > LAYERS.index("core")

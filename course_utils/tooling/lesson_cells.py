"""One source for each lesson's code: the notebook cell that teaches it, kept in step with the
block of the module that the rest of the package imports.

A code cell whose first line is ``# @save course_utils/<module>.py`` (d2l's ``#@save``) holds
lesson code the package also needs. Its top-level functions and classes live in that module
between two markers that say where they come from::

    # @lesson notebooks/07_grpo.ipynb cell=07-12 sha256=1a2b3c4d5e6f
    # (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
    def group_advantages(...): ...
    # @end-lesson

``sha256`` is the text both sides had when they were last in step, so a difference can be
traced to the side that moved. ``python -m course_utils lessons --check`` (and a test) reports
every way a cell and its block differ: a definition missing, extra or renamed on one side, a
changed body (naming the side that changed and the command that copies it the right way), a
cell import the module lacks, a name the module's copy uses but does not define, a block that no
cell saves. ``python -m course_utils lessons`` copies each change the way it went (cell to
module, or module to cell) and writes nothing that is already in step.

At run time a saved cell ends with ``course_utils.use_lesson_code(...)``: from then on the
package's own functions call the cell's definitions too, so a student's edit reaches every later
cell of that notebook (and no other notebook until the edit is copied into the module).
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import importlib
import json
import re
import symtable
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..core import paths

SAVE_RE = re.compile(r"^# @save (course_utils/[\w/]+\.py)[ \t]*$")
BEGIN_RE = re.compile(
    r"^# @lesson (?P<notebook>notebooks/[\w.-]+\.ipynb) cell=(?P<cell>\S+) "
    r"sha256=(?P<stamp>[0-9a-f]{12})$"
)
END = "# @end-lesson"
HOW_TO_EDIT = (
    "# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)"
)
USE = "use_lesson_code"
SYNC = "python -m course_utils lessons"


def definitions(source: str) -> dict[str, str]:
    """Top-level functions and classes of ``source``, in order: name -> text (decorators
    included, ending in one newline)."""
    lines = source.splitlines(keepends=True)
    return {
        name: "".join(lines[first:last]).rstrip() + "\n"
        for name, (first, last) in _spans(source).items()
    }


def _spans(source: str) -> dict[str, tuple[int, int]]:
    """name -> (first line, line after the last), counted from 0, of each top-level definition."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            found[node.name] = (first, node.end_lineno)
    return found


def lesson_text(defined: dict[str, str]) -> str:
    """The definitions as one text, two blank lines apart: what a block holds."""
    return "\n\n".join(defined.values())


def stamp(text: str) -> str:
    """The short hash written in a block's marker."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class SavedCell:
    """A notebook cell marked ``# @save``: where it is, and the module it feeds."""

    notebook: Path
    index: int  # position among the notebook's cells
    cell_id: str
    module: Path
    source: str

    @property
    def where(self) -> str:
        return f"{self.notebook.name} cell {self.cell_id}"

    @property
    def defined(self) -> dict[str, str]:
        return definitions(self.source)


@dataclass(frozen=True)
class Block:
    """A module's lesson block: the definitions copied from one saved cell."""

    module: Path
    notebook: str  # as written in the marker: notebooks/<name>.ipynb
    cell_id: str
    stamp: str
    first: int  # line of the begin marker, from 0
    last: int  # line of the end marker
    text: str  # the definitions between the markers

    @property
    def defined(self) -> dict[str, str]:
        return definitions(self.text)


def saved_cells(notebook: Path, root: Path | None = None) -> list[SavedCell]:
    """The cells of ``notebook`` marked ``# @save course_utils/....py``."""
    root = root or paths.repo_root()
    found = []
    for index, cell in enumerate(json.loads(notebook.read_text())["cells"]):
        source = "".join(cell["source"])
        match = SAVE_RE.match(source.split("\n", 1)[0])
        if cell["cell_type"] == "code" and match:
            cell_id = cell.get("id", str(index))
            found.append(SavedCell(notebook, index, cell_id, root / match.group(1), source))
    return found


def blocks(module: Path) -> list[Block]:
    """The lesson blocks of ``module``; a begin marker without its end raises ValueError."""
    lines = module.read_text().splitlines(keepends=True)
    found = []
    for number, line in enumerate(lines):
        match = BEGIN_RE.match(line.rstrip("\n"))
        if not match:
            continue
        end = next((n for n in range(number + 1, len(lines)) if lines[n].rstrip() == END), None)
        if end is None:
            raise ValueError(f"{module}: the lesson block at line {number + 1} has no {END!r}")
        body = "".join(line for line in lines[number + 1 : end] if line.rstrip() != HOW_TO_EDIT)
        found.append(
            Block(
                module,
                match["notebook"],
                match["cell"],
                match["stamp"],
                number,
                end,
                body.strip("\n") + "\n",
            )
        )
    return found


def block_of(cell: SavedCell) -> Block | None:
    """The lesson block of ``cell`` in its module, if it has one."""
    for block in blocks(cell.module):
        if (Path(block.notebook).name, block.cell_id) == (cell.notebook.name, cell.cell_id):
            return block
    return None


def _package_modules(root: Path) -> list[Path]:
    return sorted((root / "course_utils").rglob("*.py"))


def _dotted(module: Path, root: Path) -> str:
    return ".".join(module.relative_to(root).with_suffix("").parts)


def _imports(source: str, package: str = "") -> set[tuple[str, str | None, str | None]]:
    """Top-level imports as (module, name, alias); relative ones made absolute from ``package``."""
    found = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import):
            found |= {(a.name, None, a.asname) for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            found |= {(base, a.name, a.asname) for a in node.names}
    return found


def _bound_names(source: str) -> set[str]:
    """Names a module binds at its top level (imports, definitions, assignments)."""
    table = symtable.symtable(source, "<module>", "exec")
    return {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}


def _globals_used(table: symtable.SymbolTable) -> set[str]:
    used = {s.get_name() for s in table.get_symbols() if s.is_global() and s.is_referenced()}
    for child in table.get_children():
        used |= _globals_used(child)
    return used


def _unbound(source: str, names: set[str]) -> set[str]:
    """Global names the definitions ``names`` of ``source`` use that nothing defines."""
    table = symtable.symtable(source, "<module>", "exec")
    used = set()
    for child in table.get_children():
        if child.get_name() in names:
            used |= _globals_used(child)
    return used - _bound_names(source) - set(dir(builtins))


def _missing_imports(cell: SavedCell, root: Path) -> list[str]:
    """The cell's imports that its module neither makes nor (for its own names) defines."""
    module_source = cell.module.read_text()
    dotted = _dotted(cell.module, root)
    package = dotted.rsplit(".", 1)[0]
    have = _imports(module_source, package)
    own = _bound_names(module_source)
    missing = []
    for base, name, alias in sorted(_imports(cell.source), key=str):
        if (base, name, alias) in have or (base == dotted and name in own):
            continue
        missing.append(f"import {base}" if name is None else f"from {base} import {name}")
    return missing


def _direction(cell: SavedCell, block: Block) -> str:
    """Which side moved since the last sync: "notebook", "module" or "both"."""
    if stamp(block.text) == block.stamp:
        return "notebook"
    if stamp(lesson_text(cell.defined)) == block.stamp:
        return "module"
    return "both"


def _body_problems(cell: SavedCell, block: Block) -> list[str]:
    ours, theirs = cell.defined, block.defined
    module = cell.module.name
    problems = []
    missing, extra = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
    if len(missing) == 1 and len(extra) == 1:
        problems.append(f"{extra[0]} in {module} is {missing[0]} in the cell: renamed?")
    else:
        problems += [f"{name} is in the cell, not in {module}" for name in missing]
        problems += [f"{name} is in {module}, not in the cell (deleted?)" for name in extra]
    problems += [
        f"{name} differs" for name in ours if name in theirs and ours[name] != theirs[name]
    ]
    if not problems and list(ours) != list(theirs):
        problems.append("the definitions are in another order")
    return problems


def _advice(side: str, module: str) -> str:
    if side == "notebook":
        return f"the cell changed: `{SYNC}` copies it into {module}"
    if side == "module":
        return f"{module} changed: `{SYNC}` copies it into the cell (or undo the edit there)"
    return (
        f"both the cell and {module} changed since they were last in step: keep one with "
        f"`{SYNC} --prefer notebook` or `--prefer module`"
    )


def differences(notebooks: list[Path] | None = None, root: Path | None = None) -> list[str]:
    """Every way the saved cells and the modules' lesson blocks disagree, in words."""
    root = root or paths.repo_root()
    notebooks = notebooks if notebooks is not None else paths.course_notebooks()
    problems = []
    cells = [cell for notebook in notebooks for cell in saved_cells(notebook, root)]
    for cell in cells:
        problems += [f"{cell.where}: {p}" for p in _cell_problems(cell, root)]
    saved = {(cell.notebook.name, cell.cell_id) for cell in cells}
    names = {cell.notebook.name for cell in cells} | {n.name for n in notebooks}
    for module in _package_modules(root):
        for block in blocks(module):
            if (
                Path(block.notebook).name in names
                and (Path(block.notebook).name, block.cell_id) not in saved
            ):
                problems.append(
                    f"{module.name} line {block.first + 1}: a lesson block from {block.notebook} "
                    f"cell {block.cell_id}, which no '# @save' cell holds: delete the block or "
                    "restore the cell"
                )
    return problems


def _cell_problems(cell: SavedCell, root: Path) -> list[str]:
    if not cell.module.is_file():
        return [f"no module {cell.module.relative_to(root)}"]
    if not cell.defined:
        return ["marked @save but defines no function or class"]
    problems = []
    block = block_of(cell)
    if block is None:
        problems.append(f"{cell.module.name} has no lesson block for this cell: `{SYNC}` adds it")
    else:
        body = _body_problems(cell, block)
        if body:
            problems.append(
                "; ".join(body) + " — " + _advice(_direction(cell, block), cell.module.name)
            )
        elif block.stamp != stamp(block.text):
            problems.append(f"{cell.module.name}'s marker has an old sha256: `{SYNC}` renews it")
    source = cell.module.read_text()
    problems += [
        f"{cell.module.name} lacks the cell's `{line}`: `{SYNC}` adds it"
        for line in _missing_imports(cell, root)
    ]
    owned = {n for b in blocks(cell.module) for n in b.defined}
    unbound = _unbound(source, owned)
    if unbound:
        problems.append(
            f"{cell.module.name}'s lesson code uses {', '.join(sorted(unbound))}, "
            "which the module never defines or imports"
        )
    twice = [n for n in cell.defined if _defined_count(source, n) > 1]
    problems += [f"{n} is defined more than once in {cell.module.name}" for n in twice]
    problems += _use_call_problems(cell)
    return problems


def _defined_count(source: str, name: str) -> int:
    return sum(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.name == name
        for node in ast.parse(source).body
    )


def _use_call(source: str) -> list[str] | None:
    """The names passed to the cell's ``use_lesson_code(...)`` call, or None without one."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == USE:
                return [a.id for a in node.args if isinstance(a, ast.Name)]
    return None


def _use_call_problems(cell: SavedCell) -> list[str]:
    called = _use_call(cell.source)
    names = list(cell.defined)
    if called is None:
        return [f"the cell does not end with `course_utils.{USE}({', '.join(names)})`"]
    if called != names:
        return [f"the cell's {USE}(...) names {', '.join(called)}, not {', '.join(names)}"]
    return []


# ----- copying the side that changed -------------------------------------------------------


def _block_lines(cell: SavedCell, text: str) -> list[str]:
    notebook = cell.notebook.relative_to(cell.notebook.parent.parent).as_posix()
    begin = f"# @lesson {notebook} cell={cell.cell_id} sha256={stamp(text)}\n"
    return [begin, HOW_TO_EDIT + "\n", text, "\n\n", END + "\n"]


def _write_block(cell: SavedCell, text: str) -> None:
    """Put ``text`` in the module's block for ``cell``; without a block, the module's own
    definitions of those names are taken out and the block goes where the first one stood."""
    source = cell.module.read_text()
    lines = source.splitlines(keepends=True)
    block = block_of(cell)
    if block is not None:
        lines[block.first : block.last + 1] = _block_lines(cell, text)
    else:
        spans = _spans(source)
        taken = sorted((spans[n] for n in definitions(text) if n in spans), reverse=True)
        where = taken[-1][0] if taken else len(lines)
        for first, last in taken:
            del lines[first:last]
        if not taken:
            lines.append("\n\n")
        lines[where:where] = _block_lines(cell, text)
    cell.module.write_text(_tidy("".join(lines)))


def _tidy(source: str) -> str:
    """At most two blank lines in a row, one newline at the end (what ruff format wants)."""
    return re.sub(r"\n{4,}", "\n\n\n", source).rstrip("\n") + "\n"


def _add_imports(cell: SavedCell, missing: list[str]) -> None:
    source = cell.module.read_text()
    tree = ast.parse(source)
    last = max(
        (n.end_lineno for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)), default=0
    )
    lines = source.splitlines(keepends=True)
    lines[last:last] = [line + "\n" for line in missing]
    cell.module.write_text("".join(lines))


def _cell_with(cell: SavedCell, text: str) -> str:
    """The cell's source with its definitions replaced by ``text`` and its use call renamed."""
    lines = cell.source.splitlines(keepends=True)
    spans = list(_spans(cell.source).values())
    first, last = spans[0][0], spans[-1][1]
    lines[first:last] = [text]
    source = "".join(lines)
    for node in ast.parse(source).body:
        call = node.value if isinstance(node, ast.Expr) else None
        if isinstance(call, ast.Call) and ast.unparse(call.func).endswith(USE):
            lines = source.splitlines(keepends=True)
            names = ", ".join(definitions(text))
            call_line = f"{ast.unparse(call.func)}({names})"
            if len(call_line) > 100:  # as ruff format writes it
                call_line = f"{ast.unparse(call.func)}(\n    {names}\n)"
            lines[node.lineno - 1 : node.end_lineno] = [call_line + "\n"]
            source = "".join(lines)
    return source.rstrip("\n")


def _write_cell(cell: SavedCell, source: str) -> None:
    nb = nbformat.read(cell.notebook, as_version=nbformat.NO_CONVERT)
    nb.cells[cell.index].source = source
    nbformat.write(nb, cell.notebook, version=nbformat.NO_CONVERT)


def _sync_cell(cell: SavedCell, prefer: str | None, root: Path) -> list[str]:
    """Bring one saved cell and its block into step; returns one line per thing written."""
    text = lesson_text(cell.defined)
    block = block_of(cell)
    written = []
    if block is None:
        _write_block(cell, text)
        written.append(f"{cell.module.name}: new lesson block from {cell.where}")
    elif block.text != text:
        side = _direction(cell, block)
        side = prefer if side == "both" else side
        if side is None:
            raise ValueError(f"{cell.where}: {_advice('both', cell.module.name)}")
        if side == "notebook":
            _write_block(cell, text)
            written.append(f"{cell.module.name}: block from {cell.where} (the cell's text)")
        else:
            _write_cell(cell, _cell_with(cell, block.text))
            _write_block(cell, block.text)
            written.append(f"{cell.where}: from {cell.module.name}'s block")
    elif block.stamp != stamp(text):
        _write_block(cell, text)
        written.append(f"{cell.module.name}: marker of {cell.where} renewed")
    missing = _missing_imports(cell, root)
    if missing:
        _add_imports(cell, missing)
        written.append(f"{cell.module.name}: {'; '.join(missing)}")
    return written


def sync(
    notebooks: list[Path] | None = None, root: Path | None = None, prefer: str | None = None
) -> list[str]:
    """Bring every saved cell and its module's block into step, copying whichever side changed
    since they last were (``prefer``, "notebook" or "module", settles a change on both sides).
    Writes nothing already in step. Returns one line per thing written."""
    if prefer not in (None, "notebook", "module"):
        raise ValueError(f"prefer={prefer!r}: choose 'notebook', 'module' or None")
    root = root or paths.repo_root()
    written = []
    for notebook in notebooks if notebooks is not None else paths.course_notebooks():
        for cell in saved_cells(notebook, root):
            if not cell.module.is_file() or not cell.defined:
                raise ValueError(f"{cell.where}: {_cell_problems(cell, root)[0]}")
            written += _sync_cell(cell, prefer, root)
    return written


# ----- at run time: the cell's definitions for the whole package -----------------------------


def owners(root: Path | None = None) -> dict[str, str]:
    """Each lesson name -> the dotted module whose block holds it."""
    root = root or Path(__file__).resolve().parents[2]
    return {
        name: _dotted(module, root)
        for module in _package_modules(root)
        for block in blocks(module)
        for name in block.defined
    }


def use_lesson_code(*definitions_: object) -> None:
    """Let the package call these definitions (a ``# @save`` cell's own) wherever it calls a
    lesson function or class of that name, for the rest of this Python session."""
    owned = owners()
    names = []
    for new in definitions_:
        name = getattr(new, "__name__", None)
        if name not in owned:
            raise ValueError(
                f"use_lesson_code: {name!r} is not lesson code; the package's lesson "
                f"code is {', '.join(sorted(owned))}"
            )
        old = getattr(importlib.import_module(owned[name]), name)
        for module in list(sys.modules.values()):
            if module.__name__.startswith("course_utils") and getattr(module, name, None) is old:
                setattr(module, name, new)
        names.append(name)
    modules = sorted({owned[n].removeprefix("course_utils.") for n in names})
    print(
        f"From here on the package runs this cell's {', '.join(names)} "
        f"(not {', '.join(modules)}'s own)."
    )

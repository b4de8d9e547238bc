"""One source for each lesson's code: the notebook cell that teaches it.

A code cell whose first line is ``# @save course_utils/<module>.py`` (d2l's ``#@save``, one cell
at a time) holds lesson code that the package also needs. Every top-level function and class of
that cell is the source; the module keeps an exact copy, so that the rest of the package (and
the tests that check it against peft, TRL, bitsandbytes and rouge_score) runs the code the
student reads. ``python -m course_utils lessons --check`` (and a test) fails when a cell and its
module differ; ``python -m course_utils lessons`` copies every saved cell's definitions into
their modules.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..core import paths

SAVE_RE = re.compile(r"^# @save (course_utils/[\w/]+\.py)[ \t]*$")


@dataclass(frozen=True)
class SavedCell:
    """A notebook cell marked ``# @save``: where it is, and the module it feeds."""

    notebook: Path
    index: int  # position among the notebook's cells
    module: Path
    source: str


def saved_cells(notebook: Path, root: Path | None = None) -> list[SavedCell]:
    """The cells of ``notebook`` marked ``# @save course_utils/....py``."""
    root = root or paths.repo_root()
    cells = json.loads(notebook.read_text())["cells"]
    found = []
    for index, cell in enumerate(cells):
        source = "".join(cell["source"])
        match = SAVE_RE.match(source.split("\n", 1)[0])
        if cell["cell_type"] == "code" and match:
            found.append(SavedCell(notebook, index, root / match.group(1), source))
    return found


def definitions(source: str) -> dict[str, tuple[int, int, str]]:
    """Top-level functions and classes of ``source``: name -> (first line, last line, text),
    lines counted from 0, decorators included."""
    lines = source.splitlines(keepends=True)
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            last = node.end_lineno
            found[node.name] = (first, last, "".join(lines[first:last]).rstrip() + "\n")
    return found


def differences(notebooks: list[Path] | None = None, root: Path | None = None) -> list[str]:
    """Every way a saved cell and its module disagree, in words (empty when they agree)."""
    problems = []
    for notebook in notebooks if notebooks is not None else paths.course_notebooks():
        for cell in saved_cells(notebook, root):
            where = f"{notebook.name}, cell {cell.index}"
            if not cell.module.is_file():
                problems.append(f"{where}: no module {cell.module}")
                continue
            ours = definitions(cell.source)
            if not ours:
                problems.append(f"{where}: marked @save but defines no function or class")
            theirs = definitions(cell.module.read_text())
            for name, (_, _, text) in ours.items():
                if name not in theirs:
                    problems.append(f"{where}: {name} is missing from {cell.module.name}")
                elif theirs[name][2] != text:
                    problems.append(f"{where}: {name} differs from {cell.module.name}'s")
    return problems


def sync(notebooks: list[Path] | None = None, root: Path | None = None) -> list[str]:
    """Copy each saved cell's definitions over the module's (the cell is the source); a name
    the module lacks is appended. Returns 'module: name' for every definition written."""
    written = []
    for notebook in notebooks if notebooks is not None else paths.course_notebooks():
        for cell in saved_cells(notebook, root):
            text = cell.module.read_text()
            for name, (_, _, new) in definitions(cell.source).items():
                theirs = definitions(text)
                if name in theirs and theirs[name][2] == new:
                    continue
                lines = text.splitlines(keepends=True)
                if name in theirs:
                    first, last, _ = theirs[name]
                    lines[first:last] = [new]
                else:
                    lines += ["\n\n", new]
                text = "".join(lines)
                written.append(f"{cell.module.name}: {name}")
            cell.module.write_text(text)
    return written

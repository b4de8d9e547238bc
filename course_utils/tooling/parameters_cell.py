"""A notebook's parameters cell, read and kept in step with the catalogue.

The cell (tagged ``parameters`` for papermill) is one line per parameter,

    TRAIN_STEPS = None  # optimizer steps per method, 10 to 5000 (None: mini 200, t4 300)

with ``PROFILE`` and ``SEED`` first, then the catalogue's names in the catalogue's order. Names
and default values are written only here; the comment is generated from the catalogue
(``Param.comment``). ``python -m course_utils params`` rewrites the comments, ``--check`` and the
tests compare them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from .catalog import NotebookSpec, spec_for
from .params import ParameterError, check

FIXED_COMMENTS = {
    "PROFILE": '"auto" (t4 with a CUDA GPU, else mini) | "t4" | "mini"',
    "SEED": "data order, sampling, initialisation: 0 to 2**32 - 1",
}
_LINE = re.compile(r"^(?P<name>[A-Za-z_]\w*) = (?P<value>.+?)(?:  # (?P<comment>.*))?$")


@dataclass(frozen=True)
class Line:
    """One ``NAME = value  # comment`` line of a parameters cell."""

    name: str
    value: str  # the Python literal as written
    comment: str | None


def expected_comment(spec: NotebookSpec, name: str) -> str:
    """The comment the catalogue gives ``name``."""
    return FIXED_COMMENTS[name] if name in FIXED_COMMENTS else spec.params[name].comment()


def parse(source: str) -> list[Line]:
    """The cell's lines (blank lines skipped); anything else than ``NAME = literal`` is an error."""
    lines = []
    for number, text in enumerate(source.splitlines(), 1):
        if not text.strip():
            continue
        match = _LINE.match(text)
        if match is None:
            raise ValueError(f"line {number} is not `NAME = value  # comment`: {text!r}")
        try:
            ast.literal_eval(match["value"])
        except (ValueError, SyntaxError) as exc:
            raise ValueError(f"line {number}: {match['value']!r} is not a Python literal") from exc
        lines.append(Line(match["name"], match["value"], match["comment"]))
    return lines


def problems(source: str, spec: NotebookSpec) -> list[str]:
    """What is wrong with a parameters cell, measured against the catalogue (empty: nothing)."""
    try:
        lines = parse(source)
    except ValueError as exc:
        return [str(exc)]
    found = []
    names = [line.name for line in lines]
    wanted = ["PROFILE", "SEED", *spec.params]
    if names != wanted:
        found.append(f"declares {names}, the catalogue wants {wanted} (in this order)")
    for line in lines:
        if line.name not in wanted:
            continue
        if (line.value + (line.comment or "")).count("=") or "#" in line.value:
            # papermill reads the cell too (for `--help-notebook`), one `=` and `#` a line
            found.append(f"{line.name}: papermill cannot read a line with another '=' or '#'")
        want = expected_comment(spec, line.name)
        if line.comment != want:
            found.append(f"{line.name}: comment {line.comment!r}, the catalogue says {want!r}")
        if line.name in spec.params:
            try:
                check(line.name, ast.literal_eval(line.value), spec.params[line.name])
            except ParameterError as exc:
                found.append(f"default breaks its own rule: {exc}")
    return found


def rewrite(source: str, spec: NotebookSpec) -> str:
    """The cell with every known parameter's comment replaced by the catalogue's."""
    out = []
    for text in source.splitlines():
        match = _LINE.match(text)
        known = match is not None and (
            match["name"] in spec.params or match["name"] in FIXED_COMMENTS
        )
        if known:
            text = f"{match['name']} = {match['value']}  # {expected_comment(spec, match['name'])}"
        out.append(text)
    return "\n".join(out)


def find_cell(nb) -> object:
    """The notebook's one cell tagged ``parameters``."""
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"{len(tagged)} cells are tagged 'parameters'; a notebook needs one")
    return tagged[0]


def rewrite_notebooks(paths: list[Path], check_only: bool = False) -> list[Path]:
    """Rewrite the parameters cells' comments of ``paths`` from the catalogue; returns the
    notebooks that changed (with ``check_only``: that are out of date, changing nothing)."""
    import nbformat

    changed = []
    for path in paths:
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        cell = find_cell(nb)
        fixed = rewrite(cell.source, spec_for(path.stem))
        if fixed != cell.source:
            changed.append(path)
            if not check_only:
                cell.source = fixed
                nbformat.write(nb, path, version=nbformat.NO_CONVERT)
    return changed

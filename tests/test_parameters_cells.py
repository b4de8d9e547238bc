"""Each parameter is written once: the notebooks' parameters cells agree with the catalogue."""

from __future__ import annotations

import re

import nbformat
import pytest

from course_utils.core import paths
from course_utils.tooling import catalog, cli, parameters_cell
from course_utils.tooling.catalog import NotebookSpec
from course_utils.tooling.params import Param

NOTEBOOKS = paths.course_notebooks()
SPEC = NotebookSpec(
    "97_cells",
    "t",
    params={"STEPS": Param("int", 1, 100, help="steps", mini=10, t4=50), "FLAG": Param("bool")},
)
GOOD = """PROFILE = "auto"  # "auto" (t4 with a CUDA GPU, else mini) | "t4" | "mini"
SEED = 0  # data order, sampling, initialisation: 0 to 2**32 - 1

STEPS = None  # steps: 1 to 100; None: 10 (mini), 50 (t4)
FLAG = True  # True or False"""


def read(path):
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_cell_declares_the_catalogue_names_with_the_catalogue_comments(path):
    cell = parameters_cell.find_cell(read(path))
    assert parameters_cell.problems(cell.source, catalog.spec_for(path.stem)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_setup_follows_the_cell_and_repeats_no_parameter(path):
    nb = read(path)
    cell = parameters_cell.find_cell(nb)
    after = nb.cells[nb.cells.index(cell) + 1]
    assert after.source == f'cfg = course_utils.setup("{path.stem}", globals())'
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and c is not cell)
    for name in catalog.spec_for(path.stem).params:
        assert not re.search(rf"(?<![\w.]){name}\s*=(?!=)", code), (
            f"{name} assigned outside its cell"
        )


def test_a_parameter_several_notebooks_share_is_declared_once():
    declared = [
        (f"{spec.stem}.{name}", rule)
        for spec in catalog.NOTEBOOKS.values()
        for name, rule in spec.params.items()
    ]
    copies = [
        (where, other)
        for index, (where, rule) in enumerate(declared)
        for other, same in declared[index + 1 :]
        if same == rule and same is not rule
    ]
    assert copies == [], "declare these once, as a constant in catalog.py"


def test_every_notebook_opens_with_the_same_short_colab_cell():
    first_code = {
        p.stem: next(c for c in read(p).cells if c.cell_type == "code").source for p in NOTEBOOKS
    }
    assert len(set(first_code.values())) == 1, "the Colab set-up cells differ"
    assert len(next(iter(first_code.values())).splitlines()) <= 20


def test_a_good_cell_has_no_problems():
    assert parameters_cell.problems(GOOD, SPEC) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda s: s.replace("; None: 10 (mini), 50 (t4)", ""), "STEPS: comment"),
        (lambda s: s.replace("FLAG = True  # True or False", ""), "the catalogue wants"),
        (lambda s: s + "\nEXTRA = 1  # what", "the catalogue wants"),
        (lambda s: s.replace("FLAG = True", "FLAG = 3"), "FLAG = 3 is not allowed"),
        (lambda s: s.replace("STEPS = None", "STEPS = 0"), "STEPS = 0 is not allowed"),
        (lambda s: s + "\nprint('hello')", "is not `NAME = value"),
        (lambda s: s.replace("STEPS = None", "STEPS = range(3)"), "not a Python literal"),
        (lambda s: s.replace("# True or False", "# True or False (x = 1)"), "papermill cannot"),
    ],
)
def test_problems_are_found(change, problem):
    found = parameters_cell.problems(change(GOOD), SPEC)
    assert any(problem in p for p in found), found


def test_rewrite_restores_the_comments_and_keeps_the_values():
    stale = GOOD.replace("steps: 1 to 100", "steps: 1 to 99").replace(
        "FLAG = True  # True or False", "FLAG = False  # old"
    )
    fixed = parameters_cell.rewrite(stale, SPEC)
    assert fixed == GOOD.replace("FLAG = True", "FLAG = False")
    assert parameters_cell.problems(fixed, SPEC) == []


def test_params_command_checks_the_course(capsys):
    assert cli.main(["params", "--check"]) == 0
    assert "match the catalogue" in capsys.readouterr().out

"""Each lesson's code has one source, the notebook cell that teaches it (``# @save``)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.core import paths
from course_utils.tooling import lesson_cells

NOTEBOOKS = paths.course_notebooks()

#: What issue 20 asked to see written out, notebook by notebook.
TAUGHT_IN_CELLS = {
    "01": {"l2sp_penalty", "masked_loss", "training_step"},
    "02": {"ngrams", "rouge_n", "lcs_length", "rouge_l"},
    "03": {"SoftPrompt", "BottleneckAdapter"},
    "04": {"LoRALinear"},
    "05": {"absmax_quantize", "zeropoint_quantize", "nf4_codebook", "nf4_quantize", "budgets"},
    "06": {"bradley_terry_loss", "dpo_loss"},
    "07": {"group_advantages", "per_token_kl", "clipped_objective", "grpo_loss"},
}


def _code(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def test_every_saved_cell_matches_its_module():
    assert lesson_cells.differences() == []


@pytest.mark.parametrize("number", sorted(TAUGHT_IN_CELLS))
def test_the_lessons_core_is_written_in_its_notebook(number):
    notebook = next(p for p in NOTEBOOKS if p.name.startswith(number))
    defined = set()
    for cell in lesson_cells.saved_cells(notebook):
        defined |= set(lesson_cells.definitions(cell.source))
    assert TAUGHT_IN_CELLS[number] <= defined, TAUGHT_IN_CELLS[number] - defined


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_runs_on_its_cells_not_on_the_packages_copy(notebook):
    code = "\n".join(_code(notebook))
    assert "inspect.getsource" not in code
    for cell in lesson_cells.saved_cells(notebook):
        module = cell.module.stem
        for name in lesson_cells.definitions(cell.source):
            assert not re.search(rf"\b{module}\.{name}\b", code), f"{module}.{name} is used"
            imported = re.findall(rf"from course_utils\.{module} import ([^\n]+)", code)
            assert not any(re.search(rf"\b{name}\b", line) for line in imported), name


def _tiny_course(tmp_path: Path, cell: str, module: str) -> Path:
    (tmp_path / "course_utils").mkdir(parents=True)
    (tmp_path / "course_utils" / "lesson.py").write_text(module)
    notebook = tmp_path / "01_tiny.ipynb"
    cells = [{"cell_type": "code", "metadata": {}, "outputs": [], "source": [cell]}]
    notebook.write_text(json.dumps({"cells": cells}))
    return notebook


CELL = "# @save course_utils/lesson.py\nimport math\n\n\ndef area(r: float) -> float:\n    return math.pi * r * r\n\n\nprint(area(1))\n"  # noqa: E501
MODULE = '"""A lesson."""\n\nimport math\n\n\ndef area(r: float) -> float:\n    return 3.14 * r * r\n\n\ndef other() -> int:\n    return 1\n'  # noqa: E501


def test_a_changed_cell_is_reported_and_sync_copies_it(tmp_path):
    notebook = _tiny_course(tmp_path, CELL, MODULE)
    assert lesson_cells.differences([notebook], tmp_path) == [
        "01_tiny.ipynb, cell 0: area differs from lesson.py's"
    ]
    assert lesson_cells.sync([notebook], tmp_path) == ["lesson.py: area"]
    module = (tmp_path / "course_utils" / "lesson.py").read_text()
    assert "return math.pi * r * r" in module and "def other() -> int:" in module
    assert lesson_cells.differences([notebook], tmp_path) == []


def test_a_definition_missing_from_the_module_is_reported_and_appended(tmp_path):
    notebook = _tiny_course(tmp_path, CELL, '"""A lesson."""\n')
    assert lesson_cells.differences([notebook], tmp_path) == [
        "01_tiny.ipynb, cell 0: area is missing from lesson.py"
    ]
    lesson_cells.sync([notebook], tmp_path)
    assert lesson_cells.differences([notebook], tmp_path) == []


def test_a_saved_cell_without_definitions_or_module_is_reported(tmp_path):
    notebook = _tiny_course(tmp_path, "# @save course_utils/lesson.py\nx = 1\n", MODULE)
    assert "defines no function or class" in lesson_cells.differences([notebook], tmp_path)[0]
    notebook = _tiny_course(tmp_path / "b", "# @save course_utils/gone.py\ndef f(): ...\n", "")
    assert "no module" in lesson_cells.differences([notebook], tmp_path / "b")[0]


def test_the_check_command_passes_on_the_course():
    done = subprocess.run(
        [sys.executable, "-m", "course_utils", "lessons", "--check"],
        capture_output=True,
        text=True,
        cwd=paths.repo_root(),
    )
    assert done.returncode == 0, done.stdout + done.stderr

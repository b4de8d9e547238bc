"""Each lesson's code has one source, the notebook cell that teaches it (``# @save``), kept in
step with a marked block of its module; the package runs the cell's version once it has run."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import course_utils
from course_utils import rouge
from course_utils.core import paths
from course_utils.tooling import lesson_cells

NOTEBOOKS = paths.course_notebooks()
LESSONS = [p for p in NOTEBOOKS if not p.name.startswith("00")]  # 00 checks the set-up

#: What issue 20 asked to see written out, notebook by notebook.
TAUGHT_IN_CELLS = {
    "01": {"l2sp_penalty", "masked_loss", "training_step"},
    "02": {"ngrams", "rouge_n", "lcs_length", "rouge_l", "attention_masks"},
    "03": {"SoftPrompt", "BottleneckAdapter"},
    "04": {"LoRALinear"},
    "05": {"absmax_quantize", "zeropoint_quantize", "nf4_codebook", "nf4_quantize", "budgets"},
    "06": {"bradley_terry_loss", "dpo_loss"},
    "07": {
        "group_advantages",
        "per_token_kl",
        "clipped_objective",
        "grpo_loss",
        "exact_answer",
        "numeric_answer",
        "brevity_reward",
    },
    "08": {"best_of_n", "best_of_n_kl", "best_of_n_distribution"},
    "09": {
        "bootstrap_interval",
        "quantile",
        "minimum_detectable_difference",
        "word_ngrams",
        "overlap_share",
    },
}


def _code(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def test_every_saved_cell_matches_its_module():
    assert lesson_cells.differences() == []


def test_every_lesson_notebook_is_listed_here():
    assert {p.name[:2] for p in LESSONS} == set(TAUGHT_IN_CELLS)


@pytest.mark.parametrize("notebook", LESSONS, ids=lambda p: p.stem)
def test_the_lessons_core_is_written_in_its_notebook(notebook):
    defined = set()
    for cell in lesson_cells.saved_cells(notebook):
        defined |= set(cell.defined)
    wanted = TAUGHT_IN_CELLS[notebook.name[:2]]
    assert wanted <= defined, wanted - defined


@pytest.mark.parametrize("notebook", LESSONS, ids=lambda p: p.stem)
def test_the_notebook_says_what_an_edit_reaches(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    prose = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "*What an edit here reaches:*" in prose
    for cell in lesson_cells.saved_cells(notebook):
        assert cell.module.relative_to(paths.repo_root()).as_posix() in prose


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_runs_on_its_cells_not_on_the_packages_copy(notebook):
    code = "\n".join(_code(notebook))
    assert "inspect.getsource" not in code
    for cell in lesson_cells.saved_cells(notebook):
        module = cell.module.stem
        for name in cell.defined:
            assert not re.search(rf"\b{module}\.{name}\b", code), f"{module}.{name} is used"
            imported = re.findall(rf"from course_utils\.{module} import ([^\n]+)", code)
            assert not any(re.search(rf"\b{name}\b", line) for line in imported), name


def _late_bound_problems(source: str, owned: set[str]) -> list[str]:
    """Places where a module captures a lesson name once, at import or definition time (a default
    value, a class attribute, a from-import), so that a cell's version would never reach it."""
    found = []
    for node in ast.walk(ast.parse(source)):
        values: list[ast.AST] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            values = [*node.args.defaults, *(d for d in node.args.kw_defaults if d)]
        elif isinstance(node, ast.ClassDef):
            values = [s.value for s in node.body if isinstance(s, ast.AnnAssign | ast.Assign)]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            found += [
                f"line {node.lineno}: imports {a.name}" for a in node.names if a.name in owned
            ]
        for value in filter(None, values):
            for leaf in ast.walk(value):
                name = getattr(leaf, "id", None) or getattr(leaf, "attr", None)
                if name in owned:
                    found.append(f"line {value.lineno}: {name} bound once")
    return found


def test_the_package_calls_the_lesson_code_in_use_everywhere():
    owned = set(lesson_cells.owners())
    problems = {}
    for module in sorted((paths.repo_root() / "course_utils").rglob("*.py")):
        found = _late_bound_problems(module.read_text(), owned)
        if found:
            problems[module.name] = found
    assert problems == {}


def test_use_lesson_code_reaches_the_packages_own_callers(capsys):
    original = rouge.rouge_n

    def rouge_n(prediction, reference, n):  # a student's edit: everything scores 1
        return rouge.PRF(1.0, 1.0, 1.0)

    try:
        course_utils.use_lesson_code(rouge_n)
        assert rouge.score_pair("a b", "c d")["rouge1"].fmeasure == 1.0
        assert "this cell's rouge_n (not rouge's own)" in capsys.readouterr().out
    finally:
        course_utils.use_lesson_code(original)
    assert rouge.score_pair("a b", "c d")["rouge1"].fmeasure == 0.0
    with pytest.raises(ValueError, match="'score_pair' is not lesson code"):
        course_utils.use_lesson_code(rouge.score_pair)


# ----- the check and the sync on a course of one notebook and one module ---------------------

CELL = (
    "# @save course_utils/lesson.py\n"
    "import math\n\n\n"
    "def area(r: float) -> float:\n    return math.pi * r * r\n\n\n"
    "def volume(r: float) -> float:\n    return area(r) * r\n\n\n"
    "course_utils.use_lesson_code(area, volume)"
)
MODULE = '"""A lesson."""\n\nimport math\n\n\ndef other() -> int:\n    return 1\n'


def _course(tmp_path: Path, cell: str = CELL, module: str = MODULE) -> Path:
    (tmp_path / "course_utils").mkdir(parents=True, exist_ok=True)
    (tmp_path / "course_utils" / "lesson.py").write_text(module)
    (tmp_path / "notebooks").mkdir(exist_ok=True)
    notebook = tmp_path / "notebooks" / "01_tiny.ipynb"
    cells = [{"cell_type": "code", "id": "c1", "metadata": {}, "outputs": [], "source": cell}]
    meta = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    notebook.write_text(json.dumps(meta))
    assert lesson_cells.sync([notebook], tmp_path)  # a new block
    return notebook


def _module(root: Path) -> Path:
    return root / "course_utils" / "lesson.py"


def _edit_module(root: Path, old: str, new: str) -> None:
    _module(root).write_text(_module(root).read_text().replace(old, new))


def _edit_cell(notebook: Path, old: str, new: str) -> None:
    data = json.loads(notebook.read_text())
    data["cells"][0]["source"] = "".join(data["cells"][0]["source"]).replace(old, new)
    notebook.write_text(json.dumps(data))


def _check(notebook: Path, root: Path) -> str:
    return "\n".join(lesson_cells.differences([notebook], root))


def test_a_new_cell_gets_a_marked_block_and_nothing_is_rewritten_when_in_step(tmp_path):
    notebook = _course(tmp_path)
    text = _module(tmp_path).read_text()
    assert "# @lesson notebooks/01_tiny.ipynb cell=c1 sha256=" in text
    assert text.index("def other") < text.index("# @lesson") < text.index("# @end-lesson")
    assert _check(notebook, tmp_path) == ""
    before = (_module(tmp_path).stat().st_mtime_ns, notebook.stat().st_mtime_ns)
    assert lesson_cells.sync([notebook], tmp_path) == []
    assert (_module(tmp_path).stat().st_mtime_ns, notebook.stat().st_mtime_ns) == before


def test_a_changed_cell_is_copied_into_the_module(tmp_path):
    notebook = _course(tmp_path)
    _edit_cell(notebook, "math.pi * r * r", "3.14 * r * r")
    assert (
        "area differs — the cell changed: `python -m course_utils lessons` copies it into lesson.py"
        in _check(notebook, tmp_path)
    )
    assert lesson_cells.sync([notebook], tmp_path) == [
        "lesson.py: block from 01_tiny.ipynb cell c1 (the cell's text)"
    ]
    assert "return 3.14 * r * r" in _module(tmp_path).read_text()
    assert _check(notebook, tmp_path) == ""


def test_an_edit_of_the_module_is_named_and_copied_into_the_cell_not_overwritten(tmp_path):
    notebook = _course(tmp_path)
    _edit_module(tmp_path, "math.pi * r * r", "math.pi * r**2")
    assert "lesson.py changed: `python -m course_utils lessons` copies it into the cell" in _check(
        notebook, tmp_path
    )
    lesson_cells.sync([notebook], tmp_path)
    cell = "".join(json.loads(notebook.read_text())["cells"][0]["source"])
    assert "return math.pi * r**2" in cell and cell.startswith("# @save course_utils/lesson.py")
    assert "return math.pi * r**2" in _module(tmp_path).read_text()
    assert _check(notebook, tmp_path) == ""


def test_edits_on_both_sides_are_not_settled_without_a_choice(tmp_path):
    notebook = _course(tmp_path)
    _edit_module(tmp_path, "math.pi * r * r", "math.pi * r**2")
    _edit_cell(notebook, "math.pi * r * r", "3.14 * r * r")
    assert "--prefer notebook" in _check(notebook, tmp_path)
    with pytest.raises(ValueError, match="both the cell and lesson.py changed"):
        lesson_cells.sync([notebook], tmp_path)
    lesson_cells.sync([notebook], tmp_path, prefer="notebook")
    assert "3.14 * r * r" in _module(tmp_path).read_text() and _check(notebook, tmp_path) == ""


def test_a_renamed_definition_is_reported_and_does_not_linger(tmp_path):
    notebook = _course(tmp_path)
    _edit_cell(notebook, "def volume(", "def cylinder(")
    _edit_cell(notebook, "use_lesson_code(area, volume)", "use_lesson_code(area, cylinder)")
    assert "volume in lesson.py is cylinder in the cell: renamed?" in _check(notebook, tmp_path)
    lesson_cells.sync([notebook], tmp_path)
    text = _module(tmp_path).read_text()
    assert "def cylinder(" in text and "def volume(" not in text
    assert _check(notebook, tmp_path) == ""


def test_a_deleted_definition_is_reported_as_extra(tmp_path):
    notebook = _course(tmp_path)
    _edit_cell(notebook, "def volume(r: float) -> float:\n    return area(r) * r\n", "")
    _edit_cell(notebook, "use_lesson_code(area, volume)", "use_lesson_code(area)")
    assert "volume is in lesson.py, not in the cell (deleted?)" in _check(notebook, tmp_path)
    lesson_cells.sync([notebook], tmp_path)
    assert "def volume(" not in _module(tmp_path).read_text()


def test_an_import_the_module_lacks_is_reported_and_added(tmp_path):
    notebook = _course(tmp_path, module='"""A lesson."""\n\n\ndef other() -> int:\n    return 1\n')
    _module(tmp_path).write_text(_module(tmp_path).read_text().replace("import math\n", ""))
    problems = _check(notebook, tmp_path)
    assert "lesson.py lacks the cell's `import math`" in problems
    assert (
        "lesson.py's lesson code uses math, which the module never defines or imports" in problems
    )
    lesson_cells.sync([notebook], tmp_path)
    assert "import math\n" in _module(tmp_path).read_text() and _check(notebook, tmp_path) == ""


def test_a_block_that_no_cell_saves_is_reported(tmp_path):
    notebook = _course(tmp_path)
    _edit_cell(notebook, "# @save course_utils/lesson.py\n", "")
    assert (
        "a lesson block from notebooks/01_tiny.ipynb cell c1, which no '# @save' cell holds"
        in _check(notebook, tmp_path)
    )


def test_a_definition_left_twice_in_the_module_is_reported(tmp_path):
    notebook = _course(tmp_path)
    _module(tmp_path).write_text(_module(tmp_path).read_text() + "\n\ndef area(r):\n    return 0\n")
    assert "area is defined more than once in lesson.py" in _check(notebook, tmp_path)


def test_the_use_call_must_name_the_cells_definitions(tmp_path):
    notebook = _course(tmp_path)
    _edit_cell(notebook, "use_lesson_code(area, volume)", "use_lesson_code(area)")
    assert "the cell's use_lesson_code(...) names area, not area, volume" in _check(
        notebook, tmp_path
    )


def test_a_saved_cell_without_definitions_or_module_is_reported(tmp_path):
    notebook = _course(tmp_path)
    _edit_cell(notebook, CELL, "# @save course_utils/lesson.py\nx = 1\n")
    assert "defines no function or class" in _check(notebook, tmp_path)
    _edit_cell(notebook, "course_utils/lesson.py", "course_utils/gone.py")
    assert "no module course_utils/gone.py" in _check(notebook, tmp_path)


def test_the_check_command_passes_on_the_course():
    done = subprocess.run(
        [sys.executable, "-m", "course_utils", "lessons", "--check"],
        capture_output=True,
        text=True,
        cwd=paths.repo_root(),
    )
    assert done.returncode == 0, done.stdout + done.stderr

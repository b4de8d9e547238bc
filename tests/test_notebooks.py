"""Every notebook executed through the runner in the mini profile, and what each one teaches."""

from __future__ import annotations

import json

import pytest

from course_utils.core import numerics, paths
from course_utils.tooling import seeds
from course_utils.tooling.results import CLAIM_PREFIX

pytestmark = pytest.mark.notebook


def test_every_notebook_ran_ok(course_run):
    summary = json.loads((course_run / "summary.json").read_text())
    stems = [p.stem for p in paths.course_notebooks()]
    assert sorted(row["notebook"] for row in summary) == stems
    failed = {row["notebook"]: row["error"] for row in summary if row["status"] != "ok"}
    assert not failed
    for stem in stems:
        assert (course_run / f"{stem}.ipynb").exists()
    assert (course_run / "summary.md").exists()


def test_00_setup_check(course_run):
    r = json.loads((course_run / "00_setup_check.results.json").read_text())
    assert r["checks_failed"] == 0
    assert r["profile"] == "mini"
    assert r["mini_models_ok"] is True


def test_every_solution_ran_in_the_test_run(course_run):
    import nbformat

    for path in paths.course_notebooks():
        executed = nbformat.read(course_run / path.name, as_version=4)
        solutions = [c for c in executed.cells if "solution" in c.metadata.get("tags", [])]
        assert all(c.cell_type == "code" and c.execution_count for c in solutions), path.stem


def test_no_notebook_prints_more_than_fifteen_lines_of_records(course_run):
    """record() is silent; each notebook ends with one compact block of what it recorded."""
    import nbformat

    from course_utils.tooling.results import MAX_LINES

    for path in paths.course_notebooks():
        executed = nbformat.read(course_run / path.name, as_version=4)
        text = "".join(
            o.get("text", "")
            for c in executed.cells
            if c.cell_type == "code"
            for o in c.outputs
            if o.get("output_type") == "stream"
        )
        assert "[recorded]" not in text, path.stem
        blocks = text.split("values recorded (all of them")
        assert len(blocks) == 2, f"{path.stem}: one block of recorded values"
        lines = 1  # the header
        for line in blocks[1].split("\n")[1:]:
            if " · " not in line and not line.endswith(" more"):
                break
            lines += 1
        assert lines <= MAX_LINES, path.stem


def test_no_output_holds_a_warning_or_a_stderr_line(course_run):
    """Library noise (a warning, a progress bar, a logger line on stderr) is not for students."""
    import nbformat

    for path in paths.course_notebooks():
        executed = nbformat.read(course_run / path.name, as_version=4)
        for index, cell in enumerate(executed.cells):
            for output in cell.get("outputs", []):
                text = output.get("text", "")
                where = f"{path.stem}, cell {index}"
                assert output.get("name") != "stderr", f"{where} wrote to stderr: {text[:300]}"
                assert "Warning" not in text, f"{where} printed a warning: {text[:300]}"


def test_the_set_up_cell_prints_three_lines(course_run):
    import nbformat

    for path in paths.course_notebooks():
        executed = nbformat.read(course_run / path.name, as_version=4)
        [cell] = [c for c in executed.cells if "course_utils.setup(" in c.source]
        text = "".join(o.get("text", "") for o in cell.outputs)
        lines = text.strip().splitlines()
        assert len(lines) == 3, f"{path.stem}: {text}"
        assert lines[1].startswith("CPU kernels: "), path.stem
        if numerics.wanted():
            assert "AVX2 kernels, pinned:" in lines[1], path.stem
        assert lines[2].startswith("parameters: the notebook's defaults"), path.stem


def test_every_check_of_every_notebook_holds(course_run):
    """What the prose claims, the run shows: every ``course_utils.check`` held."""
    failed = {}
    for path in paths.course_notebooks():
        values = json.loads((course_run / f"{path.stem}.results.json").read_text())
        failed[path.stem] = [k for k, v in values.items() if k.startswith(CLAIM_PREFIX) and not v]
    assert {stem: keys for stem, keys in failed.items() if keys} == {}


@pytest.mark.parametrize("notebook", paths.course_notebooks(), ids=lambda p: p.stem)
def test_every_check_holds_at_seeds_1_and_2_too(course_run, notebook):
    values = json.loads((course_run / f"{notebook.stem}.results.json").read_text())
    assert seeds.problems(notebook, seeds.checks_of(values)) == []

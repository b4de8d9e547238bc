"""Every notebook executed through the runner in the mini profile, and what each one teaches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_utils.tooling import paths

pytestmark = pytest.mark.notebook


def results(out: Path, stem: str) -> dict:
    return json.loads((out / f"{stem}.results.json").read_text())


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
    r = results(course_run, "00_setup_check")
    assert r["checks_failed"] == 0
    assert r["profile"] == "mini"
    assert r["mini_models_ok"] is True


def test_every_solution_ran_in_the_test_run(course_run):
    import nbformat

    for path in paths.course_notebooks():
        executed = nbformat.read(course_run / path.name, as_version=4)
        solutions = [c for c in executed.cells if "solution" in c.metadata.get("tags", [])]
        assert all(c.cell_type == "code" and c.execution_count for c in solutions), path.stem

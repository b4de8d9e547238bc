"""The record of the checks at seeds 1 and 2, and what makes it stale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_utils.core import paths
from course_utils.tooling import reference, seeds

CHECKS = {"claim_a_holds": True, "claim_b_holds": True}


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(paths, "repo_root", lambda: tmp_path)
    (tmp_path / "reference").mkdir()
    reference_values = {"notebooks": {"01_a": {"acc": 0.5, **CHECKS}}}
    reference.reference_file().write_text(json.dumps(reference_values))
    notebook = tmp_path / "01_a.ipynb"
    cells = [{"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": []}]
    notebook.write_text(json.dumps({"cells": cells}))
    entry = {
        "code": seeds.code_hash(notebook),
        "reference": seeds.reference_hash("01_a"),
        "seeds": {"1": dict(CHECKS), "2": dict(CHECKS)},
    }
    seeds.record_file().write_text(json.dumps({"notebooks": {"01_a": entry}}))
    return notebook


def _edit_record(change) -> None:
    data = json.loads(seeds.record_file().read_text())
    change(data["notebooks"]["01_a"])
    seeds.record_file().write_text(json.dumps(data))


def test_a_current_record_whose_checks_hold_passes(course):
    assert seeds.problems(course, CHECKS) == []


def test_a_failing_check_at_another_seed_is_named(course):
    _edit_record(lambda e: e["seeds"]["2"].update(claim_b_holds=False))
    assert seeds.problems(course, CHECKS) == ["seed 2: claim_b_holds does not hold"]


def test_an_edited_notebook_or_a_moved_reference_asks_for_a_new_run(course):
    course.write_text(course.read_text().replace("x = 1", "x = 2"))
    assert seeds.problems(course, CHECKS) == [
        "its code changed since its seeds ran: python -m course_utils seeds 01"
    ]
    _edit_record(lambda e: e.update(code=seeds.code_hash(course)))
    reference.reference_file().write_text(json.dumps({"notebooks": {"01_a": {"acc": 0.6}}}))
    assert "its seed-0 reference moved" in seeds.problems(course, CHECKS)[0]


def test_a_check_that_only_seed_0_ran_is_missing_at_the_others(course):
    more = {**CHECKS, "claim_c_holds": True}
    assert seeds.problems(course, more) == [
        f"seed {s} ran other checks than seed 0: python -m course_utils seeds 01" for s in (1, 2)
    ]


def test_without_a_record_the_command_is_named(course):
    seeds.record_file().unlink()
    assert seeds.problems(course, CHECKS) == [
        "no run of its seeds 1 and 2: python -m course_utils seeds 01"
    ]

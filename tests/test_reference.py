"""The reference run (reference/mini-seed0.json): the test run must reproduce it exactly, and
``compare`` says so in one line, naming each value that moved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_utils.core import paths
from course_utils.tooling import reference
from course_utils.tooling.cli import main


@pytest.mark.notebook
def test_the_test_run_reproduces_the_reference_exactly(course_run):
    result = reference.compare(course_run)
    assert result.reproduced, (
        result.verdict()
        + "\n"
        + "\n".join(result.details(50))
        + "\nIf the change meant to move these numbers, make this run the reference in the same "
        "commit: python -m course_utils compare OUT --update (OUT: COURSE_TEST_OUTPUTS)"
    )
    assert not result.skipped
    assert {p.stem for p in paths.course_notebooks()} == set(reference.read()["notebooks"])


def test_the_reference_holds_no_machine_measurement():
    for stem, values in reference.read()["notebooks"].items():
        timed = [key for key in values if reference.MACHINE_KEY.search(key)]
        assert not timed, f"{stem} records machine measurements in the reference: {timed}"


def write_run(folder: Path, results: dict, **row) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    defaults = {
        "status": "ok",
        "profile": "mini",
        "parameters": {"PROFILE": "mini"},
        "seconds": 80.0,
        "peak_mb": 900.0,
        "alone": False,
        "machine": "a laptop",
        "versions": "torch 2",
        "finished": "2026-12-02T01:00:00+00:00",
    }
    rows = [
        {"notebook": stem, "results": values, "solutions": True, **defaults, **row}
        for stem, values in results.items()
    ]
    (folder / "summary.json").write_text(json.dumps(rows))
    return folder


REFERENCE = {"notebooks": {"01_a": {"acc": 0.5, "n": 3}, "02_b": {"acc": 0.25}}}


def test_an_identical_run_is_reproduced_and_seconds_do_not_count(tmp_path):
    run = write_run(tmp_path, {"01_a": {"acc": 0.5, "n": 3, "train_seconds": 9.1}})
    result = reference.compare(run, REFERENCE)
    assert result.reproduced and result.compared == 2
    assert result.verdict().startswith("Reproduced the reference run")


def test_a_moved_value_is_named_with_both_numbers(tmp_path):
    run = write_run(tmp_path, {"01_a": {"acc": 0.51, "n": 3}, "02_b": {"acc": 0.25, "x": 1}})
    result = reference.compare(run, REFERENCE)
    assert not result.reproduced
    assert result.differences == ["01_a.acc: reference 0.5, this run 0.51"]
    assert result.extra == ["02_b.x"]
    assert "Did NOT reproduce" in result.verdict()


def test_runs_at_other_settings_are_not_compared(tmp_path):
    run = write_run(tmp_path, {"01_a": {"acc": 0.1}}, parameters={"PROFILE": "mini", "SEED": 1})
    result = reference.compare(run, REFERENCE)
    assert result.notebooks == 0 and not result.reproduced
    assert "SEED=1" in result.verdict()
    lecture = write_run(tmp_path / "lecture", {"01_a": {"acc": 0.5}}, solutions=False)
    assert "--solutions" in reference.compare(lecture, REFERENCE).verdict()


def test_the_command_prints_the_verdict_and_update_writes_the_reference(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(paths, "repo_root", lambda: tmp_path)
    run = write_run(tmp_path / "run", {"01_a": {"acc": 0.5, "seconds": 3.0}})
    assert main(["compare", str(run), "--update"]) == 0
    saved = json.loads(reference.reference_file().read_text())
    assert saved["notebooks"] == {"01_a": {"acc": 0.5}}
    assert main(["compare", str(run), "--strict"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("Reproduced")
    moved = write_run(tmp_path / "moved", {"01_a": {"acc": 0.6}})
    assert main(["compare", str(moved)]) == 0  # a report, not a failure...
    assert main(["compare", str(moved), "--strict"]) == 1  # ...unless asked
    assert main(["compare", str(tmp_path / "nothing")]) == 2


def test_the_readme_table_is_written_from_the_reference_runs_timings(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "repo_root", lambda: tmp_path)
    reference.update(write_run(tmp_path / "run", {"01_a": {"acc": 0.5}, "02_b": {"acc": 1}}))
    reference.update(write_run(tmp_path / "again", {"02_b": {"acc": 1}}, seconds=130.0))
    readme = tmp_path / "README.md"
    readme.write_text(f"# c\n\n{reference.README_BEGIN}\nold\n{reference.README_END}\nend\n")
    assert reference.write_readme(readme) and not reference.write_readme(readme)
    text = readme.read_text()
    assert (
        "The reference run (2026-12-02; a laptop; torch 2), `mini` with the solutions, two " in text
    )
    assert "| 01_a | 80 | 900 |\n| 02_b | 130 | 900 |\n| all, added up | 210 | |" in text
    assert "old" not in text and text.endswith("end\n")
    readme.write_text("# no markers\n")
    with pytest.raises(ValueError, match="needs one"):
        reference.write_readme(readme)

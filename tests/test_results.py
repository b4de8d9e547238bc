"""record(): prints, writes the runner's JSON file, rejects what JSON cannot hold."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from course_utils.tooling import results
from course_utils.tooling.results import RESULTS_ENV, record, recorded


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    results.clear()
    yield
    results.clear()


def test_record_prints_nothing_and_returns_the_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert record("old_task_accuracy", 0.91234) == 0.91234
    assert record("steps", 300) == 300
    assert capsys.readouterr().out == ""
    assert recorded() == {"old_task_accuracy": 0.91234, "steps": 300}
    results.show_recorded()
    assert capsys.readouterr().out.splitlines()[1] == "old_task_accuracy 0.912 · steps 300"


def test_many_records_fit_in_fifteen_lines_of_a_hundred_characters() -> None:
    values = {f"old_acc_lora_rank_{i}_alpha_{2 * i}": i / 97 for i in range(90)}
    values["gap"] = 1.5e-05
    lines = results.recorded_lines(values)
    assert len(lines) == results.MAX_LINES
    assert all(len(line) <= results.WIDTH + 20 for line in lines)
    assert lines[0].startswith("91 values recorded")
    left_out = int(lines[-1].rsplit("and ", 1)[1].split()[0])
    shown = sum(line.count(" · ") + 1 for line in lines[1:])
    assert shown + left_out == 91
    assert "gap 1.5e-05" in " ".join(results.recorded_lines({"gap": 1.5e-05}))


def test_no_file_without_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    record("x", 1)
    assert list(tmp_path.iterdir()) == []


def test_writes_json_file_when_variable_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "results.json"
    monkeypatch.setenv(RESULTS_ENV, str(target))
    record("rouge1", np.float32(0.5))  # numpy scalars become plain numbers
    record("ranks", (4, 8))
    record("per_task", {"sentiment": 1.0, "capital": np.float64(0.25)})
    record("merged", np.bool_(True))
    data = json.loads(target.read_text())
    assert data == {
        "rouge1": 0.5,
        "ranks": [4, 8],
        "per_task": {"sentiment": 1.0, "capital": 0.25},
        "merged": True,
    }
    assert type(data["merged"]) is bool
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left


@pytest.mark.parametrize("value", [math.nan, math.inf, [1.0, math.nan], {"a": -math.inf}])
def test_rejects_non_finite_numbers(value: object) -> None:
    with pytest.raises(ValueError, match=r"record\('score'\).*not a finite number"):
        record("score", value)
    assert recorded() == {}


def test_rejects_values_json_cannot_hold() -> None:
    with pytest.raises(TypeError, match=r"record\('thing'\).*object"):
        record("thing", object())


@pytest.mark.parametrize("name", ["", "rouge-1", "1st", "two words", None, 3])
def test_rejects_bad_names(name: object) -> None:
    with pytest.raises(ValueError, match="identifier") as info:
        record(name, 1.0)
    assert repr(name) in str(info.value)


def test_check_prints_the_verdict_and_records_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert results.check("DPO + NLL keeps more replies ending than DPO", 0.9 > 0.5) is None
    assert capsys.readouterr().out == "✓ DPO + NLL keeps more replies ending than DPO\n"
    results.check("LoRA forgets less", False, lora=0.71, full=0.7)
    assert (
        capsys.readouterr().out
        == "✗ not in this run: LoRA forgets less (lora = 0.710, full = 0.700)\n"
    )
    assert recorded() == {
        "claim_dpo_plus_nll_keeps_more_replies_ending_than_dpo": True,
        "claim_lora_forgets_less": False,
    }
    with pytest.raises(ValueError, match="must be a sentence"):
        results.check("  ", True)

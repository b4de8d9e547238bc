"""Notebook 01 teaches that full fine-tuning forgets and that replay and LoRA's switch-off do not.

Asserted from the recorded results of real runs, at the default seed and at a second seed.
"""

from __future__ import annotations

import json

import pytest

from course_utils.tooling import runner

pytestmark = pytest.mark.notebook

STEM = "01_catastrophic_forgetting"


@pytest.fixture(scope="module")
def second_seed(mini_report, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("nb01-seed1")
    [result] = runner.run_notebooks([STEM], "mini", out, {"SEED": 1})
    assert result.status == "ok", result.error
    return result.results


@pytest.fixture(scope="module")
def first_seed(course_run) -> dict:
    return json.loads((course_run / f"{STEM}.results.json").read_text())


@pytest.fixture(params=["first_seed", "second_seed"])
def r(request) -> dict:
    return request.getfixturevalue(request.param)


def test_the_model_knows_the_old_tasks_and_not_the_new_one(r):
    assert r["old_acc_base"] >= 0.9
    assert r["new_acc_base"] <= 0.5


def test_full_fine_tuning_learns_the_new_task_and_forgets(r):
    assert r["new_acc_full_ft"] >= 0.9
    assert r["old_acc_base"] - r["old_acc_full_ft"] >= 0.3


def test_replay_learns_and_remembers(r):
    assert r["new_acc_replay"] >= 0.9
    assert r["old_acc_replay"] >= 0.85


def test_a_disabled_adapter_gives_back_the_base_model_exactly(r):
    assert r["old_acc_lora_adapter_disabled"] == r["old_acc_base"]


def test_the_adapter_is_small(r):
    assert r["adapter_mb"] < 0.1 * r["full_model_mb"]


def test_every_method_and_sweep_point_is_recorded(r):
    for method in ("full_ft", "full_ft_low_lr", "lora", "replay", "l2sp"):
        assert 0.0 <= r[f"old_acc_{method}"] <= 1.0
        assert 0.0 <= r[f"new_acc_{method}"] <= 1.0
    assert any(key.startswith("old_acc_lora_r") for key in r)

"""Notebook 03 (prompt tuning and the PEFT family) executed through the runner in mini."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.notebook

STEM = "03_prompt_and_prefix_tuning"
METHODS = (
    "hard_prompt",
    "prompt_tuning_random",
    "prompt_tuning_text",
    "prefix",
    "prefix_projection",
    "p_tuning",
    "ia3",
    "adapter",
    "selective",
    "lora",
)
SOFT_PROMPTS = (
    "prompt_tuning_random",
    "prompt_tuning_text",
    "prefix",
    "prefix_projection",
    "p_tuning",
)


def _lengths(r: dict) -> dict[int, float]:
    pattern = r"acc_prompt_length_(\d+)"
    return {int(m[1]): v for n, v in r.items() if (m := re.fullmatch(pattern, n))}


def test_03_records_every_method_and_figure(course_run, results):
    r = results
    for method in METHODS:
        assert 0.0 <= r[f"acc_{method}"] <= 1.0, method
        assert r[f"trainable_{method}"] >= 0, method
    assert r["trainable_hard_prompt"] == 0
    assert 0.0 <= r["old_acc_base"] <= 1.0
    assert len(_lengths(r)) >= 4
    for key in ("frozen_body", "whole_model"):
        assert 0.0 <= r[f"acc_new_head_{key}"] <= 1.0, key
    for figure in ("accuracy_vs_parameters", "prompt_length"):
        assert (course_run / "figures" / STEM / f"{figure}.png").exists(), figure


def test_03_a_soft_prompt_beats_the_best_hard_prompt(results):
    assert max(results[f"acc_{m}"] for m in SOFT_PROMPTS) - results["acc_hard_prompt"] >= 0.2


def test_03_with_a_soft_prompt_on_the_old_tasks_get_the_new_tasks_labels(results):
    """The soft prompt conditions the frozen model for the new task: most old-task answers are
    '0' or '1', far more than the old tasks lose when it is removed (nothing)."""
    r = results
    for method in SOFT_PROMPTS:
        assert r[f"old_label_share_{method}"] > 0.5, method
        assert r[f"old_acc_{method}"] < r["old_acc_base"] - 0.5, method


def test_03_a_new_head_learns_the_task_with_the_frozen_body_and_with_the_whole_model(results):
    r = results
    assert r["acc_new_head_frozen_body"] >= r["acc_hard_prompt"] + 0.5
    assert r["acc_new_head_whole_model"] >= r["acc_hard_prompt"] + 0.5
    # the frozen body trains the head alone: a sliver of what the whole model trains
    assert r["trainable_new_head_frozen_body"] * 10 < r["trainable_new_head_whole_model"]


def test_03_removing_an_added_method_gives_the_base_back_exactly(results):
    for method in METHODS:
        if method in ("hard_prompt", "selective"):
            continue
        assert results[f"old_acc_removed_{method}"] == results["old_acc_base"], method


def test_03_the_selective_method_changes_the_base_and_is_measured_for_forgetting(results):
    r = results
    assert "old_acc_removed_selective" not in r  # base weights changed: nothing to remove
    assert r["old_acc_selective"] <= r["old_acc_base"] - 0.1


def test_03_from_scratch_soft_prompt_equals_peft_and_prefix_skips_the_encoder(results):
    assert results["soft_prompt_logit_gap"] <= 1e-6
    assert results["prefix_leaves_encoder_unchanged"] is True


def test_03_a_longer_soft_prompt_learns_more_than_a_single_token(results):
    by_length = _lengths(results)
    shortest = min(by_length)
    # more than ten test examples of 200: the notebook's check, which holds at seeds 0, 1 and 2
    assert max(by_length.values()) - by_length[shortest] > 0.05


def test_03_recorded_real_model_counts_are_the_hand_counts(results):
    from dataclasses import replace

    from transformers import AutoConfig

    from course_utils import peft_family as pf
    from course_utils.core import paths
    from course_utils.tooling import catalog

    defaults = catalog.spec_for(STEM).params
    settings = replace(
        pf.Settings(),
        num_virtual_tokens=20,
        prompt_encoder_hidden=defaults["PROMPT_ENCODER_HIDDEN"].mini,
        adapter_bottleneck=defaults["ADAPTER_BOTTLENECK"].mini,
    )
    for name in ("flan-t5-base", "flan-t5-xxl"):
        config = AutoConfig.from_pretrained(paths.data_dir() / "model_configs" / name)
        for method in pf.METHODS:
            recorded = results[f"{name.replace('-', '_')}_trainable_{method}"]
            assert recorded == pf.formula_count(method, config, settings), (name, method)

"""Notebook 09 (evaluating fine-tuned models with lm-eval) executed through the runner in mini:
each test asserts a lesson from the recorded results. Every check the notebook prints holds at
seeds 0, 1 and 2 (reference/checks-by-seed.json); the margins below were measured there."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.notebook

STEM = "09_evaluation"
MODELS = ("base", "sft", "dpo", "grpo")


def test_09_every_check_of_the_run_holds(results):
    claims = {name: held for name, held in results.items() if name.startswith("claim_")}
    assert len(claims) >= 10
    assert [name for name, held in claims.items() if not held] == []


def test_09_the_harness_scores_as_the_course_helper_does(results):
    assert results[
        "claim_the_harness_and_the_course_s_helper_give_the_same_reply_and_score_to_every_item"
    ]


def test_09_the_way_of_scoring_changes_the_verdict_on_dpo(results):
    """Seed 0 (AMD EPYC, 2026-12-02): DPO 1.00 by log-likelihood, 0.23 by generation (GRPO 0.83
    and 0.83; the base 0.80 and 0.25): it ranks the options right and does not write the answer."""
    r = results
    choice = {m: r[f"log_likelihood_chat_0_shots_{m}"] for m in MODELS}
    generation = {m: r[f"generation_chat_0_shots_{m}"] for m in MODELS}
    assert choice["dpo"] == max(choice.values())
    assert generation["dpo"] < min(generation["sft"], generation["grpo"])
    assert choice["dpo"] > choice["grpo"]  # the order of DPO and GRPO reverses
    for m in ("sft", "dpo", "grpo"):  # worked examples lowered every fine-tuned model's score
        assert r[f"generation_chat_3_shots_{m}"] < generation[m]


def test_09_error_bars_separate_real_gains_from_noise(results):
    """60 items detect a gap of about a quarter; SFT's and GRPO's gains exceed it, DPO's
    difference from the base (generation) does not; retraining moved no recipe by that much."""
    assert results["detectable_difference"] == pytest.approx(0.256, abs=0.001)
    assert results["gain_sft_base_low"] > 0 and results["gain_grpo_base_low"] > 0
    assert results["gain_dpo_base_low"] < 0
    assert results["seed_spread_max"] < results["detectable_difference"]
    assert results["bootstrap_scipy_gap"] <= 0.03


def test_09_contamination_is_found_and_measured(results):
    assert results["claim_the_overlap_finds_exactly_the_copied_items"]
    for m in MODELS:
        assert abs(results[f"contamination_gap_{m}"]) <= 0.1


def test_09_the_judge_follows_the_position(results):
    assert results["judge_same_position_in_both_orders"] > 0.5
    assert results["judge_right_in_both_orders"] < 0.25

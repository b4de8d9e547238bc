"""Notebook 08 (RLHF: a reward model, best-of-n, GRPO against it, DPO + NLL on the same pairs)
executed through the runner in the mini profile: each assertion is a result the notebook teaches
(its checks hold at seeds 0-2, reference/checks-by-seed.json)."""

from __future__ import annotations

import pytest

from course_utils.tooling import catalog

pytestmark = pytest.mark.notebook

STEM = "08_rlhf"
BEST_OF = catalog.spec_for(STEM).params["BEST_OF"].mini


def test_08_the_reward_model_ranks_held_out_pairs(results):
    assert results["reward_model_acc"] >= 0.8


def test_08_best_of_n_kl_is_the_formula_and_a_simulation_agrees(results):
    assert results["bon_formula_max_gap"] < 0.01  # 1,000 distinct replies: the formula is exact
    assert results["bon_simulated_max_gap"] < 0.01
    for n in BEST_OF:  # the table's KL is the formula's
        assert results[f"bon{n}_kl_per_reply"] >= 0.0


def test_08_best_of_n_raises_the_proxy_not_the_true_preference(course_run, results):
    """More samples, higher reward-model score of the pick (on average above the chosen answers'
    at the largest n), while the reward model over-scores most picks; its picks take the
    preferred form no more often than the truth's (by construction), which the samples cap under
    a quarter."""
    widest = max(BEST_OF)
    scores = [results[f"bon{n}_reward_model_score"] for n in BEST_OF]
    assert scores == sorted(scores)
    assert results[f"bon{widest}_reward_model_score"] > results["chosen_mean_score"]
    truth = results[f"bon{widest}_preferred_form_picked_by_the_truth"]
    assert results[f"bon{widest}_preferred_form"] <= truth < 0.25
    assert results[f"bon{widest}_over_scored"] >= 0.5
    assert (course_run / "figures" / STEM / "best_of_n.png").exists()


def test_08_grpo_over_optimises_the_reward_model(course_run, results):
    """GRPO against the reward model: its score up by at least 0.5, the true preference flat."""
    r = results
    assert r["grpo_last_reward_model_score"] - r["sft_reward_model_score"] >= 0.5
    assert abs(r["grpo_last_preferred_form"] - r["sft_preferred_form"]) < 0.15
    assert abs(r["grpo_last_correct"] - r["sft_correct"]) < 0.1
    assert (course_run / "figures" / STEM / "grpo_and_dpo_over_kl.png").exists()


def test_08_dpo_plus_nll_moves_the_true_preference(results):
    assert results["dpo_last_preferred_form"] - results["sft_preferred_form"] >= 0.2


def test_08_the_runs_are_compared_at_matched_kl_from_trained_points(results):
    """Dense kept points: several GRPO points each read against two trained DPO points, and
    there, on average, DPO + NLL takes the preferred form at least as often as GRPO."""
    assert results["grpo_points_count"] >= 10 and results["dpo_points_count"] >= 10
    assert results["matched_count"] >= 4
    dpo = results["matched_mean_dpo_preferred_form_interpolated"]
    assert dpo >= results["matched_mean_grpo_preferred_form"]


def test_08_dpo_plus_nll_keeps_improving_past_grpos_range(results):
    """Matched KL reads DPO + NLL early: its last point is further out than GRPO went, and
    better."""
    at_peak = results["dpo_at_grpo_peak_preferred_form"]
    assert results["dpo_last_preferred_form"] - at_peak >= 0.05
    assert results["dpo_last_kl_per_reply"] > results["dpo_at_grpo_peak_kl_per_reply"]


def test_08_dpo_plus_nll_cost_less_than_the_reward_model_and_grpo(results):
    rm_and_grpo = results["seconds_reward_model"] + results["seconds_grpo_reward_model"]
    assert results["seconds_dpo_nll"] < rm_and_grpo

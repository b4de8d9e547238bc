"""Notebook 07 (RL with verifiable rewards, GRPO) executed through the runner in mini: each test
asserts a lesson from the recorded results of real runs. Every check the notebook prints holds
at seeds 0, 1 and 2 (reference/checks-by-seed.json); the margins below were measured there."""

from __future__ import annotations

import pytest

from course_utils.tooling import catalog

pytestmark = pytest.mark.notebook

STEM = "07_grpo"
PARAMS = catalog.spec_for(STEM).params
SEEDS = PARAMS["SEEDS"].mini


def test_07_every_check_of_the_run_holds(results):
    claims = {name: held for name, held in results.items() if name.startswith("claim_")}
    assert len(claims) >= 20
    assert [name for name, held in claims.items() if not held] == []


def test_07_what_sampling_never_solves_teaches_nothing(results):
    """The topic task: no sample right before training; a GRPO run on it had no signal at any
    step and left the adapter's B exactly 0 (the checks). In the kind task, the category that no
    sample named on any training prompt stayed at 0 on held-out words at every seed."""
    assert results["claim_no_sample_answers_a_topic_prompt_right"]
    assert results["claim_every_group_of_every_step_had_no_signal"]
    assert results["claim_the_adapter_did_not_move_every_b_is_exactly_0"]
    assert results[
        "claim_the_category_never_sampled_right_stayed_at_0_on_held_out_words_every_seed"
    ]
    assert results["before_pass_at_k"] >= results["before_pass_at_1"] + 0.05


def test_07_from_scratch_grpo_is_trls_loss_and_gradient(results):
    assert results["grpo_loss_max_diff_vs_trl"] <= 1e-5
    assert results["grpo_grad_max_diff_vs_trl"] <= 1e-5
    assert results["claim_a_group_of_equal_rewards_gets_exactly_0_even_1000_1"]


def test_07_grpo_raises_accuracy_on_words_it_never_trained_on(results):
    """Measured at seeds 0 / 1 / 2 (AMD EPYC, 2026-12-02): 0.25 before, 0.83 after at every
    training seed on the held-out words (12 words, 60 prompts); the never-sampled category
    (instrument) is the rest."""
    after = {name: v for name, v in results.items() if name.startswith("acc_after_seed")}
    assert len(after) == SEEDS
    for name, accuracy in after.items():
        assert accuracy >= results["acc_before"] + 0.3, name
        seen = results[name.replace("acc_after", "seen_acc")]
        assert accuracy >= seen - 0.1, name  # no worse on words never trained on
    assert results["after_pass_at_1_min"] >= results["before_pass_at_k"] + 0.1


def test_07_larger_groups_leave_fewer_groups_without_signal(results):
    shares = [results[f"group{g}_no_signal"] for g in (2, 8, 16)]
    assert shares[0] > shares[1] > shares[2]
    assert results["no_signal_share_training"] > 0.5


def test_07_beta_holds_the_policy_near_the_reference_at_a_cost(results):
    """Measured at sweep seeds 0 / 1 (the notebook at seed 0): KL per reply 2.04 / 2.44 at BETA
    0.04 against 0.05 / 0.07 at beta 1; held-out accuracy 0.83 / 0.83 against 0.30 / 0.35."""
    runs = {}  # beta -> seed -> (KL per reply, held-out accuracy)
    for name, value in results.items():
        if name.startswith("kl_beta"):
            beta, seed = name.removeprefix("kl_beta").split("_seed")
            accuracy = results[name.replace("kl_beta", "acc_beta")]
            runs.setdefault(float(beta.replace("p", ".")), {})[int(seed)] = (value, accuracy)
    assert len(runs) >= 2 and all(len(r) == PARAMS["SWEEP_SEEDS"].mini for r in runs.values())
    free, held = runs[min(runs)], runs[max(runs)]
    for seed, (kl, accuracy) in free.items():
        assert held[seed][0] < 0.5 * kl
        assert held[seed][1] <= accuracy - 0.1


def test_07_the_loophole_is_found_and_the_control_does_not_pay_for_it(results):
    """Penalty 0.3 per word, 100 steps sampled at temperature 1.5. Measured (AMD EPYC,
    2026-12-02) at seeds 0 / 1 / 2: loophole used on 1.00 / 1.00 / 0.92 of the held-out prompts
    against 0.17 / 0.17 / 0.13 with the control (the never-sampled category's empty replies);
    exact accuracy 0.00 / 0.00 / 0.08 against 0.83. At temperature 1 the loophole won at seed 0
    only."""
    r = results
    assert r["hack_loophole_reward_loophole_used"] >= r["hack_control_reward_loophole_used"] + 0.3
    assert r["hack_control_reward_exact_accuracy"] >= r["hack_loophole_reward_exact_accuracy"] + 0.3
    assert r["hack_control_reward_empty_replies"] <= r["hack_before_training_empty_replies"] + 0.05
    assert (
        r["hack_loophole_reward_mean_training_reward"]
        > r["hack_control_reward_mean_training_reward"]
    )


def test_07_figures(course_run):
    for figure in ("grpo_training_curves", "beta_sweep"):
        assert (course_run / "figures" / STEM / f"{figure}.png").exists(), figure

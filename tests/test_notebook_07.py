"""Notebook 07 (GRPO) executed through the runner in mini: its lessons, from the recorded
results of real runs, with margins measured at seeds 0-2 (see the note in each test)."""

from __future__ import annotations

import pytest

from course_utils.tooling import catalog

pytestmark = pytest.mark.notebook

STEM = "07_grpo"
PARAMS = catalog.spec_for(STEM).params
SEEDS = PARAMS["SEEDS"].mini


def test_07_from_scratch_grpo_is_trls_loss_and_gradient(results):
    assert results["grpo_loss_max_diff_vs_trl"] <= 1e-5
    assert results["grpo_grad_max_diff_vs_trl"] <= 1e-5
    # on a batch where the check means something: the policy has left the reference, and some
    # groups hold right and wrong replies (measured at seeds 0 / 1 / 2 after 12 steps: KL 0.40 /
    # 0.21 / 0.31 per token, 0.25 / 0.5 / 0.25 of the groups)
    assert results["check_mean_kl"] > 0.01
    assert results["check_groups_with_signal"] > 0


def test_07_grpo_raises_held_out_accuracy_at_every_seed(results):
    """Issue 22's bar: + 0.3 at each seed. Measured (AMD EPYC, 2026-11-30): 0.31 -> 0.91 at
    seeds 0, 1, 2 (a notebook run at SEED 1: 0.32 -> 0.83, 0.76, 0.83)."""
    after = {name: v for name, v in results.items() if name.startswith("acc_after_seed")}
    assert len(after) == SEEDS
    for name, accuracy in after.items():
        assert accuracy >= results["acc_before"] + 0.3, name


def test_07_a_task_that_sampling_never_solves_gives_no_signal(results):
    assert results["unreachable_pass_at_k"] == 0.0
    assert results["unreachable_no_signal"] == 1.0
    [pass_at_k] = [
        n for n in results if n.startswith("before_pass_at_") and n != "before_pass_at_1"
    ]
    assert results[pass_at_k] > results["before_pass_at_1"]


def test_07_beta_holds_the_policy_near_the_reference(results):
    assert results["kl_ratio_largest_to_smallest_beta"] < 0.5


def test_07_larger_groups_leave_fewer_groups_without_signal(results):
    assert results["group2_no_signal"] > results["group16_no_signal"]


def test_07_figures(course_run):
    for figure in ("grpo_training_curves", "beta_sweep"):
        assert (course_run / "figures" / STEM / f"{figure}.png").exists(), figure


def test_07_the_policy_finds_the_loophole_and_the_fixed_reward_removes_it(results):
    """Measured at seeds 0, 1, 2 (AMD EPYC, penalty 0.3 per word): the loophole (an empty reply)
    used on 0.52 / 0.71 / 0.53 of the held-out prompts against 0.09 / 0.26 / 0.29 with the fixed
    reward; exact accuracy 0.48 / 0.29 / 0.47 against 0.91 / 0.74 / 0.71."""
    assert results["hack_used_loophole"] >= results["hack_used_fixed"] + 0.15
    assert results["hack_acc_fixed"] >= results["hack_acc_loophole"] + 0.15
    assert results["hack_reward_loophole"] > results["hack_reward_fixed"]


def test_07_rlhf_grpo_climbs_the_reward_model_and_dpo_keeps_up_at_matched_kl(results):
    """Section 7: GRPO against a reward model and DPO + NLL from the same SFT model, read at the
    largest KL both reached. Measured (AMD EPYC, 2026-11-30) at seeds 0 / 1 / 2: the reward
    model 0.87 / 0.81 / 0.89 right on held-out pairs; matched KL 2.41 / 3.44 / 1.42 per reply;
    GRPO's reward-model score 1.61 / 1.32 / 2.45 against the SFT model's 0.37 / -1.16 / 0.94;
    preferred form, DPO + NLL against GRPO, 0.72 / 0.43 / 0.57 against 0.66 / 0.38 / 0.58."""
    assert results["rlhf_reward_model_acc"] >= 0.7
    assert results["rlhf_matched_kl"] > 0.5  # both runs left the SFT model
    # RL climbs the reward it is given ...
    assert results["rlhf_grpo_reward_model_score"] >= results["rlhf_sft_reward_model_score"] + 0.5
    # ... and DPO on the same pairs, with no reward model and no sampling, keeps up on the
    # preference itself (within two standard errors of a share of 100 replies)
    assert results["rlhf_dpo_preferred_form"] >= results["rlhf_grpo_preferred_form"] - 0.1


def test_07_rlhf_figure(course_run):
    assert (course_run / "figures" / STEM / "rlhf_grpo_vs_dpo.png").exists()

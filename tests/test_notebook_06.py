"""Notebook 06 (reward model, SFT then DPO, beta and loss types) executed through the runner in
the mini profile: each assertion is a result the notebook teaches (its checks hold at seeds 0-2,
reference/checks-by-seed.json)."""

from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.notebook

STEM = "06_dpo"
STAGES = ("before", "sft", "dpo", "dpo_nll")


def test_06_the_untrained_model_never_uses_the_preferred_form_and_dpo_alone_loses_endings(
    course_run, results
):
    """Every stage is measured; before any training the model answers correctly and ends its
    replies, never in the preferred form; plain DPO (no NLL term) loses endings and right
    answers that DPO + NLL keeps."""
    r = results
    assert all(f"{n}_{s}" in r for s in STAGES for n in ("pref_form_rate", "correct_rate"))
    assert r["pref_form_rate_before"] <= 0.05 and r["ended_rate_before"] >= 0.9
    assert r["ended_rate_dpo"] <= r["ended_rate_dpo_nll"] - 0.2
    assert r["correct_rate_dpo"] <= r["correct_rate_dpo_nll"] - 0.2
    for figure in ("dpo_training_logs", "beta_tradeoff"):
        assert (course_run / "figures" / STEM / f"{figure}.png").exists(), figure


def test_06_dpo_from_scratch_starts_at_ln2_and_equals_trl(results):
    assert abs(results["dpo_loss_at_init"] - math.log(2)) < 1e-6
    assert results["dpo_loss_max_diff_vs_trl"] < 1e-5


def test_06_reward_model_and_dpo_rank_held_out_pairs(results):
    assert results["reward_model_acc"] >= 0.8
    assert min(results["implicit_reward_acc"], results["implicit_reward_acc_nll"]) >= 0.8


def test_06_sft_on_mixed_data_leaves_dpo_something_to_teach(results):
    """SFT on half chosen, half rejected answers replies in the preferred form only part of the
    time; DPO with the NLL term raises that share clearly and keeps the answers right."""
    r = results
    assert 0.2 <= r["pref_form_rate_sft"] <= 0.7
    assert r["pref_form_rate_dpo_nll"] >= r["pref_form_rate_sft"] + 0.15
    assert r["correct_rate_dpo_nll"] >= r["correct_rate_sft"] - 0.05


def test_06_plain_dpo_lowers_the_chosen_answers_and_the_nll_term_keeps_them(results):
    r = results
    assert r["logp_chosen_dpo"] < r["logp_chosen_sft"] - 2 < r["logp_chosen_dpo_nll"]
    assert r["ended_rate_dpo_nll"] >= 0.9


def test_06_beta_acts_from_the_default_up_and_not_below(results):
    """The drift (per-token KL from the SFT model on its own replies) falls at each step from
    beta 0.1 to 1 to 10; beta 0.01 moves the policy no farther than 0.1 in the same steps."""
    kl = {
        beta: results[f"kl_beta{name}_seed0"]
        for beta, name in ((0.01, "0_01"), (0.1, "0_1"), (1.0, "1"), (10.0, "10"))
    }
    assert kl[0.1] > kl[1.0] > kl[10.0]
    assert kl[0.01] <= kl[0.1] + 0.1
    assert all(k >= 0 for k in kl.values())

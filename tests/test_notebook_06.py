"""Notebook 06 (reward model, SFT then DPO, beta and loss types) executed through the runner in
the mini profile: each assertion is a result the notebook teaches, with margins that held over
seeds 0-2 while it was built."""

from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.notebook

STEM = "06_dpo"
STAGES = ("before", "sft", "dpo", "dpo_nll")


def test_06_records_every_stage_and_figure(course_run, results):
    for stage in STAGES:
        for name in ("pref_form_rate", "correct_rate", "ended_rate"):
            assert 0.0 <= results[f"{name}_{stage}"] <= 1.0, (name, stage)
    for figure in ("dpo_training_logs", "beta_tradeoff"):
        assert (course_run / "figures" / STEM / f"{figure}.png").exists(), figure


def test_06_dpo_from_scratch_starts_at_ln2_and_equals_trl(results):
    assert abs(results["dpo_loss_at_init"] - math.log(2)) < 1e-6
    assert results["dpo_loss_max_diff_vs_trl"] < 1e-5


def test_06_reward_model_and_dpo_rank_held_out_pairs(results):
    assert results["reward_model_acc"] >= 0.8
    assert results["implicit_reward_acc"] >= 0.8


def test_06_sft_then_dpo_with_nll_gives_the_preferred_form_and_keeps_answers(results):
    assert results["pref_form_rate_dpo_nll"] >= results["pref_form_rate_before"] + 0.3
    assert results["correct_rate_dpo_nll"] >= results["correct_rate_before"] - 0.15


def test_06_plain_dpo_degrades_generation_and_the_nll_term_prevents_it(results):
    assert results["pref_form_rate_dpo"] + 0.3 <= results["pref_form_rate_dpo_nll"]
    assert (
        results["logp_chosen_dpo"] < results["logp_chosen_sft"] - 2
    )  # the chosen answers lost mass
    assert results["logp_chosen_dpo"] < results["logp_chosen_dpo_nll"] - 2
    assert results["ended_rate_dpo_nll"] >= 0.9


def test_06_a_larger_beta_keeps_the_policy_nearer_the_reference(results):
    r = results
    kl = {key: value for key, value in r.items() if key.startswith("kl_beta")}
    assert len(kl) >= 4
    assert r["kl_beta1"] < r["kl_beta0_01"] / 2
    for loss in ("sigmoid", "ipo", "hinge"):
        assert 0.5 <= r[f"loss_{loss}_reward_acc"] <= 1.0, loss
        assert r[f"loss_{loss}_nll_kl"] < r[f"loss_{loss}_kl"], loss  # NLL holds it near

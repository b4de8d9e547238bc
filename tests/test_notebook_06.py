"""Notebook 06 (reward model, SFT then DPO, beta and loss types) executed through the runner in
the mini profile: each assertion is a result the notebook teaches, with margins that held over
seeds 0-2 while it was built."""

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
    answers that DPO + NLL keeps (seed 0: ended 0.55 against 1.0, correct 0.41 against 0.89)."""
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
    assert results["implicit_reward_acc"] >= 0.8


def test_06_sft_on_mixed_data_leaves_dpo_something_to_teach(results):
    """SFT on half chosen, half rejected answers replies in the preferred form only part of the
    time; DPO with the NLL term raises that share clearly and keeps the answers right. The
    notebook at seeds 0, 1, 2 on an AMD EPYC (2026-11-30): preferred form 0.55 / 0.34 / 0.46
    after SFT, 0.87 / 0.71 / 0.80 after DPO + NLL; correct 0.76 / 0.75 / 0.70 -> 0.89 / 0.85 /
    0.88."""
    r = results
    assert r["pref_form_rate_sft"] <= 0.7
    assert r["pref_form_rate_dpo_nll"] >= r["pref_form_rate_sft"] + 0.2
    assert r["correct_rate_dpo_nll"] >= r["correct_rate_sft"] - 0.05


def test_06_the_nll_term_keeps_probability_on_the_chosen_answers(results):
    assert results["logp_chosen_dpo_nll"] > results["logp_chosen_dpo"]
    assert results["ended_rate_dpo_nll"] >= 0.9


def test_06_a_larger_beta_keeps_the_policy_nearer_the_reference_at_every_seed(results):
    """Measured ratios KL(beta 1) / KL(beta 0.01): 0.36 to 0.52 over the notebook at seeds 0-2
    (two seeds of the DPO stage each; AMD EPYC, 2026-11-30)."""
    r = results
    seeds = sorted({k.rsplit("seed", 1)[1] for k in r if k.startswith("kl_beta1_seed")})
    assert len(seeds) >= 2
    for seed in seeds:
        assert r[f"kl_beta1_seed{seed}"] < 0.75 * r[f"kl_beta0_01_seed{seed}"], seed

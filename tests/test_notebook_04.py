"""Notebook 04 (LoRA from first principles, sweeps) executed through the runner in mini."""

from __future__ import annotations

import pytest

from course_utils import lora
from course_utils.forgetting import knob_token
from course_utils.tooling import catalog

pytestmark = pytest.mark.notebook

STEM = "04_lora_rank_alpha_sweeps"
PARAMS = catalog.spec_for(STEM).params
RANKS, ALPHAS = PARAMS["RANKS"].mini, PARAMS["ALPHAS"].mini
ADAPTER_TASKS = ("sentiment_binary", "kind")
FIGURES = (
    "update_energy",
    "rank_alpha_grid",
    "rslora_loss_curves",
    "few_examples_by_rank",
    "lr_rank_grid",
)


def cells(results, prefix):
    return {(r, a): results[f"{prefix}_r{r}_a{knob_token(a)}"] for r in RANKS for a in ALPHAS}


def test_04_records_the_grid_and_every_figure(course_run, results):
    assert len(RANKS) >= 4 and min(RANKS) == 1 and max(RANKS) == 64 and len(ALPHAS) >= 3
    for prefix in ("acc", "old_acc"):
        assert all(0.0 <= v <= 1.0 for v in cells(results, prefix).values()), prefix
    assert len([n for n in results if n.startswith("acc_r") and "_lr" in n]) >= 4
    for figure in FIGURES:
        assert (course_run / "figures" / STEM / f"{figure}.png").exists(), figure


def test_04_the_from_scratch_layer_is_peft_and_starts_at_the_base(results):
    assert results["lora_init_max_abs_diff"] == 0.0
    assert results["lora_peft_max_abs_diff"] <= 1e-6
    assert results["from_scratch_merge_rel_diff"] <= 1e-5  # float32 rounding


def test_04_counts_are_the_published_ones(results):
    assert results["flan_t5_xxl_trainable"] == 18_874_368
    assert results["flan_t5_xxl_total"] == 11_154_206_720
    assert abs(results["flan_t5_xxl_percent"] - 0.16921300163961817) < 1e-12
    assert results["flan_t5_base_r32_trainable"] == 3_538_944
    assert results["mistral_7b_r16_trainable"] == 41_943_040


def test_04_full_fine_tuning_updates_are_concentrated_in_few_directions(results):
    """Section 4: the share of the update's energy in its top r singular directions grows with
    r towards 1, and the top few hold far more than they would in a random matrix (128 x 128:
    r of 128 directions hold about r / 128 of a random matrix's energy, a little more at the
    top)."""
    shares = [results[f"energy_top{r}"] for r in RANKS]
    assert shares == sorted(shares) and 0 < shares[0] and shares[-1] <= 1 + 1e-9
    random_top4 = lora.random_energy((128, 128), seed=0).loc[4]
    assert results["energy_top4"] > 2 * random_top4


def test_04_learned_means_the_interval_clears_the_floor(results):
    """A cell has learned when the lower end of its score's Wilson interval (100 test answers)
    is above the floor (the base model, or always the most common label), whatever its score's
    rounding; most cells learn, and alpha, not r, sets how much."""
    floor = max(results["acc_base"], results["majority_share"])
    accuracy = cells(results, "acc")
    for (r, a), learned in cells(results, "learned").items():
        assert learned == (lora.wilson_interval(accuracy[(r, a)], 100)[0] > floor), (r, a)
    assert results["grid_cells_learned"] >= 0.75 * len(RANKS) * len(ALPHAS)
    assert results["grid_range_across_alphas"] > results["grid_range_across_ranks"] + 0.05


def test_04_every_cell_costs_the_old_tasks_and_more_so_at_large_alpha(results):
    kept = cells(results, "old_acc")
    assert max(kept.values()) < 0.9
    by_alpha = {a: sum(kept[(r, a)] for r in RANKS) / len(RANKS) for a in ALPHAS}
    assert by_alpha[max(ALPHAS)] < by_alpha[min(ALPHAS)] - 0.1


def test_04_adapted_layers_are_compared_over_seeds(results):
    for token in ("qv", "attention", "all"):
        assert 0.0 <= results[f"acc_targets_{token}"] <= 1.0, token
        assert results[f"acc_targets_{token}_sd"] >= 0.0, token
    assert any(results[f"acc_targets_{t}_sd"] > 0 for t in ("qv", "attention", "all"))


def test_04_merged_is_an_ordinary_model_with_the_adapted_outputs(results):
    """Why merging costs no latency: what is left is the base architecture, nothing added."""
    assert results["merged_extra_parameters"] == 0 and results["merged_lora_modules_left"] == 0
    assert results["merged_max_rel_diff"] <= 1e-5  # float32 rounding, relative to the logits


def test_04_each_adapter_answers_its_own_task(results):
    for task in ADAPTER_TASKS:
        assert results[f"acc_adapter_{task}"] >= 0.9, task
    for task, other in (ADAPTER_TASKS, ADAPTER_TASKS[::-1]):
        assert results[f"acc_adapter_{task}_on_{other}"] <= 0.5, (task, other)

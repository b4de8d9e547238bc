"""Best-of-n from scratch (notebook 08's lesson) against simulation, and the measurements that put
runs on one KL axis. TRL 1.14 has no best-of-n sampler to compare with (the 0.x releases had
``trl.extras.BestOfNSampler``), so the reference here is a Monte-Carlo simulation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import pytest
import torch

from course_utils import rlhf


def test_trl_has_no_best_of_n_sampler_to_check_against():
    import trl

    assert not hasattr(trl, "BestOfNSampler")


def test_best_of_n_keeps_the_highest_scored_of_the_first_n():
    scores = torch.tensor([[0.1, 0.9, 0.5, 2.0], [3.0, 1.0, 4.0, 0.0]])
    assert rlhf.best_of_n(scores, 1).tolist() == [0, 0]
    assert rlhf.best_of_n(scores, 3).tolist() == [1, 2]
    assert rlhf.best_of_n(scores, 4).tolist() == [3, 2]
    with pytest.raises(ValueError, match="n = 5"):
        rlhf.best_of_n(scores, 5)


def test_the_kl_formula():
    assert rlhf.best_of_n_kl(1) == 0.0
    assert rlhf.best_of_n_kl(2) == pytest.approx(math.log(2) - 0.5)
    assert rlhf.best_of_n_kl(16) == pytest.approx(1.8351, abs=1e-4)


@pytest.mark.parametrize("n", [1, 2, 3, 8])
def test_the_exact_distribution_is_what_simulation_draws(n):
    probs = torch.tensor([0.35, 0.25, 0.2, 0.15, 0.05])
    rewards = torch.tensor([0.3, -1.0, 2.0, 0.7, 5.0])
    exact = rlhf.best_of_n_distribution(probs, rewards, n)
    assert exact.sum().item() == pytest.approx(1.0, abs=1e-6)
    simulated = rlhf.monte_carlo_best_of_n(probs, rewards, n, 200_000, seed=0)
    assert (simulated - exact).abs().max().item() < 0.005
    kl_exact, kl_simulated = rlhf.kl_divergence(exact, probs), rlhf.kl_divergence(simulated, probs)
    assert kl_simulated == pytest.approx(kl_exact, abs=0.01)
    if n == 1:
        assert torch.allclose(exact, probs)


@pytest.mark.parametrize("n", [2, 4, 16, 64])
def test_the_formula_is_the_kl_of_many_distinct_replies_and_bounds_few(n):
    many = torch.full((20_000,), 1 / 20_000, dtype=torch.float64)
    rewards = torch.randperm(20_000, generator=torch.Generator().manual_seed(n)).double()
    exact = rlhf.kl_divergence(rlhf.best_of_n_distribution(many, rewards, n), many)
    assert exact == pytest.approx(rlhf.best_of_n_kl(n), abs=2e-3)
    generator = torch.Generator().manual_seed(n)
    for _ in range(20):  # few replies: an upper bound (Beirami et al., 2024)
        probs = torch.rand(5, generator=generator).double()
        probs /= probs.sum()
        few = rlhf.best_of_n_distribution(probs, torch.rand(5, generator=generator), n)
        assert rlhf.kl_divergence(few, probs) <= rlhf.best_of_n_kl(n) + 1e-9


def test_the_kl_of_a_continuous_policy_by_monte_carlo():
    """log(p_best / p) = log n + (n - 1) log F(y); F of the pick is the largest of n uniforms."""
    n = 8
    largest = torch.rand(400_000, n, generator=torch.Generator().manual_seed(0)).max(dim=1).values
    estimate = (math.log(n) + (n - 1) * largest.log()).mean().item()
    assert estimate == pytest.approx(rlhf.best_of_n_kl(n), abs=0.01)


@dataclass
class _Reply:
    text: str
    ended: bool = True


def test_best_of_n_table_reads_the_picks_and_the_truth():
    samples = [_Reply("x"), _Reply("The sum is 3."), _Reply("y y"), _Reply("The sum is 4.")]
    scores = torch.tensor([[0.0, 1.0], [2.0, 1.0]])  # prompt 2's first sample is over-scored
    table, picks = rlhf.best_of_n_table(
        samples, scores, [1, 2], ["The sum is 3.", "The sum is 4."], torch.tensor([1.0, 1.0])
    )
    assert picks == {1: ["x", "y y"], 2: ["The sum is 3.", "y y"]}
    assert table.loc[2, "reward-model score"] == pytest.approx(1.5)
    assert table.loc[2, "preferred form"] == 0.5 and table.loc[2, "over-scored"] == 0.5
    assert table.loc[1, "KL per reply"] == 0.0
    # the truth's picks: the chosen answer whenever one of the first n samples is it
    assert table[rlhf.TRUTH_PICK].tolist() == [0.0, 1.0]


def _points(kls, values):
    return pd.DataFrame(
        {"KL per reply": kls, "score": values}, index=pd.Index(range(0, 2 * len(kls), 2))
    )


def test_matched_points_read_dpo_between_two_trained_points_only():
    grpo = _points([0.0, 0.1, 0.5, 1.0, 3.0], [0.0, 1.0, 2.0, 3.0, 4.0])
    dpo = _points([0.0, 0.3, 0.8, 1.2, 0.9], [0.0, 10.0, 20.0, 30.0, 40.0])
    matched = rlhf.matched_points(grpo, dpo, ["score"])
    # 0.1: below DPO's first trained point (only the start is below it); 3.0: beyond its range
    assert matched["GRPO step"].tolist() == [4, 6]
    assert matched["DPO steps"].tolist() == ["2-4", "4-6"]  # the path's first crossing
    assert matched["DPO score (interpolated)"].tolist() == pytest.approx([14.0, 25.0])
    assert matched["GRPO score"].tolist() == [2.0, 3.0]


def test_measured_run_thins_the_points_past_a_step():
    class Kept:
        states = {step: None for step in range(0, 21)}
        restored: list[int] = []

        def restore(self, model, step):
            self.restored.append(step)

    kept = Kept()
    table, replies = rlhf.measured_run(None, kept, lambda m: ({"v": 1.0}, ["r"]), thin_after=5)
    assert kept.restored == [0, 1, 2, 3, 4, 5, 10, 15, 20]
    assert list(table.index) == kept.restored and set(replies) == set(kept.restored)

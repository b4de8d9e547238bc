"""Learning from preferences: the reward model's loss and DPO's, from scratch (notebook 06).

Preference data is (prompt, chosen, rejected). RLHF first trains a reward model r(x, y) so that
chosen answers score higher than rejected ones (the Bradley-Terry loss below), then optimises a
policy against it with a KL penalty towards the reference model. DPO (Rafailov et al., 2023) skips
both: with log-ratios rho(y) = log pi(y|x) - log pi_ref(y|x), summed over the answer's tokens,

    L = -log sigmoid(beta * (rho(y_chosen) - rho(y_rejected)))

and beta * rho(y) is the *implicit reward* of an answer. A test checks these functions against
TRL's ``DPOTrainer`` on the same batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def bradley_terry_loss(chosen_scores: torch.Tensor, rejected_scores: torch.Tensor) -> torch.Tensor:
    """A reward model's loss: -log sigmoid(r(chosen) - r(rejected)), the negative log-likelihood
    that the chosen answer wins under the Bradley-Terry model of pairwise preferences."""
    return -F.logsigmoid(chosen_scores - rejected_scores).mean()


def completion_logprobs(
    model, input_ids: torch.Tensor, attention_mask: torch.Tensor, completion_mask: torch.Tensor
) -> torch.Tensor:
    """Each row's summed log-probability of its completion tokens (those where
    ``completion_mask`` is 1), each token predicted from the ones before it."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
    logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    per_token = logprobs.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (per_token * completion_mask[:, 1:]).sum(dim=1)


@dataclass
class DPOTerms:
    """DPO's loss on a batch and what TRL logs beside it (means over the batch)."""

    loss: torch.Tensor
    chosen_rewards: torch.Tensor  # beta * rho(chosen), per pair
    rejected_rewards: torch.Tensor  # beta * rho(rejected), per pair

    @property
    def margins(self) -> torch.Tensor:
        return self.chosen_rewards - self.rejected_rewards

    @property
    def accuracy(self) -> float:
        """Share of pairs whose chosen answer has the larger implicit reward."""
        return (self.margins > 0).float().mean().item()


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float,
) -> DPOTerms:
    """DPO from summed log-probabilities of the chosen and rejected answers under the policy and
    the reference. At the start, policy = reference: every reward is 0 and the loss is ln 2."""
    chosen_rewards = beta * (policy_chosen - reference_chosen)
    rejected_rewards = beta * (policy_rejected - reference_rejected)
    loss = -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    return DPOTerms(loss, chosen_rewards, rejected_rewards)

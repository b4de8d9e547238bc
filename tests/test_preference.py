"""course_utils.preference: DPO from scratch at the start (ln 2, zero rewards) and against TRL's
DPOTrainer on the same batch; the Bradley-Terry loss."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from datasets import Dataset

from course_utils import preference

PAIRS = {
    "prompt": ["Name a fruit.", "What is 3 plus 4?", "Name a colour.", "What is 2 plus 2?"],
    "chosen": ["A pear is a fruit.", "3 plus 4 is 7.", "Red is a colour.", "2 plus 2 is 4."],
    "rejected": ["car", "9", "dog", "5"],
}


def test_at_the_start_the_loss_is_ln2_and_every_reward_zero():
    logps = torch.tensor([-12.5, -3.0, -40.0])
    terms = preference.dpo_loss(logps, logps - 1, logps, logps - 1, beta=0.1)
    assert abs(terms.loss.item() - math.log(2)) < 1e-6
    assert torch.equal(terms.chosen_rewards, torch.zeros(3))
    assert torch.equal(terms.margins, torch.zeros(3)) and terms.accuracy == 0.0


def test_dpo_rewards_the_policy_for_preferring_the_chosen_answer():
    reference = torch.tensor([-10.0, -10.0])
    terms = preference.dpo_loss(reference + 2, reference - 2, reference, reference, beta=0.5)
    assert torch.allclose(terms.chosen_rewards, torch.tensor([1.0, 1.0]))
    assert torch.allclose(terms.margins, torch.tensor([2.0, 2.0]))
    assert terms.loss.item() == pytest.approx(-math.log(1 / (1 + math.exp(-2.0))))
    assert terms.accuracy == 1.0


def test_bradley_terry_loss():
    assert preference.bradley_terry_loss(torch.zeros(2), torch.zeros(2)).item() == pytest.approx(
        math.log(2)
    )
    assert preference.bradley_terry_loss(torch.tensor([5.0]), torch.tensor([0.0])).item() < 0.01


def test_from_scratch_dpo_equals_trl_on_the_same_batch(tiny_decoder, tmp_path):
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    model, tokenizer = tiny_decoder
    beta = 0.3
    trainer = DPOTrainer(
        model=copy.deepcopy(model),
        processing_class=tokenizer,
        train_dataset=Dataset.from_dict(PAIRS),
        peft_config=LoraConfig(
            r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0
        ),
        args=DPOConfig(
            output_dir=str(tmp_path),
            beta=beta,
            per_device_train_batch_size=4,
            use_cpu=True,
            bf16=False,
            gradient_checkpointing=False,
            report_to=[],
        ),
    )
    policy = trainer.model
    torch.manual_seed(0)
    moved = 0
    with torch.no_grad():  # move the adapter away from the reference, as training would
        for name, parameter in policy.named_parameters():
            if "lora_B" in name and parameter.requires_grad:
                parameter.normal_(0, 0.5)
                moved += 1
    assert moved > 0, [n for n, _ in policy.named_parameters() if "lora" in n]
    batch = next(iter(trainer.get_train_dataloader()))
    policy.train()
    with torch.no_grad():
        theirs = trainer.compute_loss(policy, batch).item()
        args = (batch["input_ids"], batch["attention_mask"], batch["completion_mask"])
        chosen, rejected = preference.completion_logprobs(policy, *args).chunk(2)
        with policy.disable_adapter():
            ref_chosen, ref_rejected = preference.completion_logprobs(policy, *args).chunk(2)
    ours = preference.dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta)
    logged = {k: v[-1] for k, v in trainer._metrics["train"].items()}
    assert abs(ours.loss.item() - theirs) < 1e-5
    assert abs(ours.loss.item() - math.log(2)) > 1e-3  # the adapter really moved the policy
    assert ours.chosen_rewards.mean().item() == pytest.approx(logged["rewards/chosen"], abs=1e-5)
    assert ours.rejected_rewards.mean().item() == pytest.approx(
        logged["rewards/rejected"], abs=1e-5
    )
    assert ours.margins.mean().item() == pytest.approx(logged["rewards/margins"], abs=1e-5)

"""TRL's trainers train on a CPU with the pinned stack (trl 1.15.0 did not: it needs Triton),
and learn: SFT lowers the loss on its answers, DPO pulls the chosen answers ahead.

A future version bump that breaks CPU training fails here, not in notebook 05 or 06. The mini
decoder, not a random tiny one: a random model's logits are too small for a few steps to move."""

from __future__ import annotations

import pytest
from datasets import Dataset

pytestmark = pytest.mark.build  # the mini decoder is built first

CPU = {
    "lr_scheduler_type": "constant",
    "use_cpu": True,
    "bf16": False,
    "gradient_checkpointing": False,
    "report_to": [],
}


@pytest.fixture
def mini_decoder(mini_report):
    """(model, tokenizer): the course's mini decoder, trained on the mini world."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from course_utils.core import paths
    from course_utils.mini.build import DECODER_DIR

    folder = str(paths.models_dir() / DECODER_DIR)
    return AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


@pytest.fixture(params=[0, 1, 2])
def seed(request) -> int:
    """The adapter's initialisation happens before the trainer seeds itself: seed it here."""
    import torch

    torch.manual_seed(request.param)
    return request.param


@pytest.fixture
def lora():
    from peft import LoraConfig

    return LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)


def test_sft_trainer_trains_a_lora_adapter(mini_decoder, tmp_path, lora, seed):
    import copy

    from trl import SFTConfig, SFTTrainer

    model, tokenizer = mini_decoder
    rows = {"prompt": ["What is 3 plus 4?", "Name a fruit."], "completion": ["7", "pear"]}
    trainer = SFTTrainer(
        model=copy.deepcopy(model),
        processing_class=tokenizer,
        train_dataset=Dataset.from_dict(rows),
        peft_config=lora,
        args=SFTConfig(
            output_dir=str(tmp_path),
            max_steps=8,
            per_device_train_batch_size=2,
            logging_steps=1,
            learning_rate=3e-2,
            seed=seed,
            **CPU,
        ),
    )
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 8 and all(loss == loss for loss in losses)  # ran, no NaN
    assert sum(losses[-2:]) < 0.8 * sum(losses[:2]), losses  # and learned the two answers


def test_dpo_trainer_starts_at_log_2_and_learns_the_preference(mini_decoder, tmp_path, lora, seed):
    import copy
    import math

    from trl import DPOConfig, DPOTrainer

    model, tokenizer = mini_decoder
    rows = {
        "prompt": ["Name a fruit.", "What is 3 plus 4?"],
        "chosen": ["pear", "7"],
        "rejected": ["car", "9"],
    }
    trainer = DPOTrainer(
        model=copy.deepcopy(model),
        processing_class=tokenizer,
        train_dataset=Dataset.from_dict(rows),
        peft_config=lora,
        args=DPOConfig(
            output_dir=str(tmp_path),
            max_steps=10,
            per_device_train_batch_size=2,
            logging_steps=1,
            learning_rate=3e-3,
            beta=1.0,
            seed=seed,
            **CPU,
        ),
    )
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert logs[0]["loss"] == pytest.approx(math.log(2), abs=1e-3)  # policy = reference at start
    # The chosen answers pulled ahead: seeds 0-2 end near 0.4 with margins near 1.
    assert logs[-1]["loss"] < 0.7 * math.log(2), logs
    assert logs[-1]["rewards/accuracies"] == 1.0 and logs[-1]["rewards/margins"] > 0.5, logs

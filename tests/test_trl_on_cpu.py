"""TRL's trainers train on a CPU with the pinned stack (trl 1.15.0 did not: it needs Triton).

A future version bump that breaks CPU training fails here, not in notebook 05 or 06."""

from __future__ import annotations

import pytest
from datasets import Dataset

CPU = {"use_cpu": True, "bf16": False, "gradient_checkpointing": False, "report_to": []}


@pytest.fixture
def lora():
    from peft import LoraConfig

    return LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)


def test_sft_trainer_trains_a_lora_adapter(tiny_decoder, tmp_path, lora):
    import copy

    from trl import SFTConfig, SFTTrainer

    model, tokenizer = tiny_decoder
    rows = {"prompt": ["What is 3 plus 4?", "Name a fruit."], "completion": ["7", "pear"]}
    trainer = SFTTrainer(
        model=copy.deepcopy(model),
        processing_class=tokenizer,
        train_dataset=Dataset.from_dict(rows),
        peft_config=lora,
        args=SFTConfig(
            output_dir=str(tmp_path),
            max_steps=3,
            per_device_train_batch_size=2,
            logging_steps=1,
            learning_rate=1e-2,
            **CPU,
        ),
    )
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 3 and all(loss == loss for loss in losses)  # ran, no NaN


def test_dpo_trainer_starts_at_log_2(tiny_decoder, tmp_path, lora):
    import copy
    import math

    from trl import DPOConfig, DPOTrainer

    model, tokenizer = tiny_decoder
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
            max_steps=2,
            per_device_train_batch_size=2,
            logging_steps=1,
            **CPU,
        ),
    )
    trainer.train()
    first = next(h for h in trainer.state.log_history if "loss" in h)
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-3)  # policy = reference at start

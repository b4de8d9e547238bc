"""course_utils.qlora: the Alpaca prompt, 4-bit loading, and a 4-bit model that still learns
after an evaluation (the AVX512-BF16 trap of bitsandbytes on some CPUs)."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset

from course_utils import qlora, recipes
from course_utils.core.evaluation import generate_answers


def test_alpaca_prompt_with_and_without_input():
    alone = qlora.alpaca_prompt("Name a fruit.")
    paired = qlora.alpaca_prompt("Reverse the words.", "red blue")
    assert alone.endswith("### Instruction:\nName a fruit.\n\n### Response:\n")
    assert "### Input" not in alone
    assert "### Input:\nred blue\n\n### Response:\n" in paired
    assert "paired with an input" in paired and "paired with an input" not in alone
    rows = [{"instruction": "Name a fruit.", "input": "", "output": "pear"}]
    assert qlora.sft_pairs(rows) == {"prompt": [alone], "completion": ["pear"]}


def test_keep_trainables_in_float32():
    layer = torch.nn.Linear(2, 2).to(torch.bfloat16)
    frozen = torch.nn.Linear(2, 2).to(torch.bfloat16).requires_grad_(False)
    model = torch.nn.Sequential(layer, frozen)
    assert qlora.keep_trainables_in_float32(model) == 2  # weight and bias of the first layer
    assert layer.weight.dtype == torch.float32 and frozen.weight.dtype == torch.bfloat16


@pytest.mark.build
def test_four_bit_model_learns_after_an_evaluation(mini_report, tmp_path):
    """bitsandbytes on CPUs with AVX512-BF16 repacks 4-bit weights at the first eval-mode forward
    pass; without ``load_in_4bit``'s guard the model then stops learning. Evaluate, then train:
    the loss must still fall. (The mini decoder, not a random tiny one, whose frozen embeddings
    are too small to move its logits.)"""
    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from course_utils.core import paths
    from course_utils.mini.build import DECODER_DIR
    from course_utils.tooling.profiles import MINI

    folder = str(paths.models_dir() / DECODER_DIR)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = qlora.load_in_4bit(folder)
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
    prompts = [qlora.alpaca_prompt("Name a fruit."), qlora.alpaca_prompt("Name a colour.")]
    generate_answers(model, tokenizer, prompts, max_new_tokens=3, chat=False)  # eval mode
    repacked = [
        m
        for m in model.modules()
        if isinstance(m, bnb.nn.Linear4bit)
        and getattr(m.weight.quant_state, "packing_format_for_cpu", False)
    ]
    assert not repacked, "the eval-mode forward repacked 4-bit weights for the CPU kernel"
    rows = {"prompt": prompts * 4, "completion": ["pear", "red"] * 4}
    trainer = SFTTrainer(
        model=model,
        processing_class=tokenizer,
        train_dataset=Dataset.from_dict(rows),
        peft_config=recipes.lora_config(rank=4, alpha=8),
        args=recipes.trainer_arguments(
            SFTConfig,
            MINI,
            output_dir=str(tmp_path),
            steps=20,
            batch_size=8,
            accumulation=1,
            learning_rate=1e-2,
            warmup=0,
            max_length=256,
            seed=0,
            logging_steps=1,
        ),
    )
    qlora.keep_trainables_in_float32(trainer.model)
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5, losses


def test_sft_arguments_on_a_cpu_and_overrides(tmp_path):
    from course_utils.tooling.profiles import MINI

    common = dict(
        output_dir=str(tmp_path),
        steps=40,
        batch_size=4,
        accumulation=2,
        learning_rate=1e-3,
        warmup=2,
        max_length=64,
        seed=0,
    )
    from trl import SFTConfig

    args = recipes.trainer_arguments(SFTConfig, MINI, **common)
    assert args.use_cpu and not args.bf16 and not args.fp16 and not args.gradient_checkpointing
    assert args.gradient_accumulation_steps == 2 and args.max_length == 64
    assert (
        recipes.trainer_arguments(SFTConfig, MINI, **common, weight_decay=0.01).weight_decay == 0.01
    )

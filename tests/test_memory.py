"""course_utils.memory: the estimator's weight bytes are get_memory_footprint's, and Mistral-7B's
budgets follow from its configuration."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig

from course_utils import lora, memory
from course_utils.core import counting


@pytest.fixture(scope="module")
def decoder_folder(tiny_decoder, tmp_path_factory):
    model, tokenizer = tiny_decoder
    folder = tmp_path_factory.mktemp("tiny-decoder")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize(("dtype", "size"), [(torch.float32, 4), (torch.bfloat16, 2)])
def test_weight_bytes_equal_the_footprint(decoder_folder, dtype, size):
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(decoder_folder, dtype=dtype)
    meta = counting.meta_model(decoder_folder / "config.json")
    assert memory.weight_bytes(meta, size) == loaded.get_memory_footprint()


def test_four_bit_weight_bytes_equal_the_footprint(decoder_folder):
    pytest.importorskip("bitsandbytes")
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    config = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.float32,
    )
    loaded = AutoModelForCausalLM.from_pretrained(
        decoder_folder, quantization_config=config, dtype=torch.float32
    )
    meta = counting.meta_model(decoder_folder / "config.json")
    assert memory.weight_bytes(meta, 4, four_bit=True) == loaded.get_memory_footprint()
    stored, unquantized = memory.quantized_layer_bytes(loaded)
    assert 0 < stored < unquantized  # (tiny layers: the fixed code tables weigh a lot)


def test_mistral_7b_budgets():
    path = counting.shipped_config("mistral-7b")
    model = counting.meta_model(path)
    assert counting.total_parameters(model) == 7_241_732_096
    seven = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    adapters = lora.lora_parameters(AutoConfig.from_pretrained(path.parent), seven, 16)
    plans = memory.budgets(model, adapters)
    total = 7_241_732_096
    assert plans["full fine-tuning, fp32"].total == 16 * total
    assert plans["full fine-tuning, mixed precision"].total == 16 * total
    assert plans["LoRA, 16-bit base"].total == 2 * total + 16 * adapters
    qlora = plans["QLoRA, NF4 base"].total
    assert 4e9 < qlora < 15e9 < plans["LoRA, 16-bit base"].total  # fits a T4; 16-bit does not

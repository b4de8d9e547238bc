"""QLoRA: LoRA adapters trained on a frozen 4-bit base (taught in notebook 05).

QLoRA (Dettmers et al., 2023) stores the base model's linear layers in NF4 with double
quantization, computes in 16 (or, on a CPU, 32) bits by dequantizing each layer on the fly, and
trains LoRA adapters kept in higher precision; paged optimizers absorb memory spikes. This
module holds the plain recipe (transformers + bitsandbytes + peft + TRL), which runs anywhere;
notebook 05 shows Unsloth's faster version of the same recipe on a GPU.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence

import torch

#: Unsloth's published figures for its Mistral-7B Alpaca recipe on a Colab T4 (r=16, 60 steps,
#: batch 2 x accumulation 4): training time and peak reserved GPU memory, for comparison with a run.
UNSLOTH_T4 = {"minutes": 9.0, "peak_gb": 5.84}

#: Unsloth's pre-quantized (NF4) Mistral-7B v0.3: notebook 05's t4 model, notebook 06's option.
UNSLOTH_MISTRAL = "unsloth/mistral-7b-v0.3-bnb-4bit"

_HEADER = (
    "Below is an instruction that describes a task{paired}. "
    "Write a response that appropriately completes the request.\n\n"
)


def alpaca_prompt(instruction: str, context: str = "") -> str:
    """The Alpaca prompt for one example, up to and including "### Response:" and its newline;
    the response (and EOS) follow it in training, and the model writes them at inference."""
    if context:
        return (
            _HEADER.format(paired=", paired with an input that provides further context")
            + f"### Instruction:\n{instruction}\n\n### Input:\n{context}\n\n### Response:\n"
        )
    return _HEADER.format(paired="") + f"### Instruction:\n{instruction}\n\n### Response:\n"


def sft_pairs(rows: Iterable[dict]) -> dict[str, list[str]]:
    """Alpaca-layout rows (instruction, input, output) as TRL prompt-completion columns. TRL
    appends the tokenizer's EOS to each completion, so the model learns where to stop."""
    rows = list(rows)
    return {
        "prompt": [alpaca_prompt(r["instruction"], r["input"]) for r in rows],
        "completion": [r["output"] for r in rows],
    }


def user_message(row: dict) -> str:
    """One Alpaca-layout row as a chat user turn: the instruction, then its input if any."""
    return row["instruction"] + (f"\n{row['input']}" if row["input"] else "")


def training_rows(rows: Iterable[dict], chat: bool) -> dict[str, list]:
    """TRL prompt-completion columns for ``rows``: chat turns for a model with a chat template
    (the mini decoder), the Alpaca text template for a base model without one (Mistral-7B)."""
    rows = list(rows)
    if not chat:
        return sft_pairs(rows)
    return {
        "prompt": [[{"role": "user", "content": user_message(r)}] for r in rows],
        "completion": [[{"role": "assistant", "content": r["output"]}] for r in rows],
    }


def respond(model, tokenizer, rows: Sequence[dict], chat: bool, max_new_tokens: int) -> list[str]:
    """The model's greedy responses to ``rows``, in the format it was trained with."""
    from .core.evaluation import generate_answers

    if chat:
        prompts = [user_message(r) for r in rows]
    else:
        prompts = [alpaca_prompt(r["instruction"], r["input"]) for r in rows]
    return generate_answers(model, tokenizer, prompts, max_new_tokens=max_new_tokens, chat=chat)


def quantization_config(compute_dtype: torch.dtype = torch.float32):
    """NF4 weights, double quantization, computation in ``compute_dtype`` (float32 on a CPU,
    where bfloat16 arithmetic is many times slower; 16 bits on a GPU)."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    )


def load_in_4bit(path: str, compute_dtype: torch.dtype = torch.float32):
    """A causal LM with its linear layers in NF4 (bitsandbytes), ready for k-bit training.

    On CPUs with AVX512-BF16, bitsandbytes repacks 4-bit weights at the first eval-mode forward
    pass, after which its kernel has no backward and training silently stops learning; switching
    that repacking off on every 4-bit layer avoids it (a test evaluates, then trains)."""
    import bitsandbytes as bnb
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        path, quantization_config=quantization_config(compute_dtype), dtype=compute_dtype
    )
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit) and hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)


def keep_trainables_in_float32(model) -> int:
    """Cast the trainable parameters back to float32; returns how many tensors were cast.

    With a quantized model TRL casts trainable parameters to bfloat16; on a T4, which trains in
    float16, the gradient scaler then refuses bfloat16 gradients. Call after building the trainer.
    """
    cast = 0
    for parameter in model.parameters():
        if parameter.requires_grad and parameter.dtype != torch.float32:
            parameter.data = parameter.data.float()
            cast += 1
    return cast


def unsloth_available() -> bool:
    """Whether Unsloth can be used here: it is installed and a CUDA GPU is present (Unsloth
    raises at import without one)."""
    return torch.cuda.is_available() and importlib.util.find_spec("unsloth") is not None

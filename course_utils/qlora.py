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
from typing import Any

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


def sft_arguments(settings, seed: int, **extra: Any):
    """TRL's ``SFTConfig`` for notebook 05's recipe, from the notebook's ``settings`` (TRAIN_STEPS,
    BATCH_SIZE, GRAD_ACCUM, LEARNING_RATE, WARMUP_STEPS, MAX_SEQ_LENGTH and its profile) and
    ``extra`` fields (Unsloth's 8-bit optimizer, for one)."""
    import tempfile

    from trl import SFTConfig

    from . import recipes

    return recipes.trainer_arguments(
        SFTConfig,
        settings.profile,
        output_dir=tempfile.mkdtemp(),
        steps=settings.TRAIN_STEPS,
        batch_size=settings.BATCH_SIZE,
        accumulation=settings.GRAD_ACCUM,
        learning_rate=settings.LEARNING_RATE,
        warmup=settings.WARMUP_STEPS,
        max_length=settings.MAX_SEQ_LENGTH,
        seed=seed,
        **extra,
    )


def train_lora(model, tokenizer, rows: Sequence[dict], chat: bool, settings, seed: int, label: str):
    """LoRA on ``model`` (4-bit or not) with TRL's ``SFTTrainer``, by notebook 05's recipe:
    ``settings`` are the notebook's (TRAIN_STEPS, BATCH_SIZE, GRAD_ACCUM, LEARNING_RATE,
    WARMUP_STEPS, MAX_SEQ_LENGTH, LORA_RANK, LORA_ALPHA and its profile). Prints one line;
    returns the trained model, its logged (step, loss) pairs and the training seconds."""
    import time

    from datasets import Dataset
    from trl import SFTTrainer

    from . import recipes
    from .core.progress import bar_only_progress

    torch.manual_seed(seed)  # the adapter's start: peft builds it before the trainer seeds itself
    args = sft_arguments(settings, seed)
    trainer = SFTTrainer(
        model=model,
        processing_class=tokenizer,
        args=args,
        train_dataset=Dataset.from_dict(training_rows(rows, chat)),
        peft_config=recipes.lora_config(settings.LORA_RANK, settings.LORA_ALPHA),
    )
    keep_trainables_in_float32(trainer.model)
    bar_only_progress(trainer)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    losses = [(h["step"], h["loss"]) for h in trainer.state.log_history if "loss" in h]
    print(
        f"{label}: {settings.TRAIN_STEPS} steps in {seconds:.1f} s, last loss {losses[-1][1]:.3f}"
    )
    return trainer.model, losses, seconds


def unsloth_lora_model(model_name: str, max_seq_length: int, rank: int, alpha: int, seed: int):
    """Unsloth's 4-bit ``model_name`` with LoRA (``rank``, ``alpha``, no dropout) on the seven
    projections and Unsloth's gradient checkpointing, as both of the course's Unsloth recipes
    (SFT here, DPO in notebook 06) train it. Returns (model, tokenizer); needs a CUDA GPU."""
    from unsloth import FastLanguageModel

    from . import recipes

    fast, tokenizer = FastLanguageModel.from_pretrained(
        model_name=model_name, max_seq_length=max_seq_length, dtype=None, load_in_4bit=True
    )
    fast = FastLanguageModel.get_peft_model(
        fast,
        r=rank,
        lora_alpha=alpha,
        lora_dropout=0,
        bias="none",
        target_modules=list(recipes.SEVEN_PROJECTIONS),
        use_gradient_checkpointing="unsloth",
        random_state=seed,
    )
    return fast, tokenizer


def train_with_unsloth(settings, train_rows: Sequence[dict], test_rows: Sequence[dict]):
    """Notebook 05's recipe with Unsloth on a GPU: its 4-bit model from ``FastLanguageModel``,
    LoRA on the seven projections with Unsloth's gradient checkpointing, 8-bit AdamW, the whole
    Alpaca-formatted text as the target (as Unsloth's notebooks train). Answers the first test
    instruction, saves and reloads the adapter. Returns (minutes, peak reserved GPU GB)."""
    import gc
    import tempfile
    import time
    from pathlib import Path

    from datasets import Dataset
    from transformers import TextStreamer
    from trl import SFTTrainer
    from unsloth import FastLanguageModel

    from .core.progress import bar_only_progress

    fast, tokenizer = unsloth_lora_model(
        settings.MODEL,
        settings.MAX_SEQ_LENGTH,
        settings.LORA_RANK,
        settings.LORA_ALPHA,
        settings.seed,
    )
    texts = [
        alpaca_prompt(r["instruction"], r["input"]) + r["output"] + tokenizer.eos_token
        for r in train_rows
    ]
    args = sft_arguments(
        settings,
        settings.seed,
        optim="adamw_8bit",
        weight_decay=0.01,
        dataset_text_field="text",
        gradient_checkpointing=False,  # Unsloth's own checkpointing is already on
    )
    trainer = SFTTrainer(
        model=fast,
        processing_class=tokenizer,
        args=args,
        train_dataset=Dataset.from_dict({"text": texts}),
    )
    bar_only_progress(trainer)
    keep_trainables_in_float32(trainer.model)  # fp16's gradient scaler refuses bf16
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer.train()
    minutes = (time.perf_counter() - start) / 60
    peak_gb = torch.cuda.max_memory_reserved() / 1e9
    FastLanguageModel.for_inference(fast)
    prompt = alpaca_prompt(test_rows[0]["instruction"], test_rows[0]["input"])
    inputs = tokenizer([prompt], return_tensors="pt").to("cuda")
    fast.generate(
        **inputs, streamer=TextStreamer(tokenizer), max_new_tokens=settings.MAX_NEW_TOKENS
    )
    with tempfile.TemporaryDirectory() as folder:
        fast.save_pretrained(folder)
        FastLanguageModel.from_pretrained(
            model_name=folder, max_seq_length=settings.MAX_SEQ_LENGTH, load_in_4bit=True
        )
        print("adapter saved and reloaded:", sorted(p.name for p in Path(folder).iterdir()))
    del fast, trainer
    gc.collect()
    torch.cuda.empty_cache()
    return minutes, peak_gb


def plot_losses(curves: dict[str, list[tuple[int, float]]]):
    """Training-loss curves on a log scale, one line style each (dashed over solid: two curves
    can coincide)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for (label, losses), style in zip(curves.items(), ("-", "--", ":", "-."), strict=False):
        ax.plot(*zip(*losses, strict=True), label=label, linestyle=style)
    ax.set(xlabel="step", ylabel="training loss", yscale="log")
    ax.legend()
    return fig


def why_not_unsloth(wanted: bool) -> str:
    """Why Unsloth's recipe does not run here (call when ``unsloth_available`` is False or the
    notebook's USE_UNSLOTH is off)."""
    if not torch.cuda.is_available():
        return "no CUDA GPU"
    return "Unsloth is not installed" if wanted else "USE_UNSLOTH is False"

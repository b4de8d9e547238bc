"""The course's training recipes: trainer arguments on a GPU or a CPU, and the LoRA adapter.

``trainer_arguments`` is the one builder of trainer arguments (TRL's ``SFTConfig``, ``DPOConfig``,
``RewardConfig``, and transformers' ``Seq2SeqTrainingArguments``). It decides what differs
between the two kinds of machine: on a GPU, 16-bit mixed precision, 8-bit paged AdamW and
gradient checkpointing; on a CPU, float32, plain AdamW and no checkpointing (TRL's defaults,
bf16 and checkpointing, make CPU steps several times slower). Each recipe overrides what it
needs. ``lora_config`` is the adapter of notebooks 05 to 07 and of the scripts;
``adapter_snapshots`` keeps an adapter's weights during training, to measure a run afterwards
at several of its steps (notebook 07).
"""

from __future__ import annotations


def trainer_arguments(
    config_class,
    profile,
    *,
    output_dir: str,
    steps: int,
    batch_size: int,
    accumulation: int,
    learning_rate: float,
    warmup: int,
    seed: int,
    **overrides,
):
    """``config_class`` (``SFTConfig``, ``DPOConfig``, ``RewardConfig``) for ``profile``;
    ``overrides`` replace or add any setting (``beta=``, ``loss_type=``, ``max_length=``...)."""
    gpu = profile.device != "cpu"
    settings = dict(
        output_dir=output_dir,
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        learning_rate=learning_rate,
        lr_scheduler_type="linear" if gpu else "cosine",
        warmup_steps=warmup,
        optim="paged_adamw_8bit" if gpu else "adamw_torch",
        logging_steps=max(1, steps // 40),
        use_cpu=not gpu,
        fp16=gpu and profile.fp16,
        bf16=gpu and profile.bf16,
        gradient_checkpointing=gpu,
        save_strategy="no",
        report_to=[],
        seed=seed,
    )
    return config_class(**(settings | overrides))


#: The seven projections of a Llama/Mistral block: attention (q, k, v, o) and the gated MLP.
SEVEN_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def lora_config(rank: int = 16, alpha: float = 16, dropout: float = 0.0, targets=SEVEN_PROJECTIONS):
    """The SFT and DPO recipes' adapter (QLoRA's): every projection of every block; ``targets``
    may also be peft's "all-linear"."""
    from peft import LoraConfig

    return LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=targets if isinstance(targets, str) else list(targets),
        bias="none",
        task_type="CAUSAL_LM",
    )


def adapter_snapshots(every: int):
    """A ``TrainerCallback`` that keeps a copy of the LoRA adapter's weights (in CPU memory)
    before training, every ``every`` steps and after the last (``.states``: step -> weights),
    so that a run can be measured afterwards at several points of its training
    (``.restore(model, step)``). A copy is the adapter's size: about 35 MB for rank 16 on every
    linear layer of a 0.5B model, a few hundred kilobytes for the mini decoder."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict
    from transformers import TrainerCallback

    class AdapterSnapshots(TrainerCallback):
        def __init__(self):
            self.states: dict[int, dict] = {}

        def _keep(self, step, model):
            weights = get_peft_model_state_dict(model)
            self.states[step] = {k: v.detach().to("cpu", copy=True) for k, v in weights.items()}

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self._keep(0, model)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step % every == 0 or state.global_step == state.max_steps:
                self._keep(state.global_step, model)

        def restore(self, model, step: int) -> None:
            set_peft_model_state_dict(model, self.states[step])

    if every < 1:
        raise ValueError(f"every = {every!r}: snapshots every 1 or more steps")
    return AdapterSnapshots()

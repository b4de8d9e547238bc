"""TRL trainer arguments for the course's recipes (SFT, DPO, reward model), on a GPU or a CPU.

One place decides what differs between the two (notebooks 05 and 06): on a GPU, 16-bit mixed
precision, 8-bit paged AdamW and gradient checkpointing; on a CPU, float32, plain AdamW and no
checkpointing (TRL's defaults, bf16 and checkpointing, make CPU steps several times slower).
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

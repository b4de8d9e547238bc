"""Supervised fine-tuning with LoRA, or QLoRA with --quantize: notebook 05's recipe as a script.

One process:   python scripts/sft.py --output_dir outputs/sft
Several:       accelerate launch --config_file configs/accelerate/multi_gpu.yaml scripts/sft.py ...
On a CPU:      accelerate launch --multi_gpu --num_processes 2 scripts/sft.py ...

The data has the course's instruction layout (instruction, input, output); the default is the
course's `instructions` dataset (bundled in mini, Alpaca-cleaned in t4). `--help` lists every
argument. The final LoRA adapter and metrics.json land in --output_dir.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from course_utils import qlora, recipes
from course_utils.tooling import launch


@dataclass
class SFTArguments(launch.RunArguments):
    output_dir: str = field(default="outputs/sft", metadata={"help": "checkpoints and results"})
    quantize: bool = field(
        default=False, metadata={"help": "QLoRA: load the base model in 4 bits (NF4)"}
    )


def main(argv: list[str] | None = None) -> dict | None:
    try:
        args = launch.parse(SFTArguments, argv)
        source = launch.model_source(args)
        rows = launch.load_rows(args, "instructions", ("instruction", "input", "output"))
    except launch.ArgumentError as error:
        sys.exit(f"sft.py: {error}")

    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    tokenizer, chat, dtype = launch.model_settings(args, source)
    if args.quantize:
        model = qlora.load_in_4bit(source, dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    trainer = SFTTrainer(
        model=model,
        processing_class=tokenizer,
        train_dataset=Dataset.from_dict(qlora.training_rows(rows, chat)),
        peft_config=recipes.lora_config(args.lora_rank, args.lora_alpha),
        args=recipes.trainer_arguments(
            SFTConfig, launch.profile_for(args), **launch.run_settings(args)
        ),
    )
    if args.quantize:
        qlora.keep_trainables_in_float32(trainer.model)
    metrics = launch.train_and_save(trainer, args, "sft")
    if metrics is not None:
        print(
            f"sft.py: {metrics['steps']} steps, final loss {metrics['train_loss']:.4f}, "
            f"adapter in {Path(args.output_dir) / 'adapter'}"
        )
    return metrics


if __name__ == "__main__":
    launch.run_and_exit(main)

"""DPO with a LoRA adapter whose disabled state is the reference: notebook 06's recipe as a script.

One process:   python scripts/dpo.py --output_dir outputs/dpo
Several:       accelerate launch --config_file configs/accelerate/multi_gpu.yaml scripts/dpo.py ...
On a CPU:      accelerate launch --multi_gpu --num_processes 2 scripts/dpo.py ...

The data has the course's preference layout (prompt, chosen, rejected); the default is the
course's `preferences` dataset (bundled in mini, UltraFeedback binarized in t4). Start from a
supervised model (scripts/sft.py, adapter merged) as notebook 06 does. `--help` lists every
argument. The final LoRA adapter and metrics.json land in --output_dir.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from course_utils import preference, recipes
from course_utils.tooling import launch

LOSS_TYPES = ("sigmoid", "ipo", "hinge")


@dataclass
class DPOArguments(launch.AfterSFTArguments):
    output_dir: str = field(default="outputs/dpo", metadata={"help": "checkpoints and results"})
    learning_rate: float = field(default=1e-3, metadata={"help": "peak learning rate, > 0"})
    beta: float = field(default=0.1, metadata={"help": "DPO's beta: the leash to the reference"})
    loss_type: str = field(default="sigmoid", metadata={"help": "sigmoid (DPO), ipo or hinge"})
    nll_weight: float = field(
        default=1.0, metadata={"help": "weight of the NLL term on the chosen answers (0: none)"}
    )


def check(args: DPOArguments) -> None:
    if not args.beta > 0:
        raise launch.ArgumentError(f"--beta = {args.beta} is not allowed: expected a number > 0")
    if args.loss_type not in LOSS_TYPES:
        raise launch.ArgumentError(
            f"--loss_type = {args.loss_type!r} is not allowed: expected one of "
            + ", ".join(LOSS_TYPES)
        )
    if args.nll_weight < 0:
        raise launch.ArgumentError(
            f"--nll_weight = {args.nll_weight} is not allowed: expected >= 0"
        )


def main(argv: list[str] | None = None) -> dict | None:
    try:
        args = launch.parse(DPOArguments, argv)
        check(args)
        source = launch.model_source(args)
        rows = launch.load_rows(args, "preferences", ("prompt", "chosen", "rejected"))
    except launch.ArgumentError as error:
        sys.exit(f"dpo.py: {error}")

    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    tokenizer, chat, dtype = launch.model_settings(args, source)
    losses, weights = [args.loss_type], [1.0]
    if args.nll_weight > 0:
        losses, weights = losses + ["sft"], weights + [args.nll_weight]
    trainer = DPOTrainer(
        model=launch.load_policy(args, source, dtype),
        processing_class=tokenizer,
        train_dataset=Dataset.from_dict(preference.pair_columns(rows, chat)),
        peft_config=recipes.lora_config(args.lora_rank, args.lora_alpha),
        args=recipes.trainer_arguments(
            DPOConfig,
            launch.profile_for(args),
            **launch.run_settings(args),
            beta=args.beta,
            loss_type=losses,
            loss_weights=weights,
        ),
    )
    metrics = launch.train_and_save(trainer, args, "dpo")
    if metrics is not None:
        last = metrics["last_logged"]
        print(
            f"dpo.py: {metrics['steps']} steps, reward accuracy "
            f"{last.get('rewards/accuracies', float('nan')):.2f}, margin "
            f"{last.get('rewards/margins', float('nan')):.3f}, adapter in "
            f"{Path(args.output_dir) / 'adapter'}"
        )
    return metrics


if __name__ == "__main__":
    launch.run_and_exit(main)

"""GRPO with a LoRA adapter whose disabled state is the reference: notebook 07's recipe as a script.

One process:   python scripts/grpo.py --output_dir outputs/grpo
Several:       accelerate launch --config_file configs/accelerate/multi_gpu.yaml scripts/grpo.py ...
On a CPU:      accelerate launch --multi_gpu --num_processes 2 scripts/grpo.py ...

The data are prompts with a checkable answer (question, answer); the default is the mini world's
`kind` task in mini (a one-word answer: fruit, tool...) and GSM8K in t4. The reward is a function
named by --reward (exact: the reply is the answer; numeric: its final number is the answer's) or
a reward model folder (--reward_model; then only the question is needed). Each prompt gets
--num_generations replies, and --per_device_batch_size counts replies, as TRL does: a step's
replies (per process x processes x accumulation) must make whole groups. Each reply is sampled
from noise of its own (course_utils.grpo.SeededSampling), so several processes train as one
process with the same global batch. `--help` lists every argument. The final LoRA adapter and
metrics.json land in --output_dir.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from course_utils import grpo, recipes
from course_utils.tooling import launch

#: What metrics.json keeps of TRL's logs besides the loss, [step, value] each.
LOGGED = ("reward", "reward_std", "kl", "frac_reward_zero_std", "completions/mean_length")


@dataclass
class GRPOArguments(launch.AfterSFTArguments):
    output_dir: str = field(default="outputs/grpo", metadata={"help": "checkpoints and results"})
    per_device_batch_size: int = field(
        default=32,
        metadata={"help": "replies per process and step (prompts x --num_generations, as TRL)"},
    )
    learning_rate: float = field(default=1e-3, metadata={"help": "peak learning rate, > 0"})
    max_length: int = field(
        default=256,
        metadata={"help": "prompt tokens: a longer prompt is left out (TRL does not cut prompts)"},
    )
    reward: str | None = field(
        default=None,
        metadata={
            "help": "a verifiable reward: exact (the reply is the answer, case aside) or numeric "
            "(its final number is the answer's, GSM8K's '#### n'); None: exact in mini, numeric "
            "in t4, unless --reward_model is given"
        },
    )
    reward_model: str | None = field(
        default=None,
        metadata={
            "help": "instead of --reward, a reward model: a folder (or, in t4, a Hub id) of a "
            "sequence-classification model with one label, e.g. saved by TRL's RewardTrainer"
        },
    )
    num_generations: int = field(
        default=8, metadata={"help": "replies per prompt (the group), >= 2"}
    )
    beta: float = field(
        default=0.04, metadata={"help": "weight of the KL penalty towards the reference, >= 0"}
    )
    epsilon: float = field(default=0.2, metadata={"help": "PPO's clip range, > 0 and < 1"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature, > 0"})
    max_completion_length: int | None = field(
        default=None, metadata={"help": "tokens per reply; None: 8 in mini, 256 in t4"}
    )


def world_size() -> int:
    """The number of processes ``accelerate launch`` (torchrun) started: 1 without it."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def check(args: GRPOArguments) -> None:
    if args.reward is not None and args.reward_model is not None:
        raise launch.ArgumentError(
            f"--reward = {args.reward!r} and --reward_model = {args.reward_model!r} are not "
            "allowed together: give one"
        )
    if args.reward is not None and args.reward not in grpo.REWARDS:
        raise launch.ArgumentError(
            f"--reward = {args.reward!r} is not allowed: expected one of {', '.join(grpo.REWARDS)}"
        )
    if args.num_generations < 2:
        raise launch.ArgumentError(
            f"--num_generations = {args.num_generations} is not allowed: expected an integer >= 2 "
            "(a group's replies are compared with each other)"
        )
    others = world_size() * args.accumulation
    replies = args.per_device_batch_size * others
    if replies % args.num_generations:
        unit = args.num_generations // math.gcd(args.num_generations, others)
        raise launch.ArgumentError(
            f"--per_device_batch_size = {args.per_device_batch_size} x {world_size()} "
            f"process(es) x --accumulation = {args.accumulation} makes {replies} replies a step, "
            f"not whole groups of --num_generations = {args.num_generations}: expected a "
            f"--per_device_batch_size that is a multiple of {unit}"
        )
    if args.beta < 0:
        raise launch.ArgumentError(f"--beta = {args.beta} is not allowed: expected >= 0")
    if not 0 < args.epsilon < 1:
        raise launch.ArgumentError(
            f"--epsilon = {args.epsilon} is not allowed: expected a number > 0 and < 1"
        )
    if not args.temperature > 0:
        raise launch.ArgumentError(
            f"--temperature = {args.temperature} is not allowed: expected a number > 0"
        )
    if args.max_completion_length is not None and args.max_completion_length < 1:
        raise launch.ArgumentError(
            f"--max_completion_length = {args.max_completion_length} is not allowed: expected an "
            "integer >= 1"
        )


def reward_source(args: GRPOArguments) -> str:
    """The reward model's folder or Hub id; a folder must hold a sequence-classification model."""
    source = launch.model_source(args, "reward_model")
    config = Path(source) / "config.json"
    if config.is_file():
        kinds = json.loads(config.read_text()).get("architectures") or []
        if not any(k.endswith("ForSequenceClassification") for k in kinds):
            raise launch.ArgumentError(
                f"--reward_model = {args.reward_model!r} is not a sequence-classification model "
                f"(its architectures: {', '.join(kinds) or 'none given'})"
            )
    return source


def prompt_columns(args: GRPOArguments, rows: list[dict], tokenizer, chat: bool) -> dict:
    """The dataset's columns: each question as the prompt (a user turn where the tokenizer has
    a chat template), and the answer for a reward function; prompts longer than --max_length
    tokens are left out."""
    kept = []
    for row in rows:
        prompt, text = row["question"], row["question"]
        if chat:
            prompt = [{"role": "user", "content": text}]
            text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        length = len(tokenizer(text, add_special_tokens=False).input_ids)
        if length <= args.max_length:
            kept.append(row | {"prompt": prompt})
    if not kept:
        raise launch.ArgumentError(
            f"--max_length = {args.max_length}: every one of the {len(rows)} prompts is longer"
        )
    names = ["prompt"] + (["answer"] if args.reward_model is None else [])
    return {name: [row[name] for row in kept] for name in names}


def main(argv: list[str] | None = None) -> dict | None:
    try:
        args = launch.parse(GRPOArguments, argv)
        check(args)
        source = launch.model_source(args)
        judge = reward_source(args) if args.reward_model else None
        columns = ("question",) if judge else ("question", "answer")
        rows = launch.load_rows(args, grpo.task_rows, columns)
    except launch.ArgumentError as error:
        sys.exit(f"grpo.py: {error}")

    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import GRPOConfig

    tokenizer, chat, dtype = launch.model_settings(args, source)
    try:
        dataset = Dataset.from_dict(prompt_columns(args, rows, tokenizer, chat))
    except launch.ArgumentError as error:
        sys.exit(f"grpo.py: {error}")
    if len(dataset) < len(rows) and os.environ.get("RANK", "0") == "0":
        print(
            f"grpo.py: left out {len(rows) - len(dataset)} of {len(rows)} prompts, longer than "
            f"--max_length = {args.max_length} tokens"
        )
    if judge:
        reward = AutoModelForSequenceClassification.from_pretrained(
            judge, num_labels=1, dtype=dtype
        )
        reward_tokenizer = AutoTokenizer.from_pretrained(judge)
    else:
        name = args.reward or ("exact" if args.profile == "mini" else "numeric")
        reward = getattr(grpo, grpo.REWARDS[name])
        reward_tokenizer = None
    settings = launch.run_settings(args)
    del settings["max_length"]  # GRPOConfig has none: prompts are filtered by it above
    trainer = grpo.seeded_sampling_trainer()(
        model=launch.load_policy(args, source, dtype),
        reward_funcs=reward,
        processing_class=tokenizer,
        reward_processing_classes=reward_tokenizer,
        train_dataset=dataset,
        peft_config=recipes.lora_config(args.lora_rank, args.lora_alpha),
        args=recipes.trainer_arguments(
            GRPOConfig,
            launch.profile_for(args),
            **settings,
            num_generations=args.num_generations,
            beta=args.beta,
            epsilon=args.epsilon,
            temperature=args.temperature,
            max_completion_length=args.max_completion_length
            or (8 if args.profile == "mini" else 256),
        ),
    )
    metrics = launch.train_and_save(trainer, args, "grpo", series=LOGGED)
    if metrics is not None:
        rewards = [value for _, value in metrics["series"]["reward"]]
        print(
            f"grpo.py: {metrics['steps']} steps of {metrics['global_batch']} replies, mean reward "
            f"{rewards[0]:.3f} (first logged) -> {rewards[-1]:.3f} (last), adapter in "
            f"{Path(args.output_dir) / 'adapter'}"
        )
    return metrics


if __name__ == "__main__":
    launch.run_and_exit(main)

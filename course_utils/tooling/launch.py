"""The course's SFT, DPO and GRPO recipes as command-line scripts, for ``accelerate launch``
(beyond one GPU): the arguments the scripts share, their checks, the data, checkpoints and final
outputs.

``scripts/sft.py``, ``scripts/dpo.py`` and ``scripts/grpo.py`` hold only what differs; the
recipes themselves are the notebooks' (``qlora`` for notebook 05, ``preference`` for notebook 06,
``grpo`` for notebook 07, ``recipes`` for the trainer arguments). Every argument is checked
before anything is loaded, and a bad one stops the script with a message naming it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .params import MINI_PREFIX, looks_like_hub_id

MINI_DECODER = MINI_PREFIX + "mini-decoder"


class ArgumentError(ValueError):
    """A command-line argument the script cannot use."""


@dataclass
class RunArguments:
    """What every recipe script takes (``--name value`` on the command line)."""

    model: str = field(
        default=MINI_DECODER,
        metadata={"help": "a model folder or Hub id (mini:<name>: a course mini model)"},
    )
    dataset: str | None = field(
        default=None,
        metadata={
            "help": "a course dataset name (instructions, preferences), a .jsonl/.json file or "
            "a folder of them; None: the recipe's course dataset"
        },
    )
    output_dir: str = field(
        default="outputs/run", metadata={"help": "checkpoints, the final adapter, metrics.json"}
    )
    profile: str = field(
        default="mini",
        metadata={"help": "mini (CPU, offline, float32) or t4 (GPU, 16-bit, Hub reachable)"},
    )
    max_steps: int = field(default=100, metadata={"help": "optimizer steps"})
    per_device_batch_size: int = field(default=8, metadata={"help": "examples per process"})
    accumulation: int = field(default=1, metadata={"help": "steps accumulated per update"})
    learning_rate: float = field(default=5e-3, metadata={"help": "peak learning rate, > 0"})
    warmup_steps: int = field(default=0, metadata={"help": "linear warm-up steps"})
    lora_rank: int = field(default=16, metadata={"help": "r of the LoRA adapters"})
    lora_alpha: float = field(default=16.0, metadata={"help": "LoRA scales B·A by alpha / r"})
    max_length: int = field(default=256, metadata={"help": "tokens per example"})
    max_rows: int | None = field(
        default=None, metadata={"help": "use only the first N training rows"}
    )
    save_steps: int = field(default=50, metadata={"help": "a checkpoint every N steps"})
    logging_steps: int = field(default=10, metadata={"help": "log the loss every N steps"})
    resume: bool = field(
        default=False, metadata={"help": "continue from the last checkpoint in output_dir"}
    )
    seed: int = field(default=0, metadata={"help": "initialisation and data order"})


_POSITIVE_INTEGERS = (
    "max_steps",
    "per_device_batch_size",
    "accumulation",
    "lora_rank",
    "max_length",
    "save_steps",
    "logging_steps",
)


def check(args: RunArguments) -> None:
    """Stop at the first argument that cannot work, naming it, its value and what is allowed."""
    for name in _POSITIVE_INTEGERS:
        value = getattr(args, name)
        if value < 1:
            raise ArgumentError(f"--{name} = {value} is not allowed: expected an integer >= 1")
    if not args.learning_rate > 0:
        raise ArgumentError(
            f"--learning_rate = {args.learning_rate} is not allowed: expected a number > 0"
        )
    if args.lora_alpha <= 0:
        raise ArgumentError(f"--lora_alpha = {args.lora_alpha} is not allowed: expected > 0")
    if args.warmup_steps < 0:
        raise ArgumentError(f"--warmup_steps = {args.warmup_steps} is not allowed: expected >= 0")
    if args.max_rows is not None and args.max_rows < 1:
        raise ArgumentError(f"--max_rows = {args.max_rows} is not allowed: expected >= 1")
    if args.profile not in ("mini", "t4"):
        raise ArgumentError(f"--profile = {args.profile!r} is not allowed: expected mini or t4")
    if isinstance(args, AfterSFTArguments):
        check_sft_adapter(args)
    if args.resume and last_checkpoint(args.output_dir) is None:
        raise ArgumentError(
            f"--resume: there is no checkpoint-* folder in --output_dir = {args.output_dir!r}"
        )


@dataclass
class AfterSFTArguments(RunArguments):
    """A recipe that may start from a supervised model (DPO, GRPO)."""

    sft_adapter: str | None = field(
        default=None,
        metadata={
            "help": "a LoRA adapter folder from scripts/sft.py, merged into --model first: the "
            "run then starts from (and refers to) the SFT model"
        },
    )


def check_sft_adapter(args: AfterSFTArguments) -> None:
    """Stop unless ``--sft_adapter`` is unset or a LoRA adapter folder."""
    if args.sft_adapter and not (Path(args.sft_adapter) / "adapter_config.json").is_file():
        raise ArgumentError(
            f"--sft_adapter = {args.sft_adapter!r} is not a LoRA adapter folder "
            "(no adapter_config.json there)"
        )


def load_policy(args: AfterSFTArguments, source: str, dtype):
    """The model to train: ``source`` in ``dtype``, with ``--sft_adapter`` merged into it."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    if args.sft_adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, args.sft_adapter).merge_and_unload()
    return model


def parse(argument_class: type, argv: list[str] | None = None):
    """The script's arguments, parsed with ``transformers.HfArgumentParser`` and checked."""
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(argument_class).parse_args_into_dataclasses(args=argv)
    check(args)
    return args


def profile_for(args: RunArguments):
    """The course profile the script runs in (``mini``: CPU, float32, offline)."""
    from . import profiles

    return profiles.MINI if args.profile == "mini" else profiles.resolve_profile("t4")


def model_source(args: RunArguments, name: str = "model") -> str:
    """The folder or Hub id to load ``--model`` (or the model argument ``name``) from; a folder
    that does not exist, or a Hub id in the offline mini profile, stops here."""
    value = getattr(args, name)
    if value.startswith(MINI_PREFIX):
        from ..mini.build import require_models
        from . import standins

        require_models()
        return standins.mini_model_path(value)
    if looks_like_hub_id(value):
        if args.profile == "mini":
            raise ArgumentError(
                f"--{name} = {value!r} is not allowed in the mini profile, which runs offline: "
                "give a model folder, or use --profile t4 with the Hub reachable"
            )
        return value
    if not (Path(value) / "config.json").is_file():
        raise ArgumentError(
            f"--{name} = {value!r} is not a model folder (no config.json there) and not a Hub id"
        )
    return value


def model_settings(args: RunArguments, source: str):
    """(tokenizer, chat, dtype) for a recipe: the random state seeded first (peft draws
    LoRA's A matrices before any trainer seeds), the tokenizer of ``source``, whether it has a
    chat template, and the dtype to load in (float32 on a CPU)."""
    import torch
    from transformers import AutoTokenizer, set_seed

    set_seed(args.seed)
    profile = profile_for(args)
    tokenizer = AutoTokenizer.from_pretrained(source)
    dtype = torch.float32 if profile.device == "cpu" else profile.torch_dtype
    return tokenizer, tokenizer.chat_template is not None, dtype


def load_rows(
    args: RunArguments, default: str | Callable[[str, int], list[dict]], columns: tuple[str, ...]
) -> list[dict]:
    """The training rows: a course dataset (``data.load``), a local JSON Lines / JSON file or
    folder, or without ``--dataset`` the recipe's ``default``: a course dataset's name or a
    function of (profile, seed) that returns rows. Every row must have ``columns``."""
    from datasets import Dataset, load_dataset

    from .. import data

    value = args.dataset or default
    if callable(value):
        rows = Dataset.from_list(value(args.profile, args.seed))
    elif value in data.SOURCES:
        rows = data.load(value, args.profile, seed=args.seed)["train"]
    else:
        path = Path(value)
        files = sorted(path.glob("*.json*")) if path.is_dir() else [path]
        if not files or not all(f.is_file() for f in files):
            raise ArgumentError(
                f"--dataset = {value!r} is not a course dataset ({', '.join(data.SOURCES)}) "
                "nor a .jsonl/.json file or a folder of them"
            )
        rows = load_dataset("json", data_files=[str(f) for f in files])["train"]
    missing = [c for c in columns if c not in rows.column_names]
    if missing:
        raise ArgumentError(
            f"--dataset = {value!r} lacks the column(s) {', '.join(missing)}: this recipe needs "
            f"{', '.join(columns)} (it has {', '.join(rows.column_names)})"
        )
    rows = list(rows)
    return rows[: args.max_rows] if args.max_rows else rows


def last_checkpoint(output_dir: str) -> str | None:
    """The newest ``checkpoint-<step>`` folder in ``output_dir``, or None."""
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None


def run_settings(args: RunArguments) -> dict[str, Any]:
    """The script's settings for ``recipes.trainer_arguments``: its sizes, checkpoints every
    ``save_steps``, progress bars on, its logging interval."""
    return dict(
        output_dir=args.output_dir,
        steps=args.max_steps,
        batch_size=args.per_device_batch_size,
        accumulation=args.accumulation,
        learning_rate=args.learning_rate,
        warmup=args.warmup_steps,
        seed=args.seed,
        max_length=args.max_length,
        save_strategy="steps",
        save_steps=args.save_steps,
        logging_steps=args.logging_steps,
        disable_tqdm=False,
    )


def end_process_group() -> None:
    """Wait for every process, then tear the process group down. A process that exits while
    gloo's threads are still alive can abort ("terminate called without an active exception"),
    and torchrun then reports a finished run as failed. No-op in a single process."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def run_and_exit(main: Callable[[], Any]) -> None:
    """A script's entry point: run ``main``, then leave the process at once. After a run under
    ``accelerate launch`` has saved everything and torn its process group down, Python's own
    teardown can still deadlock: freeing DDP's reducer frees its gloo process group, whose
    worker thread is waiting for the interpreter lock that the freeing thread holds (seen once,
    in a CI run of ``tests/test_scripts.py``: the process hung after writing its metrics). Output
    is flushed first; an error in ``main`` still raises and exits non-zero."""
    import sys

    main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def train_and_save(
    trainer, args: RunArguments, recipe: str, series: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """Train (from the last checkpoint with ``--resume``), then write the final adapter to
    ``output_dir/adapter`` and ``output_dir/metrics.json`` (with the logged losses, and each
    logged metric named in ``series`` as [step, value] pairs); both are written to a temporary
    name first and moved into place whole, so a failed run leaves no half-written output.
    Returns the metrics on the main process, None on the others."""
    start = time.perf_counter()
    checkpoint = last_checkpoint(args.output_dir) if args.resume else None
    result = trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - start
    if not trainer.is_world_process_zero():
        end_process_group()  # waits there until the main process has saved
        return None
    history = trainer.state.log_history
    metrics = {
        "recipe": recipe,
        "arguments": asdict(args),
        "world_size": trainer.args.world_size,
        "global_batch": trainer.args.world_size * args.per_device_batch_size * args.accumulation,
        "steps": trainer.state.global_step,
        "resumed_from": checkpoint,
        "seconds": round(seconds, 2),
        "train_loss": result.training_loss,
        "losses": [[h["step"], h["loss"]] for h in history if "loss" in h],
        "series": {key: [[h["step"], h[key]] for h in history if key in h] for key in series},
        "last_logged": next((h for h in reversed(history) if "loss" in h), {}),
    }
    out = Path(args.output_dir)
    staging = Path(tempfile.mkdtemp(prefix=".final-", dir=out))
    trainer.model.save_pretrained(staging / "adapter")
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=2))
    for name in ("adapter", "metrics.json"):
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(staging / name, target)
    staging.rmdir()
    end_process_group()
    return metrics

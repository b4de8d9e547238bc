"""Catastrophic forgetting and its mitigations (taught in notebook 01): replay, L2-SP, LoRA.

Each mitigation is a small change to an ordinary fine-tuning run:
- replay (multitask fine-tuning): every batch mixes some old-task examples back in;
- L2-SP: the loss gets a pull towards the starting weights, lambda * ||theta - theta_0||^2;
- LoRA: the base weights are frozen and only a low-rank update is trained (peft).
"""

from __future__ import annotations

import copy
import random
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .core.evaluation import generate_answers
from .core.examples import Example
from .core.experiment import Experiment, Outcome
from .core.training import sample_batches


def replay_batches(
    new_pool: Sequence[Example],
    old_pool: Sequence[Example],
    batch_size: int,
    replay_share: float,
    seed: int,
) -> Iterator[list[Example]]:
    """Batches of the new task with ``replay_share`` of each batch drawn from the old tasks."""
    n_old = round(batch_size * replay_share)
    new = sample_batches(new_pool, batch_size - n_old, seed)
    old = sample_batches(old_pool, max(n_old, 1), seed + 1)
    rng = random.Random(seed)
    while True:
        batch = next(new) + (next(old)[:n_old] if n_old else [])
        rng.shuffle(batch)
        yield batch


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the trainable weights: the anchor theta_0 for L2-SP."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


# @lesson notebooks/01_catastrophic_forgetting.ipynb cell=2b14d3bd sha256=0a10d7e2e425
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
def l2sp_penalty(model: torch.nn.Module, anchor: dict[str, torch.Tensor], strength: float):
    """strength * sum of (theta - theta_0)^2 over the weights: moving away costs more and more."""
    total = sum(((p - anchor[n]) ** 2).sum() for n, p in model.named_parameters() if n in anchor)
    return strength * total


# @end-lesson


def with_peft_lora(model, rank: int, alpha: float, targets: list[str] | str):
    """Wrap a seq2seq model with a LoRA adapter (peft): base frozen, B·A trainable."""
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        target_modules=targets,
        lora_dropout=0.0,
        bias="none",
        task_type=TaskType.SEQ_2_SEQ_LM,
    )
    return get_peft_model(model, config)


#: The weight files ``save_pretrained`` writes (the rest is small JSON and a card, which name the
#: folder the model came from, so their size depends on where the course is).
WEIGHT_FILES = ("*.safetensors", "*.bin")


def saved_megabytes(model) -> float:
    """Size on disk of the weights ``model.save_pretrained`` writes (for a peft model: the
    adapter alone)."""
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        files = [f for pattern in WEIGHT_FILES for f in Path(folder).rglob(pattern)]
        return sum(f.stat().st_size for f in files) / 1e6


@dataclass(frozen=True)
class Recipe:
    """One way of fine-tuning on the new task: full or LoRA, at a learning rate, with or
    without replay and L2-SP. ``lora_rank`` 0 means full fine-tuning."""

    lr: float
    lora_rank: int = 0
    lora_alpha: float = 0.0
    lora_targets: str = "q,v"  # "q,v", "q,k,v,o" or "all-linear"
    replay_share: float = 0.0
    l2sp_strength: float = 0.0

    @property
    def lora(self) -> dict | None:
        """The LoRA settings for ``with_peft_lora``, or None for full fine-tuning."""
        if not self.lora_rank:
            return None
        targets = self.lora_targets
        return {
            "rank": self.lora_rank,
            "alpha": self.lora_alpha,
            "targets": targets if targets == "all-linear" else targets.split(","),
        }


@dataclass
class Mitigations:
    """Notebook 01's recipes run on one ``Experiment``: ``old_pool`` is what replay mixes back
    in. L2-SP's term is ``l2sp_penalty``, the one in use. A recipe already run at a seed is
    reused."""

    experiment: Experiment
    old_pool: Sequence[Example]

    def batches(self, recipe: Recipe, seed: int) -> Iterator[list[Example]]:
        """The recipe's training batches: the new task, with replayed old tasks if it asks."""
        pool, size = self.experiment.new_pool, self.experiment.batch_size
        if recipe.replay_share:
            return replay_batches(pool, self.old_pool, size, recipe.replay_share, seed)
        return sample_batches(pool, size, seed)

    def run(self, name: str, recipe: Recipe, seed: int = 0, eval_every: int = 0) -> Outcome:
        """Fine-tune by ``recipe`` (a curve every ``eval_every`` steps, or only the end)."""

        def prepare(base):
            model = copy.deepcopy(base)
            return with_peft_lora(model, **recipe.lora) if recipe.lora else model

        def pull_towards_start(model):
            anchor = snapshot(model)
            return lambda m: l2sp_penalty(m, anchor, recipe.l2sp_strength)

        return self.experiment.run(
            name,
            recipe.lr,
            prepare,
            seed=seed,
            batches=self.batches(recipe, seed),
            extra_loss_for=pull_towards_start if recipe.l2sp_strength else None,
            eval_every=eval_every,
            key=recipe,
        )


def old_at_new(curve: Sequence[tuple[int, dict[str, float]]], target: float) -> float | None:
    """Old-task accuracy at the moment a run's new-task accuracy first reached ``target``, read
    off its evaluation ``curve`` (linear between the two evaluations around the crossing): how
    much a method had kept when it had learned that much. None if it never got there."""
    for (_, before), (_, after) in zip(curve, curve[1:], strict=False):
        if after["new"] >= target:
            if before["new"] >= target:
                return before["old"]
            share = (target - before["new"]) / (after["new"] - before["new"])
            return before["old"] + share * (after["old"] - before["old"])
    if curve and curve[0][1]["new"] >= target:
        return curve[0][1]["old"]
    return None


def knob_token(value: float) -> str:
    """A sweep value as part of a recorded name: 0.001 -> "0p001", 3e-05 -> "3em05", 8 -> "8"."""
    return f"{value:g}".replace(".", "p").replace("-", "m")


def answers_table(models: dict[str, object], tokenizer, prompts: list[str]) -> list[dict[str, str]]:
    """Each model's greedy answer to each prompt, one row per prompt."""
    columns = {name: generate_answers(m, tokenizer, prompts) for name, m in models.items()}
    return [
        {"prompt": p, **{name: columns[name][i] for name in models}} for i, p in enumerate(prompts)
    ]

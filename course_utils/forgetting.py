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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .core.counting import trainable_parameters
from .core.evaluation import accuracy_by_task, generate_answers
from .core.examples import Example
from .core.training import sample_batches, train, training_step


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


def l2sp_penalty(model: torch.nn.Module, anchor: dict[str, torch.Tensor], strength: float):
    """strength * sum of (theta - theta_0)^2 over the weights: moving away costs more and more."""
    total = sum(((p - anchor[n]) ** 2).sum() for n, p in model.named_parameters() if n in anchor)
    return strength * total


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


def saved_megabytes(model) -> float:
    """Size on disk of ``model.save_pretrained`` (for a peft model: the adapter alone)."""
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file()) / 1e6


@dataclass
class Evaluator:
    """Old-task and new-task exact match on fixed held-out examples."""

    tokenizer: object
    old_sets: dict[str, list[Example]]
    new_set: list[Example]

    def __call__(self, model) -> dict[str, float]:
        scores = accuracy_by_task(model, self.tokenizer, {**self.old_sets, "new": self.new_set})
        new = scores.pop("new")
        return {"old": sum(scores.values()) / len(scores), "new": new, **scores}


@dataclass
class MethodResult:
    """One fine-tuning method: its curve over steps and its final scores."""

    name: str
    trainable: int
    seconds: float  # training alone, without the evaluations along the way
    curve: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    model: object = None

    @property
    def final(self) -> dict[str, float]:
        return self.curve[-1][1]


def run_method(
    name: str,
    base_model,
    tokenizer,
    evaluator: Evaluator,
    batches: Iterator[Sequence[Example]],
    steps: int,
    lr: float,
    lora: dict | None = None,
    l2sp_strength: float = 0.0,
    eval_every: int = 0,
    seed: int = 0,
    penalty: Callable = l2sp_penalty,
    step_function: Callable = training_step,
) -> MethodResult:
    """Fine-tune a fresh copy of ``base_model`` one way and evaluate it.

    ``eval_every`` > 0 evaluates at step 0, every ``eval_every`` steps and at the end (a curve);
    0 evaluates once, at the end. ``seed`` sets the adapter's random initialisation (the data
    order is the ``batches``' own seed). ``penalty`` and ``step_function`` are this package's
    L2-SP and training step, or a notebook's own versions of them.
    """
    torch.manual_seed(seed)
    model = copy.deepcopy(base_model)
    if lora is not None:
        model = with_peft_lora(model, **lora)
    extra = None
    if l2sp_strength:
        anchor = snapshot(model)

        def extra(m):
            return penalty(m, anchor, l2sp_strength)

    log = train(
        model,
        tokenizer,
        batches,
        steps=steps,
        lr=lr,
        extra_loss=extra,
        evaluate=lambda step: evaluator(model),
        eval_every=eval_every,
        step_function=step_function,
    )
    curve = log.evaluations if eval_every else [(steps, evaluator(model))]
    return MethodResult(
        name=name,
        trainable=trainable_parameters(model),
        seconds=log.seconds,
        curve=curve,
        model=model,
    )


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
class Experiment:
    """Everything a notebook's runs share: the base model, the evaluation, the data and the
    budget. ``run`` trains one recipe at one seed, and remembers it, so a sweep that meets a
    recipe already run (at that seed) reuses the result instead of training it again.
    ``penalty`` and ``step_function`` are the L2-SP penalty and the training step every run
    uses: this package's, or a notebook's own."""

    base_model: object
    tokenizer: object
    evaluator: Evaluator
    new_pool: Sequence[Example]
    old_pool: Sequence[Example]
    steps: int
    batch_size: int
    penalty: Callable = l2sp_penalty
    step_function: Callable = training_step
    done: dict = field(default_factory=dict)

    def batches(self, recipe: Recipe, seed: int) -> Iterator[list[Example]]:
        """The recipe's training batches: the new task, with replayed old tasks if it asks."""
        if recipe.replay_share:
            return replay_batches(
                self.new_pool, self.old_pool, self.batch_size, recipe.replay_share, seed
            )
        return sample_batches(self.new_pool, self.batch_size, seed)

    def run(self, name: str, recipe: Recipe, seed: int = 0, eval_every: int = 0) -> MethodResult:
        """Fine-tune by ``recipe`` (a curve every ``eval_every`` steps, or only the end)."""
        known = self.done.get((recipe, seed))
        if known is not None and (len(known.curve) > 1 or not eval_every):
            return known
        result = run_method(
            name,
            self.base_model,
            self.tokenizer,
            self.evaluator,
            self.batches(recipe, seed),
            self.steps,
            recipe.lr,
            lora=recipe.lora,
            l2sp_strength=recipe.l2sp_strength,
            eval_every=eval_every,
            seed=seed,
            penalty=self.penalty,
            step_function=self.step_function,
        )
        self.done[(recipe, seed)] = result
        return result


def mean_and_sd(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (0 for a single value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5


def knob_token(value: float) -> str:
    """A sweep value as part of a recorded name: 0.001 -> "0p001", 3e-05 -> "3em05", 8 -> "8"."""
    return f"{value:g}".replace(".", "p").replace("-", "m")


def answers_table(models: dict[str, object], tokenizer, prompts: list[str]) -> list[dict[str, str]]:
    """Each model's greedy answer to each prompt, one row per prompt."""
    columns = {name: generate_answers(m, tokenizer, prompts) for name, m in models.items()}
    return [
        {"prompt": p, **{name: columns[name][i] for name in models}} for i, p in enumerate(prompts)
    ]

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
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .evaluation import accuracy_by_task, generate_answers
from .mini.tasks import Example
from .training import sample_batches, train


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


def add_lora(model, rank: int, alpha: float, targets: list[str] | str):
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


def trainable_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


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
) -> MethodResult:
    """Fine-tune a fresh copy of ``base_model`` one way and evaluate it along the way."""
    model = copy.deepcopy(base_model)
    if lora is not None:
        model = add_lora(model, **lora)
    extra = None
    if l2sp_strength:
        anchor = snapshot(model)

        def extra(m):
            return l2sp_penalty(m, anchor, l2sp_strength)

    log = train(
        model,
        tokenizer,
        batches,
        steps=steps,
        lr=lr,
        extra_loss=extra,
        evaluate=lambda step: evaluator(model),
        eval_every=eval_every or steps,
    )
    return MethodResult(
        name=name,
        trainable=trainable_parameters(model),
        seconds=log.seconds,
        curve=log.evaluations,
        model=model,
    )


def answers_table(models: dict[str, object], tokenizer, prompts: list[str]) -> list[dict[str, str]]:
    """Each model's greedy answer to each prompt, one row per prompt."""
    columns = {name: generate_answers(m, tokenizer, prompts) for name, m in models.items()}
    return [
        {"prompt": p, **{name: columns[name][i] for name in models}} for i, p in enumerate(prompts)
    ]

"""The one experiment harness of notebooks 01, 03 and 04: fine-tune a fresh copy of a base
model on a new task, one way, and measure what it learned and what it kept.

An ``Experiment`` holds what every run shares (the base model, the new task's training pool,
the budget, the ``Evaluation``); ``Experiment.run`` takes what differs (how the copy is
prepared, the learning rate, the seed, the batches, an extra loss term) and returns an
``Outcome``. The lessons build on it: ``forgetting.Mitigations`` (full fine-tuning, replay,
L2-SP, LoRA) and ``peft_family.Methods`` (the PEFT family, one method at a time).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .counting import total_parameters, trainable_parameters
from .evaluation import accuracy_by_task, exact_match, generate_answers
from .examples import Example
from .training import sample_batches, train


@dataclass
class Evaluation:
    """New-task quality (``score(predictions, targets)``: exact match unless given) and
    old-task exact match (the mean over ``old_tests``' tasks), by greedy generation."""

    tokenizer: object
    new_test: Sequence[Example]
    old_tests: dict[str, Sequence[Example]]
    score: Callable[[list[str], list[str]], float] = exact_match
    max_new_tokens: int = 12
    max_prompt_tokens: int | None = None  # a longer prompt loses tokens at its start

    def old_by_task(self, model: nn.Module) -> dict[str, float]:
        return accuracy_by_task(model, self.tokenizer, self.old_tests)

    def old(self, model: nn.Module) -> float:
        scores = self.old_by_task(model)
        return sum(scores.values()) / len(scores)

    def new(self, model: nn.Module) -> float:
        answers = generate_answers(
            model,
            self.tokenizer,
            [e.prompt for e in self.new_test],
            max_new_tokens=self.max_new_tokens,
            max_input_tokens=self.max_prompt_tokens,
        )
        return self.score(answers, [e.target for e in self.new_test])

    def __call__(self, model: nn.Module) -> dict[str, float]:
        """``new``, ``old`` and each old task's own accuracy."""
        by_task = self.old_by_task(model)
        return {"new": self.new(model), "old": sum(by_task.values()) / len(by_task), **by_task}


@dataclass
class Outcome:
    """One run: its scores along the way (``curve``: (step, scores) pairs, the last at the end),
    its training losses and seconds (training alone), and the trained model."""

    name: str
    trainable: int
    total: int
    seconds: float
    curve: list[tuple[int, dict[str, float]]]
    losses: list[float] = field(repr=False, default_factory=list)
    model: nn.Module | None = field(repr=False, default=None)
    old_removed: float | None = None  # old tasks with the method taken out (None: not measured)
    start: torch.Tensor | None = field(repr=False, default=None)  # e.g. a soft prompt's start

    @property
    def final(self) -> dict[str, float]:
        return self.curve[-1][1]

    @property
    def new(self) -> float:
        return self.final["new"]

    @property
    def old(self) -> float:
        return self.final["old"]


@dataclass
class Experiment:
    """What a notebook's runs share. ``run`` trains one way at one seed; given a ``key`` it
    remembers the outcome, so a sweep that meets a setting already run reuses it. Each step is
    ``training.training_step``, the one in use."""

    base_model: nn.Module
    tokenizer: object
    evaluation: Evaluation
    new_pool: Sequence[Example]
    steps: int
    batch_size: int
    max_train_tokens: int = 128  # tokens kept of each training prompt and each target
    remembered: dict = field(default_factory=dict, init=False, repr=False)  # not kept by replace()

    def run(
        self,
        name: str,
        lr: float,
        prepare: Callable[[nn.Module], nn.Module] = copy.deepcopy,
        seed: int = 0,
        batches: Iterator[list[Example]] | None = None,
        extra_loss_for: Callable[[nn.Module], Callable[[nn.Module], torch.Tensor]] | None = None,
        eval_every: int = 0,
        key: Hashable | None = None,
    ) -> Outcome:
        """Fine-tune ``prepare(base_model)`` (a new model: a copy, perhaps with an adapter) for
        ``steps`` AdamW steps at ``lr`` and measure it.

        ``seed`` seeds the preparation (an adapter's initialisation) and, unless ``batches``
        are given, the order of the new task's batches. ``extra_loss_for(model)`` gives a term
        added to the loss (L2-SP's pull towards the prepared weights, say). ``eval_every`` > 0
        evaluates at step 0, every ``eval_every`` steps and at the end; 0 only at the end.
        """
        known = self.remembered.get((key, seed)) if key is not None else None
        if known is not None and (len(known.curve) > 1 or not eval_every):
            return known
        torch.manual_seed(seed)
        model = prepare(self.base_model)
        if model is self.base_model:
            raise ValueError("prepare must return a new model, not the base model itself")
        log = train(
            model,
            self.tokenizer,
            batches or sample_batches(self.new_pool, self.batch_size, seed),
            steps=self.steps,
            lr=lr,
            extra_loss=extra_loss_for(model) if extra_loss_for else None,
            evaluate=lambda step: self.evaluation(model),
            eval_every=eval_every,
            max_length=self.max_train_tokens,
        )
        outcome = Outcome(
            name=name,
            trainable=trainable_parameters(model),
            total=total_parameters(model),
            seconds=log.seconds,
            curve=log.evaluations if eval_every else [(self.steps, self.evaluation(model))],
            losses=log.losses,
            model=model,
        )
        if key is not None:
            self.remembered[(key, seed)] = outcome
        return outcome

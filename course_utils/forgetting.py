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

from .core.claims import Spread, margin, spread
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


# --- what notebook 01 shows and plots (plumbing a student need not read) ---------------------

#: Old-task accuracy is the mean over six tasks of 50 test prompts each: gaps below this are
#: not read as effects, and two means closer than twice the larger sd over seeds are ties.
OLD_NOISE = 0.02


def over_seeds(repeats: dict[str, Sequence[Outcome]]) -> dict[str, dict[str, Spread]]:
    """Each recipe's final new-task and old-task accuracy over its runs (one per seed), as
    mean and sd: ``{recipe: {"new": Spread, "old": Spread}}``."""
    return {
        name: {key: spread([run.final[key] for run in runs]) for key in ("new", "old")}
        for name, runs in repeats.items()
    }


def separated(a: Spread, b: Spread, floor: float = OLD_NOISE) -> bool:
    """Whether ``a`` lies above ``b`` by more than the noise: twice the larger sd over seeds,
    and at least ``floor``."""
    return a.mean - b.mean > margin(a, b, floor)


def seeds_table(summary: dict[str, dict[str, Spread]], labels: dict[str, str], before: dict):
    """The recipes over seeds as a table: new-task and old-task accuracy, mean ± sd, with the
    base model's scores in the first row."""
    import pandas as pd

    rows = {
        "base model (before)": {
            "new task": f"{before['new']:.2f}",
            "old tasks": f"{before['old']:.2f}",
        }
    }
    for name, row in summary.items():
        rows[labels[name]] = {"new task": f"{row['new']:.2f}", "old tasks": f"{row['old']:.2f}"}
    return pd.DataFrame(rows).T


def plot_learning_curves(results: dict[str, Outcome], labels: dict[str, str], new_task: str):
    """Old-task and new-task accuracy along training, one line per recipe (two panels)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True, layout="constrained")
    for name, result in results.items():
        steps = [step for step, _ in result.curve]
        for ax, key in zip(axes, ("old", "new"), strict=True):
            ax.plot(
                steps,
                [scores[key] for _, scores in result.curve],
                marker="o",
                ms=3,
                label=labels[name],
            )
    axes[0].set(
        title="old tasks (mean exact match)", xlabel="step", ylabel="accuracy", ylim=(-0.05, 1.05)
    )
    axes[1].set(title=f"new task: {new_task}", xlabel="step")
    axes[1].legend(fontsize=8, loc="lower right")
    for ax in axes:
        ax.grid(alpha=0.3)
    return fig


def plot_over_seeds(summary: dict[str, dict[str, Spread]], labels: dict[str, str], before: dict):
    """Each recipe's mean new-task against old-task accuracy, ± one sd over seeds, with the base
    model marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    ax.plot(before["new"], before["old"], "k*", ms=12, label="base model (before)")
    for name, row in summary.items():
        ax.errorbar(
            row["new"].mean,
            row["old"].mean,
            xerr=row["new"].sd,
            yerr=row["old"].sd,
            fmt="o",
            capsize=4,
            label=labels[name],
        )
    runs = next(iter(summary.values()))["old"].n
    ax.set(
        xlabel="new-task accuracy (learning)",
        ylabel="old-task accuracy (remembering)",
        xlim=(-0.05, 1.05),
        ylim=(-0.05, 1.05),
        title=f"mean ± sd over {runs} seeds",
    )
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    ax.grid(alpha=0.3)
    return fig


def plot_tradeoff(points: dict[str, dict[float, dict[str, float]]], before: dict):
    """Learning against remembering, one curve per method joining its runs in the order of its
    knob (marker size grows with the knob; the legend lists the values in that order)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.6), layout="constrained")
    ax.axhline(before["old"], color="gray", ls="--", lw=1, label="old tasks before tuning")
    for method, by_value in points.items():
        values = sorted(by_value)
        xs, ys = [by_value[v]["new"] for v in values], [by_value[v]["old"] for v in values]
        (line,) = ax.plot(xs, ys, lw=1, alpha=0.6)
        sizes = [20 + 60 * i for i in range(len(values))]
        ax.scatter(
            xs,
            ys,
            s=sizes,
            color=line.get_color(),
            zorder=3,
            label=f"{method}: " + " → ".join(f"{v:g}" for v in values),
        )
    lowest = min(p["new"] for by_value in points.values() for p in by_value.values())
    ax.set(
        xlabel="new-task accuracy (learning)",
        ylabel="old-task accuracy (remembering)",
        xlim=(min(lowest, 0.8) - 0.02, 1.02),
        ylim=(-0.05, 1.05),
        title="one run per point; a larger marker is a larger knob",
    )
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    ax.grid(alpha=0.3)
    return fig


def sweep_table(points: dict[str, dict[float, dict[str, float]]]):
    """The sweeps' runs as a table: method, knob value, new-task and old-task accuracy."""
    import pandas as pd

    rows = [
        {"method": method, "knob": f"{value:g}", "new task": p["new"], "old tasks": p["old"]}
        for method, by_value in points.items()
        for value, p in sorted(by_value.items())
    ]
    return pd.DataFrame(rows).set_index(["method", "knob"]).round(2)


def fisher_share_of_top(fisher: dict[str, torch.Tensor], share: float = 0.01) -> float:
    """The fraction of the Fisher diagonal's total carried by the top ``share`` of weights:
    near 1, EWC holds a few weights and leaves the rest free to move."""
    if not 0 < share <= 1:
        raise ValueError(f"share = {share!r}: a fraction of the weights, in (0, 1]")
    values = torch.cat([f.flatten() for f in fisher.values()])
    top = values.topk(max(1, round(share * values.numel()))).values
    return (top.sum() / values.sum()).item()


def train_new_head(
    model_name: str,
    tokenizer,
    train: Sequence[Example],
    test: Sequence[Example],
    steps: int,
    batch_size: int,
    lr: float = 3e-3,
    seed: int = 0,
    device: str = "cpu",
) -> tuple[torch.nn.Module, float]:
    """Transfer learning by replacing the head: the pretrained model loaded with a new, randomly
    initialised classification head over the training answers (transformers'
    ``AutoModelForSequenceClassification``), every pretrained weight frozen, the head alone
    trained with AdamW. Returns the model and its test accuracy."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging

    classes = sorted({e.target for e in train})
    torch.manual_seed(seed)
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # the new head's "newly initialized" notice is the point here
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            model_name, num_labels=len(classes)
        ).to(device)
    finally:
        logging.set_verbosity(verbosity)
    for name, p in model.named_parameters():
        p.requires_grad = "classification_head" in name
    head = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(head, lr=lr)

    def encode(examples):
        batch = tokenizer([e.prompt for e in examples], padding=True, return_tensors="pt")
        labels = torch.tensor(
            [classes.index(e.target) if e.target in classes else -1 for e in examples]
        )
        return batch.to(device), labels.to(device)

    model.train()
    for batch in sample_batches(train, batch_size, seed):
        if steps == 0:
            break
        inputs, labels = encode(batch)
        loss = torch.nn.functional.cross_entropy(model(**inputs).logits, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        steps -= 1
    model.eval()
    with torch.no_grad():
        inputs, labels = encode(test)
        predicted = model(**inputs).logits.argmax(-1)
    return model, (predicted == labels).float().mean().item()


def tied(a: Spread, b: Spread, floor: float = OLD_NOISE) -> bool:
    """Whether neither of ``a`` and ``b`` is ``separated`` from the other: these seeds cannot
    tell them apart."""
    return not separated(a, b, floor) and not separated(b, a, floor)

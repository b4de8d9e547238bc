"""Instruction tuning of a seq2seq model on dialogue summarisation (taught in notebook 02).

The pieces, in the order the notebook uses them:

1. ``TEMPLATES`` / ``render``   one task, several phrasings of its instruction (the FLAN recipe);
2. ``pick_shots`` / ``build_prompt``   zero-, one- and few-shot prompts (examples in the prompt);
   ``unique_dialogues`` / ``lead``   the test set with all its references, and the lead baseline;
3. (``course_utils.evaluation.generate_answers`` writes the summaries: greedy, batched);
4. ``prompt_completion_pairs`` / ``tokenize_pairs``   a training set of prompt -> completion;
5. ``training_arguments`` / ``fine_tune``   full fine-tuning with transformers' Seq2SeqTrainer,
   one function shared by the main run and the data-size ablation;
6. ``invented_names`` / ``side_by_side``   looking at the outputs (ROUGE is in ``rouge.py``).

Nothing here branches on the profile: the number format comes from
``Profile.trainer_precision`` (which refuses float16 for T5 checkpoints), sizes and sources
from the notebook's parameters.
"""

from __future__ import annotations

import gc
import math
import random
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .core.examples import Example
from .core.profiles import Profile
from .core.progress import bar_only_progress

# --------------------------------------------------------------------------------------------
# 1. Instruction templates and the FLAN mixture
# --------------------------------------------------------------------------------------------

#: Several phrasings of one task: "summarise this dialogue". ``{dialogue}`` marks the input.
#: Training draws one at random for every example (as FLAN does); evaluation uses the first.
TEMPLATES: tuple[str, ...] = (
    "Summarize the following conversation.\n\n{dialogue}\n\nSummary:",
    "{dialogue}\n\nWhat was this conversation about? Answer in one sentence.",
    "Dialogue:\n{dialogue}\n\nWrite a short summary of the dialogue above.",
    "Here is a chat between two people:\n{dialogue}\n\nBriefly, what happened?",
)

#: Separates the worked examples of a few-shot prompt from each other and from the query.
SHOT_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Collection:
    """One of the four task collections of the FLAN instruction-tuning mixture."""

    name: str
    tasks: int
    datasets: int
    categories: int
    examples: str  # some of its task kinds


#: The FLAN mixture that FLAN-T5 was instruction-tuned on (Chung et al., "Scaling
#: Instruction-Finetuned Language Models"), as given in the course material.
FLAN_MIXTURE: tuple[Collection, ...] = (
    Collection("T0-SF", 193, 55, 14, "commonsense reasoning, question generation, closed-book QA"),
    Collection("Muffin", 80, 69, 27, "natural language inference, code repair, summarisation"),
    Collection("CoT (reasoning)", 9, 9, 1, "arithmetic reasoning, explanation generation"),
    Collection(
        "Natural Instructions",
        1554,
        372,
        108,
        "cause-effect classification, named entity recognition, toxic language detection",
    ),
)


def render(template: str, dialogue: str) -> str:
    """The instruction ``template`` filled in with ``dialogue``."""
    if "{dialogue}" not in template:
        raise ValueError(f"a template needs a {{dialogue}} slot, got {template!r}")
    return template.replace("{dialogue}", dialogue)


# --------------------------------------------------------------------------------------------
# 2. Zero-, one- and few-shot prompts
# --------------------------------------------------------------------------------------------


def pick_shots(rows: Any, k: int, seed: int = 0, pool: int = 50) -> list[dict[str, str]]:
    """``k`` worked examples for few-shot prompts, drawn reproducibly from ``rows``.

    ``rows`` is a ``datasets.Dataset`` (or a list of dicts) with ``dialogue`` and ``summary``.
    We draw ``pool`` random rows and keep the ``k`` with the shortest dialogues, so that ``k``
    examples plus the query still fit the model's input length. The same shots are used for
    every test dialogue.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if k == 0:
        return []
    n = len(rows)
    if k > n:
        raise ValueError(f"asked for {k} shots from only {n} rows")
    candidates = random.Random(seed).sample(range(n), min(n, max(pool, k)))
    candidates.sort(key=lambda i: (len(rows[i]["dialogue"]), i))
    return [
        {"dialogue": rows[i]["dialogue"], "summary": rows[i]["summary"]} for i in candidates[:k]
    ]


def build_prompt(
    dialogue: str, template: str = TEMPLATES[0], shots: Sequence[dict[str, str]] = ()
) -> str:
    """A zero-shot prompt (no ``shots``) or a few-shot one.

    Each shot is the same template filled with another dialogue, followed by its human summary;
    the query comes last and its summary is left for the model to write.
    """
    solved = [f"{render(template, s['dialogue'])} {s['summary']}" for s in shots]
    return SHOT_SEPARATOR.join([*solved, render(template, dialogue)])


# --------------------------------------------------------------------------------------------
# 3. Test dialogues, their references, and the lead baseline
# --------------------------------------------------------------------------------------------


def unique_dialogues(rows: Any, limit: int | None = None) -> Any:
    """The test set with each dialogue once and all its human summaries as ``references``.

    DialogSum's test split holds every dialogue three times, once per human summary; scoring
    each copy would count a dialogue three times. Returns a ``datasets.Dataset`` with
    ``dialogue``, ``summary`` (the first reference, for display) and ``references`` (all of
    them), in order of first appearance, at most ``limit`` dialogues.
    """
    from datasets import Dataset

    grouped: dict[str, list[str]] = {}
    for dialogue, summary in zip(rows["dialogue"], rows["summary"], strict=True):
        if dialogue not in grouped and limit is not None and len(grouped) >= limit:
            continue
        grouped.setdefault(dialogue, []).append(summary)
    return Dataset.from_dict(
        {
            "dialogue": list(grouped),
            "summary": [refs[0] for refs in grouped.values()],
            "references": list(grouped.values()),
        }
    )


def lead(dialogue: str, lines: int = 1) -> str:
    """The lead baseline: the dialogue's first ``lines`` lines, copied as the "summary"."""
    return "\n".join(dialogue.splitlines()[:lines])


# --------------------------------------------------------------------------------------------
# 4. A training set of prompt -> completion pairs
# --------------------------------------------------------------------------------------------


def prompt_completion_pairs(rows: Any, templates: Sequence[str], seed: int = 0) -> Any:
    """Turn a dataset of ``dialogue``/``summary`` rows into ``prompt``/``completion`` pairs.

    Every row gets one template drawn at random (seeded), so the model sees the task in
    several phrasings, as in FLAN. Returns a ``datasets.Dataset`` with the columns ``prompt``,
    ``completion`` and ``template`` (the index of the phrasing used).
    """
    from datasets import Dataset

    if not templates:
        raise ValueError("give at least one template")
    rng = random.Random(seed)
    picks = [rng.randrange(len(templates)) for _ in range(len(rows))]
    return Dataset.from_dict(
        {
            "prompt": [
                render(templates[t], d) for t, d in zip(picks, rows["dialogue"], strict=True)
            ],
            "completion": list(rows["summary"]),
            "template": picks,
        }
    )


def summary_examples(rows: Any, templates: Sequence[str], seed: int = 0) -> list[Example]:
    """The same pairs as ``prompt_completion_pairs``, as ``Example``s for the course's own
    training loop and evaluation (notebook 04 sweeps LoRA on them)."""
    pairs = prompt_completion_pairs(rows, templates, seed)
    return [
        Example("summary", prompt, completion)
        for prompt, completion in zip(pairs["prompt"], pairs["completion"], strict=True)
    ]


def tokenize_pairs(
    pairs: Any, tokenizer: Any, max_source_tokens: int, max_target_tokens: int
) -> Any:
    """Token ids for a seq2seq model: ``input_ids`` from the prompt, ``labels`` from the
    completion (each truncated to its maximum; padding is left to the data collator)."""

    def encode(batch: dict[str, list[str]]) -> dict[str, list[list[int]]]:
        enc = tokenizer(batch["prompt"], truncation=True, max_length=max_source_tokens)
        labels = tokenizer(
            text_target=batch["completion"], truncation=True, max_length=max_target_tokens
        )
        return {
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "labels": labels["input_ids"],
        }

    return pairs.map(encode, batched=True, remove_columns=pairs.column_names)


def subset_sizes(n_train: int, fractions: Sequence[float]) -> list[int]:
    """Numbers of training examples for the data-size ablation: ``fraction * n_train`` rounded,
    at least 1, without repeats, smallest first."""
    if n_train < 1:
        raise ValueError("the training set is empty")
    for f in fractions:
        if not 0 < f <= 1:
            raise ValueError(f"fractions must lie in (0, 1], got {f}")
    return sorted({max(1, min(n_train, round(f * n_train))) for f in fractions})


# --------------------------------------------------------------------------------------------
# 5. Full fine-tuning with Seq2SeqTrainer
# --------------------------------------------------------------------------------------------


def training_arguments(
    profile: Profile,
    *,
    model_type: str,
    steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    output_dir: str | None = None,
    warmup_share: float = 0.1,
    logging_steps: int | None = None,
) -> Any:
    """``Seq2SeqTrainingArguments`` for one run (``recipes.trainer_arguments`` with this recipe's
    settings): a fixed number of optimizer ``steps``, linear warm-up over ``warmup_share`` of
    them then linear decay, weight decay 0.01, plain AdamW, no checkpoints, no trackers, and
    the profile's number format for this model type (T5 trains in float32 on a T4)."""
    from transformers import Seq2SeqTrainingArguments

    from .recipes import trainer_arguments

    return trainer_arguments(
        Seq2SeqTrainingArguments,
        profile,
        # Nothing is written there: no checkpoints (save_strategy="no") and no trackers.
        output_dir=output_dir or str(Path(tempfile.gettempdir()) / "course-trainer-output"),
        steps=steps,
        batch_size=batch_size,
        accumulation=1,
        learning_rate=learning_rate,
        warmup=math.ceil(warmup_share * steps),
        seed=seed,
        weight_decay=0.01,
        lr_scheduler_type="linear",
        optim="adamw_torch",
        logging_steps=logging_steps or max(1, steps // 20),
        gradient_checkpointing=profile.gradient_checkpointing,
        dataloader_num_workers=0,
        **profile.trainer_precision(model_type),
    )


@dataclass
class FineTuneResult:
    """A fine-tuned model and what its training measured."""

    model: Any
    train_examples: int
    steps: int
    seconds: float
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, mean training loss)
    precision: str = "float32"


def fine_tune(
    model_name: str,
    tokenizer: Any,
    pairs: Any,
    profile: Profile,
    *,
    steps: int,
    batch_size: int,
    learning_rate: float,
    max_source_tokens: int,
    max_target_tokens: int,
    seed: int = 0,
) -> FineTuneResult:
    """Fully fine-tune a fresh copy of ``model_name`` on prompt/completion ``pairs``.

    Every parameter is trained (no PEFT) for exactly ``steps`` optimizer steps of
    ``batch_size`` examples, reshuffling ``pairs`` every epoch; so runs on different amounts
    of data cost the same. Returns the model (on the profile's device, in eval mode).
    """
    import torch
    from transformers import (
        AutoModelForSeq2SeqLM,
        DataCollatorForSeq2Seq,
        Seq2SeqTrainer,
        set_seed,
    )

    set_seed(seed)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_name, dtype=torch.float32)
    args = training_arguments(
        profile,
        model_type=model.config.model_type,
        steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
    )
    trainer = Seq2SeqTrainer(
        model=model,
        args=args,
        train_dataset=tokenize_pairs(pairs, tokenizer, max_source_tokens, max_target_tokens),
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
        processing_class=tokenizer,
    )
    bar_only_progress(trainer)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    losses = [(h["step"], h["loss"]) for h in trainer.state.log_history if "loss" in h]
    precision = "bfloat16" if args.bf16 else "float16" if args.fp16 else "float32"
    del trainer  # free the optimizer state now (it is as large as the model, twice over)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    model.eval()
    return FineTuneResult(model, len(pairs), steps, seconds, losses, precision)


# --------------------------------------------------------------------------------------------
# 6. Scoring and looking at the outputs
# --------------------------------------------------------------------------------------------


_CAPITALISED = re.compile(r"\b[A-Z][a-z]+\b")


def invented_names(prediction: str, source: str) -> list[str]:
    """Capitalised words of ``prediction`` that occur in ``source`` in no case at all, each
    once, in order.

    A cheap detector of made-up names, places and days (a sentence-initial "The" is not
    flagged when "the" occurs in the source). ROUGE gives a summary with one wrong name
    almost full marks; this check does not.
    """
    source_words = {w.lower() for w in re.findall(r"[A-Za-z]+", source)}
    found = [w for w in _CAPITALISED.findall(prediction) if w.lower() not in source_words]
    return list(dict.fromkeys(found))


def one_line(text: str, max_chars: int | None = None) -> str:
    """``text`` on one line (turns separated by " / "), shortened to ``max_chars``."""
    flat = " / ".join(line.strip() for line in text.splitlines() if line.strip())
    if max_chars is not None and len(flat) > max_chars:
        flat = flat[: max_chars - 1].rstrip() + "…"
    return flat


def side_by_side(rows: Any, outputs: dict[str, Sequence[str]], n: int, max_chars: int = 300) -> Any:
    """A ``pandas.DataFrame``: the first ``n`` dialogues, their human summary and each
    method's output (``outputs`` maps a column name to one prediction per row)."""
    import pandas as pd

    n = min(n, len(rows))
    table: dict[str, list[str]] = {
        "dialogue": [one_line(rows[i]["dialogue"], max_chars) for i in range(n)],
        "human summary": [rows[i]["summary"] for i in range(n)],
    }
    for name, predictions in outputs.items():
        table[name] = [predictions[i] for i in range(n)]
    return pd.DataFrame(table)


def plot_ablation(
    scores: dict[int, float], passes: dict[int, float], lines: dict[str, float], steps: int
):
    """ROUGE-1 against the number of different training examples (log scale), each point
    labelled with its passes over the data, and the scores of ``lines`` (baselines, prompts) as
    horizontal lines."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    ax.plot(list(scores), list(scores.values()), marker="o", label="fine-tuned on N examples")
    for n, value in scores.items():
        label = f"{passes[n]:.0f} passes"
        ax.annotate(
            label, (n, value), textcoords="offset points", xytext=(0, 8), fontsize=8, ha="center"
        )
    styles = (("tab:green", "-."), ("tab:orange", "--"), ("tab:gray", ":"))
    for (label, value), (color, style) in zip(lines.items(), styles, strict=False):
        ax.axhline(value, ls=style, color=color, label=label)
    ax.set_xscale("log")
    ax.set_xticks(list(scores), labels=[str(n) for n in scores])
    ax.minorticks_off()
    ax.set(xlabel="training examples N (log scale)", ylabel="ROUGE-1 F on the test dialogues")
    ax.set_title(f"{steps} steps for every subset")
    ax.margins(x=0.15, y=0.1)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def wrong_fact_examples(
    predictions: Sequence[str], references: Sequence[str], n: int = 3
) -> list[str]:
    """Up to ``n`` lines, each a prediction stating a wrong fact and what it got wrong against
    its reference (the mini world's summaries, whose facts ``corpora.wrong_facts`` can read)."""
    from .mini import corpora

    lines = []
    for i, (prediction, reference) in enumerate(zip(predictions, references, strict=True)):
        errors = corpora.wrong_facts(prediction, reference)
        if errors and len(lines) < n:
            said = "; ".join(f"{slot}: {s!r}, true {t!r}" for slot, (s, t) in errors.items())
            lines.append(f"#{i}: {prediction!r} ({said})")
    return lines


def method_table(
    scores: dict[str, dict[str, float]],
    predictions: dict[str, Sequence[str]],
    references: Sequence[str],
) -> Any:
    """A ``pandas.DataFrame``, one row per method: its ROUGE F-measures and, where the facts are
    known (the mini world), the shares of its summaries with every fact right, with a wrong fact,
    and following no summary sentence. A fact share is NaN (shown "n/a") where no summary of the
    method could be read."""
    import pandas as pd

    from .mini import corpora

    table = pd.DataFrame({m: scores[m] for m in predictions}).T
    table.columns = ["ROUGE-1", "ROUGE-2", "ROUGE-L"]
    facts = {m: corpora.fact_shares(p, references) for m, p in predictions.items()}
    if all(share is not None for share in facts.values()):
        shares = pd.DataFrame(facts).T
        unread = shares["no summary sentence"] == 1.0
        shares.loc[unread, ["all facts right", "a wrong fact"]] = float("nan")
        table = table.join(shares)
    return table


def plot_methods(table: Any, examples: int):
    """ROUGE-1 and, where the table has it, the share of summaries with every fact right, per
    method, side by side; "n/a" where no summary of a method could be read."""
    import matplotlib.pyplot as plt

    columns = [c for c in ("ROUGE-1", "all facts right") if c in table]
    fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    width = 0.8 / len(columns)
    for k, column in enumerate(columns):
        xs = [i + (k - (len(columns) - 1) / 2) * width for i in range(len(table))]
        values = table[column].fillna(0.0)
        ax.bar(xs, values, width, label=column)
        for x, missing in zip(xs, table[column].isna(), strict=True):
            if missing:
                ax.text(x, 0.02, "n/a", ha="center", fontsize=8)
    ax.set_xticks(range(len(table)), labels=list(table.index), rotation=15)
    ax.set(ylim=(0, 1), ylabel="ROUGE-1 F / share of summaries")
    ax.set_title(f"{examples} test dialogues")
    ax.legend(loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    return fig


def transformers_attention_masks(length: int, prefix: int) -> dict[str, Any]:
    """The three masks of ``attention_masks`` from transformers' own mask functions
    (``transformers.masking_utils``, which builds its models' masks from them), evaluated at
    every (reading, read) pair of positions: (length, length) boolean tensors."""
    from transformers.masking_utils import (
        bidirectional_mask_function,
        causal_mask_function,
        or_masks,
    )

    def in_prefix(batch: Any, head: Any, query: Any, key: Any) -> Any:
        return key < prefix

    functions = {
        "causal LM": causal_mask_function,
        "prefix LM": or_masks(causal_mask_function, in_prefix),
        "masked LM": bidirectional_mask_function,
    }
    zero = torch.tensor(0)
    return {
        name: torch.tensor(
            [
                [
                    bool(function(zero, zero, torch.tensor(q), torch.tensor(k)))
                    for k in range(length)
                ]
                for q in range(length)
            ]
        )
        for name, function in functions.items()
    }


def plot_attention_masks(masks: dict[str, Any], prefix: int):
    """Each mask as a grid (row: the position reading, column: the position read; dark: may
    attend), the prefix marked."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(masks), figsize=(7, 2.8), layout="constrained")
    for ax, (name, mask) in zip(axes, masks.items(), strict=True):
        ax.imshow(mask.int(), cmap="Greys", vmin=0, vmax=1.4)
        ax.set_title(name, fontsize=10)
        ax.set(xticks=[], yticks=[], xlabel="position read")
        if name == "prefix LM":
            ax.axvline(prefix - 0.5, color="tab:orange", linewidth=2)
    axes[0].set_ylabel("position reading")
    return fig


# @lesson notebooks/02_flan_t5_instruction_tuning.ipynb cell=02-masks-save sha256=53d825fc4166
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
def attention_masks(length: int, prefix: int) -> dict[str, torch.Tensor]:
    """Which positions each position may read under the three objectives: (length, length)
    booleans, row = the position reading, column = the position read."""
    reading = torch.arange(length)[:, None]
    read = torch.arange(length)[None, :]
    causal = read <= reading
    return {
        "causal LM": causal,
        "prefix LM": causal | (read < prefix),
        "masked LM": torch.ones(length, length, dtype=torch.bool),
    }


# @end-lesson

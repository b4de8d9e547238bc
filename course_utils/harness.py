"""Evaluating fine-tuned models with a real harness (notebook 09).

EleutherAI's lm-evaluation-harness (``lm-eval``) scores a model on tasks described in YAML. The
course writes its tasks as local JSONL files plus one YAML each (``write_task``): the mini
world's ``kind`` items in ``mini``, the first items of ARC-Easy and GSM8K in ``t4`` (read through
the course's Hub stand-ins in the t4 test), so both profiles evaluate through the same code.

- tasks: ``write_task`` (log-likelihood over choices, or greedy exact match, optionally on the
  last match of a pattern such as ``NUMBER``), ``task_rows``/``kind_rows``, ``arc_rows``,
  ``gsm8k_task_rows``, ``write_real_tasks``;
- scoring: ``evaluate`` (``lm_eval.simple_evaluate`` on a saved or an in-memory model, per-item
  scores);
- the models compared in ``mini``: ``train_recipe`` (SFT, DPO, GRPO on the training words);
- a model as a judge: ``judge_prefers_first``, ``position_bias``;
- taught in notebook 09's cells (the lesson blocks below): ``bootstrap_interval``,
  ``minimum_detectable_difference``, ``word_ngrams``, ``overlap_share``.

``lm-eval`` is imported inside the functions that need it: importing this module does not.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from .core.hub import env_flag

#: The two ways ``write_task`` scores an item.
OUTPUT_TYPES = ("multiple_choice", "generate_until")


@dataclass(frozen=True)
class Evaluation:
    """One task's result: the score of each item (in the task file's order), the harness's
    aggregate and its standard error, the model's replies (generation, filtered) or the index
    of its most likely choice, and the text the harness gave the model (shots, template)."""

    task: str
    metric: str
    scores: list[float]
    aggregate: float
    stderr: float
    replies: list[str]
    prompts: list[str]

    @property
    def mean(self) -> float:
        return sum(self.scores) / len(self.scores)


def task_rows(task: str, split: str, n: int, seed: int) -> list[dict]:
    """``n`` mini-world items of ``task`` as rows for ``write_task`` (``prompt``, ``answer``;
    for ``kind``, also the six categories as ``choices`` and the answer's index as ``label``)."""
    from .mini import tasks

    pairs = [(e.prompt, e.target) for e in tasks.examples(task, split, n, seed)]
    if task == "kind":
        return kind_rows(pairs)
    return [{"prompt": p, "answer": a} for p, a in pairs]


def _task_config(
    task_name: str, data_file: Path, output_type: str, max_gen_toks: int, extract: str | None
) -> dict:
    """The YAML fields of a local task: the data, the prompt and the scoring."""
    config: dict = {
        "task": task_name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_file.resolve())}},
        "test_split": "test",
        "output_type": output_type,
        "doc_to_text": "{{prompt}}",
        "target_delimiter": " ",
        "metadata": {"version": 1.0},
    }
    if output_type == "multiple_choice":
        config["doc_to_choice"] = "{{choices}}"
        config["doc_to_target"] = "{{label}}"
        config["metric_list"] = [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}]
    else:
        config["doc_to_target"] = "{{answer}}"
        config["generation_kwargs"] = {
            "until": [],  # the end-of-sequence token only (lm-eval adds it), as generate_answers
            "max_gen_toks": max_gen_toks,
            "do_sample": False,
        }
        # strip spaces and compare without case: the reward ``grpo.exact_answer``; or keep the
        # last match of ``extract`` (a regular expression with one group, e.g. the final number)
        steps = [{"function": "remove_whitespace"}, {"function": "take_first"}]
        if extract is not None:
            steps = [
                {"function": "regex", "regex_pattern": extract, "group_select": -1},
                {"function": "take_first"},
            ]
        config["filter_list"] = [{"name": "strip", "filter": steps}]
        config["metric_list"] = [
            {
                "metric": "exact_match",
                "aggregation": "mean",
                "higher_is_better": True,
                "ignore_case": True,
            }
        ]
    return config


def write_task(
    task_name: str,
    rows: Sequence[dict],
    folder: str | Path,
    output_type: str = "generate_until",
    max_gen_toks: int = 12,
    shot_rows: Sequence[dict] = (),
    extract: str | None = None,
) -> Path:
    """Write ``rows`` to ``folder/<task_name>.jsonl`` and the lm-eval task that reads them to
    ``folder/<task_name>.yaml``; returns the YAML's path (``folder`` is the ``include_path``).

    ``multiple_choice`` scores an item right when the answer is the most likely of its
    ``choices`` (rows need ``choices`` and ``label``); ``generate_until`` when the greedy reply
    of at most ``max_gen_toks`` tokens, spaces stripped, is the answer (case aside).
    ``shot_rows`` (e.g. validation items) go to ``<task_name>.shots.jsonl``, where the harness
    draws worked examples for ``evaluate(..., num_fewshot=k)``; without them it would draw
    them from the test items themselves. ``extract`` (generation only): a regular expression
    whose last match in the reply is compared instead of the whole reply (GSM8K's number)."""
    import yaml

    if output_type not in OUTPUT_TYPES:
        raise ValueError(f"output_type = {output_type!r}: one of {OUTPUT_TYPES}")
    if not rows:
        raise ValueError("rows is empty: a task needs at least one item")
    needed = {"prompt", "answer"} | (
        {"choices", "label"} if output_type == "multiple_choice" else set()
    )
    missing = needed - set(rows[0])
    if missing:
        raise ValueError(f"rows lack {sorted(missing)} for output_type = {output_type!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data_file = folder / f"{task_name}.jsonl"
    _write_jsonl(data_file, rows)
    path = folder / f"{task_name}.yaml"
    config = _task_config(task_name, data_file, output_type, max_gen_toks, extract)
    if shot_rows:
        shot_file = folder / f"{task_name}.shots.jsonl"
        _write_jsonl(shot_file, shot_rows)
        config["dataset_kwargs"]["data_files"]["shots"] = str(shot_file.resolve())
        config["fewshot_split"] = "shots"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _write_jsonl(path: Path, rows: Sequence[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def _quiet_logs() -> None:
    """Keep lm-eval's info lines and warnings (an in-memory model: "many other model arguments
    may be ignored") off stderr."""
    for name in ("lm_eval", "lm-eval", "datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _quiet_bars(lm) -> None:
    """Switch off lm-eval's progress bars where ``TQDM_DISABLE`` is set (as the course runner
    sets it): they pass ``disable`` to tqdm themselves, which overrides the variable."""
    import datasets

    if env_flag("TQDM_DISABLE"):
        datasets.disable_progress_bars()
        for request in ("loglikelihood", "loglikelihood_rolling", "generate_until"):
            setattr(lm, request, partial(getattr(lm, request), disable_tqdm=True))


def evaluate(
    model_or_path,
    task_names: Sequence[str],
    include_path: str | Path,
    chat_template: bool = True,
    batch_size: int = 16,
    tokenizer=None,
    num_fewshot: int | None = None,
    builtin_tasks: bool = False,
    dtype: str = "float32",
) -> dict[str, Evaluation]:
    """Score a model on ``task_names`` (found in ``include_path``, or among lm-eval's own tasks)
    with ``lm_eval.simple_evaluate``: a folder or hub name is loaded by the harness, an
    already-loaded model (e.g. with an adapter) is used as it is, with ``tokenizer``.
    ``chat_template`` wraps each prompt in the tokenizer's chat template as a user turn.
    ``dtype`` is how the harness loads a saved model (``"auto"``: as saved, for ``t4``).
    ``builtin_tasks`` also indexes lm-eval's own tasks (ARC, GSM8K...): about 5 s on 2 cores."""
    import lm_eval
    import torch
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    _quiet_logs()
    if isinstance(model_or_path, str | Path):
        device = "cuda" if torch.cuda.is_available() else "cpu"  # lm-eval's default is cuda
        lm = HFLM(pretrained=str(model_or_path), dtype=dtype, device=device, batch_size=batch_size)
    else:
        if tokenizer is None:
            raise ValueError("tokenizer = None: an in-memory model needs its tokenizer")
        lm = HFLM(pretrained=model_or_path, tokenizer=tokenizer, batch_size=batch_size)
    _quiet_bars(lm)
    out = lm_eval.simple_evaluate(
        model=lm,
        tasks=list(task_names),
        task_manager=TaskManager(include_path=str(include_path), include_defaults=builtin_tasks),
        apply_chat_template=chat_template,
        num_fewshot=num_fewshot,
        log_samples=True,
        bootstrap_iters=1000,
    )
    return {name: _evaluation(name, out) for name in task_names}


def _evaluation(task: str, out: dict) -> Evaluation:
    """One task's ``Evaluation`` from ``simple_evaluate``'s output."""
    samples = sorted(out["samples"][task], key=lambda s: s["doc_id"])
    metric = "acc" if "acc" in samples[0] else "exact_match"
    key = next(k for k in out["results"][task] if k.startswith(f"{metric},"))
    stderr = out["results"][task].get(key.replace(metric, f"{metric}_stderr", 1), float("nan"))
    replies = [
        s["filtered_resps"][0]
        if metric == "exact_match"
        else str(max(range(len(s["filtered_resps"])), key=lambda i: s["filtered_resps"][i][0]))
        for s in samples
    ]
    return Evaluation(
        task,
        metric,
        [float(s[metric]) for s in samples],
        float(out["results"][task][key]),
        float(stderr) if stderr != "N/A" else float("nan"),
        replies,
        [s["arguments"][0][0] for s in samples],
    )


# ----- the tasks: the mini world's held-out words, and real tasks in t4 -----------------------


def kind_rows(pairs: Sequence[tuple[str, str]]) -> list[dict]:
    """(prompt, category) pairs of the ``kind`` task as rows for ``write_task``: the six
    categories are every item's ``choices``."""
    from .mini import vocabulary

    choices = sorted(vocabulary.CATEGORIES)
    return [
        {"prompt": p, "answer": a, "choices": choices, "label": choices.index(a)} for p, a in pairs
    ]


def arc_rows(split: str, n: int) -> list[dict]:
    """The first ``n`` questions of ARC-Easy's ``split`` as rows: the question, its options as
    ``choices`` and the right one's text as ``answer``."""
    from . import data

    arc = data.hub_dataset(
        "allenai/ai2_arc",
        "ARC-Easy, grade-school science questions",
        "use the mini profile (PROFILE='mini').",
        "ARC-Easy",
    )[split]
    rows = []
    for r in arc.select(range(min(n, len(arc)))):
        label = r["choices"]["label"].index(r["answerKey"])
        texts = r["choices"]["text"]
        rows.append(
            {"prompt": r["question"], "answer": texts[label], "choices": texts, "label": label}
        )
    return rows


def gsm8k_task_rows(split: str, n: int) -> list[dict]:
    """The first ``n`` GSM8K problems of ``split`` as rows whose ``answer`` is the final number."""
    from . import grpo

    return [
        {"prompt": question, "answer": f"{grpo.final_number(worked):g}"}
        for question, worked in grpo.gsm8k_rows(split)[:n]
    ]


#: The final number of a reply, for ``write_task(..., extract=NUMBER)``.
NUMBER = r"(-?[0-9][0-9,]*(?:\.[0-9]+)?)"


# ----- the models compared in mini: three recipes on the training words -----------------------


def preference_rows(pairs: Sequence[tuple[str, str]], seed: int) -> list[dict]:
    """(prompt, category) pairs as preference rows: the right category is chosen, another one
    (drawn with ``seed``) rejected. SFT learns the chosen answers, DPO the pairs."""
    from .mini import vocabulary

    rng = random.Random(f"kind-pairs/{seed}")
    others = sorted(vocabulary.CATEGORIES)
    return [
        {"prompt": p, "chosen": a, "rejected": rng.choice([c for c in others if c != a])}
        for p, a in pairs
    ]


#: Notebook 07's GRPO settings in mini (its defaults), for ``train_recipe("grpo", ...)``; a test
#: keeps them equal to 07's parameters cell and catalogue entry.
GRPO_SETTINGS = dict(
    prompts_per_step=4,
    group_size=8,
    learning_rate=1e-3,
    beta=0.04,
    epsilon=0.2,
    max_completion_length=8,
    lora_rank=16,
)


def train_recipe(recipe: str, model_path: str, tokenizer, pairs, profile, steps: int, seed: int):
    """One of the course's recipes on (prompt, answer) ``pairs`` from ``model_path``, with a LoRA
    adapter on every linear layer: "sft" (TRL's ``SFTTrainer`` on the right answers), "dpo"
    (``DPOTrainer`` on right against wrong, beta 0.1) or "grpo" (notebook 07's run,
    ``GRPO_SETTINGS``, rewarded by exact match). Returns the trained model and its seconds."""
    import time

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, set_seed
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    from . import grpo, preference, recipes
    from .core.progress import bar_only_progress

    if recipe == "grpo":
        data = grpo.chat_dataset(*zip(*pairs, strict=True), seed=seed)
        run = grpo.train(
            model_path, tokenizer, data, grpo.exact_answer, profile, seed=seed, steps=steps,
            dtype=torch.float32, **GRPO_SETTINGS,
        )  # fmt: skip
        return run.model, run.seconds
    if recipe not in ("sft", "dpo"):
        raise ValueError(f"recipe = {recipe!r}: one of 'sft', 'dpo', 'grpo'")
    rows = preference_rows(pairs, seed)
    sft = recipe == "sft"
    columns = preference.sft_columns(rows, True) if sft else preference.pair_columns(rows, True)
    args = recipes.trainer_arguments(
        SFTConfig if sft else DPOConfig, profile, output_dir=tempfile.mkdtemp(), steps=steps,
        batch_size=16, accumulation=1, learning_rate=5e-3 if sft else 3e-3, warmup=0, seed=seed,
        max_length=64, **({} if sft else {"beta": 0.1}),
    )  # fmt: skip
    set_seed(seed)
    trainer = (SFTTrainer if sft else DPOTrainer)(
        model=AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32),
        processing_class=tokenizer,
        train_dataset=Dataset.from_dict(columns),
        peft_config=recipes.lora_config(16, 32, targets="all-linear"),
        args=args,
    )
    bar_only_progress(trainer)
    start = time.perf_counter()
    trainer.train()
    return preference.merged_sft_model(trainer), time.perf_counter() - start


# ----- a language model as a judge -------------------------------------------------------------

#: The judge's prompt: a question and two replies, in the order given.
JUDGE_PROMPT = (
    "Question: {question}\nReply A: {first}\nReply B: {second}\n"
    "Which reply answers the question correctly, A or B?"
)


def judge_prefers_first(
    model, tokenizer, questions: Sequence[str], first: Sequence[str], second: Sequence[str]
) -> list[bool]:
    """A language model as a judge of pairs of replies: for each question, whether the token
    after ``JUDGE_PROMPT`` (in the chat template, as a user turn) is likelier to be "A", the
    first reply, than "B"."""
    import torch

    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": JUDGE_PROMPT.format(question=q, first=a, second=b)}],
            tokenize=False,
            add_generation_prompt=True,
        )
        for q, a, b in zip(questions, first, second, strict=True)
    ]
    a_id, b_id = (tokenizer.encode(t, add_special_tokens=False)[0] for t in ("A", "B"))
    saved, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        batch = tokenizer(prompts, padding=True, add_special_tokens=False, return_tensors="pt")
        with torch.no_grad():
            logits = model(**batch.to(model.device)).logits[:, -1]
    finally:
        tokenizer.padding_side = saved
    return (logits[:, a_id] > logits[:, b_id]).tolist()


def position_bias(right_first: Sequence[bool], right_second: Sequence[bool]) -> dict[str, float]:
    """A judge's verdicts on the same pairs in both orders (``right_first[i]``: whether it chose
    the right reply when shown first; ``right_second[i]``: when shown second): the share of pairs
    where it picked the same position both times (the order decided, not the replies), where it
    chose the right reply in both orders, and its accuracy in each order."""
    pairs = list(zip(right_first, right_second, strict=True))
    return {
        "same position in both orders": sum(a != b for a, b in pairs) / len(pairs),
        "right in both orders": sum(a and b for a, b in pairs) / len(pairs),
        "right when shown first": sum(right_first) / len(pairs),
        "right when shown second": sum(right_second) / len(pairs),
    }


# @lesson notebooks/09_evaluation.ipynb cell=09-17 sha256=7905789a8ccd
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
def bootstrap_interval(
    scores: list[float], iterations: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``scores``: resample the items with
    replacement ``iterations`` times and keep the middle ``level`` of the resampled means."""
    if len(scores) < 2:
        raise ValueError(f"{len(scores)} scores: a bootstrap needs at least 2")
    if not 0 < level < 1:
        raise ValueError(f"level = {level}: between 0 and 1")
    rng = random.Random(seed)
    n = len(scores)
    means = sorted(sum(rng.choices(scores, k=n)) / n for _ in range(iterations))
    tail = (1 - level) / 2
    return quantile(means, tail), quantile(means, 1 - tail)


def quantile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of sorted values, interpolated linearly (NumPy's default)."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def minimum_detectable_difference(
    n: int, p: float, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest gap between two accuracies near ``p``, each measured on ``n`` items, that a
    two-sided test at ``alpha`` detects with probability ``power``: (z_{1-alpha/2} + z_power)
    times the standard error of the difference, sqrt(2 p (1 - p) / n)."""
    if n < 1:
        raise ValueError(f"n = {n}: at least 1 item")
    if not 0 < p < 1:
        raise ValueError(f"p = {p}: an accuracy strictly between 0 and 1")
    z = statistics.NormalDist()
    return (z.inv_cdf(1 - alpha / 2) + z.inv_cdf(power)) * math.sqrt(2 * p * (1 - p) / n)


# @end-lesson
# @lesson notebooks/09_evaluation.ipynb cell=09-29 sha256=4351588f3a1a
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
def word_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    """Every run of ``n`` consecutive words of ``text``, lower-cased, punctuation dropped."""
    if n < 1:
        raise ValueError(f"n = {n}: at least 1 word")
    words = re.findall(r"[a-z0-9']+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def overlap_share(text: str, seen: set[tuple[str, ...]], n: int) -> float:
    """The share of ``text``'s n-grams that are in ``seen`` (the training data's n-grams)."""
    grams = word_ngrams(text, n)
    return sum(gram in seen for gram in grams) / len(grams) if grams else 0.0


# @end-lesson


def write_real_tasks(folder: str | Path, n: int, max_gen_toks: int) -> list[dict]:
    """``t4``'s tasks in ``folder``: the first ``n`` test questions of ARC-Easy scored both ways
    (``arc_generate``, ``arc_choice``) and of GSM8K by its final number (``gsm8k``), with worked
    examples from their training splits. Returns ARC-Easy's rows."""
    arc, shots = arc_rows("test", n), arc_rows("train", 20)
    write_task("arc_generate", arc, folder, "generate_until", 32, shots)
    write_task("arc_choice", arc, folder, "multiple_choice", shot_rows=shots)
    gsm8k, worked = gsm8k_task_rows("test", n), gsm8k_task_rows("train", 20)
    write_task("gsm8k", gsm8k, folder, "generate_until", max_gen_toks, worked, extract=NUMBER)
    return arc


# ----- figures -----------------------------------------------------------------------------------


def plot_intervals(intervals, ylabel: str):
    """Each model's score with its interval (error bars), one colour per way of scoring:
    ``intervals`` is indexed by (scoring, model) with columns score, 95 % low, 95 % high."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    scorings = list(dict.fromkeys(intervals.index.get_level_values(0)))
    for i, scoring in enumerate(scorings):
        part = intervals.loc[scoring]
        below, above = part["score"] - part["95 % low"], part["95 % high"] - part["score"]
        x = [j + 0.2 * (i - (len(scorings) - 1) / 2) for j in range(len(part))]
        ax.errorbar(x, part["score"], yerr=[below, above], fmt="o", capsize=4, label=scoring)
    ax.set_xticks(range(len(part)), list(part.index))
    ax.set(ylabel=ylabel, ylim=(0, 1.05))
    ax.set_title("Each model's score with its 95 % bootstrap interval")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig

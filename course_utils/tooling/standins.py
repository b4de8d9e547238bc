"""Local stand-ins for the Hugging Face Hub, so the ``t4`` code path runs without network.

``python -m course_utils run --profile t4 --stand-ins`` (and ``tests/test_t4_stand_ins.py``)
sets ``COURSE_STAND_INS=1``. Then:

- each Hub model id of the catalogue is replaced by a mini model of the same architecture
  (``catalog.Download.stand_in``), so ``MODEL = "google/flan-t5-base"`` loads the mini T5;
- each Hub dataset is replaced by a small local copy, written from the bundled data, with the
  Hub dataset's exact layout: the same files, split names, column names and types, and quirks
  (DialogSum's test split holds every dialogue three times, once per human summary). It is
  loaded with the same ``datasets.load_dataset(...)`` call as the Hub id;
- without a GPU, the ``t4`` profile runs on the CPU with a T4's settings (``profiles.py``);
- the catalogue's ``stand_in`` values cut step and example counts to a few.

A column rename, a split mix-up or a dtype branch that would break on Colab breaks here.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core import hub, paths
from . import catalog
from .params import MINI_PREFIX, ParameterError

ENV = hub.STAND_INS_ENV


def mini_model_path(reference: str) -> str:
    """A "mini:<name>" reference as the folder of that built mini model."""
    return str(paths.models_dir() / reference.removeprefix(MINI_PREFIX))


def model_path(name: str, repo_id: str) -> str:
    """The local stand-in of the Hub model ``repo_id`` (parameter ``name`` asked for it)."""
    item = catalog.stand_in_for(repo_id)
    if item is None or item.kind != "model":
        known = sorted(
            d.repo_id for s in catalog.NOTEBOOKS.values() for d in s.downloads if d.kind == "model"
        )
        raise ParameterError(
            f"{name} = {repo_id!r} has no local stand-in: the t4 stand-in test replaces only "
            f"the catalogue's Hub models ({', '.join(known)}); give a model folder instead"
        )
    return mini_model_path(item.stand_in)


# ----------------------------------------------------------------------------- dataset copies


def _bundled(name: str, split: str) -> list[dict[str, Any]]:
    text = (paths.data_dir() / name / f"{split}.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows({c: row[c] for c in columns} for row in rows)


def _dialogsum(folder: Path) -> None:
    """knkarthick/dialogsum: train.csv, validation.csv, test.csv; id, dialogue, summary, topic
    (all strings). Test ids are test_<n>_<k>: each dialogue appears once per summary, k = 1..3."""
    columns = ["id", "dialogue", "summary", "topic"]
    for split, count in (("train", 40), ("validation", 10)):
        rows = _bundled("dialogue_summaries", split)[:count]
        rows = [{**row, "id": f"{split}_{i}"} for i, row in enumerate(rows)]
        _write_csv(folder / f"{split}.csv", rows, columns)
    test = []
    for i, row in enumerate(_bundled("dialogue_summaries", "test")[:12]):
        summary = row["summary"]
        variants = (summary, "In short, " + summary[0].lower() + summary[1:], summary + " Done.")
        for k, text in enumerate(variants, 1):
            test.append({**row, "id": f"test_{i}_{k}", "summary": text})
    _write_csv(folder / "test.csv", test, columns)


def _alpaca_cleaned(folder: Path) -> None:
    """yahma/alpaca-cleaned: one file, alpaca_data_cleaned.json, a JSON list of objects with
    output, input, instruction (strings); a single split, train."""
    rows = _bundled("instructions", "train")[:50] + _bundled("instructions", "test")[:10]
    keep = [{k: row[k] for k in ("output", "input", "instruction")} for row in rows]
    (folder / "alpaca_data_cleaned.json").write_text(json.dumps(keep, indent=2))


def _ultrafeedback(folder: Path) -> None:
    """trl-lib/ultrafeedback_binarized: data/train-*.parquet and data/test-*.parquet with
    chosen and rejected (conversations: lists of {content, role}), score_chosen and
    score_rejected (float64); the prompt is the conversations' first, user, turn."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "data").mkdir()
    for split, count in (("train", 40), ("test", 10)):
        rows = _bundled("preferences", split)[:count]

        def chat(row: dict[str, Any], answer: str) -> list[dict[str, str]]:
            return [
                {"content": row["prompt"], "role": "user"},
                {"content": row[answer], "role": "assistant"},
            ]

        table = pa.table(
            {
                "chosen": [chat(r, "chosen") for r in rows],
                "rejected": [chat(r, "rejected") for r in rows],
                "score_chosen": pa.array([8.0] * len(rows), pa.float64()),
                "score_rejected": pa.array([3.0] * len(rows), pa.float64()),
            }
        )
        pq.write_table(table, folder / "data" / f"{split}-00000-of-00001.parquet")


EMOTION_LABELS = ("sadness", "joy", "love", "anger", "fear", "surprise")


def _emotion(folder: Path) -> None:
    """dair-ai/emotion (default configuration "split"): split/train-, split/validation- and
    split/test-00000-of-00001.parquet with text (string) and label (a class label: sadness, joy,
    love, anger, fear, surprise)."""
    from datasets import ClassLabel, Dataset, Features, Value

    words = {
        "sadness": ("sad", "lonely"),
        "joy": ("happy", "glad"),
        "love": ("loving", "fond"),
        "anger": ("angry", "furious"),
        "fear": ("scared", "afraid"),
        "surprise": ("amazed", "surprised"),
    }
    features = Features({"text": Value("string"), "label": ClassLabel(names=list(EMOTION_LABELS))})
    (folder / "split").mkdir()
    for split, shapes in (
        ("train", ("i feel {w}", "i am feeling {w} today", "i felt so {w} last night")),
        ("validation", ("i still feel {w}",)),
        ("test", ("i feel really {w}", "today i am {w}")),
    ):
        rows = [
            (shape.format(w=word), label)
            for label, (first, second) in enumerate(words.values())
            for shape in shapes
            for word in (first, second)
        ]
        data = Dataset.from_dict(
            {"text": [t for t, _ in rows], "label": [y for _, y in rows]}, features=features
        )
        data.to_parquet(str(folder / "split" / f"{split}-00000-of-00001.parquet"))


def _gsm8k(folder: Path) -> None:
    """openai/gsm8k, configuration "main": main/train-00000-of-00001.parquet and
    main/test-00000-of-00001.parquet with question and answer (strings); the answer is a worked
    solution whose last line is '#### <number>'. Written from the mini world's sums."""
    from datasets import Dataset

    from ..mini import tasks

    (folder / "main").mkdir()
    for split, count in (("train", 64), ("test", 16)):
        rows = tasks.examples("add", split, count, seed=0)
        questions, answers = [], []
        for e in rows:
            numbers = [int(n) for n in re.findall(r"\d+", e.prompt)]
            questions.append(
                f"Sam has {numbers[0]} apples and buys {numbers[1]} more. How many now?"
            )
            answers.append(f"{numbers[0]} + {numbers[1]} = {e.target}\n#### {e.target}")
        data = Dataset.from_dict({"question": questions, "answer": answers})
        data.to_parquet(str(folder / "main" / f"{split}-00000-of-00001.parquet"))


def _ai2_arc(folder: Path) -> None:
    """allenai/ai2_arc, configuration "ARC-Easy": ARC-Easy/train-, validation- and
    test-00000-of-00001.parquet with id, question (strings), choices ({text: [...], label:
    ["A", "B", ...]}) and answerKey (the right choice's label). Written from the mini world's
    categories: "What kind of thing is a pear?" with four categories to choose from."""
    import random

    from datasets import Dataset

    from ..mini import vocabulary

    categories = sorted(vocabulary.CATEGORIES)
    (folder / "ARC-Easy").mkdir()
    for split, count in (("train", 20), ("validation", 8), ("test", 24)):
        rng = random.Random(f"ai2_arc/{split}")
        rows = []
        for i in range(count):
            answer = rng.choice(categories)
            word = rng.choice(vocabulary.CATEGORIES[answer])
            options = rng.sample([c for c in categories if c != answer], 3) + [answer]
            rng.shuffle(options)
            labels = list("ABCD")
            rows.append(
                {
                    "id": f"Mini_{split}_{i}",
                    "question": f"What kind of thing is a {word}?",
                    "choices": {"text": options, "label": labels},
                    "answerKey": labels[options.index(answer)],
                }
            )
        path = folder / "ARC-Easy" / f"{split}-00000-of-00001.parquet"
        Dataset.from_list(rows).to_parquet(str(path))


#: Hub dataset id -> (stand-in name, writer of its local copy).
#: Each Hub dataset with a stand-in, and the function that writes its local copy into
#: ``paths.stand_in_dataset_dir(repo_id)``.
DATASETS: dict[str, Callable[[Path], None]] = {
    "knkarthick/dialogsum": _dialogsum,
    "yahma/alpaca-cleaned": _alpaca_cleaned,
    "trl-lib/ultrafeedback_binarized": _ultrafeedback,
    "dair-ai/emotion": _emotion,
    "openai/gsm8k": _gsm8k,
    "allenai/ai2_arc": _ai2_arc,
}


def write_dataset(repo_id: str) -> Path:
    """(Re)write the local copy of the Hub dataset ``repo_id``; returns its folder."""
    if repo_id not in DATASETS:
        raise KeyError(f"no stand-in for the Hub dataset {repo_id!r}; known: {', '.join(DATASETS)}")
    target = paths.stand_in_dataset_dir(repo_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        DATASETS[repo_id](staging)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def write_missing() -> list[Path]:
    """Write the stand-ins not written yet (a notebook run by hand in the stand-in test)."""
    return [
        write_dataset(repo_id)
        for repo_id in DATASETS
        if not paths.stand_in_dataset_dir(repo_id).is_dir()
    ]


def prepare() -> list[Path]:
    """Write every dataset stand-in afresh (the runner does this once per stand-in run)."""
    return [write_dataset(repo_id) for repo_id in DATASETS]

"""One loader for the course's datasets: the same columns in both profiles, for every notebook.

``mini``: the bundled JSON Lines files in data/ (written by ``python -m course_utils build-data``).
``t4``:   the real Hugging Face Hub dataset each bundled set stands in for, renamed to the same
          columns, with a test split carved out where the Hub set has none. (The t4 stand-in
          test loads a local copy with the Hub set's exact layout instead: tooling/standins.py.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .core import hub, paths


@dataclass(frozen=True)
class Source:
    """A bundled dataset and the Hub dataset it stands in for."""

    name: str
    columns: tuple[str, ...]
    hub_id: str
    hub_note: str


SOURCES = {
    s.name: s
    for s in (
        Source(
            "dialogue_summaries",
            ("id", "dialogue", "summary", "topic"),
            "knkarthick/dialogsum",
            "DialogSum: 13k dialogues with human summaries",
        ),
        Source(
            "instructions",
            ("instruction", "input", "output"),
            "yahma/alpaca-cleaned",
            "Alpaca-cleaned: 52k instruction / input / output rows",
        ),
        Source(
            "preferences",
            ("prompt", "chosen", "rejected"),
            "trl-lib/ultrafeedback_binarized",
            "UltraFeedback, binarised preference pairs",
        ),
    )
}


def _text(value) -> str:
    """A string from a string or a chat (the last message's content)."""
    if isinstance(value, list):
        return value[-1]["content"] if value else ""
    return value


def _load_bundled(source: Source):
    from datasets import load_dataset

    folder = paths.data_dir() / source.name
    files = {p.stem: str(p) for p in sorted(folder.glob("*.jsonl"))}
    if not files:
        raise FileNotFoundError(
            f"no bundled data for {source.name!r} in {folder}; "
            "run `python -m course_utils build-data`"
        )
    return load_dataset("json", data_files=files)


def hub_dataset(repo_id: str, what: str, instead: str, config: str | None = None):
    """``load_dataset(repo_id, config)``, or its local stand-in under the t4 stand-in test (a
    configuration is a folder of the copy there, as on the Hub); a failure says what the dataset
    is (``what``) and what to do without network (``instead``)."""
    from datasets import load_dataset

    where, options = repo_id, {"name": config} if config else {}
    if hub.stand_ins():
        where = str(paths.stand_in_dataset_dir(repo_id))
        if not Path(where).is_dir():
            raise RuntimeError(
                f"the t4 stand-in test has no local copy of {repo_id!r} in {where}: run "
                "notebooks with `python -m course_utils run --profile t4 --stand-ins`, "
                "which writes every copy first"
            )
        options = {"data_dir": config} if config else {}
    try:
        return load_dataset(where, **options)
    except Exception as error:  # the Hub raises many kinds of errors when unreachable
        raise RuntimeError(
            f"could not load {repo_id!r} ({what}) from the Hugging Face Hub: "
            f"{type(error).__name__}: {error}. Without network, {instead}"
        ) from error


def _load_hub(source: Source, seed: int):
    from datasets import DatasetDict

    data = hub_dataset(
        source.hub_id,
        source.hub_note,
        f"use PROFILE='mini', which uses the bundled copy in data/{source.name}.",
    )
    if "test" not in data:
        first = data[next(iter(data))]
        parts = first.train_test_split(test_size=0.05, seed=seed)
        data = DatasetDict(train=parts["train"], test=parts["test"])
    if source.name == "preferences":
        data = data.map(
            lambda row: {
                "prompt": _text(row.get("prompt") or row["chosen"][:1]),
                "chosen": _text(row["chosen"]),
                "rejected": _text(row["rejected"]),
            }
        )
    keep = [c for c in source.columns if c in data[next(iter(data))].column_names]
    return data.select_columns(keep)


def load(name: str, profile: str, seed: int = 0):
    """The dataset ``name`` as a ``datasets.DatasetDict`` for a resolved profile ("mini"/"t4")."""
    if name not in SOURCES:
        raise ValueError(f"dataset {name!r} is unknown; known: {', '.join(SOURCES)}")
    if profile not in ("mini", "t4"):
        raise ValueError(f"profile {profile!r} must be a resolved profile: 'mini' or 't4'")
    source = SOURCES[name]
    return _load_bundled(source) if profile == "mini" else _load_hub(source, seed)

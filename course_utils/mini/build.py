"""Build the mini models: ``python -m course_utils build-mini [--force] [--json]``.

Trains, on the CPU in a few minutes, a T5-architecture seq2seq model (stands in for FLAN-T5)
and a Mistral-architecture decoder (stands in for Mistral-7B and small instruct models) on the
six core tasks of the mini FLAN mixture (the seq2seq model also learns to copy its input),
measures their held-out exact match per task, and saves
both with ``save_pretrained`` plus a model card. The build is cached: it is redone only when
the recipe (or the code that defines the data) changes, or with ``--force``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from ..core import paths
from . import tasks

RECIPE: dict[str, Any] = {
    "version": 2,
    "seed": 0,
    "threads": 2,
    "vocab_size": 2000,
    "pool_per_task": 3000,
    "eval_per_task": 200,
    "seq2seq": {
        "config": {
            "d_model": 128,
            "d_kv": 32,
            "d_ff": 512,
            "num_layers": 2,
            "num_decoder_layers": 2,
            "num_heads": 4,
            "relative_attention_num_buckets": 16,
            "relative_attention_max_distance": 32,
            "dropout_rate": 0.0,
            "feed_forward_proj": "relu",
        },
        "steps": 1000,
        "batch_size": 64,
        "lr": 3e-3,
        "weight_decay": 0.01,
        "warmup": 100,
        "tasks": tasks.CORE_TASKS + tasks.SEQ2SEQ_EXTRA_TASKS,
    },
    "decoder": {
        "config": {
            "hidden_size": 128,
            "intermediate_size": 512,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 256,
            "tie_word_embeddings": True,
        },
        "steps": 2000,
        "batch_size": 64,
        "lr": 3e-3,
        "weight_decay": 0.01,
        "warmup": 100,
        "tasks": tasks.CORE_TASKS,
    },
}
SEQ2SEQ_DIR, DECODER_DIR, REPORT = "mini-seq2seq", "mini-decoder", "build_report.json"
# The build is redone when any of these files changes.
_SOURCES = ("vocabulary.py", "tasks.py", "corpora.py", "tokenizers.py", "build.py")


def fingerprint() -> str:
    digest = hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode())
    here = Path(__file__).parent
    for name in _SOURCES:
        digest.update((here / name).read_bytes())
    digest.update((here.parent / "core" / "training.py").read_bytes())
    return digest.hexdigest()[:16]


def tokenizer_corpus(seed: int) -> list[str]:
    """Every text the mini world contains: task prompts and answers, bundled datasets."""
    from .corpora import all_texts

    texts = all_texts()
    for name in tasks.TASKS:
        for example in tasks.examples(name, "train", 1000, seed):
            texts += [example.prompt, example.target]
    return texts


def _train_one(kind: str, tokenizer, seed: int):
    """Train one mini model on the core-task mixture; returns (model, seconds)."""
    import torch
    from transformers import MistralConfig, MistralForCausalLM, T5Config, T5ForConditionalGeneration

    from ..core.training import sample_batches, train

    spec = RECIPE[kind]
    torch.manual_seed(seed)
    if kind == "seq2seq":
        config = T5Config(
            vocab_size=len(tokenizer),
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
            **spec["config"],
        )
        model = T5ForConditionalGeneration(config)
    else:
        config = MistralConfig(
            vocab_size=len(tokenizer),
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            bos_token_id=tokenizer.bos_token_id,
            sliding_window=None,
            **spec["config"],
        )
        model = MistralForCausalLM(config)
    pool = tasks.mixture("train", RECIPE["pool_per_task"], seed, tasks=spec["tasks"])
    log = train(
        model,
        tokenizer,
        sample_batches(pool, spec["batch_size"], seed),
        steps=spec["steps"],
        lr=spec["lr"],
        weight_decay=spec["weight_decay"],
        warmup=spec["warmup"],
    )
    return model, log


def _model_card(kind: str, info: dict[str, Any]) -> str:
    arch = "T5 (encoder-decoder)" if kind == "seq2seq" else "Mistral (decoder-only)"
    stands_for = "FLAN-T5" if kind == "seq2seq" else "Mistral-7B and small instruct models"
    rows = "\n".join(f"| {task} | {acc:.3f} |" for task, acc in info["accuracy"].items())
    return f"""# mini-{kind}

A {info["parameters"]:,}-parameter {arch} model built by this course's `python -m course_utils
build-mini` on a CPU in {info["build_seconds"]:.0f} s. It stands in for {stands_for} in the
course's offline `mini` profile, so that every notebook can show real effects without a GPU or
a download.

Trained from scratch for {RECIPE[kind]["steps"]} AdamW steps (batch {RECIPE[kind]["batch_size"]},
lr {RECIPE[kind]["lr"]}, warm-up then cosine) on these tasks of the course's mini FLAN mixture
(`course_utils.mini.tasks`), each asked in several phrasings: {", ".join(RECIPE[kind]["tasks"])}.
Build fingerprint `{info["fingerprint"]}`, seed {RECIPE["seed"]}, {RECIPE["threads"]} CPU threads.

Held-out exact match ({RECIPE["eval_per_task"]} test-split prompts per task, greedy decoding),
measured by the build:

| task | exact match |
| --- | --- |
{rows}

Load it with
`AutoModelFor{"Seq2SeqLM" if kind == "seq2seq" else "CausalLM"}.from_pretrained(path)` and
`AutoTokenizer.from_pretrained(path)`. Licence: MIT, like the course code.
"""


def build(out_dir: Path) -> dict[str, Any]:
    """Build both models into ``out_dir`` (replacing what is there) and return the report."""
    import torch

    from ..core.evaluation import accuracy_by_task
    from .tokenizers import train_decoder_tokenizer, train_seq2seq_tokenizer

    seed = RECIPE["seed"]
    torch.set_num_threads(RECIPE["threads"])
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(out_dir) / f".building-{fingerprint()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    corpus = tokenizer_corpus(seed)
    every_task = dict.fromkeys(RECIPE["seq2seq"]["tasks"] + RECIPE["decoder"]["tasks"])
    test_sets = {t: tasks.examples(t, "test", RECIPE["eval_per_task"], seed) for t in every_task}
    report: dict[str, Any] = {"fingerprint": fingerprint(), "recipe": RECIPE}
    for kind, folder, make_tokenizer in (
        ("seq2seq", SEQ2SEQ_DIR, train_seq2seq_tokenizer),
        ("decoder", DECODER_DIR, train_decoder_tokenizer),
    ):
        start = time.perf_counter()
        tokenizer = make_tokenizer(corpus, RECIPE["vocab_size"])
        model, log = _train_one(kind, tokenizer, seed)
        tests = {t: test_sets[t] for t in RECIPE[kind]["tasks"]}
        acc = accuracy_by_task(model, tokenizer, tests, max_new_tokens=48)
        seconds = time.perf_counter() - start
        target = staging / folder
        model.save_pretrained(target)
        tokenizer.save_pretrained(target)
        megabytes = sum(f.stat().st_size for f in target.iterdir()) / 1e6
        info = {
            "path": str(out_dir / folder),
            "parameters": sum(p.numel() for p in model.parameters()),
            "megabytes": round(megabytes, 3),
            "build_seconds": round(seconds, 1),
            "final_loss": round(sum(log.losses[-20:]) / 20, 4),
            "accuracy": {t: round(a, 4) for t, a in acc.items()},
            "fingerprint": report["fingerprint"],
        }
        (target / "README.md").write_text(_model_card(kind, info))
        report[kind] = info
        print(
            f"built mini-{kind}: {info['parameters']:,} parameters, {megabytes:.1f} MB, "
            f"{seconds:.0f} s, accuracy {info['accuracy']}",
            file=sys.stderr,
            flush=True,
        )
    (staging / REPORT).write_text(json.dumps(report, indent=2))
    for name in (SEQ2SEQ_DIR, DECODER_DIR, REPORT):
        final = out_dir / name
        if final.is_dir():
            shutil.rmtree(final)
        (staging / name).replace(final)
    shutil.rmtree(staging)
    return report


def current_report(out_dir: Path | None = None) -> dict[str, Any] | None:
    """The report of the models in ``out_dir`` if they match this recipe, else None."""
    out_dir = paths.models_dir() if out_dir is None else out_dir
    path = out_dir / REPORT
    if not path.exists():
        return None
    report = json.loads(path.read_text())
    complete = all((out_dir / d / "config.json").exists() for d in (SEQ2SEQ_DIR, DECODER_DIR))
    return report if complete and report.get("fingerprint") == fingerprint() else None


def ensure_built(force: bool = False, out_dir: Path | None = None) -> dict[str, Any]:
    """Build the mini models unless an up-to-date build is already there.

    Builds are serialised by a lock file in ``out_dir``: a second process (the tests and
    ``make course`` at once) waits for the first build and then reuses it.
    """
    import fcntl

    out_dir = paths.models_dir() if out_dir is None else out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        report = None if force else current_report(out_dir)
        if report is None:
            print(
                f"Building the mini models into {out_dir} (a few minutes on a CPU)...",
                file=sys.stderr,
                flush=True,
            )
            report = build(out_dir)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils build-mini",
        description="Build (or reuse) the course's mini seq2seq and decoder models.",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the models (default: COURSE_MODELS_DIR or ./models)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: path, parameters, megabytes, "
        "build_seconds and accuracy of each model",
    )
    args = parser.parse_args(argv)
    report = ensure_built(force=args.force, out_dir=args.out)
    summary = {
        kind: {
            k: report[kind][k]
            for k in ("path", "parameters", "megabytes", "build_seconds", "accuracy")
        }
        for kind in ("seq2seq", "decoder")
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for kind, info in summary.items():
            print(
                f"{kind}: {info['path']} ({info['parameters']:,} parameters, "
                f"{info['megabytes']} MB); accuracy {info['accuracy']}"
            )
    return 0

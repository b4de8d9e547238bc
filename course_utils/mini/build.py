"""The mini models: shipped in ``models/``, rebuilt by ``python -m course_utils build-mini``.

The course ships its two mini models (weights, tokenizers, cards and this build's report, about
7 MB) so that no notebook, test or Colab runtime has to train them. ``build-mini`` trains them
again, on the CPU in 6 to 15 minutes on 2 cores, with the course's pinned numerics
(``core.numerics``): a T5-architecture seq2seq model (stands in for FLAN-T5) and a
Mistral-architecture decoder (stands in for Mistral-7B and small instruct models) on the six
core tasks of the mini FLAN mixture (the seq2seq model also learns to copy its input). It
measures their held-out exact match per task and saves both with ``save_pretrained`` plus a
model card.

The report's fingerprint hashes what the models are made from: the recipe, every text the
tokenizers and the training read, and the code that trains. A test fails when it no longer
matches the shipped report; ``build-mini`` then rebuilds them into ``models/`` for the commit, and
``build-mini --check`` rebuilds into a temporary folder and compares with the shipped models.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import sys
import tempfile
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
#: The code that trains the models (the data they read is hashed as data, not as code).
BUILDER_SOURCES = ("mini/build.py", "mini/tokenizers.py", "core/training.py")


class MissingModels(RuntimeError):
    """The mini models are not where the course expects them."""


def builder_inputs() -> dict[str, str]:
    """A short hash of each input of the build: the recipe, the texts, the builder's code."""
    seed = RECIPE["seed"]

    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()[:16]

    def texts(items) -> bytes:
        return "\n".join(items).encode()

    inputs = {"recipe": digest(json.dumps(RECIPE, sort_keys=True).encode())}
    inputs["tokenizer_corpus"] = digest(texts(tokenizer_corpus(seed)))
    for kind in ("seq2seq", "decoder"):
        pool = tasks.mixture("train", RECIPE["pool_per_task"], seed, tasks=RECIPE[kind]["tasks"])
        inputs[f"{kind}_training_data"] = digest(texts(f"{e.prompt}\t{e.target}" for e in pool))
    every_task = dict.fromkeys(RECIPE["seq2seq"]["tasks"] + RECIPE["decoder"]["tasks"])
    held_out = [
        e for t in every_task for e in tasks.examples(t, "test", RECIPE["eval_per_task"], seed)
    ]
    inputs["held_out_data"] = digest(texts(f"{e.prompt}\t{e.target}" for e in held_out))
    package = Path(__file__).resolve().parent.parent
    for name in BUILDER_SOURCES:
        inputs[name] = digest(_code((package / name).read_text()).encode())
    return inputs


def _code(source: str) -> str:
    """A module's code without its comments, docstrings and layout: editing those does not
    change what the build computes, so it does not ask for a rebuild."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def fingerprint(inputs: dict[str, str] | None = None) -> str:
    """One hash of ``builder_inputs()``: the shipped models are current while it matches."""
    inputs = builder_inputs() if inputs is None else inputs
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


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


def _machine() -> str:
    """The CPU, core count and kernel choice the build ran on (recorded in its report)."""
    from ..core import numerics

    return f"{numerics.cpu_model()} ({os.cpu_count()} cores); {numerics.status()}"


def build(out_dir: Path) -> dict[str, Any]:
    """Build both models into ``out_dir`` (replacing what is there) and return the report."""
    import torch
    import transformers

    from ..core.evaluation import accuracy_by_task
    from .tokenizers import train_decoder_tokenizer, train_seq2seq_tokenizer

    seed = RECIPE["seed"]
    torch.set_num_threads(RECIPE["threads"])
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = builder_inputs()
    staging = Path(out_dir) / f".building-{fingerprint(inputs)}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    corpus = tokenizer_corpus(seed)
    every_task = dict.fromkeys(RECIPE["seq2seq"]["tasks"] + RECIPE["decoder"]["tasks"])
    test_sets = {t: tasks.examples(t, "test", RECIPE["eval_per_task"], seed) for t in every_task}
    report: dict[str, Any] = {
        "fingerprint": fingerprint(inputs),
        "inputs": inputs,
        "machine": _machine(),
        "versions": f"torch {torch.__version__}, transformers {transformers.__version__}",
        "recipe": RECIPE,
    }
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
            "parameters": sum(p.numel() for p in model.parameters()),
            "megabytes": round(megabytes, 3),
            "build_seconds": round(seconds, 1),
            "final_loss": round(sum(log.losses[-20:]) / 20, 4),
            "accuracy": {t: round(a, 4) for t, a in acc.items()},
            "weights_sha256": _weights_digest(target),
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
    (staging / REPORT).write_text(json.dumps(report, indent=2) + "\n")
    for name in (SEQ2SEQ_DIR, DECODER_DIR, REPORT):
        final = out_dir / name
        if final.is_dir():
            shutil.rmtree(final)
        (staging / name).replace(final)
    shutil.rmtree(staging)
    return report


def _weights_digest(folder: Path) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()[:16]


def read_report(out_dir: Path | None = None) -> dict[str, Any] | None:
    """The build report of the models in ``out_dir`` (default: the shipped ones), if complete."""
    out_dir = paths.models_dir() if out_dir is None else out_dir
    path = out_dir / REPORT
    complete = all((out_dir / d / "config.json").exists() for d in (SEQ2SEQ_DIR, DECODER_DIR))
    return json.loads(path.read_text()) if complete and path.exists() else None


def require_models(out_dir: Path | None = None) -> dict[str, Any]:
    """The shipped models' report; stops with what to do when they are missing."""
    out_dir = paths.models_dir() if out_dir is None else out_dir
    report = read_report(out_dir)
    if report is None:
        raise MissingModels(
            f"the mini models are missing from {out_dir}: the repository ships them there "
            "(a clone without them is incomplete); rebuild with `python -m course_utils "
            "build-mini` (6 to 15 minutes on 2 cores)"
        )
    return report


def stale_inputs(report: dict[str, Any]) -> list[str]:
    """The builder's inputs that changed since ``report``'s build."""
    now, then = builder_inputs(), report.get("inputs", {})
    return sorted(name for name in now.keys() | then.keys() if now.get(name) != then.get(name))


def check_rebuild(shipped: dict[str, Any], rebuilt: dict[str, Any], tolerance: float) -> list[str]:
    """Each task whose rebuilt accuracy is more than ``tolerance`` from the shipped one."""
    problems = []
    for kind in ("seq2seq", "decoder"):
        old, new = shipped[kind]["accuracy"], rebuilt[kind]["accuracy"]
        for task in sorted(old.keys() | new.keys()):
            a, b = old.get(task), new.get(task)
            if a is None or b is None or abs(a - b) > tolerance:
                problems.append(f"mini-{kind} {task}: shipped {a}, rebuilt {b}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils build-mini",
        description="Rebuild the course's mini seq2seq and decoder models (they are shipped in "
        "models/; rebuild after changing what they are made from, then commit them).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the models (default: COURSE_MODELS_DIR or the shipped ./models)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="rebuild into a temporary folder and compare each task's accuracy with the "
        "shipped models; exit 1 if one moved by more than --tolerance",
    )
    parser.add_argument("--tolerance", type=float, default=0.02, help="default 0.02")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: parameters, megabytes, build_seconds and accuracy",
    )
    args = parser.parse_args(argv)
    if args.check:
        shipped = require_models(args.out)
        with tempfile.TemporaryDirectory() as folder:
            rebuilt = build(Path(folder))
        problems = check_rebuild(shipped, rebuilt, args.tolerance)
        for kind in ("seq2seq", "decoder"):
            same = shipped[kind]["weights_sha256"] == rebuilt[kind]["weights_sha256"]
            print(f"mini-{kind}: weights {'bit-identical to' if same else 'differ from'} shipped")
        for problem in problems:
            print(problem)
        print("rebuild matches the shipped models" if not problems else "rebuild DIFFERS")
        return 1 if problems else 0
    report = build(args.out or paths.models_dir())
    keys = ("parameters", "megabytes", "build_seconds", "accuracy")
    summary = {kind: {k: report[kind][k] for k in keys} for kind in ("seq2seq", "decoder")}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for kind, info in summary.items():
            print(f"mini-{kind}: {info['parameters']:,} parameters; accuracy {info['accuracy']}")
    return 0

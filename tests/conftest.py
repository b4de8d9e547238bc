"""Shared fixtures, and the five markers the fast path leaves out.

Fast path: ``pytest -m "not notebook and not build and not scripts and not colab and not site"``
runs every unit test on tiny models built inside the tests (seconds, offline). A test that
trains or evaluates the shipped mini models (fixture ``mini_report``) must be marked ``build``;
one that executes a course notebook (``course_run`` or the runner) must be marked
``notebook``; one that launches scripts/ with accelerate on the mini models, ``scripts``; one
that needs the package index, ``colab``; one that builds the website from the test run and
reads it in a browser, ``site``.
Collection stops with an error naming any test that uses a slow fixture without its marker.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import course_utils  # noqa: F401  first: pins the CPU kernels before torch runs (core.numerics)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

#: fixture -> the markers a test using it must carry (any one of them)
SLOW_FIXTURES = {
    "course_run": ("notebook", "site"),
    "results": ("notebook",),
    "mini_report": ("build", "notebook", "scripts", "site"),
}
#: Where ``course_run`` writes the executed notebooks; CI uploads them (default: a tmp folder).
OUTPUTS_ENV = "COURSE_TEST_OUTPUTS"
#: Set to 1 with ``OUTPUTS_ENV`` to test an existing run (e.g. one notebook's, made by
#: ``python -m course_utils run NN --solutions --out DIR``) instead of executing the course.
REUSE_ENV = "COURSE_TEST_REUSE"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = []
    for item in items:
        for fixture, markers in SLOW_FIXTURES.items():
            uses = fixture in getattr(item, "fixturenames", ())
            if uses and not any(item.get_closest_marker(m) for m in markers):
                unmarked.append(f"{item.nodeid} uses {fixture}: mark it {' or '.join(markers)}")
    if unmarked:
        raise pytest.UsageError("slow tests without their marker:\n" + "\n".join(unmarked))


@pytest.fixture(scope="session")
def mini_report() -> dict:
    """The build report of the shipped mini models (models/)."""
    from course_utils.mini.build import require_models

    return require_models()


@pytest.fixture(scope="session")
def course_run(mini_report, tmp_path_factory) -> Path:
    """Every course notebook executed once in the mini profile, with the exercises' solutions
    (so none can rot), two side by side as `make course` runs them; returns the output folder."""
    from course_utils.tooling import runner

    folder = os.environ.get(OUTPUTS_ENV)
    out = Path(folder) if folder else tmp_path_factory.mktemp("course-mini")
    if folder and os.environ.get(REUSE_ENV) == "1":
        return out
    runner.run_notebooks([], "mini", out, {}, solutions=True, jobs=2)
    return out


@pytest.fixture
def results(course_run, request) -> dict:
    """What the notebook named by the test module's ``STEM`` recorded in the test run."""
    import json

    return json.loads((course_run / f"{request.module.STEM}.results.json").read_text())


# ----------------------------------------------------------------------------- tiny models


@pytest.fixture(scope="session")
def tiny_tokenizers():
    """The course's two tokenizers, trained on a sample of the mini world (about a second)."""
    from course_utils.mini import corpora, tasks
    from course_utils.mini.tokenizers import train_decoder_tokenizer, train_seq2seq_tokenizer

    texts = corpora.all_texts()[:300]
    for name in tasks.TASKS:
        texts += [f"{e.prompt} {e.target}" for e in tasks.examples(name, "train", 30)]
    return train_seq2seq_tokenizer(texts, 400), train_decoder_tokenizer(texts, 400)


def make_tiny_t5(vocab_size: int = 64, seed: int = 0, d_kv: int = 4):
    """A randomly initialised T5 with a few thousand parameters (``d_kv=8``: heads * d_kv equals
    d_model, as in every FLAN-T5, which peft's prefix tuning needs)."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=vocab_size,
        d_model=16,
        d_kv=d_kv,
        d_ff=32,
        num_layers=1,
        num_decoder_layers=1,
        num_heads=2,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        dropout_rate=0.0,
    )
    return T5ForConditionalGeneration(config).eval()


@pytest.fixture
def tiny_t5():
    return make_tiny_t5()


@pytest.fixture
def square_t5():
    """A tiny T5 whose heads * d_kv equals d_model, as in every FLAN-T5 (peft's prefix tuning
    needs it)."""
    return make_tiny_t5(d_kv=8)


@pytest.fixture(scope="session")
def tiny_seq2seq(tiny_tokenizers, tmp_path_factory) -> tuple[str, object, object]:
    """(folder, model, tokenizer): a tiny random T5 with the course's seq2seq tokenizer, saved."""
    tokenizer = tiny_tokenizers[0]
    model = make_tiny_t5(len(tokenizer))
    folder = tmp_path_factory.mktemp("tiny-seq2seq")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder), model, tokenizer


@pytest.fixture(scope="session")
def tiny_decoder(tiny_tokenizers) -> tuple[object, object]:
    """(model, tokenizer): a tiny random Mistral with the course's decoder tokenizer."""
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    tokenizer = tiny_tokenizers[1]
    torch.manual_seed(0)
    config = MistralConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        sliding_window=None,
    )
    return MistralForCausalLM(config).eval(), tokenizer

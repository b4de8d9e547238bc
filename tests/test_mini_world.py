"""The offline mini world: deterministic data, disjoint splits, tokenizers, the mini models."""

from __future__ import annotations

import copy
import json

import pytest
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from course_utils import data
from course_utils.core import paths
from course_utils.core.evaluation import generate_answers
from course_utils.mini import corpora, tasks
from course_utils.mini import vocabulary as V
from course_utils.mini.build import DECODER_DIR, SEQ2SEQ_DIR


def test_same_seed_gives_identical_examples():
    for name in tasks.TASKS:
        assert tasks.examples(name, "train", 50, seed=3) == tasks.examples(
            name, "train", 50, seed=3
        )
    assert tasks.examples("capital", "train", 50, 1) != tasks.examples("capital", "train", 50, 2)
    assert corpora.generate() == corpora.generate()


@pytest.mark.parametrize("name", sorted(tasks.TASKS))
def test_splits_are_disjoint(name):
    prompts = {s: {e.prompt for e in tasks.examples(name, s, 400, 0)} for s in tasks.SPLITS}
    assert not prompts["train"] & prompts["test"]
    assert not prompts["train"] & prompts["validation"]
    assert not prompts["validation"] & prompts["test"]
    for split, found in prompts.items():
        assert all(tasks.split_of(p) == split for p in found)


def test_each_task_has_several_phrasings_and_at_least_six_core_tasks():
    assert len(tasks.CORE_TASKS) >= 6
    assert set(tasks.NEW_TASKS).isdisjoint(tasks.CORE_TASKS)
    assert all(len(t.phrasings) >= 3 for t in tasks.TASKS.values())


def test_committed_data_is_exactly_what_the_generators_write(tmp_path):
    corpora.write_all(tmp_path)
    for path in sorted(tmp_path.rglob("*.jsonl")):
        committed = paths.data_dir() / path.relative_to(tmp_path)
        assert committed.read_text() == path.read_text(), f"{committed} is stale: build-data"


SCHEMAS = {
    "dialogue_summaries": ({"id", "dialogue", "summary", "topic"}, 200),
    "instructions": ({"instruction", "input", "output"}, 300),
    "preferences": ({"prompt", "chosen", "rejected", "kind", "task"}, 300),
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_bundled_file_schema_size_and_card(name):
    fields, minimum = SCHEMAS[name]
    folder = paths.data_dir() / name
    total = 0
    for path in folder.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            assert set(row) == fields
            assert all(isinstance(v, str) for v in row.values())
            total += 1
    assert total >= minimum
    assert (folder / "README.md").exists()
    loaded = data.load(name, "mini")
    assert "train" in loaded and "test" in loaded
    assert set(loaded["train"].column_names) == fields


def test_preferences_differ_in_a_learnable_way():
    rows = corpora.generate()["preferences"]["train"]
    assert all(r["chosen"] != r["rejected"] for r in rows)
    kinds = {r["kind"] for r in rows}
    assert kinds == {"format", "correctness"}
    train_prompts = {r["prompt"] for r in rows}
    test_prompts = {r["prompt"] for r in corpora.generate()["preferences"]["test"]}
    assert not train_prompts & test_prompts


def _models(folder: str):
    path = paths.models_dir() / folder
    auto = AutoModelForSeq2SeqLM if folder == SEQ2SEQ_DIR else AutoModelForCausalLM
    return auto.from_pretrained(path), AutoTokenizer.from_pretrained(path)


@pytest.mark.build
def test_report_meets_the_accuracy_bars(mini_report):
    from course_utils.mini.build import RECIPE

    for kind in ("seq2seq", "decoder"):
        accuracy = mini_report[kind]["accuracy"]
        assert set(accuracy) == set(RECIPE[kind]["tasks"])
        assert min(accuracy[t] for t in tasks.CORE_TASKS) >= 0.90, mini_report[kind]
    for kind in ("seq2seq", "decoder"):
        folder = SEQ2SEQ_DIR if kind == "seq2seq" else DECODER_DIR
        card = (paths.models_dir() / folder / "README.md").read_text()
        assert f"{mini_report[kind]['parameters']:,}" in card
        for task, acc in mini_report[kind]["accuracy"].items():
            assert f"| {task} | {acc:.3f} |" in card


def test_no_unknown_tokens_in_any_course_text(tiny_tokenizers):
    texts = corpora.all_texts()
    for name in tasks.TASKS:
        texts += [t for e in tasks.examples(name, "train", 200, 0) for t in (e.prompt, e.target)]
    for tokenizer in tiny_tokenizers:
        unk = tokenizer.unk_token_id
        assert all(unk not in ids for ids in tokenizer(texts).input_ids)


def test_tokenizer_conventions(tiny_tokenizers):
    seq, dec = tiny_tokenizers
    assert (seq.pad_token_id, seq.eos_token_id, seq.unk_token_id) == (0, 1, 2)
    assert seq("Paris").input_ids[-1] == seq.eos_token_id
    assert dec.eos_token_id not in dec("Paris").input_ids
    assert "{% generation %}" in dec.chat_template
    assert len(dec) == max(dec.get_vocab().values()) + 1


FIXED = [
    ("What is the capital of Norway?", "Oslo"),
    ("What is 3 plus 4?", "7"),
    ("Give an antonym of hot.", "cold"),
    ("Who is mentioned here? Maria bought a tent at the market.", "Maria"),
]


@pytest.mark.build
@pytest.mark.parametrize("folder", [SEQ2SEQ_DIR, DECODER_DIR])
def test_models_load_offline_and_answer(mini_report, folder):
    model, tokenizer = _models(folder)
    answers = generate_answers(model, tokenizer, [q for q, _ in FIXED])
    assert answers == [a for _, a in FIXED]


def test_trl_does_not_double_eos(tiny_decoder, tmp_path):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    model, tokenizer = tiny_decoder
    rows = {"prompt": ["What is 3 plus 4?"], "completion": ["7"]}
    trainer = SFTTrainer(
        model=copy.deepcopy(model),  # the trainer changes the model it is given
        processing_class=tokenizer,
        train_dataset=Dataset.from_dict(rows),
        args=SFTConfig(
            output_dir=str(tmp_path),
            use_cpu=True,
            bf16=False,
            report_to=[],
            max_steps=1,
            gradient_checkpointing=False,
        ),
    )
    ids = trainer.train_dataset[0]["input_ids"]
    assert ids.count(tokenizer.eos_token_id) == 1
    assert ids[-1] == tokenizer.eos_token_id


def test_the_shipped_models_were_built_from_todays_inputs():
    from course_utils.mini import build

    report = build.require_models()
    stale = build.stale_inputs(report)
    assert not stale, (
        f"the mini models' inputs changed since models/ was built ({', '.join(stale)}): "
        "rebuild with `python -m course_utils build-mini` and commit models/"
    )
    assert report["fingerprint"] == build.fingerprint()


def test_the_fingerprint_follows_recipe_data_and_code(tmp_path, monkeypatch):
    from course_utils.mini import build

    inputs = build.builder_inputs()
    assert len(build.fingerprint(inputs)) == 16 and build.read_report(tmp_path) is None
    (tmp_path / build.REPORT).write_text(json.dumps({"inputs": inputs}))
    for folder in (SEQ2SEQ_DIR, DECODER_DIR):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "config.json").write_text("{}")
    assert build.read_report(tmp_path) == {"inputs": inputs}  # complete: read back
    monkeypatch.setitem(build.RECIPE, "seed", 1)  # another recipe: the build is stale
    assert build.fingerprint() != build.fingerprint(inputs)
    assert {"recipe", "tokenizer_corpus", "held_out_data"} <= set(
        build.stale_inputs({"inputs": inputs})
    )
    monkeypatch.setitem(build.RECIPE, "seed", 0)
    assert build.stale_inputs({"inputs": inputs}) == []
    edited = {**inputs, "core/training.py": "0" * 16}  # the training loop was edited since
    assert build.stale_inputs({"inputs": edited}) == ["core/training.py"]


def test_comments_and_docstrings_do_not_ask_for_a_rebuild():
    from course_utils.mini.build import _code

    plain = "def f(x):\n    return x + 1\n"
    noted = '"""Module."""\n# owned by notebook 01\ndef f(x):\n    """Plus one."""\n    return x+1'
    assert _code(plain) == _code(noted)
    assert _code(plain) != _code(plain.replace("+ 1", "+ 2"))


def test_a_rebuild_is_compared_task_by_task():
    from course_utils.mini import build

    shipped = {k: {"accuracy": {"add": 1.0, "copy": 0.2}} for k in ("seq2seq", "decoder")}
    rebuilt = {k: {"accuracy": {"add": 0.99, "copy": 0.1}} for k in ("seq2seq", "decoder")}
    problems = build.check_rebuild(shipped, rebuilt, tolerance=0.02)
    assert problems == [
        "mini-seq2seq copy: shipped 0.2, rebuilt 0.1",
        "mini-decoder copy: shipped 0.2, rebuilt 0.1",
    ]


def test_no_antonym_is_ambiguous():
    words = [w for pair in V.ANTONYMS.items() for w in pair]
    assert len(words) == len(set(words)), "a word with two opposites has no single answer"


@pytest.mark.parametrize("name", sorted(tasks.TASKS))
def test_every_prompt_has_one_answer(name):
    answers: dict[str, set[str]] = {}
    for split in tasks.SPLITS:
        for example in tasks.examples(name, split, 300, 0):
            answers.setdefault(example.prompt, set()).add(example.target)
    ambiguous = {p: a for p, a in answers.items() if len(a) > 1}
    assert not ambiguous


def test_the_fact_check_reads_every_summary_template_back():
    lines = (paths.data_dir() / "dialogue_summaries" / "test.jsonl").read_text().splitlines()
    for row in map(json.loads, lines):
        assert corpora.wrong_facts(row["summary"], row["summary"]) == {}, row["summary"]
    reference = "Farid cancels the plan with Walter on Monday because Farid is busy."
    swapped = "Walter cancels the plan with Farid on Monday because Walter is tired."
    assert set(corpora.wrong_facts(swapped, reference)) == {"a", "b", "a_again", "reason"}
    met = "Al and Bo will meet at the park on Monday at 5 pm."
    assert corpora.wrong_facts("Bo and Al will meet at the park on Monday at 5 pm.", met) == {}
    assert corpora.wrong_facts("Al will lend Bo the pen on Monday.", met) == {
        "kind": ("borrow", "meeting")
    }
    assert corpora.wrong_facts("a garbled summary", met) is None
    with pytest.raises(ValueError, match="follows none of the summary templates"):
        corpora.wrong_facts(met, "free text")


def test_fact_shares_count_right_wrong_and_unreadable_summaries():
    met = "Al and Bo will meet at the park on Monday at 5 pm."
    wrong = "Al and Bo will meet at the park on Friday at 5 pm."
    shares = corpora.fact_shares([met, wrong, "garbled", met], [met] * 4)
    assert shares == {"all facts right": 0.5, "a wrong fact": 0.25, "no summary sentence": 0.25}
    assert corpora.fact_shares(["anything"], ["free text"]) is None

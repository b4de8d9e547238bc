"""course_utils.instruction_tuning: templates, prompts, pairs, precision, scoring, fine-tuning."""

from __future__ import annotations

import pytest

from course_utils import data
from course_utils import instruction_tuning as it
from course_utils.tooling.profiles import MINI as CPU

ROWS = [
    {
        "dialogue": "Ann: Hi Bob.\nBob: Hello there, Ann, how are you today?",
        "summary": "Greetings.",
    },
    {"dialogue": "Cy: Lunch?\nDi: Yes.", "summary": "Cy and Di will have lunch."},
    {"dialogue": "Ed: The bus is late again.\nFay: Take a taxi.", "summary": "Ed's bus is late."},
]


@pytest.fixture(scope="module")
def dialogues():
    return data.load("dialogue_summaries", "mini")


# ----- templates and the FLAN mixture --------------------------------------------------------


def test_templates_are_distinct_phrasings_with_one_slot():
    assert len(it.TEMPLATES) >= 3
    assert len(set(it.TEMPLATES)) == len(it.TEMPLATES)
    for template in it.TEMPLATES:
        assert template.count("{dialogue}") == 1
        assert it.render(template, "A: hi") == template.replace("{dialogue}", "A: hi")


def test_render_rejects_a_template_without_slot():
    with pytest.raises(ValueError, match="dialogue"):
        it.render("Summarize this.", "A: hi")


def test_render_leaves_other_braces_alone():
    assert it.render("{dialogue} {x}", "A: {y}") == "A: {y} {x}"


def test_flan_mixture_figures_from_the_course_material():
    tasks = {c.name: c.tasks for c in it.FLAN_MIXTURE}
    assert tasks == {"T0-SF": 193, "Muffin": 80, "CoT (reasoning)": 9, "Natural Instructions": 1554}
    assert sum(tasks.values()) == 1836


# ----- shots and prompts ---------------------------------------------------------------------


def test_zero_shot_prompt_is_the_rendered_template():
    assert it.build_prompt("A: hi", it.TEMPLATES[1]) == it.render(it.TEMPLATES[1], "A: hi")


def test_few_shot_prompt_shows_solved_examples_then_the_query():
    template = it.TEMPLATES[0]
    prompt = it.build_prompt("Q: query?", template, ROWS[:2])
    assert prompt == it.SHOT_SEPARATOR.join(
        [
            it.render(template, ROWS[0]["dialogue"]) + " Greetings.",
            it.render(template, ROWS[1]["dialogue"]) + " Cy and Di will have lunch.",
            it.render(template, "Q: query?"),
        ]
    )


def test_pick_shots_is_reproducible_short_and_nested():
    assert it.pick_shots(ROWS, 0) == []
    assert it.pick_shots(ROWS, 2, seed=1) == it.pick_shots(ROWS, 2, seed=1)
    assert it.pick_shots(ROWS, 2) == it.pick_shots(ROWS, 3)[:2]
    assert [s["summary"] for s in it.pick_shots(ROWS, 3)] == [
        "Cy and Di will have lunch.",
        "Ed's bus is late.",
        "Greetings.",
    ]  # shortest dialogue first
    with pytest.raises(ValueError):
        it.pick_shots(ROWS, 4)
    with pytest.raises(ValueError):
        it.pick_shots(ROWS, -1)


def test_pick_shots_from_a_dataset(dialogues):
    shots = it.pick_shots(dialogues["train"], 3, seed=0)
    assert len(shots) == 3
    assert set(shots[0]) == {"dialogue", "summary"}
    train_summaries = set(dialogues["train"]["summary"])
    assert all(s["summary"] in train_summaries for s in shots)


# ----- training pairs ------------------------------------------------------------------------


def test_prompt_completion_pairs_mix_templates_reproducibly(dialogues):
    train = dialogues["train"]
    pairs = it.prompt_completion_pairs(train, it.TEMPLATES, seed=0)
    assert pairs.column_names == ["prompt", "completion", "template"]
    assert len(pairs) == len(train)
    assert pairs["completion"] == train["summary"]
    for row, source in zip(pairs, train, strict=True):
        assert row["prompt"] == it.render(it.TEMPLATES[row["template"]], source["dialogue"])
    assert set(pairs["template"]) == set(range(len(it.TEMPLATES)))
    assert pairs["template"] == it.prompt_completion_pairs(train, it.TEMPLATES, seed=0)["template"]
    assert pairs["template"] != it.prompt_completion_pairs(train, it.TEMPLATES, seed=1)["template"]
    with pytest.raises(ValueError):
        it.prompt_completion_pairs(train, [], seed=0)


def test_tokenize_pairs_truncates_prompt_and_completion(tiny_seq2seq, dialogues):
    _, _, tokenizer = tiny_seq2seq
    pairs = it.prompt_completion_pairs(dialogues["train"].select(range(8)), it.TEMPLATES)
    full = it.tokenize_pairs(pairs, tokenizer, 1000, 1000)
    assert full.column_names == ["input_ids", "attention_mask", "labels"]
    assert full[0]["labels"] == tokenizer(text_target=pairs[0]["completion"])["input_ids"]
    assert full[0]["labels"][-1] == tokenizer.eos_token_id
    short = it.tokenize_pairs(pairs, tokenizer, 16, 5)
    assert max(len(r["input_ids"]) for r in short) == 16
    assert max(len(r["labels"]) for r in short) == 5


def test_subset_sizes():
    assert it.subset_sizes(240, [0.1, 0.3, 1.0]) == [24, 72, 240]
    assert it.subset_sizes(240, [1.0, 0.1, 0.1]) == [24, 240]  # sorted, no repeats
    assert it.subset_sizes(10, [0.001]) == [1]  # at least one example
    for bad in ([0.0], [1.5], [-0.1]):
        with pytest.raises(ValueError):
            it.subset_sizes(240, bad)
    with pytest.raises(ValueError):
        it.subset_sizes(0, [0.5])


# ----- precision and training arguments ------------------------------------------------------


def test_training_arguments_on_cpu():
    args = it.training_arguments(
        CPU, model_type="t5", steps=50, batch_size=4, learning_rate=1e-3, seed=3
    )
    assert args.use_cpu and not args.fp16 and not args.bf16
    assert args.max_steps == 50 and args.per_device_train_batch_size == 4
    assert args.learning_rate == 1e-3 and args.seed == 3
    assert args.warmup_steps == 5 and args.logging_steps == 2
    assert getattr(args.save_strategy, "value", args.save_strategy) == "no"
    assert args.report_to in ([], ["none"], "none", None)
    assert not args.gradient_checkpointing


# ----- scoring and display -------------------------------------------------------------------


def test_invented_names():
    dialogue = "Grace: I can't come on Sunday.\nFarid: Oh, what happened?"
    assert it.invented_names("Grace cancels the plan with Farid on Sunday.", dialogue) == []
    assert it.invented_names("Umar cancels the plan with Farid on Monday.", dialogue) == [
        "Umar",
        "Monday",
    ]
    assert it.invented_names("What happened to Grace?", dialogue) == []  # "what" is there
    assert it.invented_names("Umar meets Umar.", dialogue) == ["Umar"]  # each name once
    assert it.invented_names("#Person1# asks #Person2# for help.", "#Person1#: Help!") == []


def test_one_line_and_side_by_side():
    assert it.one_line("A: hi\n\nB: hello\n") == "A: hi / B: hello"
    assert it.one_line("abcdefghij", max_chars=5) == "abcd…"
    table = it.side_by_side(ROWS, {"model": ["x", "y", "z"]}, n=2)
    assert list(table.columns) == ["dialogue", "human summary", "model"]
    assert len(table) == 2 and table["model"].tolist() == ["x", "y"]
    assert "\n" not in table["dialogue"][0]


# ----- fine-tuning -------------------------------------------------------------------------


def test_fine_tune_a_few_steps(tiny_seq2seq, dialogues):
    from transformers import AutoModelForSeq2SeqLM

    path, _, tokenizer = tiny_seq2seq
    pairs = it.prompt_completion_pairs(dialogues["train"].select(range(8)), it.TEMPLATES)
    result = it.fine_tune(
        path,
        tokenizer,
        pairs,
        CPU,
        steps=3,
        batch_size=4,
        learning_rate=1e-3,
        max_source_tokens=64,
        max_target_tokens=16,
    )
    assert result.train_examples == 8 and result.steps == 3
    assert result.precision == "float32"
    assert [step for step, _ in result.losses] == [1, 2, 3]
    assert all(loss > 0 for _, loss in result.losses)
    assert not result.model.training
    before = AutoModelForSeq2SeqLM.from_pretrained(path)
    changed = any(
        (a - b).abs().max() > 0
        for a, b in zip(result.model.parameters(), before.parameters(), strict=True)
    )
    assert changed, "full fine-tuning must change the weights"


def test_unique_dialogues_gathers_every_reference():
    rows = {
        "dialogue": ["A: x", "A: x", "B: y", "A: x", "C: z"],
        "summary": ["x1", "x2", "y1", "x3", "z1"],
    }
    test = it.unique_dialogues(rows)
    assert test["dialogue"] == ["A: x", "B: y", "C: z"]
    assert test["references"] == [["x1", "x2", "x3"], ["y1"], ["z1"]]
    assert test["summary"] == ["x1", "y1", "z1"]
    assert it.unique_dialogues(rows, limit=2)["references"] == [["x1", "x2", "x3"], ["y1"]]


def test_lead():
    assert it.lead("A: hi\nB: hello\nA: bye") == "A: hi"
    assert it.lead("A: hi\nB: hello\nA: bye", lines=2) == "A: hi\nB: hello"


def test_summary_examples_are_the_prompt_completion_pairs():
    from course_utils.core.examples import Example

    rows = {
        "dialogue": ["#Person1#: Hi.\n#Person2#: Hello.", "#Person1#: Bye."],
        "summary": ["They greet.", "One leaves."],
    }
    examples = it.summary_examples(rows, it.TEMPLATES, seed=1)
    pairs = it.prompt_completion_pairs(rows, it.TEMPLATES, seed=1)
    assert examples == [
        Example("summary", p, c) for p, c in zip(pairs["prompt"], pairs["completion"], strict=True)
    ]


def test_method_table_reads_facts_and_says_na_where_none_can_be_read():
    references = ["Nico will lend Hana the book on Monday.", "Ada will lend Bo the pen on Friday."]
    predictions = {
        "good": list(references),
        "wrong day": ["Nico will lend Hana the book on Tuesday.", references[1]],
        "unreadable": ["hello", "hello"],
    }
    scores = {m: {"rouge1": 0.5, "rouge2": 0.4, "rougeL": 0.5} for m in predictions}
    table = it.method_table(scores, predictions, references)
    assert table.loc["good", "all facts right"] == 1.0
    assert table.loc["wrong day", "a wrong fact"] == 0.5
    assert table.loc["unreadable"].isna()[["all facts right", "a wrong fact"]].all()
    assert table.loc["unreadable", "no summary sentence"] == 1.0
    (line,) = it.wrong_fact_examples(predictions["wrong day"], references)
    assert line.startswith("#0:") and "'Tuesday', true 'Monday'" in line
    assert it.plot_methods(table, 2).axes[0].get_title() == "2 test dialogues"

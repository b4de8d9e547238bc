"""Notebook 09's harness module (course_utils/harness.py): its statistics against SciPy, its
n-grams against lm-eval's decontamination code, the judge's bookkeeping, the t4 tasks' rows from
their stand-ins, and lm-eval's scores on the mini world against the course's own helper."""

from __future__ import annotations

import math
import statistics

import pytest

from course_utils import harness

N_ITEMS = 60


@pytest.fixture(scope="module")
def lm_eval():
    import lm_eval

    return lm_eval


@pytest.mark.parametrize(("hits", "n"), [(15, 60), (45, 60), (180, 200)])
def test_bootstrap_interval_matches_scipys_percentile_bootstrap(hits, n):
    from scipy import stats

    scores = [1.0] * hits + [0.0] * (n - hits)
    low, high = harness.bootstrap_interval(scores, iterations=20000, seed=0)
    ref = stats.bootstrap(
        (scores,), statistics.fmean, n_resamples=20000, method="percentile", rng=0, vectorized=False
    ).confidence_interval
    assert low == pytest.approx(ref.low, abs=0.02)
    assert high == pytest.approx(ref.high, abs=0.02)
    assert low < hits / n < high


def test_bootstrap_interval_is_reproducible_and_checks_its_input():
    scores = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    assert harness.bootstrap_interval(scores, 500, seed=3) == harness.bootstrap_interval(
        scores, 500, seed=3
    )
    with pytest.raises(ValueError, match="at least 2"):
        harness.bootstrap_interval([1.0])
    with pytest.raises(ValueError, match="level"):
        harness.bootstrap_interval(scores, level=1.5)


def test_bootstrap_interval_is_close_to_the_normal_interval_on_many_items():
    """Without scipy (not a course dependency; lm-eval brings it): on 400 items at 0.5 the
    percentile bootstrap is within a point of p +- 1.96 sqrt(p (1 - p) / n)."""
    scores = [1.0, 0.0] * 200
    low, high = harness.bootstrap_interval(scores, iterations=5000, seed=0)
    half = statistics.NormalDist().inv_cdf(0.975) * math.sqrt(0.25 / 400)
    assert low == pytest.approx(0.5 - half, abs=0.01)
    assert high == pytest.approx(0.5 + half, abs=0.01)


@pytest.mark.parametrize(("n", "p"), [(60, 0.25), (60, 0.75), (500, 0.5), (1319, 0.4)])
def test_minimum_detectable_difference_has_the_power_asked_for(n, p):
    normal = statistics.NormalDist()
    delta = harness.minimum_detectable_difference(n, p)
    se = math.sqrt(2 * p * (1 - p) / n)
    # the power of a two-sided z-test at 0.05 against a true gap delta (the far tail aside)
    assert normal.cdf(delta / se - normal.inv_cdf(0.975)) == pytest.approx(0.8, abs=1e-9)
    assert harness.minimum_detectable_difference(4 * n, p) == pytest.approx(delta / 2)
    with pytest.raises(ValueError, match="p = 1"):
        harness.minimum_detectable_difference(n, 1.0)


def test_minimum_detectable_difference_on_60_items_at_one_half():
    """(1.960 + 0.842) * sqrt(2 * 0.25 / 60): a quarter of the scale, the textbook value."""
    assert harness.minimum_detectable_difference(60, 0.5) == pytest.approx(0.2557, abs=1e-4)


def test_write_task_writes_a_task_lm_eval_reads_without_warnings(lm_eval, tmp_path, capfd):
    from lm_eval.tasks import TaskManager

    rows = harness.task_rows("kind", "test", 5, 0)
    assert all(r["choices"][r["label"]] == r["answer"] for r in rows)
    harness.write_task("mini_kind_mc", rows, tmp_path, "multiple_choice")
    harness.write_task("mini_kind_gen", rows, tmp_path, "generate_until")
    loaded = TaskManager(include_path=str(tmp_path)).load(["mini_kind_mc", "mini_kind_gen"])[
        "tasks"
    ]
    assert set(loaded) == {"mini_kind_mc", "mini_kind_gen"}
    assert len(list(loaded["mini_kind_gen"].test_docs())) == 5
    err = capfd.readouterr().err
    assert "higher_is_better" not in err and "aggregation" not in err, err
    with pytest.raises(ValueError, match="output_type"):
        harness.write_task("x", rows, tmp_path, "loglikelihood")
    with pytest.raises(ValueError, match="choices"):
        harness.write_task("x", [{"prompt": "a", "answer": "b"}], tmp_path, "multiple_choice")


@pytest.mark.build
def test_harness_exact_match_equals_the_course_helper(lm_eval, mini_report, tmp_path, capfd):
    """The 'done when' of issue 33: lm-eval's greedy exact match on the kind items equals
    generate_answers (chat template) scored by the GRPO reward exact_answer, item by item,
    for the saved model and for the same model handed over in memory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from course_utils.core import paths
    from course_utils.core.evaluation import generate_answers
    from course_utils.grpo import exact_answer
    from course_utils.mini.build import DECODER_DIR

    folder = paths.models_dir() / DECODER_DIR
    rows = harness.task_rows("kind", "test", N_ITEMS, 0)
    harness.write_task("mini_kind_gen", rows, tmp_path, "generate_until")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    replies = generate_answers(model, tokenizer, [r["prompt"] for r in rows], chat=True)
    helper = exact_answer(replies, [r["answer"] for r in rows])

    saved = harness.evaluate(folder, ["mini_kind_gen"], tmp_path, chat_template=True)
    in_memory = harness.evaluate(
        model, ["mini_kind_gen"], tmp_path, chat_template=True, tokenizer=tokenizer
    )
    for result in (saved["mini_kind_gen"], in_memory["mini_kind_gen"]):
        assert result.replies == replies
        assert result.scores == helper
        assert result.aggregate == pytest.approx(sum(helper) / len(helper))
    assert 0 < sum(helper) < len(helper)  # some right, some wrong: the comparison means something
    assert "WARNING" not in capfd.readouterr().err


@pytest.mark.build
def test_multiple_choice_scores_and_chat_template_change_the_verdict(
    lm_eval, mini_report, tmp_path
):
    """The same base model and items: log-likelihood over the six categories against greedy
    exact match, each with and without the chat template (the spike measured 0.92 / 0.42 raw,
    0.75 / 0.25 with the template)."""
    from course_utils.core import paths
    from course_utils.mini.build import DECODER_DIR

    rows = harness.task_rows("kind", "test", N_ITEMS, 0)
    harness.write_task("mini_kind_mc", rows, tmp_path, "multiple_choice")
    harness.write_task("mini_kind_gen", rows, tmp_path, "generate_until")
    folder = paths.models_dir() / DECODER_DIR
    names = ["mini_kind_mc", "mini_kind_gen"]
    chat = harness.evaluate(folder, names, tmp_path, chat_template=True)
    raw = harness.evaluate(folder, names, tmp_path, chat_template=False)
    for results in (chat, raw):
        assert results["mini_kind_mc"].metric == "acc"
        assert results["mini_kind_mc"].mean == pytest.approx(results["mini_kind_mc"].aggregate)
        assert results["mini_kind_mc"].aggregate > results["mini_kind_gen"].aggregate + 0.3
    assert raw["mini_kind_mc"].aggregate > chat["mini_kind_mc"].aggregate


@pytest.mark.build
def test_an_in_memory_adapter_is_what_the_harness_scores(lm_eval, mini_report, tmp_path):
    """A LoRA adapter handed over in memory changes the harness's replies; with the adapter
    switched off they are the base model's again (no saving, no merging)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from course_utils.core import paths
    from course_utils.mini.build import DECODER_DIR

    folder = paths.models_dir() / DECODER_DIR
    harness.write_task("mini_kind_gen", harness.task_rows("kind", "test", 20, 0), tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    base = harness.evaluate(folder, ["mini_kind_gen"], tmp_path)["mini_kind_gen"]
    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(folder), LoraConfig(r=4, target_modules="all-linear")
    )
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if "lora_B" in name:
                weight.normal_(0, 0.5)
    adapted = harness.evaluate(model, ["mini_kind_gen"], tmp_path, tokenizer=tokenizer)
    with model.disable_adapter():
        switched_off = harness.evaluate(model, ["mini_kind_gen"], tmp_path, tokenizer=tokenizer)
    assert adapted["mini_kind_gen"].replies != base.replies
    assert switched_off["mini_kind_gen"].replies == base.replies


@pytest.mark.build
def test_shots_come_from_the_shot_rows_not_the_test_items(lm_eval, mini_report, tmp_path):
    from course_utils.core import paths
    from course_utils.mini.build import DECODER_DIR

    rows = harness.task_rows("kind", "test", 20, 0)
    shots = harness.task_rows("kind", "validation", 10, 0)
    harness.write_task("mini_kind_gen", rows, tmp_path, shot_rows=shots)
    folder = paths.models_dir() / DECODER_DIR
    result = harness.evaluate(
        folder, ["mini_kind_gen"], tmp_path, chat_template=False, num_fewshot=2
    )
    shot_texts = {f"{s['prompt']} {s['answer']}" for s in shots}
    for prompt, row in zip(result["mini_kind_gen"].prompts, rows, strict=True):
        *worked, question = prompt.split("\n\n")
        assert question == row["prompt"]
        assert len(worked) == 2 and set(worked) <= shot_texts


def test_word_ngrams_are_lm_evals_on_normalised_text():
    from lm_eval.decontamination.janitor import word_ngrams

    text = "the pear is a kind of what fruit"
    for n in (1, 3, 4, 8, 9):
        assert harness.word_ngrams(text, n) == {tuple(g.split()) for g in word_ngrams(text, n)}
    assert harness.word_ngrams("The Pear, is?", 2) == {("the", "pear"), ("pear", "is")}
    with pytest.raises(ValueError, match="n = 0"):
        harness.word_ngrams(text, 0)


def test_overlap_share_counts_the_items_ngrams_seen_in_training():
    seen = harness.word_ngrams("what kind of thing is apple fruit", 4)
    assert harness.overlap_share("What kind of thing is apple? fruit", seen, 4) == 1.0
    assert harness.overlap_share("What kind of thing is pear? fruit", seen, 4) == 0.5
    assert harness.overlap_share("two words", seen, 4) == 0.0


def test_position_bias_separates_the_order_from_the_replies():
    # pair 1: always "A" (right first, wrong second); pair 2: right both times; 3: always "B"
    bias = harness.position_bias([True, True, False], [False, True, True])
    assert bias["same position in both orders"] == pytest.approx(2 / 3)
    assert bias["right in both orders"] == pytest.approx(1 / 3)
    assert bias["right when shown first"] == pytest.approx(2 / 3)


def test_kind_rows_give_every_item_the_six_categories():
    rows = harness.kind_rows([("What kind of thing is pear?", "fruit")])
    assert rows[0]["choices"][rows[0]["label"]] == "fruit" and len(rows[0]["choices"]) == 6


def test_preference_rows_never_reject_the_right_answer():
    pairs = [(f"q{i}", "fruit") for i in range(50)]
    rows = harness.preference_rows(pairs, seed=0)
    assert all(r["chosen"] == "fruit" != r["rejected"] for r in rows)
    assert rows == harness.preference_rows(pairs, seed=0)


def test_the_t4_tasks_rows_from_their_stand_ins(monkeypatch, tmp_path):
    """ARC-Easy's and GSM8K's rows read through the stand-ins, which have the Hub's layout."""
    from course_utils.core import hub, paths
    from course_utils.tooling import standins

    monkeypatch.setenv(hub.STAND_INS_ENV, "1")
    monkeypatch.setattr(paths, "stand_ins_dir", lambda: tmp_path)
    standins.write_dataset("allenai/ai2_arc")
    standins.write_dataset("openai/gsm8k")
    arc = harness.arc_rows("test", 5)
    assert len(arc) == 5
    assert all(r["choices"][r["label"]] == r["answer"] and len(r["choices"]) == 4 for r in arc)
    gsm8k = harness.gsm8k_task_rows("test", 3)
    assert all(r["answer"].lstrip("-").isdigit() for r in gsm8k)


@pytest.mark.build
def test_the_number_filter_scores_the_final_number(lm_eval, mini_report, tmp_path):
    """``extract=NUMBER``: a reply is right when its last number is the answer (GSM8K's way)."""
    from course_utils.core import paths
    from course_utils.mini.build import DECODER_DIR

    folder = paths.models_dir() / DECODER_DIR
    rows = [{"prompt": "What is 2 plus 3?", "answer": "5"}] * 2
    harness.write_task("sums", rows, tmp_path, "generate_until", extract=harness.NUMBER)
    config = (tmp_path / "sums.yaml").read_text()
    assert "regex" in config and "group_select: -1" in config
    result = harness.evaluate(folder, ["sums"], tmp_path)["sums"]
    assert len(result.scores) == 2 and set(result.scores) <= {0.0, 1.0}


def test_grpo_settings_are_notebook_07s_mini_defaults():
    """``harness.GRPO_SETTINGS`` repeats notebook 07's run for notebook 09 (07's defaults live in
    its parameters cell and the catalogue): a change to either must reach both."""
    import ast

    import nbformat

    from course_utils.core import paths
    from course_utils.tooling import catalog, parameters_cell

    nb = nbformat.read(paths.notebooks_dir() / "07_grpo.ipynb", as_version=4)
    cell = parameters_cell.parse(parameters_cell.find_cell(nb).source)
    rules = catalog.NOTEBOOKS["07_grpo"].params
    mini = {
        line.name: rules[line.name].default_for("mini")
        if ast.literal_eval(line.value) is None
        else ast.literal_eval(line.value)
        for line in cell
        if line.name in rules
    }
    names = {
        "prompts_per_step": "PROMPTS_PER_STEP",
        "group_size": "NUM_GENERATIONS",
        "learning_rate": "LEARNING_RATE",
        "beta": "BETA",
        "epsilon": "EPSILON",
        "max_completion_length": "MAX_COMPLETION_TOKENS",
        "lora_rank": "LORA_RANK",
    }
    assert harness.GRPO_SETTINGS == {setting: mini[name] for setting, name in names.items()}

"""Notebook 02 (instruction tuning) executed through the runner in the mini profile."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.notebook

STEM = "02_flan_t5_instruction_tuning"


def test_02_records_every_result(course_run, results):
    r = results
    for name in (
        "rouge1_lead",
        "invented_share",
        "rouge1_zero_shot",
        "rouge1_one_shot",
        "rouge1_few_shot",
        "rouge1_finetuned",
        "rouge2_finetuned",
        "rougeL_finetuned",
    ):
        assert 0.0 <= r[name] <= 1.0, name
    assert len([n for n in r if re.fullmatch(r"rouge1_n\d+", n)]) >= 2
    for figure in ("training_loss", "data_size_ablation", "rouge_by_method"):
        assert (course_run / "figures" / STEM / f"{figure}.png").exists(), figure


def test_02_the_notebooks_rouge_is_rouge_scores(results):
    """ROUGE-N and ROUGE-L as the notebook's cells write them equal Google's rouge_score."""
    assert results["rouge_max_diff_vs_rouge_score"] <= 1e-9


def test_02_fine_tuning_beats_zero_shot_prompting(results):
    assert results["rouge1_finetuned"] - results["rouge1_zero_shot"] >= 0.2
    assert results["rouge1_finetuned"] > results["rouge1_few_shot"]


def test_02_fine_tuning_beats_copying_the_first_line(results):
    assert results["rouge1_finetuned"] - results["rouge1_lead"] >= 0.05


def test_02_more_training_data_scores_higher(results):
    """At equal steps. Seeds 0, 1, 2: ROUGE-1 0.48 / 0.50 / 0.44 with 24 examples, 0.88 with
    240."""
    r = results
    ablation = {
        int(n[len("rouge1_n") :]): v for n, v in r.items() if re.fullmatch(r"rouge1_n\d+", n)
    }
    smallest, largest = min(ablation), max(ablation)
    assert largest > smallest
    assert ablation[largest] - ablation[smallest] >= 0.2


def test_02_fine_tuned_summaries_rarely_invent_names_or_days(results):
    assert results["invented_share"] <= 0.10


def test_02_rouge_rewards_words_not_facts(results):
    """High ROUGE-1, and most summaries state a wrong fact. Seeds 0, 1, 2 (AMD EPYC,
    2026-11-30): ROUGE-1 0.880 / 0.878 / 0.878; wrong facts 0.85 / 0.78 / 0.90; not readable
    0.07 / 0.07 / 0.02."""
    r = results
    assert r["fact_unreadable_share"] <= 0.3  # most fine-tuned summaries follow a template
    assert r["fact_error_share"] >= 0.4
    assert r["fact_error_share"] <= 1.0 - r["fact_unreadable_share"]
    assert r["rouge1_finetuned"] >= 0.6


def test_02_few_shot_prompts_are_copied_rather_than_learned_from(results):
    """Seeds 0, 1, 2: 0.92 / 0.93 / 0.83 of the few-shot summaries name someone or something
    from the worked examples; few-shot ROUGE-1 0.238 / 0.266 / 0.237 against zero-shot 0.375."""
    assert results["few_shot_copied_share"] >= 0.5
    assert results["rouge1_few_shot"] < results["rouge1_zero_shot"]

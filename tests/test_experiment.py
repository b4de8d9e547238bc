"""The one experiment harness (course_utils.core.experiment) that notebooks 01, 03 and 04 run on."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from course_utils.core import training
from course_utils.core.experiment import Evaluation, Experiment
from course_utils.mini import tasks


@pytest.fixture
def experiment(tiny_seq2seq) -> Experiment:
    _, model, tokenizer = tiny_seq2seq
    old = {t: tasks.examples(t, "test", 3) for t in ("capital", "add")}
    evaluation = Evaluation(tokenizer, tasks.examples("topic", "test", 3), old)
    return Experiment(
        model, tokenizer, evaluation, tasks.examples("topic", "train", 8), steps=2, batch_size=4
    )


def test_evaluation_gives_new_old_and_each_old_task(experiment):
    scores = experiment.evaluation(experiment.base_model)
    assert set(scores) == {"old", "new", "capital", "add"}
    assert scores["old"] == (scores["capital"] + scores["add"]) / 2
    assert scores["old"] == experiment.evaluation.old(experiment.base_model)


def test_a_run_counts_training_time_only_and_leaves_the_base_alone(experiment, monkeypatch):
    clock = [0.0]

    def fake_clock() -> float:
        clock[0] += 0.001  # every reading moves time on a little
        return clock[0]

    def slow_evaluation(model):
        clock[0] += 100.0  # an evaluation "takes" 100 s
        return {"old": 0.5, "new": 0.5}

    monkeypatch.setattr(training.time, "perf_counter", fake_clock)
    before = copy.deepcopy(experiment.base_model.state_dict())
    slow = Experiment(
        experiment.base_model,
        experiment.tokenizer,
        slow_evaluation,
        experiment.new_pool,
        steps=2,
        batch_size=4,
    )
    outcome = slow.run("full", lr=1e-2, eval_every=1)
    assert [step for step, _ in outcome.curve] == [0, 1, 2] and len(outcome.losses) == 2
    assert 0 < outcome.seconds < 1, "the three evaluations (300 s) are not training time"
    assert outcome.trainable == outcome.total == sum(p.numel() for p in outcome.model.parameters())
    after = experiment.base_model.state_dict()
    assert all((before[n] == after[n]).all() for n in before), "the base model was trained"


def test_runs_with_a_key_are_remembered_per_seed_and_replace_starts_afresh(experiment):
    first = experiment.run("a", 1e-3, key="setting")
    assert experiment.run("b", 1e-3, key="setting") is first
    assert experiment.run("c", 1e-3, key="setting", seed=1) is not first
    assert experiment.run("d", 1e-3) is not first  # no key: always trained
    assert replace(experiment, steps=1).remembered == {}


def test_prepare_must_build_a_new_model(experiment):
    with pytest.raises(ValueError, match="prepare must return a new model"):
        experiment.run("in place", 1e-3, prepare=lambda base: base)

"""The pieces notebook 01 is built from: replay batches, the L2-SP penalty, LoRA wrapping."""

from __future__ import annotations

import torch

from course_utils import forgetting
from course_utils.core import counting
from course_utils.mini import tasks


def test_replay_batches_mix_the_requested_share():
    new = tasks.examples("sentiment_binary", "train", 100)
    old = tasks.mixture("train", 20)
    batch = next(forgetting.replay_batches(new, old, batch_size=10, replay_share=0.3, seed=0))
    assert len(batch) == 10
    assert sum(e.task != "sentiment_binary" for e in batch) == 3
    batch = next(forgetting.replay_batches(new, old, batch_size=10, replay_share=0.0, seed=0))
    assert all(e.task == "sentiment_binary" for e in batch)


def test_l2sp_is_zero_at_the_anchor_and_grows_with_distance(tiny_t5):
    model = tiny_t5
    anchor = forgetting.snapshot(model)
    assert forgetting.l2sp_penalty(model, anchor, 0.5).item() == 0.0
    with torch.no_grad():
        first = next(model.parameters())
        first.add_(1.0)
    expected = 0.5 * first.numel()
    assert abs(forgetting.l2sp_penalty(model, anchor, 0.5).item() - expected) < 1e-3


def test_lora_trains_few_parameters_and_disabled_adapter_is_the_base(tiny_t5):
    model = tiny_t5
    ids = torch.tensor([[3, 4, 5, 1]])
    before = model(input_ids=ids, decoder_input_ids=ids).logits
    wrapped = forgetting.with_peft_lora(model, rank=2, alpha=4, targets=["q", "v"])
    assert counting.trainable_parameters(wrapped) < 0.2 * sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        for name, p in wrapped.named_parameters():
            if "lora_B" in name:
                p.fill_(0.1)
    changed = wrapped(input_ids=ids, decoder_input_ids=ids).logits
    assert not torch.allclose(changed, before)
    with wrapped.disable_adapter():
        restored = wrapped(input_ids=ids, decoder_input_ids=ids).logits
    assert (restored - before).abs().max().item() < 1e-5, (restored - before).abs().max()


def test_run_method_counts_training_time_only(tiny_seq2seq, monkeypatch):
    from course_utils.core import training

    _, model, tokenizer = tiny_seq2seq
    clock = [0.0]

    def fake_clock() -> float:
        clock[0] += 0.001  # every reading moves time on a little
        return clock[0]

    def slow_evaluator(m):
        clock[0] += 100.0  # an evaluation "takes" 100 s
        return {"old": 0.5, "new": 0.5}

    monkeypatch.setattr(training.time, "perf_counter", fake_clock)
    batches = forgetting.sample_batches(tasks.examples("sentiment_binary", "train", 8), 4, 0)
    result = forgetting.run_method(
        "full", model, tokenizer, slow_evaluator, batches, steps=2, lr=1e-3, eval_every=1
    )
    assert [step for step, _ in result.curve] == [0, 1, 2]
    assert 0 < result.seconds < 1, "the three evaluations (300 s) are not training time"
    assert result.trainable == sum(p.numel() for p in model.parameters())


def test_evaluator_answers_table_and_adapter_size(tiny_seq2seq, tiny_t5):
    _, model, tokenizer = tiny_seq2seq
    old = {t: tasks.examples(t, "test", 3) for t in ("capital", "add")}
    scores = forgetting.Evaluator(tokenizer, old, tasks.examples("topic", "test", 3))(model)
    assert set(scores) == {"old", "new", "capital", "add"}
    assert scores["old"] == (scores["capital"] + scores["add"]) / 2
    prompts = [e.prompt for e in old["capital"]]
    rows = forgetting.answers_table({"a": model, "b": model}, tokenizer, prompts)
    assert [r["prompt"] for r in rows] == prompts and all(r["a"] == r["b"] for r in rows)
    adapter = forgetting.with_peft_lora(tiny_t5, rank=2, alpha=4, targets=["q"])
    assert 0 < forgetting.saved_megabytes(adapter) < forgetting.saved_megabytes(model)


def test_recipe_lora_settings():
    assert forgetting.Recipe(1e-3).lora is None
    lora = forgetting.Recipe(1e-3, lora_rank=4, lora_alpha=8.0, lora_targets="q,k,v,o").lora
    assert lora == {"rank": 4, "alpha": 8.0, "targets": ["q", "k", "v", "o"]}
    assert forgetting.Recipe(1e-3, lora_rank=2, lora_targets="all-linear").lora["targets"] == (
        "all-linear"
    )


def test_experiment_reuses_a_recipe_it_has_run(tiny_seq2seq):
    _, model, tokenizer = tiny_seq2seq
    evaluator = forgetting.Evaluator(
        tokenizer, {"add": tasks.examples("add", "test", 2)}, tasks.examples("topic", "test", 2)
    )
    experiment = forgetting.Experiment(
        model,
        tokenizer,
        evaluator,
        tasks.examples("topic", "train", 8),
        tasks.examples("add", "train", 8),
        steps=2,
        batch_size=4,
    )
    recipe = forgetting.Recipe(1e-3, replay_share=0.5)
    curve = experiment.run("replay", recipe, seed=0, eval_every=1)
    assert len(curve.curve) == 3
    assert experiment.run("again", recipe, seed=0) is curve  # reused, not retrained
    other = experiment.run("seed 1", recipe, seed=1)
    assert other is not curve and len(other.curve) == 1


def test_mean_sd_and_knob_names():
    assert forgetting.mean_and_sd([1.0]) == (1.0, 0.0)
    mean, sd = forgetting.mean_and_sd([1.0, 2.0, 3.0])
    assert mean == 2.0 and abs(sd - 1.0) < 1e-12
    assert [forgetting.knob_token(v) for v in (0.001, 3e-05, 8, 0.3)] == [
        "0p001",
        "3em05",
        "8",
        "0p3",
    ]
    assert all(f"old_acc_lr{forgetting.knob_token(v)}".isidentifier() for v in (1e-4, 0.25, 64))

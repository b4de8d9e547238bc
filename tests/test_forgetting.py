"""The pieces notebook 01 is built from: replay batches, the L2-SP penalty, LoRA wrapping."""

from __future__ import annotations

import pytest
import torch

from course_utils import forgetting
from course_utils.core import counting
from course_utils.core.experiment import Evaluation, Experiment
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


def test_answers_table_and_adapter_size(tiny_seq2seq, tiny_t5):
    _, model, tokenizer = tiny_seq2seq
    prompts = [e.prompt for e in tasks.examples("capital", "test", 3)]
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


def test_mitigations_reuse_a_recipe_and_pull_l2sp_towards_the_start(tiny_seq2seq, monkeypatch):
    _, model, tokenizer = tiny_seq2seq
    evaluation = Evaluation(
        tokenizer, tasks.examples("topic", "test", 2), {"add": tasks.examples("add", "test", 2)}
    )
    experiment = Experiment(
        model, tokenizer, evaluation, tasks.examples("topic", "train", 8), steps=2, batch_size=4
    )
    pulls = []
    original = forgetting.l2sp_penalty

    def l2sp_penalty(m, anchor, strength):  # a notebook's own, as use_lesson_code installs it
        pulls.append(strength)
        return original(m, anchor, strength)

    monkeypatch.setattr(forgetting, "l2sp_penalty", l2sp_penalty)
    mitigations = forgetting.Mitigations(experiment, tasks.examples("add", "train", 8))
    recipe = forgetting.Recipe(1e-3, replay_share=0.5)
    curve = mitigations.run("replay", recipe, seed=0, eval_every=1)
    assert len(curve.curve) == 3 and not pulls
    assert mitigations.run("again", recipe, seed=0) is curve  # reused, not retrained
    other = mitigations.run("seed 1", recipe, seed=1)
    assert other is not curve and len(other.curve) == 1
    mitigations.run("l2sp", forgetting.Recipe(1e-3, l2sp_strength=0.5))
    assert pulls == [0.5, 0.5]  # the penalty joined both steps' loss
    lora = mitigations.run("lora", forgetting.Recipe(1e-3, lora_rank=2, lora_alpha=4.0))
    assert lora.trainable < 0.2 * lora.total


def test_knob_names():
    assert [forgetting.knob_token(v) for v in (0.001, 3e-05, 8, 0.3)] == [
        "0p001",
        "3em05",
        "8",
        "0p3",
    ]
    assert all(f"old_acc_lr{forgetting.knob_token(v)}".isidentifier() for v in (1e-4, 0.25, 64))


def test_old_at_new_reads_the_curve_where_learning_reaches_the_target():
    curve = [
        (0, {"new": 0.5, "old": 1.0}),
        (10, {"new": 0.7, "old": 0.8}),
        (20, {"new": 0.9, "old": 0.4}),
    ]
    assert forgetting.old_at_new(curve, 0.8) == pytest.approx(0.6)  # halfway between 0.8 and 0.4
    assert forgetting.old_at_new(curve, 0.7) == pytest.approx(0.8)
    assert forgetting.old_at_new(curve, 0.4) == 1.0  # already there before training
    assert forgetting.old_at_new(curve, 0.95) is None  # never learned that much


def test_over_seeds_and_separated_tell_a_difference_from_a_tie():
    from course_utils.core.experiment import Outcome

    def run(new, old):
        return Outcome("r", 1, 1, 0.0, [(10, {"new": new, "old": old})])

    summary = forgetting.over_seeds(
        {"a": [run(0.9, 0.8), run(0.9, 0.9), run(1.0, 1.0)], "b": [run(0.9, 0.1)] * 3}
    )
    assert summary["a"]["old"].mean == pytest.approx(0.9) and summary["a"]["old"].n == 3
    assert summary["a"]["old"].sd == pytest.approx(0.1) and summary["b"]["old"].sd < 1e-9
    assert forgetting.separated(summary["a"]["old"], summary["b"]["old"])  # 0.8 > 2 sd
    assert not forgetting.separated(summary["b"]["old"], summary["a"]["old"])  # wrong way
    close = forgetting.over_seeds({"c": [run(0.9, 0.75), run(0.9, 0.8), run(0.9, 0.85)]})
    assert not forgetting.separated(summary["a"]["old"], close["c"]["old"])  # 0.1 < 2 sd: tied
    table = forgetting.seeds_table(summary, {"a": "A", "b": "B"}, {"new": 0.0, "old": 1.0})
    assert list(table.index) == ["base model (before)", "A", "B"]
    assert table.loc["A", "old tasks"] == "0.90 ± 0.10"


def test_fisher_share_of_top_measures_concentration():
    flat = {"w": torch.ones(100)}
    assert forgetting.fisher_share_of_top(flat, 0.01) == pytest.approx(0.01)
    peaked = {"w": torch.cat([torch.tensor([99.0]), torch.full((99,), 1 / 99)])}
    assert forgetting.fisher_share_of_top(peaked, 0.01) == pytest.approx(0.99)
    with pytest.raises(ValueError, match="share"):
        forgetting.fisher_share_of_top(flat, 0.0)


def test_the_plots_draw_every_point(tiny_seq2seq):
    from course_utils.core.claims import spread
    from course_utils.core.experiment import Outcome

    before = {"new": 0.0, "old": 1.0}
    points = {"full FT, lr": {3e-3: {"new": 1.0, "old": 0.0}, 1e-4: {"new": 0.8, "old": 0.9}}}
    fig = forgetting.plot_tradeoff(points, before)
    xs = [tuple(c.get_offsets()[:, 0]) for c in fig.axes[0].collections]
    assert xs == [(0.8, 1.0)]  # ordered by the knob, not by insertion
    assert "0.0001 → 0.003" in fig.axes[0].get_legend().get_texts()[1].get_text()
    summary = {"a": {"new": spread([0.9, 1.0]), "old": spread([0.5, 0.7])}}
    assert len(forgetting.plot_over_seeds(summary, {"a": "A"}, before).axes) == 1
    run = Outcome("a", 1, 1, 0.0, [(0, {"new": 0.0, "old": 1.0}), (10, {"new": 1.0, "old": 0.2})])
    assert len(forgetting.plot_learning_curves({"a": run}, {"a": "A"}, "topic").axes) == 2
    table = forgetting.sweep_table(points)
    assert list(table.index.get_level_values("knob")) == ["0.0001", "0.003"]


def test_a_new_head_trains_alone_on_the_frozen_model(tiny_seq2seq):
    path, _, tokenizer = tiny_seq2seq
    train = tasks.examples("sentiment_binary", "train", 16)
    model, accuracy = forgetting.train_new_head(
        path, tokenizer, train, tasks.examples("sentiment_binary", "test", 8), steps=2, batch_size=4
    )
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("classification_head" in n for n in trainable)
    assert model.config.num_labels == len({e.target for e in train})
    assert 0.0 <= accuracy <= 1.0

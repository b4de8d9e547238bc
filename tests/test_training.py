"""course_utils.core.training: label masking, batch sampling, the schedule and the loop itself."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.core import training
from course_utils.core.examples import Example

EXAMPLES = [
    Example("capital", "What is the capital of France?", "Paris"),
    Example("add", "What is 3 plus 4?", "7"),
    Example("antonym", "Give an antonym of hot.", "cold"),
]


def test_seq2seq_batch_masks_padding_in_the_labels(tiny_tokenizers):
    tokenizer = tiny_tokenizers[0]
    batch = training.seq2seq_batch(tokenizer, EXAMPLES)
    assert batch["input_ids"].shape == batch["attention_mask"].shape
    for i, example in enumerate(EXAMPLES):
        target = tokenizer(text_target=example.target).input_ids
        row = batch["labels"][i].tolist()
        assert row[: len(target)] == target  # the answer and its EOS
        assert all(t == -100 for t in row[len(target) :])  # padding is ignored by the loss
    assert (batch["labels"] == tokenizer.pad_token_id).sum() == 0


def test_decoder_batch_learns_only_the_answer_and_eos(tiny_tokenizers):
    tokenizer = tiny_tokenizers[1]
    batch = training.decoder_batch(tokenizer, EXAMPLES)
    for i, example in enumerate(EXAMPLES):
        labels = batch["labels"][i]
        learned = labels[labels != -100].tolist()
        assert tokenizer.decode(learned[:-1]).strip() == example.target
        assert learned[-1] == tokenizer.eos_token_id
        n = int(batch["attention_mask"][i].sum())
        assert (batch["input_ids"][i, n:] == tokenizer.pad_token_id).all()  # right padding


def test_make_batch_picks_the_layout(tiny_seq2seq, tiny_decoder):
    _, t5, seq_tok = tiny_seq2seq
    mistral, dec_tok = tiny_decoder
    assert training.make_batch(t5, seq_tok, EXAMPLES).keys() == {
        "input_ids",
        "attention_mask",
        "labels",
    }
    decoder = training.make_batch(mistral, dec_tok, EXAMPLES)
    assert decoder["input_ids"].shape == decoder["labels"].shape


def test_sample_batches_cover_each_epoch_and_repeat_by_seed():
    pool = [Example("t", str(i), str(i)) for i in range(10)]
    batches = training.sample_batches(pool, 4, seed=1)
    first = [next(batches) for _ in range(5)]  # 20 examples: two epochs exactly
    seen = [e.prompt for b in first for e in b]
    assert sorted(seen[:10]) == sorted(seen[10:]) == sorted(e.prompt for e in pool)
    again = training.sample_batches(pool, 4, seed=1)
    assert [next(again) for _ in range(5)] == first
    other = training.sample_batches(pool, 4, seed=2)
    assert [next(other) for _ in range(5)] != first


def test_warmup_then_cosine_to_zero():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = training.warmup_cosine(optimizer, warmup=4, total=14)
    rates = []
    for _ in range(14):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert rates[4] == pytest.approx(1.0)
    assert rates[9] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert all(a >= b for a, b in zip(rates[3:], rates[4:], strict=False))
    assert rates[-1] < 0.03


def test_train_lowers_the_loss_and_calls_the_extras(tiny_seq2seq):
    _, base, tokenizer = tiny_seq2seq
    model = type(base)(base.config)
    model.load_state_dict(base.state_dict())
    calls = {"extra": 0, "eval": []}

    def extra(m):
        calls["extra"] += 1
        return torch.zeros(())

    def evaluate(step):
        calls["eval"].append(step)
        return {"step": step}

    batches = training.sample_batches(EXAMPLES, 3, seed=0)
    log = training.train(
        model,
        tokenizer,
        batches,
        steps=30,
        lr=1e-2,
        extra_loss=extra,
        evaluate=evaluate,
        eval_every=10,
    )
    assert len(log.losses) == 30 and calls["extra"] == 30
    assert calls["eval"] == [0, 10, 20, 30]
    assert [s for s, _ in log.evaluations] == [0, 10, 20, 30]
    assert sum(log.losses[-5:]) < 0.7 * sum(log.losses[:5])  # it learns three examples
    assert log.seconds > 0 and log.eval_seconds >= 0
    assert not model.training

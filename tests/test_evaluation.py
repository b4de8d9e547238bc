"""course_utils.core.evaluation: greedy generation and exact match.

Mechanics on tiny random models here; the trained mini models' answers are checked in
test_mini_world.py (marked build).
"""

from __future__ import annotations

import pytest

from course_utils.core.evaluation import accuracy_by_task, exact_match, generate_answers
from course_utils.mini import tasks


def test_exact_match():
    assert exact_match(["Paris ", "7"], ["Paris", "8"]) == 0.5
    with pytest.raises(ValueError):
        exact_match([], [])
    with pytest.raises(ValueError):
        exact_match(["a"], ["a", "b"])


@pytest.mark.parametrize("kind", ["seq2seq", "decoder"])
def test_generate_answers_keeps_order_and_restores_the_tokenizer(kind, tiny_seq2seq, tiny_decoder):
    model, tokenizer = tiny_seq2seq[1:] if kind == "seq2seq" else tiny_decoder
    prompts = [e.prompt for t in ("capital", "add", "name") for e in tasks.examples(t, "test", 3)]
    sides = tokenizer.truncation_side, tokenizer.padding_side
    answers = generate_answers(model, tokenizer, prompts, max_new_tokens=3, batch_size=4)
    assert len(answers) == len(prompts) and all(isinstance(a, str) for a in answers)
    assert (tokenizer.truncation_side, tokenizer.padding_side) == sides
    # One at a time, the same answers in the same places.
    single = [generate_answers(model, tokenizer, [p], max_new_tokens=3)[0] for p in prompts[:3]]
    assert single == answers[:3]
    assert generate_answers(model, tokenizer, [], max_new_tokens=2) == []


def test_long_prompts_lose_their_start(tiny_seq2seq):
    _, model, tokenizer = tiny_seq2seq
    prompt = tasks.examples("capital", "test", 1)[0].prompt
    n = len(tokenizer(prompt).input_ids)
    kwargs = {"max_input_tokens": n, "max_new_tokens": 4}
    [alone] = generate_answers(model, tokenizer, [prompt], **kwargs)
    [cut] = generate_answers(model, tokenizer, ["filler words " * 50 + prompt], **kwargs)
    assert cut == alone  # the filler at the start was cut, the question kept


def test_accuracy_by_task(tiny_seq2seq):
    _, model, tokenizer = tiny_seq2seq
    sets = {t: tasks.examples(t, "test", 2) for t in ("capital", "add")}
    scores = accuracy_by_task(model, tokenizer, sets)
    assert set(scores) == {"capital", "add"} and all(0 <= v <= 1 for v in scores.values())


def test_replies_say_whether_the_model_ended_them(tiny_decoder):
    """A reply ends when the model writes its end-of-sequence token; one cut off by
    max_new_tokens does not."""
    import copy

    import torch

    from course_utils.core.evaluation import generate_replies

    class Favour(torch.nn.Module):
        """An output head that always prefers one token."""

        def __init__(self, vocab: int, token: int):
            super().__init__()
            self.vocab, self.token = vocab, token

        def forward(self, hidden):
            logits = hidden.new_zeros(*hidden.shape[:-1], self.vocab)
            logits[..., self.token] = 10.0
            return logits

    model, tokenizer = tiny_decoder
    prompt = ["What is 3 plus 4?"]
    for token, ends in (
        (tokenizer.eos_token_id, True),
        (tokenizer.convert_tokens_to_ids("."), False),
    ):
        favouring = copy.deepcopy(model)
        favouring.lm_head = Favour(model.config.vocab_size, token)
        (reply,) = generate_replies(favouring, tokenizer, prompt, max_new_tokens=3)
        assert reply.ended is ends
        assert (reply.text == "") is ends

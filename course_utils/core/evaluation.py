"""Exact-match evaluation by greedy generation, for seq2seq and decoder models alike.

Shared by notebooks 01 and 02 and the mini-model build.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .examples import Example


@dataclass(frozen=True)
class Reply:
    """A reply (greedy or sampled), and whether the model ended it itself (end-of-sequence
    token) rather than running out of ``max_new_tokens``."""

    text: str
    ended: bool


def generate_answers(model, tokenizer, prompts: Sequence[str], **settings) -> list[str]:
    """Greedy answers to ``prompts``, in the order given: ``generate_replies``' texts, with the
    same settings (``max_new_tokens``, ``batch_size``, ``max_input_tokens``, ``chat``)."""
    return [reply.text for reply in generate_replies(model, tokenizer, prompts, **settings)]


@torch.no_grad()
def generate_replies(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int = 12,
    batch_size: int = 128,
    max_input_tokens: int | None = None,
    chat: bool = True,
    samples: int = 1,
    temperature: float = 1.0,
) -> list[Reply]:
    """Greedy replies to ``prompts``, in the order given; with ``samples`` > 1, that many replies
    to each prompt drawn at ``temperature`` from the whole distribution (no top-k, top-p or
    repetition penalty, whatever the model's generation config says), the first prompt's
    samples first.

    Decoders get the chat template's generation prompt (``chat=False``: the prompt is used as
    it is, e.g. an Alpaca template for a base model). Prompts are batched by length (less
    padding). A prompt longer than ``max_input_tokens`` loses tokens at its START, so the
    question at its end (after any worked examples) is always kept.
    """
    if samples < 1:
        raise ValueError(f"samples = {samples}: at least 1 reply per prompt (1: the greedy one)")
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    replies: dict[tuple[int, int], Reply] = {}
    if samples > 1:
        decoding = dict(
            do_sample=True,
            temperature=temperature,
            top_k=0,
            top_p=1.0,
            repetition_penalty=1.0,
            num_return_sequences=samples,
        )
    else:
        decoding = dict(do_sample=False)
    saved_sides = tokenizer.truncation_side, tokenizer.padding_side
    tokenizer.truncation_side = "left"
    if not model.config.is_encoder_decoder:  # a decoder continues the prompt: pad on the left
        tokenizer.padding_side = "left"
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            texts = [prompts[i] for i in chunk]
            if chat and not model.config.is_encoder_decoder:
                texts = [
                    tokenizer.apply_chat_template(
                        [{"role": "user", "content": t}], tokenize=False, add_generation_prompt=True
                    )
                    for t in texts
                ]
            enc = tokenizer(
                texts,
                padding=True,
                truncation=max_input_tokens is not None,
                max_length=max_input_tokens,
                return_tensors="pt",
                add_special_tokens=model.config.is_encoder_decoder or not chat,
            ).to(device)
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                num_beams=1,
                **decoding,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            if not model.config.is_encoder_decoder:
                out = out[:, enc["input_ids"].shape[1] :]
            ended = (out == tokenizer.eos_token_id).any(dim=1).tolist()
            decoded = tokenizer.batch_decode(out, skip_special_tokens=True)
            keys = [(i, j) for i in chunk for j in range(samples)]
            for key, text, stop in zip(keys, decoded, ended, strict=True):
                replies[key] = Reply(text.strip(), stop)
    finally:
        tokenizer.truncation_side, tokenizer.padding_side = saved_sides
    return [replies[(i, j)] for i in range(len(prompts)) for j in range(samples)]


def exact_match(predictions: Sequence[str], targets: Sequence[str]) -> float:
    """Share of predictions equal to their target (after stripping spaces)."""
    if len(predictions) != len(targets) or not targets:
        raise ValueError("exact_match needs two non-empty lists of the same length")
    hits = sum(p.strip() == t.strip() for p, t in zip(predictions, targets, strict=True))
    return hits / len(targets)


def accuracy_by_task(
    model, tokenizer, by_task: dict[str, Sequence[Example]], max_new_tokens: int = 12
) -> dict[str, float]:
    """Exact-match accuracy per task, evaluated in one batched pass."""
    flat = [(task, e) for task, exs in by_task.items() for e in exs]
    prompts = [e.prompt for _, e in flat]
    predictions = generate_answers(model, tokenizer, prompts, max_new_tokens=max_new_tokens)
    result: dict[str, float] = {}
    for task in by_task:
        pairs = [(p, e.target) for p, (t, e) in zip(predictions, flat, strict=True) if t == task]
        result[task] = exact_match([p for p, _ in pairs], [t for _, t in pairs])
    return result

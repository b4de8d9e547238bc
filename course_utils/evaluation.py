"""Exact-match evaluation by greedy generation, for seq2seq and decoder models alike."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .mini.tasks import Example


@torch.no_grad()
def generate_answers(
    model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 12, batch_size: int = 128
) -> list[str]:
    """Greedy answers to ``prompts``; decoders get the chat template's generation prompt."""
    model.eval()
    device = next(model.parameters()).device
    answers: list[str] = []
    for start in range(0, len(prompts), batch_size):
        chunk = list(prompts[start : start + batch_size])
        if model.config.is_encoder_decoder:
            enc = tokenizer(chunk, padding=True, return_tensors="pt").to(device)
        else:
            tokenizer.padding_side = "left"
            texts = [
                tokenizer.apply_chat_template(
                    [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
                )
                for p in chunk
            ]
            enc = tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=False)
            enc = enc.to(device)
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        if not model.config.is_encoder_decoder:
            out = out[:, enc["input_ids"].shape[1] :]
        answers.extend(t.strip() for t in tokenizer.batch_decode(out, skip_special_tokens=True))
    return answers


def exact_match(predictions: Sequence[str], targets: Sequence[str]) -> float:
    """Share of predictions equal to their target (after stripping spaces)."""
    if len(predictions) != len(targets) or not targets:
        raise ValueError("exact_match needs two non-empty lists of the same length")
    hits = sum(p.strip() == t.strip() for p, t in zip(predictions, targets, strict=True))
    return hits / len(targets)


def accuracy(model, tokenizer, examples: Sequence[Example], **kwargs) -> float:
    """Exact-match accuracy of the model on examples."""
    predictions = generate_answers(model, tokenizer, [e.prompt for e in examples], **kwargs)
    return exact_match(predictions, [e.target for e in examples])


def accuracy_by_task(model, tokenizer, by_task: dict[str, Sequence[Example]]) -> dict[str, float]:
    """Exact-match accuracy per task, evaluated in one batched pass."""
    flat = [(task, e) for task, exs in by_task.items() for e in exs]
    predictions = generate_answers(model, tokenizer, [e.prompt for _, e in flat])
    result: dict[str, float] = {}
    for task in by_task:
        pairs = [(p, e.target) for p, (t, e) in zip(predictions, flat, strict=True) if t == task]
        result[task] = exact_match([p for p, _ in pairs], [t for _, t in pairs])
    return result

"""A small, explicit PyTorch training loop, shared by the mini-model build and notebook 01.

Hugging Face's Trainer does the same job (and notebooks use it where it is the lesson); this
loop exists so that a notebook can see and change every step: an extra loss term (L2-SP), an
evaluation every few steps, a batch mixed from several tasks.
"""

from __future__ import annotations

import functools
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from .examples import Example


def seq2seq_batch(tokenizer, examples: Sequence[Example], max_length: int = 128) -> dict:
    """Tokenise prompt -> target pairs for an encoder-decoder; padded labels become -100."""
    enc = tokenizer(
        [e.prompt for e in examples],
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    labels = tokenizer(
        text_target=[e.target for e in examples],
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    ).input_ids
    labels[labels == tokenizer.pad_token_id] = -100
    return {"input_ids": enc.input_ids, "attention_mask": enc.attention_mask, "labels": labels}


@functools.lru_cache(maxsize=200_000)
def _chat_ids(tokenizer, prompt: str, target: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Token ids of one chat exchange and its answer mask (cached: rendering is slow)."""
    row = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}, {"role": "assistant", "content": target}],
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    return tuple(row["input_ids"]), tuple(row["assistant_masks"])


def decoder_batch(tokenizer, examples: Sequence[Example], max_length: int = 128) -> dict:
    """Chat-format prompt -> answer pairs for a decoder; the loss is on the answer (and EOS)."""
    rows = [_chat_ids(tokenizer, e.prompt, e.target) for e in examples]
    width = min(max(len(ids) for ids, _ in rows), max_length)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100)
    for i, (row_ids, answer_mask) in enumerate(rows):
        n = min(len(row_ids), width)
        ids[i, :n] = torch.tensor(row_ids[:n])
        mask[i, :n] = 1
        answer = torch.tensor(answer_mask[:n]).bool()
        labels[i, :n] = torch.where(answer, ids[i, :n], -100)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def make_batch(model, tokenizer, examples: Sequence[Example], max_length: int = 128) -> dict:
    """The right batch layout for the model's architecture."""
    if model.config.is_encoder_decoder:
        return seq2seq_batch(tokenizer, examples, max_length)
    return decoder_batch(tokenizer, examples, max_length)


def sample_batches(pool: Sequence[Example], batch_size: int, seed: int) -> Iterator[list[Example]]:
    """Endless batches drawn from ``pool``, reshuffled every epoch, reproducible by seed."""
    rng = random.Random(seed)
    order: list[int] = []
    while True:
        if len(order) < batch_size:
            fresh = list(range(len(pool)))
            rng.shuffle(fresh)
            order.extend(fresh)
        yield [pool[i] for i in order[:batch_size]]
        del order[:batch_size]


def warmup_cosine(optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine decay to zero."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class TrainLog:
    """What a training run measured: losses per step and evaluations at chosen steps.

    ``seconds`` is training time alone; the evaluations' time is in ``eval_seconds``.
    """

    losses: list[float] = field(default_factory=list)
    evaluations: list[tuple[int, dict]] = field(default_factory=list)
    seconds: float = 0.0
    eval_seconds: float = 0.0


# @lesson notebooks/01_catastrophic_forgetting.ipynb cell=01-7e5033cb sha256=1ac5c88a935b
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
def masked_loss(logits: torch.Tensor, labels: torch.Tensor, shift: bool) -> torch.Tensor:
    """Mean cross-entropy over the label tokens, skipping every position labelled -100 (padding,
    and a decoder's prompt). With ``shift`` (a decoder-only model) the logits at position t
    predict the token at t + 1; a seq2seq decoder's logits and labels are already aligned."""
    if shift:
        logits, labels = logits[:, :-1], labels[:, 1:]
    flat = logits.reshape(-1, logits.size(-1)).float()
    return torch.nn.functional.cross_entropy(flat, labels.reshape(-1), ignore_index=-100)


def training_step(
    model,
    batch: dict,
    optimizer: torch.optim.Optimizer,
    scheduler,
    clip: float = 1.0,
    extra_loss: Callable[[torch.nn.Module], torch.Tensor] | None = None,
) -> float:
    """One optimizer step: the label-masked loss (plus ``extra_loss(model)``), gradients,
    clipped to norm ``clip``, an update, the next learning rate. Returns the loss."""
    model.train()
    logits = model(**batch).logits
    loss = masked_loss(logits, batch["labels"], shift=not model.config.is_encoder_decoder)
    if extra_loss is not None:
        loss = loss + extra_loss(model)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


# @end-lesson


def train(
    model,
    tokenizer,
    batches: Iterator[Sequence[Example]],
    steps: int,
    lr: float,
    weight_decay: float = 0.0,
    warmup: int = 0,
    clip: float = 1.0,
    extra_loss: Callable[[torch.nn.Module], torch.Tensor] | None = None,
    evaluate: Callable[[int], dict] | None = None,
    eval_every: int = 0,
    max_length: int = 128,
) -> TrainLog:
    """Train the parameters that require grad for ``steps`` AdamW steps.

    extra_loss(model) is added to the task loss (e.g. an L2 pull towards the start weights).
    evaluate(step) runs at step 0, every ``eval_every`` steps and at the end.
    max_length: tokens kept of each prompt and each target.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = warmup_cosine(optimizer, warmup, steps)
    log = TrainLog()
    device = next(model.parameters()).device
    start = time.perf_counter()

    def run_eval(step: int) -> None:
        if evaluate is not None:
            eval_start = time.perf_counter()
            model.eval()
            log.evaluations.append((step, evaluate(step)))
            log.eval_seconds += time.perf_counter() - eval_start

    if eval_every:
        run_eval(0)
    for step in range(1, steps + 1):
        batch = make_batch(model, tokenizer, next(batches), max_length)
        batch = {key: value.to(device) for key, value in batch.items()}
        log.losses.append(training_step(model, batch, optimizer, scheduler, clip, extra_loss))
        if eval_every and (step % eval_every == 0 or step == steps):
            run_eval(step)
    model.eval()
    log.seconds = time.perf_counter() - start - log.eval_seconds
    return log

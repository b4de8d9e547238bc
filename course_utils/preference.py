"""Learning from preferences: the reward model's loss and DPO's, from scratch (notebook 06), and
the pipeline's stages (SFT, the reward model) that notebooks 06 and 07 both train.

Preference data is (prompt, chosen, rejected). RLHF first trains a reward model r(x, y) so that
chosen answers score higher than rejected ones (the Bradley-Terry loss below), then optimises a
policy against it with a KL penalty towards the reference model. DPO (Rafailov et al., 2023) skips
both: with log-ratios rho(y) = log pi(y|x) - log pi_ref(y|x), summed over the answer's tokens,

    L = -log sigmoid(beta * (rho(y_chosen) - rho(y_rejected)))

and beta * rho(y) is the *implicit reward* of an answer. A test checks these functions against
TRL's ``DPOTrainer`` on the same batch.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


# @lesson notebooks/06_dpo.ipynb cell=06-92be9ffc sha256=9f22869c469d
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
def bradley_terry_loss(chosen_scores: torch.Tensor, rejected_scores: torch.Tensor) -> torch.Tensor:
    """A reward model's loss: -log sigmoid(r(chosen) - r(rejected)), the negative log-likelihood
    that the chosen answer wins under the Bradley-Terry model of pairwise preferences."""
    return -F.logsigmoid(chosen_scores - rejected_scores).mean()


# @end-lesson


def sequence_logprobs(
    model, input_ids: torch.Tensor, attention_mask: torch.Tensor, completion_mask: torch.Tensor
) -> torch.Tensor:
    """Each row's summed log-probability of its completion tokens (those where
    ``completion_mask`` is 1), each token predicted from the ones before it."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
    logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    per_token = logprobs.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (per_token * completion_mask[:, 1:]).sum(dim=1)


# @lesson notebooks/06_dpo.ipynb cell=06-7f6cdd90 sha256=f0895eaa4e7e
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
@dataclass
class DPOTerms:
    """DPO's loss on a batch and what TRL logs beside it (means over the batch)."""

    loss: torch.Tensor
    chosen_rewards: torch.Tensor  # beta * rho(chosen), per pair
    rejected_rewards: torch.Tensor  # beta * rho(rejected), per pair

    @property
    def margins(self) -> torch.Tensor:
        return self.chosen_rewards - self.rejected_rewards

    @property
    def accuracy(self) -> float:
        """Share of pairs whose chosen answer has the larger implicit reward."""
        return (self.margins > 0).float().mean().item()


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float,
) -> DPOTerms:
    """DPO from summed log-probabilities of the chosen and rejected answers under the policy and
    the reference. At the start, policy = reference: every reward is 0 and the loss is ln 2."""
    chosen_rewards = beta * (policy_chosen - reference_chosen)
    rejected_rewards = beta * (policy_rejected - reference_rejected)
    loss = -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    return DPOTerms(loss, chosen_rewards, rejected_rewards)


# @end-lesson


# ----- data in TRL's layout ------------------------------------------------------------------


def pair_columns(rows: Iterable[dict], chat: bool) -> dict[str, list]:
    """Preference rows as TRL's prompt / chosen / rejected columns: chat turns for a model with
    a chat template (TRL then formats them with it), plain strings otherwise."""
    rows = list(rows)
    if not chat:
        return {k: [r[k] for r in rows] for k in ("prompt", "chosen", "rejected")}
    return {
        "prompt": [[{"role": "user", "content": r["prompt"]}] for r in rows],
        "chosen": [[{"role": "assistant", "content": r["chosen"]}] for r in rows],
        "rejected": [[{"role": "assistant", "content": r["rejected"]}] for r in rows],
    }


def sft_columns(
    rows: Iterable[dict], chat: bool, chosen_share: float = 1.0, seed: int = 0
) -> dict[str, list]:
    """The SFT stage's data as TRL prompt / completion columns: the chosen answer for a
    ``chosen_share`` of the prompts (drawn with ``seed``) and the rejected one for the rest.

    1.0 is the usual recipe, SFT on the chosen answers. Below 1 the data mixes better and worse
    answers, as collected data often does: SFT imitates both, and which one is *preferred* is
    left for the preference stage to teach."""
    if not 0.0 <= chosen_share <= 1.0:
        raise ValueError(f"chosen_share = {chosen_share!r}: a share from 0 to 1")
    rng = random.Random(seed)
    answers = [r["chosen"] if rng.random() < chosen_share else r["rejected"] for r in rows]
    prompts = [r["prompt"] for r in rows]
    if not chat:
        return {"prompt": prompts, "completion": answers}
    return {
        "prompt": [[{"role": "user", "content": p}] for p in prompts],
        "completion": [[{"role": "assistant", "content": a}] for a in answers],
    }


def load_reward_model(path: str, pad_token_id: int):
    """A reward model: the language model's backbone with a new one-number head on its last
    token (``score``, randomly initialised). transformers' load report, which lists that head
    as missing from the checkpoint, is what should happen and is not printed."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=1, dtype=torch.float32
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    model.config.pad_token_id = pad_token_id
    return model


def within_length(
    rows: Iterable[dict], tokenizer, max_length: int, chat: bool, limit: int | None = None
) -> list[dict]:
    """The rows (in order, at most ``limit``) whose prompt with either answer fits in
    ``max_length`` tokens, so that no trainer has to cut an answer short."""
    kept = []
    for row in rows:
        if limit is not None and len(kept) >= limit:
            break
        longest = max(
            _encoded_completions(tokenizer, [row["prompt"]], [row[side]], chat)[0].shape[1]
            for side in ("chosen", "rejected")
        )
        if longest <= max_length:
            kept.append(row)
    return kept


def merged_sft_model(trainer):
    """The model an ``SFTTrainer`` trained, with its LoRA adapter merged in, ready to be the
    start (and reference) of DPO.

    SFTTrainer replaces the model's ``forward`` with a closure over the *original* model (to
    compute its loss in chunks); a copy of the model would still call the original's forward,
    so its new adapter would get no gradient. The patched forward is removed here."""
    model = trainer.model
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.__dict__.pop("forward", None)
    return model


# ----- the pipeline's stages, trained with TRL (notebooks 06 and 07) ---------------------------


def train_sft(
    model, tokenizer, rows: Sequence[dict], chat: bool, args, adapter, chosen_share: float = 1.0
):
    """The SFT stage: TRL's ``SFTTrainer`` with a LoRA ``adapter`` on ``model``, on the chosen
    answers of a ``chosen_share`` of ``rows`` and the rejected ones of the rest (drawn with
    ``args.seed``). Returns the model with the adapter merged in, and the training seconds."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTTrainer

    from .core.progress import bar_only_progress

    set_seed(args.seed)
    trainer = SFTTrainer(
        model=model,
        processing_class=tokenizer,
        train_dataset=Dataset.from_dict(sft_columns(rows, chat, chosen_share, seed=args.seed)),
        peft_config=adapter,
        args=args,
    )
    bar_only_progress(trainer)
    start = time.perf_counter()
    trainer.train()
    return merged_sft_model(trainer), time.perf_counter() - start


def train_reward_model(model_path: str, tokenizer, rows: Sequence[dict], chat: bool, args):
    """RLHF's first stage: a reward model (``load_reward_model``, its head drawn with
    ``args.seed``) trained on the preference ``rows`` by TRL's ``RewardTrainer`` with the
    Bradley-Terry loss. Returns the trained model and the training seconds."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import RewardTrainer

    from .core.progress import bar_only_progress

    set_seed(args.seed)
    trainer = RewardTrainer(
        model=load_reward_model(model_path, tokenizer.pad_token_id),
        processing_class=tokenizer,
        train_dataset=Dataset.from_dict(pair_columns(rows, chat)),
        args=args,
    )
    bar_only_progress(trainer)
    start = time.perf_counter()
    trainer.train()
    return trainer.model, time.perf_counter() - start


# ----- measuring a policy on held-out pairs --------------------------------------------------


def _encoded_completions(tokenizer, prompts: Sequence[str], answers: Sequence[str], chat: bool):
    """input_ids, attention_mask and completion mask of prompt + answer (+ EOS), right-padded."""
    ids, marks = [], []
    for prompt, answer in zip(prompts, answers, strict=True):
        if chat:
            turn = [{"role": "user", "content": prompt}]
            head = tokenizer.apply_chat_template(turn, add_generation_prompt=True, tokenize=False)
            whole = tokenizer.apply_chat_template(
                turn + [{"role": "assistant", "content": answer}], tokenize=False
            )
        else:
            head, whole = prompt, prompt + answer + tokenizer.eos_token
        first = tokenizer(head, add_special_tokens=False)["input_ids"]
        full = tokenizer(whole, add_special_tokens=False)["input_ids"]
        ids.append(full)
        marks.append([0] * len(first) + [1] * (len(full) - len(first)))
    width = max(map(len, ids))
    pad = tokenizer.pad_token_id

    def padded(rows, value):
        return torch.tensor([r + [value] * (width - len(r)) for r in rows])

    mask = padded([[1] * len(r) for r in ids], 0)
    return padded(ids, pad), mask, padded(marks, 0)


def _reference(model):
    """A context in which ``model`` is its reference: its adapter disabled (a peft model), or
    the model itself (nothing to disable)."""
    import contextlib

    return (
        model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()
    )


@dataclass
class PairLogprobs:
    """Summed log-probabilities of held-out chosen and rejected answers, under the policy and
    under its reference (one value per pair)."""

    chosen: torch.Tensor
    rejected: torch.Tensor
    reference_chosen: torch.Tensor
    reference_rejected: torch.Tensor

    def terms(self, beta: float) -> DPOTerms:
        """DPO's loss, implicit rewards and accuracy on these pairs."""
        return dpo_loss(
            self.chosen, self.rejected, self.reference_chosen, self.reference_rejected, beta
        )


@torch.no_grad()
def pair_logprobs(
    model, tokenizer, rows: Sequence[dict], chat: bool, batch_size: int = 32
) -> PairLogprobs:
    """Each pair's summed log-probabilities under ``model`` and under its reference (the model
    with its adapter disabled: DPO with LoRA keeps no second copy of the model)."""
    model.eval()
    device = next(model.parameters()).device
    columns: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        prompts = [r["prompt"] for r in chunk]
        for side in ("chosen", "rejected"):
            batch = _encoded_completions(tokenizer, prompts, [r[side] for r in chunk], chat)
            batch = [t.to(device) for t in batch]
            columns.setdefault(side, []).append(sequence_logprobs(model, *batch).cpu())
            with _reference(model):
                reference = sequence_logprobs(model, *batch).cpu()
            columns.setdefault(f"reference_{side}", []).append(reference)
    return PairLogprobs(**{k: torch.cat(v) for k, v in columns.items()})


@torch.no_grad()
def kl_per_token_to_reference(
    model, tokenizer, prompts: Sequence[str], chat: bool, max_new_tokens: int, batch_size: int = 32
) -> float:
    """Mean per-token KL(policy || reference) over the policy's own greedy replies to
    ``prompts``: at each generated position, the KL divergence between the two next-token
    distributions over the whole vocabulary (the reference: the adapter disabled). RLHF's KL
    penalty, and DPO's beta, keep this small."""
    from .core.evaluation import generate_replies

    replies = generate_replies(model, tokenizer, prompts, max_new_tokens, chat=chat)
    answers = [r.text for r in replies]
    return kl_per_token_on(model, tokenizer, prompts, answers, chat, batch_size)


# ----- what the preferred answers look like (the mini world's pairs) -------------------------


def answer_word(sentence: str) -> str:
    """The answer in a reply: its last word, without a final full stop ("The sum is 8." -> "8",
    "8" -> "8")."""
    words = sentence.strip().split()
    return words[-1].removesuffix(".") if words else ""


def _frame(sentence: str) -> str:
    """A sentence without its answer: "The sum is 8." -> "The sum is"."""
    return " ".join(sentence.strip().split()[:-1])


def style_rates(replies: Sequence, chosen: Sequence[str]) -> dict[str, float]:
    """How a policy's greedy ``replies`` (``evaluation.Reply``) compare with the chosen answers
    of the same prompts: the share that take the preferred form (exactly the full, correct
    sentence), that are full sentences of the right frame, whose answer is correct (in either
    form), and that end with the end-of-sequence token."""
    if len(replies) != len(chosen) or not chosen:
        raise ValueError("style_rates needs as many replies as chosen answers, at least one")
    n = len(chosen)
    rates = {"preferred_form": 0, "full_sentence": 0, "correct": 0, "ended": 0}
    for reply, best in zip(replies, chosen, strict=True):
        text = reply.text.strip()
        rates["preferred_form"] += text == best.strip()
        rates["full_sentence"] += text.endswith(".") and _frame(text) == _frame(best)
        rates["correct"] += answer_word(text) == answer_word(best)
        rates["ended"] += reply.ended
    return {k: v / n for k, v in rates.items()}


# ----- the reward model (RLHF's first half) --------------------------------------------------


@torch.no_grad()
def reward_scores(
    model,
    tokenizer,
    prompts: Sequence[str],
    answers: Sequence[str],
    chat: bool,
    batch_size: int = 32,
) -> torch.Tensor:
    """A sequence-classification reward model's score r(x, y) for each prompt and answer,
    formatted as in training (the chat template, or prompt + answer)."""
    model.eval()
    device = next(model.parameters()).device
    scores = []
    for start in range(0, len(prompts), batch_size):
        ids, mask, _ = _encoded_completions(
            tokenizer,
            prompts[start : start + batch_size],
            answers[start : start + batch_size],
            chat,
        )
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        scores.append(logits[:, 0].float().cpu())
    return torch.cat(scores)


def dpo_terms_on_trl_batch(model, batch: dict, beta: float) -> DPOTerms:
    """DPO (``dpo_loss``, the one in use: a notebook's ``use_lesson_code`` can swap it) on a batch
    from ``DPOTrainer``'s data loader (chosen rows, then rejected rows, with a completion mask),
    the reference being the adapter disabled."""
    args = (batch["input_ids"], batch["attention_mask"], batch["completion_mask"])
    with torch.no_grad():
        chosen, rejected = sequence_logprobs(model, *args).chunk(2)
        with _reference(model):
            reference_chosen, reference_rejected = sequence_logprobs(model, *args).chunk(2)
    return dpo_loss(chosen, rejected, reference_chosen, reference_rejected, beta)


# ----- notebook 06's measurements, tables and figures ----------------------------------------


def release_memory() -> None:
    """Give back the memory of models already deleted (GPU memory on a T4)."""
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def stage_arguments(
    settings, config_class, steps: int, learning_rate: float, seed=None, **overrides
):
    """One stage's TRL configuration in notebook 06: ``config_class`` (``RewardConfig``,
    ``SFTConfig``, ``DPOConfig``) with the notebook's ``settings`` (batch size, accumulation,
    maximum length, profile), a fresh output folder, no warm-up and ``seed`` (by default the
    notebook's); ``overrides`` add or replace settings (``beta=``, ``loss_type=``...)."""
    import tempfile

    from . import recipes

    return recipes.trainer_arguments(
        config_class,
        settings.profile,
        output_dir=tempfile.mkdtemp(),
        steps=steps,
        batch_size=settings.BATCH_SIZE,
        accumulation=settings.GRAD_ACCUM,
        learning_rate=learning_rate,
        warmup=0,
        seed=settings.seed if seed is None else seed,
        max_length=settings.MAX_LENGTH,
        **overrides,
    )


def held_out_scores(reward_model, tokenizer, rows: Sequence[dict], chat: bool):
    """A reward model's scores of the chosen and of the rejected answers of ``rows``."""
    prompts = [r["prompt"] for r in rows]
    return tuple(
        reward_scores(reward_model, tokenizer, prompts, [r[side] for r in rows], chat)
        for side in ("chosen", "rejected")
    )


def pairs_table(rows: Sequence[dict], width: int = 120):
    """Preference rows as a table, each cell cut to ``width`` characters."""
    import pandas as pd

    return pd.DataFrame(rows).map(
        lambda v: v if len(str(v)) <= width else str(v)[: width - 3] + "..."
    )


@torch.no_grad()
def kl_per_token_on(
    model, tokenizer, prompts: Sequence[str], answers: Sequence[str], chat: bool, batch_size=32
) -> float:
    """Mean per-token KL(policy || reference) at the positions of the given ``answers`` to
    ``prompts``: at each answer token, the KL divergence between the two next-token
    distributions over the whole vocabulary (the reference: the adapter disabled). Measured on
    the same answers, two policies' drifts compare like with like."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for start in range(0, len(prompts), batch_size):
        chunk = slice(start, start + batch_size)
        ids, mask, completion = (
            t.to(device)
            for t in _encoded_completions(tokenizer, prompts[chunk], answers[chunk], chat)
        )
        policy = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), -1)
        with _reference(model):
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        reference = torch.log_softmax(logits, -1)
        per_position = (policy.exp() * (policy - reference)).sum(-1)[:, :-1].clamp(min=0)
        predicts_reply = completion[:, 1:].float()  # position t predicts token t + 1
        total += (per_position * predicts_reply).sum().item()
        count += predicts_reply.sum().item()
    return total / max(count, 1)


def measure_policy(
    model,
    tokenizer,
    rows: Sequence[dict],
    chat: bool,
    max_new_tokens: int,
    beta: float | None = None,
    drift_on: Sequence[str] | None = None,
) -> tuple[dict[str, float], list[str]]:
    """What a stage of notebook 06 does on the held-out ``rows``: its greedy replies (returned
    with the row), the share that ended, the style rates where the rows have a ``kind`` (the
    mini world's pairs), and the mean summed log-probabilities of the chosen and rejected
    answers. For a DPO policy (``beta`` given): its implicit-reward accuracy at ``beta`` and its
    drift, the per-token KL from its reference on the answers ``drift_on`` (the same answers for
    every policy; by default its own replies)."""
    from .core.evaluation import generate_replies

    prompts = [r["prompt"] for r in rows]
    replies = generate_replies(model, tokenizer, prompts, max_new_tokens, batch_size=16, chat=chat)
    logps = pair_logprobs(model, tokenizer, rows, chat, batch_size=8)
    row = {"ended": sum(r.ended for r in replies) / len(replies)}
    if all("kind" in r for r in rows):
        row |= style_rates(replies, [r["chosen"] for r in rows])
    row |= {
        "log p(chosen)": logps.chosen.mean().item(),
        "log p(rejected)": logps.rejected.mean().item(),
    }
    if beta is not None:
        texts = [r.text for r in replies] if drift_on is None else list(drift_on)
        row["implicit-reward accuracy"] = logps.terms(beta).accuracy
        row["KL from reference"] = kl_per_token_on(model, tokenizer, prompts, texts, chat, 8)
    return row, [r.text for r in replies]


def accuracy_by_kind(wins: torch.Tensor, rows: Sequence[dict]):
    """The share of ``wins`` (one bool per held-out pair) for each ``kind`` of pair, as a table."""
    import pandas as pd

    kinds = [r["kind"] for r in rows]
    shares = pd.Series(wins.float().numpy()).groupby(kinds).mean()
    return shares.rename("held-out pairwise accuracy").round(3).to_frame()


def _logged(trainer, key: str) -> tuple[list, list]:
    points = [(h["step"], h[key]) for h in trainer.state.log_history if key in h]
    return tuple(zip(*points, strict=True)) if points else ([], [])


def plot_training_logs(trainers: dict):
    """What ``DPOTrainer`` logged while each of ``trainers`` ({label: trainer}) trained: loss,
    margin, and the summed log-probabilities of the chosen and rejected answers (the implicit
    rewards are beta times their change)."""
    import matplotlib.pyplot as plt

    panels = [
        ("loss", "training loss"),
        ("rewards/margins", "margin (chosen − rejected)"),
        ("logps/chosen", "log p(chosen)"),
        ("logps/rejected", "log p(rejected)"),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(8, 6), layout="constrained", sharex=True)
    for ax, (key, title) in zip(axes.flat, panels, strict=True):
        for (label, trainer), style in zip(trainers.items(), ("-", "--", ":"), strict=False):
            ax.plot(*_logged(trainer, key), label=label, linestyle=style)
        ax.set(title=title)
    for ax in axes[1]:
        ax.set(xlabel="step")
    axes[0, 0].legend(fontsize=8)
    return fig


def plot_drift_by_beta(runs: dict, ranked_by: str):
    """Notebook 06's beta sweep: each run's drift from the reference against its beta (one point
    per run, the mean over seeds joined), and what its replies show (``ranked_by``, a column of
    ``measure_policy``'s row) against its drift. ``runs`` maps (beta, seed) to a row."""
    import matplotlib.pyplot as plt

    betas = sorted({beta for beta, _ in runs})
    fig, (left, right) = plt.subplots(2, 1, figsize=(6.5, 7), layout="constrained")
    means = []
    for i, beta in enumerate(betas):
        rows = [row for (b, _), row in runs.items() if b == beta]
        kls = [row["KL from reference"] for row in rows]
        means.append(sum(kls) / len(kls))
        left.scatter([beta] * len(kls), kls, color=f"C{i}", zorder=3)
        right.scatter(kls, [row[ranked_by] for row in rows], color=f"C{i}", label=f"β = {beta:g}")
    left.plot(betas, means, color="grey", linewidth=1, label="mean over seeds")
    left.set(xscale="log", xlabel="beta", ylabel="KL from reference (nats/token)")
    left.set_title("Drift from the reference, one point per run")
    left.legend(fontsize=8)
    right.set(
        xlabel="KL from reference (nats/token)",
        ylabel=ranked_by.replace("_", " ") + " (held out)",
        title="Drift against what the policy replies",
    )
    right.legend(fontsize=8)
    return fig


def dpo_with_unsloth(settings, train_rows: Sequence[dict], args) -> dict[str, float]:
    """Notebook 06's optional run on a GPU: Unsloth's 4-bit Mistral-7B (notebook 05's model),
    LoRA on the seven projections, TRL's ``DPOTrainer`` on ``train_rows`` in the Alpaca template
    (the model has no chat template), the reference being the adapter switched off. ``args``:
    a ``DPOConfig``. Returns the minutes, the peak reserved GPU memory (GiB) and the last logged
    reward accuracy and margin."""
    from datasets import Dataset
    from trl import DPOTrainer
    from unsloth import PatchDPOTrainer

    from . import qlora
    from .core.progress import bar_only_progress

    PatchDPOTrainer()
    fast, fast_tokenizer = qlora.unsloth_lora_model(
        qlora.UNSLOTH_MISTRAL,
        settings.MAX_LENGTH,
        settings.LORA_RANK,
        2 * settings.LORA_RANK,
        settings.seed,
    )
    alpaca_pairs = Dataset.from_dict(
        {
            "prompt": [qlora.alpaca_prompt(r["prompt"]) for r in train_rows],
            "chosen": [r["chosen"] for r in train_rows],
            "rejected": [r["rejected"] for r in train_rows],
        }
    )
    trainer = DPOTrainer(
        model=fast,
        ref_model=None,
        processing_class=fast_tokenizer,
        train_dataset=alpaca_pairs,
        args=args,
    )
    bar_only_progress(trainer)
    qlora.keep_trainables_in_float32(trainer.model)  # fp16's gradient scaler refuses bf16
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer.train()
    last = [h for h in trainer.state.log_history if "rewards/accuracies" in h][-1]
    result = {
        "minutes": (time.perf_counter() - start) / 60,
        "peak_gib": torch.cuda.max_memory_reserved() / 2**30,
        "reward accuracy": last["rewards/accuracies"],
        "margin": last["rewards/margins"],
    }
    del trainer, fast
    release_memory()
    return result


def sweep_table(runs: dict):
    """Notebook 06's beta sweep as a table: for each beta, the mean of each measure over its
    runs (``runs`` maps (beta, seed) to a ``measure_policy`` row) and how many runs it has."""
    import pandas as pd

    frame = pd.DataFrame(runs.values(), index=pd.Index([b for b, _ in runs], name="beta"))
    table = frame.groupby(level=0).mean()
    return table.assign(runs=frame.groupby(level=0).size())


def drift_by_beta(runs: dict, seed: int) -> dict[float, float]:
    """Each beta's drift from the reference (KL per token) in the run at ``seed``."""
    return {beta: row["KL from reference"] for (beta, s), row in sorted(runs.items()) if s == seed}

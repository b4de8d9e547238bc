"""Reinforcement learning from rewards: GRPO from scratch (notebook 07).

GRPO (Shao et al., 2024, DeepSeekMath) samples a *group* of completions for each prompt, scores
each with a reward function, and uses the group as its own baseline: a completion's advantage is
its reward against the mean of its group's, divided by the group's spread. No value model is
trained. The policy then takes PPO's clipped step on every completion token, optionally held near
a reference model by a KL penalty. A test checks these functions against TRL's ``GRPOTrainer``
on the same prompts, completions and rewards.

Notebook 07's lesson code sits in three marked blocks (its ``# @save`` cells are their source):
GRPO's four functions; the verifiable rewards (exact and numeric answers); and the reward with a
loophole of its section on reward hacking, with its control. Around them: log-probabilities,
TRL's batches and the comparison with TRL, one run with ``GRPOTrainer``, and the measurements
and figures of notebook 07 (pass@k, the ``kind`` task split by word, drift from the reference).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch


# @lesson notebooks/07_grpo.ipynb cell=07-12 sha256=c832b16615a0
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
def group_advantages(rewards: torch.Tensor, group_size: int, scale: bool = True) -> torch.Tensor:
    """Each completion's reward against its group's (the completions of the same prompt, which
    sit next to each other): (r - group mean) / (group sd + 1e-4), or only r - group mean with
    ``scale=False``. A group whose completions all scored the same gets exactly 0, no signal,
    even where float32 rounds its mean (six rewards of 1000.1 have a mean that is not 1000.1)."""
    groups = rewards.reshape(-1, group_size).float()
    centred = groups - groups.mean(dim=1, keepdim=True)
    if scale:
        centred = centred / (groups.std(dim=1, keepdim=True) + 1e-4)
    alike = groups.amax(dim=1, keepdim=True) == groups.amin(dim=1, keepdim=True)
    return torch.where(alike, 0.0, centred).flatten()


def per_token_kl(logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    """An estimate of KL(policy || reference) at each sampled token (Schulman's "k3"):
    exp(d) - d - 1 with d = log pi_ref - log pi. Never negative, 0 where the two agree, and its
    mean over tokens sampled from the policy is the KL divergence."""
    delta = ref_logps - logps
    return torch.exp(delta) - delta - 1


def clipped_objective(
    logps: torch.Tensor, old_logps: torch.Tensor, advantages: torch.Tensor, epsilon: float
) -> torch.Tensor:
    """PPO's clipped surrogate at each token, to be maximised: min(ratio * A, clip(ratio, 1 - eps,
    1 + eps) * A), ratio = pi / pi_old. Once a token's probability has moved more than eps in the
    advantage's direction, the objective stops rewarding further moves."""
    ratio = torch.exp(logps - old_logps)
    advantage = advantages.unsqueeze(1)  # one per completion, shared by its tokens
    return torch.min(ratio * advantage, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * advantage)


def grpo_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    ref_logps: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    beta: float,
    epsilon: float,
) -> torch.Tensor:
    """GRPO's loss as TRL computes it by default (``loss_type="dapo"``): per completion token,
    minus the clipped objective plus beta times the KL estimate (weighted by the ratio, TRL's
    correction for tokens sampled by pi_old), summed over every completion token of the batch
    and divided by their number, so that a long completion does not weigh less per token."""
    per_token = -clipped_objective(logps, old_logps, advantages, epsilon)
    if beta:
        ratio = torch.exp(logps - old_logps)
        per_token = per_token + beta * per_token_kl(logps, ref_logps) * ratio
    return (per_token * mask).sum() / mask.sum().clamp(min=1)


# @end-lesson


# ----- around the lesson: log-probabilities, sampling, TRL's batches --------------------------


def per_token_logps(
    model,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """log pi(token | everything before it) for each completion token, shape of
    ``completion_ids``; logits divided by the sampling ``temperature``, as the sampler saw them."""
    ids = torch.cat([prompt_ids, completion_ids], dim=1)
    mask = torch.cat([prompt_mask, completion_mask], dim=1)
    width = completion_ids.size(1)  # logits only where they predict a completion token
    logits = model(input_ids=ids, attention_mask=mask, use_cache=False, logits_to_keep=width + 1)
    logits = logits.logits[:, :-1].float() / temperature
    return torch.log_softmax(logits, dim=-1).gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of ``values`` over the positions where ``mask`` is 1."""
    return (values * mask).sum() / mask.sum().clamp(min=1)


def check_groups(rewards: torch.Tensor, group_size: int) -> None:
    """Stop early unless ``rewards`` splits into whole groups of at least two."""
    if group_size < 2 or rewards.numel() % group_size:
        raise ValueError(
            f"group_size = {group_size}: a group needs at least 2 completions, and the "
            f"{rewards.numel()} rewards must split into whole groups"
        )


def no_signal_share(rewards: torch.Tensor, group_size: int) -> float:
    """Share of groups whose completions all got the same reward (advantage 0 for every one)."""
    check_groups(rewards, group_size)
    groups = rewards.reshape(-1, group_size)
    return (groups.max(dim=1).values == groups.min(dim=1).values).float().mean().item()


def pass_at_k(correct: int, samples: int, k: int) -> float:
    """The unbiased pass@k of Chen et al. (2021): the chance that at least one of k completions
    drawn without replacement from ``samples``, of which ``correct`` are right, is right."""
    if not 1 <= k <= samples:
        raise ValueError(f"k = {k}: must be between 1 and the number of samples, {samples}")
    if not 0 <= correct <= samples:
        raise ValueError(f"correct = {correct}: must be between 0 and samples = {samples}")
    if samples - correct < k:
        return 1.0
    miss = 1.0
    for i in range(samples - correct + 1, samples + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def reply_texts(completions: Sequence) -> list[str]:
    """TRL hands a reward function plain strings, or chat turns for conversational prompts."""
    return [c if isinstance(c, str) else c[-1]["content"] for c in completions]


def grpo_terms_on_trl_batch(
    trainer,
    inputs: dict,
    reward_func: Callable[..., list[float]],
    rows: list[dict],
) -> dict[str, torch.Tensor]:
    """The from-scratch loss (``grpo_loss`` and the functions it calls, the ones in use) on a
    batch that ``GRPOTrainer._generate_and_score_completions`` made for ``rows`` (each prompt
    ``num_generations`` times in a row): the rewards recomputed from the decoded completions by
    ``reward_func``, called as TRL calls it (the completions, and each other column of ``rows``
    as a keyword argument),
    the advantages from them, the log-probabilities from the model (the sampling policy's from
    ``inputs["old_per_token_logps"]`` where TRL keeps them, else the current ones, detached),
    the reference's with the adapter switched off. Returns the rewards, the advantages, the loss
    (differentiable with respect to the model), the mean per-token KL estimate and the share of
    reply tokens where the clip binds (ratio beyond 1 +- epsilon in the advantage's direction)."""
    model = trainer.model
    args = trainer.args
    decode = trainer.processing_class.batch_decode
    texts = decode(inputs["completion_ids"], skip_special_tokens=True)
    columns = {key: [row[key] for row in rows] for key in rows[0] if key != "prompt"}
    reward = torch.tensor(reward_func(texts, **columns), dtype=torch.float32)
    advantages = group_advantages(reward, args.num_generations)
    tensors = (
        inputs["prompt_ids"],
        inputs["prompt_mask"],
        inputs["completion_ids"],
        inputs["completion_mask"],
    )
    logps = per_token_logps(model, *tensors, temperature=args.temperature)
    ref_logps = None
    if args.beta:
        with torch.no_grad(), model.disable_adapter():
            ref_logps = per_token_logps(model, *tensors, temperature=args.temperature)
    old_logps = inputs.get("old_per_token_logps")
    old_logps = logps.detach() if old_logps is None else old_logps
    mask = inputs["completion_mask"].float()
    value = grpo_loss(
        logps,
        old_logps,
        ref_logps,
        advantages,
        mask,
        args.beta,
        args.epsilon,
    )
    kl = torch.zeros(()) if ref_logps is None else masked_mean(per_token_kl(logps, ref_logps), mask)
    ratio = torch.exp(logps.detach() - old_logps)
    sign = advantages.to(ratio.device).unsqueeze(1)
    clipped = ((ratio > 1 + args.epsilon) & (sign > 0)) | ((ratio < 1 - args.epsilon) & (sign < 0))
    return {
        "rewards": reward,
        "advantages": advantages,
        "loss": value,
        "kl": kl.detach(),
        "clipped": masked_mean(clipped.float(), mask),
    }


def trl_batch(trainer, rows: list[dict], seed: int) -> dict:
    """The batch ``GRPOTrainer``'s training step makes of ``rows`` (each prompt
    ``num_generations`` times in a row): replies sampled and scored, advantages computed. It
    calls TRL's private ``_generate_and_score_completions`` (TRL 1.14), the one place the course
    relies on it; the test against TRL fails if a release changes it."""
    if not hasattr(trainer, "current_gradient_accumulation_steps"):  # train() sets it
        trainer.current_gradient_accumulation_steps = trainer.args.gradient_accumulation_steps
    torch.manual_seed(seed)
    return trainer._generate_and_score_completions(rows)


def compare_with_trl(
    trainer,
    batch: dict,
    reward_func: Callable[..., list[float]],
    rows: list[dict],
    old_shift: float = 0.0,
    seed: int = 0,
) -> dict[str, float]:
    """TRL's loss and gradient (``compute_loss``) against the from-scratch ones
    (``grpo_terms_on_trl_batch``) on the same ``batch`` of ``rows``. With ``old_shift`` > 0 the
    sampling policy's log-probabilities are the current ones plus ``old_shift`` times seeded
    normal noise, as when a batch is reused for several steps: the ratio and the clip at work."""
    model = trainer.model
    inputs = dict(batch)
    if old_shift:
        with torch.no_grad():
            current = per_token_logps(
                model,
                inputs["prompt_ids"],
                inputs["prompt_mask"],
                inputs["completion_ids"],
                inputs["completion_mask"],
            )
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn(current.shape, generator=generator).to(current.device)
        inputs["old_per_token_logps"] = current + old_shift * noise
    trainable = [p for p in model.parameters() if p.requires_grad]
    model.zero_grad()
    theirs = trainer.compute_loss(model, inputs)
    theirs.backward()
    their_grads = [p.grad.detach().clone() for p in trainable]
    model.zero_grad()
    ours = grpo_terms_on_trl_batch(trainer, inputs, reward_func, rows)
    ours["loss"].backward()
    gradient_gap = max(
        (p.grad - g).abs().max().item() for p, g in zip(trainable, their_grads, strict=True)
    )
    group_size = trainer.args.num_generations
    advantages = ours["advantages"].to(batch["advantages"].device)
    model.zero_grad()
    return {
        "TRL's loss": theirs.item(),
        "our loss": ours["loss"].item(),
        "loss gap": abs(theirs.item() - ours["loss"].item()),
        "largest gradient gap": gradient_gap,
        "largest gradient": max(g.abs().max().item() for g in their_grads),
        "mean KL per token": ours["kl"].item(),
        "groups with signal": 1 - no_signal_share(ours["rewards"], group_size),
        "advantage gap": (advantages - batch["advantages"]).abs().max().item(),
        "reward spread": ours["rewards"].std().item(),
        "share of tokens clipped": ours["clipped"].item(),
    }


def trl_comparison(trainer, batch: dict, reward_func, rows: list[dict], seed: int, old_shift=0.3):
    """``compare_with_trl`` twice on the same batch, as sampled ("on-policy") and with the old
    log-probabilities shifted by ``old_shift`` ("old log-probs shifted"): a DataFrame with one
    column each, one row per measure."""
    import pandas as pd

    on_policy = compare_with_trl(trainer, batch, reward_func, rows)
    shifted = compare_with_trl(trainer, batch, reward_func, rows, old_shift=old_shift, seed=seed)
    return pd.DataFrame({"on-policy": on_policy, "old log-probs shifted": shifted})


#: Sampling from the whole distribution, as GRPOTrainer does by default (a model's own
#: generation config may set top-k, top-p or a repetition penalty).
SAMPLING = dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0)


# ----- one GRPO run with TRL -------------------------------------------------------------------


@dataclass
class Run:
    """One ``GRPOTrainer`` run: the trainer (its model is the trained policy, LoRA on the base),
    TRL's logged metrics per logging step, and the training seconds."""

    trainer: object
    history: list[dict]
    seconds: float

    @property
    def model(self):
        return self.trainer.model

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """Steps and values of one logged metric (``reward``, ``kl``, ``frac_reward_zero_std``,
        ``completions/mean_length``...)."""
        rows = [h for h in self.history if key in h]
        return [h["step"] for h in rows], [float(h[key]) for h in rows]

    def mean_of(self, key: str) -> float:
        """A logged metric's mean over the run."""
        values = self.series(key)[1]
        return sum(values) / len(values) if values else float("nan")


def train(
    model,
    tokenizer,
    dataset,
    reward_funcs,
    profile,
    *,
    seed: int,
    steps: int,
    prompts_per_step: int,
    group_size: int,
    learning_rate: float,
    beta: float,
    epsilon: float,
    max_completion_length: int,
    lora_rank: int,
    temperature: float = 1.0,
    dtype=None,
    callbacks: Sequence = (),
    **overrides,
) -> Run:
    """GRPO with TRL's ``GRPOTrainer`` on ``model`` (a folder or Hub id, loaded afresh in
    ``dtype``; or a model, which is trained in place) with a LoRA adapter on every linear layer
    (alpha 2r; the adapter switched off is the reference; a model that already has its adapter,
    such as Unsloth's, keeps it and ``lora_rank`` is unused): ``steps`` steps of
    ``prompts_per_step`` prompts, ``group_size`` completions each. ``reward_funcs`` are what TRL
    takes: functions, or a reward model. The course's trainer arguments (float32 and no
    checkpointing on a CPU), logged every step; ``callbacks`` are transformers'
    ``TrainerCallback``s; ``overrides`` set any other ``GRPOConfig`` field (one that this
    function's own arguments govern, such as ``num_generations``, is refused: the batch is built
    from ``group_size``)."""
    import dataclasses
    import tempfile

    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    from . import recipes
    from .core.progress import bar_only_progress

    fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    for name in overrides:
        if name in GOVERNED:
            raise ValueError(
                f"override {name}={overrides[name]!r}: set by train()'s {GOVERNED[name]!r} "
                "argument (the batch and the groups are built from it); pass that instead"
            )
        if name not in fields:
            raise ValueError(f"override {name}={overrides[name]!r}: GRPOConfig has no such field")
    args = recipes.trainer_arguments(
        GRPOConfig,
        profile,
        output_dir=tempfile.mkdtemp(),
        steps=steps,
        batch_size=prompts_per_step * group_size,
        accumulation=1,
        learning_rate=learning_rate,
        warmup=0,
        seed=seed,
        **(
            dict(
                num_generations=group_size,
                beta=beta,
                epsilon=epsilon,
                max_completion_length=max_completion_length,
                temperature=temperature,
                logging_steps=1,
            )
            | overrides
        ),
    )
    torch.manual_seed(seed)  # the adapter's start: peft builds it before the trainer seeds itself
    if isinstance(model, str):
        model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
    adapter = recipes.lora_config(lora_rank, 2 * lora_rank, targets="all-linear")
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=None if hasattr(model, "peft_config") else adapter,
        callbacks=list(callbacks),
    )
    bar_only_progress(trainer)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    history = [h for h in trainer.state.log_history if "step" in h and "reward" in h]
    return Run(trainer, history, seconds)


#: GRPOConfig fields that ``train``'s own arguments set: field -> argument.
GOVERNED = {
    "num_generations": "group_size",
    "per_device_train_batch_size": "prompts_per_step",
    "gradient_accumulation_steps": "prompts_per_step",
    "max_steps": "steps",
    "learning_rate": "learning_rate",
    "seed": "seed",
    "beta": "beta",
    "epsilon": "epsilon",
    "max_completion_length": "max_completion_length",
    "temperature": "temperature",
}


@torch.no_grad()
def kl_per_reply_to_reference(
    model, tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int = 16
) -> float:
    """How far the policy has moved from the reference (its adapter switched off), measured on
    its own replies to ``prompts`` (one sampled each, from the whole distribution at
    temperature 1): the mean over the replies of their summed per-token KL estimates
    (``per_token_kl``), an estimate of KL(pi || pi_ref) per reply that is never negative."""
    model.eval()
    device = next(model.parameters()).device
    stops = model.generation_config.eos_token_id
    stops = torch.tensor([stops] if isinstance(stops, int) else list(stops), device=device)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    totals = []
    try:
        for start in range(0, len(prompts), batch_size):
            chats = [
                tokenizer.apply_chat_template(
                    [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
                )
                for p in prompts[start : start + batch_size]
            ]
            enc = tokenizer(chats, padding=True, return_tensors="pt", add_special_tokens=False)
            enc = enc.to(device)
            out = model.generate(**enc, max_new_tokens=max_new_tokens, **SAMPLING)
            completion = out[:, enc["input_ids"].size(1) :]
            # the reply's tokens: up to and including its first end-of-sequence token
            is_stop = torch.isin(completion, stops).int()
            mask = ((is_stop.cumsum(dim=1) - is_stop) == 0).float()
            args = (enc["input_ids"], enc["attention_mask"], completion, mask.long())
            logps = per_token_logps(model, *args)
            with model.disable_adapter():
                ref_logps = per_token_logps(model, *args)
            totals += (per_token_kl(logps, ref_logps) * mask).sum(dim=1).tolist()
    finally:
        tokenizer.padding_side = side
    return sum(totals) / len(totals)


# ----- notebook 07's task, measurements and figure ---------------------------------------------


def kind_split(seed: int, held_out_per_category: int) -> dict[str, list[tuple[str, str]]]:
    """The mini world's ``kind`` task ("What kind of thing is a pear?") split by *content*, not
    by phrasing: ``held_out_per_category`` words of each category, drawn with ``seed``, never
    appear in training, in any phrasing. Returns {"train": [...], "test": [...]} of
    (prompt, answer): every phrasing of every word of the split, in a fixed order."""
    import random

    from .mini import tasks, vocabulary

    fewest = min(len(words) for words in vocabulary.CATEGORIES.values())
    if not 1 <= held_out_per_category < fewest:
        raise ValueError(
            f"held_out_per_category = {held_out_per_category}: must be 1 to {fewest - 1} (a "
            f"category has {fewest} words and at least one must stay in training)"
        )
    rng = random.Random(f"kind-words/{seed}")
    split: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    for category, words in sorted(vocabulary.CATEGORIES.items()):
        held = set(rng.sample(words, held_out_per_category))
        for word in words:
            for phrasing in tasks.get_task("kind").phrasings:
                side = "test" if word in held else "train"
                split[side].append((phrasing.format(word=word), category))
    return split


def chat_dataset(prompts: Sequence[str], answers: Sequence[str], seed: int):
    """A ``GRPOTrainer`` dataset: each prompt as a one-turn chat with its ``answer`` column,
    shuffled with ``seed``."""
    from datasets import Dataset

    rows = Dataset.from_dict(
        {"prompt": [[{"role": "user", "content": p}] for p in prompts], "answer": list(answers)}
    )
    return rows.shuffle(seed=seed)


def greedy_accuracy(
    model, tokenizer, prompts: Sequence[str], answers: Sequence[str], reward, max_new_tokens: int
) -> tuple[float, list[str]]:
    """The mean ``reward`` of the greedy replies to ``prompts``, and the replies."""
    from .core.evaluation import generate_answers

    model.eval()
    replies = generate_answers(model, tokenizer, prompts, max_new_tokens=max_new_tokens)
    return sum(reward(replies, list(answers))) / len(replies), replies


def sampled_rewards(
    model,
    tokenizer,
    prompts: Sequence[str],
    answers: Sequence[str],
    reward,
    k: int,
    max_new_tokens: int,
    seed: int,
):
    """``k`` replies sampled at temperature 1 (from the whole distribution) to each prompt, and
    their rewards as a (prompts, k) tensor: the replies of a prompt sit next to each other."""
    from .core.evaluation import generate_replies

    torch.manual_seed(seed)
    model.eval()
    replies = generate_replies(
        model, tokenizer, list(prompts), max_new_tokens=max_new_tokens, samples=k
    )
    scores = reward([r.text for r in replies], [a for a in answers for _ in range(k)])
    return replies, torch.tensor(scores).reshape(len(prompts), k)


def sampled_accuracy(
    model,
    tokenizer,
    prompts: Sequence[str],
    answers: Sequence[str],
    reward,
    k: int,
    max_new_tokens: int,
    seed: int,
) -> dict[str, float]:
    """Before or after training, on ``prompts``: the greedy reply's accuracy; pass@1 and pass@k
    (Chen et al.'s estimate) from ``k`` replies sampled at temperature 1; the share of those
    groups of k that scored all alike (no signal for GRPO); the share of empty replies."""
    settings = (reward, k, max_new_tokens, seed)
    replies, rewards = sampled_rewards(model, tokenizer, prompts, answers, *settings)
    correct = (rewards > 0).sum(dim=1).tolist()
    return {
        "greedy": greedy_accuracy(model, tokenizer, prompts, answers, reward, max_new_tokens)[0],
        "pass@1": sum(pass_at_k(c, k, 1) for c in correct) / len(correct),
        f"pass@{k}": sum(pass_at_k(c, k, k) for c in correct) / len(correct),
        "no-signal groups": no_signal_share(rewards.flatten(), k),
        "empty replies": sum(not r.text.strip() for r in replies) / len(replies),
    }


def pass_at_k_by_answer(
    model,
    tokenizer,
    prompts: Sequence[str],
    answers: Sequence[str],
    reward,
    k: int,
    max_new_tokens: int,
    seed: int,
) -> dict[str, float]:
    """pass@k (from ``k`` replies sampled at temperature 1 to each prompt) averaged over the
    prompts of each distinct answer: 0 for an answer that no sample of its prompts found."""
    settings = (reward, k, max_new_tokens, seed)
    _, rewards = sampled_rewards(model, tokenizer, prompts, answers, *settings)
    found = [pass_at_k(c, k, k) for c in (rewards > 0).sum(dim=1).tolist()]
    return by_answer(found, answers, lambda values, _: values)


def by_answer(replies: Sequence, answers: Sequence[str], reward) -> dict[str, float]:
    """The mean ``reward`` of ``replies`` for each distinct answer (a category, in mini)."""
    scores: dict[str, list[float]] = {}
    for answer, score in zip(answers, reward(list(replies), list(answers)), strict=True):
        scores.setdefault(answer, []).append(score)
    return {answer: sum(s) / len(s) for answer, s in sorted(scores.items())}


def lora_b_largest(model) -> float:
    """The largest magnitude in the adapter's B matrices: 0 until a step has moved them (LoRA
    starts with B = 0, so that the adapter adds nothing)."""
    return max(p.detach().abs().max().item() for n, p in model.named_parameters() if "lora_B" in n)


def first_batch_with_signal(
    trainer, dataset, prompts_per_step: int, seed: int, tries: int = 10
) -> tuple[list[dict], dict]:
    """The first run of ``prompts_per_step`` prompts of ``dataset`` on which TRL's sampled batch
    (``trl_batch``) has some group with right and wrong replies: (the rows, the batch). A batch
    without any would compare two zero losses: after ``tries`` such batches, says so and returns
    the last (a model that never solves the task, such as a t4 stand-in)."""
    group_size = trainer.args.num_generations
    for attempt in range(tries):
        first = attempt * prompts_per_step
        rows = [
            {"prompt": dataset[i]["prompt"], "answer": dataset[i]["answer"]}
            for i in range(first, first + prompts_per_step)
            for _ in range(group_size)
        ]
        batch = trl_batch(trainer, rows, seed=seed + attempt)
        if batch["advantages"].abs().max() > 0:
            break
    else:
        print(f"no batch with signal in {tries} tries: the comparison is of zero advantages")
    return rows, batch


#: The curves notebook 07 draws of each run: TRL's logged key, the panel's title, its y label.
CURVES = (
    ("reward", "mean reward of the sampled replies", "reward"),
    ("kl", "KL from the reference (per token)", "KL per token"),
    ("completions/mean_length", "reply length (tokens)", "tokens"),
    ("frac_reward_zero_std", "share of groups with no signal", "share of groups"),
)


def plot_training_curves(runs: dict[int, Run], steps: int, max_length: int):
    """One panel per logged metric of ``CURVES`` (TRL logs no KL when beta is 0), a line per
    seed, each a rolling mean over 5 steps; the reply length's axis runs from 0 to
    ``max_length``; ``steps``, the runs' steps, goes in the title. Returns the figure."""
    import matplotlib.pyplot as plt
    import pandas as pd

    panels = [c for c in CURVES if all(r.series(c[0])[1] for r in runs.values())]
    rows = (len(panels) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(9, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (key, name, unit) in zip(axes.flat, panels, strict=False):
        for seed, run in runs.items():
            at, values = run.series(key)
            ax.plot(at, pd.Series(values).rolling(5, min_periods=1).mean(), label=f"seed {seed}")
        ax.set(title=name, xlabel="step", ylabel=unit)
        if key == "completions/mean_length":
            ax.set_ylim(0, max_length)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=10)
    fig.suptitle(f"GRPOTrainer, {steps} steps (each curve a rolling mean over 5 steps)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def loophole_use(replies: Sequence[str], answers: Sequence[str], exact) -> dict[str, float]:
    """How a policy's ``replies`` fare: the ``exact`` checker's accuracy, the share of replies
    the lenient checker (``part_of_answer``) accepts and the exact one rejects (the loophole
    used), and the share of empty replies."""
    right = exact(list(replies), list(answers))
    used = [
        part_of_answer(reply, answer) and not ok
        for reply, answer, ok in zip(replies, answers, right, strict=True)
    ]
    return {
        "exact accuracy": sum(right) / len(right),
        "loophole used": sum(used) / len(used),
        "empty replies": sum(not r.strip() for r in replies) / len(replies),
    }


def plot_beta_sweep(sweep, steps: int):
    """Held-out accuracy against the drift (KL per reply), one open marker per run (index:
    beta, seed), a shape and colour per beta, so that runs on the same point stay visible;
    ``steps``, the runs' steps, goes in the title."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for i, (beta, runs) in enumerate(sweep.groupby(level="beta")):
        ax.scatter(
            runs["KL per reply"],
            runs["held-out accuracy"],
            label=f"β = {beta:g}",
            marker="os^vD"[i % 5],
            s=70,
            facecolors="none",
            edgecolors=f"C{i}",
        )
    seeds = sweep.index.get_level_values("seed").nunique()
    ax.set(xlabel="KL from the reference per reply", ylabel="held-out accuracy")
    per_beta = f"{seeds} seed{'s' * (seeds > 1)} per β"
    ax.set_title(f"held-out accuracy vs drift (KL per reply)\n{steps} steps, {per_beta}")
    ax.margins(0.12)
    ax.legend(fontsize=10)
    fig.tight_layout()
    return fig


# @lesson notebooks/07_grpo.ipynb cell=07-rewards sha256=c59dc6ff43e9
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
def numbers(text: str) -> list[float]:
    """Every number in ``text``, in order ("1,250" is 1250)."""
    return [float(n.replace(",", "")) for n in re.findall(r"-?\d[\d,]*(?:\.\d+)?", text)]


def final_number(text: str) -> float | None:
    """The answer's number: the first after '####' if there is one, else the last in ``text``."""
    found = numbers(text.split("####", 1)[1])[:1] if "####" in text else numbers(text)[-1:]
    return found[0] if found else None


def exact_answer(completions, answer, **kwargs) -> list[float]:
    """1.0 where the reply is the answer (case and surrounding spaces aside), else 0.0."""
    replies = reply_texts(completions)
    return [
        float(r.strip().lower() == a.strip().lower()) for r, a in zip(replies, answer, strict=True)
    ]


def numeric_answer(completions, answer, **kwargs) -> list[float]:
    """1.0 where the reply's final number equals the reference's, else 0.0."""
    replies = reply_texts(completions)
    return [
        float(final_number(r) is not None and final_number(r) == final_number(a))
        for r, a in zip(replies, answer, strict=True)
    ]


# @end-lesson
# @lesson notebooks/07_grpo.ipynb cell=07-41 sha256=d5b51cbe9132
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
def part_of_answer(reply: str, answer: str) -> bool:
    """The lenient checker: right when the reply is part of the answer (meant to accept "veg"
    for "vegetable"; for a worked solution ending in '####', when the reply's final number
    appears anywhere in it). The empty reply is part of every answer."""
    if "####" in answer:
        return final_number(reply) in numbers(answer)
    return reply.strip().lower() in answer.lower()


def brevity_reward(penalty: float, close_loophole: bool):
    """A reward function for TRL: the lenient checker's verdict (1 or 0) minus ``penalty`` per
    word of the reply. With ``close_loophole``, an empty reply fails the checker and pays the
    penalty of one word, as a one-word wrong reply does."""

    def reward(completions, answer, **kwargs) -> list[float]:
        scores = []
        for reply, right in zip(reply_texts(completions), answer, strict=True):
            words = len(reply.split())
            passed = part_of_answer(reply, right) and (words > 0 or not close_loophole)
            charged = max(words, 1) if close_loophole else words
            scores.append(float(passed) - penalty * charged)
        return scores

    reward.__name__ = "control_reward" if close_loophole else "loophole_reward"
    return reward


# @end-lesson


def run_with(settings, tokenizer, dataset, reward, *, model=None, dtype=None, **changes) -> Run:
    """``train`` with a notebook's ``settings`` (notebook 07's ``cfg``: MODEL, TRAIN_STEPS,
    PROMPTS_PER_STEP, NUM_GENERATIONS, LEARNING_RATE, BETA, EPSILON, MAX_COMPLETION_TOKENS,
    LORA_RANK, its profile and seed) on ``dataset`` with ``reward``; ``changes`` replace any of
    ``train``'s keyword arguments (``seed``, ``steps``, ``group_size``, ``beta``...) or add
    ``GRPOConfig`` fields. ``model`` (default: a fresh copy of MODEL in ``dtype``)."""
    arguments = dict(
        seed=settings.seed,
        steps=settings.TRAIN_STEPS,
        prompts_per_step=settings.PROMPTS_PER_STEP,
        group_size=settings.NUM_GENERATIONS,
        learning_rate=settings.LEARNING_RATE,
        beta=settings.BETA,
        epsilon=settings.EPSILON,
        max_completion_length=settings.MAX_COMPLETION_TOKENS,
        lora_rank=settings.LORA_RANK,
        dtype=dtype,
    )
    model = settings.MODEL if model is None else model
    return train(model, tokenizer, dataset, reward, settings.profile, **(arguments | changes))


def grpo_with_unsloth(settings, dataset, reward, prompts: Sequence[str], answers: Sequence[str]):
    """Notebook 07's run the way Unsloth's GRPO notebooks do it, on a CUDA GPU with Unsloth: the
    model in 4 bits with LoRA on the seven projections (``qlora.unsloth_lora_model``), 8-bit
    AdamW, the same ``GRPOTrainer`` and ``settings``. Returns the run's minutes, the GPU memory
    it added (GB) and the greedy replies' mean ``reward`` on ``prompts``."""
    from transformers import TrainerCallback
    from unsloth import FastLanguageModel

    from . import qlora

    class TrainablesInFloat32(TrainerCallback):
        """TRL casts a quantized model's adapter to bfloat16; a T4 trains in float16, whose
        gradient scaler refuses bfloat16 gradients."""

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            qlora.keep_trainables_in_float32(model)

    held = torch.cuda.memory_allocated()  # what earlier sections still hold
    torch.cuda.reset_peak_memory_stats()
    rank = settings.LORA_RANK
    fast, fast_tokenizer = qlora.unsloth_lora_model(
        settings.MODEL, 1024, rank, 2 * rank, settings.seed
    )
    run = run_with(
        settings,
        fast_tokenizer,
        dataset,
        reward,
        model=fast,
        callbacks=[TrainablesInFloat32()],
        optim="adamw_8bit",
        gradient_checkpointing=False,  # Unsloth's own checkpointing is on
    )
    added_gb = (torch.cuda.max_memory_allocated() - held) / 1024**3
    FastLanguageModel.for_inference(fast)
    accuracy = greedy_accuracy(
        fast, fast_tokenizer, prompts, answers, reward, settings.MAX_COMPLETION_TOKENS
    )[0]
    return {"minutes": run.seconds / 60, "added GPU GB": added_gb, "held-out accuracy": accuracy}


# ----- the pieces scripts/grpo.py takes: rewards by name, prompts, sampling that splits -------

#: The verifiable rewards by name (the lesson functions' names, looked up when a script runs, so
#: that an edited lesson cell reaches them): ``exact`` for the mini world's one-word answers,
#: ``numeric`` for GSM8K's.
REWARDS = {"exact": "exact_answer", "numeric": "numeric_answer"}

#: What a GSM8K prompt asks for besides the question: where the answer goes.
GSM8K_INSTRUCTION = " Give the final answer after '####'."


def task_rows(profile: str, seed: int, n: int = 4000) -> list[dict[str, str]]:
    """Training prompts with a checkable answer (``question``, ``answer``): in ``mini``, ``n``
    examples of the mini world's ``kind`` task (one word: fruit, tool...); in ``t4``, GSM8K's
    training split, each question followed by where to put the final number."""
    if profile == "mini":
        from .mini import tasks

        return [
            {"question": e.prompt, "answer": e.target}
            for e in tasks.examples("kind", "train", n, seed)
        ]
    return [{"question": q, "answer": a} for q, a in gsm8k_rows("train")]


def gsm8k_rows(split: str) -> list[tuple[str, str]]:
    """GSM8K's ``split`` as (question followed by where to put the final number, worked answer
    ending in '#### n') pairs: notebook 07's t4 task and scripts/grpo.py's."""
    from . import data

    gsm8k = data.hub_dataset(
        "openai/gsm8k",
        "GSM8K, 8.5k grade-school maths problems",
        "use the mini profile (PROFILE='mini').",
        "main",
    )
    return [(r["question"] + GSM8K_INSTRUCTION, r["answer"]) for r in gsm8k[split]]


class SeededSampling:
    """A logits processor that samples each reply from noise of its own: the token at position
    ``t`` of the reply in row ``first_row + i`` of the global batch, in generation round
    ``round``, is drawn by the Gumbel-max trick (the argmax of the logits / temperature plus
    Gumbel noise is a draw from their softmax) with noise seeded by (seed, round, row, t). A
    reply is then the same whichever process samples it and whatever else shares its batch (up
    to rounding in the logits, which padding can change), which one random stream per process
    cannot give. It returns scores that leave only the drawn
    token, so the sampler after it (``multinomial``) takes that token with probability 1."""

    def __init__(self, seed: int, round: int, first_row: int, temperature: float = 1.0):
        self.seed, self.round, self.first_row = seed, round, first_row
        self.temperature = temperature
        self.position = 0

    def noise(self, rows: int, width: int, device) -> torch.Tensor:
        """Gumbel noise, one row of ``width`` per reply, at the current position."""
        import numpy as np

        draws = []
        for row in range(self.first_row, self.first_row + rows):
            key = [self.seed, self.round, row, self.position]
            state = int(np.random.SeedSequence(key).generate_state(1, np.uint64)[0] >> 1)
            generator = torch.Generator(device=device).manual_seed(state)
            draws.append(torch.rand(width, generator=generator, device=device))
        uniform = torch.stack(draws).clamp(min=torch.finfo(torch.float32).tiny)
        return -torch.log(-torch.log(uniform))

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        noise = self.noise(scores.size(0), scores.size(1), scores.device)
        self.position += 1
        drawn = (scores.float() / self.temperature + noise).argmax(dim=-1, keepdim=True)
        only = torch.full_like(scores, float("-inf"))
        return only.scatter_(1, drawn, 0.0)


def seeded_sampling_trainer():
    """``GRPOTrainer`` with each reply sampled by ``SeededSampling``: the replies, and so the
    rewards, losses and updates, are the same whether one process samples a global batch or
    several processes sample its shards (each its own rows, in the same order). The round is
    the optimizer step, so a run resumed from a checkpoint samples what it would have."""
    import functools

    from transformers import LogitsProcessorList
    from trl import GRPOTrainer

    class SeededGRPOTrainer(GRPOTrainer):
        def _generate_single_turn(self, prompt_ids, *args, **kwargs):
            sampling = SeededSampling(
                self.args.seed,
                self.state.global_step,
                self.accelerator.process_index * len(prompt_ids),
                self.temperature,
            )
            model = self.accelerator.unwrap_model(self.model_wrapped)
            model.generate = functools.partial(
                model.generate, logits_processor=LogitsProcessorList([sampling])
            )
            try:
                return super()._generate_single_turn(prompt_ids, *args, **kwargs)
            finally:
                del model.generate

    return SeededGRPOTrainer

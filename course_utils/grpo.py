"""Reinforcement learning from rewards: GRPO from scratch (notebook 07).

GRPO (Shao et al., 2024, DeepSeekMath) samples a *group* of completions for each prompt, scores
each with a reward function, and uses the group as its own baseline: a completion's advantage is
its reward against the mean of its group's, divided by the group's spread. No value model is
trained. The policy then takes PPO's clipped step on every completion token, optionally held near
a reference model by a KL penalty. A test checks these functions against TRL's ``GRPOTrainer``
on the same prompts, completions and rewards.

The first four functions are notebook 07's lesson code (its ``# @save`` cells are their source).
"""

from __future__ import annotations

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
    (differentiable with respect to the model) and the mean per-token KL estimate."""
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
    mask = inputs["completion_mask"].float()
    value = grpo_loss(
        logps,
        logps.detach() if old_logps is None else old_logps,
        ref_logps,
        advantages,
        mask,
        args.beta,
        args.epsilon,
    )
    kl = torch.zeros(()) if ref_logps is None else masked_mean(per_token_kl(logps, ref_logps), mask)
    return {"rewards": reward, "advantages": advantages, "loss": value, "kl": kl.detach()}


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
    }


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

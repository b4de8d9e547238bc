"""RLHF against a learned reward model: best-of-n sampling and its KL from scratch (notebook 08),
and the measurements that put best-of-n, GRPO against the reward model and DPO on one KL axis.

Best-of-n draws n replies from a policy, scores each with the reward model and keeps the
highest-scored: no training at all. Its distance from the sampling policy has a closed form,
KL = log n - (n - 1) / n nats (Stiennon et al., 2020; Gao et al., 2023), exact in the limit where
no single reply has appreciable probability and an upper bound otherwise (Beirami et al., 2024):
with few replies the same reply is often drawn twice among the n. ``best_of_n_distribution`` gives
the exact distribution for a categorical policy, against which a test checks both the formula
and a Monte-Carlo simulation. TRL 1.14 has no best-of-n sampler (the 0.x releases' was removed).

Around the lesson: each kept adapter of a run (``recipes.adapter_snapshots``) measured the same
way (KL per reply from the reference, the reward model's score of the greedy replies and, in the
mini world, the true preference: the share of replies in the preferred form and right), and two
runs read at matched KL from real kept points only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

TRUTH_PICK = "preferred form, picked by the truth"
COST_COLUMNS = [
    "seconds",
    "seconds with the reward model",
    "training steps",
    "replies sampled in training",
    "replies sampled per answer",
    "networks in memory",
]

# ----- around the lesson: a policy's points, best-of-n's table ---------------------------------


def measure_point(
    model,
    tokenizer,
    reward_model,
    prompts: Sequence[str],
    chosen: Sequence[str] | None,
    chosen_scores: torch.Tensor,
    max_new_tokens: int,
    seed: int,
) -> tuple[dict[str, float], list[str]]:
    """One point of a run: the KL per reply from the reference (``grpo.kl_per_reply_to_reference``,
    one sampled reply per prompt), the reward model's mean score of the greedy replies and, where
    the ``chosen`` answers are checkable (the mini world; else None), the true preference
    (``preference.style_rates``) and the share of replies the reward model over-scores: not the
    chosen answer, yet scored at least as high as it. Returns the row and the greedy replies."""
    from . import grpo, preference
    from .core.evaluation import generate_replies

    torch.manual_seed(seed)
    kl = grpo.kl_per_reply_to_reference(model, tokenizer, prompts, max_new_tokens, batch_size=64)
    replies = generate_replies(model, tokenizer, prompts, max_new_tokens, batch_size=64)
    texts = [r.text for r in replies]
    scores = preference.reward_scores(reward_model, tokenizer, prompts, texts, True, 64)
    row = {"KL per reply": kl, "reward-model score": scores.mean().item()}
    if chosen is not None:
        row |= truth(replies, chosen, scores, chosen_scores)
    return row, texts


def truth(replies: Sequence, chosen: Sequence[str], scores, chosen_scores) -> dict[str, float]:
    """What the reward model stands in for, in the mini world: the share of ``replies``
    (``evaluation.Reply``) in the preferred form, the share right, and the share over-scored
    (not the chosen answer, yet ``scores`` at least its ``chosen_scores``)."""
    from . import preference

    rates = preference.style_rates(replies, chosen)
    fooled = [
        r.text.strip() != c.strip() and s >= cs
        for r, c, s, cs in zip(
            replies, chosen, scores.tolist(), chosen_scores.tolist(), strict=True
        )
    ]
    return {
        "preferred form": rates["preferred_form"],
        "correct": rates["correct"],
        "over-scored": sum(fooled) / len(fooled),
    }


def measured_run(model, snapshots, measure: Callable, thin_after: int | None = None):
    """``measure(model)`` (a row and the replies) at every kept adapter of a run, the start (step
    0, the adapter all zero: the model it started from) first; past step ``thin_after``, only at
    every fifth kept point and the last. Returns a table indexed by step and {step: replies}."""
    import pandas as pd

    steps = sorted(snapshots.states)
    if thin_after is not None:
        late = [s for s in steps if s > thin_after]
        steps = [s for s in steps if s <= thin_after] + late[4::5] + late[-1:]
    rows, replies = {}, {}
    for step in sorted(set(steps)):
        snapshots.restore(model, step)
        rows[step], replies[step] = measure(model)
    return pd.DataFrame(rows).T.rename_axis("step"), replies


def sample_and_score(
    model, tokenizer, reward_model, prompts: Sequence[str], n: int, max_new_tokens: int, seed: int
):
    """``n`` replies sampled (temperature 1) for each of ``prompts``, about 128 at a time (a T4's
    memory), each scored by ``reward_model``. Returns the replies (``evaluation.Reply``, each
    prompt's next to each other) and their scores, prompts x n."""
    from . import preference
    from .core.evaluation import generate_replies

    torch.manual_seed(seed)
    batch = max(1, 128 // n)
    samples = generate_replies(
        model, tokenizer, prompts, max_new_tokens, batch_size=batch, samples=n
    )
    asked = [p for p in prompts for _ in range(n)]
    texts = [s.text for s in samples]
    scores = preference.reward_scores(reward_model, tokenizer, asked, texts, True, 64)
    return samples, scores.reshape(len(prompts), n)


def best_of_n_table(
    samples: Sequence,
    scores: torch.Tensor,
    ns: Sequence[int],
    chosen: Sequence[str] | None,
    chosen_scores: torch.Tensor,
):
    """Best-of-n for each n of ``ns`` from one set of ``samples`` (``evaluation.Reply``, each
    prompt's samples next to each other; ``scores``: the reward model's, prompts x samples):
    the KL bound, the picks' mean reward-model score and, with ``chosen``, their true preference
    (``truth``) and the ceiling that the samples allow: best-of-n with the truth as the score (1
    for the chosen answer, exactly matched, else 0), column ``TRUTH_PICK``. Returns the table
    (indexed by n) and {n: the picks' texts}."""
    import pandas as pd

    width = scores.shape[1]
    if chosen is not None:
        texts = [s.text.strip() for s in samples]
        right = torch.tensor(
            [
                [float(texts[i * width + j] == c.strip()) for j in range(width)]
                for i, c in enumerate(chosen)
            ]
        )
    rows, picked = {}, {}
    for n in ns:
        index = best_of_n(scores, n)
        picks = [samples[i * width + j] for i, j in enumerate(index.tolist())]
        best = scores.gather(1, index.unsqueeze(1)).squeeze(1)
        rows[n] = {"KL per reply": best_of_n_kl(n), "reward-model score": best.mean().item()}
        if chosen is not None:
            rows[n] |= truth(picks, chosen, best, chosen_scores)
            rows[n][TRUTH_PICK] = right.gather(1, best_of_n(right, n)[:, None]).mean().item()
        picked[n] = [p.text for p in picks]
    return pd.DataFrame(rows).T.rename_axis("n"), picked


def monte_carlo_best_of_n(
    probs: torch.Tensor, rewards: torch.Tensor, n: int, draws: int, seed: int
) -> torch.Tensor:
    """The distribution of best-of-n estimated by simulation: ``draws`` times, sample n outcomes
    of the categorical ``probs`` and keep the one with the highest of ``rewards``."""
    generator = torch.Generator().manual_seed(seed)
    drawn = torch.multinomial(probs.expand(draws, -1), n, replacement=True, generator=generator)
    kept = drawn.gather(1, rewards[drawn].argmax(dim=1, keepdim=True)).squeeze(1)
    return torch.bincount(kept, minlength=probs.numel()).float() / draws


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> float:
    """KL(p || q) in nats between two categorical distributions (0 log 0 = 0)."""
    kept = p > 0
    return (p[kept] * (p[kept] / q[kept]).log()).sum().item()


# ----- two runs at matched KL ----------------------------------------------------------------


def matched_points(grpo_points, dpo_points, metrics: Sequence[str]):
    """The two runs compared at the same distance from the reference, from real kept points only:
    for each trained GRPO point, DPO's run read where its path first reached the same KL, on the
    straight line between the two consecutive kept DPO points around it, both trained (a KL below
    DPO's first trained point, or above any it reached, is left out, so no comparison leans on
    the start). Returns one row per compared GRPO point: the KL, both steps, both runs' metrics
    (DPO's labelled "(interpolated)")."""
    import pandas as pd

    path = dpo_points.sort_index()
    kls, steps = path["KL per reply"].tolist(), path.index.tolist()
    rows = []
    for step, point in grpo_points.iterrows():
        kl = point["KL per reply"]
        if step == 0:
            continue
        for i in range(1, len(steps) - 1):  # pairs of trained points, in step order
            low, high = kls[i], kls[i + 1]
            if min(low, high) <= kl <= max(low, high):
                share = 0.0 if high == low else (kl - low) / (high - low)
                row = {
                    "KL per reply": kl,
                    "GRPO step": step,
                    "DPO steps": f"{steps[i]}-{steps[i + 1]}",
                }
                for metric in metrics:
                    row[f"GRPO {metric}"] = point[metric]
                    dpo = path[metric].iloc[i] + share * (
                        path[metric].iloc[i + 1] - path[metric].iloc[i]
                    )
                    row[f"DPO {metric} (interpolated)"] = dpo
                rows.append(row)
                break
    return pd.DataFrame(rows)


def plot_over_optimisation(
    curves: dict,
    metrics: Sequence[str],
    xlabel: str = "√(KL per reply from the start, nats)",
    chosen_score: float | None = None,
    marks: dict[str, float] | None = None,
):
    """Gao et al.'s picture: each of ``metrics`` (the reward model's score, then the true
    preference) against the square root of the KL from the start, one series of markers per run
    of ``curves`` ({label: table with a "KL per reply" column}), unconnected (a run's KL estimate
    is noisy, so its steps need not move right); a table's ``TRUTH_PICK`` column joins the
    preferred-form panel as "the truth's picks". A dashed line at the chosen answers' mean score
    (``chosen_score``), dotted ones at the KLs of ``marks`` ({label: KL}); one legend below."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(metrics), figsize=(3.4 * len(metrics), 3.6), layout="constrained", squeeze=False
    )
    for ax, metric in zip(axes[0], metrics, strict=True):
        for (label, points), marker in zip(curves.items(), "o^s", strict=False):
            series = [(label, metric, marker)]
            if metric == "preferred form" and TRUTH_PICK in points:
                series.append(("the truth's picks", TRUTH_PICK, "*"))
            x = points["KL per reply"].clip(lower=0) ** 0.5
            for name, column, style in series:
                ax.plot(x, points[column], style, markersize=6, alpha=0.8, label=name)
        if chosen_score is not None and metric == "reward-model score":
            ax.axhline(chosen_score, color="grey", linestyle="--", label="chosen answers' mean")
        for label, kl in (marks or {}).items():
            ax.axvline(max(kl, 0) ** 0.5, color="black", linestyle=":", label=label)
        ax.set(xlabel=xlabel, title=metric)
        if metric != "reward-model score":
            ax.set(ylim=(0, 1), ylabel="share of held-out replies")
    axes[0][0].set_ylabel("mean reward-model score")
    legend = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    fig.legend(legend.values(), legend.keys(), loc="outside lower center", ncols=4, fontsize=10)
    return fig


def fooling_replies(prompts, chosen, replies, scores, chosen_scores, limit: int = 8):
    """Replies that are not the chosen answer yet score at least as high as it, as a table."""
    import pandas as pd

    rows = [
        {"prompt": p, "chosen": c, "chosen's score": cs, "reply": r, "reply's score": s}
        for p, c, r, s, cs in zip(
            prompts, chosen, replies, scores.tolist(), chosen_scores.tolist(), strict=True
        )
        if r.strip() != c.strip() and s >= cs
    ]
    return pd.DataFrame(rows[:limit])


# @lesson notebooks/08_rlhf.ipynb cell=08-09 sha256=04420209186e
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
def best_of_n(scores: torch.Tensor, n: int) -> torch.Tensor:
    """For each prompt (a row of ``scores``: the reward model's score of each sampled reply, in
    the order drawn), the index of the highest-scored of its first ``n`` replies."""
    if not 1 <= n <= scores.shape[1]:
        raise ValueError(f"n = {n}: from 1 to the {scores.shape[1]} samples drawn per prompt")
    return scores[:, :n].argmax(dim=1)


def best_of_n_kl(n: int) -> float:
    """KL(best-of-n || the sampling policy) in nats, log n - (n - 1) / n: exact in the limit
    where no single reply has appreciable probability, an upper bound otherwise."""
    return math.log(n) - (n - 1) / n


def best_of_n_distribution(probs: torch.Tensor, rewards: torch.Tensor, n: int) -> torch.Tensor:
    """The exact distribution of best-of-n for a categorical policy ``probs`` over replies with
    distinct ``rewards``: reply y is kept when all n draws score at most r(y), but not all
    below it, F(y)^n - F(y-)^n, with F the policy's probability of scoring at most."""
    order = rewards.argsort()
    at_most = probs[order].cumsum(0)
    below = at_most - probs[order]
    return torch.zeros_like(probs).scatter(0, order, at_most**n - below**n)


# @end-lesson

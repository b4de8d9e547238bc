"""LoRA from first principles (taught in notebook 04).

A fine-tuning update dW of a weight matrix W (d_out x d_in) can be low rank: dW = B·A with
B (d_out x r) and A (r x d_in), r much smaller than both. The layer computes

    W x + (alpha / r) · B A x

with W frozen and only A and B trained. B starts at zero, so training starts from the base model
exactly; alpha / r scales the update (rsLoRA uses alpha / sqrt(r), so that large ranks are not
scaled down to a crawl). Once trained, B·A can be added into W: the merged layer is an ordinary
linear layer, and inference costs nothing extra. Tests check every piece against peft.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    import pandas as pd


# @lesson notebooks/04_lora_rank_alpha_sweeps.ipynb cell=04-75ff35fb sha256=931b74422036
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update B·A, scaled."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, rslora: bool = False) -> None:
        super().__init__()
        self.base = base
        for parameter in base.parameters():
            parameter.requires_grad_(False)
        self.scaling = alpha / math.sqrt(rank) if rslora else alpha / rank
        self.A = nn.Parameter(torch.empty(rank, base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, rank))  # zero: starts at the base
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # as nn.Linear and peft initialise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scaling * (x @ self.A.T @ self.B.T)

    def delta_weight(self) -> torch.Tensor:
        """The update this layer adds to W: (alpha / r) · B·A, of W's shape."""
        return self.scaling * self.B @ self.A

    def merged(self) -> nn.Linear:
        """An ordinary linear layer computing the same thing: W + (alpha / r) · B·A."""
        layer = copy.deepcopy(self.base)
        with torch.no_grad():
            layer.weight += self.delta_weight().to(layer.weight.dtype)
        return layer


# @end-lesson


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def add_lora(
    model: nn.Module,
    targets: Sequence[str],
    rank: int,
    alpha: float,
    rslora: bool = False,
    layer: type[nn.Module] | None = None,
) -> dict[str, nn.Module]:
    """Freeze ``model`` and wrap every ``nn.Linear`` whose name ends in one of ``targets``
    ("q", "v", "q_proj", ...) with ``layer`` (by default ``LoRALinear``, the one in use);
    returns the wrappers by module name."""
    layer = layer or LoRALinear
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    chosen = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and name.rpartition(".")[2] in targets
    ]
    if not chosen:
        raise ValueError(f"no linear layer of the model is named any of {list(targets)}")
    wrappers = {}
    for name, module in chosen:
        wrappers[name] = layer(module, rank, alpha, rslora)
        _replace(model, name, wrappers[name])
    return wrappers


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every LoRA layer of ``model`` (a module with a ``merged()`` method, as
    ``LoRALinear``) by its merged linear layer, in place."""
    wrapped = [(n, m) for n, m in model.named_modules() if callable(getattr(m, "merged", None))]
    for name, module in wrapped:
        _replace(model, name, module.merged())
    return model


# ----- counting from a configuration ----------------------------------------------------------


def linear_shapes(config) -> dict[str, tuple[int, int, int]]:
    """Each linear layer kind of a T5 or Mistral model: (d_in, d_out, how many in the model)."""
    if config.model_type == "t5":
        d, inner, d_ff = config.d_model, config.num_heads * config.d_kv, config.d_ff
        attentions = config.num_layers + 2 * config.num_decoder_layers  # self, self + cross
        blocks = config.num_layers + config.num_decoder_layers
        shapes = {
            "q": (d, inner, attentions),
            "k": (d, inner, attentions),
            "v": (d, inner, attentions),
            "o": (inner, d, attentions),
            "wo": (d_ff, d, blocks),
        }
        if config.feed_forward_proj.startswith("gated"):
            shapes |= {"wi_0": (d, d_ff, blocks), "wi_1": (d, d_ff, blocks)}
        else:
            shapes["wi"] = (d, d_ff, blocks)
        return shapes
    if config.model_type in ("mistral", "llama"):
        h, layers = config.hidden_size, config.num_hidden_layers
        head_dim = getattr(config, "head_dim", None) or h // config.num_attention_heads
        q, kv = config.num_attention_heads * head_dim, config.num_key_value_heads * head_dim
        inter = config.intermediate_size
        return {
            "q_proj": (h, q, layers),
            "k_proj": (h, kv, layers),
            "v_proj": (h, kv, layers),
            "o_proj": (q, h, layers),
            "gate_proj": (h, inter, layers),
            "up_proj": (h, inter, layers),
            "down_proj": (inter, h, layers),
        }
    raise ValueError(f"model type {config.model_type!r}: only t5, mistral and llama are counted")


def lora_parameters(config, targets: Sequence[str], rank: int) -> int:
    """Trainable parameters of LoRA by formula: r · (d_in + d_out) for each adapted matrix."""
    shapes = linear_shapes(config)
    unknown = [t for t in targets if t not in shapes]
    if unknown:
        raise ValueError(f"{unknown} are not linear layers of {config.model_type}: {list(shapes)}")
    return sum(count * rank * (d_in + d_out) for d_in, d_out, count in map(shapes.get, targets))


# ----- notebook 04's measurements and figures (plumbing a student need not read) --------------


@dataclass
class SweepTask:
    """What notebook 04's sweeps train and score: the new task's training pool and test set,
    its score, the old tasks' tests, and (for a task with labels) the majority share."""

    name: str
    metric: str
    train_pool: list
    test: list
    score: Callable[[list[str], list[str]], float]
    old_tests: dict[str, list]

    @property
    def majority(self) -> float:
        """The share of the test set's most common answer (0 for a task scored by ROUGE)."""
        if self.metric != "exact match":
            return 0.0
        labels = [e.target for e in self.test]
        return max(map(labels.count, set(labels))) / len(labels)


def sweep_task(
    profile: str, seed: int, eval_examples: int, old_eval_examples: int, train_pool: int = 4000
) -> SweepTask:
    """The sweep task of a profile: in ``mini`` the held-out ``sentiment_binary`` task (exact
    match); in ``t4`` notebook 02's dialogue summaries (ROUGE-1). Old tasks: the mini
    world's six."""
    from .core.evaluation import exact_match
    from .mini import tasks

    old = {t: tasks.examples(t, "test", old_eval_examples, seed) for t in tasks.CORE_TASKS}
    if profile == "mini":
        name = "sentiment_binary"
        pool = tasks.examples(name, "train", train_pool, seed)
        test = tasks.examples(name, "test", eval_examples, seed)
        return SweepTask(name, "exact match", pool, test, exact_match, old)
    from . import data, instruction_tuning
    from .core.examples import Example
    from .rouge import load_rouge_metric, rouge_scores

    dialogues = data.load("dialogue_summaries", profile, seed=seed)
    pool = instruction_tuning.summary_examples(
        dialogues["train"], instruction_tuning.TEMPLATES, seed
    )
    rows = instruction_tuning.unique_dialogues(dialogues["test"], eval_examples)
    template = instruction_tuning.TEMPLATES[0]
    test = [
        Example("summary", instruction_tuning.render(template, d), s)
        for d, s in zip(rows["dialogue"], rows["summary"], strict=True)
    ]
    rouge = load_rouge_metric(prefer_hub=True)

    def rouge1(predictions: list[str], references: list[str]) -> float:
        return rouge_scores(predictions, references, rouge)["rouge1"]

    return SweepTask("dialogue summaries", "ROUGE-1", pool, test, rouge1, old)


def wilson_interval(share: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95 % for z = 1.96) of a share of ``n`` yes/no answers."""
    if n < 1:
        raise ValueError(f"n = {n!r}: an interval needs at least one answer")
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share = {share!r}: a share is between 0 and 1")
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def learned_cells(quality: pd.DataFrame, n: int, floor: float) -> pd.DataFrame:
    """True where a cell's score is above ``floor`` beyond doubt: its Wilson interval's lower
    bound (``n`` test answers) is above the floor."""
    return quality.map(lambda share: wilson_interval(float(share), n)[0] > floor)


def overlap(shares: Sequence[float], n: int) -> bool:
    """True when the Wilson intervals of ``shares`` (each of ``n`` answers) all share a point:
    no two of them differ beyond their intervals."""
    intervals = [wilson_interval(float(share), n) for share in shares]
    return max(low for low, _ in intervals) <= min(high for _, high in intervals)


def mean_range(frame: pd.DataFrame, along: str) -> float:
    """How much a grid's value changes along one knob with the other held: the mean over
    columns of each column's max - min (``along="rows"``: rank growing, alpha fixed), or the
    mean over rows of each row's (``along="columns"``)."""
    if along not in ("rows", "columns"):
        raise ValueError(f"along = {along!r}: 'rows' (down a column) or 'columns' (along a row)")
    axis = 0 if along == "rows" else 1
    return float((frame.max(axis=axis) - frame.min(axis=axis)).mean())


def _heatmap(ax, frame: pd.DataFrame, title: str, low: float, greyed=None) -> object:
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("viridis").copy()
    cmap.set_under("lightgrey")
    image = ax.imshow(frame.values, vmin=low, vmax=1, cmap=cmap, origin="lower")
    ax.set_xticks(range(frame.shape[1]), [f"{c:g}" for c in frame.columns])
    ax.set_yticks(range(frame.shape[0]), [f"{i:g}" for i in frame.index])
    for i in range(frame.shape[0]):
        for j in range(frame.shape[1]):
            value, grey = frame.iat[i, j], greyed is not None and bool(greyed.iat[i, j])
            if grey:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, color="lightgrey"))
            dark = not grey and value < low + 0.6 * (1 - low)
            ax.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if dark else "black",
            )
    ax.set_title(title, fontsize=10)
    return image


def plot_rank_alpha_grid(
    quality: pd.DataFrame, kept: pd.DataFrame, learned: pd.DataFrame, floor: float, metric: str
):
    """The rank x alpha grid as two heatmaps: the new task, its colours starting at ``floor``
    (cells that did not clear it, by their interval, in grey), and the old tasks kept."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.8), constrained_layout=True)
    new = _heatmap(
        axes[0], quality, f"new task ({metric});\ngrey: not above {floor:.2f}", floor, ~learned
    )
    old = _heatmap(axes[1], kept, "old tasks kept (exact match)", 0.0)
    fig.colorbar(new, ax=axes[0], shrink=0.8)
    fig.colorbar(old, ax=axes[1], shrink=0.8)
    for ax in axes:
        ax.set(xlabel="alpha", ylabel="rank r")
    return fig


def update_energy(before: nn.Module, after: nn.Module, kinds: Sequence[str]) -> pd.DataFrame:
    """For each weight matrix whose module name ends in one of ``kinds``: the share of its
    update's energy (the squared Frobenius norm of W_after - W_before) held by its top r
    singular directions, r = 1 .. min(d_out, d_in). Columns: the matrices; index: r."""
    import pandas as pd

    tuned = dict(after.named_parameters())
    shares = {}
    for name, weight in before.named_parameters():
        module = name.removesuffix(".weight")
        if name.endswith(".weight") and module.rpartition(".")[2] in kinds:
            delta = (tuned[name] - weight).detach().double()
            energy = torch.linalg.svdvals(delta) ** 2
            shares[module] = (energy.cumsum(0) / energy.sum()).numpy()
    if not shares:
        raise ValueError(f"no weight of the model belongs to a module named any of {kinds}")
    frame = pd.DataFrame(shares)
    frame.index = range(1, len(frame) + 1)
    return frame.rename_axis("r")


def random_energy(shape: tuple[int, int], seed: int) -> pd.Series:
    """``update_energy``'s share for a random Gaussian matrix of ``shape``: what a full-rank
    update with no preferred directions would show."""
    import pandas as pd

    noise = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    energy = torch.linalg.svdvals(noise) ** 2
    return pd.Series((energy.cumsum(0) / energy.sum()).numpy(), index=range(1, len(energy) + 1))


def plot_update_energy(energy: pd.DataFrame, reference: pd.Series, ranks: Sequence[int]):
    """Cumulative energy against r: each matrix's update (thin), their mean (thick), a random
    matrix's (dashed), with the ranks of LoRA's sweep marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8), constrained_layout=True)
    ax.plot(energy.index, energy.values, color="tab:blue", alpha=0.25, linewidth=0.8)
    ax.plot(
        energy.index,
        energy.mean(axis=1),
        color="tab:blue",
        linewidth=2.5,
        label="full fine-tuning's update (mean; thin: each matrix)",
    )
    ax.plot(reference.index, reference.values, "--", color="grey", label="a random matrix")
    for r in ranks:
        ax.axvline(r, color="tab:orange", linewidth=0.8, alpha=0.7)
        ax.annotate(
            f"r={r}",
            (r, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    ax.set(
        xscale="log",
        ylim=(0, 1.02),
        xlabel="top r singular directions",
        ylabel="share of the update's energy",
    )
    ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_loss_curves(losses: dict[tuple[bool, int], list[float]], alpha: float, window: int = 5):
    """Training loss (mean of ``window`` steps) of each rank, alpha / r against alpha / sqrt(r):
    ``losses[(rslora, r)]``."""
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.4), sharey=True, constrained_layout=True)
    for ax, rslora in zip(axes, (False, True), strict=True):
        for (scaled, r), run in losses.items():
            if scaled == rslora:
                smooth = pd.Series(run).rolling(window, min_periods=1).mean()
                ax.plot(range(1, len(run) + 1), smooth, label=f"r={r}")
        scale = "alpha / sqrt(r) (rsLoRA)" if rslora else "alpha / r"
        ax.set(title=f"{scale}, alpha {alpha:g}", xlabel="step", yscale="log")
        ax.legend(fontsize=8)
    axes[0].set_ylabel(f"training loss (mean of {window} steps)")
    return fig


def plot_train_and_held_out(frame: pd.DataFrame, floor: float):
    """Accuracy on the training examples and on held-out ones against the rank (``frame``:
    index r, columns "training" and "held-out", with error bars from "training_sd" and
    "held-out_sd" where the frame has them)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), constrained_layout=True)
    for column, marker in (("training", "o"), ("held-out", "s")):
        ax.errorbar(
            frame.index,
            frame[column],
            yerr=frame.get(f"{column}_sd"),
            marker=marker,
            capsize=3,
            label=column,
        )
    ax.axhline(floor, color="grey", linestyle=":", label=f"majority answer ({floor:.2f})")
    ax.set(
        xscale="log",
        xticks=list(frame.index),
        xlabel="rank r",
        ylabel="exact match",
        ylim=(0, 1.05),
    )
    ax.set_xticklabels([str(r) for r in frame.index])
    ax.legend(fontsize=8, loc="lower right")
    return fig


def forward_seconds(model: nn.Module, batch: dict, repeats: int) -> float:
    """Median seconds of one forward pass of ``batch`` (after one warm-up pass)."""
    cuda = next(model.parameters()).is_cuda
    times = []
    with torch.no_grad():
        model(**batch)
        for _ in range(repeats):
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(**batch)
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def compare_targets(
    sweep: Sweep,
    choices: dict[str, Sequence[str]],
    qv_rank: int,
    alpha: float,
    seeds: Sequence[int],
) -> pd.DataFrame:
    """LoRA on each choice of adapted layers at about the trainable parameters of q,v at rank
    ``qv_rank``, all at scale ``alpha``, trained at each seed (the sweep's own seed through
    ``sweep``, the others by its methods at that seed): a row per choice with its rank,
    trainable parameters, and the new and old tasks' mean and sd over the seeds."""
    from dataclasses import replace

    import pandas as pd

    from .core.claims import spread
    from .peft_family import Settings

    methods = sweep.methods
    config = methods.experiment.base_model.config
    budget = lora_parameters(config, ("q", "v"), qv_rank)
    rows = {}
    for label, targets in choices.items():
        rank = max(1, round(budget / lora_parameters(config, targets, 1)))
        settings = Settings(lora_rank=rank, lora_alpha=alpha, lora_targets=tuple(targets))
        outcomes = [
            sweep.run(rank, alpha, targets=targets)
            if seed == methods.seed
            else replace(methods, seed=seed).run("lora", sweep.lr, settings)
            for seed in seeds
        ]
        new, old = spread([o.new for o in outcomes]), spread([o.old for o in outcomes])
        rows[label] = {
            "rank": rank,
            "trainable": outcomes[0].trainable,
            "mean": new.mean,
            "sd": new.sd,
            "old tasks": old.mean,
            "old sd": old.sd,
        }
        for outcome in outcomes:
            outcome.model = None
    return pd.DataFrame(rows).T.rename_axis("targets").astype({"rank": int, "trainable": int})


def plot_lr_grid(grid: pd.DataFrame, floor: float, metric: str, alpha: float):
    """The learning rate x rank grid as a heatmap coloured from ``floor`` up (below it: grey)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.8), constrained_layout=True)
    image = _heatmap(
        ax,
        grid,
        f"new task ({metric}), alpha {alpha:g};\ngrey: at or below {floor:.2f}",
        floor,
        grid <= floor,
    )
    ax.set(xlabel="learning rate", ylabel="rank r")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


@dataclass
class Sweep:
    """LoRA runs on one task by ``methods`` (a ``peft_family.Methods``), remembered by their
    settings: a setting run once is reused. A trained model is kept only with ``keep`` (on a
    GPU, dozens of FLAN-T5 copies would not fit)."""

    methods: object
    lr: float
    runs: dict = field(default_factory=dict)

    def run(
        self,
        rank: int,
        alpha: float,
        lr: float | None = None,
        targets=("q", "v"),
        rslora: bool = False,
        keep: bool = False,
    ):
        """The ``Outcome`` of LoRA at rank ``rank``, scale ``alpha`` on ``targets``."""
        from .peft_family import Settings

        lr = self.lr if lr is None else lr
        key = (rank, float(alpha), lr, tuple(targets), rslora)
        if key not in self.runs or (keep and self.runs[key].model is None):
            settings = Settings(
                lora_rank=rank, lora_alpha=alpha, lora_targets=tuple(targets), lora_rslora=rslora
            )
            self.runs[key] = self.methods.run("lora", lr, settings)
            if not keep:
                self.runs[key].model = None
        return self.runs[key]


def count_table(cases: Sequence[tuple[str, Sequence[str], int]]) -> pd.DataFrame:
    """For each (shipped configuration, targets, rank): LoRA's trainable parameters by
    ``lora_parameters`` and by peft on the meta device, the model's total, and their ratio."""
    import pandas as pd
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig

    from .core import counting

    rows = []
    for name, targets, rank in cases:
        path = counting.shipped_config(name)
        config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=list(targets))
        trainable, total = get_peft_model(
            counting.meta_model(path), config
        ).get_nb_trainable_parameters()
        rows.append(
            {
                "model": name,
                "r": rank,
                "targets": ",".join(targets),
                "by formula": lora_parameters(
                    AutoConfig.from_pretrained(path.parent), targets, rank
                ),
                "peft": trainable,
                "all params": total,
                "trainable %": 100 * trainable / total,
                "base / LoRA": (total - trainable) / trainable,
            }
        )
    return pd.DataFrame(rows).set_index("model")


def few_example_fit(methods, examples: Sequence, ranks: Sequence[int], steps: int, lr: float):
    """LoRA (alpha = 2r on q and v) trained by ``methods`` on ``examples`` alone for ``steps``
    steps at each rank: a row per rank with the exact match on those training examples, on the
    held-out test set of ``methods``' evaluation, and the gap between the two."""
    from dataclasses import replace

    import pandas as pd

    from .peft_family import Settings

    experiment = methods.experiment
    evaluation = replace(experiment.evaluation, old_tests={"training": list(examples)})
    few = replace(
        methods,
        experiment=replace(
            experiment,
            evaluation=evaluation,
            steps=steps,
            new_pool=list(examples),
            batch_size=min(experiment.batch_size, len(examples)),
        ),
    )
    rows = {}
    for rank in ranks:
        outcome = few.run("lora", lr, Settings(lora_rank=rank, lora_alpha=2 * rank))
        rows[rank] = {"training": outcome.old, "held-out": outcome.new}
    frame = pd.DataFrame(rows).T.rename_axis("rank r")
    return frame.assign(gap=frame["training"] - frame["held-out"])


def train_adapter(methods, task: str, steps: int, lr: float, rank: int, test: Sequence):
    """A LoRA adapter (rank ``rank``, alpha 2r, every linear layer) trained by ``methods`` on
    the mini world's ``task`` for ``steps`` steps: the peft model, ready to save."""
    from dataclasses import replace

    from .core.experiment import Evaluation
    from .mini import tasks
    from .peft_family import Settings

    experiment = methods.experiment
    targets = tuple(linear_shapes(experiment.base_model.config))
    pool = tasks.examples(task, "train", 4000, methods.seed)
    evaluation = Evaluation(experiment.tokenizer, test, {task: test})
    own = replace(experiment, new_pool=pool, steps=steps, evaluation=evaluation)
    settings = Settings(lora_rank=rank, lora_alpha=2 * rank, lora_targets=targets)
    return replace(methods, experiment=own).run("lora", lr, settings).model


def grid_names(frame: pd.DataFrame, prefix: str, row: str = "r", column: str = "a") -> dict:
    """A grid's cells as recorded names: ``{prefix}_{row}{index}_{column}{token}``, the column's
    value written as ``forgetting.knob_token`` writes it (16.0 -> 16, 0.003 -> 0p003)."""
    from .forgetting import knob_token

    return {f"{prefix}_{row}{i}_{column}{knob_token(c)}": v for (i, c), v in frame.stack().items()}


def sweep_experiment(base: nn.Module, tokenizer, task: SweepTask, cfg):
    """The ``Experiment`` every sweep of notebook 04 shares: ``task``'s training pool, its test
    set scored by its score, the old tasks; ``cfg.TRAIN_STEPS`` steps of ``cfg.BATCH_SIZE``
    examples, ``cfg.MAX_SOURCE_TOKENS`` prompt tokens, ``cfg.MAX_NEW_TOKENS`` answer tokens."""
    from .core.experiment import Evaluation, Experiment

    evaluation = Evaluation(
        tokenizer,
        task.test,
        task.old_tests,
        score=task.score,
        max_new_tokens=cfg.MAX_NEW_TOKENS,
        max_prompt_tokens=cfg.MAX_SOURCE_TOKENS,
    )
    return Experiment(
        base,
        tokenizer,
        evaluation,
        task.train_pool,
        steps=cfg.TRAIN_STEPS,
        batch_size=cfg.BATCH_SIZE,
        max_train_tokens=cfg.MAX_SOURCE_TOKENS,
    )


def peft_twin(base: nn.Module, layers: dict[str, nn.Module], rank: int, alpha: float):
    """``base`` with peft's LoRA on the layers of ``layers`` (``add_lora``'s wrappers, by
    module name), holding the same A and B: the same model by peft, to compare outputs."""
    from peft import LoraConfig, get_peft_model

    targets = sorted({name.rpartition(".")[2] for name in layers})
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=targets, lora_dropout=0.0)
    twin = get_peft_model(copy.deepcopy(base), config)
    with torch.no_grad():
        for name, layer in layers.items():
            module = twin.base_model.model.get_submodule(name)
            module.lora_A["default"].weight.copy_(layer.A)
            module.lora_B["default"].weight.copy_(layer.B)
    return twin

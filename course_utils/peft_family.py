"""The parameter-efficient fine-tuning family, measured side by side (taught in notebook 03).

Every method trains a small set of parameters and leaves the rest of the model frozen:

- additive: new parameters next to the frozen ones. Soft prompts (prompt tuning, prefix tuning,
  P-tuning) put trainable vectors in front of the input or of every layer's keys and values;
  IA3 rescales keys, values and feed-forward activations with learned vectors; a bottleneck
  adapter adds a small network after each feed-forward block.
- selective: train a chosen subset of the existing weights (here the layer norms, or the last
  decoder block); the base weights change, so the method cannot be switched off.
- reparametrised: LoRA trains a low-rank update B·A of chosen weight matrices.

``attach`` builds each method on a copy of a model (peft where peft has the method, the course's
own adapter otherwise), ``removed`` gives back the model without it, and ``formula_count``
counts each method's parameters from the model's configuration alone, the way notebook 03
checks peft's own count on the meta device for models too big to load.

``train_new_head`` is the older way to transfer, for comparison: the language-model head
replaced by a new classifier (transformers' ``AutoModelForSequenceClassification``), trained on
the frozen body or with the whole model.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from . import lora, soft_prompts
from .core import counting
from .core.evaluation import exact_match, generate_answers
from .core.examples import Example
from .core.experiment import Experiment, Outcome
from .core.training import sample_batches, warmup_cosine

#: Each trained method and its family, in the order the notebook presents them.
FAMILIES: dict[str, str] = {
    "prompt_tuning_random": "additive (soft prompt)",
    "prompt_tuning_text": "additive (soft prompt)",
    "prefix": "additive (soft prompt)",
    "prefix_projection": "additive (soft prompt)",
    "p_tuning": "additive (soft prompt)",
    "ia3": "additive (rescaling)",
    "adapter": "additive (adapter)",
    "selective": "selective",
    "lora": "reparametrised",
}
METHODS = tuple(FAMILIES)
#: Full fine-tuning, the reference the PEFT methods are compared with (every weight trains).
FULL = "full"
SELECTIVE_CHOICES = ("layer_norms", "last_decoder_block")


def family(method: str) -> str:
    """The family ``method`` belongs to (``FULL``: full fine-tuning)."""
    return FAMILIES.get(method, "full fine-tuning")


@dataclass(frozen=True)
class Settings:
    """The size of each method: how many virtual tokens, which rank, which weights."""

    num_virtual_tokens: int = 20
    init_text: str = ""  # the words a text-initialised soft prompt starts from
    tokenizer_path: str = ""  # what peft loads to turn init_text into token ids
    prompt_encoder_hidden: int = 128  # width of P-tuning's MLP and of prefix tuning's projection
    adapter_bottleneck: int = 16
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_targets: tuple[str, ...] = ("q", "v")
    lora_rslora: bool = False  # scale B·A by alpha / sqrt(r) instead of alpha / r
    selective: str = "layer_norms"


def peft_config(method: str, settings: Settings):
    """The peft configuration of ``method``, or None for the methods peft does not provide."""
    from peft import (
        IA3Config,
        LoraConfig,
        PrefixTuningConfig,
        PromptEncoderConfig,
        PromptTuningConfig,
        PromptTuningInit,
        TaskType,
    )

    seq2seq, n = TaskType.SEQ_2_SEQ_LM, settings.num_virtual_tokens
    if method == "prompt_tuning_random":
        return PromptTuningConfig(task_type=seq2seq, num_virtual_tokens=n)
    if method == "prompt_tuning_text":
        return PromptTuningConfig(
            task_type=seq2seq,
            num_virtual_tokens=n,
            prompt_tuning_init=PromptTuningInit.TEXT,
            prompt_tuning_init_text=settings.init_text,
            tokenizer_name_or_path=settings.tokenizer_path,
        )
    if method in ("prefix", "prefix_projection"):
        return PrefixTuningConfig(
            task_type=seq2seq,
            num_virtual_tokens=n,
            prefix_projection=method == "prefix_projection",
            encoder_hidden_size=settings.prompt_encoder_hidden,
        )
    if method == "p_tuning":
        return PromptEncoderConfig(
            task_type=seq2seq,
            num_virtual_tokens=n,
            encoder_hidden_size=settings.prompt_encoder_hidden,
            encoder_reparameterization_type="MLP",
        )
    if method == "ia3":
        return IA3Config(task_type=seq2seq)  # T5: keys, values and the FFN's output layer
    if method == "lora":
        return LoraConfig(
            task_type=seq2seq,
            r=settings.lora_rank,
            lora_alpha=settings.lora_alpha,
            target_modules=list(settings.lora_targets),
            lora_dropout=0.0,
            use_rslora=settings.lora_rslora,
        )
    if method in ("adapter", "selective", FULL):
        return None
    raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")


def _select(model: nn.Module, which: str) -> None:
    """Freeze ``model`` except the weights the selective method ``which`` trains: every layer
    norm, or every weight of the last decoder block."""
    if which not in SELECTIVE_CHOICES:
        raise ValueError(f"selective {which!r} is not one of {', '.join(SELECTIVE_CHOICES)}")
    last_block = f"decoder.block.{model.config.num_decoder_layers - 1}."
    for name, parameter in model.named_parameters():
        if which == "layer_norms":
            parameter.requires_grad_("layer_norm" in name)
        else:
            parameter.requires_grad_(name.startswith(last_block))


def attach(
    method: str,
    base: nn.Module,
    settings: Settings,
) -> nn.Module:
    """A copy of ``base`` with ``method`` added: only the method's parameters are trainable
    (``FULL``: a copy with every parameter trainable)."""
    from peft import get_peft_model

    if method not in FAMILIES and method != FULL:
        raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)} or {FULL!r}")
    model = copy.deepcopy(base)
    if method == FULL:
        return model.requires_grad_(True)
    config = peft_config(method, settings)
    if config is not None:
        return get_peft_model(model, config)
    if method == "adapter":
        soft_prompts.add_bottleneck_adapters(model, settings.adapter_bottleneck)
    else:
        _select(model, settings.selective)
    return model


@contextlib.contextmanager
def removed(method: str, model: nn.Module) -> Iterator[nn.Module]:
    """``model`` without ``method``: the peft adapter disabled, the soft prompt left out, the
    bottleneck adapters taken out (and put back afterwards). The selective method changed the
    base weights themselves, so it cannot be removed."""
    if method in ("selective", FULL):
        raise ValueError(f"{method!r} trains base weights: there is nothing to remove")
    if method == "adapter":
        wrapped = {n: m for n, m in model.named_modules() if soft_prompts.is_adapter(m)}
        soft_prompts.remove_bottleneck_adapters(model)
        try:
            yield model
        finally:
            for name, adapter in wrapped.items():
                parent, _, child = name.rpartition(".")
                setattr(model.get_submodule(parent), child, adapter)
    elif model.peft_config[model.active_adapter].is_prompt_learning:
        yield model.get_base_model()  # the prompt lives outside the base model
    else:
        with model.disable_adapter():
            yield model


def peft_count(method: str, config_path: str | Path, settings: Settings) -> tuple[int, int]:
    """(trainable, total) parameters of ``method`` on the meta-device model, as peft counts."""
    if method == "prompt_tuning_text":
        method = "prompt_tuning_random"  # same shape; the text only sets the starting values
    model = attach(method, counting.meta_model(config_path), settings)
    if hasattr(model, "get_nb_trainable_parameters"):
        return model.get_nb_trainable_parameters()
    return counting.trainable_parameters(model), counting.total_parameters(model)


def formula_count(method: str, config, settings: Settings, as_peft: bool = True) -> int:
    """Trainable parameters of ``method`` computed from a T5 configuration by hand.

    ``as_peft`` counts what peft allocates: for an encoder-decoder, prompt tuning and P-tuning
    allocate virtual-token rows for two submodules (encoder and decoder) but only the first
    ``num_virtual_tokens`` rows are ever used. ``as_peft=False`` counts the rows used.
    """
    d, n = config.d_model, settings.num_virtual_tokens
    inner = config.num_heads * config.d_kv  # width of the keys and values
    enc, dec = config.num_layers, config.num_decoder_layers
    rows = 2 * n if as_peft else n
    hidden = settings.prompt_encoder_hidden
    if method in ("prompt_tuning_random", "prompt_tuning_text"):
        return rows * d
    # Prefix tuning: a key and a value for every layer (peft: config.num_layers of them). peft
    # sizes them by d_model, so it only fits models whose heads * d_kv equals d_model (true of
    # every FLAN-T5 size).
    if method == "prefix":
        return n * enc * 2 * d
    if method == "prefix_projection":
        return n * d + (d * hidden + hidden) + (hidden * enc * 2 * d + enc * 2 * d)
    if method == "p_tuning":  # embedding, then an MLP d -> hidden -> hidden -> d
        return rows * d + (d * hidden + hidden) + (hidden * hidden + hidden) + (hidden * d + d)
    if method == "ia3":  # a vector for k and v of every attention, and the FFN's input to wo
        attentions = enc + 2 * dec
        return attentions * 2 * inner + (enc + dec) * config.d_ff
    if method == "adapter":
        return soft_prompts.adapter_parameters(d, settings.adapter_bottleneck, enc + dec)
    if method == "lora":
        return lora.lora_parameters(config, settings.lora_targets, settings.lora_rank)
    if method == "selective":
        if settings.selective == "layer_norms":
            return d * (2 * enc + 1 + 3 * dec + 1)
        gated = config.feed_forward_proj.startswith("gated")  # two input projections, not one
        ffn = (3 if gated else 2) * d * config.d_ff
        return 2 * 4 * d * inner + ffn + 3 * d  # self- and cross-attention, FFN, 3 layer norms
    raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")


# ----- the new task ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewTask:
    """A classification task the model was never taught: bare input texts with their label,
    hand-written instructions to try as hard prompts (``{text}`` marks the input), and the
    words a text-initialised soft prompt starts from."""

    name: str
    labels: tuple[str, ...]
    train: list[Example]
    test: list[Example]
    hard_prompts: tuple[str, ...]
    init_text: str


def mini_task(n_train: int, n_test: int, seed: int = 0) -> NewTask:
    """The mini world's held-out ``sentiment_binary``: a review in, "1" or "0" out."""
    from .mini import tasks

    name = "sentiment_binary"
    spec = tasks.get_task(name)
    written = tuple(p.replace("{" + spec.input_slot + "}", "{text}") for p in spec.phrasings)
    return NewTask(
        name=name,
        labels=("0", "1"),
        train=tasks.bare_examples(name, "train", n_train, seed),
        test=tasks.bare_examples(name, "test", n_test, seed),
        hard_prompts=(
            "{text}",
            *written,
            "{text} Answer 1 or 0.",
            "Is this review positive? Answer 1 for yes and 0 for no. {text}",
        ),
        init_text="Score the review: 1 if positive, 0 if negative.",
    )


EMOTION = "dair-ai/emotion"


def emotion_task(n_train: int, n_test: int, seed: int = 0) -> NewTask:
    """dair-ai/emotion (English tweets, six emotions) from the Hub: the ``t4`` profile's task."""
    from .data import hub_dataset

    data = hub_dataset(EMOTION, "tweets labelled with six emotions", "use PROFILE='mini'.")
    labels = tuple(data["train"].features["label"].names)

    def pick(split: str, n: int) -> list[Example]:
        rows = data[split].shuffle(seed=seed).select(range(min(n, len(data[split]))))
        return [Example("emotion", row["text"], labels[row["label"]]) for row in rows]

    options = ", ".join(labels[:-1]) + " or " + labels[-1]
    return NewTask(
        name="emotion",
        labels=labels,
        train=pick("train", n_train),
        test=pick("test", n_test),
        hard_prompts=(
            "{text}",
            f"What emotion does this text express: {options}? {{text}}",
            f"{{text}} Which emotion is this: {options}?",
            f"Classify the emotion of the following sentence as {options}. Sentence: {{text}}",
        ),
        init_text=f"Classify the emotion of this text: {options}.",
    )


# ----- training and measuring ------------------------------------------------------------------


@dataclass
class Methods:
    """The PEFT family run on one ``Experiment``: each method attached to a fresh copy of the
    base at ``settings``, trained, and measured with the method on and, unless
    ``measure_removed`` is off, with it taken out again. ``seed`` seeds each method's
    initialisation and the order of the batches (``replace(methods, seed=1)`` for another)."""

    experiment: Experiment
    settings: Settings
    measure_removed: bool = True
    seed: int = 0

    def run(self, method: str, lr: float, settings: Settings | None = None) -> Outcome:
        """Attach ``method`` to a fresh copy of the base, train it, measure it."""
        return self.fit(
            method,
            lambda base: attach(method, base, settings or self.settings),
            lr,
        )

    def fit(self, method: str, prepare: Callable[[nn.Module], nn.Module], lr: float) -> Outcome:
        """Train ``prepare(base)`` (a copy of the base with ``method`` attached, built your own
        way) on the new task and measure it: both tasks with the method on, the old tasks with
        it removed."""
        starts = []

        def prepared(base: nn.Module) -> nn.Module:
            model = prepare(base)
            if method.startswith("prompt_tuning"):
                starts.append(soft_prompt_vectors(model).clone())
            return model

        outcome = self.experiment.run(method, lr, prepared, seed=self.seed)
        outcome.start = starts[0] if starts else None
        if self.measure_removed and method not in ("selective", FULL):
            with removed(method, outcome.model) as plain:
                outcome.old_removed = self.experiment.evaluation.old(plain)
        return outcome


def hard_prompt_accuracy(
    model: nn.Module, tokenizer, template: str, examples: Sequence[Example]
) -> float:
    """Exact match of the untrained model when each input is wrapped in ``template`` ({text})."""
    prompts = [template.format(text=e.prompt) for e in examples]
    answers = generate_answers(model, tokenizer, prompts)
    return exact_match(answers, [e.target for e in examples])


def nearest_tokens(
    vectors: torch.Tensor, embeddings: torch.Tensor, tokenizer, k: int = 3
) -> list[list[str]]:
    """For each vector, the ``k`` vocabulary tokens whose embeddings are closest in cosine."""
    sims = (
        nn.functional.normalize(vectors.float(), dim=-1)
        @ nn.functional.normalize(embeddings.float(), dim=-1).T
    )
    top = sims.topk(k, dim=-1).indices
    return [tokenizer.convert_ids_to_tokens(row.tolist()) for row in top]


def soft_prompt_vectors(model: nn.Module) -> torch.Tensor:
    """The virtual-token vectors a peft prompt-tuning model puts in front of the input."""
    n = model.peft_config[model.active_adapter].num_virtual_tokens
    return model.prompt_encoder[model.active_adapter].embedding.weight[:n].detach()


def label_share(model: nn.Module, tokenizer, tests: dict[str, Sequence[Example]], labels) -> float:
    """Share of ``model``'s greedy answers to ``tests`` (the old tasks) that are one of the new
    task's ``labels``: how often a method trained on the new task answers an old question with
    the new task's answer."""
    prompts = [e.prompt for examples in tests.values() for e in examples]
    answers = generate_answers(model, tokenizer, prompts)
    return sum(a.strip() in labels for a in answers) / len(answers)


# ----- transfer learning by replacing the head -------------------------------------------------


@dataclass
class HeadOutcome:
    """A classifier head trained on the new task: what trained, how well, how long."""

    name: str
    trainable: int
    new: float
    seconds: float
    model: nn.Module | None = field(repr=False, default=None)


def class_batch(tokenizer, examples: Sequence[Example], labels: Sequence[str]) -> dict:
    """Tokenised inputs and each example's class index (its target's place in ``labels``)."""
    enc = tokenizer([e.prompt for e in examples], padding=True, return_tensors="pt")
    classes = torch.tensor([list(labels).index(e.target) for e in examples])
    return {"input_ids": enc.input_ids, "attention_mask": enc.attention_mask, "labels": classes}


def train_new_head(
    model_path: str,
    tokenizer,
    task: NewTask,
    frozen_body: bool,
    lr: float,
    steps: int,
    batch_size: int,
    seed: int = 0,
    device: str = "cpu",
) -> HeadOutcome:
    """Transfer learning by replacing the head: the pretrained model loaded by transformers
    with a new, randomly initialised classification head (one output per label, where the
    language-model head was), trained on the new task with AdamW; with ``frozen_body`` only
    the head trains. Accuracy is the share of test examples whose highest logit is their label."""
    import time

    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps = {steps}, batch_size = {batch_size}: both must be 1 or more")
    torch.manual_seed(seed)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the head is new on purpose: no "weights missing" report
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            model_path, num_labels=len(task.labels)
        ).to(device)
    finally:
        hf_logging.set_verbosity(verbosity)
    head = model.classification_head if frozen_body else model
    model.requires_grad_(False)
    head.requires_grad_(True)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    scheduler = warmup_cosine(optimizer, 0, steps)
    batches = sample_batches(task.train, batch_size, seed)
    start = time.perf_counter()
    model.train()
    for _ in range(steps):
        batch = {
            k: v.to(device) for k, v in class_batch(tokenizer, next(batches), task.labels).items()
        }
        model(**batch).loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    seconds = time.perf_counter() - start
    model.eval()
    hits = 0
    with torch.no_grad():
        for i in range(0, len(task.test), 128):
            chunk = task.test[i : i + 128]
            batch = {k: v.to(device) for k, v in class_batch(tokenizer, chunk, task.labels).items()}
            hits += (model(**batch).logits.argmax(-1) == batch["labels"]).sum().item()
    name = "new head, frozen body" if frozen_body else "new head, whole model trained"
    return HeadOutcome(name, sum(p.numel() for p in params), hits / len(task.test), seconds, model)


# ----- the notebook's tables and figures -------------------------------------------------------


def train_each(
    methods: Methods,
    names: Sequence[str],
    learning_rates: dict[str, float],
    labels: Sequence[str],
    keep: Sequence[str] = (),
) -> tuple[dict[str, Outcome], dict[str, float]]:
    """Run each method of ``names`` at its learning rate and print one line per method
    (trainable parameters, new and old tasks, seconds). Returns the outcomes and, for each
    method, the share of its old-task answers (method on) that are one of the new task's
    ``labels``. Trained models not in ``keep`` are dropped once measured (on a T4, copies of
    FLAN-T5 add up)."""
    outcomes, shares = {}, {}
    evaluation = methods.experiment.evaluation
    for method in names:
        o = outcomes[method] = methods.run(method, learning_rates[method])
        shares[method] = label_share(o.model, evaluation.tokenizer, evaluation.old_tests, labels)
        if method not in keep:
            o.model = None
        print(
            f"{method:>21}: {o.trainable:>9,} trainable, new task {o.new:.3f}, "
            f"old tasks {o.old:.3f} ({shares[method]:.0%} of them answered {' or '.join(labels)})"
            f", {o.seconds:.1f} s"
        )
    return outcomes, shares


def method_table(
    outcomes: dict[str, Outcome], hard_prompt: float, old_base: float, model_size: int
):
    """One row per method (the best hard prompt first): family, trainable parameters and their
    share of the model, new-task accuracy, old tasks with the method on and removed, seconds."""
    import pandas as pd

    rows = [("hard prompt (best)", "none: words", 0, hard_prompt, old_base, old_base, 0.0)]
    for method, o in outcomes.items():
        rows.append((method, family(method), o.trainable, o.new, o.old, o.old_removed, o.seconds))
    columns = ["method", "family", "trainable", "new task", "old tasks"]
    columns += ["old tasks, method removed", "seconds"]
    table = pd.DataFrame(rows, columns=columns).set_index("method")
    table.insert(2, "% of model", 100 * table["trainable"] / model_size)
    digits = {"% of model": 4, "new task": 3, "old tasks": 3, "old tasks, method removed": 3}
    return table.round(digits | {"seconds": 1})


def _label_heights(points: dict[str, tuple[float, float]], step: float) -> dict[str, float]:
    """A height for each point's label: its own, moved down by ``step`` while it would overprint
    a label already placed on the same stretch of the (log) x axis."""
    placed: list[tuple[float, float, float]] = []  # (start, end, height), in log10 x
    heights = {}
    for name, (x, y) in sorted(points.items(), key=lambda item: -item[1][1]):
        start = math.log10(max(x, 1)) + 0.02
        end = start + 0.019 * len(name)
        height = y
        while any(s < end and start < e and abs(h - height) < step for s, e, h in placed):
            height -= step
        placed.append((start, end, height))
        heights[name] = height
    return heights


def plot_accuracy_vs_parameters(
    outcomes: dict[str, Outcome], hard_prompt: float, title: str, chance: float | None = None
):
    """New-task accuracy against trainable parameters (log scale), one colour per family, the
    best hard prompt (and ``chance``) as lines. Each label sits right of its point, moved down
    (with a thin line back to the point) where it would overprint another."""
    import matplotlib.pyplot as plt

    points = {m: (o.trainable, o.new) for m, o in outcomes.items()}
    families = list(dict.fromkeys(family(m) for m in outcomes))
    colours = {f: f"C{i}" for i, f in enumerate(families)}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    heights = _label_heights(points, step=0.04)
    for name, (trainable, accuracy) in points.items():
        ax.scatter(trainable, accuracy, color=colours[family(name)], s=40, zorder=3)
        moved = abs(heights[name] - accuracy) > 1e-9
        ax.annotate(
            name,
            (trainable, accuracy),
            xytext=(trainable * 1.05, heights[name]),
            va="center",
            fontsize=7,
            arrowprops={"arrowstyle": "-", "color": "grey", "lw": 0.5} if moved else None,
        )
    for fam, colour in colours.items():
        ax.scatter([], [], color=colour, label=fam)
    ax.axhline(hard_prompt, color="grey", linestyle="--", label="best hard prompt")
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", label="chance")
    low, high = min(x for x, _ in points.values()), max(x for x, _ in points.values())
    ax.set(
        xscale="log",
        xlim=(low / 1.5, high * 6),
        xlabel="trainable parameters (log scale)",
        ylabel="new-task accuracy",
        ylim=(-0.05, 1.05),
        title=title,
    )
    ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1, 0.22))
    fig.tight_layout()
    return fig


def plot_prompt_lengths(accuracy: dict[int, float], hard_prompt: float, chance: float):
    """Prompt tuning's new-task accuracy by prompt length (log scale), with the best hard prompt
    and chance marked."""
    import matplotlib.pyplot as plt

    lengths = sorted(accuracy)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(lengths, [accuracy[n] for n in lengths], marker="o", label="prompt tuning")
    ax.axhline(hard_prompt, color="grey", linestyle="--", label="best hard prompt")
    ax.axhline(chance, color="grey", linestyle=":", label="chance")
    ax.set(
        xscale="log",
        xlabel="virtual tokens",
        ylabel="new-task accuracy",
        ylim=(-0.05, 1.05),
        title="prompt tuning (random init) by prompt length",
    )
    ax.set_xticks(lengths, [str(n) for n in lengths])
    ax.minorticks_off()
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    return fig


def accuracy_over_seeds(
    methods: Methods,
    names: Sequence[str],
    learning_rates: dict[str, float],
    seeds: Sequence[int],
    known: dict[str, Outcome] | None = None,
):
    """New-task accuracy of each method in ``names`` trained at each of ``seeds`` (the seed
    sets the method's initialisation and the order of the batches), one row per seed, then
    the mean and the sample standard deviation. An outcome in ``known`` at ``methods.seed`` is
    reused, not trained again."""

    import pandas as pd

    rows = {}
    for seed in seeds:
        rows[seed] = {}
        for method in names:
            if known and method in known and seed == methods.seed:
                rows[seed][method] = known[method].new
                continue
            again = replace(methods, seed=seed, measure_removed=False)
            rows[seed][method] = again.run(method, learning_rates[method]).new
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("seed")
    return pd.concat([table, table.agg(["mean", "std"])])


def settings_for(cfg, task: NewTask) -> Settings:
    """The methods' sizes from a notebook's validated parameters (``cfg``) and its task."""
    return Settings(
        num_virtual_tokens=cfg.NUM_VIRTUAL_TOKENS,
        init_text=task.init_text,
        tokenizer_path=str(cfg.MODEL),
        prompt_encoder_hidden=cfg.PROMPT_ENCODER_HIDDEN,
        adapter_bottleneck=cfg.ADAPTER_BOTTLENECK,
        lora_rank=cfg.LORA_RANK,
        lora_alpha=cfg.LORA_ALPHA,
        selective=cfg.SELECTIVE,
    )


def train_new_heads(cfg, tokenizer, task: NewTask) -> dict[str, HeadOutcome]:
    """``train_new_head`` twice with the notebook's budget: on the frozen body at
    ``cfg.HEAD_LR`` and with the whole model at ``cfg.FULL_LR``."""
    budget = dict(steps=cfg.TRAIN_STEPS, batch_size=cfg.BATCH_SIZE, seed=cfg.seed)
    heads = {}
    for frozen, lr in ((True, cfg.HEAD_LR), (False, cfg.FULL_LR)):
        head = train_new_head(cfg.MODEL, tokenizer, task, frozen, lr, device=cfg.device, **budget)
        heads[head.name] = head
    return heads


def head_table(heads: dict[str, HeadOutcome], outcomes: dict[str, Outcome], methods: Sequence[str]):
    """The new heads beside some of the PEFT methods: trainable parameters, new-task accuracy,
    and what the model answers with (a label index, or text)."""
    import pandas as pd

    rows = {name: (h.trainable, h.new, "a label index") for name, h in heads.items()}
    rows |= {m: (outcomes[m].trainable, outcomes[m].new, "text") for m in methods}
    return pd.DataFrame(rows, index=["trainable", "new task", "answers with"]).T


def nearest_tokens_table(
    start: torch.Tensor, end: torch.Tensor, embeddings: torch.Tensor, tokenizer, shown: int = 6
):
    """For the first ``shown`` virtual tokens, the three vocabulary tokens nearest (in cosine)
    to each one's ``start`` and ``end`` vectors, and the cosine between start and end."""
    import pandas as pd

    before = nearest_tokens(start[:shown], embeddings, tokenizer)
    after = nearest_tokens(end[:shown], embeddings, tokenizer)
    moved = nn.functional.cosine_similarity(start[:shown], end[:shown], dim=-1)
    return pd.DataFrame(
        {
            "nearest before": [" ".join(t) for t in before],
            "nearest after": [" ".join(t) for t in after],
            "cosine start-end": moved.tolist(),
        }
    ).rename_axis("virtual token")


def count_table(settings: Settings, models: Sequence[str] = ("flan-t5-base", "flan-t5-xxl")):
    """Each method's trainable parameters on each shipped configuration: peft's count on the
    meta device, the count by hand (``formula_count``), the rows the method uses, and the share
    of the model."""
    import pandas as pd
    from transformers import AutoConfig

    from .core import paths

    rows = []
    for name in models:
        config_path = paths.data_dir() / "model_configs" / name / "config.json"
        config = AutoConfig.from_pretrained(config_path.parent)
        for method in METHODS:
            trainable, total = peft_count(method, config_path, settings)
            rows.append(
                {
                    "model": name,
                    "method": method,
                    "peft": trainable,
                    "by hand": formula_count(method, config, settings),
                    "rows used (by hand)": formula_count(method, config, settings, as_peft=False),
                    "% of model": 100 * trainable / total,
                }
            )
    return pd.DataFrame(rows).set_index(["model", "method"])

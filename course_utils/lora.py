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
from collections.abc import Sequence

import torch
from torch import nn


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

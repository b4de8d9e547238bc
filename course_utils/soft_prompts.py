"""Soft prompts and a bottleneck adapter, from scratch (taught in notebook 03).

A hard prompt is words; a soft prompt is ``n`` trainable vectors put in front of the input's
embeddings, free to take any value. Only they are trained (e <- e - lr * dL/de); the model stays
frozen. ``SoftPrompt`` is the whole idea in a few lines, and a test checks that it computes
exactly what peft's prompt tuning computes from the same vectors.

A bottleneck adapter (Houlsby et al., 2019) is a small network added after a block: project the
block's output down to a few dimensions, apply a non-linearity, project back up, and add the
result to the output. Its up-projection starts at zero, so training starts from the base model
exactly; peft has no such adapter, so the course writes one.
"""

from collections.abc import Callable

import torch
from torch import nn


# @lesson notebooks/03_prompt_and_prefix_tuning.ipynb cell=03-11 sha256=16ca844db419
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
class SoftPrompt(nn.Module):
    """``num_virtual_tokens`` trainable vectors prepended to the input embeddings of a frozen
    model (the encoder's, for an encoder-decoder)."""

    def __init__(self, model: nn.Module, init: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        self.prompt = nn.Parameter(init.detach().clone())  # (num_virtual_tokens, d_model)

    @classmethod
    def from_vocabulary(
        cls, model: nn.Module, num_virtual_tokens: int, token_ids: list[int] | None = None
    ) -> "SoftPrompt":
        """Start from the embeddings of ``token_ids`` (text initialisation), or of random
        vocabulary tokens when none are given; repeats the ids to fill the prompt."""
        embeddings = model.get_input_embeddings().weight
        if token_ids is None:
            token_ids = torch.randint(embeddings.shape[0], (num_virtual_tokens,)).tolist()
        ids = (token_ids * num_virtual_tokens)[:num_virtual_tokens]
        return cls(model, embeddings[ids])

    @property
    def config(self):
        """The frozen model's configuration (what training loops and batching look at)."""
        return self.model.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kw):
        batch, n = input_ids.shape[0], self.prompt.shape[0]
        embeds = self.model.get_input_embeddings()(input_ids)
        embeds = torch.cat([self.prompt.expand(batch, -1, -1), embeds], dim=1)
        if attention_mask is not None:
            attention_mask = torch.cat([attention_mask.new_ones(batch, n), attention_mask], dim=1)
        return self.model(inputs_embeds=embeds, attention_mask=attention_mask, **kw)


# @end-lesson


# @lesson notebooks/03_prompt_and_prefix_tuning.ipynb cell=03-17 sha256=745fd0d2ec4e
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
class BottleneckAdapter(nn.Module):
    """``block`` followed by down-projection, ReLU, up-projection, added back to its output."""

    def __init__(self, block: nn.Module, d_model: int, bottleneck: int) -> None:
        super().__init__()
        self.block = block
        self.down = nn.Linear(d_model, bottleneck)
        self.up = nn.Linear(bottleneck, d_model)
        nn.init.zeros_(self.up.weight)  # the adapter starts as the identity
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        out = self.block(hidden, *args, **kwargs)
        return out + self.up(torch.relu(self.down(out)))


# @end-lesson


def is_t5_feed_forward(name: str, module: nn.Module) -> bool:
    """T5's feed-forward blocks (``T5LayerFF``): where the adapters go."""
    return type(module).__name__ == "T5LayerFF"


def is_adapter(module: nn.Module) -> bool:
    """A bottleneck adapter wrapping a block: ``BottleneckAdapter`` or a version of it with the
    same parts (``block``, ``down``, ``up``), such as a notebook's own."""
    return all(
        isinstance(getattr(module, part, None), nn.Module) for part in ("block", "down", "up")
    )


def add_bottleneck_adapters(
    model: nn.Module,
    bottleneck: int,
    where: Callable[[str, nn.Module], bool] = is_t5_feed_forward,
    adapter: type[nn.Module] | None = None,
) -> list[nn.Module]:
    """Freeze ``model`` and put an ``adapter`` (by default ``BottleneckAdapter``, the one in
    use) after every block ``where`` selects; returns them."""
    adapter = adapter or BottleneckAdapter
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    d_model = model.config.d_model
    targets = [(name, module) for name, module in model.named_modules() if where(name, module)]
    adapters = []
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        wrapper = adapter(module, d_model, bottleneck)
        setattr(model.get_submodule(parent_name), child, wrapper)
        adapters.append(wrapper)
    return adapters


def remove_bottleneck_adapters(model: nn.Module) -> None:
    """Put every wrapped block back in place: the base model, exactly."""
    wrapped = [(n, m) for n, m in model.named_modules() if is_adapter(m)]
    for name, adapter in wrapped:
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, adapter.block)


def adapter_parameters(d_model: int, bottleneck: int, blocks: int) -> int:
    """Trainable parameters of ``blocks`` adapters: two matrices and two biases each."""
    return blocks * (2 * d_model * bottleneck + bottleneck + d_model)

"""Counting parameters, of a loaded model or of one too large to load (notebooks 01, 03, 04).

``meta_model`` builds the model a ``config.json`` describes on PyTorch's meta device: every
tensor has its shape and no memory, so an 11-billion-parameter model is counted in a second and
peft can wrap it and count its adapters. The course ships the configurations it counts in
``data/model_configs/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from . import paths


def trainable_parameters(model: nn.Module) -> int:
    """Parameters that receive gradients."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def total_parameters(model: nn.Module) -> int:
    """Every parameter, counting a shared (tied) tensor once."""
    return sum(p.numel() for p in model.parameters())


def shipped_config(name: str) -> Path:
    """The ``config.json`` of a model whose configuration the course ships ("flan-t5-xxl")."""
    path = paths.data_dir() / "model_configs" / name / "config.json"
    if not path.exists():
        known = sorted(p.name for p in path.parent.parent.iterdir() if p.is_dir())
        raise FileNotFoundError(f"no shipped configuration {name!r}; known: {', '.join(known)}")
    return path


def meta_model(config_path: str | Path) -> nn.Module:
    """The model a ``config.json`` describes, built on the meta device (no memory, no download).

    transformers 5 ties T5's LM head to its embeddings when it builds T5 from a configuration;
    the released FLAN-T5 checkpoints have a separate head, so it is untied here when the file
    says ``"tie_word_embeddings": false``.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    raw = json.loads(Path(config_path).read_text())
    config = AutoConfig.from_pretrained(Path(config_path).parent)
    auto = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    with torch.device("meta"):
        model = auto.from_config(config)
        head = model.get_output_embeddings()
        if (
            raw.get("tie_word_embeddings") is False
            and head.weight is model.get_input_embeddings().weight
        ):
            head.weight = nn.Parameter(torch.empty_like(head.weight))
    return model

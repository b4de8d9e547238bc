"""How much GPU memory fine-tuning needs, from a model's configuration (taught in notebook 05).

Training memory is weights + gradients + optimizer states (+ activations, which depend on the
batch and the sequence length and are left out here). AdamW keeps two float32 numbers per
trained parameter. So, for P parameters and L LoRA parameters:

- full fine-tuning in float32: 4P (weights) + 4P (gradients) + 8P (AdamW) = 16P bytes;
- full fine-tuning in mixed precision: 2P (16-bit weights) + 4P (float32 master copy) + 2P
  (16-bit gradients) + 8P (AdamW) = 16P bytes as well: mixed precision saves time, not memory;
- LoRA on a 16-bit base: 2P for the frozen base, and 16L for the adapters (weights, gradients,
  AdamW in float32);
- QLoRA: the base's linear layers in NF4 with double quantization (about 4.13 bits each), the
  rest (embeddings, norms, head) in 16 bits, and 16L for the adapters.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .quantization import FORMATS

GB = 1e9


def quantizable_linear_parameters(model: nn.Module) -> int:
    """Parameters of the linear layers that bitsandbytes quantizes: every ``nn.Linear`` except
    the output head (which it leaves in 16 bits, and which may share the embedding's weight)."""
    head = model.get_output_embeddings()
    return sum(
        m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear) and m is not head
    )


def buffer_bytes(model: nn.Module) -> int:
    """Bytes of the model's buffers (rotary frequencies and the like), which stay float32."""
    return sum(b.numel() * b.element_size() for b in model.buffers())


def weight_bytes(model: nn.Module, bytes_per_parameter: float, four_bit: bool = False) -> int:
    """Bytes of the weights as ``get_memory_footprint`` counts them: every parameter at
    ``bytes_per_parameter``, or, with ``four_bit``, the quantizable linear layers at half a byte
    each (two 4-bit codes per byte; their per-block constants are not parameters) and the rest
    at ``bytes_per_parameter``. Buffers are added in float32."""
    total = sum(p.numel() for p in model.parameters())
    quantized = quantizable_linear_parameters(model) if four_bit else 0
    return int(quantized // 2 + (total - quantized) * bytes_per_parameter) + buffer_bytes(model)


@dataclass(frozen=True)
class Budget:
    """Training memory of one method, in bytes (activations not included)."""

    weights: float
    gradients: float
    optimizer: float
    adapters: float = 0.0  # LoRA's A and B with their gradients and AdamW states

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.adapters


# @lesson notebooks/05_qlora_mistral_7b_unsloth.ipynb cell=05-6abc86f2 sha256=51d264e794b1
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
def budgets(model: nn.Module, lora_parameters: int) -> dict[str, Budget]:
    """The four methods' memory for ``model`` (built on the meta device is enough)."""
    total = sum(p.numel() for p in model.parameters())
    quantized = quantizable_linear_parameters(model)
    nf4_bytes = FORMATS["nf4_double"].bits_per_parameter() / 8
    adapters = 16.0 * lora_parameters
    return {
        "full fine-tuning, fp32": Budget(4.0 * total, 4.0 * total, 8.0 * total),
        "full fine-tuning, mixed precision": Budget(6.0 * total, 2.0 * total, 8.0 * total),
        "LoRA, 16-bit base": Budget(2.0 * total, 0.0, 0.0, adapters),
        "QLoRA, NF4 base": Budget(
            nf4_bytes * quantized + 2.0 * (total - quantized), 0, 0, adapters
        ),
    }


# @end-lesson


def quantized_layer_bytes(model: nn.Module) -> tuple[int, int]:
    """(bytes of every bitsandbytes 4-bit linear layer with its quantization state, bytes the
    same layers' weights would take in float32) for a model loaded in 4 bits."""
    import bitsandbytes as bnb

    stored = unquantized = 0
    for module in model.modules():
        if not isinstance(module, bnb.nn.Linear4bit):
            continue
        weight, state = module.weight, module.weight.quant_state
        stored += weight.numel() * weight.element_size()
        tensors = [state.absmax, state.code]
        if state.nested:
            tensors += [state.state2.absmax, state.state2.code, state.offset]
        stored += sum(t.numel() * t.element_size() for t in tensors)
        unquantized += 4 * state.shape.numel()
    return stored, unquantized


# ----- which model fits which set-up (the README's "Beyond one GPU" table) --------------------

#: Hardware set-ups: (number of GPUs sharing the training state, GB of memory per GPU). One GPU
#: also stands for data parallel (DDP), where every GPU holds the whole state.
SETUPS = {
    "one T4 (15 GB)": (1, 15),
    "one 24 GB GPU": (1, 24),
    "one 80 GB GPU": (1, 80),
    "8 × 80 GB, FSDP / ZeRO-3": (8, 80),
}
#: Share of a GPU's memory the estimate may use; the rest is left for activations and CUDA.
HEADROOM = 0.8
_METHODS = {
    "full": "full fine-tuning, mixed precision",
    "LoRA": "LoRA, 16-bit base",
    "QLoRA": "QLoRA, NF4 base",
}


def llama_shaped(hidden: int, layers: int, intermediate: int, kv_heads: int):
    """A Llama-style model of the given shape on the meta device (heads of 128 dimensions)."""
    from transformers import AutoModelForCausalLM, MistralConfig

    config = MistralConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        intermediate_size=intermediate,
        num_attention_heads=hidden // 128,
        num_key_value_heads=kv_heads,
        vocab_size=32000,
        tie_word_embeddings=False,
    )
    import torch

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def memory_table(rank: int = 16) -> str:
    """A Markdown table from notebook 05's estimator: for Mistral-7B and Llama-2-13B- and
    70B-shaped models, the training memory of full fine-tuning, LoRA (rank ``rank`` on the seven
    projections) and QLoRA, and, for each set-up, the first of the three (in that order) whose
    share per GPU fits in ``HEADROOM`` of its memory. Full sharding (FSDP, ZeRO-3) divides
    weights, gradients and optimizer states by the GPU count; QLoRA is counted on one GPU only."""
    from . import lora, recipes
    from .core import counting

    models = {
        "Mistral-7B": counting.meta_model(counting.shipped_config("mistral-7b")),
        "13B (Llama-2-13B shape)": llama_shaped(5120, 40, 13824, 40),
        "70B (Llama-2-70B shape)": llama_shaped(8192, 80, 28672, 8),
    }
    head = ["model", "parameters", *(f"{m}, GB" for m in _METHODS), *SETUPS]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(["---"] * len(head)) + " |"]
    for name, model in models.items():
        adapters = lora.lora_parameters(model.config, recipes.SEVEN_PROJECTIONS, rank)
        plans = budgets(model, adapters)
        totals = {m: plans[key].total / GB for m, key in _METHODS.items()}
        cells = [name, f"{counting.total_parameters(model) / 1e9:.1f} B"]
        cells += [f"{totals[m]:.0f}" if totals[m] >= 10 else f"{totals[m]:.1f}" for m in _METHODS]
        for gpus, gb in SETUPS.values():
            usable = [m for m in _METHODS if gpus == 1 or m != "QLoRA"]
            fitting = [m for m in usable if totals[m] / gpus <= HEADROOM * gb]
            cells.append(fitting[0] if fitting else "none")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def budget_parts(plans: dict[str, Budget]):
    """The budgets as a table in GB: weights, gradients, optimizer states, LoRA adapters."""
    import pandas as pd

    parts = {
        name: {
            "weights": b.weights,
            "gradients": b.gradients,
            "optimizer states": b.optimizer,
            "LoRA adapters": b.adapters,
        }
        for name, b in plans.items()
    }
    return pd.DataFrame(parts).T / GB


def plot_budgets(parts, limit_gb: float, limit_label: str, title: str):
    """Stacked bars of ``budget_parts``, each total written beside its bar, and a dashed line
    at ``limit_gb`` (a GPU's memory)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.6), layout="constrained")
    parts.plot.barh(stacked=True, ax=ax, colormap="tab10")
    ax.axvline(limit_gb, color="black", linestyle="--", linewidth=1.2, label=limit_label)
    for row, total in enumerate(parts.sum(axis=1)):
        label_end = total + 0.12 * ax.get_xlim()[1]  # where a label after the bar ends
        near_limit = total < limit_gb + 0.02 * ax.get_xlim()[1] and label_end > limit_gb
        ax.annotate(
            f"{total:.1f} GB",
            (max(total, limit_gb) if near_limit else total, row),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
        )
    ax.set(xlabel="GB (1e9 bytes) before activations", xlim=(0, 1.2 * parts.sum(axis=1).max()))
    ax.set_title(title)
    ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=3)
    return fig


#: Short names of the budgets' methods, for recorded results.
METHOD_KEYS = {
    "full fine-tuning, fp32": "full_fp32",
    "full fine-tuning, mixed precision": "full_mixed",
    "LoRA, 16-bit base": "lora_16bit",
    "QLoRA, NF4 base": "qlora",
}

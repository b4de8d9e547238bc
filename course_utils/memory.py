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

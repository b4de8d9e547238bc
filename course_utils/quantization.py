"""Quantization by hand: absmax and zero-point integers, blocks, NF4 (taught in notebook 05).

Quantizing stores each number as a small integer code plus a few shared constants:

- absmax (symmetric): scale = (2^(b-1) - 1) / max|x|, code = round(scale · x); zero stays zero.
- zero-point (asymmetric): scale = (2^b - 1) / (max x - min x), zero point = the code of 0; the
  whole code range covers [min x, max x], so a lopsided vector loses less.
- blockwise: one scale per block of ``block`` numbers, so a single outlier spoils only its block.
- NF4 (Dettmers et al., 2023): 16 code values placed at quantiles of a normal distribution (the
  shape of trained weights), scaled per block by the block's absmax. Double quantization then
  stores those per-block constants in 8 bits too.

Tests check the NF4 code book and NF4 blockwise quantization against bitsandbytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


# @lesson notebooks/05_qlora_mistral_7b_unsloth.ipynb cell=05-d75d877a sha256=884bb809e7dc
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
def absmax_quantize(x: torch.Tensor, bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric quantization: integer codes in [-(2^(b-1) - 1), 2^(b-1) - 1] and the scale."""
    levels = 2 ** (bits - 1) - 1
    scale = levels / x.abs().max().clamp(min=torch.finfo(x.dtype).tiny)
    return torch.round(x * scale).clamp(-levels, levels).to(torch.int32), scale


def absmax_dequantize(codes: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return codes.float() / scale


def zeropoint_quantize(
    x: torch.Tensor, bits: int = 8
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric quantization: codes in [-2^(b-1), 2^(b-1) - 1], the scale and the zero point
    (the code that stands for 0.0)."""
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    spread = (x.max() - x.min()).clamp(min=torch.finfo(x.dtype).tiny)
    scale = (high - low) / spread
    zero_point = torch.round(-scale * x.min()) + low
    codes = torch.round(scale * x + zero_point).clamp(low, high).to(torch.int32)
    return codes, scale, zero_point


def zeropoint_dequantize(
    codes: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor
) -> torch.Tensor:
    return (codes.float() - zero_point) / scale


# @end-lesson


# @lesson notebooks/05_qlora_mistral_7b_unsloth.ipynb cell=05-03e8bab7 sha256=f8b227ec734f
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
def _blocks(x: torch.Tensor, block: int) -> torch.Tensor:
    """``x`` flattened into rows of ``block`` numbers (its size must be a multiple of it)."""
    if x.numel() % block:
        raise ValueError(f"block={block} must divide the tensor's {x.numel()} numbers")
    return x.reshape(-1, block)


def nf4_codebook() -> torch.Tensor:
    """The 16 NF4 values: 8 positive and 7 negative quantiles of a standard normal, plus an
    exact zero, scaled into [-1, 1].

    The quantiles are taken at evenly spaced probabilities from 1 - delta to 1/2 (delta chosen,
    as in the QLoRA paper's code, so that the outermost value sits at the normal's quantile
    0.9677); the positive side has one more value than the negative, so 0 is represented exactly.
    """
    outer = 0.9677083
    positive = torch.special.ndtri(torch.linspace(outer, 0.5, 9, dtype=torch.float64)[:-1])
    negative = -torch.special.ndtri(torch.linspace(outer, 0.5, 8, dtype=torch.float64)[:-1])
    values = torch.cat([positive, torch.zeros(1, dtype=torch.float64), negative]).sort().values
    return (values / values.abs().max()).float()


def nf4_quantize(x: torch.Tensor, block: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """NF4 blockwise: each number becomes the index (0-15) of the nearest code book value after
    dividing its block by the block's absmax. Returns (codes of ``x``'s shape, absmax per block)."""
    rows = _blocks(x.float(), block)
    absmax = rows.abs().amax(dim=1)
    normalised = rows / absmax.clamp(min=torch.finfo(torch.float).tiny).unsqueeze(1)
    codebook = nf4_codebook()
    codes = (normalised.unsqueeze(-1) - codebook).abs().argmin(dim=-1).to(torch.uint8)
    return codes.reshape(x.shape), absmax


def nf4_dequantize(codes: torch.Tensor, absmax: torch.Tensor, block: int = 64) -> torch.Tensor:
    rows = nf4_codebook()[_blocks(codes.long(), block)] * absmax.unsqueeze(1)
    return rows.reshape(codes.shape)


# @end-lesson


def blockwise_absmax(
    x: torch.Tensor, block: int = 64, bits: int = 8
) -> tuple[torch.Tensor, torch.Tensor]:
    """Absmax quantization with one scale per block: (codes of ``x``'s shape, scales)."""
    rows = _blocks(x.float(), block)
    levels = 2 ** (bits - 1) - 1
    scales = levels / rows.abs().amax(dim=1, keepdim=True).clamp(min=torch.finfo(torch.float).tiny)
    codes = torch.round(rows * scales).clamp(-levels, levels).to(torch.int32)
    return codes.reshape(x.shape), scales.squeeze(1)


def blockwise_absmax_dequantize(
    codes: torch.Tensor, scales: torch.Tensor, block: int = 64
) -> torch.Tensor:
    rows = _blocks(codes.float(), block) / scales.unsqueeze(1)
    return rows.reshape(codes.shape)


@dataclass(frozen=True)
class Storage:
    """What a quantized format stores per parameter."""

    code_bits: int  # bits of each number's code
    block: int | None = None  # numbers sharing one scale (None: one scale for the whole tensor)
    constant_bits: int = 32  # bits of each block's scale
    second_block: int | None = None  # double quantization: scales sharing one 32-bit constant

    def bits_per_parameter(self) -> float:
        """Code bits plus each block's share of its constants (a whole tensor's scale: ~0)."""
        if self.block is None:
            return float(self.code_bits)
        if self.second_block is None:
            return self.code_bits + self.constant_bits / self.block
        return (
            self.code_bits + self.constant_bits / self.block + 32 / (self.block * self.second_block)
        )


#: The formats of notebook 05's error table and what each stores (bitsandbytes' defaults for
#: FP4 and NF4: blocks of 64 with a 32-bit absmax; double quantization: those absmax values in 8
#: bits, in blocks of 256 with one 32-bit constant each).
FORMATS = {
    "int8_absmax": Storage(8),
    "int8_blockwise": Storage(8, block=64),
    "int4_absmax": Storage(4),
    "fp4": Storage(4, block=64),
    "nf4": Storage(4, block=64),
    "nf4_double": Storage(4, block=64, constant_bits=8, second_block=256),
}


def error_table(weight: torch.Tensor, roundtrips: dict[str, torch.Tensor]):
    """Each format's mean absolute error on ``weight`` (from its dequantized copy) and the bits
    it stores per parameter, as a table."""
    import pandas as pd

    rows = {
        name: {
            "mean absolute error": (back - weight).abs().mean().item(),
            "bits per parameter": FORMATS[name].bits_per_parameter(),
        }
        for name, back in roundtrips.items()
    }
    return pd.DataFrame(rows).T


def format_table():
    """fp32, fp16 and bf16 side by side: bits, largest value, smallest normal and subnormal,
    and the step after 1.0."""
    import pandas as pd

    formats = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    rows = {
        name: {
            "bits": torch.finfo(t).bits,
            "largest": torch.finfo(t).max,
            "smallest normal": torch.finfo(t).tiny,
            "smallest subnormal": torch.finfo(t).smallest_normal * torch.finfo(t).eps,
            "step after 1.0 (eps)": torch.finfo(t).eps,
        }
        for name, t in formats.items()
    }
    return pd.DataFrame(rows).T


def bits_table():
    """Bits per parameter of each format of ``FORMATS``, block constants included."""
    import pandas as pd

    bits = {name: f.bits_per_parameter() for name, f in FORMATS.items()}
    return pd.Series(bits, name="bits per parameter").to_frame()


def plot_codebooks(codebook: torch.Tensor):
    """NF4's 16 code values (normal quantiles) above int4 absmax's 15 evenly spaced ones."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.2), layout="constrained")
    ax.scatter(codebook, [1] * len(codebook), label="NF4 (normal quantiles)")
    ax.scatter(torch.arange(-7, 8) / 7, [0] * 15, label="int4 absmax (evenly spaced)")
    ax.set(yticks=[], xlabel="code value (times the block's absmax)", ylim=(-0.7, 1.7))
    ax.legend(fontsize=8, loc="upper left")
    return fig


def roundtrips(weight: torch.Tensor) -> dict[str, torch.Tensor]:
    """``weight`` quantized and dequantized in each format of ``FORMATS``: the lesson's own
    absmax and NF4 (the versions in use), bitsandbytes' FP4 and NF4 with double quantization."""
    import bitsandbytes.functional as bnbf

    def bitsandbytes_4bit(quant_type: str, double: bool) -> torch.Tensor:
        packed, state = bnbf.quantize_4bit(
            weight.contiguous(), blocksize=64, quant_type=quant_type, compress_statistics=double
        )
        return bnbf.dequantize_4bit(packed, state)

    return {
        "int8_absmax": absmax_dequantize(*absmax_quantize(weight)),
        "int8_blockwise": blockwise_absmax_dequantize(*blockwise_absmax(weight, 64), 64),
        "int4_absmax": absmax_dequantize(*absmax_quantize(weight, bits=4)),
        "fp4": bitsandbytes_4bit("fp4", double=False),
        "nf4": nf4_dequantize(*nf4_quantize(weight, 64), 64),
        "nf4_double": bitsandbytes_4bit("nf4", double=True),
    }

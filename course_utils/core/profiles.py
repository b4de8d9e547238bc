"""The resolved profile: where a notebook runs and in which number format.

``tooling.profiles`` decides which profile a machine gets (``t4`` on a CUDA GPU, ``mini`` on a
CPU); the lessons only read the result.
"""

from __future__ import annotations

from dataclasses import dataclass

#: A Colab T4 (Turing): compute capability 7.5, no bfloat16 in hardware.
T4_CAPABILITY = (7, 5)
#: Model families whose released checkpoints overflow in float16 (trained in bfloat16).
FP16_UNSAFE_MODEL_TYPES = frozenset({"t5", "mt5", "umt5", "longt5"})


@dataclass(frozen=True)
class Profile:
    """The resolved profile: where to run and in which number format."""

    name: str  # "t4" or "mini"
    device: str  # "cuda" or "cpu"
    dtype: str  # "float16", "bfloat16" or "float32": the compute dtype for training
    gradient_checkpointing: bool  # saves GPU memory; only slows a CPU down
    offline: bool
    accelerator: str  # GPU name, or "CPU only"

    @property
    def fp16(self) -> bool:
        return self.dtype == "float16"

    @property
    def bf16(self) -> bool:
        return self.dtype == "bfloat16"

    @property
    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)

    def trainer_precision(self, model_type: str) -> dict[str, bool]:
        """``fp16`` / ``bf16`` flags for a Trainer config: the profile's, with two exceptions.

        T5 and FLAN-T5 were pretrained in bfloat16. In float16 (largest number 65,504) their
        feed-forward activations overflow to inf and the loss becomes NaN, so where the GPU has
        no bfloat16 (a T4) a T5 model trains in float32. And a CPU (the stand-in test) trains
        in float32 whatever the profile chose.
        """
        if self.device == "cpu" or (self.fp16 and model_type in FP16_UNSAFE_MODEL_TYPES):
            return {"fp16": False, "bf16": False}
        return {"fp16": self.fp16, "bf16": self.bf16}


def gpu_dtype(capability: tuple[int, int]) -> str:
    """The training dtype for a GPU of this compute capability: bf16 from Ampere (8.0) on.

    Decided from the capability, not ``torch.cuda.is_bf16_supported()``, which can answer True
    on a T4 (bf16 emulated in software, many times slower).
    """
    return "bfloat16" if tuple(capability) >= (8, 0) else "float16"


MINI = Profile(
    name="mini",
    device="cpu",
    dtype="float32",
    gradient_checkpointing=False,
    offline=True,
    accelerator="CPU only",
)

"""Profiles: one code path, two sizes.

``t4``   real models and datasets from the Hugging Face Hub, on a CUDA GPU sized like a free
         Colab T4 (fp16 where bf16 is unsupported, bf16 where it is).
``mini`` the course's own mini models and bundled data, CPU only, offline, small step counts.
``auto`` ``t4`` when CUDA is available, else ``mini``.

The t4 stand-in test (``standins.py``) runs the ``t4`` branch on a machine without the Hub, and
without a GPU it runs it on the CPU as if on a T4: every decision below is the T4's, and only
what a CPU cannot do (float16 training) is left out, in ``trainer_precision``.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

from . import standins
from .params import ParameterError

PROFILE_NAMES = ("auto", "t4", "mini")
# Mini runs pin the thread count: the same thread count gives bit-identical training on one
# machine, while 1 vs 2 threads drift measurably. Override with COURSE_THREADS.
DEFAULT_MINI_THREADS = 2
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


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _t4_profile() -> Profile:
    if cuda_available():
        import torch

        return Profile(
            name="t4",
            device="cuda",
            dtype=gpu_dtype(torch.cuda.get_device_capability(0)),
            gradient_checkpointing=True,
            offline=standins.enabled(),
            accelerator=torch.cuda.get_device_name(0),
        )
    if standins.enabled():
        return Profile(
            name="t4",
            device="cpu",
            dtype=gpu_dtype(T4_CAPABILITY),
            gradient_checkpointing=True,
            offline=True,
            accelerator="CPU standing in for a T4",
        )
    raise ParameterError(
        "PROFILE = 't4' is not allowed on this machine: it needs a CUDA GPU and none "
        "was found. Use 'mini' (CPU, offline) or 'auto'."
    )


MINI = Profile(
    name="mini",
    device="cpu",
    dtype="float32",
    gradient_checkpointing=False,
    offline=True,
    accelerator="CPU only",
)


def resolve_profile(requested: str) -> Profile:
    """Turn "auto" / "t4" / "mini" into a Profile, checking that the machine can run it."""
    if requested not in PROFILE_NAMES:
        raise ParameterError(
            f"PROFILE = {requested!r} is not allowed: expected one of "
            + ", ".join(repr(p) for p in PROFILE_NAMES)
        )
    if requested == "t4" or (requested == "auto" and cuda_available()):
        return _t4_profile()
    return MINI


def mini_threads() -> int:
    """The thread count of mini runs: 2, or COURSE_THREADS."""
    return int(os.environ.get("COURSE_THREADS", DEFAULT_MINI_THREADS))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)

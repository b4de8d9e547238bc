"""Profiles: one code path, two sizes.

``t4``   real models and datasets from the Hugging Face Hub, on a CUDA GPU sized like a free
         Colab T4 (fp16 where bf16 is unsupported, bf16 where it is).
``mini`` the course's own mini models and bundled data, CPU only, offline, small step counts.
``auto`` ``t4`` when CUDA is available, else ``mini``.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

from .params import ParameterError

PROFILE_NAMES = ("auto", "t4", "mini")
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
# Mini runs pin the thread count: the same thread count gives bit-identical training on one
# machine, while 1 vs 2 threads drift measurably. Override with COURSE_THREADS.
DEFAULT_MINI_THREADS = 2


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


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_profile(requested: str) -> Profile:
    """Turn "auto" / "t4" / "mini" into a Profile, checking that the machine can run it."""
    if requested not in PROFILE_NAMES:
        raise ParameterError(
            f"PROFILE = {requested!r} is not allowed: expected one of "
            + ", ".join(repr(p) for p in PROFILE_NAMES)
        )
    has_cuda = cuda_available()
    name = requested if requested != "auto" else ("t4" if has_cuda else "mini")
    if name == "t4":
        if not has_cuda:
            raise ParameterError(
                "PROFILE = 't4' is not allowed on this machine: it needs a CUDA GPU and none "
                "was found. Use 'mini' (CPU, offline) or 'auto'."
            )
        import torch

        bf16 = torch.cuda.is_bf16_supported()
        return Profile(
            name="t4",
            device="cuda",
            dtype="bfloat16" if bf16 else "float16",
            gradient_checkpointing=True,
            offline=False,
            accelerator=torch.cuda.get_device_name(0),
        )
    return Profile(
        name="mini",
        device="cpu",
        dtype="float32",
        gradient_checkpointing=False,
        offline=True,
        accelerator="CPU only",
    )


def go_offline() -> None:
    """Make every Hugging Face library fail fast instead of retrying a Hub it cannot reach."""
    for variable in OFFLINE_VARIABLES:
        os.environ[variable] = "1"
    # huggingface_hub and datasets read these once, at import time.
    import sys

    hub_constants = sys.modules.get("huggingface_hub.constants")
    if hub_constants is not None:
        hub_constants.HF_HUB_OFFLINE = True
    datasets_config = sys.modules.get("datasets.config")
    if datasets_config is not None:
        datasets_config.HF_HUB_OFFLINE = True
        datasets_config.HF_DATASETS_OFFLINE = True


def mini_threads() -> int:
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

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

from ..core import hub
from ..core.profiles import MINI, T4_CAPABILITY, Profile, gpu_dtype
from .params import ParameterError

PROFILE_NAMES = ("auto", "t4", "mini")
# Mini runs pin the thread count: the same thread count gives bit-identical training on one
# machine, while 1 vs 2 threads drift measurably. Override with COURSE_THREADS.
DEFAULT_MINI_THREADS = 2


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
            offline=hub.stand_ins(),
            accelerator=torch.cuda.get_device_name(0),
        )
    if hub.stand_ins():
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

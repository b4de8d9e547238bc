"""Pinned CPU numerics: the same seed gives the same bits on every x86-64 CPU with AVX2.

PyTorch and Intel's MKL choose their CPU kernels by the processor's instruction set, and
kernels for different instruction sets round differently: 40 AdamW steps of the mini decoder
end with other weights under AVX-512 than under AVX2, and a mini run's numbers drift apart
from there. Measured on an AMD EPYC with AVX-512 (torch 2.13.0, MKL 2024.2, oneDNN 3.12):

- ``ATEN_CPU_CAPABILITY`` (PyTorch's own kernels) changes the weights (AVX-512, AVX2 and the
  scalar ``default`` give three different results): pinned to ``avx2``;
- ``MKL_CBWR`` (MKL's conditional numerical reproducibility) is honoured (``COMPATIBLE`` gives
  other weights) and ``AVX2`` gives this machine's own result; an Intel CPU with AVX-512 would
  otherwise take MKL's AVX-512 code: pinned to ``AVX2``;
- ``ONEDNN_MAX_CPU_ISA=AVX2`` and ``MKL_ENABLE_INSTRUCTIONS=AVX2`` changed nothing;
- the thread count matters: 1, 2 or 4 threads gave the same 40 steps, but notebook 02 records
  other numbers with 1 thread than with 2 (longer sequences split across threads), so the
  profile pins it (``COURSE_THREADS``, 2);
- both variables are read when the library runs its first kernel, which importing
  transformers or bitsandbytes already does: ``pin()`` runs when ``course_utils`` is imported,
  so a notebook's first import must be ``course_utils``.

Pinning costs nothing measurable on the mini models. ``COURSE_NUMERICS=native`` turns it off
(each library then picks its fastest kernels and the numbers are this machine's own). On ARM
(Apple silicon) and on a GPU there is no such pin: runs there are repeatable on the same
machine, not bit-identical to the reference.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
from pathlib import Path

#: The settings that make x86-64 CPUs agree, each read by its library at its first kernel.
PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"}
OPT_OUT = "COURSE_NUMERICS"


def wanted() -> bool:
    """Whether this machine pins: an x86-64 CPU, and not ``COURSE_NUMERICS=native``."""
    is_x86 = platform.machine().lower() in ("x86_64", "amd64")
    return is_x86 and os.environ.get(OPT_OUT, "pinned") != "native"


#: bitsandbytes, on a CPU with AVX512-BF16, looks for a Hub kernel for its 4-bit matrix-vector
#: product and warns on stderr when the ``kernels`` package is missing. The course turns that
#: path off (``qlora.load_in_4bit``: it has no backward), so the warning says nothing useful.
BNB_CPU_LOGGER = "bitsandbytes.backends.cpu.ops"


def pin() -> None:
    """Set the pinned kernel choices for this process and every process it starts."""
    if wanted():
        os.environ.update(PINNED)
    logging.getLogger(BNB_CPU_LOGGER).setLevel(logging.ERROR)


def cpu_model() -> str:
    """The processor's model name (Linux's /proc/cpuinfo, else what platform says)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def status() -> str:
    """One line: which CPU kernels this process runs and whether they are the pinned ones."""
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    if not wanted():
        why = "not x86-64" if os.environ.get(OPT_OUT) != "native" else f"{OPT_OUT}=native"
        return f"{capability} kernels, not pinned ({why}): numbers are this machine's own"
    if capability != PINNED["ATEN_CPU_CAPABILITY"].upper():
        return (
            f"{capability} kernels, NOT the pinned AVX2 ones: torch ran before course_utils "
            "was imported. Restart the kernel and import course_utils first."
        )
    return "AVX2 kernels, pinned: the same seed gives the reference's numbers on x86-64"

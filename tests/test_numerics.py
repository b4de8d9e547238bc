"""Pinned CPU numerics (course_utils.core.numerics): the same seed, the same bits, on any x86-64
CPU with AVX2. The probe trains each shipped mini model (full fine-tuning of both, QLoRA of the
decoder) for a few steps in a fresh process and prints digests of the weights."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.core import numerics

PROBE = Path(__file__).with_name("numerics_probe.py")
#: A CPU with AVX2 and nothing newer, as far as each library that dispatches can be told so:
#: MKL and oneDNN by their instruction-set caps, bitsandbytes by its AVX512-BF16 check.
LESSER_CPU = {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
x86_only = pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"), reason="the pin is for x86-64"
)


def probe(env: dict[str, str], *args: str) -> dict:
    """The probe in a fresh process, with the course's settings removed from the environment
    first (so that the process sets them itself, as a notebook does) and ``env`` added."""
    clean = {
        k: v for k, v in os.environ.items() if k not in numerics.PINNED | {numerics.OPT_OUT: 0}
    }
    done = subprocess.run(
        [sys.executable, str(PROBE), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def course_settings(mini_report) -> dict:
    return probe({})


@x86_only
@pytest.mark.build
def test_an_emulated_avx2_cpu_trains_to_identical_weights(course_settings):
    lesser = probe(LESSER_CPU, "--no-avx512bf16")
    assert course_settings["kernels"].startswith("AVX2 kernels, pinned")
    for model in ("seq2seq", "decoder", "qlora"):
        assert lesser[model] == course_settings[model], model


@x86_only
@pytest.mark.build
def test_the_probe_sees_other_kernels(course_settings):
    # Without the pin and with PyTorch's scalar kernels, which every CPU has: other weights. So
    # the identity above is the pin's doing, not a probe too coarse to notice a change.
    scalar = probe({numerics.OPT_OUT: "native", "ATEN_CPU_CAPABILITY": "default"})
    assert "not pinned" in scalar["kernels"]
    assert scalar["decoder"] != course_settings["decoder"]


def test_pin_sets_the_kernels_for_this_process_and_its_children(monkeypatch):
    for name in numerics.PINNED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(numerics.platform, "machine", lambda: "x86_64")
    numerics.pin()
    assert {k: os.environ[k] for k in numerics.PINNED} == {
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_CBWR": "AVX2",
    }


def test_no_pin_on_arm_or_when_asked(monkeypatch):
    for name in numerics.PINNED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(numerics.platform, "machine", lambda: "arm64")
    numerics.pin()
    assert not any(name in os.environ for name in numerics.PINNED)
    assert "not pinned (not x86-64)" in numerics.status()
    monkeypatch.setattr(numerics.platform, "machine", lambda: "x86_64")
    monkeypatch.setenv(numerics.OPT_OUT, "native")
    numerics.pin()
    assert "ATEN_CPU_CAPABILITY" not in os.environ
    assert f"{numerics.OPT_OUT}=native" in numerics.status()


def test_status_names_a_torch_that_ran_before_the_pin(monkeypatch):
    import torch

    monkeypatch.setattr(numerics.platform, "machine", lambda: "x86_64")
    monkeypatch.delenv(numerics.OPT_OUT, raising=False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert "Restart the kernel and import course_utils first" in numerics.status()
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert numerics.status().startswith("AVX2 kernels, pinned")

"""The checks notebook 00 runs: packages, accelerator, profile, mini models."""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import re
import sys
from dataclasses import dataclass

from ..core import paths
from .profiles import resolve_profile

# import name -> distribution name
PACKAGES = {
    "torch": "torch",
    "transformers": "transformers",
    "tokenizers": "tokenizers",
    "peft": "peft",
    "trl": "trl",
    "datasets": "datasets",
    "accelerate": "accelerate",
    "bitsandbytes": "bitsandbytes",
    "evaluate": "evaluate",
    "rouge_score": "rouge-score",
    "lm_eval": "lm-eval",
    "papermill": "papermill",
    "matplotlib": "matplotlib",
}


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "OK", "WARN", "FAIL" or "INFO"
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.name:<22} {self.detail}"


def pinned_versions() -> dict[str, str]:
    """The exact versions the course pins (from the installed course-utils metadata)."""
    try:
        requirements = metadata.requires("course-utils") or []
    except metadata.PackageNotFoundError:
        return {}
    pins = {}
    for requirement in requirements:
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^;\s]+)", requirement)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def package_checks() -> list[Check]:
    pins = pinned_versions()
    checks = [
        Check("python", "OK" if sys.version_info >= (3, 10) else "FAIL", sys.version.split()[0])
    ]
    for module, dist in PACKAGES.items():
        try:
            importlib.import_module(module)
            version = metadata.version(dist)
        except Exception as error:  # an import can fail in many ways
            checks.append(Check(dist, "FAIL", f"cannot import: {type(error).__name__}: {error}"))
            continue
        pinned = pins.get(dist)
        if pinned is None or version.split("+")[0] == pinned:
            checks.append(Check(dist, "OK", version))
        else:
            checks.append(Check(dist, "WARN", f"{version} (the course is tested with {pinned})"))
    return checks


def accelerator_checks() -> list[Check]:
    import torch

    if not torch.cuda.is_available():
        return [
            Check("GPU", "INFO", "CPU only: notebooks run the 'mini' profile"),
            Check("bf16", "INFO", "not applicable on CPU (float32 is used)"),
        ]
    props = torch.cuda.get_device_properties(0)
    bf16 = torch.cuda.is_bf16_supported()
    return [
        Check("GPU", "OK", f"{props.name}, {props.total_memory / 2**30:.1f} GiB"),
        Check(
            "bf16",
            "OK",
            "supported: training uses bf16"
            if bf16
            else "not supported (e.g. a T4): training uses fp16",
        ),
    ]


def kernels_check() -> Check:
    """Whether this process runs the pinned CPU kernels (``core.numerics``)."""
    from ..core import numerics

    line = numerics.status()
    status = "OK" if "pinned:" in line else ("WARN" if "NOT" in line else "INFO")
    return Check("CPU kernels", status, line)


def profile_check() -> Check:
    profile = resolve_profile("auto")
    return Check("PROFILE='auto'", "OK", f"resolves to {profile.name!r} ({profile.accelerator})")


def mini_model_checks(load: bool) -> list[Check]:
    """Whether the shipped mini models are there, and (optionally) answer correctly."""
    from ..mini.build import DECODER_DIR, SEQ2SEQ_DIR, read_report

    report = read_report()
    if report is None:
        return [
            Check(
                "mini models",
                "FAIL",
                f"missing from {paths.models_dir()} (the repository ships them): clone it again, "
                "or rebuild them with `python -m course_utils build-mini`",
            )
        ]
    where = paths.models_dir().name
    checks = [Check("mini models", "OK", f"shipped in {where}/, build {report['fingerprint']}")]
    if not load:
        return checks
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    from ..core.evaluation import generate_answers

    question, answer = "What is the capital of France?", "Paris"
    for folder, auto in ((SEQ2SEQ_DIR, AutoModelForSeq2SeqLM), (DECODER_DIR, AutoModelForCausalLM)):
        path = paths.models_dir() / folder
        model = auto.from_pretrained(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
        got = generate_answers(model, tokenizer, [question])[0]
        status = "OK" if got == answer else "FAIL"
        checks.append(Check(folder, status, f"{question!r} -> {got!r}"))
    return checks


def run_checks(load_mini_models: bool = True) -> list[Check]:
    """Every check, in the order a student reads them."""
    return [
        *package_checks(),
        *accelerator_checks(),
        kernels_check(),
        profile_check(),
        *mini_model_checks(load_mini_models),
    ]

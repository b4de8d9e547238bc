"""What each notebook takes: its parameters and rules, its per-profile defaults, and what the
``t4`` profile downloads (for ``run --profile t4 --dry-run`` and the README)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .params import Param

# A default of the form "mini:<name>" is the course-built mini model <name> in paths.models_dir().
MINI_SEQ2SEQ = "mini:mini-seq2seq"
MINI_DECODER = "mini:mini-decoder"


@dataclass(frozen=True)
class Download:
    """Something the t4 profile fetches from the Hugging Face Hub."""

    repo_id: str
    kind: str  # "model" or "dataset"
    approx_gb: float  # download size, roughly


@dataclass(frozen=True)
class NotebookSpec:
    stem: str
    title: str
    params: dict[str, Param] = field(default_factory=dict)
    # profile name -> values used where a parameter is None
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    downloads: tuple[Download, ...] = ()
    t4_gpu_gb: float = 0.0  # estimated peak GPU memory in the t4 profile
    t4_minutes: float = 0.0  # estimated minutes on a Colab T4
    uses_mini_models: bool = False


NOTEBOOKS: dict[str, NotebookSpec] = {}


def register(spec: NotebookSpec) -> NotebookSpec:
    NOTEBOOKS[spec.stem] = spec
    return spec


register(
    NotebookSpec(
        stem="00_setup_check",
        title="Set-up check",
        params={"CHECK_MINI_MODELS": Param("bool", help="also load the mini models")},
        t4_minutes=1,
    )
)


def spec_for(notebook: str) -> NotebookSpec:
    """The spec of a notebook, by stem ("01_catastrophic_forgetting") or number ("01")."""
    if notebook in NOTEBOOKS:
        return NOTEBOOKS[notebook]
    matches = [s for stem, s in NOTEBOOKS.items() if stem.split("_", 1)[0] == notebook]
    if len(matches) == 1:
        return matches[0]
    raise KeyError(
        f"notebook {notebook!r} is not in the course catalogue; known: {', '.join(NOTEBOOKS)}"
    )

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


register(
    NotebookSpec(
        stem="01_catastrophic_forgetting",
        title="Catastrophic forgetting, measured, and what mitigates it",
        params={
            "MODEL": Param("model", optional=True, help="the instruction-tuned seq2seq model"),
            "NEW_TASK": Param("choice", choices=("sentiment_binary", "topic")),
            "TRAIN_STEPS": Param("int", 10, 5000, optional=True),
            "BATCH_SIZE": Param("int", 1, 256, optional=True),
            "LEARNING_RATE": Param("float", 1e-6, 1e-1),
            "LOW_LEARNING_RATE": Param("float", 1e-6, 1e-1),
            "LORA_RANK": Param("int", 1, 256),
            "LORA_ALPHA": Param("float", 0.1, 1024),
            "LORA_TARGETS": Param("choice", choices=("q,v", "q,k,v,o", "all-linear")),
            "LORA_LEARNING_RATE": Param("float", 1e-6, 1e-1),
            "REPLAY_SHARE": Param("float", 0.0, 0.9),
            "L2SP_STRENGTH": Param("float", 0.0, 10.0),
            "RANK_SWEEP": Param("int_list", 1, 256),
            "EVAL_EVERY": Param("int", 1, 5000, optional=True),
            "EVAL_EXAMPLES": Param("int", 5, 1000, optional=True),
        },
        defaults={
            "mini": {
                "MODEL": MINI_SEQ2SEQ,
                "TRAIN_STEPS": 200,
                "BATCH_SIZE": 32,
                "EVAL_EVERY": 25,
                "EVAL_EXAMPLES": 50,
            },
            "t4": {
                "MODEL": "google/flan-t5-small",
                "TRAIN_STEPS": 300,
                "BATCH_SIZE": 16,
                "EVAL_EVERY": 50,
                "EVAL_EXAMPLES": 50,
            },
        },
        downloads=(Download("google/flan-t5-small", "model", 0.3),),
        t4_gpu_gb=4.0,
        t4_minutes=15,
        uses_mini_models=True,
    )
)


register(
    NotebookSpec(
        stem="02_flan_t5_instruction_tuning",
        title="Instruction tuning FLAN-T5: prompting vs fine-tuning, measured with ROUGE",
        params={
            "MODEL": Param("model", optional=True, help="the instruction-tuned seq2seq model"),
            "TRAIN_STEPS": Param("int", 1, 20000, optional=True, help="optimizer steps per run"),
            "BATCH_SIZE": Param("int", 1, 256, optional=True, help="training examples per step"),
            "LEARNING_RATE": Param("float", 1e-6, 1e-1, optional=True, help="peak AdamW lr"),
            "MAX_SOURCE_TOKENS": Param("int", 16, 4096, optional=True, help="prompt length"),
            "MAX_TARGET_TOKENS": Param("int", 4, 1024, optional=True, help="summary length"),
            "MAX_PROMPT_TOKENS": Param("int", 16, 8192, optional=True, help="few-shot prompts"),
            "NUM_SHOTS": Param("int", 2, 8, help="worked examples in the few-shot prompt"),
            "EVAL_EXAMPLES": Param("int", 5, 5000, optional=True, help="test dialogues scored"),
            "EVAL_BATCH_SIZE": Param("int", 1, 512, optional=True, help="prompts per generate"),
            "ABLATION_FRACTIONS": Param(
                "float_list", 0.001, 1.0, optional=True, help="shares of the training set"
            ),
            "SHOW_EXAMPLES": Param("int", 1, 20, help="test dialogues shown side by side"),
        },
        defaults={
            "mini": {
                "MODEL": MINI_SEQ2SEQ,
                "TRAIN_STEPS": 120,
                "BATCH_SIZE": 16,
                "LEARNING_RATE": 3e-3,
                "MAX_SOURCE_TOKENS": 128,
                "MAX_TARGET_TOKENS": 32,
                "MAX_PROMPT_TOKENS": 384,
                "EVAL_EXAMPLES": 60,
                "EVAL_BATCH_SIZE": 64,
                "ABLATION_FRACTIONS": [0.1, 0.3, 1.0],
            },
            "t4": {
                "MODEL": "google/flan-t5-base",
                "TRAIN_STEPS": 300,
                "BATCH_SIZE": 8,
                "LEARNING_RATE": 3e-4,
                "MAX_SOURCE_TOKENS": 512,
                "MAX_TARGET_TOKENS": 96,
                "MAX_PROMPT_TOKENS": 1024,
                "EVAL_EXAMPLES": 100,
                "EVAL_BATCH_SIZE": 16,
                "ABLATION_FRACTIONS": [0.01, 0.1, 1.0],
            },
        },
        downloads=(
            Download("google/flan-t5-base", "model", 1.0),
            Download("knkarthick/dialogsum", "dataset", 0.01),
        ),
        t4_gpu_gb=8.0,
        t4_minutes=25,
        uses_mini_models=True,
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

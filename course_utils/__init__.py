"""course_utils: the helper package every notebook of the fine-tuning course imports.

Each notebook and the modules it teaches from (a ``# @save`` cell of the notebook is the one
source of the functions it writes out; ``python -m course_utils lessons --check`` compares):
    00 set-up check        tooling.env_check
    01 forgetting          forgetting (L2-SP, replay, Mitigations), training (the step)
    02 instruction tuning  instruction_tuning (templates, Seq2SeqTrainer), rouge (ROUGE-N/L)
    03 prompt tuning       soft_prompts (SoftPrompt, bottleneck adapter), peft_family (Methods)
    04 LoRA                lora (LoRALinear, counting by formula), peft_family (Methods)
    05 QLoRA               quantization (absmax, zero-point, NF4), memory (budgets), qlora
    06 DPO                 preference (Bradley-Terry, DPO, SFT and reward-model stages), recipes
    07 GRPO                grpo (rewards, group advantages, the clipped loss, KL), qlora
    08 RLHF                rlhf (best-of-n and its KL; runs at matched KL), preference, grpo
    09 Evaluation          harness (lm-eval tasks, bootstrap, detectable difference, n-grams, judge)

Shared by the lessons:
    training            a small explicit PyTorch training loop and its label-masked step
    experiment          the one harness of notebooks 01, 03, 04: train a copy one way, measure
    evaluation          greedy generation and exact match
    counting            parameter counts, models on the meta device
    data                the bundled datasets (mini) and their Hub counterparts (t4)
    mini                the offline mini world: task mixture, tokenizers, mini models

The machinery that runs the course lives out of the way in ``course_utils.tooling``
(parameters, profiles, the notebook runner, the command line, badges, stand-ins, the Colab
install, ``launch``: the plumbing of scripts/sft.py and scripts/dpo.py). A notebook needs only
what this module exports: ``setup``, ``record``, ``check`` (whether the run shows a claim of
the prose), ``show_recorded``, ``save_figure`` and ``use_lesson_code`` (the last line of each
``# @save`` cell).
"""

# First, before anything imports torch: the kernel choices that make x86-64 CPUs agree.
from .core import numerics

numerics.pin()

from .tooling.figures import save_figure  # noqa: E402
from .tooling.lesson_cells import use_lesson_code  # noqa: E402
from .tooling.params import ParameterError  # noqa: E402
from .tooling.results import check, record, recorded, show_recorded  # noqa: E402
from .tooling.session import Session, setup  # noqa: E402

__version__ = "0.1.0"
__all__ = [
    "ParameterError",
    "Session",
    "check",
    "record",
    "recorded",
    "save_figure",
    "show_recorded",
    "setup",
    "use_lesson_code",
    "__version__",
]

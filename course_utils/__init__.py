"""course_utils: the helper package every notebook of the fine-tuning course imports.

The lessons, one module per concept (each names the notebook that teaches it):
    forgetting          01  catastrophic forgetting; replay, L2-SP and LoRA as remedies
    instruction_tuning  02  templates, prompts, prompt-completion pairs, Seq2SeqTrainer
    rouge               02  ROUGE-1/2/L from first principles
    soft_prompts        03  a soft prompt and a bottleneck adapter, from scratch (notebook to come)

Shared by the lessons:
    training            a small explicit PyTorch training loop
    evaluation          greedy generation and exact match
    data                the bundled datasets (mini) and their Hub counterparts (t4)
    mini                the offline mini world: task mixture, tokenizers, mini models

The machinery that runs the course lives out of the way in ``course_utils.tooling``
(parameters, profiles, the notebook runner, the command line, badges, stand-ins).
A notebook needs only what this module exports: ``setup``, ``record`` and ``save_figure``.
"""

from .tooling.figures import save_figure
from .tooling.params import ParameterError
from .tooling.results import record, recorded, show_recorded
from .tooling.session import Session, setup

__version__ = "0.1.0"
__all__ = [
    "ParameterError",
    "Session",
    "record",
    "recorded",
    "save_figure",
    "show_recorded",
    "setup",
    "__version__",
]

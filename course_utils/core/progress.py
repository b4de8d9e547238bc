"""Progress display for Hugging Face trainers inside notebooks."""

from __future__ import annotations

from typing import Any

from .hub import env_flag


def bar_only_progress(trainer: Any) -> None:
    """Give ``trainer`` a plain tqdm progress bar that prints no log lines.

    In Jupyter the Trainer's default is an HTML table of every logged loss, which ignores
    ``TQDM_DISABLE`` and fills executed notebooks; the bar alone is enough (the notebooks plot
    the losses), and the course runner switches it off with ``TQDM_DISABLE=1``.
    """
    from transformers.trainer_callback import ProgressCallback
    from transformers.utils.notebook import NotebookProgressCallback

    class BarOnly(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            return None

    removed = [trainer.pop_callback(c) for c in (NotebookProgressCallback, ProgressCallback)]
    # tqdm's notebook bar ignores TQDM_DISABLE (it passes disable=False itself): check here.
    if any(r is not None for r in removed) and not env_flag("TQDM_DISABLE"):
        trainer.add_callback(BarOnly)

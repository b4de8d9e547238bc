"""Saving a notebook's figures where the course runner collects them.

The runner sets ``COURSE_FIGURES_DIR`` for each notebook it executes. A notebook calls
``save_figure(fig, "lora_rank_sweep")`` after plotting; run by hand (variable unset) nothing is
written and the figure is only shown inline.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

FIGURES_ENV = "COURSE_FIGURES_DIR"


def save_figure(fig: Any, name: str) -> Path | None:
    """Save a matplotlib figure as ``$COURSE_FIGURES_DIR/<name>.png``; None when unset."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name[0] == ".":
        raise ValueError(
            f"save_figure(): name {name!r} must be a plain file name like 'loss_curve'"
        )
    folder = os.environ.get(FIGURES_ENV)
    if not folder:
        return None
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path

"""An example: a task's name, the prompt the model sees and the answer it should give."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """One prompt of a task and its expected answer."""

    task: str
    prompt: str
    target: str

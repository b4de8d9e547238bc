"""Recording a notebook's key numbers by name, for tests and the instructor's summary.

A notebook calls ``record("old_acc_full_ft", 0.31)``. Run by hand, that prints a readable line.
Run by the course runner, which sets ``COURSE_RESULTS_FILE``, the value is also written to that
JSON file, which the runner turns into ``<stem>.results.json`` and the summary.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

RESULTS_ENV = "COURSE_RESULTS_FILE"

_recorded: dict[str, Any] = {}


def _plain(value: Any, name: str) -> Any:
    """Turn numpy/torch scalars into plain Python numbers; reject what JSON cannot hold."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"record({name!r}): value {value!r} is not a finite number")
        return value
    if isinstance(value, list | tuple):
        return [_plain(v, name) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, name) for k, v in value.items()}
    raise TypeError(
        f"record({name!r}): value of type {type(value).__name__} cannot be recorded; "
        "use a number, string, bool, or a list/dict of them"
    )


def record(name: str, value: Any) -> Any:
    """Record a named result; returns the value so it can be used inline."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(
            f"record(): name {name!r} must be a Python identifier, e.g. 'rouge1_few_shot'"
        )
    plain = _plain(value, name)
    _recorded[name] = plain
    shown = f"{plain:.4f}" if isinstance(plain, float) else repr(plain)
    print(f"[recorded] {name} = {shown}")
    path = os.environ.get(RESULTS_ENV)
    if path:
        target = Path(path)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(_recorded, indent=2, sort_keys=True))
        tmp.replace(target)
    return value


def recorded() -> dict[str, Any]:
    """A copy of everything recorded in this process so far."""
    return dict(_recorded)


def clear() -> None:
    """Forget what was recorded (used by tests)."""
    _recorded.clear()

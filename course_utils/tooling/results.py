"""Recording a notebook's key numbers by name, for tests and the instructor's summary.

A notebook calls ``record("old_acc_full_ft", 0.31)``, which prints nothing; run by the course
runner, which sets ``COURSE_RESULTS_FILE``, the value is written to that JSON file, which the
runner turns into ``<stem>.results.json`` and the summary. ``check(claim, holds)`` prints
whether the run shows a claim of the prose and records it. ``show_recorded()`` ends a notebook
with one compact block of what it recorded (at most ``MAX_LINES`` lines).
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

RESULTS_ENV = "COURSE_RESULTS_FILE"
#: The most lines ``show_recorded`` prints, and their width.
MAX_LINES, WIDTH = 15, 100

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
    path = os.environ.get(RESULTS_ENV)
    if path:
        target = Path(path)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(_recorded, indent=2, sort_keys=True))
        tmp.replace(target)
    return value


def _short(value: Any) -> str:
    if isinstance(value, float):
        return (
            f"{value:.3g}" if value and (abs(value) < 1e-3 or abs(value) >= 1e4) else f"{value:.3f}"
        )
    text = (
        json.dumps(value, separators=(",", ":")) if isinstance(value, list | dict) else str(value)
    )
    return text if len(text) <= 24 else text[:21] + "..."


def recorded_lines(values: dict[str, Any], max_lines: int = MAX_LINES, width: int = WIDTH):
    """``values`` as ``name value`` pairs packed into lines of ``width`` characters: a header
    and at most ``max_lines`` - 1 lines of values, then how many were left out."""
    header = f"{len(values)} values recorded (all of them: <notebook>.results.json, or recorded())"
    lines, current = [header], ""
    for index, (name, value) in enumerate(values.items()):
        pair = f"{name} {_short(value)}"
        if current and len(current) + 3 + len(pair) > width:
            if len(lines) == max_lines - 1:
                lines.append(current + f"  ... and {len(values) - index} more")
                return lines
            lines.append(current)
            current = ""
        current = f"{current} · {pair}" if current else pair
    return lines + [current] if current else lines


def show_recorded() -> None:
    """Print what this notebook recorded, compactly (see ``recorded_lines``)."""
    print("\n".join(recorded_lines(_recorded)))


def recorded() -> dict[str, Any]:
    """A copy of everything recorded in this process so far."""
    return dict(_recorded)


def clear() -> None:
    """Forget what was recorded (used by tests)."""
    _recorded.clear()


#: The start of every check's recorded name.
CLAIM_PREFIX = "claim_"


def check_key(claim: str) -> str:
    """The recorded name of a check: ``claim_`` and the claim's words, lowercase."""
    words = re.findall(r"[a-z0-9]+", claim.lower().replace("+", " plus "))
    return CLAIM_PREFIX + "_".join(words)[:80].rstrip("_")


def check(claim: str, holds: bool, **numbers: float) -> None:
    """Say whether this run shows ``claim`` (one line; with the ``numbers`` it rests on when it
    does not) and record it as ``claim_<claim's words>``: the notebook tests require every check
    to hold at seeds 0, 1 and 2, so a student who changes a parameter sees the result change.
    Returns nothing, so a check ending a cell adds no ``True`` under its line."""
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError(f"check(): claim {claim!r} must be a sentence")
    holds = bool(holds)
    if holds:
        print(f"✓ {claim}")
    else:
        shown = ", ".join(f"{k} = {_short(_plain(v, k))}" for k, v in numbers.items())
        print(f"✗ not in this run: {claim}" + (f" ({shown})" if shown else ""))
    record(check_key(claim), holds)

"""The reference run: what every notebook records at seed 0 in ``mini``, on pinned numerics.

``reference/mini-seed0.json`` holds each notebook's recorded results from a run at the notebooks'
own defaults (profile ``mini``, seed 0, with the exercises' solutions), without the values that
measure the machine rather than the lesson (seconds, latency, peak memory). With the CPU kernels
pinned (``core.numerics``) every x86-64 machine with AVX2 reproduces it exactly.

    python -m course_utils compare outputs/mini            did this run reproduce it?
    python -m course_utils compare outputs/mini --update   make this run the reference
    python -m course_utils readme                          README's figures from its timings

The notebook tests require their run to equal it, so a change that moves a number updates the
reference in the same commit, where the diff shows which numbers moved.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import paths
from .results import CLAIM_PREFIX

#: Recorded values that measure the machine (time, memory of a run), not the lesson.
MACHINE_KEY = re.compile(r"seconds|latency|peak|gpu_gb")
#: The run the reference describes: the mini profile at every notebook's own defaults.
REFERENCE_PARAMETERS = {"PROFILE": "mini"}


def reference_file() -> Path:
    return paths.repo_root() / "reference" / "mini-seed0.json"


def lesson_values(results: dict[str, Any]) -> dict[str, Any]:
    """``results`` without the values that measure the machine (a check's verdict stays)."""
    return {
        k: v
        for k, v in sorted(results.items())
        if k.startswith(CLAIM_PREFIX) or not MACHINE_KEY.search(k)
    }


def _rows(run_dir: Path) -> dict[str, dict[str, Any]]:
    path = Path(run_dir) / "summary.json"
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(f"{path}: no run summary there ({exc.__class__.__name__})") from exc
    return {row["notebook"]: row for row in rows if isinstance(row, dict) and "notebook" in row}


def why_not_comparable(row: dict[str, Any]) -> str | None:
    """Why a notebook's run cannot be held against the reference (None if it can)."""
    if row.get("status") != "ok":
        return "it failed"
    if row.get("profile") != "mini":
        return f"it ran in the {row.get('profile')!r} profile"
    parameters = row.get("parameters")
    if parameters is None:
        return "its run predates the reference (no parameters in summary.json)"
    changed = {k: v for k, v in parameters.items() if REFERENCE_PARAMETERS.get(k) != v}
    if changed:
        return "it ran with " + ", ".join(f"{k}={v!r}" for k, v in changed.items())
    if not row.get("solutions"):
        return "it ran without the solutions (run with --solutions)"
    return None


@dataclass
class Comparison:
    """A run held against the reference, notebook by notebook."""

    compared: int = 0
    differences: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the reference, not in the run
    extra: list[str] = field(default_factory=list)  # in the run, not in the reference
    skipped: list[str] = field(default_factory=list)  # notebooks that cannot be compared
    notebooks: int = 0

    @property
    def reproduced(self) -> bool:
        return self.notebooks > 0 and not (self.differences or self.missing or self.extra)

    def verdict(self) -> str:
        """One line: whether the run reproduced the reference."""
        source = reference_file().relative_to(paths.repo_root())
        if self.reproduced:
            text = (
                f"Reproduced the reference run ({source}): {self.compared} recorded values of "
                f"{self.notebooks} notebook(s) identical"
            )
            return text + (f"; {len(self.skipped)} not comparable" if self.skipped else ".")
        if self.notebooks == 0:
            return f"Nothing to compare with the reference run ({source}): " + "; ".join(
                self.skipped or ["no notebook ran"]
            )
        problems = len(self.differences) + len(self.missing) + len(self.extra)
        return (
            f"Did NOT reproduce the reference run ({source}): {problems} of "
            f"{self.compared + len(self.missing) + len(self.extra)} recorded values differ"
        )

    def details(self, limit: int = 20) -> list[str]:
        lines = self.differences + [f"{m} (missing from this run)" for m in self.missing]
        lines += [f"{e} (not in the reference)" for e in self.extra] + self.skipped
        more = [f"... and {len(lines) - limit} more"] if len(lines) > limit else []
        return lines[:limit] + more


def compare(run_dir: Path, reference: dict[str, Any] | None = None) -> Comparison:
    """Hold the run in ``run_dir`` against the reference (default: the committed one)."""
    reference = read() if reference is None else reference
    result = Comparison()
    for stem, row in _rows(run_dir).items():
        expected = reference["notebooks"].get(stem)
        reason = "it is not in the reference" if expected is None else why_not_comparable(row)
        if reason:
            result.skipped.append(f"{stem}: not comparable, {reason}")
            continue
        result.notebooks += 1
        got = lesson_values(row.get("results") or {})
        for key in sorted(expected.keys() | got.keys()):
            if key not in got:
                result.missing.append(f"{stem}.{key}")
            elif key not in expected:
                result.extra.append(f"{stem}.{key}")
            else:
                result.compared += 1
                if got[key] != expected[key]:
                    result.differences.append(
                        f"{stem}.{key}: reference {_short(expected[key])}, "
                        f"this run {_short(got[key])}"
                    )
    return result


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read() -> dict[str, Any]:
    return json.loads(reference_file().read_text())


def update(run_dir: Path) -> Path:
    """Make the run in ``run_dir`` the reference: every notebook of it must be comparable."""
    rows = _rows(run_dir)
    problems = [f"{stem}: {why}" for stem, row in rows.items() if (why := why_not_comparable(row))]
    if problems:
        raise ValueError("cannot be the reference: " + "; ".join(problems))
    known = read()["notebooks"] if reference_file().exists() else {}
    notebooks = {**known, **{s: lesson_values(r.get("results") or {}) for s, r in rows.items()}}
    text = json.dumps(
        {
            "about": "Seed 0 of every notebook in the mini profile, with the solutions, on pinned "
            "numerics (course_utils/tooling/reference.py); machine-dependent values left out.",
            "notebooks": dict(sorted(notebooks.items())),
        },
        indent=1,
        sort_keys=False,
    )
    path = reference_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    measured = timings(run_dir)
    if timings_file().exists():  # a run of some notebooks keeps the others' figures
        kept = json.loads(timings_file().read_text())["notebooks"]
        measured["notebooks"] = dict(sorted({**kept, **measured["notebooks"]}.items()))
    timings_file().write_text(json.dumps(measured, indent=1) + "\n")
    return path


# ----- the reference run's timings: the README's measured figures --------------------------

README_BEGIN = "<!-- measured figures: written by `python -m course_utils readme`, do not edit -->"
README_END = "<!-- end of the measured figures -->"


def timings_file() -> Path:
    return paths.repo_root() / "reference" / "mini-seed0.timings.json"


def timings(run_dir: Path) -> dict[str, Any]:
    """What the run in ``run_dir`` measured of the machine: seconds and peak memory."""
    rows = _rows(run_dir)
    some = next(iter(rows.values()), {})
    return {
        "about": "The reference run's timings and memory (course_utils/tooling/reference.py): "
        "the machine's own figures, rendered into README.md by `python -m course_utils readme`.",
        "machine": some.get("machine", "unknown"),
        "versions": some.get("versions", "unknown"),
        "date": max((r.get("finished", "") for r in rows.values()), default="")[:10],
        "notebooks": {
            stem: {"seconds": r["seconds"], "peak_mb": r["peak_mb"], "alone": r.get("alone", True)}
            for stem, r in sorted(rows.items())
        },
    }


def readme_table(record: dict[str, Any], budget_seconds: float) -> str:
    """The README's table of measured figures, from a timings record."""
    rows = record["notebooks"]
    together = [s for s, r in rows.items() if not r["alone"]]
    lines = [
        README_BEGIN,
        f"The reference run ({record['date']}; {record['machine']}; {record['versions']}), "
        "`mini` with the solutions"
        + (", two notebooks side by side" if together else ", one notebook at a time")
        + f". Budget: {budget_seconds:.0f} s a notebook, run alone.",
        "",
        "| notebook | seconds | peak memory (MB) |",
        "| --- | ---: | ---: |",
    ]
    for stem, r in rows.items():
        alone = " (run alone)" if together and r["alone"] else ""
        lines.append(f"| {stem} | {r['seconds']:.0f}{alone} | {r['peak_mb']:.0f} |")
    total = sum(r["seconds"] for r in rows.values())
    lines += [f"| all, added up | {total:.0f} | |", README_END]
    return "\n".join(lines)


def write_readme(readme: Path | None = None) -> bool:
    """Rewrite README.md's measured figures from the timings record; True if it changed."""
    from .runner import MINI_BUDGET_SECONDS

    readme = readme or paths.repo_root() / "README.md"
    text = readme.read_text()
    if text.count(README_BEGIN) != 1 or text.count(README_END) != 1:
        raise ValueError(f"{readme}: needs one {README_BEGIN!r} and one {README_END!r}")
    start, end = text.index(README_BEGIN), text.index(README_END) + len(README_END)
    table = readme_table(json.loads(timings_file().read_text()), MINI_BUDGET_SECONDS)
    new = text[:start] + table + text[end:]
    if new != text:
        readme.write_text(new)
    return new != text

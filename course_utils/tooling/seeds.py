"""The checks at other seeds: every ``course_utils.check`` of a notebook must hold at seeds 0, 1
and 2 in ``mini``.

Seed 0 is the test run itself. Seeds 1 and 2 would triple the notebook tests' time, so they are
run by ``python -m course_utils seeds [NN ...]`` (about two minutes a notebook and seed on two
cores) and their verdicts kept in ``reference/checks-by-seed.json``, each notebook's entry
stamped with what it was run from: the hash of the notebook's code cells and of its seed-0
reference values. A test requires every entry to be current (an edit of the notebook, or a
change that moves its seed-0 numbers, asks for a new run of its seeds), to hold the same checks
as the seed-0 run, and every check to hold.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from ..core import paths
from . import reference
from .results import CLAIM_PREFIX

SEEDS = (1, 2)


def record_file() -> Path:
    return paths.repo_root() / "reference" / "checks-by-seed.json"


def code_hash(notebook: Path) -> str:
    """The hash of a notebook's code cells (its prose may change freely)."""
    cells = json.loads(notebook.read_text())["cells"]
    code = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return hashlib.sha256(code.encode()).hexdigest()[:12]


def reference_hash(stem: str) -> str:
    """The hash of a notebook's seed-0 values in the reference run."""
    values = reference.read()["notebooks"].get(stem, {})
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def checks_of(results: dict[str, Any]) -> dict[str, bool]:
    return {k: v for k, v in sorted(results.items()) if k.startswith(CLAIM_PREFIX)}


def read() -> dict[str, Any]:
    path = record_file()
    return json.loads(path.read_text())["notebooks"] if path.exists() else {}


def run(notebooks: list[Path], jobs: int = 2) -> Path:
    """Run ``notebooks`` at seeds 1 and 2 (mini, with the solutions) and record their checks."""
    from .runner import RunnerError, run_notebooks

    verdicts: dict[str, dict[str, dict[str, bool]]] = {p.stem: {} for p in notebooks}
    for seed in SEEDS:
        with tempfile.TemporaryDirectory() as folder:
            results = run_notebooks(
                notebooks, "mini", Path(folder), {"SEED": seed}, solutions=True, jobs=jobs
            )
            failed = [r.notebook for r in results if r.status != "ok"]
            if failed:
                raise RunnerError(f"seed {seed}: {', '.join(failed)} failed; nothing recorded")
            for result in results:
                verdicts[result.notebook][str(seed)] = checks_of(result.results or {})
    entries = read()
    for path in notebooks:
        entries[path.stem] = {
            "code": code_hash(path),
            "reference": reference_hash(path.stem),
            "seeds": verdicts[path.stem],
        }
    about = (
        "The checks of each notebook at seeds 1 and 2 (mini, with the solutions), written by "
        "`python -m course_utils seeds` (course_utils/tooling/seeds.py)."
    )
    text = json.dumps({"about": about, "notebooks": dict(sorted(entries.items()))}, indent=1)
    record_file().write_text(text + "\n")
    return record_file()


def problems(notebook: Path, seed0_checks: dict[str, bool]) -> list[str]:
    """Why the recorded seeds of ``notebook`` do not show its checks holding (empty if they do)."""
    entry = read().get(notebook.stem)
    command = f"python -m course_utils seeds {notebook.name[:2]}"
    if not seed0_checks:
        return []
    if entry is None:
        return [f"no run of its seeds 1 and 2: {command}"]
    found = []
    if entry["code"] != code_hash(notebook):
        found.append(f"its code changed since its seeds ran: {command}")
    if entry["reference"] != reference_hash(notebook.stem):
        found.append(f"its seed-0 reference moved since its seeds ran: {command}")
    for seed in map(str, SEEDS):
        checks = entry["seeds"].get(seed, {})
        if set(checks) != set(seed0_checks):
            found.append(f"seed {seed} ran other checks than seed 0: {command}")
        found += [f"seed {seed}: {name} does not hold" for name, ok in checks.items() if not ok]
    return found

"""What the README, CONTRIBUTING and the command line's help promise exists."""

from __future__ import annotations

import re

from course_utils.core import paths
from course_utils.tooling import catalog, cli

ROOT = paths.repo_root()


def run_examples(text: str) -> list[tuple[str, list[str]]]:
    """(notebook, parameter names) of every `course_utils run NN ... -p NAME ...` example."""
    found = []
    for line in text.splitlines():
        match = re.search(r"course_utils run ((?:\d\d ?)+)(.*)", line)
        if match:
            names = re.findall(r"-p (\w+)", match.group(2))
            found += [(number, names) for number in match.group(1).split()]
    return found


def test_every_documented_parameter_exists():
    texts = {
        "README.md": (ROOT / "README.md").read_text(),
        "CONTRIBUTING.md": (ROOT / "CONTRIBUTING.md").read_text(),
        "run --help": cli.RUN_EPILOG,
    }
    checked = 0
    for where, text in texts.items():
        for number, names in run_examples(text):
            spec = catalog.spec_for(number)
            for name in names:
                assert name in spec.params or name == "SEED", f"{where}: {number} has no {name}"
                checked += 1
    assert checked >= 3


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    for path in paths.course_notebooks():
        assert f"(notebooks/{path.name})" in readme, path.name


def test_readme_memory_table_is_the_estimators():
    from course_utils.memory import memory_table

    assert memory_table() in (ROOT / "README.md").read_text(), (
        "run python -m course_utils memory-table"
    )

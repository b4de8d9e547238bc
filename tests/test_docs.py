"""What the README, CONTRIBUTING and the command line's help promise exists."""

from __future__ import annotations

import json
import re
import runpy

import course_utils
from course_utils.core import paths
from course_utils.tooling import badges, catalog, cli, reference, runner

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


def test_readme_measured_figures_are_the_reference_runs():
    readme = (ROOT / "README.md").read_text()
    record = json.loads(reference.timings_file().read_text())
    table = reference.readme_table(record, runner.MINI_BUDGET_SECONDS)
    assert table in readme, "run `python -m course_utils readme`"
    assert set(record["notebooks"]) == {p.stem for p in paths.course_notebooks()}


def test_the_package_docstring_lists_every_notebook():
    table = course_utils.__doc__.split("Shared by the lessons")[0]
    for path in paths.course_notebooks():
        assert re.search(rf"^    {path.name[:2]} ", table, re.M), path.name


def test_every_notebook_has_a_test_module_naming_its_stem():
    for path in paths.course_notebooks():
        if path.name.startswith("00"):
            continue  # the set-up check: tests/test_notebooks.py
        test = ROOT / "tests" / f"test_notebook_{path.name[:2]}.py"
        assert test.is_file(), test
        assert f'STEM = "{path.stem}"' in test.read_text(), test


def test_the_websites_repository_button_is_the_badges_repository():
    conf = runpy.run_path(str(ROOT / "site" / "conf.py"))
    assert conf["html_theme_options"]["repository_url"] == badges.course_repo().url

"""Every notebook's t4 code path, run on this machine with the Hub replaced by local stand-ins.

Each Hub model becomes a mini model of the same architecture and each Hub dataset a small local
copy with the Hub's exact schema; step counts are cut to a few (the catalogue's ``stand_in``).
Without a GPU the t4 profile runs on the CPU with a T4's settings. A column rename, a split
mix-up or a branch that breaks only in t4 fails here instead of on a student's Colab.
"""

from __future__ import annotations

import json

import pytest

from course_utils.core import paths
from course_utils.tooling import runner

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def t4_run(mini_report, tmp_path_factory):
    out = tmp_path_factory.mktemp("t4-stand-ins")
    results = runner.run_notebooks([], "t4", out, {}, stand_ins=True)
    return out, {r.notebook: r for r in results}


def test_every_notebook_runs_its_t4_path(t4_run):
    out, results = t4_run
    assert sorted(results) == [p.stem for p in paths.course_notebooks()]
    failed = {name: r.error for name, r in results.items() if r.status != "ok"}
    assert not failed
    summary = json.loads((out / "summary.json").read_text())
    assert {row["profile"] for row in summary} == {"t4 with Hub stand-ins"}


def test_the_notebooks_saw_the_t4_profile(t4_run):
    out, results = t4_run
    assert results["00_setup_check"].results["profile"] == "t4"
    for stem in results:
        executed = (out / f"{stem}.ipynb").read_text()
        assert "float16" in executed, stem  # setup() printed the dtype a T4 gets

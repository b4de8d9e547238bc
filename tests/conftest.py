"""Shared fixtures: the mini models (built once, cached in models/) and one runner pass."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def mini_report() -> dict:
    """The build report of the mini models, building them first if needed (a few minutes)."""
    from course_utils.mini.build import ensure_built

    return ensure_built()


@pytest.fixture(scope="session")
def course_run(mini_report, tmp_path_factory) -> Path:
    """Every course notebook executed once in the mini profile; returns the output folder."""
    from course_utils import runner

    out = tmp_path_factory.mktemp("course-mini")
    runner.run_notebooks([], "mini", out, {})
    return out

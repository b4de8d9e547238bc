"""Where the course keeps its files: the repository, bundled data, built mini models."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent


def repo_root() -> Path:
    """The repository checkout this package was imported from."""
    return REPO_ROOT


def data_dir() -> Path:
    """Bundled datasets (``data/`` at the top of the repository)."""
    return Path(os.environ.get("COURSE_DATA_DIR", REPO_ROOT / "data"))


def models_dir() -> Path:
    """Where ``build-mini`` writes the mini models (override with ``COURSE_MODELS_DIR``)."""
    return Path(os.environ.get("COURSE_MODELS_DIR", REPO_ROOT / "models"))


def notebooks_dir() -> Path:
    """The numbered notebooks."""
    return REPO_ROOT / "notebooks"

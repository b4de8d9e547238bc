"""Where the course keeps its files: the repository, bundled data, the shipped mini models."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = PACKAGE_DIR.parent


def repo_root() -> Path:
    """The repository checkout this package was imported from."""
    return REPO_ROOT


def data_dir() -> Path:
    """Bundled datasets (``data/`` at the top of the repository)."""
    return Path(os.environ.get("COURSE_DATA_DIR", REPO_ROOT / "data"))


def models_dir() -> Path:
    """The mini models, shipped in ``models/`` (override with ``COURSE_MODELS_DIR``)."""
    return Path(os.environ.get("COURSE_MODELS_DIR", REPO_ROOT / "models"))


#: The file names of the course's numbered notebooks: 00_setup_check.ipynb, 01_...
NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"


def notebooks_dir() -> Path:
    """The numbered notebooks."""
    return REPO_ROOT / "notebooks"


def course_notebooks(folder: Path | None = None) -> list[Path]:
    """The numbered course notebooks in ``folder`` (default: notebooks/), in order."""
    return sorted((folder or notebooks_dir()).glob(NOTEBOOK_PATTERN))


def stand_ins_dir() -> Path:
    """Where the t4 stand-in test keeps its local copies of Hub datasets (a build cache)."""
    return Path(os.environ.get("COURSE_CACHE_DIR", REPO_ROOT / "build")) / "hub-stand-ins"


def stand_in_dataset_dir(repo_id: str) -> Path:
    """The local copy of the Hub dataset ``repo_id`` ("owner/name") in the stand-in test:
    ``stand_ins_dir()/name``, written by ``tooling.standins``."""
    return stand_ins_dir() / repo_id.rsplit("/", 1)[-1]

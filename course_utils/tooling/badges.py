"""Colab badges and the Colab setup cell's ``COURSE_REPO`` line, kept in step with pyproject.toml.

The repository slug and branch live in ``pyproject.toml`` under ``[tool.course]``. Every notebook's
first cell is markdown: a title line and an "Open In Colab" badge pointing at that notebook on
GitHub; its setup cell clones ``COURSE_REPO = "https://github.com/<slug>"``. Change the slug or
branch, then run ``python -m course_utils badges`` (``--check`` in CI).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..core import paths

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_RE = re.compile(r"\[!\[Open In Colab\]\([^)\s]*\)\]\([^)\s]*\)")
REPO_LINE_RE = re.compile(r"""^(?P<indent>[ \t]*)COURSE_REPO\s*=\s*(["'])[^"'\n]*\2""", re.M)
# A Colab link to one of the notebooks, as written in the README.
README_LINK_RE = re.compile(
    r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/[^/\s)]+/notebooks/"
)
SLUG_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class CourseRepo:
    """The GitHub repository the badges and setup cells point at."""

    slug: str  # "owner/name"
    branch: str

    @property
    def url(self) -> str:
        return f"https://github.com/{self.slug}"

    @property
    def colab_prefix(self) -> str:
        """Colab address of the repository's notebooks/ folder, up to the file name."""
        return f"https://colab.research.google.com/github/{self.slug}/blob/{self.branch}/notebooks/"


def course_repo(pyproject: Path | None = None) -> CourseRepo:
    """Read ``[tool.course]`` repository and branch from pyproject.toml."""
    try:
        import tomllib
    except ModuleNotFoundError as exc:  # Python 3.10
        raise RuntimeError("reading pyproject.toml needs Python 3.11 or newer") from exc

    pyproject = pyproject or paths.repo_root() / "pyproject.toml"
    with open(pyproject, "rb") as handle:
        table = tomllib.load(handle).get("tool", {}).get("course", {})
    slug, branch = table.get("repository"), table.get("branch", "main")
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise ValueError(
            f"{pyproject}: [tool.course] repository = {slug!r} must look like 'owner/name'"
        )
    if not isinstance(branch, str) or not branch.strip() or " " in branch:
        raise ValueError(f"{pyproject}: [tool.course] branch = {branch!r} is not a branch name")
    return CourseRepo(slug=slug, branch=branch)


def badge_url(notebook_path: str | Path, pyproject: Path | None = None) -> str:
    """The Colab address that opens this notebook from GitHub."""
    return course_repo(pyproject).colab_prefix + Path(notebook_path).name


def badge_markdown(notebook_path: str | Path, pyproject: Path | None = None) -> str:
    """The markdown of the "Open In Colab" badge for this notebook."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({badge_url(notebook_path, pyproject)})"


def _fix_first_cell(source: str, badge: str) -> str:
    if BADGE_RE.search(source):
        return BADGE_RE.sub(lambda _: badge, source, count=1)
    title, _, rest = source.partition("\n")
    rest = rest.strip("\n")
    return f"{title}\n\n{badge}" + (f"\n\n{rest}" if rest else "")


def _fix_notebook(path: Path, repo: CourseRepo, pyproject: Path | None) -> tuple[object, bool]:
    """The notebook with its badge and COURSE_REPO lines fixed, and whether anything changed."""
    import nbformat

    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    if not nb.cells or nb.cells[0].cell_type != "markdown":
        raise ValueError(f"{path}: the first cell must be markdown with the title and Colab badge")
    changed = False
    first = nb.cells[0]
    fixed = _fix_first_cell(first.source, badge_markdown(path, pyproject))
    if fixed != first.source:
        first.source, changed = fixed, True
    line = f'COURSE_REPO = "{repo.url}"'
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        fixed = REPO_LINE_RE.sub(lambda m: m.group("indent") + line, cell.source)
        if fixed != cell.source:
            cell.source, changed = fixed, True
    return nb, changed


def _fix_readme(text: str, repo: CourseRepo) -> str:
    return README_LINK_RE.sub(lambda _: repo.colab_prefix, text)


def rewrite_badges(
    check: bool = False,
    notebooks_dir: Path | None = None,
    pyproject: Path | None = None,
    readme: Path | None = None,
) -> list[Path]:
    """Point every notebook's badge and COURSE_REPO line (and the README's Colab links) at the
    repository in pyproject.toml. Returns the files changed, or with ``check`` the files that
    are out of date (changing nothing). Outputs and all other content are left as they are.
    The README defaults to the one beside the notebooks folder."""
    import nbformat

    repo = course_repo(pyproject)
    folder = notebooks_dir or paths.notebooks_dir()
    changed: list[Path] = []
    for path in paths.course_notebooks(folder):
        nb, differs = _fix_notebook(path, repo, pyproject)
        if differs:
            changed.append(path)
            if not check:
                nbformat.write(nb, path, version=nbformat.NO_CONVERT)
    readme = readme or folder.parent / "README.md"
    if readme.is_file():
        text = readme.read_text()
        fixed = _fix_readme(text, repo)
        if fixed != text:
            changed.append(readme)
            if not check:
                readme.write_text(fixed)
    return changed

"""Colab badges and COURSE_REPO lines follow pyproject's [tool.course], on temporary copies."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_utils.tooling import badges, cli

PYPROJECT = """[project]
name = "x"

[tool.course]
repository = "acme/finetune-course"
branch = "dev"
"""
RIGHT = "https://colab.research.google.com/github/acme/finetune-course/blob/dev/notebooks/"
WRONG = "https://colab.research.google.com/github/someone/old-name/blob/main/notebooks/"
IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def make_notebook(path: Path, badge_base: str | None, repo: str) -> None:
    title = f"# {path.stem}\n"
    if badge_base is not None:
        title += f"\n[![Open In Colab]({IMAGE})]({badge_base}{path.name})\n"
    title += "\nA summary paragraph."
    setup = new_code_cell(
        f'import sys\nif "google.colab" in sys.modules:\n    COURSE_REPO = "{repo}"  # cloned\n'
        "print(1)",
        execution_count=1,
        outputs=[new_output("stream", name="stdout", text="1\n")],
    )
    nb = new_notebook(cells=[new_markdown_cell(title), setup, new_markdown_cell("## Part 1")])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


@pytest.fixture
def course(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    make_notebook(notebooks / "01_good.ipynb", RIGHT, "https://github.com/acme/finetune-course")
    make_notebook(notebooks / "02_wrong.ipynb", WRONG, "https://github.com/someone/old-name")
    make_notebook(notebooks / "03_no_badge.ipynb", None, "https://github.com/acme/finetune-course")
    return notebooks, tmp_path / "pyproject.toml"


def test_badge_url(course: tuple[Path, Path]) -> None:
    notebooks, pyproject = course
    assert badges.badge_url(notebooks / "02_wrong.ipynb", pyproject) == RIGHT + "02_wrong.ipynb"
    assert badges.course_repo(pyproject).url == "https://github.com/acme/finetune-course"


def test_check_finds_wrong_slug_and_changes_nothing(course: tuple[Path, Path]) -> None:
    notebooks, pyproject = course
    before = {p: p.read_bytes() for p in notebooks.iterdir()}
    stale = badges.rewrite_badges(check=True, notebooks_dir=notebooks, pyproject=pyproject)
    assert [p.name for p in stale] == ["02_wrong.ipynb", "03_no_badge.ipynb"]
    assert {p: p.read_bytes() for p in notebooks.iterdir()} == before


def test_rewrite_fixes_badges_and_keeps_everything_else(course: tuple[Path, Path]) -> None:
    notebooks, pyproject = course
    good_before = (notebooks / "01_good.ipynb").read_bytes()
    old = nbformat.read(notebooks / "02_wrong.ipynb", as_version=4)

    changed = badges.rewrite_badges(notebooks_dir=notebooks, pyproject=pyproject)
    assert [p.name for p in changed] == ["02_wrong.ipynb", "03_no_badge.ipynb"]
    assert badges.rewrite_badges(check=True, notebooks_dir=notebooks, pyproject=pyproject) == []
    assert (notebooks / "01_good.ipynb").read_bytes() == good_before  # untouched

    new = nbformat.read(notebooks / "02_wrong.ipynb", as_version=4)
    title = new.cells[0].source
    assert title.startswith("# 02_wrong\n")
    assert f"[![Open In Colab]({IMAGE})]({RIGHT}02_wrong.ipynb)" in title
    assert "old-name" not in title and "A summary paragraph." in title
    setup = new.cells[1]
    assert '    COURSE_REPO = "https://github.com/acme/finetune-course"  # cloned' in setup.source
    assert setup.outputs == old.cells[1].outputs and setup.execution_count == 1
    assert new.cells[2] == old.cells[2] and new.metadata == old.metadata

    inserted = nbformat.read(notebooks / "03_no_badge.ipynb", as_version=4).cells[0].source
    assert inserted.splitlines()[:3] == [
        "# 03_no_badge",
        "",
        f"[![Open In Colab]({IMAGE})]({RIGHT}03_no_badge.ipynb)",
    ]


def test_readme_links_follow_too(course: tuple[Path, Path]) -> None:
    notebooks, pyproject = course
    readme = notebooks.parent / "README.md"
    readme.write_text(f"| 02 | [![Open In Colab]({IMAGE})]({WRONG}02_wrong.ipynb) |\n")
    badges.rewrite_badges(notebooks_dir=notebooks, pyproject=pyproject)
    assert readme.read_text() == f"| 02 | [![Open In Colab]({IMAGE})]({RIGHT}02_wrong.ipynb) |\n"


def test_first_cell_must_be_markdown(course: tuple[Path, Path]) -> None:
    notebooks, pyproject = course
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1")]), notebooks / "04_code.ipynb")
    with pytest.raises(ValueError, match="04_code.*first cell must be markdown"):
        badges.rewrite_badges(check=True, notebooks_dir=notebooks, pyproject=pyproject)


def test_bad_slug_in_pyproject(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.course]\nrepository = "no-slash"\n')
    with pytest.raises(ValueError, match="'no-slash'.*owner/name"):
        badges.course_repo(pyproject)


def test_course_notebooks_are_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    """The real notebooks (read only): `python -m course_utils badges --check` passes."""
    assert cli.main(["badges", "--check"]) == 0, capsys.readouterr().out

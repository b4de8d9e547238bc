"""The course as a website: the executed notebooks of a run (``outputs/mini``, and
``outputs/t4`` where a run exists) rendered by Sphinx with myst-nb and sphinx-book-theme.

Nothing is executed here. Each notebook is copied and cleaned for reading: the parameters cell
that papermill injects, stderr (progress bars, library warnings), widget views and the record
dump (the cell that calls ``show_recorded()``) goes; the solution cells are folded under their
exercises (myst-nb's ``hide-cell``); the recorded results follow as a table. The landing page
holds each run's table, date, machine and versions, all from ``summary.json``. The build needs
no network: every asset (theme, search, the Colab badge) is local.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..core import paths
from . import catalog
from .results import show_recorded
from .runner import SOLUTION_TAG

SITE_SOURCES = paths.repo_root() / "site"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
LOCAL_BADGE = "/_static/colab-badge.svg"
PROFILES = ("mini", "t4")


def has_run(folder: Path) -> bool:
    return (folder / "summary.json").exists()


def summary_rows(run: Path) -> list[dict[str, Any]]:
    """The rows of a run's summary.json: one a notebook (see ``runner.NotebookResult``)."""
    return json.loads((run / "summary.json").read_text())


def run_profile(folder: Path) -> str:
    """The profile a run folder holds (``mini``, ``t4``, ...), from its summary."""
    rows = summary_rows(folder)
    return str(rows[0].get("profile", folder.name)) if rows else folder.name


def run_header(run: Path) -> dict[str, str]:
    """Where and when a run ran, from summary.json: the machine and versions of the notebook
    that finished last, and that moment; a key the rows do not hold is left out."""
    rows = sorted((r for r in summary_rows(run) if r.get("finished")), key=lambda r: r["finished"])
    last = rows[-1] if rows else {}
    header = {
        "machine": last.get("machine"),
        "date": last.get("finished"),
        "versions": last.get("versions"),
    }
    return {key: value for key, value in header.items() if value}


def _is_noise(output: Any) -> bool:
    """stderr (progress bars, warnings) and widget views, which need a live kernel."""
    if output.get("output_type") == "stream" and output.get("name") == "stderr":
        return True
    data = output.get("data", {})
    return "application/vnd.jupyter.widget-view+json" in data


def _called_name(function: ast.expr) -> str | None:
    """The name a call uses: ``f`` for ``f()`` and ``module.f()``."""
    if isinstance(function, ast.Attribute):
        return function.attr
    return function.id if isinstance(function, ast.Name) else None


def is_results_dump(source: str) -> bool:
    """Whether a code cell calls ``show_recorded``, found in its syntax tree: a comment or a
    string that names the function is no call, and any spelling of the call is one."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics or shell lines: not the dump
        return False
    return any(
        isinstance(node, ast.Call) and _called_name(node.func) == show_recorded.__name__
        for node in ast.walk(tree)
    )


def results_table(results: dict[str, Any]) -> str:
    """A notebook's recorded results as a Markdown table."""
    lines = ["| result | value |", "| --- | --- |"]
    for name, value in results.items():
        text = f"{value:.4g}" if isinstance(value, float) else json.dumps(value)
        lines.append(f"| `{name}` | {text} |")
    return "\n".join(lines)


def reading_copy(executed: Path, target: Path, results: dict[str, Any]) -> None:
    """The executed notebook, cleaned for reading (see the module's docstring)."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    nb.metadata.pop("widgets", None)
    cells = []
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            continue
        if cell.cell_type == "markdown":
            cell.source = cell.source.replace(COLAB_BADGE, LOCAL_BADGE)
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not _is_noise(o)]
            if is_results_dump(cell.source):  # the dump: a table instead
                cells.append(nbformat.v4.new_markdown_cell(results_table(results)))
                continue
        if SOLUTION_TAG in tags:  # folded under its exercise, with its own outputs
            if cell.cell_type == "raw":  # a lecture run: shown, not run
                cell = nbformat.v4.new_code_cell(cell.source, metadata=cell.metadata)
            cell.metadata["tags"] = [*tags, "hide-cell"]
        cells.append(cell)
    nb.cells = cells
    nbformat.write(nb, target)


def _status_table(rows: list[dict[str, Any]], folder: str) -> str:
    lines = [
        "| notebook | status | minutes | peak memory | key results |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for row in rows:
        spec = catalog.spec_or_none(row["notebook"])
        title = spec.title if spec else row["notebook"]
        name = f"{row['notebook'][:2]} · {title}"
        link = f"[{name}]({folder}/{row['notebook']}.ipynb)" if row["status"] == "ok" else name
        peak = f"{row['peak_mb'] / 1024:.2f} GB" if row.get("peak_mb") else ""
        results = list((row.get("results") or {}).items())[:3]
        key = ", ".join(
            f"`{k}` {v:.3g}" if isinstance(v, float) else f"`{k}` {v}" for k, v in results
        )
        lines.append(f"| {link} | {row['status']} | {row['seconds'] / 60:.1f} | {peak} | {key} |")
    return "\n".join(lines)


def landing_page(runs: dict[str, Path], pages: dict[str, list[str]]) -> str:
    """index.md: the course in a few lines, how to start, and each run's table; ``pages``:
    the notebooks of each profile that have a page."""
    text = (SITE_SOURCES / "intro.md").read_text()
    toctrees = []
    for profile, run in runs.items():
        rows = summary_rows(run)
        context = ", ".join(f"{k} {v}" for k, v in run_header(run).items())
        text += f"\n## The `{profile}` run\n\n{context}.\n\n{_status_table(rows, profile)}\n"
        entries = "\n".join(f"{profile}/{stem}" for stem in pages[profile])
        toctrees.append(
            f"```{{toctree}}\n:caption: Notebooks ({profile})\n:maxdepth: 1\n:hidden:\n\n"
            f"{entries}\n```\n"
        )
    return text + "\n" + "\n".join(toctrees)


def build(runs: dict[str, Path], out: Path) -> Path:
    """Render ``runs`` (profile -> run folder with executed notebooks and summary.json) into a
    static site in ``out``, which must be new or an earlier site (it is replaced only after a
    build without warnings). Returns out/index.html."""
    missing = [str(run) for run in runs.values() if not has_run(run)]
    if not runs or missing:
        raise FileNotFoundError(
            f"no executed run in {', '.join(missing) or 'runs'}: run 'make course' first"
        )
    if out.exists() and not (out / ".buildinfo").exists():
        raise FileExistsError(
            f"--out {out}: a folder that is not a site built here; name a new folder or an "
            "earlier site (the build replaces it)"
        )
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "src"
        shutil.copytree(SITE_SOURCES, work)
        pages: dict[str, list[str]] = {}
        for profile, run in runs.items():
            (work / profile).mkdir()
            pages[profile] = []
            for row in summary_rows(run):
                if row["status"] != "ok":  # a failed notebook: its old copy is not this run's
                    continue
                executed = run / f"{row['notebook']}.ipynb"
                reading_copy(executed, work / profile / executed.name, row.get("results") or {})
                pages[profile].append(row["notebook"])
        (work / "index.md").write_text(landing_page(runs, pages))
        html = Path(scratch) / "html"
        sphinx = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going"]
        doctrees = ["-d", str(Path(scratch) / "doctrees")]  # not published
        subprocess.run([*sphinx, *doctrees, str(work), str(html)], check=True)
        shutil.rmtree(out, ignore_errors=True)  # only now: a failed build leaves the old site
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(html, out)
    return out / "index.html"

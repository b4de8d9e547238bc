"""The course as a website: the executed notebooks of a run (``outputs/mini``, and
``outputs/t4`` where a run exists) rendered by Sphinx with myst-nb and sphinx-book-theme.

Nothing is executed here. Each notebook is copied and cleaned for reading: the parameters cell
that papermill injects, stderr (progress bars, library warnings), widget views and the record
dump (the cell that calls ``show_recorded()``) go; a banner under the title names the run
(profile, models, machine, date, commit); paths of the build machine in outputs are shortened;
plumbing is folded (the Colab set-up, the code behind each figure), lesson cells never; the
solution cells are folded under their exercises ("Show the solution"), each with the
explanation that follows it; the runner's instructions, meaningless on the web, go; the
recorded results follow, folded, with names and numbers for readers, beside the other run's.
The landing page holds a card per notebook (the catalogue's sentence, minutes, Colab needs and
headline results); a "Measured" page gives each notebook's seconds and memory against the
course's budget. The build needs no network: every asset is local; ``sphinx_course`` adds the
maths, the header's Colab button and the slimmed assets.
"""

from __future__ import annotations

import ast
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from ..core import paths
from . import catalog
from .badges import BADGE_RE
from .lesson_cells import SAVE_RE
from .results import CLAIM_PREFIX, show_recorded
from .runner import MINI_BUDGET_SECONDS, SOLUTION_TAG

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


def format_value(value: Any) -> str:
    """A recorded value for readers: yes/no for booleans, whole numbers without a decimal point
    (1,129,088), other numbers to three significant figures, "n/a" for a missing number."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return "n/a"
        if float(value).is_integer():
            return f"{int(value):,}"
        return f"{value:.3g}"
    return json.dumps(value)


def reader_name(key: str) -> str:
    """A results key as words: underscores as spaces, "0p001" as 0.001."""
    return re.sub(r"(\d)p(\d)", r"\1.\2", key).replace("_", " ")


def results_table(results: dict[str, Any], beside: dict[str, dict[str, Any]] | None = None) -> str:
    """A notebook's recorded values as a folded Markdown table (an HTML ``details`` element,
    whose body MyST still reads as Markdown), and a line on its checks (each is printed, in
    words, under its result); ``beside``: other runs' results of the same notebook (profile ->
    results), a column each, "–" where a run did not record a key."""
    beside = beside or {}
    header = ["result", "value" if not beside else "this run", *(f"`{p}` run" for p in beside)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    names = dict.fromkeys([*results, *(k for other in beside.values() for k in other)])
    values = [name for name in names if not name.startswith(CLAIM_PREFIX)]
    for name in values:
        row = [results.get(name, MISSING), *(other.get(name, MISSING) for other in beside.values())]
        shown = ["–" if value is MISSING else format_value(value) for value in row]
        lines.append(f"| {reader_name(name)} | " + " | ".join(shown) + " |")
    runs = " and the ".join(["this run", *(f"`{p}` run" for p in beside)])
    summary = f"The recorded results of {runs} ({len(values)} values)"
    table = "\n".join(lines) if values else ""
    return (
        f'<details class="recorded-results">\n<summary>{summary}</summary>\n\n{table}\n\n'
        f"{checks_line(results)}\n\n</details>"
    )


def checks_line(results: dict[str, Any]) -> str:
    """How many of a run's checks held, naming any that did not (by its recorded name)."""
    checks = {k: v for k, v in results.items() if k.startswith(CLAIM_PREFIX)}
    if not checks:
        return ""
    failed = [
        reader_name(name.removeprefix(CLAIM_PREFIX)) for name, held in checks.items() if not held
    ]
    if not failed:
        return f"All {len(checks)} of this run's checks held (each is printed under its result)."
    return (
        f"{len(checks) - len(failed)} of {len(checks)} checks held; not: " + "; ".join(failed) + "."
    )


MISSING = object()  # a key a run did not record


#: An absolute path in an output, up to its last part: /tmp/tasks-x1/kind.jsonl -> …/kind.jsonl.
BUILD_PATH = re.compile(r"(?<![\w.:/~-])/(?:[\w.@+-]+/)+(?=[\w.@+-])")

#: The exercises' opening paragraph about the course runner (`make course`), for a local copy.
RUNNER_NOTE = re.compile(
    r"The solutions (?:follow|are below)\. Try first: a lecture run of the course runner"
    r".*?run them\.",
    re.S,
)

#: Where a notebook's profile table sends a reader for its measured seconds, and the site's page.
README_TIMINGS = "(measured: README)"
SITE_TIMINGS = "(measured: [Measured](../measured.md))"

SOLUTION_PROMPTS = {
    "code_prompt_show": "Show the solution",
    "code_prompt_hide": "Hide the solution",
}


def without_build_paths(text: str) -> str:
    """``text`` with each absolute path shortened to "…/" and its last part."""
    return BUILD_PATH.sub("…/", text)


def _clean_output(output: Any) -> Any:
    if output.get("output_type") == "stream":
        output["text"] = without_build_paths(output["text"])
    for kind in ("text/plain", "text/html", "text/markdown"):
        if kind in output.get("data", {}):
            value = output["data"][kind]
            text = value if isinstance(value, str) else "".join(value)
            output["data"][kind] = without_build_paths(text)
    return output


def fold_explanation(source: str) -> str:
    """The Markdown cell after a solution: its explanation (up to the next exercise) folded
    under "The solution explained", the next exercise's text left open."""
    cut = source.find("**Exercise")
    explanation, rest = (source, "") if cut < 0 else (source[:cut], source[cut:])
    if not explanation.strip():
        return source
    folded = (
        '<details class="solution-explained">\n<summary>The solution explained</summary>\n\n'
        f"{explanation.strip()}\n\n</details>\n\n"
    )
    return folded + rest


#: A Markdown heading of a section ("## 4. Error bars"): the figures under it are its figures.
HEADING = re.compile(r"^#{2,3} (.+)$", re.M)
#: The name a cell saves its figure under: course_utils.save_figure(fig, "intervals").
SAVED_FIGURE = re.compile(r"save_figure\(\s*\w+\s*,\s*f?[\"']([^\"']+)[\"']")


def describe_figure(cell: Any, section: str) -> None:
    """A code cell that draws a figure: its image's alt text (the section and the figure's saved
    name, in words) and, where the figure is the cell's only rich output, the same as a caption,
    through myst-nb's cell metadata."""
    if not any("image/png" in o.get("data", {}) for o in cell.outputs):
        return
    saved = SAVED_FIGURE.search(cell.source)
    name = saved.group(1).replace("_", " ").replace("{", "").replace("}", "") if saved else ""
    numbered = re.match(r"(\d+)\.\s+(.*)", section)  # "4. Error bars": not a list in a caption
    place = f"{numbered.group(2)} (section {numbered.group(1)})" if numbered else section
    place = place.replace("`", "")  # Markdown's code marks mean nothing in alt text
    text = f"{place}: {name}" if name else place
    options = cell.metadata.setdefault("mystnb", {})
    options["image"] = {"alt": f"Figure, {text}"}
    if sum(1 for o in cell.outputs if "data" in o) == 1:  # myst-nb captions every rich output
        options["figure"] = {"caption": text}


def reader_date(moment: str) -> str:
    """An ISO time as a reader's date: 2026-12-02T14:22:40+00:00 -> 2 December 2026."""
    try:
        day = datetime.fromisoformat(moment)
    except ValueError:
        return moment
    return f"{day.day} {day:%B %Y}"


def banner(
    profile: str,
    header: dict[str, str],
    commit: str | None,
    beside: list[str] | None = None,
) -> str:
    """The note under each notebook page's title: which run the page shows (profile, machine,
    date, commit) and which other runs' results (``beside``) its results table shows too."""
    where = [header["machine"]] if "machine" in header else []
    where += [reader_date(header["date"])] if "date" in header else []
    where += [f"built from commit `{commit}`"] if commit else []
    if profile == "mini":
        title = "These are the mini models' numbers"
        what = (
            "the course's own mini models and offline data, on a CPU. Its numbers show the shape "
            "of the lesson in the mini world, not the figures of the models the notebook names "
            "for `t4`"
        )
    else:
        title = f"These are the `{profile}` run's numbers"
        what = "the models and datasets named in its parameters cell"
    others = " and ".join(f"`{other}`" for other in beside or [])
    also = f" Its recorded results, at the end, stand beside the {others} run's." if others else ""
    text = f"This page shows the **`{profile}` run** ({', '.join(where)}): {what}.{also}"
    return f"```{{admonition}} {title}\n:class: note course-run\n{text}\n```"


#: A page's opening: its title line and, where there is one, the Colab badge under it.
OPENING = re.compile(rf"\A# .*\n(?:[ \t]*\n)*(?:{BADGE_RE.pattern}.*\n)?")


def under_title(source: str, note: str) -> str:
    """``note`` right under the title (and its badge) of a notebook's first Markdown cell."""
    opening = OPENING.match(source if source.endswith("\n") else source + "\n")
    if opening is None:
        return f"{note}\n\n{source}"
    return f"{source[: opening.end()]}\n{note}\n\n{source[opening.end() :]}".rstrip() + "\n"


def plumbing_prompt(cell: Any) -> str | None:
    """The fold's prompt for a code cell whose input is plumbing, not lesson: the Colab set-up
    (it names ``google.colab``) and the code that computes and draws a figure; None for the
    cells shown open (lesson cells, the parameters, the experiments without figures)."""
    lesson = SAVE_RE.match(cell.source.split("\n", 1)[0])  # its code is the lesson: never folded
    if lesson or SOLUTION_TAG in cell.metadata.get("tags", []):
        return None
    if "google.colab" in cell.source:
        return "Show the Colab set-up"
    if any("image/png" in o.get("data", {}) for o in cell.outputs):
        return "Show the code behind this figure"
    return None


def reading_copy(
    executed: Path,
    target: Path,
    results: dict[str, Any],
    note: str = "",
    beside: dict[str, dict[str, Any]] | None = None,
) -> None:
    """The executed notebook, cleaned for reading (see the module's docstring); ``note`` (the
    run's banner) goes under the title; ``beside``: other runs' results, shown next to its own."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    nb.metadata.pop("widgets", None)
    cells = []
    after_solution = False
    section = nb.cells[0].source.lstrip("# ").split("\n", 1)[0] if nb.cells else ""
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            continue
        if cell.cell_type == "markdown":
            source = cell.source.replace(COLAB_BADGE, LOCAL_BADGE)
            source = source.replace(README_TIMINGS, SITE_TIMINGS)
            cell.source = RUNNER_NOTE.sub(
                "The solutions are folded: try each exercise first.", source
            )
            if after_solution:
                cell.source = fold_explanation(cell.source)
        after_solution = SOLUTION_TAG in tags
        if cell.cell_type == "markdown" and (heading := HEADING.search(cell.source)):
            section = heading.group(1).strip()
        if cell.cell_type == "code":
            cell.outputs = [_clean_output(o) for o in cell.outputs if not _is_noise(o)]
            describe_figure(cell, section)
            if prompt := plumbing_prompt(cell):
                cell.metadata["tags"] = [*tags, "hide-input"]
                cell.metadata.setdefault("mystnb", {})["code_prompt_show"] = prompt
                cell.metadata["mystnb"]["code_prompt_hide"] = "Hide the code"
            if is_results_dump(cell.source):  # the dump: a table instead, under its own heading
                table = results_table(results, beside)
                if not (cells and "Recorded results" in cells[-1].source):
                    table = f"## Recorded results\n\n{table}"
                cells.append(nbformat.v4.new_markdown_cell(table))
                continue
        if SOLUTION_TAG in tags:  # folded under its exercise, with its own outputs
            if cell.cell_type == "raw":  # a lecture run: shown, not run
                cell = nbformat.v4.new_code_cell(cell.source, metadata=cell.metadata)
            cell.metadata["tags"] = [*tags, "hide-cell"]
            cell.metadata["mystnb"] = dict(SOLUTION_PROMPTS)
        if note and not cells and cell.cell_type == "markdown":
            cell.source = under_title(cell.source, note)
        cells.append(cell)
    nb.cells = cells
    nbformat.write(nb, target)


def commit_of(folder: Path) -> str | None:
    """The short commit of the repository the site is built from (None outside a git checkout)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip() or None


def headline_text(stem: str, results: dict[str, Any]) -> str:
    """The headline results a notebook declares in the catalogue, as "name: value; ...";
    a declared key the run did not record is left out."""
    spec = catalog.spec_or_none(stem)
    pairs = spec.headline if spec else ()
    return "; ".join(
        f"{label}: {format_value(results[key])}" for key, label in pairs if key in results
    )


def measured_page(runs: dict[str, Path]) -> str:
    """measured.md: each notebook's seconds and peak memory in each run, beside the budget."""
    text = ["# Measured", ""]
    text.append(
        "Each notebook's seconds and peak memory in the runs this site shows, on the machine that "
        f"made them. The course's budget for a notebook in `mini`, with its solutions, on two "
        f"CPU cores is {MINI_BUDGET_SECONDS} s, for a notebook run alone; one run beside another "
        "(two at a time, as `make course` and CI run them, sharing the two cores) is slower, so "
        'its row says "–" there (`python -m course_utils run NN` runs one alone).'
    )
    for profile, run in runs.items():
        context = ", ".join(f"{k} {v}" for k, v in run_header(run).items())
        text += ["", f"## The `{profile}` run", "", f"{context}.", ""]
        text += ["| notebook | status | seconds | run alone | peak memory (GB) | within budget |"]
        text += ["| --- | --- | ---: | --- | ---: | --- |"]
        for row in summary_rows(run):
            peak = f"{row['peak_mb'] / 1024:.2f}" if row.get("peak_mb") else ""
            alone = row.get("alone", True)
            within = "yes" if row["seconds"] <= MINI_BUDGET_SECONDS else "no"
            budget = (within if alone else "–") if profile == "mini" else ""
            alone = "yes" if alone else "no"
            text.append(
                f"| {row['notebook']} | {row['status']} | {row['seconds']:.0f} | {alone} | "
                f"{peak} | {budget} |"
            )
    return "\n".join(text) + "\n"


def colab_needs(spec: catalog.NotebookSpec | None) -> str:
    """What a notebook needs on Colab, from the catalogue's estimates."""
    if spec is None or not spec.t4_gpu_gb:
        return "any Colab runtime"
    return (
        f"a Colab T4, about {spec.t4_minutes:.0f} min and {spec.t4_gpu_gb:.0f} GB of GPU memory "
        "(estimates)"
    )


def chapter_card(stem: str, rows: dict[str, dict[str, Any]]) -> str:
    """One notebook's card on the landing page: its title (a link to its page), the sentence it
    teaches, its minutes in each run and its needs on Colab, and each run's headline results;
    ``rows``: the notebook's summary row in each run (profile -> row)."""
    spec = catalog.spec_or_none(stem)
    title = escape(spec.title if spec else stem)
    shown = next((profile for profile, row in rows.items() if row["status"] == "ok"), None)
    heading = f"{stem[:2]} · {title}"
    if shown:
        heading = f'<a href="{shown}/{stem}.html">{heading}</a>'
    minutes = ", ".join(f"{row['seconds'] / 60:.1f} min in `{p}`" for p, row in rows.items())
    lines = [
        '<div class="course-card">',
        f'<p class="course-card-title">{heading}</p>',
        f"<p>{escape(spec.summary if spec else '')}</p>",
        f'<p class="course-card-needs">{inline_code(minutes)}; on Colab: {colab_needs(spec)}.</p>',
    ]
    for profile, row in rows.items():
        found = escape(headline_text(stem, row.get("results") or {}))
        if row["status"] != "ok":
            found = f"<strong>{escape(row['status'])}</strong> in this run"
        lines.append(f'<p class="course-card-results"><code>{profile}</code>: {found}</p>')
    return "\n".join([*lines, "</div>"])


def inline_code(text: str) -> str:
    """Markdown's `code` as HTML (a card is raw HTML, which MyST leaves as it is)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


#: Where site/intro.md wants the notebooks' cards (else they follow its text).
CARDS_PLACE = "<!-- the notebooks' cards go here -->"


def landing_page(runs: dict[str, Path], pages: dict[str, list[str]]) -> str:
    """index.md: the course in a few lines, how to start, a card per notebook, and where each
    run ran; ``pages``: the notebooks of each profile that have a page."""
    text = (SITE_SOURCES / "intro.md").read_text()
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for profile, run in runs.items():
        for row in summary_rows(run):
            rows.setdefault(row["notebook"], {})[profile] = row
    cards = "\n".join(chapter_card(stem, rows[stem]) for stem in sorted(rows))
    section = f'## The notebooks\n\n<div class="course-cards">\n{cards}\n</div>\n'
    text = text.replace(CARDS_PLACE, section) if CARDS_PLACE in text else f"{text}\n{section}"
    text += "\n"
    for profile, run in runs.items():
        context = ", ".join(f"{k} {v}" for k, v in run_header(run).items())
        text += f"**The `{profile}` run**: {context}.\n\n"
    toctrees = []
    for profile in runs:
        entries = "\n".join(f"{profile}/{stem}" for stem in pages[profile])
        toctrees.append(
            f"```{{toctree}}\n:caption: Notebooks ({profile})\n:maxdepth: 1\n:hidden:\n\n"
            f"{entries}\n```\n"
        )
    toctrees.append("```{toctree}\n:caption: The runs\n:hidden:\n\nmeasured\n```\n")
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
        commit = commit_of(paths.repo_root())
        recorded = {  # profile -> notebook -> its results in that run
            profile: {row["notebook"]: row.get("results") or {} for row in summary_rows(run)}
            for profile, run in runs.items()
        }
        for profile, run in runs.items():
            (work / profile).mkdir()
            pages[profile] = []
            for row in summary_rows(run):
                if row["status"] != "ok":  # a failed notebook: its old copy is not this run's
                    continue
                executed = run / f"{row['notebook']}.ipynb"
                results = row.get("results") or {}
                beside = {
                    other: recorded[other][row["notebook"]]
                    for other in runs
                    if other != profile and recorded[other].get(row["notebook"])
                }
                note = banner(profile, run_header(run), commit, beside=list(beside))
                target = work / profile / executed.name
                reading_copy(executed, target, results, note, beside)
                pages[profile].append(row["notebook"])
        (work / "index.md").write_text(landing_page(runs, pages))
        (work / "measured.md").write_text(measured_page(runs))
        html = Path(scratch) / "html"
        sphinx = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going"]
        doctrees = ["-d", str(Path(scratch) / "doctrees")]  # not published
        subprocess.run([*sphinx, *doctrees, str(work), str(html)], check=True)
        shutil.rmtree(out, ignore_errors=True)  # only now: a failed build leaves the old site
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(html, out)
    return out / "index.html"

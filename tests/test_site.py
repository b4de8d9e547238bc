"""The website (`make site`, issue 23) built from the test run's executed notebooks, served on
localhost and read by headless Chromium: pages load without console errors, every image has
loaded, every internal link resolves, one search box, code that fits the column at 1280 px,
every icon drawn, formulas drawn as MathML, search snippets from the lesson; screenshots (and
pages.json: each page's weight and height) are saved beside the run's outputs."""

from __future__ import annotations

import functools
import json
import re
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import nbformat
import pytest

from course_utils.core import paths
from course_utils.tooling import site
from course_utils.tooling.results import CLAIM_PREFIX

pytestmark = pytest.mark.site

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser_path() -> str:
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found is None:
        raise RuntimeError(
            f"no Chromium on PATH (looked for {', '.join(BROWSERS)}): "
            "install Debian's chromium (.ci/run does)"
        )
    return found


@pytest.fixture(scope="module")
def built(course_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "html"
    site.build({"mini": course_run}, out)
    return out


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request in the test's output
        pass


PREFIX = "llm-finetuning-course"  # GitHub Pages serves the site under the repository's name


@pytest.fixture(scope="module")
def served(built, tmp_path_factory):
    root = tmp_path_factory.mktemp("pages")
    (root / PREFIX).symlink_to(built, target_is_directory=True)
    handler = functools.partial(QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{PREFIX}"
    server.shutdown()


def _local_file(built: Path, base: str, url: str) -> Path | None:
    """The file an internal link points to (None for a link to another site); a link to this
    host outside the site's prefix points nowhere on Pages."""
    url = urldefrag(url).url
    if urlparse(url).netloc != urlparse(base).netloc:
        return None
    if not url.startswith(base + "/"):
        return built / "outside-the-site-prefix"
    path = built / unquote(url[len(base) + 1 :].split("?", 1)[0])
    return path / "index.html" if path.is_dir() else path


#: Pages photographed at a desktop's and a phone's width (saved beside the run's outputs).
SHOT_PAGES = ("index.html", "mini/07_grpo.html", "mini/09_evaluation.html")
WIDTHS = (1280, 390)
#: The most a page may weigh with everything it loads (HTML, scripts, styles, fonts, images).
PAGE_BOUND_MB = 1.5


def test_every_page_in_a_real_browser(built, served, course_run):
    from playwright.sync_api import sync_playwright

    pages = sorted(
        p.relative_to(built).as_posix()
        for p in built.rglob("*.html")
        if not {"_static", "_sources"} & set(p.relative_to(built).parts)
    )
    problems: list[str] = []
    shots = course_run / "site-screenshots"
    shots.mkdir(exist_ok=True)
    measured: dict[str, dict[str, float]] = {}  # each page's weight and height, for the record
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        current = {"page": "", "bytes": 0}
        page.on(
            "console",
            lambda m: (
                problems.append(f"{current['page']}: console {m.text}")
                if m.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda e: problems.append(f"{current['page']}: {e}"))
        page.on("response", lambda r: current.update(bytes=current["bytes"] + _size(built, r.url)))
        for name in pages:
            current["page"], current["bytes"] = name, 0
            page.goto(f"{served}/{name}", wait_until="load")
            if current["bytes"] > PAGE_BOUND_MB * 2**20:
                problems.append(f"{name}: {current['bytes'] / 2**20:.1f} MB loaded")
            height = page.evaluate("document.documentElement.scrollHeight")
            measured[name] = {"mb": round(current["bytes"] / 2**20, 2), "height_px": height}
            if page.eval_on_selector_all("i[class*='fa-']", "els => els.length"):
                problems.append(f"{name}: an icon the slimmed Font Awesome does not draw")
            if name.startswith("mini/0") and not page.query_selector(".btn-colab-button"):
                problems.append(f"{name}: no Colab button in the header")
            uncaptioned = page.eval_on_selector_all(
                ".cell_output img",
                "els => els.filter(e => !e.closest('figure')?.querySelector('figcaption') && "
                "!e.closest('.cell_output').querySelector('.course-caption')).length",
            )
            if uncaptioned:
                problems.append(f"{name}: {uncaptioned} figures without a caption")
            for src, width in page.eval_on_selector_all(
                "img", "els => els.map(e => [e.src, e.complete ? e.naturalWidth : 0])"
            ):
                if not width:
                    problems.append(f"{name}: image not loaded: {src[:80]}")
            for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
                target = _local_file(built, served, href)
                if target is not None and not target.exists():
                    problems.append(f"{name}: broken link {href}")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            for name in SHOT_PAGES:
                page.goto(f"{served}/{name}", wait_until="load")
                stem = name.replace("/", "_").replace(".html", "")
                page.screenshot(path=str(shots / f"{stem}-{width}.png"))
                too_wide = page.eval_on_selector_all(
                    ".cell_output img",
                    "els => els.filter(e => e.getBoundingClientRect().right > "
                    "document.documentElement.clientWidth + 1).length",
                )
                if too_wide:
                    problems.append(f"{name} at {width} px: {too_wide} figures wider than the page")
                searches = page.eval_on_selector_all(
                    ".search-button, .search-button-field",
                    "els => els.filter(e => e.offsetParent !== null).length",
                )
                if searches != 1:
                    problems.append(f"{name} at {width} px: {searches} search boxes")
                scrolled = page.eval_on_selector_all(
                    ".cell_input pre",
                    "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).length",
                )
                if width >= 1280 and scrolled:
                    problems.append(f"{name} at {width} px: {scrolled} code cells scroll sideways")
        page.set_viewport_size({"width": 1280, "height": 900})
        current["page"] = "search"  # Sphinx's search, in the browser, over every page
        page.goto(f"{served}/search.html?q=GRPOTrainer", wait_until="load")
        page.wait_for_selector("ul.search li", timeout=15000)
        found = page.eval_on_selector_all("ul.search li a", "els => els.map(e => e.href)")
        snippets = []
        for query in ("LoRA", "reward"):
            page.goto(f"{served}/search.html?q={query}", wait_until="load")
            page.wait_for_selector("ul.search li p.context", timeout=15000)
            page.wait_for_timeout(1000)  # the snippets arrive page by page
            snippets += page.eval_on_selector_all(
                "ul.search li p.context", "els => els.map(e => e.innerText)"
            )
        current["page"] = "phone"  # no notebook page scrolls sideways on a phone
        page.set_viewport_size({"width": 390, "height": 900})
        for name in pages:
            if name.startswith("mini/"):
                page.goto(f"{served}/{name}", wait_until="load")
                wide = page.evaluate("document.documentElement.scrollWidth")
                if wide > 391:
                    problems.append(f"{name} at 390 px: the page is {wide} px wide")
                top = page.eval_on_selector(".course-run", "e => e.getBoundingClientRect().top")
                if top > 900:
                    problems.append(f"{name} at 390 px: the run's banner {top:.0f} px down")
        page.set_viewport_size({"width": 1280, "height": 900})
        current["page"] = "maths"
        page.goto(f"{served}/mini/07_grpo.html", wait_until="load")
        formulas = page.eval_on_selector_all(
            "math", "els => els.filter(e => e.getBoundingClientRect().height > 0).length"
        )
        current["page"] = "copy button"
        page.goto(f"{served}/mini/09_evaluation.html", wait_until="load")
        buttons = page.eval_on_selector_all("button.course-copy", "els => els.length")
        browser.close()
    (shots / "pages.json").write_text(json.dumps(measured, indent=1))
    assert any("07_grpo" in href for href in found), found
    # snippets from the lesson, not the header's buttons or the run's banner
    chrome = r"This page shows|Open in Colab|\.ipynb|System Settings|Light Dark|Contents Param"
    assert snippets and not [s for s in snippets if re.search(chrome, s)]
    assert formulas > 10, formulas  # TeX drawn as MathML
    assert buttons > 5, buttons
    assert not problems, "\n".join(problems[:30])
    for width in WIDTHS:
        for name in SHOT_PAGES:
            stem = name.replace("/", "_").replace(".html", "")
            assert (shots / f"{stem}-{width}.png").exists()


def _size(built: Path, url: str) -> int:
    """The bytes of a file the site serves (0 for anything else)."""
    path = urlparse(url).path.split(f"/{PREFIX}/", 1)[-1]
    target = built / unquote(path)
    return target.stat().st_size if target.is_file() else 0


def test_the_site_publishes_no_source_maps_and_a_measured_page(built, course_run):
    assert not list(built.rglob("*.map"))
    measured = (built / "measured.html").read_text()
    for row in json.loads((course_run / "summary.json").read_text()):
        assert row["notebook"] in measured
    assert 'name="description"' in (built / "index.html").read_text()


def test_the_landing_page_is_a_card_per_notebook_of_the_run(built, course_run):
    index = (built / "index.html").read_text()
    rows = json.loads((course_run / "summary.json").read_text())
    assert rows and index.count('<div class="course-card">') == len(rows)
    for row in rows:
        assert f"{row['notebook']}.html" in index or row["status"] != "ok", row["notebook"]
        assert f"{row['seconds'] / 60:.1f}" in index, row["notebook"]
    for key in ("machine", "date", "versions"):
        assert site.run_header(course_run)[key] in index


def test_each_notebook_page_shows_figures_solutions_and_results(built, course_run):
    for row in json.loads((course_run / "summary.json").read_text()):
        html = (built / "mini" / f"{row['notebook']}.html").read_text()
        cells = html.split('<div class="cell ')[1:]
        shown = sum(cell.count("<img") for cell in cells if "cell_output" in cell)
        figures = course_run / "figures" / row["notebook"]
        saved = len(list(figures.glob("*.png"))) if figures.exists() else 0
        assert shown >= saved, f"{row['notebook']}: {shown} figures shown, {saved} saved"
        source = nbformat.read(paths.notebooks_dir() / f"{row['notebook']}.ipynb", as_version=4)
        solutions = []
        if any("solution" in c.metadata.get("tags", []) for c in source.cells):
            solutions = [cell for cell in cells if "tag_solution" in cell.split(">", 1)[0]]
            assert solutions, row["notebook"]  # folded (hide-cell), with their own outputs
            assert all("tag_hide-cell" in cell for cell in solutions), row["notebook"]
            assert any("cell_output" in cell for cell in solutions), row["notebook"]
        values = [name for name in row["results"] if not name.startswith(CLAIM_PREFIX)]
        for name in values[:3]:  # folded, named for readers
            assert site.reader_name(name) in html, name
        if len(values) < len(row["results"]):  # the checks: how many held, in one line
            assert "checks held" in html, row["notebook"]
        assert "recorded-results" in html or not row["results"], row["notebook"]
        assert "Show the solution" in html or not solutions, row["notebook"]
        assert "run</strong>" in html and "This page shows the" in html  # the banner
        assert not re.search(r"/tmp/|/home/|/work/", html.split('<div class="cell ', 1)[-1])
        assert "injected-parameters" not in html and "show_recorded" not in html
        assert "output stderr" not in html, row["notebook"]

"""The website's pages as course_utils.tooling.site prepares them (fast: no Sphinx, no browser;
tests/test_site.py builds and reads the real site)."""

from __future__ import annotations

import json

import nbformat
import pytest

from course_utils.tooling import site


def _executed(tmp_path):
    nb = nbformat.v4.new_notebook()
    badge = f"[![Open In Colab]({site.COLAB_BADGE})](https://colab.research.google.com/x)"
    injected = nbformat.v4.new_code_cell("SEED = 1", metadata={"tags": ["injected-parameters"]})
    noisy = nbformat.v4.new_code_cell("train()")
    noisy.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="100%|####|"),
        nbformat.v4.new_output("stream", name="stdout", text="loss 0.1\n"),
        nbformat.v4.new_output(
            "display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "x"}}
        ),
    ]
    dump = nbformat.v4.new_code_cell("course_utils.record('a', 1)\ncourse_utils.show_recorded()")
    dump.outputs = [nbformat.v4.new_output("stream", name="stdout", text="a = 1\n")]
    solution = nbformat.v4.new_raw_cell("print(2)", metadata={"tags": ["solution"]})
    nb.cells = [nbformat.v4.new_markdown_cell(badge), injected, noisy, dump, solution]
    nb.metadata["widgets"] = {"state": {}}
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_reading_copy_keeps_the_lesson_and_drops_the_noise(tmp_path):
    target = tmp_path / "page.ipynb"
    site.reading_copy(_executed(tmp_path), target, {"a": 1.0, "b": [1, 2]})
    nb = nbformat.read(target, as_version=4)
    sources = [c.source for c in nb.cells]
    assert site.LOCAL_BADGE in sources[0] and site.COLAB_BADGE not in sources[0]
    assert "SEED = 1" not in sources  # papermill's injected parameters
    assert [o.get("text") for o in nb.cells[1].outputs] == ["loss 0.1\n"]  # no stderr, widget
    assert "show_recorded" not in "".join(sources)  # the dump became a table
    assert "| `a` | 1 |" in sources[2] and "| `b` | [1, 2] |" in sources[2]
    assert nb.cells[3].cell_type == "code" and "hide-cell" in nb.cells[3].metadata.tags
    assert "widgets" not in nb.metadata


@pytest.mark.parametrize(
    ("source", "dump"),
    [
        ("course_utils.record('a', 1)\ncourse_utils.show_recorded()", True),
        ("from course_utils import show_recorded\n\nshow_recorded( )", True),
        ("# course_utils.show_recorded() ends the notebook\nprint(1)", False),
        ("print('course_utils.show_recorded()')", False),
        ("!pip list", False),
    ],
)
def test_the_dump_is_the_cell_that_calls_show_recorded(source, dump):
    assert site.is_results_dump(source) is dump


def test_the_landing_page_holds_each_runs_table(tmp_path):
    run = tmp_path / "mini"
    run.mkdir()
    rows = [
        {
            "notebook": "07_grpo",
            "status": "ok",
            "seconds": 120.0,
            "peak_mb": 800.0,
            "results": {"acc_after": 0.91},
            "profile": "mini",
            "finished": "2026-01-02T10:00:00+00:00",
            "machine": "a laptop",
        },
        {
            "notebook": "06_dpo",
            "status": "failed",
            "seconds": 3.0,
            "peak_mb": None,
            "results": {},
            "profile": "mini",
            "finished": "2026-01-02T09:00:00+00:00",
        },
    ]
    (run / "summary.json").write_text(json.dumps(rows))
    assert site.run_profile(run) == "mini"
    # the machine and date of the notebook that finished last, from summary.json
    date = "2026-01-02T10:00:00+00:00"
    assert site.run_header(run) == {"machine": "a laptop", "date": date}
    page = site.landing_page({"mini": run}, {"mini": ["07_grpo"]})
    assert f"machine a laptop, date {date}." in page
    assert "(mini/07_grpo.ipynb)" in page and "| 2.0 | 0.78 GB |" in page
    assert "06 · " in page and "(mini/06_dpo.ipynb)" not in page  # failed: no page to link
    assert "mini/07_grpo\n```" in page  # the toctree lists the pages that exist


def test_the_t4_run_sits_beside_the_mini_run(tmp_path):
    runs = {}
    for profile in ("mini", "t4"):
        run = tmp_path / profile
        run.mkdir()
        row = {
            "notebook": "05_x",
            "status": "ok",
            "seconds": 60.0,
            "peak_mb": None,
            "results": {},
            "profile": profile,
        }
        (run / "summary.json").write_text(json.dumps([row]))
        runs[profile] = run
    page = site.landing_page(runs, {"mini": ["05_x"], "t4": ["05_x"]})
    assert "## The `mini` run" in page and "## The `t4` run" in page
    assert "(t4/05_x.ipynb)" in page and ":caption: Notebooks (t4)" in page


def test_a_site_needs_an_executed_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="make course"):
        site.build({"mini": tmp_path}, tmp_path / "out")


def test_a_site_never_replaces_a_folder_it_did_not_build(tmp_path):
    run = tmp_path / "mini"
    run.mkdir()
    (run / "summary.json").write_text("[]")
    with pytest.raises(FileExistsError, match=f"--out {run}: a folder that is not a site"):
        site.build({"mini": run}, run)
    assert (run / "summary.json").exists()

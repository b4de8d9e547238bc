"""The website's pages as course_utils.tooling.site prepares them (fast: no Sphinx, no browser;
tests/test_site.py builds and reads the real site)."""

from __future__ import annotations

import json

import nbformat
import pytest

from course_utils.tooling import catalog, site, sphinx_course


def _executed(tmp_path):
    nb = nbformat.v4.new_notebook()
    badge = (
        f"# 01 · X\n\n[![Open In Colab]({site.COLAB_BADGE})](https://colab.research.google.com/x)"
        "\n\nWhat it teaches. | `mini` | budget 120 s (measured: README) |"
    )
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
    results = {"a": 1.0, "b": [1, 2], "claim_it_held": True}
    site.reading_copy(_executed(tmp_path), target, results, note="THE BANNER")
    nb = nbformat.read(target, as_version=4)
    sources = [c.source for c in nb.cells]
    assert site.LOCAL_BADGE in sources[0] and site.COLAB_BADGE not in sources[0]
    # the banner right under the title and its badge, before what the notebook teaches
    assert sources[0].index("Open In Colab") < sources[0].index("THE BANNER")
    assert sources[0].index("THE BANNER") < sources[0].index("What it teaches.")
    assert "(measured: [Measured](../measured.md))" in sources[0]  # the site's page, not README
    assert "SEED = 1" not in sources  # papermill's injected parameters
    assert [o.get("text") for o in nb.cells[1].outputs] == ["loss 0.1\n"]  # no stderr, widget
    assert "show_recorded" not in "".join(sources)  # the dump became a table, folded
    assert "| a | 1 |" in sources[2] and "| b | [1, 2] |" in sources[2]
    assert sources[2].startswith("## Recorded results\n\n<details")  # a heading where none was
    assert "this run (2 values)" in sources[2] and "All 1 of this run's checks held" in sources[2]
    assert "it held" not in sources[2]  # each check is printed under its result, in words
    solution = nb.cells[3]
    assert solution.cell_type == "code" and "hide-cell" in solution.metadata.tags
    assert solution.metadata.mystnb["code_prompt_show"] == "Show the solution"
    assert "widgets" not in nb.metadata


def test_a_reading_copy_folds_the_explanation_and_drops_the_runner_note(tmp_path):
    nb = nbformat.v4.new_notebook()
    runner = (
        "**Exercises.** Three.\n\nThe solutions follow. Try first: a lecture run of the course "
        "runner (`python -m course_utils run`)\nshows the solution cells without running them; "
        "`make course` and the tests run them."
    )
    output = nbformat.v4.new_code_cell("print(path)")
    output.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="saved /tmp/tasks-x1/kind.jsonl\n")
    ]
    nb.cells = [
        nbformat.v4.new_markdown_cell(runner),
        output,
        nbformat.v4.new_code_cell("print(2)", metadata={"tags": ["solution"]}),
        nbformat.v4.new_markdown_cell("It prints 2 because.\n\n**Exercise 2.** Next."),
    ]
    path, target = tmp_path / "02_x.ipynb", tmp_path / "page.ipynb"
    nbformat.write(nb, path)
    site.reading_copy(path, target, {})
    cells = nbformat.read(target, as_version=4).cells
    assert "make course" not in cells[0].source and "try each exercise first" in cells[0].source
    assert cells[1].outputs[0]["text"] == "saved …/kind.jsonl\n"
    explained, rest = cells[3].source.split("</details>")
    assert "The solution explained" in explained and "It prints 2 because." in explained
    assert rest.strip() == "**Exercise 2.** Next."


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "yes"), (1129088.0, "1,129,088"), (0.83333, "0.833"), (float("nan"), "n/a"), (3, "3")],
)
def test_recorded_values_are_formatted_for_readers(value, text):
    assert site.format_value(value) == text


def test_results_keys_read_as_words():
    assert site.reader_name("old_acc_full_ft_lr0p0001") == "old acc full ft lr0.0001"
    assert site.checks_line({"claim_a": True, "claim_the_gap_0p05": False, "x": 1}) == (
        "1 of 2 checks held; not: the gap 0.05."
    )


def test_build_paths_are_shortened_and_web_addresses_kept():
    text = "in /tmp/tasks-ab/x.jsonl and /work/main/models/mini-decoder, see https://a.b/c/d"
    assert site.without_build_paths(text) == "in …/x.jsonl and …/mini-decoder, see https://a.b/c/d"
    assert site.without_build_paths("1/6 and a/b") == "1/6 and a/b"


def test_the_banner_names_the_run():
    header = {"machine": "a laptop", "date": "2026-01-02", "versions": "torch 2"}
    note = site.banner("mini", header, "abc1234")
    assert "`mini` run" in note and "a laptop, 2 January 2026" in note and "abc1234" in note
    assert note.startswith("```{admonition} These are the mini models' numbers")
    assert site.reader_date("2026-12-02T14:22:40+00:00") == "2 December 2026"


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


def test_the_landing_page_holds_a_card_per_notebook(tmp_path):
    run = tmp_path / "mini"
    run.mkdir()
    rows = [
        {
            "notebook": "07_grpo",
            "status": "ok",
            "seconds": 120.0,
            "peak_mb": 800.0,
            "results": {"acc_before": 0.25, "acc_after_seed0": 0.8333, "zzz": 1},
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
    assert page.index("course-cards") < page.index("## How to use it")  # cards come first
    cards = page.split('<div class="course-card">')[1:]
    assert len(cards) == 2 and "06 · " in cards[0] and "07 · " in cards[1]
    grpo = cards[1]
    assert '<a href="mini/07_grpo.html">07 · ' in grpo
    assert catalog.NOTEBOOKS["07_grpo"].summary.split(":")[0] in grpo  # what it teaches
    assert "2.0 min in <code>mini</code>" in grpo and "about 60 min and 8 GB" in grpo
    # the headline results the catalogue declares, not the first keys alphabetically
    assert "held-out words before GRPO: 0.25; after GRPO: 0.833" in grpo and "zzz" not in page
    assert "<strong>failed</strong> in this run" in cards[0]
    assert "mini/06_dpo.html" not in page  # failed: no page to link
    assert "(measured.md)" in page and "\nmeasured\n```" in page
    measured = site.measured_page({"mini": run})
    assert "| 07_grpo | ok | 120 | yes | 0.78 | yes |" in measured
    assert f"{site.MINI_BUDGET_SECONDS} s" in measured
    assert "mini/07_grpo\n```" in page  # the toctree lists the pages that exist


def test_the_t4_run_sits_beside_the_mini_run(tmp_path):
    runs = {}
    for profile, value in (("mini", 0.25), ("t4", 0.5)):
        run = tmp_path / profile
        run.mkdir()
        row = {
            "notebook": "07_grpo",
            "status": "ok",
            "seconds": 60.0,
            "peak_mb": None,
            "results": {"acc_before": value},
            "profile": profile,
        }
        (run / "summary.json").write_text(json.dumps([row]))
        runs[profile] = run
    page = site.landing_page(runs, {"mini": ["07_grpo"], "t4": ["07_grpo"]})
    assert "**The `mini` run**" in page and "**The `t4` run**" in page
    assert "<code>mini</code>: accuracy on held-out words before GRPO: 0.25" in page
    assert "<code>t4</code>: accuracy on held-out words before GRPO: 0.5" in page
    assert ":caption: Notebooks (t4)" in page and "t4/07_grpo" in page
    # on each notebook page, the other run's results in a column beside its own
    table = site.results_table({"acc_before": 0.25, "only_mini": 1}, {"t4": {"acc_before": 0.5}})
    assert "| result | this run | `t4` run |" in table
    assert "| acc before | 0.25 | 0.5 |" in table and "| only mini | 1 | – |" in table
    note = site.banner("mini", {}, None, beside=["t4"])
    assert "stand beside the `t4` run's" in note


def test_every_notebook_says_what_it_teaches_in_one_sentence():
    for stem, spec in catalog.NOTEBOOKS.items():
        assert spec.summary.endswith(".") and len(spec.summary) <= 160, stem
        assert spec.summary.count(". ") == 0 or stem == "09_evaluation", stem


def test_plumbing_is_folded_and_lessons_are_not():
    figure = nbformat.v4.new_code_cell("plt.plot(x)")
    figure.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"})]
    lesson = nbformat.v4.new_code_cell("# @save course_utils/grpo.py\nplt.plot(x)")
    lesson.outputs = figure.outputs
    colab = nbformat.v4.new_code_cell('if "google.colab" in sys.modules:\n    install()')
    experiment = nbformat.v4.new_code_cell("train()")
    assert site.plumbing_prompt(figure) == "Show the code behind this figure"
    assert site.plumbing_prompt(colab) == "Show the Colab set-up"
    assert site.plumbing_prompt(lesson) is None and site.plumbing_prompt(experiment) is None


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


def test_every_notebook_declares_headline_results_its_reference_run_records():
    """The landing page's results are chosen per notebook (catalogue), not the first keys."""
    from course_utils.core import paths
    from course_utils.tooling import catalog, reference

    recorded = reference.read()["notebooks"]
    for path in paths.course_notebooks():
        spec = catalog.spec_for(path.stem)
        assert 2 <= len(spec.headline) <= 3, path.stem
        assert {key for key, _ in spec.headline} <= set(recorded[path.stem]), path.stem


def test_a_figure_gets_alt_text_and_a_caption_from_its_section_and_name():
    cell = nbformat.v4.new_code_cell('fig = plot()\ncourse_utils.save_figure(fig, "best_of_n")')
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"})]
    site.describe_figure(cell, "2. Best-of-n: the reward model without training")
    options = cell.metadata.mystnb
    place = "Best-of-n: the reward model without training (section 2): best of n"
    assert options["figure"]["caption"] == place and options["image"]["alt"] == f"Figure, {place}"
    table = nbformat.v4.new_output("display_data", data={"text/html": "<table></table>"})
    both = nbformat.v4.new_code_cell("display(t)\nplt.show()")
    both.outputs = [table, cell.outputs[0]]
    site.describe_figure(both, "Intro")
    assert "figure" not in both.metadata.mystnb  # a caption would go under the table too


def test_formulas_become_mathml_and_bad_tex_names_itself():
    inline = sphinx_course.to_mathml(r"\sigma(r_w - r_l)", display=False)
    assert inline.startswith("<math") and "<mi>&#x003C3;</mi>" in inline  # σ
    assert 'display="block"' in sphinx_course.to_mathml(r"\frac{a}{b}", display=True)
    with pytest.raises(ValueError, match=r"x\^"):
        sphinx_course.to_mathml("x^", display=False)
    with pytest.raises(ValueError, match=r"uses \\nosuchmacro"):
        sphinx_course.to_mathml(r"\nosuchmacro{x} + 1", display=False)


def test_font_awesome_keeps_the_icons_the_pages_use(tmp_path):
    bundle = (
        'var b={github:[496,512,[],"f09b","M1 1z"]};p("fab",b),p("fa-brands",b)'
        'var c={sun:[512,512,[9728],"f185","M2 2z"],"magnifying-glass":[512,512,[],"f002",'
        '"M3 3z"],moon:[384,512,[],"f186","M4 4z"]};p("fas",c),p("fa-solid",c)'
    )
    outlines = sphinx_course.icon_outlines(bundle)
    assert outlines["fab"] == {"github": [496, 512, "M1 1z"]}
    assert set(outlines["fas"]) == {"sun", "magnifying-glass", "moon"}
    (tmp_path / "_static").mkdir()
    (tmp_path / "page.html").write_text('<i class="fa-solid fa-sun fa-lg"></i>')
    (tmp_path / "_static" / "theme.js").write_text('icon("fa-magnifying-glass")')
    assert {"sun", "magnifying-glass"} <= sphinx_course.used_icons(tmp_path)
    assert "moon" not in sphinx_course.used_icons(tmp_path)
    script = sphinx_course.icon_script({"fas": {"sun": [512, 512, "M2 2z"]}})
    assert '"sun":[512,512,"M2 2z"]' in script and "replaceWith" in script


def test_notebook_pages_get_a_colab_button_in_their_header():
    context = {"header_buttons": [{"type": "link", "url": "x"}]}
    sphinx_course.add_colab_button(None, "mini/07_grpo", "page.html", context, None)
    assert context["header_buttons"][0]["url"].endswith("/notebooks/07_grpo.ipynb")
    other = {"header_buttons": []}
    sphinx_course.add_colab_button(None, "measured", "page.html", other, None)
    assert other["header_buttons"] == []


def test_the_budget_is_judged_only_for_a_notebook_run_alone(tmp_path):
    run = tmp_path / "mini"
    run.mkdir()
    rows = [
        {"notebook": "06_dpo", "status": "ok", "seconds": 195.0, "alone": False},
        {"notebook": "07_grpo", "status": "ok", "seconds": 150.0, "alone": True},
    ]
    (run / "summary.json").write_text(json.dumps(rows))
    measured = site.measured_page({"mini": run})
    assert "| 06_dpo | ok | 195 | no |  | – |" in measured  # beside another: not judged
    assert "| 07_grpo | ok | 150 | yes |  | no |" in measured

"""Sphinx configuration of the course's website (built by ``python -m course_utils site``)."""

from course_utils.tooling.badges import course_repo  # pyproject.toml's [tool.course], as badges

project = "Fine-tuning large language models, hands-on"
author = "the course's authors"
extensions = ["myst_nb", "course_utils.tooling.sphinx_course"]
myst_enable_extensions = ["dollarmath"]  # $...$ and $$...$$, as Jupyter and Colab read them
html_math_renderer = "mathml"  # sphinx_course: MathML at build time, no MathJax
nb_execution_mode = "off"  # the pages show a run that CI (or make course) already made
nb_merge_streams = True
exclude_patterns = ["_build", "**.ipynb_checkpoints", "intro.md"]
html_theme = "sphinx_book_theme"
html_title = "LLM fine-tuning course"
html_static_path = ["_static"]
html_theme_options = {
    "repository_url": course_repo().url,
    "use_repository_button": True,
    "use_issues_button": True,  # "open an issue" on every page
    "show_toc_level": 2,
    # The page's contents sit in the left column under the chapters, so no right-hand column
    # narrows the code: the notebooks' 100-character lines fit at 1280 px.
    "secondary_sidebar_items": [],
}
html_sidebars = {
    "**": ["navbar-logo", "sbt-sidebar-nav", "page-toc"],
}
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]
html_favicon = "_static/favicon.svg"  # a local one: the browser asks for a favicon on every page
html_context = {"default_mode": "light"}
html_css_files = ["course.css"]
html_js_files = ["course.js"]
myst_html_meta = {
    "description": "A hands-on course on fine-tuning large language models: notebooks that run "
    "on a free Colab T4 and, with the course's mini models, on any laptop."
}

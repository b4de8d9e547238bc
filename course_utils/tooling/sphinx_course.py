"""The course's Sphinx extension (named in ``site/conf.py``): what the website adds to
sphinx-book-theme.

- TeX maths (``$...$`` and ``$$...$$`` in the notebooks' Markdown) rendered at build time to
  MathML, which browsers draw natively: no MathJax script to download, nothing from a CDN.
- An "Open in Colab" button in the header of every notebook page, pointing at the notebook in
  the repository (``badges.badge_url``), not at the page's copy.
- Font Awesome cut to the icons the pages use: the theme ships every icon (1.5 MB of
  JavaScript); after the build that file is replaced by the used icons' outlines as inline SVG.
- No source maps published (they serve the theme's developers).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from docutils import nodes

from .badges import badge_url
from .site import PROFILES

#: Font Awesome's definition of an icon in the theme's bundle: name: [width, height, [aliases],
#: "unicode", "outline"] (the name quoted or not).
ICON_DEFINITION = re.compile(
    r'(?:"(?P<quoted>[a-z0-9-]+)"|\b(?P<bare>[a-z][a-z0-9]*)):'
    r'\[(?P<width>\d+),(?P<height>\d+),\[[^\]]*\],"[0-9a-f]*","(?P<path>[^"]+)"\]'
)
#: Where the bundle hands a pack's icons over: p("fas",b),p("fa-solid",b).
ICON_PACK = re.compile(r'\w\("(?P<pack>fa[a-z]+)",\w\),\w\("fa-[a-z]+",\w\)')
#: A Font Awesome class in a page or script: fa-github, fa-solid, ...
ICON_CLASS = re.compile(r"\bfa-([a-z0-9-]+)")
FONTAWESOME = Path("_static") / "scripts" / "fontawesome.js"


#: A TeX command latex2mathml did not know, which it leaves as text: <mi>\\foo</mi>.
UNKNOWN_COMMAND = re.compile(r">(\\[A-Za-z]+)<")


def to_mathml(tex: str, display: bool) -> str:
    """``tex`` as a MathML element; a formula latex2mathml cannot read stops the build."""
    from latex2mathml.converter import convert

    try:
        mathml = convert(tex.strip(), display="block" if display else "inline")
    except Exception as exc:  # latex2mathml raises its own errors, and some bare ones
        raise ValueError(
            f"the formula {tex!r} is not TeX that latex2mathml reads: {exc!r}"
        ) from exc
    if unknown := UNKNOWN_COMMAND.search(mathml):
        raise ValueError(f"the formula {tex!r} uses {unknown.group(1)}, which latex2mathml lacks")
    return mathml


def visit_inline_math(translator: Any, node: nodes.math) -> None:
    translator.body.append(to_mathml(node.astext(), display=False))
    raise nodes.SkipNode


def visit_display_math(translator: Any, node: nodes.math_block) -> None:
    translator.body.append(translator.starttag(node, "div", CLASS="math-display"))
    translator.body.append(to_mathml(node.astext(), display=True))
    translator.body.append("</div>\n")
    raise nodes.SkipNode


def notebook_stem(pagename: str) -> str | None:
    """The notebook a page shows ("mini/07_grpo" -> "07_grpo"); None for other pages."""
    profile, _, stem = pagename.partition("/")
    return stem if profile in PROFILES and re.match(r"\d\d_", stem) else None


def add_colab_button(app: Any, pagename: str, templatename: str, context: dict, doctree: Any):
    """First in the header's buttons: the notebook, opened in Colab from the repository."""
    stem = notebook_stem(pagename)
    if stem is None or "header_buttons" not in context:
        return
    context["header_buttons"].insert(
        0,
        {
            "type": "link",
            "url": badge_url(f"notebooks/{stem}.ipynb"),
            "text": "Open in Colab",
            "tooltip": "Run this notebook on Colab (choose a T4 GPU runtime)",
            "icon": "_static/images/logo_colab.png",
            "label": "colab-button",
        },
    )


def icon_outlines(bundle: str) -> dict[str, dict[str, list[Any]]]:
    """Every icon of Font Awesome's bundle: pack ("fas", "far", "fab") -> name -> [width,
    height, outline]. An icon belongs to the pack handed over next after its definition."""
    packs = [(match.start(), match["pack"]) for match in ICON_PACK.finditer(bundle)]
    outlines: dict[str, dict[str, list[Any]]] = {}
    for match in ICON_DEFINITION.finditer(bundle):
        pack = next((name for start, name in packs if start > match.start()), None)
        if pack is None:
            continue
        name = match["quoted"] or match["bare"]
        outlines.setdefault(pack, {})[name] = [
            int(match["width"]),
            int(match["height"]),
            match["path"],
        ]
    return outlines


def used_icons(html: Path) -> set[str]:
    """The Font Awesome names the built pages and the theme's scripts use."""
    names: set[str] = set()
    files = [*html.rglob("*.html"), *(html / "_static").rglob("*.js")]
    for file in files:
        if file.name != FONTAWESOME.name:
            names |= set(ICON_CLASS.findall(file.read_text(errors="replace")))
    return names


def icon_script(outlines: dict[str, dict[str, list[Any]]]) -> str:
    """A small script drawing each ``<i class="fa-solid fa-sun">`` as an inline SVG."""
    table = json.dumps(outlines, separators=(",", ":"))
    return (
        "/* Font Awesome Free icons (fontawesome.com, CC BY 4.0): the ones this site uses,\n"
        "   as inline SVG, in place of the theme's 1.5 MB bundle (sphinx_course.py). */\n"
        f"const COURSE_ICONS = {table};\n"
        f"{ICON_DRAWING}"
    )


#: Draws the icons: for each element with a pack and a known name, an SVG that keeps its
#: classes and attributes (the theme's CSS shows and hides icons by them).
ICON_DRAWING = """(() => {
  const PACKS = {"fa-solid": "fas", fas: "fas", "fa-regular": "far", far: "far",
                 "fa-brands": "fab", fab: "fab"};
  const draw = () => {
    for (const element of document.querySelectorAll("i[class*='fa-'], span[class*='fa-']")) {
      const classes = [...element.classList];
      const pack = PACKS[classes.find((c) => c in PACKS)] || "fas";
      const name = classes.map((c) => c.slice(3)).find((n) => n in (COURSE_ICONS[pack] || {}));
      if (!name) continue;
      const [width, height, outline] = COURSE_ICONS[pack][name];
      const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      for (const attribute of element.attributes) svg.setAttribute(attribute.name, attribute.value);
      svg.classList.add("svg-inline--fa");
      svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
      svg.setAttribute("aria-hidden", "true");
      svg.style.width = `${width / height}em`;
      const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
      path.setAttribute("fill", "currentColor");
      path.setAttribute("d", outline);
      svg.appendChild(path);
      element.replaceWith(svg);
    }
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
"""


def slim_assets(app: Any, exception: Exception | None) -> None:
    """After a good build: Font Awesome cut to the used icons, and no source maps."""
    if exception is not None or app.builder.format != "html":
        return
    html = Path(app.outdir)
    bundle = html / FONTAWESOME
    if bundle.exists():
        used = used_icons(html)
        outlines = {
            pack: {name: icon for name, icon in icons.items() if name in used}
            for pack, icons in icon_outlines(bundle.read_text()).items()
        }
        bundle.write_text(icon_script({pack: icons for pack, icons in outlines.items() if icons}))
    for source_map in html.rglob("*.map"):
        source_map.unlink()


def setup(app: Any) -> dict[str, Any]:
    app.add_html_math_renderer("mathml", (visit_inline_math, None), (visit_display_math, None))
    app.connect("html-page-context", add_colab_button, priority=600)  # after the theme's
    app.connect("build-finished", slim_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

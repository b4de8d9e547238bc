// The course's website: a copy button on every code cell, figures that open full size, and
// search snippets taken from the lesson, not from the page's buttons, menus and run banner.
// Sphinx's search page loads this script before its own: the snippets' source is replaced once
// both are loaded (before any result's page is fetched for its snippet).
const lessonTextOnly = () => {
  if (typeof Search === "undefined" || !Search.htmlToText || Search.courseLessonOnly) return;
  const pageText = Search.htmlToText;
  Search.htmlToText = (html, anchor) => {
    const page = new DOMParser().parseFromString(html, "text/html");
    const chrome = ".bd-header, .bd-header-article, .bd-sidebar-primary, .bd-sidebar-secondary, "
      + ".bd-footer-article, .bd-footer, .prev-next-area, dialog, .onlyprint, .course-run, "
      + ".cell_input, .course-copy";
    page.querySelectorAll(chrome).forEach((element) => element.remove());
    return pageText(page.documentElement.outerHTML, anchor);
  };
  Search.courseLessonOnly = true;
};
lessonTextOnly();
document.addEventListener("DOMContentLoaded", () => {
  lessonTextOnly();
  for (const block of document.querySelectorAll(".cell_input div.highlight")) {
    const button = document.createElement("button");
    button.className = "course-copy";
    button.type = "button";
    button.textContent = "Copy";
    button.title = "Copy this cell's code";
    button.addEventListener("click", () => {
      const code = block.querySelector("pre").innerText;
      navigator.clipboard.writeText(code).then(
        () => { button.textContent = "Copied"; },
        () => { button.textContent = "Select and copy"; },
      );
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    });
    block.style.position = "relative";
    block.appendChild(button);
  }
  for (const image of document.querySelectorAll(".cell_output img")) {
    // A figure in a cell with other outputs has no caption from the build: its alt text, shown.
    const captioned = image.closest("figure")?.querySelector("figcaption");
    if (!captioned && image.alt.startsWith("Figure, ")) {
      const caption = document.createElement("p");
      caption.className = "course-caption";
      caption.textContent = image.alt.slice("Figure, ".length);
      image.after(caption);
    }
    if (image.closest("a")) continue;
    const link = document.createElement("a");
    link.href = image.src;
    link.title = "Open the figure full size";
    image.parentNode.insertBefore(link, image);
    link.appendChild(image);
  }
});

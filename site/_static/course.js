// The course's website: a copy button on every code cell, and figures that open full size.
document.addEventListener("DOMContentLoaded", () => {
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
    if (image.closest("a")) continue;
    const link = document.createElement("a");
    link.href = image.src;
    link.title = "Open the figure full size";
    image.parentNode.insertBefore(link, image);
    link.appendChild(image);
  }
});

"""Where a run's time goes: ``python -m course_utils profile OUT``.

For each notebook of a run folder: its seconds against the mini budget (``MINI_BUDGET_SECONDS``
on 2 cores, solutions included), and its slowest cells, read from the executed copy (papermill
stores each cell's duration in its metadata), each named by its first line of code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .runner import MINI_BUDGET_SECONDS


def cell_seconds(executed: Path) -> list[tuple[float, int, str]]:
    """(seconds, index, first line) of each code cell of an executed notebook, slowest first."""
    cells = json.loads(executed.read_text())["cells"]
    timed = []
    for index, cell in enumerate(cells):
        seconds = cell.get("metadata", {}).get("papermill", {}).get("duration")
        if cell["cell_type"] == "code" and seconds is not None:
            source = "".join(cell["source"])
            lines = [line for line in source.splitlines() if line.strip()]
            code = [line for line in lines if not line.lstrip().startswith("#")]
            timed.append((float(seconds), index, ((code or lines or [""])[0]).strip()[:70]))
    return sorted(timed, reverse=True)


def report(run_dir: Path, top: int = 3) -> tuple[str, bool]:
    """The profile of a run as text, and whether every notebook kept to its budget."""
    rows: list[dict[str, Any]] = json.loads((Path(run_dir) / "summary.json").read_text())
    lines, within, total = [], True, 0.0
    for row in rows:
        seconds = float(row["seconds"])
        total += seconds
        mini = row.get("profile") == "mini" and row.get("alone", True)
        verdict = "" if row.get("alone", True) else "side by side: not its time alone"
        if mini:
            over = seconds > MINI_BUDGET_SECONDS
            within &= not over
            verdict = f"OVER by {seconds - MINI_BUDGET_SECONDS:.0f} s" if over else "within"
        budget = f"{MINI_BUDGET_SECONDS} s" if mini else "-"
        lines.append(f"{row['notebook']:<34} {seconds:7.1f} s  budget {budget:>6}  {verdict}")
        executed = Path(run_dir) / f"{row['notebook']}.ipynb"
        if executed.exists():
            for cell_time, index, first in cell_seconds(executed)[:top]:
                lines.append(f"    cell {index:>3} {cell_time:6.1f} s  {first}")
    side_by_side = any(not row.get("alone", True) for row in rows)
    label = "sum (side by side: less wall time)" if side_by_side else "all notebooks"
    lines.append(f"{label:<34} {total:7.1f} s")
    return "\n".join(lines), within

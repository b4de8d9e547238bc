"""Execute course notebooks with papermill: executed copies, recorded results, figures, a summary.

Used by ``python -m course_utils run`` (see cli.py). For each notebook the runner

- injects ``PROFILE`` and the ``-p NAME VALUE`` parameters into its ``parameters`` cell,
- runs it on a kernel of this very interpreter (``sys.executable``), in the notebook's folder,
- collects what it ``record()``-ed and the figures it saved, and watches the kernel's memory,
- replaces ``<out>/<stem>.ipynb`` only on success; a failure goes to ``<stem>.failed.ipynb``,
- and finally merges a row per notebook into ``<out>/summary.json`` and ``summary.md``.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import platform
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from ..core import numerics, paths
from ..core.hub import OFFLINE_VARIABLES
from . import catalog, standins
from .catalog import spec_or_none
from .figures import FIGURES_ENV
from .profiles import resolve_profile
from .results import RESULTS_ENV

# Library progress bars would fill the executed copies and the logs with carriage returns.
QUIET_VARIABLES = {
    "TQDM_DISABLE": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}
MEMORY_POLL_SECONDS = 0.2
#: The most seconds a notebook may take in ``mini`` with its solutions, on 2 cores.
MINI_BUDGET_SECONDS = 120


class RunnerError(Exception):
    """The request itself is wrong (unknown notebook, bad parameter name); nothing was run."""


@dataclass
class NotebookResult:
    """What happened to one notebook (status "ok", "failed", or "planned" in a dry run)."""

    notebook: str  # the stem, e.g. "01_catastrophic_forgetting"
    path: Path  # the source notebook
    status: str
    seconds: float = 0.0
    peak_mb: float | None = None
    results: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    output: Path | None = None  # the executed copy, or the .failed.ipynb
    downloads: tuple[catalog.Download, ...] = ()  # dry run: what the t4 profile fetches
    parameters: dict[str, Any] = field(default_factory=dict)  # injected into its parameters cell
    solutions: bool = False  # whether the exercises' solutions ran
    alone: bool = True  # False: it shared the machine with other notebooks (run --jobs)

    def summary_row(self, profile: str) -> dict[str, Any]:
        """The row this result contributes to summary.json."""
        return {
            "notebook": self.notebook,
            "status": self.status,
            "seconds": round(self.seconds, 1),
            "peak_mb": self.peak_mb,
            "results": self.results,
            "error": self.error,
            "profile": profile,
            "parameters": self.parameters,
            "solutions": self.solutions,
            "alone": self.alone,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }


# ----------------------------------------------------------------------------- selecting notebooks


def resolve_notebooks(names: Sequence[str | Path]) -> list[Path]:
    """Turn paths, stems ("01_catastrophic_forgetting") or numbers ("01", "1") into notebook paths.

    No names means every numbered notebook. Paths outside notebooks/ are accepted.
    """
    known = paths.course_notebooks()
    if not names:
        if not known:
            raise RunnerError(
                f"no notebooks matching {paths.NOTEBOOK_PATTERN} in {paths.notebooks_dir()}"
            )
        return known
    selected: list[Path] = []
    for name in names:
        path = _resolve_one(str(name), known)
        if path not in selected:
            selected.append(path)
    return selected


def _resolve_one(name: str, known: list[Path]) -> Path:
    candidate = Path(name).expanduser()
    if candidate.suffix == ".ipynb" or len(candidate.parts) > 1:
        for path in (candidate, paths.notebooks_dir() / candidate.name):
            if path.is_file():
                return path.resolve()
    else:
        key = name.zfill(2) if name.isdigit() else name
        matches = [p for p in known if key in (p.stem, p.stem.split("_", 1)[0])]
        if len(matches) == 1:
            return matches[0].resolve()
    listing = ", ".join(p.stem for p in known) or "none"
    raise RunnerError(
        f"no notebook {name!r}: give a path, a stem or a number. "
        f"Notebooks in {paths.notebooks_dir()}: {listing}"
    )


# ----------------------------------------------------------------------------- parameters


def parse_value(text: str) -> Any:
    """A ``-p`` value: a Python literal (``3``, ``1e-4``, ``[4, 8]``, ``None``) or else the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def check_parameter_names(notebooks: Sequence[Path], parameters: dict[str, Any]) -> None:
    """Reject names no selected notebook can take, before any kernel starts."""
    for name in parameters:
        if name == "PROFILE":
            raise RunnerError("set the profile with --profile, not with -p PROFILE")
        if not name.isidentifier():
            raise RunnerError(f"parameter name {name!r} is not a Python identifier")
    for path in notebooks:
        spec = spec_or_none(path.stem)
        if spec is None:
            continue
        allowed = {*spec.params, "SEED"}
        unknown = sorted(set(parameters) - allowed)
        if unknown:
            raise RunnerError(
                f"{path.stem} has no parameter(s) {', '.join(unknown)}; "
                f"it takes {', '.join(sorted(allowed))}"
            )


# ----------------------------------------------------------------------------- profiles, machine


def resolve_profile_name(requested: str) -> tuple[str, str]:
    """(profile, accelerator) for "mini"/"t4"/"auto"; "mini" is resolved without importing torch."""
    if requested == "mini":
        return "mini", "CPU only"
    profile = resolve_profile(requested)
    return profile.name, profile.accelerator


def default_out_dir(profile: str, stand_ins: bool = False) -> Path:
    """Where executed copies go unless --out says otherwise: outputs/<profile>[-stand-ins]."""
    return paths.repo_root() / "outputs" / (profile + ("-stand-ins" if stand_ins else ""))


def machine_description(accelerator: str) -> str:
    """CPU model and core count, and the GPU if there is one."""
    if accelerator == "CPU only":
        gpu = "no GPU"
    elif accelerator.startswith("CPU"):  # the t4 stand-in run on a machine without a GPU
        gpu = f"no GPU ({accelerator})"
    else:
        gpu = f"GPU {accelerator}"
    return f"{numerics.cpu_model()} ({os.cpu_count()} cores), {gpu}"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


# ----------------------------------------------------------------------------- execution helpers


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables (inherited by kernels started inside), restore them after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


class PeakMemory:
    """Polls, in a background thread, the summed RSS of one kernel and its children (the
    process whose id ``kernel`` holds under "pid", once it has started)."""

    def __init__(self, kernel: dict[str, int], interval: float = MEMORY_POLL_SECONDS) -> None:
        self.kernel = kernel
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        import psutil

        while True:
            total = 0
            with contextlib.suppress(psutil.Error, KeyError):
                kernel = psutil.Process(self.kernel["pid"])
                for process in (kernel, *kernel.children(recursive=True)):
                    with contextlib.suppress(psutil.Error):
                        total += process.memory_info().rss
            self.peak_bytes = max(self.peak_bytes, total)
            if self._stop.wait(self.interval):
                return

    @property
    def peak_mb(self) -> float | None:
        return round(self.peak_bytes / 2**20, 1) if self.peak_bytes else None


def this_python_kernel_manager(
    env: dict[str, str] | None = None, started: dict[str, int] | None = None
) -> type:
    """A kernel manager class whose kernel is this interpreter, whatever kernelspecs exist,
    started with ``env`` added to this process's environment (one notebook's own variables,
    so that notebooks can run side by side); the kernel's process id goes into ``started``."""
    import zmq
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpec

    class ThisPythonKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            # Encrypt the local connection where pyzmq can (ipykernel warns about plain TCP).
            kwargs.setdefault("transport_encryption", "auto" if zmq.has("curve") else "disabled")
            super().__init__(**kwargs)

        async def start_kernel(self, **kwargs: Any) -> None:
            kwargs["env"] = {**os.environ, **(env or {})}
            await super().start_kernel(**kwargs)
            process = getattr(self.provisioner, "process", None)
            if started is not None and process is not None:
                started["pid"] = process.pid

        async def _async_interrupt_kernel(self) -> None:
            # jupyter_client interrupts a kernel before shutting it down; the idle kernel then
            # logs "KeyboardInterrupt caught in kernel" on the runner's console. A finished
            # notebook has nothing to interrupt.
            if not getattr(self, "shutting_down", False):
                await super()._async_interrupt_kernel()

        @property
        def kernel_spec(self) -> KernelSpec:
            if self._kernel_spec is None:
                self._kernel_spec = KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())
            return self._kernel_spec

    return ThisPythonKernelManager


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def _replace_dir(source: Path, target: Path) -> None:
    """Put ``source`` (if it holds anything) where ``target`` is, removing the old ``target``."""
    if target.exists():
        shutil.rmtree(target)
    if source.is_dir() and any(source.iterdir()):
        target.parent.mkdir(parents=True, exist_ok=True)
        source.rename(target)


def describe_cell_error(exc: Any, executed: Path) -> str:
    """Name the failing cell (its index in the source notebook, first line) and the error.

    ``exc`` is papermill's PapermillExecutionError; its ``cell_index`` counts the injected
    parameters cell, which the source notebook does not have.
    """
    import nbformat
    from papermill.execute import ERROR_MARKER_TAG

    index = exc.cell_index
    with contextlib.suppress(OSError, ValueError, IndexError):
        nb = nbformat.read(executed, as_version=4)
        cells = [c for c in nb.cells if ERROR_MARKER_TAG not in c.metadata.get("tags", [])]
        index -= sum("injected-parameters" in c.metadata.get("tags", []) for c in cells[:index])
    lines = [line.strip() for line in str(exc.source).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return f"cell {index} (counting from 0) `{first}`: {exc.ename}: {exc.evalue}"


SOLUTION_TAG = "solution"


def lecture(path: Path, solutions: bool = False) -> Any:
    """The notebook as the runner executes it. Code cells tagged ``solution`` are the exercises'
    answers: in a lecture run they become raw cells, shown but not run; with ``solutions`` (the
    tests) they run like the rest."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    if not solutions:
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and SOLUTION_TAG in cell.metadata.get("tags", []):
                nb.cells[i] = nbformat.v4.new_raw_cell(cell.source, metadata=cell.metadata)
    return nb


def _execute_one(
    path: Path,
    label: str,
    out_dir: Path,
    parameters: dict[str, Any],
    solutions: bool = False,
    kernel_env: dict[str, str] | None = None,
) -> NotebookResult:
    """Run one notebook in a staging folder; publish its outputs only if it succeeds."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    stem = path.stem
    final = out_dir / f"{stem}.ipynb"
    failed = out_dir / f"{stem}.failed.ipynb"
    staging = Path(tempfile.mkdtemp(prefix=f".{stem}.", dir=out_dir))
    executed = staging / f"{stem}.ipynb"
    results_file = staging / "results.json"
    figures = staging / "figures"
    figures.mkdir()
    env = {RESULTS_ENV: str(results_file), FIGURES_ENV: str(figures), **(kernel_env or {})}
    kernel: dict[str, int] = {}
    kernel_manager_class = this_python_kernel_manager(env, kernel)

    print(f"{label} ...", flush=True)
    memory = PeakMemory(kernel)
    error: str | None = None
    start = time.monotonic()
    try:
        try:
            with memory:
                papermill.execute_notebook(
                    lecture(path, solutions),
                    str(executed),
                    parameters=parameters,
                    kernel_name="python3",
                    kernel_manager_class=kernel_manager_class,
                    progress_bar=False,
                    log_output=False,
                    cwd=str(path.parent),
                )
        except PapermillExecutionError as exc:
            error = describe_cell_error(exc, executed)
        except Exception as exc:  # the kernel died, would not start, the file is unreadable...
            error = f"{type(exc).__name__}: {exc}"
        seconds = time.monotonic() - start
        results = _read_json(results_file, {})

        if error is None:
            os.replace(executed, final)
            _write_text_atomic(out_dir / f"{stem}.results.json", json.dumps(results, indent=2))
            _replace_dir(figures, out_dir / "figures" / stem)
            shutil.rmtree(out_dir / "figures" / f"{stem}.failed", ignore_errors=True)
            failed.unlink(missing_ok=True)
            output: Path | None = final
        else:
            output = None
            failed.unlink(missing_ok=True)  # never leave an older failure looking like this one
            if executed.exists():
                os.replace(executed, failed)
                output = failed
            _replace_dir(figures, out_dir / "figures" / f"{stem}.failed")
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    status = "ok" if error is None else "failed"
    peak = f"{memory.peak_mb:.0f} MB" if memory.peak_mb else "unknown"
    over = ""
    alone = not kernel_env  # the budget is for a notebook run on its own, on every core
    if alone and parameters.get("PROFILE") == "mini" and seconds > MINI_BUDGET_SECONDS:
        over = f" (over the mini budget of {MINI_BUDGET_SECONDS} s)"
    print(f"{label} {status} in {seconds:.1f} s{over}, peak memory {peak}", flush=True)
    if error:
        print(f"    {error}", flush=True)
    return NotebookResult(
        notebook=stem,
        path=path,
        status=status,
        seconds=seconds,
        peak_mb=memory.peak_mb,
        results=results,
        error=error,
        output=output,
        parameters=parameters,
        solutions=solutions,
        alone=alone,
    )


# ----------------------------------------------------------------------------- dry run


def plan_notebooks(notebooks: Sequence[Path], profile: str = "t4") -> list[NotebookResult]:
    """Print (and return) what the t4 profile would download and need, executing nothing."""
    print("Dry run: nothing is executed or downloaded. What the t4 profile fetches from the Hub:")
    if profile == "mini":
        print("(the mini profile itself runs offline and downloads nothing)")
    planned = []
    total_gb = peak_gpu_gb = 0.0
    for number, path in enumerate(notebooks, 1):
        label = f"[{number}/{len(notebooks)}] {path.stem}"
        spec = spec_or_none(path.stem)
        if spec is None:
            print(f"{label}: not in the course catalogue; its downloads are unknown")
            planned.append(NotebookResult(notebook=path.stem, path=path, status="planned"))
            continue
        size = sum(d.approx_gb for d in spec.downloads)
        total_gb += size
        peak_gpu_gb = max(peak_gpu_gb, spec.t4_gpu_gb)
        print(
            f"{label} ({spec.title}): downloads ~{size:.1f} GB, "
            f"needs ~{spec.t4_gpu_gb:.1f} GB of GPU memory, ~{spec.t4_minutes:g} min on a T4"
        )
        for item in spec.downloads:
            print(f"    {item.kind:<8} {item.repo_id:<50} ~{item.approx_gb:.2f} GB")
        if not spec.downloads:
            print("    nothing to download")
        planned.append(
            NotebookResult(
                notebook=path.stem,
                path=path,
                status="planned",
                results={"download_gb": size, "t4_gpu_gb": spec.t4_gpu_gb},
                downloads=spec.downloads,
            )
        )
    print(
        f"In all: ~{total_gb:.1f} GB to download; the largest needs ~{peak_gpu_gb:.1f} GB of GPU "
        "memory (a Colab T4 has 15 GB).",
        flush=True,
    )
    return planned


# ----------------------------------------------------------------------------- summary


def format_results(results: dict[str, Any], width: int = 60) -> str:
    """Compact ``name=value`` pairs: floats to 3 decimals, long values shortened."""
    parts = []
    for name, value in results.items():
        if isinstance(value, float):
            text = f"{value:.3f}"
        elif isinstance(value, list | dict):
            text = json.dumps(value, separators=(",", ":"))
        else:
            text = str(value)
        if len(text) > width:
            text = text[: width - 3] + "..."
        parts.append(f"{name}={text}")
    return ", ".join(parts)


def render_summary(rows: list[dict[str, Any]], header: dict[str, str]) -> str:
    """summary.md: the run's context, then one table row per notebook, then the failures."""

    def cell(text: Any) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["# Notebook run summary", ""]
    lines += [f"- {key}: {value}" for key, value in header.items()]
    lines += [
        "",
        "| notebook | status | seconds | peak MB | key results |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for row in rows:
        peak = f"{row['peak_mb']:.0f}" if row.get("peak_mb") else ""
        results = format_results(row.get("results") or {})
        seconds = f"{row['seconds']:.1f}"
        if not row.get("alone", True):
            seconds += " (side by side)"
        elif row.get("profile") == "mini" and row["seconds"] > MINI_BUDGET_SECONDS:
            seconds += f" (over {MINI_BUDGET_SECONDS})"
        lines.append(
            f"| {cell(row['notebook'])} | {row['status']} | {seconds} | {peak} | {cell(results)} |"
        )
    failures = [row for row in rows if row["status"] == "failed"]
    if failures:
        lines += ["", "## Failures", ""]
        lines += [f"- {row['notebook']}: {cell(row['error'])}" for row in failures]
    return "\n".join(lines) + "\n"


def write_summary(
    out_dir: Path, results: Sequence[NotebookResult], profile: str, accelerator: str
) -> Path:
    """Merge these results into ``<out>/summary.json`` (other notebooks' rows are kept) and
    rewrite ``summary.md``; returns the path of summary.md."""
    json_path = out_dir / "summary.json"
    old = _read_json(json_path, [])
    rows = {row["notebook"]: row for row in old if isinstance(row, dict) and "notebook" in row}
    header = {
        "profile": profile,
        "machine": machine_description(accelerator),
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "versions": (
            f"python {platform.python_version()}, torch {_version('torch')}, "
            f"transformers {_version('transformers')}"
        ),
    }
    for result in results:
        row = result.summary_row(profile)
        rows[result.notebook] = {
            **row,
            "machine": header["machine"],
            "versions": header["versions"],
        }
    ordered = [rows[name] for name in sorted(rows)]
    _write_text_atomic(json_path, json.dumps(ordered, indent=2) + "\n")
    md_path = out_dir / "summary.md"
    _write_text_atomic(md_path, render_summary(ordered, header))
    return md_path


# ----------------------------------------------------------------------------- the whole run


def _ensure_mini_models(notebooks: Sequence[Path]) -> None:
    """Stop before any kernel starts if a selected notebook needs the mini models and they are
    missing."""
    if any(getattr(spec_or_none(p.stem), "uses_mini_models", False) for p in notebooks):
        from ..mini.build import MissingModels, require_models

        try:
            require_models()
        except MissingModels as exc:
            raise RunnerError(str(exc)) from exc


def run_environment(profile: str, stand_ins: bool = False) -> dict[str, str]:
    """The environment variables the notebooks' kernels run with."""
    env = dict(QUIET_VARIABLES)
    if (paths.repo_root() / "pyproject.toml").is_file():  # kernels import this checkout
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(paths.repo_root()), os.environ.get("PYTHONPATH")) if p
        )
    if profile == "mini" or stand_ins:
        env.update({variable: "1" for variable in OFFLINE_VARIABLES})
    if stand_ins:
        env[standins.ENV] = "1"
    return env


def run_notebooks(
    notebooks: Sequence[str | Path],
    profile: str = "auto",
    out_dir: Path | None = None,
    parameters: dict[str, Any] | None = None,
    dry_run: bool = False,
    stand_ins: bool = False,
    solutions: bool = False,
    jobs: int = 1,
) -> list[NotebookResult]:
    """Execute notebooks (all numbered ones if none are named) and write the summary.

    ``out_dir`` defaults to outputs/<resolved profile>. A dry run only prints what the t4 profile
    would download, without importing torch or touching the network. ``stand_ins`` runs the t4
    code path with the Hub replaced by local stand-ins and step counts cut (see standins.py).
    ``solutions`` also runs the exercises' solutions (cells tagged ``solution``), as the tests do.
    ``jobs`` > 1 (mini only) runs that many notebooks side by side, each with the course's own
    thread count (results depend on it: notebook 02 gives other numbers with 1 thread than with
    2) and OpenMP's threads sleeping rather than spinning while they wait
    (``OMP_WAIT_POLICY=PASSIVE``), so that one notebook's single-threaded Python fills the
    cores the other's matrix products leave idle: notebooks 03 and 04 took 179 s side by side
    against 216 s one after the other, with identical results.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise RunnerError(f"--jobs {jobs!r} is not allowed: expected an integer of at least 1")
    if jobs > 1 and profile != "mini":
        raise RunnerError(f"--jobs {jobs} is for the mini profile (CPU), not {profile!r}")
    selected = resolve_notebooks(notebooks)
    parameters = dict(parameters or {})
    check_parameter_names(selected, parameters)
    if stand_ins and profile != "t4":
        raise RunnerError(
            f"--stand-ins runs the t4 code path: use it with --profile t4, not {profile}"
        )
    if dry_run:
        return plan_notebooks(selected, profile)

    with _environment({standins.ENV: "1"} if stand_ins else {}):
        name, accelerator = resolve_profile_name(profile)
    env = run_environment(name, stand_ins)
    # Absolute: papermill runs (and saves) from inside the notebook's folder.
    out_dir = (Path(out_dir) if out_dir is not None else default_out_dir(name, stand_ins)).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)

    what = f"profile {name}" + (" with Hub stand-ins" if stand_ins else "")
    print(f"Running {len(selected)} notebook(s), {what}, into {out_dir}", flush=True)
    kernel_env = {"OMP_WAIT_POLICY": "PASSIVE"} if jobs > 1 else None

    def execute(number: int, path: Path) -> NotebookResult:
        label = f"[{number}/{len(selected)}] {path.stem}"
        spec = spec_or_none(path.stem)
        cut = spec.stand_in if (stand_ins and spec is not None) else {}
        injected = {"PROFILE": profile, **cut, **parameters}
        return _execute_one(path, label, out_dir, injected, solutions, kernel_env)

    with _environment(env):
        if name == "mini" or stand_ins:
            _ensure_mini_models(selected)
        if stand_ins:
            standins.prepare()
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            finished = list(pool.map(execute, range(1, len(selected) + 1), selected))
    summary = write_summary(
        out_dir, finished, name + (" with Hub stand-ins" if stand_ins else ""), accelerator
    )
    print(f"Summary: {summary}", flush=True)
    return finished

"""The course command line: ``python -m course_utils run | compare | seeds | readme | profile |
build-mini | build-data | badges | params | memory-table | lessons | colab-runtime | site``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .params import ParameterError

RUN_EPILOG = """examples:
  python -m course_utils run                         every notebook, profile auto
  python -m course_utils run 01 02 --profile mini    two notebooks, CPU mini models
  python -m course_utils run 01 -p SEED 1 -p LR_SWEEP "[1e-4, 1e-3]"
  python -m course_utils run --profile t4 --dry-run  what the t4 profile would download
  python -m course_utils run --profile t4 --stand-ins  the t4 code path, Hub replaced locally

Each notebook's executed copy goes to OUT/<stem>.ipynb (only when it succeeds; a failure is
written to OUT/<stem>.failed.ipynb), its recorded results to OUT/<stem>.results.json, its figures
to OUT/figures/<stem>/, and a row to OUT/summary.json and OUT/summary.md. The exit status is 1
if any notebook failed."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils", description="Tools for the fine-tuning course."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="execute notebooks with papermill and write executed copies and a summary",
        description="Execute course notebooks on this Python's kernel with papermill.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "notebooks",
        nargs="*",
        metavar="NOTEBOOK",
        help="a notebook by number (01), stem (01_catastrophic_forgetting) or path; "
        "none means every notebooks/NN_*.ipynb in order",
    )
    run.add_argument(
        "--profile",
        choices=("mini", "t4", "auto"),
        default="auto",
        help="mini: CPU, offline mini models; t4: Hub models on a CUDA GPU; "
        "auto (default): t4 if CUDA is available, else mini",
    )
    run.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder (default: outputs/<profile> in the repository, "
        "with auto replaced by the profile it resolves to)",
    )
    run.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        default=[],
        help="set a notebook parameter; VALUE is read as a Python literal (3, 1e-4, [4, 8], "
        "None, True) or else taken as a string; repeat for several",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="execute nothing: list the Hub models and datasets each notebook downloads in the "
        "t4 profile, their size and the GPU memory it needs",
    )
    run.add_argument(
        "--stand-ins",
        action="store_true",
        help="with --profile t4: run the t4 code path without the Hub (each Hub model and "
        "dataset replaced by a local stand-in of the same architecture or schema, step counts "
        "cut to a few), on a GPU if there is one, else on the CPU as if on a T4",
    )
    run.add_argument(
        "--solutions",
        action="store_true",
        help="also run the exercises' solutions (cells tagged 'solution'); a lecture run shows "
        "them without running them",
    )
    run.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="mini only: run N notebooks side by side (the same numbers; make course and the "
        "tests use 2); each notebook's seconds are then not its time alone",
    )
    run.set_defaults(handler=_run)

    compare = commands.add_parser(
        "compare",
        help="say whether a run reproduced the reference run (reference/mini-seed0.json)",
        description="Hold a run's recorded results against the reference run: seed 0 of every "
        "notebook in the mini profile with the solutions, on pinned CPU numerics. Values that "
        "measure the machine (seconds, memory) are left out.",
    )
    compare.add_argument("run_dir", type=Path, metavar="OUT", help="a run folder (summary.json)")
    compare.add_argument(
        "--update", action="store_true", help="make this run the reference (commit the change)"
    )
    compare.add_argument(
        "--strict", action="store_true", help="exit 1 unless the run reproduced the reference"
    )
    compare.set_defaults(handler=_compare)

    readme = commands.add_parser(
        "readme",
        help="rewrite README.md's measured figures from reference/mini-seed0.timings.json",
        description="The README's table of seconds and memory per notebook is generated from "
        "the reference run's timings (written by `compare OUT --update`); a test checks it.",
    )
    readme.set_defaults(handler=_readme)

    seeds = commands.add_parser(
        "seeds",
        help="run notebooks at seeds 1 and 2, record their checks (reference/checks-by-seed.json)",
        description="Every course_utils.check must hold at seeds 0, 1 and 2 in mini. Seed 0 is "
        "the test run; this runs seeds 1 and 2 (with the solutions, two notebooks side by side) "
        "and records each check's verdict, stamped with the notebook's code, for the tests.",
    )
    seeds.add_argument("notebooks", nargs="*", help="numbers or stems (default: all)")
    seeds.set_defaults(handler=_seeds)

    profile = commands.add_parser(
        "profile",
        help="each notebook's seconds against its budget, and its slowest cells",
        description="Read a run folder: each notebook's seconds against the mini budget and "
        "its slowest cells (from the executed copies).",
    )
    profile.add_argument("run_dir", type=Path, metavar="OUT", help="a run folder (summary.json)")
    profile.add_argument("--top", type=int, default=3, help="slowest cells to list (default 3)")
    profile.set_defaults(handler=_profile)

    params = commands.add_parser(
        "params",
        help="rewrite (or --check) the comments of the notebooks' parameters cells",
        description="Each parameters cell carries, beside every name, a comment generated from "
        "the catalogue (course_utils/tooling/catalog.py): meaning, allowed values and profile "
        "defaults. Rewrite them after changing the catalogue.",
    )
    params.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a cell is out of date"
    )
    params.set_defaults(handler=_params)

    build = commands.add_parser(
        "build-mini",
        help="build the mini models (arguments go to the builder; see build-mini --help)",
        add_help=False,
    )
    build.add_argument("args", nargs=argparse.REMAINDER)

    data = commands.add_parser(
        "build-data",
        help="regenerate the bundled datasets in data/ from their seeded generators",
        description="Rewrite data/<name>/<split>.jsonl from course_utils.mini.corpora "
        "(deterministic: the same seed gives byte-identical files).",
    )
    data.add_argument("--out", type=Path, default=None, help="folder (default: data/)")
    data.set_defaults(handler=_build_data)

    badges = commands.add_parser(
        "badges",
        help="rewrite the Colab badges and COURSE_REPO lines from pyproject's [tool.course]",
        description="Point every notebook's Colab badge and COURSE_REPO line (and the README's "
        "Colab links) at the repository and branch in pyproject.toml [tool.course].",
    )
    badges.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if any notebook is out of date",
    )
    badges.set_defaults(handler=_badges)

    table = commands.add_parser(
        "memory-table",
        help="print the README's table of which model size fits which multi-GPU set-up",
        description="Notebook 05's memory estimator applied to 7B, 13B and 70B models: full "
        "fine-tuning, LoRA and QLoRA on one GPU and fully sharded over eight (README, "
        "'Beyond one GPU').",
    )
    table.add_argument("--rank", type=int, default=16, help="LoRA rank (default 16)")
    table.set_defaults(handler=_memory_table)

    lessons = commands.add_parser(
        "lessons",
        help="bring the notebooks' '# @save' cells and their modules' lesson blocks into step",
        description="Each code cell whose first line is '# @save course_utils/<module>.py' "
        "holds lesson code, kept in a marked block of that module. Copy each change the way it "
        "went (cell to module, or module to cell); write nothing already in step.",
    )
    lessons.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if a cell and its module differ, naming the side that changed",
    )
    lessons.add_argument(
        "--prefer",
        choices=("notebook", "module"),
        help="which side wins where both a cell and its block changed since they were in step",
    )
    lessons.set_defaults(handler=_lessons)

    colab = commands.add_parser(
        "colab-runtime",
        help="refresh configs/colab/gpu-runtime.txt from Colab's published package list",
        description="Write the protected packages of Colab's GPU runtime (the ones no course "
        "install may change) from the files Colab publishes in its backend-info repository.",
    )
    colab.add_argument("--freeze", type=Path, required=True, help="pip-freeze.gpu.txt")
    colab.add_argument("--os-info", type=Path, required=True, help="os-info-gpu.txt")
    colab.add_argument(
        "--source", required=True, help="where the files come from: repository, commit, date"
    )
    colab.add_argument("--out", type=Path, help="default: configs/colab/gpu-runtime.txt")
    colab.set_defaults(handler=_colab_runtime)

    site = commands.add_parser(
        "site",
        help="build the course's website from executed runs (no notebook is executed)",
        description="Render the executed notebooks of outputs/mini (and outputs/t4 where a run "
        "exists) into a static website, offline.",
    )
    site.add_argument(
        "--run", type=Path, action="append", help="a run folder (default: outputs/mini, outputs/t4)"
    )
    site.add_argument("--out", type=Path, default=Path("site-build"), help="default: site-build")
    site.set_defaults(handler=_site)
    return parser


def _compare(args: argparse.Namespace) -> int:
    from . import reference
    from .runner import RunnerError

    try:
        if args.update:
            print(f"wrote {reference.update(args.run_dir)} and {reference.timings_file()}")
            print("then `python -m course_utils readme` puts its timings in README.md")
            return 0
        result = reference.compare(args.run_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise RunnerError(str(exc)) from exc
    print(result.verdict())
    for line in result.details():
        print(f"    {line}")
    return 1 if args.strict and not result.reproduced else 0


def _seeds(args: argparse.Namespace) -> int:
    from . import runner, seeds

    path = seeds.run(runner.resolve_notebooks(args.notebooks))
    failing = {
        stem: [
            f"seed {s}: {k}"
            for s, checks in entry["seeds"].items()
            for k, ok in checks.items()
            if not ok
        ]
        for stem, entry in seeds.read().items()
    }
    for stem, lines in failing.items():
        for line in lines:
            print(f"{stem}: {line} does not hold")
    print(f"wrote {path}")
    return 1 if any(failing.values()) else 0


def _readme(args: argparse.Namespace) -> int:
    from . import reference

    changed = reference.write_readme()
    print("README.md: measured figures " + ("rewritten" if changed else "already up to date"))
    return 0


def _profile(args: argparse.Namespace) -> int:
    from . import timings
    from .runner import RunnerError

    try:
        text, within = timings.report(args.run_dir, args.top)
    except (OSError, ValueError, KeyError) as exc:
        raise RunnerError(f"{args.run_dir}: not a run folder ({exc})") from exc
    print(text)
    return 0 if within else 1


def _site(args: argparse.Namespace) -> int:
    from . import site
    from .runner import RunnerError

    if args.run:  # named runs must exist
        missing = [str(folder) for folder in args.run if not site.has_run(folder)]
        if missing:
            raise RunnerError(f"--run {', '.join(missing)}: no summary.json; run 'make course'")
        folders = args.run
    else:
        folders = [f for f in (Path("outputs") / p for p in site.PROFILES) if site.has_run(f)]
    runs: dict[str, Path] = {}
    for folder in folders:
        profile = site.run_profile(folder)
        if profile in runs:
            raise RunnerError(f"--run {runs[profile]} and {folder}: both are {profile} runs")
        runs[profile] = folder
    index = site.build(runs, args.out)
    print(f"site: {index} (runs: {', '.join(f'{k} from {v}' for k, v in runs.items())})")
    return 0


def _lessons(args: argparse.Namespace) -> int:
    from . import lesson_cells

    if args.check:
        problems = lesson_cells.differences()
        for problem in problems:
            print(problem)
        if not problems:
            print("every '# @save' cell is in step with its module's lesson block")
        return 1 if problems else 0
    try:
        written = lesson_cells.sync(prefer=args.prefer)
    except ValueError as error:
        print(error)
        return 1
    for line in written:
        print(f"wrote {line}")
    if not written:
        print("nothing to write: every '# @save' cell is in step with its module")
    return 0


def _colab_runtime(args: argparse.Namespace) -> int:
    from . import colab_install
    from .runner import RunnerError

    for path in (args.freeze, args.os_info):
        if not path.is_file():
            raise RunnerError(f"no such file: {path}")
    out = args.out or colab_install.RUNTIME_FILE
    for everything, path in ((False, out), (True, out.with_name("pip-freeze.gpu.txt"))):
        try:
            text = colab_install.runtime_text(
                args.freeze.read_text(), args.os_info.read_text(), args.source, everything
            )
        except ValueError as exc:
            raise RunnerError(str(exc)) from exc
        path.write_text(text)
        kind = "packages" if everything else "protected packages"
        print(f"wrote {path}: {len(colab_install.parse_pins(text))} {kind}")
    return 0


def _memory_table(args: argparse.Namespace) -> int:
    from ..memory import memory_table

    print(memory_table(args.rank))
    return 0


def _run(args: argparse.Namespace) -> int:
    from . import runner

    parameters = {name: runner.parse_value(value) for name, value in args.param}
    if args.dry_run:
        runner.run_notebooks(args.notebooks, args.profile, None, parameters, dry_run=True)
        return 0
    results = runner.run_notebooks(
        args.notebooks,
        args.profile,
        args.out,
        parameters,
        stand_ins=args.stand_ins,
        solutions=args.solutions,
        jobs=args.jobs,
    )
    failures = [r for r in results if r.status == "failed"]
    print(f"\n{len(results) - len(failures)} of {len(results)} notebook(s) succeeded.")
    for failure in failures:
        where = f" (see {failure.output})" if failure.output else ""
        print(f"FAILED {failure.notebook}: {failure.error}{where}")
    return 1 if failures else 0


def _build_data(args: argparse.Namespace) -> int:
    from ..core import paths
    from ..mini.corpora import write_all

    for path in write_all(args.out if args.out is not None else paths.data_dir()):
        print(f"wrote {path}")
    return 0


def _params(args: argparse.Namespace) -> int:
    from ..core import paths
    from .parameters_cell import rewrite_notebooks

    changed = rewrite_notebooks(paths.course_notebooks(), check_only=args.check)
    verb = "out of date" if args.check else "rewrote"
    for path in changed:
        print(f"{verb}: {path}")
    if args.check and changed:
        print("run `python -m course_utils params` to rewrite their comments from the catalogue")
    elif not changed:
        print("every parameters cell's comments match the catalogue")
    return 1 if args.check and changed else 0


def _badges(args: argparse.Namespace) -> int:
    from . import badges

    changed = badges.rewrite_badges(check=args.check)
    if args.check:
        for path in changed:
            print(f"out of date: {path}")
        if changed:
            print("run `python -m course_utils badges` to rewrite them")
        else:
            print("all Colab badges and COURSE_REPO lines are up to date")
        return 1 if changed else 0
    for path in changed:
        print(f"rewrote {path}")
    print(f"{len(changed)} file(s) rewritten")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m course_utils`` and the ``course`` script; returns the status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "build-mini":
        from ..mini.build import main as build_mini

        return int(build_mini(argv[1:]) or 0)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from .runner import RunnerError

    try:
        return args.handler(args)
    except (RunnerError, ParameterError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

"""The notebook runner and `python -m course_utils run`, on fixture notebooks in a tmp folder."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_utils.core import paths
from course_utils.tooling import catalog, cli, runner
from course_utils.tooling.catalog import NotebookSpec
from course_utils.tooling.params import Param


def write_notebook(path: Path, *sources: str, parameters: str) -> Path:
    """A notebook: a `parameters` cell, then the given code cells."""
    params = new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    cells = [params, *(new_code_cell(s) for s in sources)]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


RECORDS = (
    "import os, sys\nfrom pathlib import Path\nfrom course_utils import record",
    "record('python', sys.executable)\nrecord('cwd', os.getcwd())\nrecord('profile', PROFILE)\n"
    "record('offline', os.environ.get('HF_HUB_OFFLINE'))\n"
    "record('tqdm_disabled', os.environ.get('TQDM_DISABLE'))\n"
    "record('accuracy', 0.91234)",
    "Path(os.environ['COURSE_FIGURES_DIR'], 'curve.png').write_text('not really a png')",
)
# The third cell (index 2, after the parameters cell and one more) raises when FAIL is set.
FAILS = (
    "from course_utils import record\nrecord('before', 1)",
    "if FAIL:\n    raise ValueError('boom in the third cell')",
    "record('after', 2)",
)


@pytest.fixture
def fixtures(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "fixtures"
    folder.mkdir()
    good = write_notebook(folder / "91_records.ipynb", *RECORDS, parameters='PROFILE = "auto"')
    bad = write_notebook(
        folder / "92_fails.ipynb", *FAILS, parameters='PROFILE = "auto"\nFAIL = False'
    )
    return good, bad


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = cli.main(["run", *args])
    return status, capsys.readouterr().out


@pytest.mark.notebook
def test_run_success_failure_and_atomic_outputs(
    fixtures: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = fixtures
    out = tmp_path / "out"

    # 1. Both succeed.
    status, printed = run_cli(capsys, str(good), str(bad), "--profile", "mini", "--out", str(out))
    assert status == 0, printed
    assert "[1/2] 91_records ..." in printed and "[2/2] 92_fails ok in" in printed
    assert f"Summary: {out / 'summary.md'}" in printed
    recorded = json.loads((out / "91_records.results.json").read_text())
    assert recorded["python"] == sys.executable  # the kernel ran this venv's interpreter
    assert recorded["cwd"] == str(good.parent)  # in the notebook's folder
    assert recorded["profile"] == "mini"  # PROFILE injected
    assert recorded["offline"] == "1" and recorded["tqdm_disabled"] == "1"
    assert recorded["accuracy"] == pytest.approx(0.91234)
    assert (out / "figures" / "91_records" / "curve.png").is_file()
    executed = nbformat.read(out / "91_records.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    good_copy = (out / "92_fails.ipynb").read_bytes()
    good_results = (out / "92_fails.results.json").read_bytes()
    assert json.loads(good_results) == {"before": 1, "after": 2}

    # 2. The second fails in its third cell: non-zero exit, the cell and error are named,
    #    the earlier good outputs stay byte-identical, the failure is kept beside them.
    status, printed = run_cli(capsys, str(bad), "-p", "FAIL", "True", "--out", str(out))
    assert status == 1
    assert "FAILED 92_fails: cell 2 (counting from 0) `if FAIL:`" in printed
    assert "ValueError: boom in the third cell" in printed
    assert (out / "92_fails.ipynb").read_bytes() == good_copy
    assert (out / "92_fails.results.json").read_bytes() == good_results
    failed = nbformat.read(out / "92_fails.failed.ipynb", as_version=4)
    assert any(o.get("ename") == "ValueError" for c in failed.cells for o in c.get("outputs", []))
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left behind

    rows = {row["notebook"]: row for row in json.loads((out / "summary.json").read_text())}
    assert set(rows) == {"91_records", "92_fails"}  # merged: the other notebook's row is kept
    assert rows["91_records"]["status"] == "ok" and rows["91_records"]["peak_mb"] > 10
    assert rows["92_fails"]["status"] == "failed"
    assert rows["92_fails"]["profile"] == "mini"  # auto resolved to mini (no GPU here)
    assert "cell 2" in rows["92_fails"]["error"] and "boom" in rows["92_fails"]["error"]
    assert rows["92_fails"]["results"] == {"before": 1}
    summary = (out / "summary.md").read_text()
    assert "- profile: mini" in summary and "torch" in summary and "cores" in summary
    assert "| 91_records | ok |" in summary and "accuracy=0.912" in summary
    assert "| 92_fails | failed |" in summary and "## Failures" in summary

    # 3. Fixed: it succeeds again and the stale failure is cleared.
    status, printed = run_cli(capsys, str(bad), "--profile", "mini", "--out", str(out))
    assert status == 0, printed
    assert not (out / "92_fails.failed.ipynb").exists()
    assert "## Failures" not in (out / "summary.md").read_text()


@pytest.mark.notebook
def test_notebooks_side_by_side_keep_their_own_results(
    fixtures: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = fixtures
    out = tmp_path / "out"
    status, printed = run_cli(
        capsys, str(good), str(bad), "--profile", "mini", "--jobs", "2", "--out", str(out)
    )
    assert status == 0, printed
    assert json.loads((out / "92_fails.results.json").read_text()) == {"before": 1, "after": 2}
    assert json.loads((out / "91_records.results.json").read_text())["profile"] == "mini"
    assert (out / "figures" / "91_records" / "curve.png").is_file()
    rows = json.loads((out / "summary.json").read_text())
    assert [row["alone"] for row in rows] == [False, False]
    assert all(row["peak_mb"] > 10 for row in rows)  # each kernel's own memory
    assert "(side by side)" in (out / "summary.md").read_text()
    with pytest.raises(runner.RunnerError, match="--jobs 2 is for the mini profile"):
        runner.run_notebooks([good], "t4", out, {}, jobs=2)
    with pytest.raises(runner.RunnerError, match="--jobs 0 is not allowed"):
        runner.run_notebooks([good], "mini", out, {}, jobs=0)


def test_dry_run_prints_downloads_without_torch(fixtures: tuple[Path, Path], tmp_path: Path):
    good, _ = fixtures
    planned = good.with_name("93_planned.ipynb")
    planned.write_bytes(good.read_bytes())
    code = f"""
import sys
from course_utils.tooling import catalog, cli
from course_utils.tooling.catalog import Download, NotebookSpec
catalog.register(NotebookSpec(stem="93_planned", title="Planned", t4_gpu_gb=6.5, downloads=(
    Download("google/flan-t5-base", "model", 0.99, "mini:mini-seq2seq"),
    Download("knkarthick/dialogsum", "dataset", 0.01, "dialogsum"),
)))
status = cli.main(["run", {str(planned)!r}, {str(good)!r}, "--profile", "t4", "--dry-run"])
heavy = [m for m in ("torch", "transformers", "papermill") if m in sys.modules]
print("STATUS", status, "HEAVY", heavy)
"""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "STATUS 0 HEAVY []" in out
    assert "google/flan-t5-base" in out and "model" in out and "0.99 GB" in out
    assert "knkarthick/dialogsum" in out and "dataset" in out
    assert "6.5 GB of GPU memory" in out
    assert "91_records: not in the course catalogue" in out
    assert not list(tmp_path.glob("**/summary.json"))


def test_run_help_documents_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["run", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for option in ("--profile", "--out", "-p NAME VALUE", "--dry-run", "mini", "t4", "auto"):
        assert option in text


def test_resolving_notebook_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for stem in ("01_first", "00_setup", "02_second"):
        write_notebook(tmp_path / f"{stem}.ipynb", "x = 1", parameters="A = 1")
    (tmp_path / "scratch.ipynb").write_text("{}")  # not numbered: not part of the course
    monkeypatch.setattr(paths, "notebooks_dir", lambda: tmp_path)
    names = [p.stem for p in runner.resolve_notebooks([])]
    assert names == ["00_setup", "01_first", "02_second"]
    picked = runner.resolve_notebooks(
        ["02", "1", "00_setup", "01_first.ipynb", tmp_path / "scratch.ipynb"]
    )
    assert [p.stem for p in picked] == ["02_second", "01_first", "00_setup", "scratch"]
    with pytest.raises(runner.RunnerError, match="'07'.*00_setup, 01_first, 02_second"):
        runner.resolve_notebooks(["07"])
    assert cli.main(["run", "nope", "--dry-run"]) == 2


def test_parameter_values_and_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert runner.parse_value("3") == 3
    assert runner.parse_value("1e-4") == 1e-4
    assert runner.parse_value("[4, 8]") == [4, 8]
    assert runner.parse_value("None") is None and runner.parse_value("True") is True
    assert runner.parse_value("adamw") == "adamw"
    assert runner.parse_value("./models/x") == "./models/x"
    monkeypatch.setitem(
        catalog.NOTEBOOKS, "94_spec", NotebookSpec("94_spec", "t", params={"STEPS": Param("int")})
    )
    nb = [tmp_path / "94_spec.ipynb"]
    runner.check_parameter_names(nb, {"STEPS": 3, "SEED": 1})
    with pytest.raises(runner.RunnerError, match="94_spec has no parameter.*STPES.*takes SEED"):
        runner.check_parameter_names(nb, {"STPES": 3})
    with pytest.raises(runner.RunnerError, match="--profile"):
        runner.check_parameter_names(nb, {"PROFILE": "t4"})


def test_mini_models_built_only_when_needed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    calls = []
    build = types.ModuleType("course_utils.mini.build")
    build.MissingModels = RuntimeError
    build.require_models = lambda: calls.append(1)
    monkeypatch.setitem(sys.modules, "course_utils.mini", types.ModuleType("course_utils.mini"))
    monkeypatch.setitem(sys.modules, "course_utils.mini.build", build)
    spec = NotebookSpec("95_uses_mini", "t", uses_mini_models=True)
    monkeypatch.setitem(catalog.NOTEBOOKS, spec.stem, spec)
    runner._ensure_mini_models([tmp_path / "96_not_in_catalog.ipynb"])
    assert calls == []
    runner._ensure_mini_models(
        [tmp_path / "96_not_in_catalog.ipynb", tmp_path / "95_uses_mini.ipynb"]
    )
    assert calls == [1]


def test_summary_formatting() -> None:
    text = runner.format_results({"acc": 0.123456, "n": 3, "ok": True, "ranks": [4, 8]})
    assert text == "acc=0.123, n=3, ok=True, ranks=[4,8]"
    rows = [
        runner.NotebookResult(
            "01_a", Path("01_a.ipynb"), "ok", 1.26, 512.4, {"x": 1.0}
        ).summary_row("mini"),
        runner.NotebookResult(
            "02_b", Path("02_b.ipynb"), "failed", 2.0, None, {}, "E: a|b"
        ).summary_row("mini"),
    ]
    md = runner.render_summary(rows, {"profile": "mini"})
    assert "| 01_a | ok | 1.3 | 512 | x=1.000 |" in md
    assert "| 02_b | failed | 2.0 |  |  |" in md
    assert "- 02_b: E: a\\|b" in md


def test_save_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_utils.tooling.figures import FIGURES_ENV, save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    monkeypatch.delenv(FIGURES_ENV, raising=False)
    assert save_figure(fig, "loss") is None
    monkeypatch.setenv(FIGURES_ENV, str(tmp_path / "figs"))
    path = save_figure(fig, "loss")
    assert path == tmp_path / "figs" / "loss.png"
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="'../x'"):
        save_figure(fig, "../x")
    plt.close(fig)


def test_stand_ins_need_the_t4_profile(fixtures: tuple[Path, Path], tmp_path: Path) -> None:
    good, _ = fixtures
    with pytest.raises(runner.RunnerError, match="--stand-ins.*--profile t4"):
        runner.run_notebooks([good], "mini", tmp_path / "out", {}, stand_ins=True)


def test_run_environment() -> None:
    mini = runner.run_environment("mini")
    assert mini["HF_HUB_OFFLINE"] == "1" and mini["TQDM_DISABLE"] == "1"
    assert "COURSE_STAND_INS" not in mini
    assert "HF_HUB_OFFLINE" not in runner.run_environment("t4")
    stand_ins = runner.run_environment("t4", stand_ins=True)
    assert stand_ins["COURSE_STAND_INS"] == "1" and stand_ins["HF_HUB_OFFLINE"] == "1"


def test_a_lecture_run_shows_solutions_without_running_them(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "90_x.ipynb", "x = 1", "x = 2", parameters="A = 1")
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].metadata["tags"] = ["solution"]
    nbformat.write(nb, path)
    lecture = runner.lecture(path)
    assert [c.cell_type for c in lecture.cells] == ["code", "code", "raw"]
    assert lecture.cells[2].source == "x = 2"
    assert [c.cell_type for c in runner.lecture(path, solutions=True).cells] == ["code"] * 3

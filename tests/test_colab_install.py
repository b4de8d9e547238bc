"""The Colab install leaves Colab's runtime intact.

The unit tests check the install script's commands and the notebooks' set-up cells offline. The
tests marked ``colab`` (they need the package index, not the Hub) resolve the exact commands the
notebooks run on Colab, for Colab's Python, against the runtime Colab publishes
(configs/colab/gpu-runtime.txt), and fail if a protected package would change.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import tomllib

from course_utils.core import paths
from course_utils.tooling import colab_install

ROOT = paths.repo_root()
SCRIPT = ROOT / "course_utils" / "tooling" / "colab_install.py"
NOTEBOOKS = sorted(paths.notebooks_dir().glob("[0-9][0-9]_*.ipynb"))


def _code_cells(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_every_notebook_starts_with_the_same_set_up_cell():
    first_cells = {path.name: _code_cells(path)[0] for path in NOTEBOOKS}
    assert len(set(first_cells.values())) == 1, "the set-up cells differ"
    cell = next(iter(first_cells.values()))
    assert 'install = clone / "course_utils/tooling/colab_install.py"' in cell
    assert "pip" not in cell, "the set-up cell installs only through colab_install.py"
    assert (ROOT / "course_utils/tooling/colab_install.py").is_file()


def test_unsloth_is_installed_only_through_the_install_script():
    with_unsloth = []
    for path in NOTEBOOKS:
        for source in _code_cells(path):
            assert "pip install" not in source and '"pip"' not in source, path.name
            if '"--unsloth"' in source:
                with_unsloth.append(path.stem[:2])
    assert with_unsloth == ["05", "06", "07"]


def test_the_script_needs_only_the_standard_library():
    """It runs before the course is installed: with site-packages switched off it still works."""
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(SCRIPT), "--dry-run"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert f"install -q -c {Path('/')}" in done.stdout
    assert done.stdout.rstrip().endswith(f"-e {ROOT}")


def test_constraints_hold_each_protected_version_for_every_local_build():
    versions = {"torch": "2.11.0+cu128", "ipykernel": "6.17.1", "transformers": "5.15.0"}
    assert colab_install.constraint_lines(versions) == ["ipykernel==6.17.1", "torch==2.11.0"]


def test_unsloth_commands_never_name_torch_and_constrain_the_top_up():
    constraints = Path("/tmp/protected.txt")
    no_deps, top_up = colab_install.unsloth_commands("2.11.0+cu128", constraints)
    assert "--no-deps" in no_deps and "-c" not in no_deps
    assert top_up[top_up.index("-c") + 1] == str(constraints)
    packages = colab_install.unsloth_packages("2.11.0+cu128")
    assert no_deps[-len(packages) :] == packages == top_up[-len(packages) :]
    protected = {colab_install.canonical(name) for name in colab_install.PROTECTED}
    named = {colab_install.canonical(p.split("==")[0]) for p in packages}
    assert not named & protected
    assert "xformers==0.0.35" in packages and "torchao==0.17.0" in packages


@pytest.mark.parametrize(
    ("torch_version", "words"),
    [
        ("2.3.1", "outside Unsloth's range"),
        ("2.15.0", "outside Unsloth's range"),
        ("2.13.0+cpu", "not torch 2.13.0+cpu"),
        ("nightly", "cannot read the torch version"),
    ],
)
def test_a_torch_without_known_companions_is_refused_in_words(torch_version, words):
    with pytest.raises(colab_install.CannotInstall, match=re.escape(words)):
        colab_install.companions_for(torch_version)


def test_without_a_known_torch_unsloth_is_skipped_with_a_message(monkeypatch, capsys):
    monkeypatch.setattr(colab_install, "installed_versions", lambda names=(): {"torch": "2.2.0"})
    assert colab_install.main(["--unsloth", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Unsloth not installed: torch 2.2.0 is outside Unsloth's range" in out
    assert "The notebook runs without it" in out


def test_without_a_gpu_unsloth_is_skipped_with_a_message(monkeypatch, capsys):
    monkeypatch.setattr(colab_install, "installed_versions", lambda names=(): {"torch": "2.11.0"})
    monkeypatch.setattr(colab_install, "has_gpu", lambda: False)
    monkeypatch.setattr(colab_install.subprocess, "run", pytest.fail)
    assert colab_install.main(["--unsloth"]) == 0
    assert "Unsloth not installed: there is no GPU" in capsys.readouterr().out


def test_the_report_names_what_changed_and_any_protected_package_that_moved(monkeypatch):
    monkeypatch.setattr(colab_install, "installed_versions", lambda names=(): {"torch": "2.11.0"})
    lines = colab_install.report({"peft": "0.20.0"}, {"peft": "0.21.2"}, {"torch": "2.11.0"})
    assert lines == ["installed: peft 0.20.0 -> 0.21.2", "kept all 1 protected packages as they "
                     "were (torch 2.11.0)"]  # fmt: skip
    moved = colab_install.report({}, {}, {"torch": "2.10.0"})
    assert moved == ["installed: nothing new", "CHANGED protected packages: torch 2.10.0 -> 2.11.0"]


def test_a_failed_unsloth_top_up_leaves_no_importable_unsloth(monkeypatch, capsys):
    monkeypatch.setattr(colab_install, "installed_versions", lambda names=(): {"torch": "2.11.0"})
    monkeypatch.setattr(colab_install, "has_gpu", lambda: True)
    ran = []

    def run(command, **kwargs):
        ran.append(command)
        failed = "install" in command and "--no-deps" not in command and "--dry-run" not in command
        return subprocess.CompletedProcess(command, 1 if failed else 0)

    monkeypatch.setattr(colab_install.subprocess, "run", run)
    assert colab_install.main(["--unsloth"]) == 1
    assert "--dry-run" in ran[0]  # resolved before anything is installed
    assert ran[-1][-2:] == ["unsloth", "unsloth_zoo"] and "uninstall" in ran[-1]
    assert "pip failed" in capsys.readouterr().out


def test_runtime_file_round_trips(tmp_path):
    freeze = (
        "# comment\nipykernel==6.17.1\ntorch==2.11.0+cu128\ntransformers==5.15.0\nfoo @ file:///x\n"
    )
    text = colab_install.runtime_text(freeze, "Ubuntu\nPython 3.13.15\n", "backend-info abc, 2026")
    path = tmp_path / "runtime.txt"
    path.write_text(text)
    runtime = colab_install.read_runtime(path)
    assert runtime.python == "3.13"
    assert runtime.versions == {"ipykernel": "6.17.1", "torch": "2.11.0+cu128"}
    assert runtime.source == "backend-info abc, 2026"
    with pytest.raises(ValueError, match="Python X.Y.Z"):
        colab_install.runtime_text(freeze, "Ubuntu 22.04\n", "x")
    with pytest.raises(ValueError, match="no torch"):
        colab_install.runtime_text("ipykernel==6.17.1\n", "Python 3.13.1\n", "x")


def test_the_recorded_runtime_names_its_source_and_the_protected_packages():
    runtime = colab_install.read_runtime()
    assert runtime.python == "3.13"
    assert "googlecolab/backend-info" in runtime.source
    for name in ("torch", "ipykernel", "jupyter-client", "notebook", "ipywidgets", "numpy"):
        assert name in runtime.versions, name


def test_the_refresh_command_writes_the_runtime_file(tmp_path):
    from course_utils.tooling.cli import main

    (tmp_path / "freeze.txt").write_text("torch==2.12.0+cu130\nipykernel==6.17.1\n")
    (tmp_path / "os.txt").write_text("Python 3.14.0\n")
    out = tmp_path / "gpu-runtime.txt"
    argv = ["colab-runtime", "--freeze", str(tmp_path / "freeze.txt")]
    argv += ["--os-info", str(tmp_path / "os.txt"), "--source", "test", "--out", str(out)]
    assert main(argv) == 0
    assert colab_install.read_runtime(out).versions["torch"] == "2.12.0+cu130"


@pytest.mark.parametrize(
    "entry",
    tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"].items(),
    ids=lambda item: item[0],
)
def test_every_console_script_imports_and_answers_help(entry, capsys):
    name, target = entry
    module, function = target.split(":")
    main = getattr(importlib.import_module(module), function)
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    assert "usage:" in capsys.readouterr().out


# --- resolved against Colab's published runtime (needs the package index) --------------------


def _resolve(requirements: list[str], tmp_path: Path) -> dict[str, str]:
    """What pip may install for ``requirements`` on the recorded Colab runtime, resolved by uv
    for Colab's Python on Linux with the protected versions as constraints (as the install
    script passes them); pytest fails with uv's explanation when there is no such resolution."""
    import uv

    runtime = colab_install.read_runtime()
    constraints = tmp_path / "protected.txt"
    constraints.write_text("\n".join(colab_install.constraint_lines(runtime.versions)) + "\n")
    wanted = tmp_path / "requirements.in"
    wanted.write_text("\n".join(requirements) + "\n")
    resolved = tmp_path / "resolved.txt"
    command = [uv.find_uv_bin(), "pip", "compile", "--quiet", "--no-header", "--no-annotate"]
    command += ["--python-version", runtime.python, "--python-platform", "x86_64-manylinux_2_35"]
    command += ["-c", str(constraints), str(wanted), "-o", str(resolved)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.fail(f"no install on Colab's runtime:\n{done.stderr}")
    return colab_install.parse_pins(resolved.read_text())


def _course_requirements() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def _assert_protected_kept(resolved: dict[str, str]) -> None:
    """uv already holds these versions as constraints: this guards against a protected package
    that constraint_lines failed to write (a naming slip), which uv would then be free to move."""
    recorded = colab_install.read_runtime().versions
    for name, version in recorded.items():
        if name in resolved:
            assert resolved[name] == colab_install.without_local(version), (
                f"{name} {version} would become {resolved[name]}"
            )


@pytest.mark.colab
def test_the_course_install_keeps_every_protected_package(tmp_path):
    resolved = _resolve(_course_requirements(), tmp_path)
    assert resolved["transformers"] == "5.17.0" and "torch" in resolved
    _assert_protected_kept(resolved)


@pytest.mark.colab
def test_the_unsloth_install_keeps_every_protected_package(tmp_path):
    """The top-up command resolves the course's and Unsloth's requirements together: that it
    resolves means the --no-deps step leaves nothing unmet and nothing protected moved."""
    torch = colab_install.read_runtime().versions["torch"]
    packages = colab_install.unsloth_packages(torch)
    resolved = _resolve(_course_requirements() + packages, tmp_path)
    for package in packages:
        name, version = package.split("==")
        assert resolved[colab_install.canonical(name)] == version
    _assert_protected_kept(resolved)


@pytest.mark.colab
@pytest.mark.parametrize("minor", sorted(colab_install.TORCH_COMPANIONS))
def test_each_xformers_release_in_the_table_accepts_its_torch(minor, tmp_path):
    import uv

    companions = colab_install.TORCH_COMPANIONS[minor]
    wanted = f"xformers=={companions.xformers}\ntorchao=={companions.torchao}\ntorch=={minor}.*\n"
    (tmp_path / "in.txt").write_text(wanted)
    command = [uv.find_uv_bin(), "pip", "compile", "--quiet", "--no-header"]
    python = colab_install.read_runtime().python
    command += ["--python-version", python, "--python-platform", "x86_64-manylinux_2_35"]
    done = subprocess.run(
        [*command, str(tmp_path / "in.txt")], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.colab
def test_a_requirement_that_would_move_a_protected_package_fails_the_check(tmp_path):
    with pytest.raises(pytest.fail.Exception, match="no install on Colab's runtime"):
        _resolve(["ipykernel==7.4.0"], tmp_path)
